//! Markdown, JSON and SVG output of a benchmark run.

use std::path::Path;

use crate::datapath::PathResult;
use crate::datapath::Pps;
use crate::datapath::generator::Choice;
use crate::plot;
use crate::stats::sorted_us;

/// Facts about the machine a run was made on.
pub fn machine() -> serde_json::Value {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default().trim().to_owned();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    serde_json::json!({
        "kernel": read("/proc/sys/kernel/osrelease"),
        "cpu": cpu,
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "murmuration": env!("CARGO_PKG_VERSION"),
    })
}

fn find<'a>(results: &'a [PathResult], prefix: &str) -> Option<&'a PathResult> {
    results.iter().find(|r| r.name.starts_with(prefix))
}

fn ratio_lines(results: &[PathResult]) -> String {
    let (Some(fast), Some(bridge)) = (find(results, "murmuration"), find(results, "bridge")) else {
        return "Ratios need the fast path and bridge results.\n".into();
    };
    let mut md = String::from("| ratio | value |\n|---|---|\n");
    let mut row = |what: &str, v: f64| md.push_str(&format!("| {what} | {v:.3} |\n"));
    if let Some(floor) = find(results, "veth") {
        row("fast path p50 RTT / veth floor p50", fast.rtt.p50_us / floor.rtt.p50_us);
    }
    row("fast path p50 RTT / bridge p50", fast.rtt.p50_us / bridge.rtt.p50_us);
    row("fast path p99 RTT / bridge p99", fast.rtt.p99_us / bridge.rtt.p99_us);
    row("fast path 64 B pps / bridge", fast.pps_64 / bridge.pps_64);
    if let Some(ipt) = find(results, "iptables") {
        row("fast path 64 B pps / iptables", fast.pps_64 / ipt.pps_64);
    }
    variant_ratios(results, bridge, &mut row);
    md
}

/// 64-byte pps ratios between fast-path variants: what VLAN push/pop,
/// counting and XDP cost or save.
fn variant_ratios(results: &[PathResult], bridge: &PathResult, row: &mut impl FnMut(&str, f64)) {
    use crate::datapath::rows;
    let get = |name: &str| results.iter().find(|r| r.name == name).map(|r| r.pps_64);
    let pairs = [
        (
            "VLAN 100 (tag in metadata) pps / untagged, idle wire tagger",
            rows::VLAN,
            rows::IDLE_TAGGER,
        ),
        ("VLAN 100 (tag in metadata) pps / untagged", rows::VLAN, rows::FAST),
        ("VLAN 100 (tag in packet) pps / untagged", rows::VLAN_IN_PACKET, rows::FAST),
        ("counters on pps / counters off", rows::FAST, rows::NO_COUNTERS),
        ("XDP pps / tc (VLAN 100, tag in packet)", rows::XDP, rows::VLAN_IN_PACKET),
    ];
    for (what, a, b) in pairs {
        if let (Some(a), Some(b)) = (get(a), get(b)) {
            row(what, a / b);
        }
    }
    if let Some(p2p) = get(rows::POD_TO_POD) {
        row("fast path pod to pod pps / bridge (pod to pod)", p2p / bridge.pps_64);
    }
}

pub fn datapath(
    results: &[PathResult],
    generator: Option<&Choice>,
    failures: &[String],
    out: &Path,
) -> anyhow::Result<()> {
    paths_report("datapath", results, &ratio_lines(results), generator, failures, out)
}

/// The generator comparison in Markdown: the rates, and which generator the
/// paths were measured with and why.
fn generator_lines(c: &Choice) -> String {
    let (r64, r1500) = (c.io_uring_over_sendmmsg_64, c.io_uring_over_sendmmsg_1500);
    let mut md = format!(
        "Packet generator: {} for every path. On the bare veth floor in this run the kernel \
         accepted io_uring's 64 B datagrams at {:.3}× sendmmsg's rate ({:.3}× at 1500 B), for \
         {:.3}× the sender's CPU time per datagram ({:.3}× at 1500 B); the sink received {:.3}× \
         ({:.3}× at 1500 B). The generator whose 64 B datagrams were accepted faster is used.\n\n\
         | generator | 64 B sent pps | 64 B received pps | 64 B CPU ns/sent \
         | 1500 B sent pps | 1500 B received pps | 1500 B CPU ns/sent |\n\
         |---|---|---|---|---|---|---|\n",
        c.used.name(),
        r64.sent,
        r1500.sent,
        r64.cpu_ns_per_sent,
        r1500.cpu_ns_per_sent,
        r64.received,
        r1500.received
    );
    let mut row = |what: &str, a: Pps, b: Pps, digits: usize| {
        md += &format!(
            "| {what} | {:.digits$} | {:.digits$} | {:.digits$} | {:.digits$} | {:.digits$} | {:.digits$} |\n",
            a.sent, a.received, a.cpu_ns_per_sent, b.sent, b.received, b.cpu_ns_per_sent
        );
    };
    for r in &c.rates {
        row(r.generator.name(), r.pps_64, r.pps_1500, 0);
    }
    row("io_uring / sendmmsg", r64, r1500, 3);
    md
}

fn generator_plot(file: &Path, c: &Choice) -> anyhow::Result<()> {
    let bars: Vec<(String, f64)> = c
        .rates
        .iter()
        .flat_map(|r| {
            let name = r.generator.name();
            [
                (format!("{name} 64 B"), r.pps_64.received),
                (format!("{name} 1500 B"), r.pps_1500.received),
            ]
        })
        .collect();
    plot::bars(
        file,
        "UDP packets per second received on the veth floor, by generator",
        "packets/s",
        &bars,
    )
}

/// `{name}.md` and `{name}.json` in `out`, the Markdown echoed to stdout.
fn write_md_json(out: &Path, name: &str, md: &str, json: &serde_json::Value) -> anyhow::Result<()> {
    println!("{md}");
    std::fs::write(out.join(format!("{name}.md")), md)?;
    std::fs::write(out.join(format!("{name}.json")), serde_json::to_vec_pretty(json)?)?;
    Ok(())
}

/// `datapath --generators-only`: `datapath-generators.{md,json,svg}`.
pub fn generators(c: &Choice, out: &Path) -> anyhow::Result<()> {
    let name = "datapath-generators";
    let json = serde_json::json!({ "benchmark": name, "machine": machine(), "generator": c });
    write_md_json(out, name, &generator_lines(c), &json)?;
    generator_plot(&out.join(format!("{name}.svg")), c)?;
    eprintln!("wrote {}/{name}.{{md,json,svg}}", out.display());
    Ok(())
}

/// The `datapath`-shaped outputs of run `kind`: `{kind}.md`, `{kind}.json`
/// (`paths[].name/rtt/pps_64/pps_1500`, what `compare` reads), the RTT CDF
/// and the 64-byte rate bars, with `ratios` (a Markdown table) after the table,
/// then the packet generator comparison when the run made one.
pub fn paths_report(
    kind: &str,
    results: &[PathResult],
    ratios: &str,
    generator: Option<&Choice>,
    failures: &[String],
    out: &Path,
) -> anyhow::Result<()> {
    let mut md = String::from(
        "| path | RTT p50 | RTT p99 | RTT p99.9 | RTT p50 (kernel RX ts) | 64 B pps | 1500 B pps |\n|---|---|---|---|---|---|---|\n",
    );
    for r in results {
        md += &format!(
            "| {} | {:.1} µs | {:.1} µs | {:.1} µs | {} | {:.0} | {:.0} |\n",
            r.name,
            r.rtt.p50_us,
            r.rtt.p99_us,
            r.rtt.p999_us,
            r.rtt_kernel_ts.map_or("n/a".into(), |k| format!("{:.1} µs", k.p50_us)),
            r.pps_64,
            r.pps_1500
        );
    }
    md += "\n";
    md += ratios;
    if let Some(c) = generator {
        md += &format!("\n{}", generator_lines(c));
        generator_plot(&out.join(format!("{kind}-generators.svg")), c)?;
    }
    for f in failures {
        md += &format!("\nFailed path: {f}\n");
    }
    let json = serde_json::json!({
        "benchmark": kind, "machine": machine(), "paths": results, "generator": generator,
        "failures": failures
    });
    write_md_json(out, kind, &md, &json)?;
    let series: Vec<(String, Vec<f64>)> =
        results.iter().map(|r| (r.name.clone(), sorted_us(&r.rtt_samples))).collect();
    plot::cdf(&out.join(format!("{kind}-rtt-cdf.svg")), "UDP request/response RTT", &series)?;
    let pps: Vec<(String, f64)> = results.iter().map(|r| (r.name.clone(), r.pps_64)).collect();
    plot::bars(
        &out.join(format!("{kind}-pps-64.svg")),
        "64-byte UDP packets per second",
        "packets/s",
        &pps,
    )?;
    eprintln!("wrote {}/{kind}.{{md,json}} and SVG plots", out.display());
    Ok(())
}

//! `cni`: ADD and DEL latency, murmuration vs. the reference plugins.
//!
//! Every plugin is executed the way a runtime does it (fork + exec, config on
//! stdin) from a thread inside a throwaway "node" namespace, so no
//! `ip netns exec` wrapper is timed. Per-iteration setup (e.g. a fresh device
//! for host-device) is not timed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use murmuration_core::netns::NetNs;
use serde::Serialize;

use crate::stats::{Summary, summarize};
use crate::topo::{Netns, ip_in};

/// Where Debian installs the reference plugins.
pub(crate) const GO_PLUGINS: &str = "/usr/lib/cni";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Timed iterations per case (default 100, 10 with --quick).
    #[arg(long)]
    iterations: Option<usize>,
    /// The murmuration plugin binary (default: next to this binary).
    #[arg(long)]
    plugin: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) enum Ipam {
    StaticInProcess,
    Static,
    HostLocal,
}

#[derive(Debug)]
struct Case {
    name: String,
    plugin: PathBuf,
    ipam: Ipam,
    config: String,
    /// Makes a fresh `hd0` in the node namespace before each ADD.
    needs_device: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct CaseResult {
    pub name: String,
    pub ipam: Ipam,
    pub add: Summary,
    pub del: Summary,
    pub add_del_p50_us: f64,
}

pub(crate) fn ipam_json(ipam: Ipam, dir: &Path) -> String {
    match ipam {
        Ipam::Static | Ipam::StaticInProcess => r#"{"type":"static","addresses":[{"address":"10.99.0.2/24","gateway":"10.99.0.1"}],"routes":[{"dst":"0.0.0.0/0"}]}"#.to_owned(),
        Ipam::HostLocal => format!(
            r#"{{"type":"host-local","ranges":[[{{"subnet":"10.98.0.0/24"}}]],"dataDir":"{}"}}"#,
            dir.join("host-local").display()
        ),
    }
}

fn cases(plugin: &Path, dir: &Path) -> Vec<Case> {
    let go = |p: &str| PathBuf::from(GO_PLUGINS).join(p);
    let conf = |kind: &str, extra: &str, ipam: Ipam| {
        let inproc = if ipam == Ipam::StaticInProcess { r#","ipamInProcess":true"# } else { "" };
        format!(
            r#"{{"cniVersion":"1.0.0","name":"bench-{kind}","type":"{kind}"{extra}{inproc},"ipam":{}}}"#,
            ipam_json(ipam, dir)
        )
    };
    let mm_extra = format!(r#","dataDir":"{}""#, dir.join("state").display());
    let mut out = Vec::new();
    for ipam in [Ipam::StaticInProcess, Ipam::Static, Ipam::HostLocal] {
        let name = match ipam {
            Ipam::StaticInProcess => "murmuration veth + static (in-process)",
            Ipam::Static => "murmuration veth + static",
            Ipam::HostLocal => "murmuration veth + host-local",
        };
        let config = conf("murmuration", &mm_extra, ipam);
        let name = name.to_owned();
        out.push(Case { name, plugin: plugin.to_owned(), ipam, config, needs_device: false });
    }
    for ipam in [Ipam::Static, Ipam::HostLocal] {
        let (m, h, b) = match ipam {
            Ipam::HostLocal => {
                ("macvlan + host-local", "host-device + host-local", "bridge + host-local")
            }
            _ => ("macvlan + static", "host-device + static", "bridge + static"),
        };
        let macvlan = conf("macvlan", r#","master":"up0""#, ipam);
        out.push(Case {
            name: m.to_owned(),
            plugin: go("macvlan"),
            ipam,
            config: macvlan,
            needs_device: false,
        });
        let hd = conf("host-device", r#","device":"hd0""#, ipam);
        out.push(Case {
            name: h.to_owned(),
            plugin: go("host-device"),
            ipam,
            config: hd,
            needs_device: true,
        });
        let br = conf("bridge", r#","bridge":"mmbr0""#, ipam);
        out.push(Case {
            name: b.to_owned(),
            plugin: go("bridge"),
            ipam,
            config: br,
            needs_device: false,
        });
    }
    out
}

pub(crate) fn invoke(
    plugin: &Path,
    verb: &str,
    config: &str,
    pod: &str,
    cid: &str,
) -> anyhow::Result<Duration> {
    invoke_with_args(plugin, verb, config, pod, cid, "")
}

/// [`invoke`] with `CNI_ARGS` (e.g. the pod's name, as a kubelet sends it).
pub(crate) fn invoke_with_args(
    plugin: &Path,
    verb: &str,
    config: &str,
    pod: &str,
    cid: &str,
    cni_args: &str,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut child = Command::new(plugin)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("CNI_COMMAND", verb)
        .env("CNI_CONTAINERID", cid)
        .env("CNI_NETNS", pod)
        .env("CNI_IFNAME", "net1")
        .env("CNI_PATH", GO_PLUGINS)
        .env("CNI_ARGS", cni_args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawning {}", plugin.display()))?;
    child.stdin.take().context("stdin")?.write_all(config.as_bytes())?;
    let out = child.wait_with_output()?;
    let took = start.elapsed();
    if !out.status.success() {
        bail!("{} {verb} failed: {}", plugin.display(), String::from_utf8_lossy(&out.stdout));
    }
    Ok(took)
}

fn measure(
    case: &Case,
    node: &str,
    pod: &str,
    warmup: usize,
    n: usize,
) -> anyhow::Result<CaseResult> {
    let (mut adds, mut dels) = (Vec::new(), Vec::new());
    for i in 0..warmup + n {
        if case.needs_device {
            ip_in(node, &["link", "add", "hd0", "type", "veth", "peer", "name", "hd0p"])?;
        }
        let cid = format!("bench-{i}");
        let add = invoke(&case.plugin, "ADD", &case.config, pod, &cid)?;
        let del = invoke(&case.plugin, "DEL", &case.config, pod, &cid)?;
        if case.needs_device {
            ip_in(node, &["link", "del", "hd0"])?;
        }
        if i >= warmup {
            adds.push(add);
            dels.push(del);
        }
    }
    let pairs: Vec<Duration> = adds.iter().zip(&dels).map(|(a, d)| *a + *d).collect();
    Ok(CaseResult {
        name: case.name.clone(),
        ipam: case.ipam,
        add: summarize(&adds),
        del: summarize(&dels),
        add_del_p50_us: summarize(&pairs).p50_us,
    })
}

pub fn run(args: &Args, quick: bool, out: &Path) -> anyhow::Result<()> {
    let n = args.iterations.unwrap_or(if quick { 10 } else { 100 });
    let warmup = if quick { 2 } else { 5 };
    let plugin = crate::plugin_path(args.plugin.as_deref())?;
    let node = Netns::create("node")?;
    let pod = Netns::create("pod")?;
    ip_in(&node.name, &["link", "add", "up0", "type", "veth", "peer", "name", "up0p"])?;
    ip_in(&node.name, &["link", "set", "up0", "up"])?;
    let dir = std::env::temp_dir().join(format!("mmb-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let node_ns = NetNs::open(Path::new(&node.path()))?;
    let true_bin = Path::new("/bin/true");
    let floor: anyhow::Result<Vec<Duration>> = node_ns
        .run(|| (0..n).map(|_| invoke(true_bin, "ADD", "", "", "floor")).collect())
        .map_err(anyhow::Error::from)?;
    let floor = summarize(&floor?);
    let mut results = Vec::new();
    for case in cases(&plugin, &dir) {
        eprintln!("bench cni: {} ({n} iterations)...", case.name);
        let r = node_ns
            .run(|| measure(&case, &node.name, &pod.path(), warmup, n))
            .map_err(anyhow::Error::from)??;
        results.push(r);
    }
    for case in cases(&plugin, &dir).into_iter().filter(|c| SCALED.contains(&c.name.as_str())) {
        eprintln!("bench cni: {} with {ATTACHED} other attachments on the node...", case.name);
        results
            .push(node_ns.run(|| crowded(&case, &node, warmup, n)).map_err(anyhow::Error::from)??);
    }
    let _ = std::fs::remove_dir_all(&dir);
    report("cni", &results, floor, out)
}

/// Cases re-measured on a node that already has [`ATTACHED`] attachments.
const SCALED: [&str; 2] = ["murmuration veth + static (in-process)", "macvlan + static"];
const ATTACHED: usize = 64;

/// Measures `case` while [`ATTACHED`] other pods hold attachments of it.
fn crowded(case: &Case, node: &Netns, warmup: usize, n: usize) -> anyhow::Result<CaseResult> {
    let pods: Vec<Netns> = (0..ATTACHED)
        .map(|i| Netns::create(&format!("crowd{i}")))
        .collect::<anyhow::Result<_>>()?;
    for (i, p) in pods.iter().enumerate() {
        invoke(&case.plugin, "ADD", &case.config, &p.path(), &format!("crowd-{i}"))?;
    }
    let pod = Netns::create("crowd-probe")?;
    let mut r = measure(case, &node.name, &pod.path(), warmup, n);
    for (i, p) in pods.iter().enumerate() {
        invoke(&case.plugin, "DEL", &case.config, &p.path(), &format!("crowd-{i}"))?;
    }
    if let Ok(r) = &mut r {
        r.name = format!("{} [{ATTACHED} attached]", case.name);
    }
    r
}

/// Writes `<benchmark>.md`, `<benchmark>.json` and `<benchmark>-add-p50.svg`
/// (also used by `cni-vm`).
pub(crate) fn report(
    benchmark: &str,
    results: &[CaseResult],
    floor: Summary,
    out: &Path,
) -> anyhow::Result<()> {
    let mut md = format!(
        "Process spawn floor (`/bin/true` through the same harness): p50 {:.0} µs.\n\n",
        floor.p50_us
    );
    md += &String::from(
        "| case | ADD p50 | ADD p90 | ADD p99 | DEL p50 | DEL p99 | ADD+DEL p50 |\n|---|---|---|---|---|---|---|\n",
    );
    for r in results {
        md += &format!(
            "| {} | {:.0} µs | {:.0} µs | {:.0} µs | {:.0} µs | {:.0} µs | {:.0} µs |\n",
            r.name,
            r.add.p50_us,
            r.add.p90_us,
            r.add.p99_us,
            r.del.p50_us,
            r.del.p99_us,
            r.add_del_p50_us
        );
    }
    md += "\n| baseline / murmuration (same IPAM) | ADD p50 ratio | ADD+DEL p50 ratio |\n|---|---|---|\n";
    for go in results.iter().filter(|r| !r.name.starts_with("murmuration")) {
        let mm_ipam = if go.ipam == Ipam::Static { Ipam::StaticInProcess } else { go.ipam };
        let crowded = |r: &CaseResult| r.name.ends_with(" attached]");
        let pairs = |r: &&CaseResult| {
            r.name.starts_with("murmuration") && r.ipam == mm_ipam && crowded(r) == crowded(go)
        };
        for mm in results.iter().filter(pairs) {
            md += &format!(
                "| {} / {} | {:.1}x | {:.1}x |\n",
                go.name,
                mm.name,
                go.add.p50_us / mm.add.p50_us,
                go.add_del_p50_us / mm.add_del_p50_us
            );
        }
    }
    println!("{md}");
    std::fs::write(out.join(format!("{benchmark}.md")), &md)?;
    let json = serde_json::json!({
        "benchmark": benchmark, "machine": crate::report::machine(), "spawn_floor": floor, "cases": results
    });
    let adds: Vec<(String, f64)> = results.iter().map(|r| (short(&r.name), r.add.p50_us)).collect();
    let svg = out.join(format!("{benchmark}-add-p50.svg"));
    crate::plot::bars(&svg, "CNI ADD latency, p50", "µs", &adds)?;
    std::fs::write(out.join(format!("{benchmark}.json")), serde_json::to_vec_pretty(&json)?)?;
    eprintln!("wrote {}/{benchmark}.{{md,json}}", out.display());
    Ok(())
}

/// A bar label: the plugin and IPAM, without the words that repeat.
fn short(name: &str) -> String {
    name.replace("murmuration veth", "mm")
        .replace("murmuration sriov", "mm sriov")
        .replace(" (in-process)", " in-proc")
        .replace(" + ", "+")
}

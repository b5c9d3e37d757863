//! Prints the fast path's counters and latency histograms of one uplink,
//! read from its pinned maps through the core library (used by
//! `cargo xtask demo`). Usage: `fastpath_stats <pin_root>/<uplink>`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use murmuration_core::datapath::common::DROP_REASON_NAMES;
use murmuration_core::datapath::{Histogram, Reader, quantile_le_ns};

fn main() -> Result<()> {
    let dir: PathBuf =
        std::env::args_os().nth(1).context("usage: fastpath_stats <pin dir>")?.into();
    let reader = Reader::open(&dir).with_context(|| format!("opening {}", dir.display()))?;
    for (ifindex, port) in reader.ports() {
        let id = port.attach_id;
        let mac: Vec<String> = port.mac.iter().map(|b| format!("{b:02x}")).collect();
        println!(
            "\nport {id}: host veth ifindex {ifindex}, MAC {}, VLAN {}",
            mac.join(":"),
            port.vlan_id
        );
        let c = reader.counters(id)?;
        for (dir, c) in [("to pod  ", c.to_pod), ("from pod", c.from_pod)] {
            let drops: Vec<String> = DROP_REASON_NAMES
                .iter()
                .zip(c.drops)
                .filter(|(_, n)| *n > 0)
                .map(|(name, n)| format!("{name}={n}"))
                .collect();
            println!(
                "  {dir}: packets={} bytes={} flood={} ptp={} drops=[{}]",
                c.packets,
                c.bytes,
                c.flood_packets,
                c.ptp_packets,
                drops.join(" ")
            );
        }
        let lat = reader.latency(id)?;
        for (dir, h) in [("to pod", lat.prog[0]), ("from pod", lat.prog[1])] {
            print_histogram(&format!("fast-path time {dir} (program entry -> redirect)"), &h);
        }
    }
    Ok(())
}

fn print_histogram(title: &str, h: &Histogram) {
    let p = |q| quantile_le_ns(h, q).map_or("-".to_owned(), |ns| format!("<= {ns} ns"));
    let mean = h.sum_ns.checked_div(h.count).unwrap_or(0);
    println!("  {title}: {} samples, mean {mean} ns, p50 {}, p99 {}", h.count, p(500), p(990));
    let max = h.buckets.iter().copied().max().unwrap_or(0).max(1);
    for (i, n) in h.buckets.iter().enumerate().filter(|(_, n)| **n > 0) {
        let bar = "#".repeat(usize::try_from(n * 40 / max).unwrap_or(40).max(1));
        println!("    [{:>6}, {:>6}) ns {n:>6} {bar}", 1u64 << i, 1u64 << (i + 1));
    }
}

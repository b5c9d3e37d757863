//! The demo's fast-path part: a private bpffs for the pins (the host's
//! /sys/fs/bpf is never touched), pod -> pod pings on VLAN 100 through the
//! eBPF fast path, then the pods' counters and latency histograms, read from
//! the pinned maps by the `fastpath_stats` example (through the core library).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::topology::UPLINK;
use crate::sh;

/// The VLAN the demo pods are on.
pub const VLAN: u16 = 100;

/// A bpffs mounted on a scratch directory; unmounted on drop.
#[derive(Debug)]
pub struct Bpffs(PathBuf);

impl Bpffs {
    pub fn mount(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        sh::run(Command::new("mount").args(["-t", "bpf", "bpf"]).arg(dir))?;
        Ok(Self(dir.to_owned()))
    }

    /// The `bpfPinRoot` of the demo network.
    pub fn pin_root(&self) -> PathBuf {
        self.0.join("murmuration")
    }
}

impl Drop for Bpffs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The first IPv4 address of an ADD result.
fn ipv4(result: &Value) -> Option<String> {
    let ips = result["ips"].as_array()?;
    ips.iter()
        .filter_map(|ip| ip["address"].as_str())
        .find(|a| !a.contains(':'))
        .and_then(|a| a.split('/').next())
        .map(str::to_owned)
}

/// Pings pod 2 from pod 1 through the fast path and prints the counters and
/// histograms of the uplink's ports.
pub fn show(from_netns: &str, to_result: &Value, pin_root: &Path) -> Result<()> {
    let target = ipv4(to_result).context("the second pod has no IPv4 address")?;
    println!("\n--- fast path: 20 pings from the first pod to {target} (VLAN {VLAN}, same node)");
    let mut ping = Command::new("ip");
    ping.args(["netns", "exec", from_netns, "ping", "-c", "20", "-i", "0.05", "-W", "1", &target]);
    sh::run(&mut ping).context("pod -> pod ping through the fast path")?;
    let pin_dir = pin_root.join(UPLINK);
    println!(
        "\n--- fast-path counters and latency, read from the pinned maps in {}",
        pin_dir.display()
    );
    let mut stats = sh::cargo();
    stats.args([
        "run",
        "--quiet",
        "--release",
        "-p",
        "murmuration-cni",
        "--example",
        "fastpath_stats",
        "--",
    ]);
    stats.arg(&pin_dir);
    sh::run(&mut stats)
}

/// After the last DEL the uplink's programs and pins must be gone.
pub fn verify_removed(pin_root: &Path) -> Result<()> {
    let dir = pin_root.join(UPLINK);
    if dir.exists() {
        bail!("the fast path of {UPLINK} is still pinned at {}", dir.display());
    }
    println!("fast path removed with the last attachment: {} is gone", dir.display());
    Ok(())
}

//! The demo's fast-path part: a private bpffs for the pins (the host's
//! /sys/fs/bpf is never touched) and a ping between the VLAN 100 pods
//! through the uplink's eBPF fast path.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::plugin::Pod;
use crate::sh;

/// A bpffs mounted on a scratch directory; unmounted on drop unless unmounted
/// or forgotten before.
#[derive(Debug)]
pub struct Bpffs {
    dir: PathBuf,
    mounted: bool,
}

impl Bpffs {
    pub fn mount(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        super::run_cmd(Command::new("mount").args(["-t", "bpf", "bpf"]).arg(dir))?;
        Ok(Self { dir: dir.to_owned(), mounted: true })
    }

    /// The `bpfPinRoot` of the demo networks.
    pub fn pin_root(&self) -> PathBuf {
        self.dir.join("murmuration")
    }

    /// Where it is mounted.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Unmounts it now; returns the mount point.
    pub fn unmount(&mut self) -> Result<PathBuf> {
        if self.mounted {
            super::run_cmd(Command::new("umount").arg(&self.dir))?;
            self.mounted = false;
        }
        Ok(self.dir.clone())
    }

    /// Leaves it mounted when the value drops (`--keep`).
    pub fn forget(&mut self) {
        self.mounted = false;
    }
}

impl Drop for Bpffs {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// The first IPv4 address of an ADD result, without its prefix length.
pub fn ipv4(result: &Value) -> Option<String> {
    let ips = result["ips"].as_array()?;
    ips.iter()
        .filter_map(|ip| ip["address"].as_str())
        .find(|a| !a.contains(':'))
        .and_then(|a| a.split('/').next())
        .map(str::to_owned)
}

const PINGS: &str = "10";

/// Pings `to` (whose ADD result is `to_result`) from `from` through the fast
/// path; fails unless every echo is answered.
pub fn ping(from: &Pod, to: &Pod, to_result: &Value) -> Result<()> {
    let target = ipv4(to_result).context("the pod has no IPv4 address")?;
    let mut ping = Command::new("ip");
    ping.args(["netns", "exec", &from.netns, "ping", "-q", "-c", PINGS, "-i", "0.05"]);
    ping.args(["-W", "1", &target]);
    let out = sh::capture(&mut ping).with_context(|| format!("{} -> {}", from.name, to.name))?;
    let stats = out.lines().find(|l| l.contains("packets transmitted")).unwrap_or("");
    if !stats.contains(&format!(" {PINGS} received")) {
        bail!("ping {} -> {}: {stats}", from.name, to.name);
    }
    println!(
        "\nping {} -> {} ({target}, VLAN {}, through the fast path): {PINGS}/{PINGS} answered",
        from.name, to.name, to.vlan
    );
    Ok(())
}

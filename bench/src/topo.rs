//! Throwaway network namespaces for a benchmark run, removed on drop.

use std::process::Command;

use anyhow::{Context, bail};

pub fn ip(args: &[&str]) -> anyhow::Result<()> {
    let st = Command::new("ip").args(args).status().context("running ip")?;
    if !st.success() {
        bail!("ip {} failed", args.join(" "));
    }
    Ok(())
}

/// Runs `ip` inside namespace `ns`.
pub fn ip_in(ns: &str, args: &[&str]) -> anyhow::Result<()> {
    let mut full = vec!["netns", "exec", ns, "ip"];
    full.extend_from_slice(args);
    ip(&full)
}

#[derive(Debug)]
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn create(role: &str) -> anyhow::Result<Self> {
        let name = format!("mmb-{}-{role}", std::process::id());
        ip(&["netns", "add", &name])?;
        Ok(Self { name })
    }

    /// A named handle on the namespace of process `pid` (`ip netns attach`),
    /// e.g. the root namespace (pid 1), for tools that take a name; dropping
    /// it removes the name, not the namespace.
    pub fn attach(role: &str, pid: u32) -> anyhow::Result<Self> {
        let name = format!("mmb-{}-{role}", std::process::id());
        ip(&["netns", "attach", &name, &pid.to_string()])?;
        Ok(Self { name })
    }

    /// The namespace's bind mount: `/run/netns` where that is where `ip` put it
    /// (the VM guest, whose `/var/run` is not a link to `/run`), else `/var/run/netns`.
    pub fn path(&self) -> String {
        let run = format!("/run/netns/{}", self.name);
        if std::path::Path::new(&run).exists() {
            return run;
        }
        format!("/var/run/netns/{}", self.name)
    }
}

/// A private bpffs on a directory of the run's, so pins never touch the
/// host's `/sys/fs/bpf`: mounted and (lazily) unmounted as the tests do it.
pub use murmuration_testkit::bpffs::{mount as mount_bpffs, unmount as unmount_bpffs};

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}

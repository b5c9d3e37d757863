//! Throwaway network namespaces for a benchmark run, removed on drop.

use std::path::Path;
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

/// Mounts a private bpffs on `dir` (created if missing), so pins never touch
/// the host's `/sys/fs/bpf`; [`unmount_bpffs`] undoes it.
pub fn mount_bpffs(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let st = Command::new("mount").args(["-t", "bpf", "bpf"]).arg(dir).status()?;
    if !st.success() {
        bail!("cannot mount a bpffs on {}", dir.display());
    }
    Ok(())
}

/// Unmounts a bpffs of [`mount_bpffs`], lazily: a program or map fd still
/// open (a daemon stopping, a DEL in flight) must not keep it mounted.
/// Errors are ignored: teardown goes on.
pub fn unmount_bpffs(dir: &Path) {
    let _ = Command::new("umount").arg("-l").arg(dir).status();
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}

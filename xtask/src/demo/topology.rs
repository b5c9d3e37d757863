//! The demo's throwaway network namespaces.
//!
//! Every namespace is named with this process's PID and recorded only once `ip netns
//! add` has created it, so cleanup deletes exactly what this run created. Nothing
//! here ever addresses the initial network namespace: every link command runs with
//! `ip -n <namespace>`.

use std::process::Command;

use anyhow::{Result, bail};

use crate::sh;

/// The uplink the plugin is configured with (`"master"`), inside the node namespace.
pub const UPLINK: &str = "uplink0";
const WIRE_END: &str = "wire0";

#[derive(Debug)]
pub struct Topology {
    pub node: String,
    pub pods: Vec<String>,
    created: Vec<String>,
}

impl Topology {
    /// Create the node, wire and pod namespaces and the uplink veth between node and
    /// wire. On error, whatever was created is deleted when the value drops.
    pub fn create(pid: u32, pod_names: &[&str]) -> Result<Self> {
        let mut topology = Topology {
            node: format!("mmdemo-node-{pid}"),
            pods: pod_names.iter().map(|pod| format!("mmdemo-{pod}-{pid}")).collect(),
            created: Vec::new(),
        };
        let wire = format!("mmdemo-wire-{pid}");
        for netns in
            [&topology.node, &wire].into_iter().chain(&topology.pods).cloned().collect::<Vec<_>>()
        {
            topology.add_netns(&netns)?;
        }
        let node = topology.node.clone();
        ip(
            &node,
            &["link", "add", UPLINK, "type", "veth", "peer", "name", WIRE_END, "netns", &wire],
        )?;
        ip(&node, &["link", "set", UPLINK, "up"])?;
        ip(&wire, &["link", "set", WIRE_END, "up"])?;
        Ok(topology)
    }

    fn add_netns(&mut self, netns: &str) -> Result<()> {
        sh::run(Command::new("ip").args(["netns", "add", netns]))?;
        self.created.push(netns.to_owned());
        ip(netns, &["link", "set", "lo", "up"])
    }

    /// Delete every namespace this run created; report failures.
    pub fn remove(&mut self) -> Result<()> {
        let mut failed = Vec::new();
        while let Some(netns) = self.created.pop() {
            if let Err(err) = sh::run(Command::new("ip").args(["netns", "del", &netns])) {
                eprintln!("cleanup: {err:#}");
                failed.push(netns);
            }
        }
        if !failed.is_empty() {
            bail!("could not delete network namespaces: {}", failed.join(" "));
        }
        Ok(())
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        if !self.created.is_empty() {
            eprintln!("cleanup: deleting the demo's network namespaces");
            if let Err(err) = self.remove() {
                eprintln!("cleanup: {err:#}");
            }
        }
    }
}

/// Run `ip -n <netns> <args>`, echoing it.
pub fn ip(netns: &str, args: &[&str]) -> Result<()> {
    sh::run(Command::new("ip").args(["-n", netns]).args(args))
}

/// Capture `ip -n <netns> <args>`.
pub fn ip_output(netns: &str, args: &[&str]) -> Result<String> {
    sh::capture(Command::new("ip").args(["-n", netns]).args(args))
}

/// The link names in a namespace (`uplink0@if2` is reported as `uplink0`).
pub fn link_names(netns: &str) -> Result<Vec<String>> {
    let links = ip_output(netns, &["-br", "link"])?;
    Ok(links
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(|name| name.split('@').next().unwrap_or(name).to_owned())
        .collect())
}

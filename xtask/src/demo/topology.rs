//! The demo's throwaway network namespaces.
//!
//! Every namespace is named with this process's PID and recorded only once `ip netns
//! add` has created it, so cleanup deletes exactly what this run created. Nothing
//! here ever addresses the initial network namespace: every link command runs with
//! `ip -n <namespace>`.

use std::process::Command;

use anyhow::{Result, bail};

/// The uplink the plugin is configured with (`"master"`), inside the node namespace.
pub const UPLINK: &str = "uplink0";
pub const WIRE_END: &str = "wire0";
/// The PTP link: the node's ptp4l client on `PTP_NODE`, the grandmaster on
/// `PTP_WIRE` in the wire namespace, with the addresses below (UDPv4).
pub const PTP_NODE: &str = "ptp0";
pub const PTP_WIRE: &str = "ptpgm0";
const PTP_NODE_ADDR: &str = "10.78.0.2/24";
const PTP_WIRE_ADDR: &str = "10.78.0.1/24";
/// The node's links that the demo made itself (not the plugin).
pub const NODE_LINKS: [&str; 2] = [UPLINK, PTP_NODE];

#[derive(Debug)]
pub struct Topology {
    pub node: String,
    pub wire: String,
    pub pods: Vec<String>,
    created: Vec<String>,
}

impl Topology {
    /// Create the node, wire and pod namespaces and the uplink veth between node and
    /// wire. On error, whatever was created is deleted when the value drops.
    pub fn create(pid: u32, pod_names: &[&str]) -> Result<Self> {
        let wire = format!("mmdemo-wire-{pid}");
        let mut topology = Topology {
            node: format!("mmdemo-node-{pid}"),
            wire: wire.clone(),
            pods: pod_names.iter().map(|pod| format!("mmdemo-{pod}-{pid}")).collect(),
            created: Vec::new(),
        };
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
        // No IPv6 link-local address (nor its route) on the demo's own links:
        // the leak check's baseline must not change under it.
        ip(&node, &["link", "set", UPLINK, "addrgenmode", "none", "up"])?;
        ip(&wire, &["link", "set", WIRE_END, "up"])?;
        veth_pair((&node, PTP_NODE, PTP_NODE_ADDR), (&wire, PTP_WIRE, PTP_WIRE_ADDR))?;
        Ok(topology)
    }

    /// Every namespace of the demo, created or still to be.
    pub fn all_names(&self) -> Vec<String> {
        let fixed = [self.node.clone(), self.wire.clone()];
        fixed.into_iter().chain(self.pods.iter().cloned()).collect()
    }

    /// Leaves the namespaces in place when the value drops (`--keep`).
    pub fn forget(&mut self) {
        self.created.clear();
    }

    fn add_netns(&mut self, netns: &str) -> Result<()> {
        super::run_cmd(Command::new("ip").args(["netns", "add", netns]))?;
        self.created.push(netns.to_owned());
        ip(netns, &["link", "set", "lo", "up"])
    }

    /// Delete every namespace this run created; report failures.
    pub fn remove(&mut self) -> Result<()> {
        let mut failed = Vec::new();
        while let Some(netns) = self.created.pop() {
            if let Err(err) = super::run_cmd(Command::new("ip").args(["netns", "del", &netns])) {
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

/// Run `ip -n <netns> <args>` (echoed under `--verbose`).
pub fn ip(netns: &str, args: &[&str]) -> Result<()> {
    super::run_cmd(Command::new("ip").args(["-n", netns]).args(args))
}

/// A veth pair between two namespaces, each end addressed and up.
fn veth_pair(a: (&str, &str, &str), b: (&str, &str, &str)) -> Result<()> {
    let ((a_ns, a_if, a_addr), (b_ns, b_if, b_addr)) = (a, b);
    ip(a_ns, &["link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", b_ns])?;
    for (netns, ifname, addr) in [(a_ns, a_if, a_addr), (b_ns, b_if, b_addr)] {
        ip(netns, &["addr", "add", addr, "dev", ifname])?;
        ip(netns, &["link", "set", ifname, "addrgenmode", "none", "up"])?;
    }
    Ok(())
}

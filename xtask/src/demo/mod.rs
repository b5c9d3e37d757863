//! `cargo xtask demo`: run the real plugin end to end in throwaway namespaces.
//!
//! Topology: a node namespace holding the uplink `uplink0` (a veth whose peer sits
//! in a wire namespace) and two pod namespaces. The plugin runs inside the node
//! namespace, as a runtime on that node would run it: VERSION, STATUS, ADD and CHECK
//! for both pods, then DEL (twice for one pod: DEL of something gone must succeed),
//! then a check that nothing is left. Cleanup runs on success, error or panic.
//! The pods are on VLAN 100 of the uplink's eBPF fast path: between CHECK and
//! DEL they ping each other through it and their counters and latency
//! histograms are printed.

mod daemon;
mod fastpath;
mod plugin;
mod topology;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tempfile::TempDir;

use self::plugin::{Plugin, Pod};
use self::topology::{Topology, UPLINK, ip_output, link_names};
use crate::{build, setup, sh};

const NETWORK: &str = "demo-net";
const POD_NAMES: [&str; 2] = ["pod1", "pod2"];

pub fn run() -> Result<()> {
    if !sh::is_root() {
        bail!("the demo creates network namespaces: run `cargo xtask demo` as root");
    }
    setup::run()?;
    let binary = build::run()?;
    let mut demo = Demo::new(&binary)?;
    demo.play()?;
    demo.topology.remove()?;
    println!("\ndemo: OK (every plugin call succeeded, nothing left behind, namespaces removed)");
    Ok(())
}

/// Everything the demo created. Dropping it (after an error or a panic) DELs the
/// pods still attached, then deletes the namespaces, then the scratch directory.
#[derive(Debug)]
struct Demo {
    plugin: Plugin,
    config: Value,
    pods: Vec<Pod>,
    /// Pods with a successful ADD and no successful DEL yet: (index, ADD result).
    attached: Vec<(usize, Value)>,
    topology: Topology,
    /// After the topology: the pins go once the namespaces are gone.
    bpffs: fastpath::Bpffs,
    scratch: TempDir,
    /// The node daemon binary, started once the pods are attached.
    daemon: PathBuf,
}

impl Demo {
    fn new(binary: &Path) -> Result<Self> {
        let pid = std::process::id();
        let scratch = tempfile::Builder::new()
            .prefix(&format!("mmdemo-{pid}-"))
            .tempdir()
            .context("creating the scratch directory")?;
        let bpffs = fastpath::Bpffs::mount(&scratch.path().join("bpffs"))?;
        let topology = Topology::create(pid, &POD_NAMES)?;
        let pods = POD_NAMES
            .iter()
            .zip(&topology.pods)
            .map(|(name, netns)| Pod::new(name, netns, pid))
            .collect();
        let config = network_config(scratch.path(), &bpffs.pin_root());
        let config_file = scratch.path().join(format!("{NETWORK}.conf"));
        std::fs::write(&config_file, serde_json::to_vec_pretty(&config)?)
            .with_context(|| format!("writing {}", config_file.display()))?;
        println!("\nnetwork configuration ({}):", config_file.display());
        println!("{}", serde_json::to_string_pretty(&config)?);
        let plugin = Plugin::new(binary, &topology.node, &scratch.path().join("stdin"))?;
        let daemon = build::daemon_path(binary);
        Ok(Demo { plugin, config, pods, attached: Vec::new(), topology, bpffs, scratch, daemon })
    }

    fn play(&mut self) -> Result<()> {
        self.plugin.version()?;
        self.plugin.status(&self.config)?;
        for index in 0..self.pods.len() {
            let result = self.plugin.pod_call("ADD", &self.pods[index], &self.config, None)?;
            self.attached.push((index, result));
        }
        for (index, result) in &self.attached {
            self.plugin.pod_call("CHECK", &self.pods[*index], &self.config, Some(result))?;
        }
        self.show_namespaces("after ADD")?;
        if let [(_, _), (_, second)] = self.attached.as_slice() {
            fastpath::show(&self.pods[0].netns, second, &self.bpffs.pin_root())?;
        }
        daemon::show_metrics(&self.daemon, &self.topology.node, &self.state_dir())?;
        while let Some((index, result)) = self.attached.first().cloned() {
            self.plugin.pod_call("DEL", &self.pods[index], &self.config, Some(&result))?;
            self.attached.remove(0);
        }
        // The runtime may repeat DEL; the spec requires success when nothing is left.
        self.plugin.pod_call("DEL", &self.pods[0], &self.config, None)?;
        self.show_namespaces("after DEL")?;
        fastpath::verify_removed(&self.bpffs.pin_root())?;
        self.verify_nothing_left()
    }

    fn show_namespaces(&self, when: &str) -> Result<()> {
        let namespaces = self.pods.iter().map(|pod| &pod.netns).chain([&self.topology.node]);
        for netns in namespaces {
            for what in ["addr", "link"] {
                println!("\n--- {when}: ip -n {netns} -br {what}");
                print!("{}", ip_output(netns, &["-br", what])?);
            }
        }
        Ok(())
    }

    fn verify_nothing_left(&self) -> Result<()> {
        let mut leftovers = Vec::new();
        for pod in &self.pods {
            let extra = link_names(&pod.netns)?.into_iter().filter(|name| name != "lo");
            leftovers.extend(extra.map(|name| format!("link {name} in {}", pod.netns)));
        }
        let node_extra = link_names(&self.topology.node)?
            .into_iter()
            .filter(|name| name != "lo" && name != UPLINK);
        leftovers.extend(node_extra.map(|name| format!("link {name} in {}", self.topology.node)));
        let ipam_dir = self.scratch.path().join("ipam").join(NETWORK);
        leftovers.extend(reserved_addresses(&ipam_dir).map(|ip| format!("IPAM reservation {ip}")));
        println!("\n--- after DEL: plugin state under {}", self.state_dir().display());
        for file in files_under(&self.state_dir()) {
            println!("{}", file.display());
        }
        if !leftovers.is_empty() {
            bail!("DEL left resources behind: {}", leftovers.join("; "));
        }
        println!(
            "\nnothing left: pods hold only lo, the node only lo and {UPLINK}, no IPAM reservation"
        );
        Ok(())
    }

    fn state_dir(&self) -> PathBuf {
        self.scratch.path().join("state")
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let attached = std::mem::take(&mut self.attached);
        for (index, result) in attached {
            eprintln!("cleanup: DEL {} (best effort)", self.pods[index].name);
            let _ = self.plugin.pod_call("DEL", &self.pods[index], &self.config, Some(&result));
        }
    }
}

fn network_config(scratch: &Path, pin_root: &Path) -> Value {
    json!({
        "cniVersion": "1.1.0",
        "name": NETWORK,
        "type": "murmuration",
        "mode": "veth",
        "master": UPLINK,
        "vlan": fastpath::VLAN,
        "bpfPinRoot": pin_root.display().to_string(),
        "mtu": 1400,
        "dataDir": scratch.join("state").display().to_string(),
        "ipam": {
            "type": "host-local",
            "ranges": [[{ "subnet": "10.77.0.0/24" }], [{ "subnet": "fd77::/64" }]],
            "dataDir": scratch.join("ipam").display().to_string(),
        },
    })
}

/// host-local keeps one file per reserved address, named after the address.
fn reserved_addresses(ipam_dir: &Path) -> impl Iterator<Item = IpAddr> {
    let entries = std::fs::read_dir(ipam_dir).into_iter().flatten().flatten();
    entries.filter_map(|entry| entry.file_name().to_str()?.parse().ok())
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files.sort();
    files
}

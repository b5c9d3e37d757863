//! `cargo xtask demo`: run the real plugin end to end in throwaway namespaces
//! and tell what happened on about one screen.
//!
//! Topology: a node namespace holding the uplink `uplink0` (a veth whose peer
//! sits in a wire namespace) and three pod namespaces: two pods on VLAN 100,
//! one on VLAN 200, all on the uplink's eBPF fast path. The plugin runs inside
//! the node namespace as a runtime on that node would run it (VERSION, STATUS,
//! ADD, CHECK, DEL; every call's JSON goes to the output directory and, with
//! `--verbose`, to the terminal). Then: a ping between the VLAN 100 pods, the
//! benchmark's fast path against a bridge measured in the same run, a ptp4l
//! pair and the node daemon's view of it, selected live metrics, and a leak
//! check after the DELs. Cleanup runs on success, error or panic; `--keep`
//! leaves everything running and writes a teardown script instead.

mod daemon;
mod fastpath;
mod keep;
mod leak;
mod measure;
mod plugin;
mod ptp;
mod show;
mod topology;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tempfile::TempDir;

use self::plugin::{Plugin, Pod};
use self::topology::{Topology, UPLINK};
use crate::{build, setup, sh};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Print every command and every plugin call's JSON (always written to the output directory).
    #[arg(long)]
    verbose: bool,
    /// Leave everything running and print how to explore it and how to tear it down.
    #[arg(long)]
    keep: bool,
}

/// The demo's pods: name and VLAN (one network per VLAN).
const PODS: [(&str, u16); 3] = [("pod1", 100), ("pod2", 100), ("pod3", 200)];
const VLANS: [u16; 2] = [100, 200];

static VERBOSE: AtomicBool = AtomicBool::new(false);

/// Whether `--verbose` was given.
pub fn verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

/// Run a command: echoed with its output under `--verbose`, quiet otherwise.
pub fn run_cmd(cmd: &mut Command) -> Result<()> {
    if verbose() { sh::run(cmd) } else { sh::capture(cmd).map(drop) }
}

pub fn run(args: &DemoArgs) -> Result<()> {
    if !sh::is_root() {
        bail!("the demo creates network namespaces: run `cargo xtask demo` as root");
    }
    VERBOSE.store(args.verbose, Ordering::Relaxed);
    setup::run()?;
    let binary = build::run()?;
    let out = output_dir(&binary)?;
    show::built(&binary);
    let mut demo = Demo::new(&binary, &out)?;
    demo.play()?;
    if args.keep {
        return keep::leave_running(demo);
    }
    let report = demo.tear_down()?;
    leak::print(&report);
    std::fs::write(out.join("summary.json"), serde_json::to_vec_pretty(&report.json())?)?;
    if !report.passed() {
        bail!("the leak check failed: {}", report.leftovers().join("; "));
    }
    println!("\ndemo: OK");
    Ok(())
}

/// The line the demo prints when its leak check passed.
const LEAK_CHECK_PASSED: &str = "leak check: passed, nothing left";

/// The netns tier's demo step: `cargo xtask demo` as a child process must
/// exit 0 and report that its leak check passed.
pub fn smoke() -> Result<()> {
    let xtask = std::env::current_exe().context("locating xtask")?;
    let output = Command::new(xtask).arg("demo").stdin(std::process::Stdio::null()).output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    if !output.status.success() {
        bail!("`cargo xtask demo` failed ({})", output.status);
    }
    if !stdout.lines().any(|line| line == LEAK_CHECK_PASSED) {
        bail!("`cargo xtask demo` exited 0 without `{LEAK_CHECK_PASSED}`");
    }
    Ok(())
}

/// `<target>/demo`, emptied: the calls' JSON, the benchmark's JSON and plots.
fn output_dir(binary: &Path) -> Result<PathBuf> {
    let target = binary.parent().and_then(Path::parent).context("unexpected target layout")?;
    let out = target.join("demo");
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("emptying {}", out.display()))?;
    }
    std::fs::create_dir_all(out.join("calls"))?;
    Ok(out)
}

/// Everything the demo created. Dropping it (after an error or a panic) stops
/// the processes, DELs the pods still attached, then deletes the namespaces,
/// unmounts the bpffs and removes the scratch directory.
#[derive(Debug)]
struct Demo {
    plugin: Plugin,
    /// One network configuration per VLAN, in [`VLANS`] order.
    configs: Vec<Value>,
    pods: Vec<Pod>,
    /// Pods with a successful ADD and no successful DEL yet: (index, ADD result).
    attached: Vec<(usize, Value)>,
    /// The daemon and ptp4l; stopped before the DELs.
    processes: Vec<daemon::Proc>,
    baseline: Option<leak::Snapshot>,
    topology: Topology,
    /// After the topology: the pins go once the namespaces are gone.
    bpffs: fastpath::Bpffs,
    scratch: TempDir,
    out: PathBuf,
    binary: PathBuf,
}

impl Demo {
    fn new(binary: &Path, out: &Path) -> Result<Self> {
        let pid = std::process::id();
        let scratch = tempfile::Builder::new()
            .prefix(&format!("mmdemo-{pid}-"))
            .tempdir()
            .context("creating the scratch directory")?;
        let bpffs = fastpath::Bpffs::mount(&scratch.path().join("bpffs"))?;
        let names: Vec<&str> = PODS.iter().map(|(name, _)| *name).collect();
        let topology = Topology::create(pid, &names)?;
        let pods = PODS
            .iter()
            .zip(&topology.pods)
            .map(|((name, vlan), netns)| Pod::new(name, netns, pid, *vlan))
            .collect();
        let configs =
            VLANS.iter().map(|vlan| network_config(scratch.path(), &bpffs.pin_root(), *vlan));
        let configs: Vec<Value> = configs.collect();
        for config in &configs {
            let file = out.join(format!("{}.conf", config["name"].as_str().unwrap_or("net")));
            std::fs::write(&file, serde_json::to_vec_pretty(config)?)?;
        }
        let plugin = Plugin::new(binary, &topology.node, &out.join("calls"))?;
        Ok(Demo {
            plugin,
            configs,
            pods,
            attached: Vec::new(),
            processes: Vec::new(),
            baseline: None,
            topology,
            bpffs,
            scratch,
            out: out.to_owned(),
            binary: binary.to_owned(),
        })
    }

    fn config_of(&self, index: usize) -> &Value {
        let vlan = self.pods[index].vlan;
        let position = VLANS.iter().position(|v| *v == vlan).unwrap_or(0);
        &self.configs[position]
    }

    fn play(&mut self) -> Result<()> {
        self.baseline = Some(self.leak_scope().snapshot());
        self.plugin.version()?;
        for config in self.configs.clone() {
            self.plugin.status(&config)?;
        }
        for index in 0..self.pods.len() {
            let config = self.config_of(index).clone();
            let result = self.plugin.pod_call("ADD", &self.pods[index], &config, None)?;
            self.attached.push((index, result));
        }
        for (index, result) in self.attached.clone() {
            let config = self.config_of(index).clone();
            self.plugin.pod_call("CHECK", &self.pods[index], &config, Some(&result))?;
        }
        show::topology(&self.topology, &self.pods);
        show::attachments(&self.pods, &self.attached);
        println!(
            "plugin calls: {} (JSON in {})",
            self.plugin.summary(),
            self.out.join("calls").display()
        );
        self.ping_and_measure()?;
        self.daemon_and_ptp()
    }

    fn ping_and_measure(&self) -> Result<()> {
        let [(_, _), (_, second), ..] = self.attached.as_slice() else {
            bail!("the VLAN 100 pods are not both attached");
        };
        fastpath::ping(&self.pods[0], &self.pods[1], second)?;
        measure::run(&self.binary, &self.out.join("bench"))
    }

    fn daemon_and_ptp(&mut self) -> Result<()> {
        let ptp = ptp::Pair::start(&self.topology, self.scratch.path(), &self.out)?;
        self.processes.extend(ptp.processes);
        let daemon = daemon::start(&daemon::Setup {
            binary: &build::daemon_path(&self.binary),
            netns: &self.topology.node,
            data_dir: &self.state_dir(),
            ptp_socket: &ptp.client_socket,
            scratch: self.scratch.path(),
            log: &self.out.join("murmurationd.log"),
        })?;
        self.processes.push(daemon);
        ptp::show(&self.topology.node)?;
        daemon::show_metrics(&self.topology.node, &self.out)?;
        show::outputs(&self.out);
        Ok(())
    }

    /// Stops the processes, DELs every pod (one twice: a repeated DEL must
    /// succeed), GCs each network, audits the node against the baseline, then deletes the
    /// namespaces and the bpffs and checks the host for leftovers.
    fn tear_down(mut self) -> Result<leak::Report> {
        let stopped = self.stop_processes();
        while let Some((index, result)) = self.attached.first().cloned() {
            let config = self.config_of(index).clone();
            self.plugin.pod_call("DEL", &self.pods[index], &config, Some(&result))?;
            self.attached.remove(0);
        }
        let config = self.config_of(0).clone();
        self.plugin.pod_call("DEL", &self.pods[0], &config, None)?;
        for config in self.configs.clone() {
            self.plugin.gc(&config)?;
        }
        let after = self.leak_scope().snapshot();
        let baseline = self.baseline.take().unwrap_or_default();
        let namespaces = self.topology.all_names();
        self.topology.remove()?;
        let bpffs = self.bpffs.unmount()?;
        let scratch = self.scratch.path().to_owned();
        std::fs::remove_dir_all(&scratch)
            .with_context(|| format!("removing {}", scratch.display()))?;
        let host = leak::HostCheck { namespaces, bpffs, scratch, pids: stopped };
        Ok(leak::Report::new(&baseline, &after, &host, self.plugin.summary()))
    }

    fn stop_processes(&mut self) -> Vec<u32> {
        self.processes.drain(..).map(daemon::Proc::stop).collect()
    }

    fn leak_scope(&self) -> leak::Scope {
        leak::Scope {
            netns: self.topology.node.clone(),
            own_links: topology::NODE_LINKS.iter().map(|l| (*l).to_owned()).collect(),
            data_dir: self.state_dir(),
            lease_dir: self.scratch.path().join("ipam"),
            pin_root: self.bpffs.pin_root(),
        }
    }

    fn state_dir(&self) -> PathBuf {
        self.scratch.path().join("state")
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.stop_processes();
        let attached = std::mem::take(&mut self.attached);
        for (index, result) in attached {
            eprintln!("cleanup: DEL {} (best effort)", self.pods[index].name);
            let config = self.config_of(index).clone();
            let _ = self.plugin.pod_call("DEL", &self.pods[index], &config, Some(&result));
        }
    }
}

/// The network of one VLAN: veth mode on the uplink's fast path, host-local IPAM.
fn network_config(scratch: &Path, pin_root: &Path, vlan: u16) -> Value {
    json!({
        "cniVersion": "1.1.0",
        "name": format!("demo-vlan{vlan}"),
        "type": "murmuration",
        "mode": "veth",
        "master": UPLINK,
        "vlan": vlan,
        "bpfPinRoot": pin_root.display().to_string(),
        "mtu": 1400,
        "dataDir": scratch.join("state").display().to_string(),
        "ipam": {
            "type": "host-local",
            "ranges": [[{ "subnet": format!("10.77.{}.0/24", vlan % 256) }]],
            "dataDir": scratch.join("ipam").display().to_string(),
        },
    })
}

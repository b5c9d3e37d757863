//! `murmuration-bench`: measures murmuration against baselines run on the same
//! machine in the same invocation, and reports medians and ratios.

mod cni;
mod cni_vm;
mod compare;
mod daemon;
mod datapath;
mod datapath_vm;
mod devplugin;
mod plot;
mod report;
mod stats;
mod timing;
mod topo;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(about = "murmuration benchmarks (run as root; builds its own namespaces)")]
struct Cli {
    /// A short run: few iterations, for smoke tests and quick looks.
    #[arg(long, global = true)]
    quick: bool,
    /// Where JSON and Markdown results go.
    #[arg(long, global = true, default_value = "target/bench-results")]
    out: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// ADD and DEL latency of murmuration vs. the reference plugins.
    Cni(cni::Args),
    /// The same on real igbvf VFs: murmuration `sriov` vs. Go `host-device`.
    /// Runs inside the VM tier's guest; `cargo xtask vm-bench` boots it.
    CniVm(cni_vm::Args),
    /// UDP RTT and packet rates: fast path vs bridge, iptables and bare veth.
    Datapath(datapath::Args),
    /// RTT and packet rates between the wire igb NIC and a pod: fast path
    /// (tc, XDP), bridge, SR-IOV VF and the bare PF. Runs inside the VM
    /// tier's guest; `cargo xtask vm-bench --datapath` boots it.
    DatapathVm(datapath_vm::Args),
    /// Scrape time and memory of murmurationd, idle and with many
    /// fast-path attachments (256 by default).
    Daemon(daemon::Args),
    /// Allocate and ListAndWatch latency of murmurationd's kubelet device
    /// plugin (release daemon, fake sysfs tree, this program as the kubelet).
    Devplugin(devplugin::Args),
    /// The PTP timing service: state change -> consumer latency,
    /// CurrentState round trips against a same-listener baseline, and RSS,
    /// with 100 O-RAN notification subscribers and real ptp4l.
    Timing(timing::Args),
    /// Per-metric ratios between two JSON results; fails on regressions.
    Compare(compare::Args),
}

/// The plugin binary to measure: the one given, else the one built next to
/// this program.
pub(crate) fn plugin_path(given: Option<&std::path::Path>) -> anyhow::Result<PathBuf> {
    binary_path(given, "murmuration")
}

/// `given`, else the binary `name` built next to this program.
pub(crate) fn binary_path(given: Option<&std::path::Path>, name: &str) -> anyhow::Result<PathBuf> {
    match given {
        Some(p) => Ok(p.to_owned()),
        None => Ok(std::env::current_exe()?.with_file_name(name)),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    std::fs::create_dir_all(&cli.out)?;
    match cli.cmd {
        Cmd::Cni(args) => cni::run(&args, cli.quick, &cli.out),
        Cmd::CniVm(args) => cni_vm::run(&args, cli.quick, &cli.out),
        Cmd::Datapath(args) => match datapath::run(&args, cli.quick)? {
            datapath::Measured::Generators(c) => report::generators(&c, &cli.out),
            datapath::Measured::Paths { results, choice, failures } => {
                report::datapath(&results, choice.as_ref(), &failures, &cli.out)
            }
        },
        Cmd::DatapathVm(args) => datapath_vm::run(&args, cli.quick, &cli.out),
        Cmd::Daemon(args) => daemon::run(&args, cli.quick, &cli.out),
        Cmd::Devplugin(args) => devplugin::run(&args, cli.quick, &cli.out),
        Cmd::Timing(args) => timing::run(&args, cli.quick, &cli.out),
        Cmd::Compare(args) => compare::run(&args),
    }
}

//! `datapath`: UDP RTT and packet rates through each path, measured in one run.

mod fastpath;
pub mod generator;
pub mod paths;
pub mod udp;
mod uring;

pub use fastpath::add_pod as fastpath_add_pod;
pub use generator::{Generator, Pps};

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use murmuration_core::netns::NetNs;
use serde::Serialize;

use crate::stats::{Summary, summarize};
use paths::Built;

const PORT: u16 = 9100;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// RTT samples per path (default 20000, 2000 with --quick).
    #[arg(long)]
    samples: Option<usize>,
    /// Seconds of traffic per packet-rate measurement (default 3, 0.5 with --quick).
    #[arg(long)]
    seconds: Option<f64>,
    /// The murmuration plugin binary (default: next to this binary).
    #[arg(long)]
    plugin: Option<PathBuf>,
    /// Only compare the packet generators on the veth floor (writes
    /// datapath-generators.{md,json}); no paths.
    #[arg(long)]
    generators_only: bool,
    /// Measure only these paths (repeatable; default: every path).
    #[arg(long = "path", value_enum)]
    paths: Vec<PathKind>,
}

/// The paths `datapath` can measure, as `--path` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PathKind {
    Floor,
    Bridge,
    Iptables,
    Fast,
    NoCounters,
    IdleTagger,
    Vlan,
    VlanInPacket,
    Xdp,
    PodToPod,
}

/// Rounds of the generator comparison; each generator keeps its best.
const GENERATOR_ROUNDS: usize = 2;

#[derive(Debug, Serialize)]
pub struct PathResult {
    pub name: String,
    /// Application RTT: `send` to `recv` returning, client and server on one CPU.
    pub rtt: Summary,
    /// RTT to the reply's kernel receive timestamp, when the kernel gave one.
    pub rtt_kernel_ts: Option<Summary>,
    pub pps_64: f64,
    pub pps_1500: f64,
    #[serde(skip)]
    pub rtt_samples: Vec<Duration>,
}

fn ns(n: &crate::topo::Netns) -> anyhow::Result<NetNs> {
    Ok(NetNs::open(Path::new(&n.path()))?)
}

pub fn measure_rtt(p: &Built, warmup: usize, n: usize) -> anyhow::Result<udp::RttSamples> {
    let server = ns(&p.server)?.run(|| UdpSocket::bind(("0.0.0.0", PORT)))??;
    let flags = udp::shared();
    let f = flags.clone();
    let echo = std::thread::spawn(move || udp::echo_server(&server, &f.stop));
    let dst = SocketAddr::new(p.server_ip, PORT);
    let samples = ns(&p.client)?.run(|| udp::rtt_client(dst, warmup, n))?;
    flags.stop.store(true, Ordering::Relaxed);
    echo.join().map_err(|_| anyhow::anyhow!("echo server panicked"))??;
    samples
}

/// Datagrams per second from `generator` in `p`'s client: accepted by the
/// client's kernel, and received by the sink in `p`'s server.
fn measure_pps(p: &Built, size: usize, secs: f64, generator: Generator) -> anyhow::Result<Pps> {
    let sink = ns(&p.server)?.run(|| UdpSocket::bind(("0.0.0.0", PORT + 1)))??;
    let flags = udp::shared();
    let f = flags.clone();
    let rx = std::thread::spawn(move || udp::sink(&sink, &f.stop, &f.count));
    let dst = SocketAddr::new(p.server_ip, PORT + 1);
    let duration = Duration::from_secs_f64(secs);
    // Prime ARP/ND so the first batch is not dropped at the neighbour layer.
    ns(&p.client)?.run(|| generator.blast(dst, size, Duration::from_millis(20)))??;
    std::thread::sleep(Duration::from_millis(100));
    let before = flags.count.load(Ordering::Relaxed);
    let sent = ns(&p.client)?.run(|| generator.blast(dst, size, duration))??;
    // Let in-flight packets land before the count is read.
    std::thread::sleep(Duration::from_millis(100));
    let got = flags.count.load(Ordering::Relaxed) - before;
    flags.stop.store(true, Ordering::Relaxed);
    rx.join().map_err(|_| anyhow::anyhow!("sink panicked"))??;
    Ok(Pps {
        sent: sent.datagrams as f64 / secs,
        received: got as f64 / secs,
        cpu_ns_per_sent: sent.cpu.as_nanos() as f64 / sent.datagrams.max(1) as f64,
    })
}

pub fn measure(
    p: &Built,
    samples: usize,
    secs: f64,
    generator: Generator,
) -> anyhow::Result<PathResult> {
    eprintln!("bench datapath: {}: RTT ({samples} samples)...", p.name);
    let rtt = measure_rtt(p, samples / 10, samples)?;
    eprintln!("bench datapath: {}: packet rates ({secs} s each, {})...", p.name, generator.name());
    Ok(PathResult {
        name: p.name.clone(),
        rtt: summarize(&rtt.app),
        rtt_kernel_ts: (rtt.kernel.len() == rtt.app.len()).then(|| summarize(&rtt.kernel)),
        pps_64: measure_pps(p, 64, secs, generator)?.received,
        pps_1500: measure_pps(p, 1500, secs, generator)?.received,
        rtt_samples: rtt.app,
    })
}

type Builder<'a> = (PathKind, Box<dyn Fn() -> anyhow::Result<Built> + 'a>);

/// Names of the fast-path rows (`report` computes ratios between them).
pub mod rows {
    pub const FAST: &str = "murmuration fast path";
    pub const NO_COUNTERS: &str = "murmuration fast path, counters off";
    pub const IDLE_TAGGER: &str = "murmuration fast path, idle wire tagger";
    pub const VLAN: &str = "murmuration fast path, VLAN 100";
    pub const VLAN_IN_PACKET: &str = "murmuration fast path, VLAN 100, tags in packet";
    pub const XDP: &str = "murmuration fast path, VLAN 100, tags in packet, XDP";
    pub const POD_TO_POD: &str = "murmuration fast path, pod to pod";
}

fn builders(plugin: &Path) -> Vec<Builder<'_>> {
    use fastpath::Variant;
    let in_packet = Variant { vlan: 100, tags_in_packet: true, ..Variant::default() };
    let fast: [(PathKind, &str, &str, Variant); 7] = [
        (PathKind::Fast, "dpf", rows::FAST, Variant::default()),
        (
            PathKind::NoCounters,
            "dpc",
            rows::NO_COUNTERS,
            Variant { no_counters: true, ..Variant::default() },
        ),
        (
            PathKind::IdleTagger,
            "dpg",
            rows::IDLE_TAGGER,
            Variant { idle_tagger: true, ..Variant::default() },
        ),
        (PathKind::Vlan, "dpt", rows::VLAN, Variant { vlan: 100, ..Variant::default() }),
        (PathKind::VlanInPacket, "dpk", rows::VLAN_IN_PACKET, in_packet),
        (PathKind::Xdp, "dpx", rows::XDP, Variant { xdp: true, ..in_packet }),
        (
            PathKind::PodToPod,
            "dpp",
            rows::POD_TO_POD,
            Variant { pod_to_pod: true, ..Variant::default() },
        ),
    ];
    let mut out: Vec<Builder<'_>> = vec![
        (PathKind::Floor, Box::new(|| paths::bare_veth("dpv"))),
        (PathKind::Bridge, Box::new(|| paths::bridge("dpb"))),
        (PathKind::Iptables, Box::new(|| paths::iptables("dpi", 1000))),
    ];
    for (kind, tag, name, v) in fast {
        out.push((kind, Box::new(move || fastpath::build(tag, name, plugin, v))));
    }
    out
}

/// What one run measured; [`crate::report`] writes it (the report reads
/// this module's types, so this module does not call it).
pub enum Measured {
    /// `--generators-only`: the traffic generators compared, nothing else.
    Generators(generator::Choice),
    Paths {
        results: Vec<PathResult>,
        choice: Option<generator::Choice>,
        failures: Vec<String>,
    },
}

pub fn run(args: &Args, quick: bool) -> anyhow::Result<Measured> {
    let samples = args.samples.unwrap_or(if quick { 2000 } else { 20000 });
    let secs = args.seconds.unwrap_or(if quick { 0.5 } else { 3.0 });
    if args.generators_only {
        return Ok(Measured::Generators(generator::choose(secs, GENERATOR_ROUNDS)?));
    }
    let plugin = crate::plugin_path(args.plugin.as_deref())?;
    let mut failures = Vec::new();
    let choice = generator::choose(secs, GENERATOR_ROUNDS)
        .inspect_err(|e| failures.push(format!("generator comparison (sendmmsg used): {e:#}")))
        .ok();
    let generator = choice.as_ref().map_or(Generator::Sendmmsg, |c| c.used);
    let mut results = Vec::new();
    let wanted = |kind: &PathKind| args.paths.is_empty() || args.paths.contains(kind);
    for (_, build) in builders(&plugin).into_iter().filter(|(kind, _)| wanted(kind)) {
        match build().and_then(|p| measure(&p, samples, secs, generator)) {
            Ok(r) => results.push(r),
            Err(e) => {
                eprintln!("bench datapath: path failed: {e:#}");
                failures.push(format!("{e:#}"));
            }
        }
    }
    Ok(Measured::Paths { results, choice, failures })
}

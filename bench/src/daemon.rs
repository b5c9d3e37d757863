//! `daemon`: what a Prometheus scrape of `murmurationd` costs, and how much
//! memory the daemon holds, on an idle node and on a node with many fast-path
//! attachments (256 by default).
//!
//! The node is a throwaway namespace with two veth uplinks, a private bpffs and a
//! state directory of its own; every attachment is a real `murmuration` ADD
//! (veth + eBPF fast path, in-process static IPAM, a pod name in `CNI_ARGS`)
//! into its own pod namespace, so the daemon reads real records and real
//! per-attachment eBPF maps. Scrapes are plain HTTP GETs of `/metrics` over
//! the node's loopback, timed from connect to the last byte, one at a time.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use murmuration_core::netns::NetNs;
use murmuration_testkit::http;
use serde::Serialize;

use crate::cni::invoke_with_args;
use crate::stats::{Summary, summarize};
use crate::topo::{Netns, ip, ip_in, mount_bpffs, unmount_bpffs};

/// The daemon's listener inside the node namespace (each benchmark's node
/// is a namespace of its own, so they may share it).
pub(crate) const LISTEN: &str = "127.0.0.1:9479";
const NETWORK: &str = "bench-daemon";
/// Uplinks the attachments are spread over: the fast path numbers the
/// attachments of one uplink with 8-bit ids (at most 255 per uplink).
const UPLINKS: usize = 2;
/// The targets for a node with 256 attachments.
const SCRAPE_TARGET_MS: f64 = 10.0;
const RSS_TARGET_MB: f64 = 30.0;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Fast-path attachments on the loaded node.
    #[arg(long, default_value_t = 256)]
    attachments: usize,
    /// Timed scrapes per state (default 200, 30 with --quick).
    #[arg(long)]
    scrapes: Option<usize>,
    /// The murmuration plugin binary (default: next to this binary).
    #[arg(long)]
    plugin: Option<PathBuf>,
    /// The daemon binary (default: `murmurationd` next to this binary).
    #[arg(long)]
    daemon: Option<PathBuf>,
}

/// One measured state of the node.
#[derive(Debug, Serialize)]
struct Sample {
    attachments: usize,
    /// `/metrics` as Prometheus asks for it (OpenMetrics).
    scrape: Summary,
    /// `/metrics` without `Accept` (the 0.0.4 text format).
    scrape_text004: Summary,
    status: Summary,
    exposition_bytes: usize,
    series: usize,
    rss_mb: f64,
    peak_rss_mb: f64,
}

pub fn run(args: &Args, quick: bool, out: &Path) -> anyhow::Result<()> {
    let n = args.scrapes.unwrap_or(if quick { 30 } else { 200 });
    let plugin = crate::plugin_path(args.plugin.as_deref())?;
    let daemon_bin = crate::binary_path(args.daemon.as_deref(), "murmurationd")?;
    let node = Node::create()?;
    let mut daemon = Daemon::start(&daemon_bin, &node)?;
    let ns = NetNs::open(Path::new(&node.netns.path()))?;
    let mut samples = vec![measure(&ns, &daemon, 0, n)?];
    // The plugin runs in its caller's namespace, as under a runtime on the node.
    let pods = ns.run(|| attach_all(&plugin, &node, args.attachments))??;
    let loaded =
        wait_for_inventory(&ns, pods.len()).and_then(|()| measure(&ns, &daemon, pods.len(), n));
    let burst = ns
        .run(|| burst(BURST))
        .map_err(anyhow::Error::from)
        .and_then(|b| Ok((b?, rss_mb(daemon.pid())?)));
    daemon.stop();
    ns.run(|| detach_all(&plugin, &node, &pods))?;
    samples.push(loaded.with_context(|| format!("daemon log:\n{}", daemon.log()))?);
    let ((served, refused), (rss_mb, peak_rss_mb)) = burst?;
    let burst = Burst { connections: BURST, served, refused, rss_mb, peak_rss_mb };
    report(&samples, &burst, out)
}

/// The node: namespace, uplink, bpffs and state directory; removed on drop.
struct Node {
    netns: Netns,
    _wire: Netns,
    dir: PathBuf,
    bpffs: PathBuf,
}

impl Node {
    fn create() -> anyhow::Result<Self> {
        let netns = Netns::create("dnode")?;
        let wire = Netns::create("dwire")?;
        ip_in(&netns.name, &["link", "set", "lo", "up"])?;
        for u in 0..UPLINKS {
            let (up, wr) = (format!("up{u}"), format!("wr{u}"));
            ip(&["-n", &netns.name, "link", "add", &up, "type", "veth", "peer", "name", &wr])?;
            ip(&["-n", &netns.name, "link", "set", &wr, "netns", &wire.name])?;
            ip_in(&netns.name, &["link", "set", &up, "up"])?;
            ip_in(&wire.name, &["link", "set", &wr, "up"])?;
        }
        let dir = std::env::temp_dir().join(format!("mmb-daemon-{}", std::process::id()));
        let bpffs = dir.join("bpffs");
        mount_bpffs(&bpffs)?;
        Ok(Self { netns, _wire: wire, dir, bpffs })
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// The network config of pod `i`: fast path on uplink `i % UPLINKS`, 16
    /// pods per VLAN (the fast path's flood-group size), its own address.
    fn config(&self, i: usize) -> String {
        serde_json::json!({
            "cniVersion": "1.1.0", "name": NETWORK, "type": "murmuration",
            "mode": "veth", "master": format!("up{}", i % UPLINKS), "vlan": 100 + i / UPLINKS / 16,
            "bpfPinRoot": self.bpffs.join("murmuration"),
            "dataDir": self.data_dir(), "ipamInProcess": true,
            "ipam": {"type": "static", "addresses": [
                {"address": format!("10.96.{}.{}/16", i / 250, i % 250 + 2)}]}
        })
        .to_string()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        unmount_bpffs(&self.bpffs);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A long-running program (`murmurationd`, `ptp4l`) in a namespace; SIGTERM
/// by PID on stop or drop.
pub(crate) struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(bin: &Path, node: &Node) -> anyhow::Result<Self> {
        let cfg = node.dir.join("murmurationd.toml");
        let text = format!(
            "[log]\nlevel = \"info\"\n[http]\nlisten = \"{LISTEN}\"\n[state]\n\
             data_dir = \"{}\"\ncni_path = [\"{}\"]\n",
            node.data_dir().display(),
            crate::cni::GO_PLUGINS
        );
        std::fs::write(&cfg, text)?;
        let cfg = cfg.display().to_string();
        Self::spawn(&node.netns.name, bin, &["--config", &cfg], node.dir.join("murmurationd.log"))
    }

    /// `bin args` in namespace `netns`, its output to `log`.
    pub(crate) fn spawn(
        netns: &str,
        bin: &Path,
        args: &[&str],
        log: PathBuf,
    ) -> anyhow::Result<Self> {
        let out = std::fs::File::create(&log)?;
        let child = Command::new("ip")
            .args(["netns", "exec", netns])
            .arg(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(Self { child, log })
    }

    /// `ip netns exec` execs the daemon, so the child's PID is the daemon's.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn stop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.stop();
        }
    }
}

/// The `Accept` header Prometheus sends with a scrape.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,\
     application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// One HTTP/1.0 GET on the node's loopback with `accept` (none: what `curl`
/// and `promtool` send): time to last byte, body; an error unless 200.
pub(crate) fn get_as(path: &str, accept: Option<&str>) -> anyhow::Result<(Duration, String)> {
    let start = Instant::now();
    let (status, body) = match accept {
        Some(accept) => http::http_get_accept(LISTEN, path, accept)?,
        None => http::http_get(LISTEN, path)?,
    };
    let took = start.elapsed();
    if status != 200 {
        bail!("GET {path}: status {status}");
    }
    Ok((took, body))
}

/// A GET as Prometheus sends it.
fn get(path: &str) -> anyhow::Result<(Duration, String)> {
    get_as(path, Some(PROMETHEUS_ACCEPT))
}

/// Polls `GET path` until `ready` accepts the body (the daemon starting, its
/// inventory catching up), for at most a minute.
pub(crate) fn poll(ns: &NetNs, path: &str, ready: impl Fn(&str) -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let last = ns.run(|| get(path))?;
        if last.as_ref().is_ok_and(|(_, body)| ready(body)) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("GET {path} not ready after 60 s: {:?}", last.map(|(_, b)| b.len()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_for_inventory(ns: &NetNs, attachments: usize) -> anyhow::Result<()> {
    poll(ns, "/status", |body| {
        serde_json::from_str::<serde_json::Value>(body).ok().is_some_and(|v| {
            v["inventory"]["attachments"].as_array().is_some_and(|a| a.len() == attachments)
        })
    })
}

/// Memory of `pid` from `/proc`: (VmRSS, VmHWM) in MB.
pub(crate) fn rss_mb(pid: u32) -> anyhow::Result<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = |key: &str| -> anyhow::Result<f64> {
        let line = status.lines().find(|l| l.starts_with(key)).context("no such field")?;
        let v = line.split_whitespace().nth(1).context("no value")?;
        Ok(v.parse::<f64>()? / 1024.0)
    };
    Ok((kb("VmRSS:")?, kb("VmHWM:")?))
}

/// `n` timed GETs (after 5 untimed) of `path` with `accept`; the last body.
fn timed(
    ns: &NetNs,
    path: &str,
    accept: Option<&str>,
    n: usize,
) -> anyhow::Result<(Summary, String)> {
    ns.run(|| {
        let mut times = Vec::with_capacity(n);
        let mut body = String::new();
        for i in 0..n + 5 {
            let (took, b) = get_as(path, accept)?;
            if i >= 5 {
                times.push(took);
            }
            body = b;
        }
        Ok((summarize(&times), body))
    })?
}

/// Scrapes as Prometheus (OpenMetrics) and as `curl` (text 0.0.4), and
/// `/status`; memory after them.
fn measure(ns: &NetNs, daemon: &Daemon, attachments: usize, n: usize) -> anyhow::Result<Sample> {
    poll(ns, "/metrics", |_| true)?;
    eprintln!("bench daemon: {n} scrapes of each kind with {attachments} attachments...");
    let (scrape, exposition) = timed(ns, "/metrics", Some(PROMETHEUS_ACCEPT), n)?;
    let (scrape_text004, _) = timed(ns, "/metrics", None, n)?;
    let (status, _) = timed(ns, "/status", None, n)?;
    let (rss_mb, peak_rss_mb) = rss_mb(daemon.pid())?;
    let series = exposition.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).count();
    Ok(Sample {
        attachments,
        scrape,
        scrape_text004,
        status,
        exposition_bytes: exposition.len(),
        series,
        rss_mb,
        peak_rss_mb,
    })
}

fn cni_args(i: usize) -> String {
    format!("K8S_POD_NAMESPACE=bench;K8S_POD_NAME=pod-{i};K8S_POD_INFRA_CONTAINER_ID={}", cid(i))
}

/// ADDs `count` pods; on failure DELs the ones already attached.
fn attach_all(plugin: &Path, node: &Node, count: usize) -> anyhow::Result<Vec<Netns>> {
    let mut pods = Vec::with_capacity(count);
    for i in 0..count {
        if i % 64 == 0 {
            eprintln!("bench daemon: attaching pods {i}..{}", (i + 64).min(count));
        }
        let added = Netns::create(&format!("dpod{i}")).and_then(|pod| {
            invoke_with_args(plugin, "ADD", &node.config(i), &pod.path(), &cid(i), &cni_args(i))?;
            Ok(pod)
        });
        match added {
            Ok(pod) => pods.push(pod),
            Err(e) => {
                detach_all(plugin, node, &pods);
                return Err(e.context(format!("attaching pod {i}")));
            }
        }
    }
    Ok(pods)
}

fn cid(i: usize) -> String {
    format!("ctr-{i}")
}

fn detach_all(plugin: &Path, node: &Node, pods: &[Netns]) {
    eprintln!("bench daemon: detaching {} pods...", pods.len());
    for (i, pod) in pods.iter().enumerate() {
        let del = invoke_with_args(plugin, "DEL", &node.config(i), &pod.path(), &cid(i), "");
        if let Err(e) = del {
            eprintln!("bench daemon: DEL of pod {i}: {e:#}");
        }
    }
}

/// Connections opened at once against the loaded daemon.
const BURST: usize = 200;

/// `BURST` clients scraping at once: how many got an answer, how many the
/// connection cap turned away, and the daemon's memory after.
#[derive(Debug, Serialize)]
struct Burst {
    connections: usize,
    served: usize,
    refused: usize,
    rss_mb: f64,
    peak_rss_mb: f64,
}

/// `n` clients connect at once, then each sends a Prometheus scrape:
/// (answered, refused).
fn burst(n: usize) -> anyhow::Result<(usize, usize)> {
    let streams: Vec<TcpStream> =
        (0..n).map(|_| TcpStream::connect(LISTEN)).collect::<Result<_, _>>()?;
    let handles: Vec<_> = streams
        .into_iter()
        .map(|mut s| {
            std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
                let req = format!("GET /metrics HTTP/1.0\r\nAccept: {PROMETHEUS_ACCEPT}\r\n\r\n");
                s.write_all(req.as_bytes()).ok()?;
                let mut buf = Vec::new();
                s.read_to_end(&mut buf).ok()?;
                buf.starts_with(b"HTTP/1.0 200").then_some(())
            })
        })
        .collect();
    let served = handles.into_iter().filter_map(|h| h.join().ok().flatten()).count();
    Ok((served, n - served))
}

fn report(samples: &[Sample], burst: &Burst, out: &Path) -> anyhow::Result<()> {
    let mut md = String::from(
        "| attachments | scrape p50 | scrape p90 | scrape p99 | 0.0.4 text p50 | /status p50 | exposition | series | RSS | peak RSS |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for s in samples {
        md += &format!(
            "| {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.0} KiB | {} | {:.1} MB | {:.1} MB |\n",
            s.attachments,
            s.scrape.p50_us / 1000.0,
            s.scrape.p90_us / 1000.0,
            s.scrape.p99_us / 1000.0,
            s.scrape_text004.p50_us / 1000.0,
            s.status.p50_us / 1000.0,
            s.exposition_bytes as f64 / 1024.0,
            s.series,
            s.rss_mb,
            s.peak_rss_mb
        );
    }
    if let Some(loaded) = samples.last() {
        md += &format!(
            "\nWith {} attachments: scrape p50 {:.2} ms (target < {SCRAPE_TARGET_MS} ms), \
             peak RSS {:.1} MB (target < {RSS_TARGET_MB} MB).\n",
            loaded.attachments,
            loaded.scrape.p50_us / 1000.0,
            loaded.peak_rss_mb
        );
    }
    md += &format!(
        "\n{} clients scraping at once: {} answered, {} closed by the connection cap; \
         RSS after {:.1} MB, peak {:.1} MB.\n",
        burst.connections, burst.served, burst.refused, burst.rss_mb, burst.peak_rss_mb
    );
    println!("{md}");
    std::fs::write(out.join("daemon.md"), &md)?;
    let json = serde_json::json!({
        "benchmark": "daemon", "machine": crate::report::machine(), "samples": samples,
        "burst": burst,
        "targets": {"scrape_p50_ms": SCRAPE_TARGET_MS, "rss_mb": RSS_TARGET_MB},
    });
    std::fs::write(out.join("daemon.json"), serde_json::to_vec_pretty(&json)?)?;
    let bars: Vec<(String, f64)> = samples
        .iter()
        .map(|s| (format!("{} attachments", s.attachments), s.scrape.p50_us / 1000.0))
        .collect();
    crate::plot::bars(&out.join("daemon-scrape-p50.svg"), "murmurationd scrape, p50", "ms", &bars)?;
    eprintln!("wrote {}/daemon.{{md,json}}", out.display());
    Ok(())
}

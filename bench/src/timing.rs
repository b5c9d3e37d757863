//! `timing`: the PTP timing service's performance targets, on real ptp4l.
//!
//! A ptp4l grandmaster (clock class 6, software timestamping) in a namespace
//! of its own and a free-running ptp4l client in the node namespace, joined
//! by a veth pair; a release `murmurationd` in the node namespace polls the
//! client and serves the O-RAN O-Cloud Notification API on its `[http]`
//! listener; 100 subscriptions of lock-state point at a local HTTP sink in
//! the node namespace. Measured:
//!
//! - CurrentState of lock-state over sequential GETs (1000; 200 with
//!   `--quick`), each on a new connection, from connect to the last byte,
//!   against two baselines in the same run on the same listener, taken in
//!   turn with it: the API's `health` (same router, a constant body) and
//!   `/healthz`;
//! - state change -> consumer: the master stops, and for HOLDOVER and
//!   FREERUN at every subscriber, the time from the daemon's detection (the
//!   event's `time`) to the sink's receipt (detection itself adds up to
//!   `poll_seconds`);
//! - the daemon's RSS before and after the subscriptions.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use murmuration_core::netns::NetNs;
use serde::Serialize;

use crate::daemon::{Daemon, LISTEN, get_as, poll, rss_mb};
use crate::stats::{Summary, ms, ms_header, ms_row, summarize};
use crate::topo::{Netns, ip, ip_in};

const V2: &str = "/api/ocloudNotifications/v2";
const LOCK: &str = "/cluster/node/bench/sync/ptp-status/lock-state";
/// The issue's targets.
const CHANGE_P99_TARGET_MS: f64 = 100.0;
const CURRENT_P99_TARGET_MS: f64 = 2.0;
/// The daemon's memory budget: the `daemon` benchmark's RSS target, and
/// at most 40 KiB per subscription (4 MB for 100).
const RSS_TARGET_MB: f64 = 30.0;
const RSS_PER_SUBSCRIPTION_KIB: f64 = 40.0;
const POLL_SECONDS: f64 = 0.2;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Subscriptions of lock-state, each with its own sink path.
    #[arg(long, default_value_t = 100)]
    subscriptions: usize,
    /// Sequential CurrentState GETs (and as many of each baseline);
    /// default 1000, 200 with --quick.
    #[arg(long)]
    gets: Option<usize>,
    /// The daemon binary (default: `murmurationd` next to this binary).
    #[arg(long)]
    daemon: Option<PathBuf>,
    /// ptp4l (default: on PATH; Debian's linuxptp).
    #[arg(long, default_value = "ptp4l")]
    ptp4l: PathBuf,
}

#[derive(Debug, Serialize)]
struct Results {
    subscriptions: usize,
    current_state: Summary,
    /// `GET .../v2/health`: the same listener and router, a constant body.
    api_health: Summary,
    /// `GET /healthz`: the daemon's own probe on the same listener.
    healthz: Summary,
    /// HOLDOVER and FREERUN at every subscriber: event `time` -> receipt.
    change_to_consumer: Summary,
    deliveries: usize,
    rss_before_mb: f64,
    rss_after_mb: f64,
    peak_rss_mb: f64,
}

pub fn run(args: &Args, quick: bool, out: &Path) -> anyhow::Result<()> {
    let gets = args.gets.unwrap_or(if quick { 200 } else { 1000 });
    let daemon_bin = crate::binary_path(args.daemon.as_deref(), "murmurationd")?;
    let node = Node::create()?;
    let mut gm = node.ptp4l(&args.ptp4l, "gm", "priority1 10\nmasterOnly 1\nclockClass 6")?;
    let _client = node.ptp4l(&args.ptp4l, "client", "slaveOnly 1\nfree_running 1")?;
    let daemon = Daemon::spawn(
        &node.netns.name,
        &daemon_bin,
        &["--config", &node.daemon_config()?],
        node.dir.join("murmurationd.log"),
    )?;
    let ns = NetNs::open(Path::new(&node.netns.path()))?;
    let results = measure(&ns, &daemon, &mut gm, args.subscriptions, gets)
        .with_context(|| format!("daemon log:\n{}", daemon.log()))?;
    report(&results, out)
}

fn measure(
    ns: &NetNs,
    daemon: &Daemon,
    gm: &mut Daemon,
    subscriptions: usize,
    gets: usize,
) -> anyhow::Result<Results> {
    let current = format!("{V2}{LOCK}/CurrentState");
    eprintln!("bench timing: waiting for lock-state LOCKED...");
    poll(ns, &current, |body| value_of(body).as_deref() == Some("LOCKED"))?;
    let (rss_before_mb, _) = rss_mb(daemon.pid())?;
    let sink = Sink::start(ns)?;
    eprintln!("bench timing: {subscriptions} subscriptions...");
    for i in 0..subscriptions {
        ns.run(|| subscribe(&format!("http://{}/c{i}", sink.addr)))??;
    }
    sink.drain(subscriptions)?;
    let (rss_after_mb, _) = rss_mb(daemon.pid())?;
    eprintln!("bench timing: {gets} GETs each of CurrentState and the baselines...");
    let health = format!("{V2}/health");
    let [current_state, api_health, healthz] =
        round_robin(ns, [current.as_str(), &health, "/healthz"], gets)?;
    eprintln!("bench timing: stopping the grandmaster; HOLDOVER and FREERUN...");
    gm.stop();
    let latencies = sink.changes(2 * subscriptions)?;
    let (_, peak_rss_mb) = rss_mb(daemon.pid())?;
    Ok(Results {
        subscriptions,
        current_state,
        api_health,
        healthz,
        change_to_consumer: summarize(&latencies),
        deliveries: latencies.len(),
        rss_before_mb,
        rss_after_mb,
        peak_rss_mb,
    })
}

/// `n` timed GETs of each of `paths` (after 5 untimed rounds), taken in
/// turn, so that whatever else the machine does weighs on all of them alike.
fn round_robin<const N: usize>(
    ns: &NetNs,
    paths: [&str; N],
    n: usize,
) -> anyhow::Result<[Summary; N]> {
    ns.run(|| {
        let mut times: [Vec<Duration>; N] = std::array::from_fn(|_| Vec::with_capacity(n));
        for round in 0..n + 5 {
            for (path, t) in paths.iter().zip(&mut times) {
                let (took, _) = get_as(path, None)?;
                if round >= 5 {
                    t.push(took);
                }
            }
        }
        Ok(times.map(|t| summarize(&t)))
    })?
}

/// The first value of a CloudEvent's data, as a string.
fn value_of(event: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(event).ok()?;
    v["data"]["values"][0]["value"].as_str().map(str::to_owned)
}

/// One subscription of lock-state for `endpoint`: an HTTP/1.0 POST to the
/// daemon, 201 expected.
fn subscribe(endpoint: &str) -> anyhow::Result<()> {
    let body = serde_json::json!({"EndpointUri": endpoint, "ResourceAddress": LOCK}).to_string();
    let mut s = TcpStream::connect(LISTEN)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "POST {V2}/subscriptions HTTP/1.0\r\nHost: {LISTEN}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    if answer.split(' ').nth(1) != Some("201") {
        bail!("subscribing {endpoint}: {answer}");
    }
    Ok(())
}

/// The node namespace with lo up, the grandmaster's namespace and the veth
/// pair between them; files under a directory of its own; removed on drop.
struct Node {
    netns: Netns,
    gm: Netns,
    dir: PathBuf,
}

impl Node {
    fn create() -> anyhow::Result<Self> {
        let netns = Netns::create("tnode")?;
        let gm = Netns::create("tgm")?;
        ip_in(&netns.name, &["link", "set", "lo", "up"])?;
        let add = ["link", "add", "ptpc0", "type", "veth", "peer", "name", "ptpm0"];
        ip(&[&["-n", netns.name.as_str()][..], &add, &["netns", gm.name.as_str()]].concat())?;
        ip_in(&netns.name, &["addr", "add", "10.93.0.2/24", "dev", "ptpc0"])?;
        ip_in(&netns.name, &["link", "set", "ptpc0", "up"])?;
        ip_in(&gm.name, &["addr", "add", "10.93.0.1/24", "dev", "ptpm0"])?;
        ip_in(&gm.name, &["link", "set", "ptpm0", "up"])?;
        let dir = std::env::temp_dir().join(format!("mmb-timing-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Self { netns, gm, dir })
    }

    /// ptp4l `name` (`gm` in the grandmaster's namespace, else in the
    /// node's) with software timestamping, fast announce and sync intervals
    /// and `role`'s options.
    fn ptp4l(&self, bin: &Path, name: &str, role: &str) -> anyhow::Result<Daemon> {
        let (ns, ifname) = if name == "gm" { (&self.gm, "ptpm0") } else { (&self.netns, "ptpc0") };
        let cfg = self.dir.join(format!("{name}.cfg"));
        let text = format!(
            "[global]\n{role}\nuds_address {}\nlogAnnounceInterval -2\nlogSyncInterval -3\n\
             announceReceiptTimeout 3\n",
            self.dir.join(format!("{name}.sock")).display()
        );
        std::fs::write(&cfg, text)?;
        let cfg = cfg.display().to_string();
        let log = self.dir.join(format!("{name}.log"));
        Daemon::spawn(&ns.name, bin, &["-S", "-m", "-i", ifname, "-f", &cfg], log)
    }

    /// The daemon's config: the client's ptp4l polled every 0.2 s (its
    /// UNCALIBRATED counting as tracking: a free-running client never
    /// reaches SLAVE), notifications on `[http] listen`. Returns its path.
    fn daemon_config(&self) -> anyhow::Result<String> {
        let cfg = self.dir.join("murmurationd.toml");
        let text = format!(
            "[log]\nlevel = \"warn\"\n[http]\nlisten = \"{LISTEN}\"\n[state]\n\
             data_dir = \"{dir}/state\"\n[ptp_state]\nfile = \"{dir}/ptp-state.json\"\n\
             [ptp]\nenabled = true\nptp4l_socket = \"{dir}/client.sock\"\n\
             client_socket_dir = \"{dir}\"\npoll_seconds = {POLL_SECONDS}\n\
             offset_threshold_ns = 1000000\nholdover_seconds = 2\n\
             locked_port_states = [\"UNCALIBRATED\"]\n\
             [notifications]\nenabled = true\nnode_name = \"bench\"\n\
             store = \"{dir}/notify/subscriptions.json\"\nmax_subscriptions = 1024\n",
            dir = self.dir.display()
        );
        std::fs::write(&cfg, text)?;
        Ok(cfg.display().to_string())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A POST as the sink received it: (path, body, arrival).
type Received = (String, String, SystemTime);

/// The consumers: one listener in the node namespace answering 204 to each
/// POST, a thread per connection; every POST goes to a channel.
struct Sink {
    addr: String,
    rx: Receiver<Received>,
}

impl Sink {
    fn start(ns: &NetNs) -> anyhow::Result<Self> {
        let l = ns.run(|| TcpListener::bind("127.0.0.1:0"))??;
        let addr = l.local_addr()?.to_string();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let (Ok(s), tx) = (s, tx.clone()) else { continue };
                std::thread::spawn(move || {
                    if let Some(got) = answer(s) {
                        let _ = tx.send(got);
                    }
                });
            }
        });
        Ok(Self { addr, rx })
    }

    /// Waits for the `n` initial notifications.
    fn drain(&self, n: usize) -> anyhow::Result<()> {
        for i in 0..n {
            self.rx
                .recv_timeout(Duration::from_secs(20))
                .with_context(|| format!("{i} of {n} initial notifications arrived"))?;
        }
        Ok(())
    }

    /// Detection -> receipt of the first `n` HOLDOVER and FREERUN events,
    /// within a minute.
    fn changes(&self, n: usize) -> anyhow::Result<Vec<Duration>> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok((_, body, at)) = self.rx.recv_timeout(left) else {
                bail!("{} of {n} HOLDOVER/FREERUN deliveries within 60 s", out.len());
            };
            let ev: serde_json::Value = serde_json::from_str(&body)?;
            let value = ev["data"]["values"][0]["value"].as_str().unwrap_or_default();
            if value == "HOLDOVER" || value == "FREERUN" {
                let time = ev["time"].as_str().context("an event without time")?;
                out.push(since(time, at)?);
            }
        }
        Ok(out)
    }
}

/// Reads one POST off `s` and answers 204: (path, body, arrival).
fn answer(mut s: TcpStream) -> Option<Received> {
    let mut r = BufReader::new(s.try_clone().ok()?);
    let mut request_line = String::new();
    r.read_line(&mut request_line).ok()?;
    let mut length = 0usize;
    for line in r.by_ref().lines() {
        let line = line.ok()?;
        if line.is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body).ok()?;
    let at = SystemTime::now();
    s.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n").ok()?;
    let path = request_line.split(' ').nth(1)?.to_owned();
    Some((path, String::from_utf8(body).ok()?, at))
}

/// `at` minus the event time `time` (`YYYY-MM-DDTHH:MM:SS.fffZ`, UTC). Both
/// are moments apart, so the time of day is enough: the difference is taken
/// modulo a day.
fn since(time: &str, at: SystemTime) -> anyhow::Result<Duration> {
    const DAY: f64 = 86_400.0;
    let clock = time
        .split_once('T')
        .and_then(|(_, t)| t.strip_suffix('Z'))
        .with_context(|| format!("not an RFC 3339 UTC time: {time}"))?;
    let mut parts = clock.split(':');
    let mut field =
        || -> anyhow::Result<f64> { Ok(parts.next().context("too few fields")?.parse::<f64>()?) };
    let of_day = field()? * 3600.0 + field()? * 60.0 + field()?;
    let now = at.duration_since(UNIX_EPOCH)?.as_secs_f64() % DAY;
    Ok(Duration::from_secs_f64((now - of_day).rem_euclid(DAY)))
}

fn report(r: &Results, out: &Path) -> anyhow::Result<()> {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    let mut md = format!(
        "Load average at the end (1, 5, 15 min): {load}. The baselines are taken in turn \
         with CurrentState, so what else runs on the machine weighs on all three alike.\n\n"
    );
    md += &ms_header("request");
    md += &ms_row("lock-state CurrentState", &r.current_state);
    md += &ms_row("baseline: v2 health", &r.api_health);
    md += &ms_row("baseline: /healthz", &r.healthz);
    let (c, h) = (&r.current_state, &r.api_health);
    md += &format!(
        "\nCurrentState / v2 health: p50 {:.2}x, p99 {:.2}x. CurrentState p99 {:.3} ms \
         (target < {CURRENT_P99_TARGET_MS} ms) with {} subscribers.\n",
        c.p50_us / h.p50_us,
        c.p99_us / h.p99_us,
        ms(c.p99_us),
        r.subscriptions
    );
    let d = &r.change_to_consumer;
    md += &format!(
        "\nState change -> consumer ({} deliveries of HOLDOVER and FREERUN to {} subscribers, \
         from the daemon's detection to the sink's receipt): p50 {:.2} ms, p99 {:.2} ms, \
         p99.9 {:.2} ms (target p99 < {CHANGE_P99_TARGET_MS} ms); detection adds up to \
         poll_seconds ({POLL_SECONDS} s here).\n",
        r.deliveries,
        r.subscriptions,
        ms(d.p50_us),
        ms(d.p99_us),
        ms(d.p999_us),
    );
    let budget = RSS_TARGET_MB
        .min(r.rss_before_mb + RSS_PER_SUBSCRIPTION_KIB * r.subscriptions as f64 / 1024.0);
    md += &format!(
        "\nRSS {:.1} MB before the subscriptions, {:.1} MB with {} (+{:.0} KiB; budget {budget:.1} MB: \
         < {RSS_TARGET_MB} MB and < {RSS_PER_SUBSCRIPTION_KIB} KiB per subscription); peak {:.1} MB.\n",
        r.rss_before_mb,
        r.rss_after_mb,
        r.subscriptions,
        (r.rss_after_mb - r.rss_before_mb) * 1024.0,
        r.peak_rss_mb
    );
    println!("{md}");
    std::fs::write(out.join("timing.md"), &md)?;
    let json = serde_json::json!({
        "benchmark": "timing", "machine": crate::report::machine(), "loadavg": load, "results": r,
        "ratios": {"current_state_over_api_health_p50": c.p50_us / h.p50_us,
                   "current_state_over_api_health_p99": c.p99_us / h.p99_us},
        "targets": {"change_to_consumer_p99_ms": CHANGE_P99_TARGET_MS,
                    "current_state_p99_ms": CURRENT_P99_TARGET_MS,
                    "rss_mb": RSS_TARGET_MB, "rss_per_subscription_kib": RSS_PER_SUBSCRIPTION_KIB},
    });
    std::fs::write(out.join("timing.json"), serde_json::to_vec_pretty(&json)?)?;
    eprintln!("wrote {}/timing.{{md,json}}", out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_the_time_of_day_and_wraps_at_midnight() {
        let at = UNIX_EPOCH + Duration::from_millis(86_400_000 * 20_000 + 1_250);
        let d = since("2024-10-04T00:00:01.000000000Z", at).expect("parses");
        assert_eq!(d.as_millis(), 250);
        let d = since("2024-10-03T23:59:59.500000000Z", at).expect("parses");
        assert_eq!(d.as_millis(), 1750);
        assert!(since("yesterday", at).is_err());
    }

    #[test]
    fn value_of_reads_the_first_value() {
        let ev = r#"{"data":{"values":[{"value":"LOCKED"},{"value":12.0}]}}"#;
        assert_eq!(value_of(ev).as_deref(), Some("LOCKED"));
        assert_eq!(value_of("{}"), None);
    }
}

//! The O-RAN O-Cloud Notification API against real ptp4l (a master
//! announcing clock class 6, a free-running client the daemon polls):
//! API shapes, subscriptions (create, list, get, delete, duplicate, bound,
//! bad requests), persistence across a restart, CloudEvents pushed to a
//! sink this test runs in the node namespace, and a consumer that stops
//! answering while CurrentState keeps answering.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant, SystemTime};

use murmuration_testkit::audit::Usage;
use serde_json::{Value, json};

use crate::common::{Proc, World, wait_for};
use crate::ptp::{master, ptp4l};

const PORT: u16 = 9471;
const ADDR: &str = "127.0.0.1:9471";
const V2: &str = "/api/ocloudNotifications/v2";
const NODE: &str = "/cluster/node/n1";
const LOCK: &str = "/cluster/node/n1/sync/ptp-status/lock-state";

/// (method, path, body) over HTTP/1.0 from the node namespace: (status, body).
fn request(w: &World, method: &str, path: &str, body: &str) -> (u16, String) {
    w.node
        .run(|| -> std::io::Result<(u16, String)> {
            let mut s = TcpStream::connect(ADDR)?;
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            write!(
                s,
                "{method} {path} HTTP/1.0\r\nHost: {ADDR}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            )?;
            let mut buf = String::new();
            s.read_to_string(&mut buf)?;
            let (head, body) = buf.split_once("\r\n\r\n").unwrap_or((&buf, ""));
            let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
            Ok((status, body.to_owned()))
        })
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn subscribe(w: &World, endpoint: &str, address: &str) -> (u16, String) {
    let body = json!({"EndpointUri": endpoint, "ResourceAddress": address}).to_string();
    request(w, "POST", &format!("{V2}/subscriptions"), &body)
}

/// One POST read off `s`: (path, body).
fn read_post(s: &mut TcpStream) -> Option<(String, String)> {
    let mut r = BufReader::new(s.try_clone().ok()?);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let path = line.split(' ').nth(1)?.to_owned();
    let mut len = 0;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        if h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).ok()?;
    Some((path, String::from_utf8_lossy(&body).into_owned()))
}

/// An event as the sink received it: (path, event, when).
type Received = (String, Value, SystemTime);

/// A consumer in the node namespace: answers 204 to each POST (one thread
/// per connection) and hands (path, event, arrival) to the test; with
/// `answer_first_only` it answers one and then holds every later
/// connection open without a word.
fn sink(w: &World, answer_first_only: bool) -> (String, Receiver<Received>) {
    let l = w.node.run(|| TcpListener::bind("127.0.0.1:0")).expect("sink listener");
    let addr = l.local_addr().expect("addr").to_string();
    let (tx, rx): (Sender<Received>, _) = channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for (n, s) in l.incoming().enumerate() {
            let Ok(mut s) = s else { continue };
            if answer_first_only && n > 0 {
                held.push(s);
                continue;
            }
            let tx = tx.clone();
            std::thread::spawn(move || {
                let Some((path, body)) = read_post(&mut s) else { return };
                let at = SystemTime::now();
                let _ = s.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
                let _ = tx.send((path, serde_json::from_str(&body).unwrap_or(Value::Null), at));
            });
        }
    });
    (addr, rx)
}

/// The next event at the sink for `path`, within 20 s.
fn next_event(rx: &Receiver<Received>, path: &str) -> Value {
    loop {
        let (p, ev, _) = rx.recv_timeout(Duration::from_secs(20)).expect("an event at the sink");
        if p == path {
            return ev;
        }
    }
}

fn assert_event(ev: &Value, resource: &str, ty: &str, value: &str) {
    assert_eq!(ev["specversion"], "1.0", "{ev}");
    assert_eq!(ev["source"], resource, "{ev}");
    assert_eq!(ev["type"], ty, "{ev}");
    assert_eq!(ev["id"].as_str().map(str::len), Some(36), "a UUID: {ev}");
    assert!(ev["time"].as_str().is_some_and(|t| t.ends_with('Z') && t.contains('T')), "{ev}");
    assert_eq!(ev["data"]["version"], "1.0", "{ev}");
    let v = &ev["data"]["values"][0];
    assert_eq!(v["ResourceAddress"], format!("{NODE}{resource}"), "{ev}");
    assert_eq!(v["data_type"], "notification", "{ev}");
    assert_eq!(v["value_type"], "enumeration", "{ev}");
    assert_eq!(v["value"], value, "{ev}");
}

fn start_daemon(w: &World) -> Proc {
    start_daemon_bounded(w, 3)
}

fn start_daemon_bounded(w: &World, max_subscriptions: usize) -> Proc {
    let extra = format!(
        "[ptp]\nenabled = true\nptp4l_socket = \"{}\"\nclient_socket_dir = \"{}\"\n\
         poll_seconds = 0.2\noffset_threshold_ns = 1000000\nholdover_seconds = 2\n\
         locked_port_states = [\"UNCALIBRATED\"]\n[notifications]\nenabled = true\n\
         node_name = \"n1\"\nstore = \"{}\"\nmax_subscriptions = {max_subscriptions}\n\
         delivery_timeout_seconds = 1\ndelivery_attempts = 2\n",
        w.tmp.path().join("client.sock").display(),
        w.tmp.path().display(),
        w.tmp.path().join("notify/subscriptions.json").display(),
    );
    w.daemon(PORT, &extra)
}

fn current(w: &World, address: &str) -> (u16, String) {
    request(w, "GET", &format!("{V2}{address}/CurrentState"), "")
}

#[test]
#[ignore = "privileged: needs root, network namespaces and Debian's linuxptp (cargo xtask test)"]
fn oran_notification_api_subscriptions_persistence_and_push() {
    let w = World::new();
    let (_gm, mut gm) = master(&w);
    let _client = ptp4l(&w, &w.node, "client", "ptpc0", "slaveOnly 1\nfree_running 1");
    let mut daemon = start_daemon(&w);
    wait_for("lock-state LOCKED", Duration::from_secs(30), || {
        let (code, body) = current(&w, LOCK);
        (code == 200 && json_of(&body)["data"]["values"][0]["value"] == "LOCKED").then_some(())
    });

    // Shapes: health, publishers, CurrentState of each resource.
    assert_eq!(request(&w, "GET", &format!("{V2}/health"), ""), (200, "OK".to_owned()));
    let (code, body) = request(&w, "GET", &format!("{V2}/publishers"), "");
    assert_eq!(code, 200, "{body}");
    let addrs: Vec<Value> = json_of(&body)
        .as_array()
        .expect("array")
        .iter()
        .map(|p| p["ResourceAddress"].clone())
        .collect();
    assert_eq!(addrs.len(), 4, "{body}");
    assert!(addrs.contains(&json!(LOCK)), "{body}");
    let (code, body) = current(&w, LOCK);
    let ev = json_of(&body);
    assert_eq!(code, 200);
    assert_event(
        &ev,
        "/sync/ptp-status/lock-state",
        "event.sync.ptp-status.ptp-state-change",
        "LOCKED",
    );
    assert_eq!(ev["data"]["values"][1]["data_type"], "metric", "the offset: {ev}");
    let (_, body) = current(&w, &format!("{NODE}/sync/ptp-status/clock-class"));
    assert_eq!(json_of(&body)["data"]["values"][0]["value"], 6.0, "{body}");
    // No PHC is configured: the OS clock is FREERUN, and so is the node overall.
    let (_, body) = current(&w, &format!("{NODE}/sync/sync-status/os-clock-sync-state"));
    assert_eq!(json_of(&body)["data"]["values"][0]["value"], "FREERUN", "{body}");
    let (_, body) = current(&w, &format!("{NODE}/sync/sync-status/sync-state"));
    assert_event(
        &json_of(&body),
        "/sync/sync-status/sync-state",
        "event.sync.sync-status.synchronization-state-change",
        "FREERUN",
    );
    for absent in [
        format!("{NODE}/sync/gnss-status/gnss-sync-status"),
        format!("{NODE}/sync/ptp-status/bogus"),
        "/cluster/node/other/sync/ptp-status/lock-state".to_owned(),
    ] {
        assert_eq!(current(&w, &absent).0, 404, "{absent}");
    }

    // Bad requests change nothing.
    let (sink_addr, events) = sink(&w, false);
    let ep = |p: &str| format!("http://{sink_addr}/{p}");
    let subs = format!("{V2}/subscriptions");
    assert_eq!(request(&w, "POST", &subs, "not json").0, 400);
    assert_eq!(request(&w, "POST", &subs, &json!({"ResourceAddress": LOCK}).to_string()).0, 400);
    assert_eq!(subscribe(&w, "https://x/e", LOCK).0, 400, "only http");
    assert_eq!(
        subscribe(&w, &ep("a"), &format!("{NODE}/sync/gnss-status/gnss-sync-status")).0,
        404
    );
    assert_eq!(subscribe(&w, &ep("a"), "/cluster/node/other/sync").0, 404);
    let closed = w.node.run(|| TcpListener::bind("127.0.0.1:0")).expect("bind");
    let closed_ep = format!("http://{}/e", closed.local_addr().expect("addr"));
    drop(closed);
    assert_eq!(subscribe(&w, &closed_ep, LOCK).0, 400, "the initial notification fails");
    assert_eq!(request(&w, "GET", &subs, "").1, "[]", "nothing was stored");

    // Create: 201, the object, and the initial notification at the sink.
    let (code, body) = subscribe(&w, &ep("a"), LOCK);
    assert_eq!(code, 201, "{body}");
    let a = json_of(&body);
    let id = a["SubscriptionId"].as_str().expect("an id").to_owned();
    assert_eq!(a["EndpointUri"], ep("a"));
    assert_eq!(a["ResourceAddress"], LOCK);
    assert_eq!(a["UriLocation"], format!("http://{ADDR}{V2}/subscriptions/{id}"));
    let initial = next_event(&events, "/a");
    assert_event(
        &initial,
        "/sync/ptp-status/lock-state",
        "event.sync.ptp-status.ptp-state-change",
        "LOCKED",
    );
    assert_eq!(subscribe(&w, &ep("a"), LOCK).0, 409, "a duplicate");
    assert_eq!(subscribe(&w, &ep("a"), &format!("{NODE}/sync")).0, 409, "overlaps lock-state");
    assert_eq!(request(&w, "GET", &format!("{subs}/{id}"), "").0, 200);
    assert_eq!(request(&w, "GET", &format!("{subs}/no-such-id"), "").0, 404);

    // The bound (3): a dead consumer's subscription, one for everything, then no more.
    let (dead_addr, dead_events) = sink(&w, true);
    let dead = format!("http://{dead_addr}/dead");
    assert_eq!(subscribe(&w, &dead, LOCK).0, 201);
    next_event(&dead_events, "/dead");
    let (all_addr, all_events) = sink(&w, false);
    let all_ep = format!("http://{all_addr}/all");
    assert_eq!(subscribe(&w, &all_ep, &format!("{NODE}/sync")).0, 201);
    let mut initial: Vec<Value> =
        (0..4).map(|_| next_event(&all_events, "/all")["source"].clone()).collect();
    initial.sort_by_key(Value::to_string);
    assert_eq!(
        initial,
        [
            "/sync/ptp-status/clock-class",
            "/sync/ptp-status/lock-state",
            "/sync/sync-status/os-clock-sync-state",
            "/sync/sync-status/sync-state"
        ],
        "one initial event per resource"
    );
    let (code, body) = subscribe(&w, &ep("more"), LOCK);
    assert_eq!(code, 507, "past max_subscriptions: {body}");
    let listed = json_of(&request(&w, "GET", &subs, "").1);
    assert_eq!(listed.as_array().map(Vec::len), Some(3), "{listed}");

    // Persistence: a restarted daemon has the same subscriptions, in a 0600 file.
    daemon.stop();
    let store = w.tmp.path().join("notify/subscriptions.json");
    let mode = std::fs::metadata(&store).expect("the store").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{}", store.display());
    let _daemon = start_daemon(&w);
    assert_eq!(json_of(&request(&w, "GET", &subs, "").1), listed, "after a restart");

    // The master stops: HOLDOVER then FREERUN arrive in order; the dead
    // consumer holds its delivery open meanwhile, and CurrentState answers.
    // (The restarted daemon announced LOCKED once it knew it again.)
    wait_for("LOCKED after the restart", Duration::from_secs(30), || {
        let (code, body) = current(&w, LOCK);
        (code == 200 && json_of(&body)["data"]["values"][0]["value"] == "LOCKED").then_some(())
    });
    gm.stop();
    let holdover = loop {
        let ev = next_event(&events, "/a");
        if ev["data"]["values"][0]["value"] != "LOCKED" {
            break ev;
        }
    };
    assert_event(
        &holdover,
        "/sync/ptp-status/lock-state",
        "event.sync.ptp-status.ptp-state-change",
        "HOLDOVER",
    );
    let (code, body) = current(&w, LOCK);
    assert_eq!(code, 200, "CurrentState with a consumer not answering: {body}");
    let freerun = next_event(&events, "/a");
    assert_event(
        &freerun,
        "/sync/ptp-status/lock-state",
        "event.sync.ptp-status.ptp-state-change",
        "FREERUN",
    );
    assert_ne!(holdover["id"], freerun["id"]);
    let lock_changes: Vec<Value> = std::iter::repeat_with(|| next_event(&all_events, "/all"))
        .filter(|e| e["source"] == "/sync/ptp-status/lock-state")
        .map(|e| e["data"]["values"][0]["value"].clone())
        .skip_while(|v| v == "LOCKED")
        .take(2)
        .collect();
    assert_eq!(lock_changes, ["HOLDOVER", "FREERUN"], "the /sync subscriber too");

    // Delete: 204, then 404; the list is one shorter.
    assert_eq!(request(&w, "DELETE", &format!("{subs}/{id}"), "").0, 204);
    assert_eq!(request(&w, "DELETE", &format!("{subs}/{id}"), "").0, 404);
    assert_eq!(request(&w, "GET", &format!("{subs}/{id}"), "").0, 404);
    let left = json_of(&request(&w, "GET", &subs, "").1);
    assert_eq!(left.as_array().map(Vec::len), Some(2), "{left}");
}

/// `2026-01-01T00:00:00.123456789Z` (the daemon's `time` format) as a SystemTime.
fn parse_time(t: &str) -> SystemTime {
    let n = |a: usize, b: usize| t[a..b].parse::<i64>().expect("digits");
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let secs = days * 86_400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19);
    SystemTime::UNIX_EPOCH + Duration::new(secs as u64, n(20, 29) as u32)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
}

/// Figures, not a timed test: 100 subscribers; from the daemon's detection
/// of a change (the event's `time`) to each consumer's receipt (p50/p99
/// over HOLDOVER and FREERUN, 200 deliveries); CurrentState round trips
/// (1000, sequential, p50/p99); the daemon's RSS before and after.
#[test]
#[ignore = "privileged: needs root, network namespaces and Debian's linuxptp; prints figures"]
fn oran_notification_figures_with_100_subscribers() {
    let w = World::new();
    let (_gm, mut gm) = master(&w);
    let _client = ptp4l(&w, &w.node, "client", "ptpc0", "slaveOnly 1\nfree_running 1");
    let daemon = start_daemon_bounded(&w, 128);
    let pid = daemon.pid();
    wait_for("lock-state LOCKED", Duration::from_secs(30), || {
        let (code, body) = current(&w, LOCK);
        (code == 200 && json_of(&body)["data"]["values"][0]["value"] == "LOCKED").then_some(())
    });
    let rss_before = Usage::of(pid).expect("usage").rss_kib;
    let (addr, events) = sink(&w, false);
    for i in 0..100 {
        let (code, body) = subscribe(&w, &format!("http://{addr}/c{i}"), LOCK);
        assert_eq!(code, 201, "{body}");
    }
    while events.recv_timeout(Duration::from_millis(200)).is_ok() {}
    let rss_after = Usage::of(pid).expect("usage").rss_kib;

    let mut rtt = Vec::new();
    for _ in 0..1000 {
        let t = Instant::now();
        let (code, _) = current(&w, LOCK);
        rtt.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(code, 200);
    }

    gm.stop();
    let mut latency = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while latency.len() < 200 && Instant::now() < deadline {
        let Ok((_, ev, at)) = events.recv_timeout(Duration::from_secs(10)) else { break };
        let value = &ev["data"]["values"][0]["value"];
        if value == "HOLDOVER" || value == "FREERUN" {
            let sent = parse_time(ev["time"].as_str().expect("time"));
            latency.push(at.duration_since(sent).unwrap_or_default().as_secs_f64() * 1e3);
        }
    }
    assert_eq!(latency.len(), 200, "every subscriber got HOLDOVER and FREERUN");
    eprintln!(
        "notifications, 100 subscribers: change -> consumer p50 {:.2} ms p99 {:.2} ms max {:.2} ms \
         (200 deliveries; add up to poll_seconds for detection); CurrentState p50 {:.2} ms \
         p99 {:.2} ms (1000 GETs); RSS {rss_before} KiB -> {rss_after} KiB with 100 subscriptions",
        percentile(&mut latency, 0.5),
        percentile(&mut latency, 0.99),
        percentile(&mut latency, 1.0),
        percentile(&mut rtt, 0.5),
        percentile(&mut rtt, 0.99),
    );
}

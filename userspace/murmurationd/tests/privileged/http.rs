//! The HTTP endpoint under hostile clients: a client that sends half a
//! request is cut off after the header timeout, 200 connections at once
//! cost at most `max_connections` slots (the rest are closed on accept and
//! counted), and the daemon serves again as soon as they are gone.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use murmuration_testkit::audit::Usage;

use crate::common::{World, http_get, wait_for};

const ADDR: &str = "127.0.0.1:9468";

fn usage(pid: u32) -> Usage {
    Usage::of(pid).expect("the daemon's /proc entries")
}

/// Reads until the daemon closes `s` (EOF or reset); how long that took.
fn wait_closed(mut s: TcpStream, bound: Duration) -> Duration {
    let start = Instant::now();
    s.set_read_timeout(Some(bound)).expect("timeout");
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) if start.elapsed() < bound => return start.elapsed(),
            Ok(_) => continue,
            _ => panic!("the daemon kept the connection for {bound:?}"),
        }
    }
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn slow_and_many_clients_cannot_hold_the_endpoint() {
    let w = World::new();
    let http = "header_timeout_seconds = 1\nconnection_lifetime_seconds = 3\nmax_connections = 16";
    let daemon = w.daemon_http(9468, http, "", &[]);
    let pid = daemon.pid();
    let rss0 = usage(pid).rss_kib;

    // Half a request: cut off after the header timeout, not held forever.
    let slow = w.node.run(|| {
        let mut s = TcpStream::connect(ADDR).expect("connect");
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ").expect("partial");
        s
    });
    let took = wait_closed(slow, Duration::from_secs(20));
    eprintln!("a half-sent request was closed after {took:?}");

    // 200 idle connections at once: 16 are served (and timed out), the rest
    // closed on accept.
    let fds0 = usage(pid).fds;
    let idle: Vec<TcpStream> =
        w.node.run(|| (0..200).map(|_| TcpStream::connect(ADDR).expect("connect")).collect());
    let fds = usage(pid).fds;
    assert!(fds <= fds0 + 16 + 2, "{fds} fds open with 200 clients ({fds0} before)");
    // Slots free as connections time out, so some of the 200 are served
    // late; far more than half can only have been refused.
    let refused = wait_for("refusals counted", Duration::from_secs(20), || {
        // Refused itself while the slots are taken: retried until one frees.
        let body = w.node.run(|| http_get(ADDR, "/metrics")).ok()?.1;
        let line = body.lines().find(|l| l.starts_with("murmurationd_http_refused_connections"))?;
        let n: f64 = line.split_whitespace().last()?.parse().ok()?;
        (n >= 100.0).then_some(n)
    });
    eprintln!("{refused} of 200 connections refused on accept");
    for s in idle {
        wait_closed(s, Duration::from_secs(20));
    }
    let (code, body) = w.get(ADDR, "/healthz");
    assert_eq!((code, body.trim()), (200, "ok"), "served again once they are gone");
    let rss1 = usage(pid).rss_kib;
    eprintln!("daemon RSS {rss0} kB idle, {rss1} kB after 200 connections");
    assert!(rss1 < rss0 + 16 * 1024, "RSS grew from {rss0} to {rss1} kB");
}

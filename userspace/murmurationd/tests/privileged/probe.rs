//! The latency prober end to end: a responder in one throwaway namespace, a
//! prober in another, joined by a veth pair; the daemon runs in a third (the
//! node) and opens both sockets in their namespaces. RTT samples appear with
//! plausible values and no timeouts; taking the link down makes timeouts grow.

use std::time::Duration;

use crate::common::{Netns, World, wait_for};

const ADDR: &str = "127.0.0.1:9468";

fn value(body: &str, series: &str) -> Option<f64> {
    body.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// The `le` bucket of the prober's histogram, whatever the label order.
fn bucket(body: &str, le: &str) -> Option<f64> {
    let le = format!("le=\"{le}\"");
    body.lines()
        .filter(|l| l.starts_with("murmuration_probe_rtt_seconds_bucket{"))
        .filter(|l| l.contains(&le) && l.contains("probe=\"b-to-a\""))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
#[ignore = "privileged: needs root and network namespaces (cargo xtask test)"]
fn prober_measures_rtt_across_namespaces_and_counts_timeouts() {
    let w = World::new();
    let (a, b) = (Netns::with_lo_up("resp"), Netns::with_lo_up("probe"));
    a.add_veth_to("pa", &b, "pb");
    a.ip(&["addr", "add", "10.77.0.1/30", "dev", "pa"]);
    b.ip(&["addr", "add", "10.77.0.2/30", "dev", "pb"]);
    a.ip(&["link", "set", "pa", "up"]);
    b.ip(&["link", "set", "pb", "up"]);
    let extra = format!(
        "[[responder]]\nname = \"echo\"\nnetns = \"{}\"\nlisten = \"10.77.0.1:7007\"\n\
         [[prober]]\nname = \"b-to-a\"\nnetns = \"{}\"\ntarget = \"10.77.0.1:7007\"\n\
         interval_seconds = 0.1\ntimeout_seconds = 0.09\n",
        a.path(),
        b.path()
    );
    let _daemon = w.daemon(9468, &extra);
    let count = "murmuration_probe_rtt_seconds_count{probe=\"b-to-a\"}";
    let body = wait_for("20 RTT samples", Duration::from_secs(20), || {
        let body = w.get(ADDR, "/metrics").1;
        value(&body, count).filter(|n| *n >= 20.0).map(|_| body)
    });
    let n = value(&body, count).expect("count");
    let sum = value(&body, "murmuration_probe_rtt_seconds_sum{probe=\"b-to-a\"}").expect("sum");
    eprintln!("{n} samples, mean RTT {:.1} µs", sum / n * 1e6);
    assert!(sum > 0.0 && sum / n < 0.1, "mean RTT {} s implausible:\n{body}", sum / n);
    assert_eq!(bucket(&body, "0.065536"), Some(n), "every sample under 65.5 ms:\n{body}");
    let timeouts = "murmuration_probe_timeouts_total{probe=\"b-to-a\"}";
    assert_eq!(value(&body, timeouts), Some(0.0), "no timeouts while reachable:\n{body}");
    let software = "murmuration_probe_timestamp_source{probe=\"b-to-a\",source=\"software\"}";
    assert_eq!(value(&body, software), Some(1.0), "veth gives software TX/RX stamps:\n{body}");
    let echoed = value(&body, "murmuration_responder_requests_total{responder=\"echo\"}");
    assert!(echoed.is_some_and(|e| e >= n), "the responder answered them:\n{body}");
    crate::prometheus::promtool_check(&body);

    a.ip(&["link", "set", "pa", "down"]);
    wait_for("timeouts to grow", Duration::from_secs(10), || {
        let body = w.get(ADDR, "/metrics").1;
        value(&body, timeouts).filter(|t| *t >= 5.0)
    });
    assert!(w.daemon_log().contains("prober started"), "{}", w.daemon_log());
}

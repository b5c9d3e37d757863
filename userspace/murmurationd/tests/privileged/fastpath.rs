//! A fast-path attachment (veth + `master`, pins on a private bpffs): the
//! daemon exports its eBPF counters and latency histogram, Prometheus scrapes
//! them, and they follow the traffic the test sends through the uplink.

use std::path::Path;
use std::time::Duration;

use murmuration_testkit::bpffs::Bpffs;
use serde_json::{Value, json};

use crate::common::{Netns, World, sh, wait_for};
use crate::prometheus::{DAEMON_ADDR, promtool_check, query, start_prometheus};

const UPLINK: &str = "up0";
const WIRE_IF: &str = "wr0";
const WIRE_IP: &str = "10.93.0.254";

fn fast_path_conf(w: &World, pin_root: &Path) -> Value {
    json!({
        "cniVersion": "1.1.0", "name": w.net, "type": "murmuration",
        "mode": "veth", "master": UPLINK, "bpfPinRoot": pin_root,
        "dataDir": w.data_dir(),
        "ipam": {"type": "host-local", "dataDir": w.ipam_dir(),
                 "ranges": [[{"subnet": "10.93.0.0/24", "rangeStart": "10.93.0.10"}]]}
    })
}

fn series(name: &str, direction: &str) -> String {
    format!("{name}{{pod_name=\"fp-pod\",direction=\"{direction}\"}}")
}

#[test]
#[ignore = "privileged: needs root, network namespaces, bpffs and Debian's prometheus (cargo xtask test)"]
fn prometheus_scrapes_fast_path_counters_and_latency_histogram() {
    let w = World::new();
    let wire = Netns::with_lo_up("wire");
    // Declared after the World: unmounted before its tempdir goes.
    let bpffs = Bpffs::mount(&w.tmp.path().join("bpffs"));
    let pin_root = bpffs.path().join("murmuration");
    w.node.add_veth_to(UPLINK, &wire, WIRE_IF);
    wire.ip(&["addr", "add", &format!("{WIRE_IP}/24"), "dev", WIRE_IF]);
    wire.ip(&["link", "set", WIRE_IF, "up"]);
    w.node.ip(&["link", "set", UPLINK, "up"]);
    let pod = Netns::with_lo_up("pod");
    w.add(&pod, "ctr-fp", &fast_path_conf(&w, &pin_root), "fp-pod");
    let _daemon = w.daemon(9466, "");
    let status: Value = serde_json::from_str(&w.get(DAEMON_ADDR, "/status").1).expect("status");
    let dp = &status["inventory"]["attachments"][0]["datapath"];
    assert_eq!(dp["uplink"], UPLINK, "the record's fast-path port in /status: {status}");
    let _prom = start_prometheus(&w);

    let from_pod = series("murmuration_fastpath_packets_total", "from_pod");
    let before =
        wait_for("a first scrape with the fast-path port", Duration::from_secs(30), || {
            query(&w, &from_pod)
        });
    let ping =
        sh("ip", &["netns", "exec", pod.name(), "ping", "-c", "30", "-i", "0.01", "-q", WIRE_IP]);
    assert!(ping.contains("30 received"), "{ping}");
    let after =
        wait_for("the fast-path counter to follow the traffic", Duration::from_secs(30), || {
            query(&w, &from_pod).filter(|v| *v >= before + 30.0)
        });
    assert!(after >= before + 30.0);
    let to_pod = query(&w, &series("murmuration_fastpath_packets_total", "to_pod"));
    assert!(to_pod.is_some_and(|v| v >= 30.0), "replies through the fast path: {to_pod:?}");
    let bytes = query(&w, &series("murmuration_fastpath_bytes_total", "from_pod"));
    assert!(bytes.is_some_and(|v| v >= 30.0 * 84.0), "ICMP bytes counted: {bytes:?}");
    let spoof = "murmuration_fastpath_dropped_packets_total{pod_name=\"fp-pod\",\
                 direction=\"from_pod\",reason=\"spoof\"}";
    assert_eq!(query(&w, spoof), Some(0.0), "drop reasons exported, nothing spoofed");
    let samples = query(&w, &series("murmuration_fastpath_latency_seconds_count", "from_pod"));
    assert!(samples.is_some_and(|v| v >= 30.0), "latency samples: {samples:?}");
    let p99 = "histogram_quantile(0.99, murmuration_fastpath_latency_seconds_bucket\
               {pod_name=\"fp-pod\",direction=\"to_pod\"})";
    let p99 = query(&w, p99).expect("a p99 of the fast-path time");
    assert!(p99 > 0.0 && p99 < 0.02, "fast-path p99 {p99} s is on the microsecond scale");
    assert_eq!(query(&w, "murmurationd_task_errors_total{task=\"fastpath\"}"), None);
    promtool_check(&w.get(DAEMON_ADDR, "/metrics").1);
}

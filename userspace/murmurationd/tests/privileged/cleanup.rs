//! A pod namespace deleted without DEL is cleaned up by the daemon, through
//! the same release path as DEL: veth, IPAM lease, record and lock all gone.

use std::time::Duration;

use serde_json::Value;

use crate::common::{Netns, World, wait_for};

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn pod_netns_deleted_without_del_is_cleaned_up() {
    let w = World::new();
    let conf = w.conf("10.91.0.0/24");
    let mut gone = Netns::new("pod");
    let kept = Netns::new("pod");
    w.add(&gone, "ctr-gone", &conf, "gone");
    w.add(&kept, "ctr-kept", &conf, "kept");
    let _d = w.daemon(9465, "[cleanup]\ngrace_period_seconds = 1.5\n");
    let addr = "127.0.0.1:9465";
    let status: Value = serde_json::from_str(&w.get(addr, "/status").1).expect("status JSON");
    let atts = status["inventory"]["attachments"].as_array().expect("attachments");
    assert_eq!(atts.len(), 2, "{status}");
    assert!(atts.iter().any(|a| a["pod_name"] == "gone" && a["netns_present"] == true));
    let leases_before = leases(&w);
    assert_eq!(leases_before, 2, "two host-local leases");

    gone.delete();
    // The daemon must wait out the grace period, then release.
    std::thread::sleep(Duration::from_millis(700));
    assert!(w.data_dir().join("attachments/ctr-gone@eth0.json").exists(), "released too early");
    wait_for("the stale attachment's record to go", Duration::from_secs(15), || {
        (!w.data_dir().join("attachments/ctr-gone@eth0.json").exists()).then_some(())
    });
    // Nothing left: one attachment's veth, lease, record and lock remain.
    let node_links = w.node.link_names();
    assert_eq!(node_links.len(), 2, "node keeps lo and the kept pod's veth: {node_links:?}");
    assert_eq!(leases(&w), 1, "the gone pod's lease is released");
    let locks: Vec<_> = std::fs::read_dir(w.data_dir().join("locks"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(locks.iter().all(|l| l.to_string_lossy().starts_with("ctr-kept")), "{locks:?}");
    assert!(w.data_dir().join("attachments/ctr-kept@eth0.json").exists());
    let (_, metrics) = w.get(addr, "/metrics");
    assert!(
        metrics.contains("murmuration_cleanup_releases_total{result=\"released\"} 1"),
        "{metrics}\n{}",
        w.daemon_log()
    );
    assert!(w.daemon_log().contains("released a stale attachment"), "{}", w.daemon_log());
}

fn leases(w: &World) -> usize {
    std::fs::read_dir(w.ipam_dir().join(&w.net))
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().parse::<std::net::IpAddr>().is_ok())
                .count()
        })
        .unwrap_or(0)
}

//! A pod namespace deleted without DEL is cleaned up by the daemon, through
//! the same release path as DEL: veth, IPAM lease, record and lock all gone.

use std::path::PathBuf;
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};
use serde_json::Value;

use crate::common::{Netns, Proc, World, spawn_in, wait_for};

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn pod_netns_deleted_without_del_is_cleaned_up() {
    let w = World::new();
    let conf = w.conf("10.91.0.0/24");
    let mut gone = Netns::with_lo_up("pod");
    let kept = Netns::with_lo_up("pod");
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

fn record_exists(w: &World, cid: &str) -> bool {
    w.data_dir().join(format!("attachments/{cid}@eth0.json")).exists()
}

fn status_of(w: &World, addr: &str, cid: &str) -> Value {
    let status: Value = serde_json::from_str(&w.get(addr, "/status").1).expect("status JSON");
    status["inventory"]["attachments"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["container_id"] == cid).cloned())
        .unwrap_or(Value::Null)
}

/// A pod whose namespace path the daemon cannot see (a `/proc/<pid>/ns/net`
/// of another PID namespace, as under a DaemonSet without hostPID) is kept
/// while its veth lives, past the grace period; one whose namespace is
/// destroyed (veth gone) is still released.
#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn a_pod_the_daemon_cannot_see_is_kept_and_a_gone_one_released() {
    let w = World::new();
    let conf = w.conf("10.92.0.0/24");
    let live = Netns::with_lo_up("pod");
    let mut gone = Netns::with_lo_up("pod");
    let sleeper =
        |ns: &Netns, tag| spawn_in(ns, "pod process", "sleep", &["1000"], &w.tmp.path().join(tag));
    let live_proc = sleeper(&live, "live.log");
    let mut gone_proc = sleeper(&gone, "gone.log");
    let proc_path = |p: &Proc| PathBuf::from(format!("/proc/{}/ns/net", p.pid()));
    w.add_at(&proc_path(&live_proc), "ctr-live", &conf, "live");
    w.add_at(&proc_path(&gone_proc), "ctr-gone", &conf, "gone");
    let _d = w.daemon_in_own_pid_ns(9466, "[cleanup]\ngrace_period_seconds = 1\n");
    let addr = "127.0.0.1:9466";

    // Both paths are invisible to the daemon from the start, so the live pod
    // would be released no later than the gone one if invisibility counted.
    gone_proc.stop();
    gone.delete();
    wait_for("the gone pod's record to go", Duration::from_secs(20), || {
        (!record_exists(&w, "ctr-gone")).then_some(())
    });
    assert!(record_exists(&w, "ctr-live"), "a live pod was released\n{}", w.daemon_log());
    assert_eq!(leases(&w), 1, "the live pod keeps its lease");
    assert_eq!(w.node.link_names().len(), 2, "node keeps lo and the live pod's veth");
    let seen = status_of(&w, addr, "ctr-live");
    assert_eq!(seen["netns_present"], false, "{seen}");
    assert_eq!(seen["liveness"], "unknown", "{seen}");
    assert_eq!(seen["evidence"]["path"], "unseen", "{seen}");
    let (_, metrics) = w.get(addr, "/metrics");
    assert!(metrics.contains("murmuration_stale_attachments 0"), "{metrics}");
    assert!(metrics.contains("murmuration_cleanup_releases_total{result=\"released\"} 1"));
}

/// Cleanup cannot take store.lock: rounds are skipped (metric), `/healthz`
/// turns 503 saying why, and both recover once the lock is free.
#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn healthz_fails_while_cleanup_cannot_take_the_store_lock() {
    let w = World::new();
    let conf = w.conf("10.93.0.0/24");
    let mut pod = Netns::with_lo_up("pod");
    w.add(&pod, "ctr-a", &conf, "a");
    let cfg = "[cleanup]\ngrace_period_seconds = 0.5\nlock_timeout_seconds = 0.2\n\
               [health]\nstuck_seconds = 1\n";
    let _d = w.daemon(9467, cfg);
    let addr = "127.0.0.1:9467";
    let file = std::fs::File::create(w.data_dir().join("store.lock")).expect("store.lock");
    let held = Flock::lock(file, FlockArg::LockExclusive).expect("hold store.lock");

    pod.delete();
    let body = wait_for("/healthz to fail", Duration::from_secs(20), || {
        let (code, body) = w.get(addr, "/healthz");
        (code == 503).then_some(body)
    });
    assert!(body.contains("cleanup cannot take store.lock"), "{body}");
    assert!(record_exists(&w, "ctr-a"), "released without the lock");
    let (_, metrics) = w.get(addr, "/metrics");
    assert!(!metrics.contains("murmuration_cleanup_lock_timeouts_total 0"), "{metrics}");
    assert!(w.daemon_log().contains("cleanup round skipped"), "{}", w.daemon_log());

    drop(held);
    wait_for("the release and a healthy /healthz", Duration::from_secs(20), || {
        (!record_exists(&w, "ctr-a") && w.get(addr, "/healthz").0 == 200).then_some(())
    });
}

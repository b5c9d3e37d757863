//! Many pods at once, as a node starting a deployment sees it.

use std::collections::BTreeSet;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::audit::{Daemon, map_entries, poll};
use crate::common::{Env, Netns, Outcome, World, assert_pod_link};
use crate::fastpath::Fabric;

const PODS: usize = 8;

/// Runs `verb` for every pod at once (released together by a barrier).
fn all_at_once(
    w: &World,
    pods: &[Netns],
    conf: &Value,
    verb: fn(&World, &Netns, &str, &Value) -> Outcome,
) -> Vec<Outcome> {
    burst(pods.len(), |i| verb(w, &pods[i], &format!("ctr-{i}"), conf), None)
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn parallel_adds_then_parallel_dels() {
    let w = World::new();
    let pods: Vec<Netns> = (0..PODS).map(|_| w.pod()).collect();
    let conf = w.conf("1.1.0");

    let added = all_at_once(&w, &pods, &conf, |w, pod, cid, conf| w.add(pod, cid, "eth0", conf));
    let mut seen = BTreeSet::new();
    for (i, (out, pod)) in added.iter().zip(&pods).enumerate() {
        let r = out.result();
        let addrs: Vec<&str> = r["ips"]
            .as_array()
            .expect("ips")
            .iter()
            .filter_map(|ip| ip["address"].as_str())
            .collect();
        assert_eq!(addrs.len(), 2, "pod {i}: {r}");
        for a in &addrs {
            assert!(seen.insert((*a).to_owned()), "address {a} handed out twice");
        }
        let link = assert_pod_link(pod, "eth0", None, None, &addrs);
        w.assert_host_end(&format!("ctr-{i}"), "eth0", &link);
    }
    assert_eq!(w.leases().len(), 2 * PODS);
    assert_eq!(w.attachments().len(), PODS);
    assert_eq!(w.node.link_names().len(), PODS + 1, "one host end per pod, plus lo");

    let deleted =
        all_at_once(&w, &pods, &conf, |w, pod, cid, conf| w.del(Some(pod), cid, "eth0", conf));
    deleted.iter().for_each(Outcome::ok);
    let refs: Vec<&Netns> = pods.iter().collect();
    w.assert_clean(&refs);
}

/// Every first call with a delegated IPAM asks it for its versions (VERSION,
/// cached per dataDir). Go plugins answer VERSION without reading stdin and
/// may exit before the plugin has written its request; on a busy node that
/// race is lost now and then, and the call must not fail because of it.
#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn ipam_version_queries_under_load_never_fail() {
    const THREADS: usize = 8;
    const CALLS: usize = 40;
    let w = World::new();
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let w = &w;
                s.spawn(move || {
                    let mut failed = Vec::new();
                    for i in 0..CALLS {
                        // A fresh dataDir each time: an empty version cache.
                        let mut conf = w.conf("1.1.0");
                        conf["dataDir"] = json!(w.tmp().join(format!("status-{t}-{i}")));
                        let out = w.run(&Env::new("STATUS"), &conf);
                        if !out.success {
                            failed.push(out.stdout);
                        }
                    }
                    failed
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("worker thread")).collect()
    });
    w.assert_clean(&[]);
    assert!(
        failures.is_empty(),
        "{} of {} STATUS calls failed, first: {}",
        failures.len(),
        THREADS * CALLS,
        failures[0]
    );
}

const FAST_PODS: usize = 32;
const STALE_PODS: usize = 4;
/// How long the whole fast-path burst may take before the test calls it a
/// deadlock (each plugin call is also killed after 30 s by `World::exec`).
const DEADLINE: Duration = Duration::from_secs(300);

/// Runs `call(i)` for `0..n` at once (released together by a barrier) while
/// another thread keeps running `background` (if any) until all of them are done.
fn burst(
    n: usize,
    call: impl Fn(usize) -> Outcome + Sync,
    background: Option<&(dyn Fn() + Sync)>,
) -> Vec<Outcome> {
    let start = Barrier::new(n);
    let done = AtomicBool::new(false);
    let deadline = Instant::now() + DEADLINE;
    std::thread::scope(|s| {
        if let Some(job) = background {
            s.spawn(|| {
                while !done.load(Ordering::Relaxed) && Instant::now() < deadline {
                    job();
                }
            });
        }
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (start, call) = (&start, &call);
                s.spawn(move || {
                    start.wait();
                    call(i)
                })
            })
            .collect();
        let out = handles.into_iter().map(|h| h.join().expect("worker thread")).collect();
        done.store(true, Ordering::Relaxed);
        out
    })
}

/// 32 pods on one uplink (VLAN 100, VLAN 200, trunks of 200 and 300) added and
/// then deleted all at once, while GC runs in a loop and the node daemon
/// releases four attachments whose namespaces were deleted without DEL: no
/// address or attachment id handed out twice, every port's map entries in
/// place after the ADDs, nothing left after the DELs, and no call hangs.
#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn fast_path_burst_with_gc_and_daemon_cleanup_running() {
    let start = Instant::now();
    let f = Fabric::new(100);
    Daemon::loopback(&f.w);
    let baseline = f.w.snapshot(&f.extra());
    // A VLAN's flood list holds 16 ports (MAX_VLAN_MEMBERS): VLAN 100 gets
    // 16 access ports, VLAN 200 8 access ports and 8 trunks of 200 and 300.
    let mut trunk = f.conf(0, false);
    trunk.as_object_mut().expect("object").remove("vlan");
    trunk["trunk"] = json!([200, 300]);
    let confs = [f.conf(100, false), f.conf(200, false), trunk, f.conf(300, false)];
    let conf = |i: usize| &confs[[0, 1, 0, 2][i % 4]];
    let cid = |i: usize| format!("par-{i}");

    let mut stale: Vec<Netns> = (0..STALE_PODS).map(|_| f.pod(false)).collect();
    for (i, pod) in stale.iter().enumerate() {
        f.attach(pod, &format!("stale-{i}"), &confs[3]);
    }
    let daemon = Daemon::start(&f.w, 9485, Duration::from_millis(200));
    // GC keeps every attachment: the stale ones are the daemon's to release.
    let mut gc = confs[0].clone();
    let valid: Vec<Value> = (0..FAST_PODS)
        .map(cid)
        .chain((0..STALE_PODS).map(|i| format!("stale-{i}")))
        .map(|c| json!({"containerID": c, "ifname": "eth0"}))
        .collect();
    gc["cni.dev/valid-attachments"] = json!(valid);
    let collect = || f.w.gc(&gc).ok();

    let pods: Vec<Netns> = (0..FAST_PODS).map(|_| f.pod(false)).collect();
    stale.iter_mut().for_each(Netns::delete);
    let added = burst(FAST_PODS, |i| f.w.add(&pods[i], &cid(i), "eth0", conf(i)), Some(&collect));
    let (mut addrs, mut ids) = (BTreeSet::new(), BTreeSet::new());
    let entries = map_entries(&f.pin_root());
    for (i, out) in added.iter().enumerate() {
        let ip = out.result()["ips"][0]["address"].as_str().expect("address").to_owned();
        assert!(addrs.insert(ip.clone()), "address {ip} handed out twice");
        let port = &f.w.record(&cid(i), "eth0")["datapath"];
        let id = port["attach_id"].as_u64().expect("attach_id");
        assert!(ids.insert(id), "attachment id {id} handed out twice");
        for want in [format!("up0 POD_CFG {}", port["host_ifindex"]), format!("up0 PORT_DEVS {id}")]
        {
            assert!(entries.contains(&want), "pod {i}: {want} missing from {entries:?}");
        }
    }
    // CHECK verifies each port's MAC entries on each of its VLANs, and its program.
    burst(FAST_PODS, |i| f.w.check(&pods[i], &cid(i), "eth0", conf(i)), None)
        .iter()
        .for_each(Outcome::ok);

    burst(FAST_PODS, |i| f.w.del(Some(&pods[i]), &cid(i), "eth0", conf(i)), Some(&collect))
        .iter()
        .for_each(Outcome::ok);
    let left = || f.w.snapshot(&f.extra()).leftovers(&baseline);
    let only_locks = || left().keys().all(|k| *k == "locks");
    assert!(
        poll(DEADLINE.saturating_sub(start.elapsed()), only_locks),
        "left: {:?}\n{}",
        left(),
        daemon.log()
    );
    gc["cni.dev/valid-attachments"] = json!([]);
    f.w.gc(&gc).ok();
    f.w.snapshot(&f.extra()).assert_nothing_left(&baseline);
    f.assert_no_fast_path();
    pods.iter().for_each(|p| p.assert_empty("pod"));
    eprintln!("fast-path burst of {FAST_PODS} pods with GC and the daemon: {:?}", start.elapsed());
}

//! Soak: a thousand ADD/DEL cycles (four pods at a time) on the fast path (VLAN 100, host-local
//! IPAM) with the node daemon watching the same dataDir, then the leak
//! audit: nothing of the node (links, addresses, routes, records, locks,
//! leases, map entries, pins) may be left, and the daemon must not grow.
//!
//! The daemon's bounds are deliberately generous, because they compare one
//! process against itself over time, not against a number: after a warm-up
//! (allocator arenas, inventory caches and the HTTP server have settled),
//! its open fd count must come back to exactly the warm-up's (a leaked
//! netlink socket or record file would add one per cycle), and its RSS may
//! grow by at most [`RSS_SLACK_KIB`] (a per-cycle leak of even 64 bytes per
//! attachment would not show; one of a page per cycle, 4 MiB, would).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::Netns;
use crate::common::audit::{Daemon, Extra, Usage, poll};
use crate::fastpath::Fabric;

const CYCLES: usize = 1000;
/// Pods cycling at once, each in its own namespace: the calls overlap where
/// they wait (process start, the kernel's veth teardown), as on a busy node.
const WORKERS: usize = 4;
const WARM_UP: usize = 40;
/// How much the daemon's RSS may grow between the warm-up and the end.
const RSS_SLACK_KIB: u64 = 4096;

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn a_thousand_add_del_cycles_leave_nothing_and_the_daemon_does_not_grow() {
    let f = Fabric::new(100);
    let pods: Vec<Netns> = (0..WORKERS).map(|_| f.pod(false)).collect();
    let conf = f.conf(100, false);
    let daemon = Daemon::start(&f.w, 9484, Duration::from_secs(1));
    let extra = Extra { daemon: Some(daemon.pid()), ..f.extra() };
    let baseline = f.w.snapshot(&extra);
    // A long-lived pod keeps the uplink's programs loaded, as on a real
    // node: each cycle adds and removes one port (loading the programs is
    // the fast path's first-ADD cost, measured by the benchmark instead).
    let anchor = f.pod(false);
    f.attach(&anchor, "soak-anchor", &conf);
    // Cycles `range`, spread over the workers (cycle i on pod i % WORKERS).
    let cycles = |range: std::ops::Range<usize>| {
        std::thread::scope(|s| {
            for (w, pod) in pods.iter().enumerate() {
                let (range, f, conf) = (range.clone(), &f, &conf);
                s.spawn(move || {
                    for i in range.filter(|i| i % WORKERS == w) {
                        let cid = format!("soak-{i}");
                        f.w.add(pod, &cid, "eth0", conf).result();
                        f.w.del(Some(pod), &cid, "eth0", conf).ok();
                    }
                });
            }
        });
    };
    cycles(0..WARM_UP);
    let warm = settled(&daemon);

    let start = Instant::now();
    cycles(WARM_UP..CYCLES);
    let elapsed = start.elapsed();
    f.w.del(Some(&anchor), "soak-anchor", "eth0", &conf).ok();
    // DEL keeps each attachment's lock file for the next GC (state/mod.rs).
    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([]);
    f.w.gc(&gc).ok();

    let after = f.w.snapshot(&extra);
    after.assert_nothing_left(&baseline);
    f.assert_no_fast_path();
    pods.iter().for_each(|p| p.assert_empty("pod"));
    anchor.assert_empty("pod");
    let end = settled_at(&daemon, warm.fds);
    eprintln!(
        "soak: {} ADD/DEL cycles by {WORKERS} pods in {elapsed:?} ({:?} per cycle); daemon after warm-up \
         {warm:?}, at the end {end:?}; audit: {}",
        CYCLES - WARM_UP,
        elapsed / u32::try_from(CYCLES - WARM_UP).expect("count"),
        after.summary()
    );
    assert_eq!(end.fds, warm.fds, "the daemon's open fds grew\n{}", daemon.log());
    assert!(
        end.rss_kib <= warm.rss_kib + RSS_SLACK_KIB,
        "the daemon's RSS grew from {} to {} KiB",
        warm.rss_kib,
        end.rss_kib
    );
}

/// The daemon's usage once its fd count has stopped changing (it reacts to
/// the last link events for a moment).
fn settled(d: &Daemon) -> Usage {
    let mut last = usage(d);
    poll(Duration::from_secs(5), || {
        std::thread::sleep(Duration::from_millis(200));
        let now = usage(d);
        let same = now.fds == last.fds;
        last = now;
        same
    });
    last
}

/// The daemon's usage once its fd count is back at `fds` (or after a while).
fn settled_at(d: &Daemon, fds: usize) -> Usage {
    let mut last = usage(d);
    poll(Duration::from_secs(10), || {
        last = usage(d);
        last.fds == fds
    });
    last
}

fn usage(d: &Daemon) -> Usage {
    Usage::of(d.pid()).expect("measure the daemon")
}

//! The pod-side link of a `vlan` attachment: its subinterface lives in the
//! pod's namespace, so it is read over a netlink socket opened inside that
//! namespace (a short-lived thread enters it, see `murmuration_core::netns`;
//! the daemon's own threads never change namespace). Every query runs on a
//! thread of its own and all of them share one deadline: a namespace that
//! does not answer in time is given up on (`TimedOut`) and the caller moves
//! on; a namespace that is gone is `Gone` (the cleaner's business, not an
//! error).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use murmuration_core::netlink::Netlink;
use murmuration_core::netns::NetNs;

use super::links::{LinkView, dump};

/// How long one round of pod-namespace queries may take in all.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// One link to look for: `ifname` in the namespace at `netns`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub netns: PathBuf,
    pub ifname: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodLink {
    Found(Box<LinkView>),
    /// The namespace is there, the link is not.
    Missing,
    /// The namespace path no longer exists.
    Gone,
    /// No answer before the deadline.
    TimedOut,
    Failed(String),
}

/// Logs a query that gave nothing to look at: a timeout at warn; the first
/// failure of the process at warn with its usual cause (no `CAP_SYS_ADMIN`
/// to enter pod namespaces: vlan attachments then get no counters and no
/// drift check), later ones at debug. `Missing` and `Gone` are not logged.
pub fn log_unread(what: &str, q: &Query, link: &PodLink) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    let netns = q.netns.display();
    match link {
        PodLink::TimedOut => tracing::warn!(%netns, "{what}: pod namespace did not answer in time"),
        PodLink::Failed(e) if !WARNED.swap(true, Ordering::Relaxed) => tracing::warn!(
            %netns, error = %e,
            "{what}: pod namespace not read (entering it needs CAP_SYS_ADMIN); vlan \
             attachments get no counters or drift check while this fails"
        ),
        PodLink::Failed(e) => tracing::debug!(%netns, error = %e, "{what}: pod namespace not read"),
        PodLink::Found(_) | PodLink::Missing | PodLink::Gone => {}
    }
}

fn read_one(q: &Query) -> PodLink {
    let ns = match NetNs::open(&q.netns) {
        Ok(ns) => ns,
        Err(e) if e.is_not_found() => return PodLink::Gone,
        Err(e) => return PodLink::Failed(crate::chain(&e)),
    };
    match ns.run(|| Netlink::open().and_then(|mut nl| dump(&mut nl))) {
        Ok(Ok(links)) => links
            .into_iter()
            .find(|l| l.name == q.ifname)
            .map_or(PodLink::Missing, |l| PodLink::Found(Box::new(l))),
        Ok(Err(e)) => PodLink::Failed(crate::chain(&e)),
        Err(e) => PodLink::Failed(crate::chain(&e)),
    }
}

/// Reads every query concurrently; the answer for `queries[i]` is at `i`.
/// Returns within about `timeout` whatever the namespaces do.
pub fn read_all(queries: &[Query], timeout: Duration) -> Vec<PodLink> {
    let mut out = vec![PodLink::TimedOut; queries.len()];
    let (tx, rx) = mpsc::channel();
    let mut pending = 0;
    for (i, q) in queries.iter().enumerate() {
        let (tx, q) = (tx.clone(), q.clone());
        let spawned = std::thread::Builder::new()
            .name("pod-link".into())
            .spawn(move || drop(tx.send((i, read_one(&q)))));
        match spawned {
            Ok(_) => pending += 1,
            Err(e) => out[i] = PodLink::Failed(format!("no thread: {e}")),
        }
    }
    drop(tx);
    let deadline = Instant::now() + timeout;
    while pending > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok((i, link)) = rx.recv_timeout(left) else { break };
        out[i] = link;
        pending -= 1;
    }
    out
}

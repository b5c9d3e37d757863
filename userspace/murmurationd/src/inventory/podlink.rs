//! The pod-side link of a `vlan` attachment: its subinterface lives in the
//! pod's namespace, so it is read over a netlink socket opened inside that
//! namespace (a short-lived thread enters it, see `murmuration_core::netns`;
//! the daemon's own threads never change namespace). Every query runs on a
//! thread of its own and all of them share one deadline: a namespace that
//! does not answer in time is given up on (`TimedOut`) and the caller moves
//! on; a namespace that is gone is `Gone` (the cleaner's business, not an
//! error).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError, mpsc};
use std::time::{Duration, Instant};

use murmuration_core::netlink::Netlink;
use murmuration_core::netns::NetNs;

use super::links::{LinkView, dump};

/// How long one round of pod-namespace queries may take in all.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// Readers alive at once, over all rounds. A reader whose namespace does not
/// answer lives on after its round gave up on it; a namespace is not read
/// again while its last reader is alive, and no more than this many readers
/// (and their threads, fds and sockets) can pile up.
pub const MAX_READERS: usize = 16;

/// The namespaces whose reader is alive.
static READING: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// A namespace marked as being read until its reader ends.
struct Reading(PathBuf);

impl Reading {
    fn start(netns: &Path) -> Option<Self> {
        let mut set = READING.lock().unwrap_or_else(PoisonError::into_inner);
        (set.len() < MAX_READERS && set.insert(netns.to_owned())).then(|| Self(netns.to_owned()))
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        READING.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.0);
    }
}

/// Whether this process may enter other network namespaces at all
/// (`CAP_SYS_ADMIN` in its effective set): without it every query would
/// fail with EPERM, so none is made; said once at warn.
fn may_enter() -> bool {
    static MAY: OnceLock<bool> = OnceLock::new();
    *MAY.get_or_init(|| {
        const CAP_SYS_ADMIN: u32 = 21;
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let eff = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0);
        let may = eff & (1 << CAP_SYS_ADMIN) != 0;
        if !may {
            tracing::warn!(
                "no CAP_SYS_ADMIN: pod namespaces are not entered, so vlan attachments get \
                 no counters and no drift check"
            );
        }
        may
    })
}

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
    /// Not read this round: the namespace's previous reader is still alive,
    /// or [`MAX_READERS`] are.
    Skipped,
    /// Not read: the daemon may not enter namespaces (no `CAP_SYS_ADMIN`).
    NotPermitted,
    Failed(String),
}

/// Logs a query that gave nothing to look at: a timeout at warn, a skipped
/// one at debug, the first failure of the process at warn and later ones at
/// debug. `Missing`, `Gone` and `NotPermitted` (said once by the check
/// itself) are not logged.
pub fn log_unread(what: &str, q: &Query, link: &PodLink) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    let netns = q.netns.display();
    match link {
        PodLink::TimedOut => tracing::warn!(%netns, "{what}: pod namespace did not answer in time"),
        PodLink::Skipped => {
            tracing::debug!(%netns, "{what}: pod namespace skipped, its last reader is still busy")
        }
        PodLink::Failed(e) if !WARNED.swap(true, Ordering::Relaxed) => {
            tracing::warn!(%netns, error = %e, "{what}: pod namespace not read")
        }
        PodLink::Failed(e) => tracing::debug!(%netns, error = %e, "{what}: pod namespace not read"),
        PodLink::Found(_) | PodLink::Missing | PodLink::Gone | PodLink::NotPermitted => {}
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
/// Returns within about `timeout` whatever the namespaces do; see
/// [`MAX_READERS`] for what a namespace that never answers can hold.
pub fn read_all(queries: &[Query], timeout: Duration) -> Vec<PodLink> {
    if !may_enter() {
        return vec![PodLink::NotPermitted; queries.len()];
    }
    let mut out = vec![PodLink::TimedOut; queries.len()];
    let (tx, rx) = mpsc::channel();
    let mut pending = 0;
    for (i, q) in queries.iter().enumerate() {
        let Some(reading) = Reading::start(&q.netns) else {
            out[i] = PodLink::Skipped;
            continue;
        };
        let (tx, q) = (tx.clone(), q.clone());
        let spawned = std::thread::Builder::new().name("pod-link".into()).spawn(move || {
            let link = read_one(&q);
            drop(reading);
            drop(tx.send((i, link)));
        });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_is_read_once_at_a_time_and_readers_are_bounded() {
        let path = |i: usize| PathBuf::from(format!("/run/netns/podlink-test-{i}"));
        let first = Reading::start(&path(0)).expect("a first reader");
        assert!(Reading::start(&path(0)).is_none(), "not twice at once");
        let mut more: Vec<Reading> =
            (1..MAX_READERS).map(|i| Reading::start(&path(i)).expect("within the bound")).collect();
        assert!(Reading::start(&path(MAX_READERS)).is_none(), "bounded");
        drop(first);
        assert!(Reading::start(&path(0)).is_some(), "free again once its reader ended");
        more.clear();
        assert!(READING.lock().expect("lock").is_empty(), "every reader unmarked");
    }
}

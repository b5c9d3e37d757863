//! Cleanup of attachments whose pod is provably gone without a DEL.
//!
//! [`plan`] decides (pure) from evidence `inventory::attachments` gathers;
//! [`Cleaner`] keeps the grace timers and performs releases through
//! `murmuration_core::ops::release`, the same path as DEL and GC, under the
//! exclusive store lock as GC takes it. That lock is waited for at most
//! `[cleanup] lock_timeout_seconds`; a round that cannot get it is skipped.

mod plan;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use murmuration_core::cni::env::CniPath;
use murmuration_core::cni::error::CniError;
use murmuration_core::netlink::{Netlink, NetlinkError};
use murmuration_core::ops;
use murmuration_core::state::{StateError, Store};

pub use plan::{Action, Observed, Seen, plan};

use crate::inventory::{AttachmentView, Liveness, attachments, liveness};

#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    #[error("state store")]
    State(#[from] StateError),
    #[error("host netlink")]
    Netlink(#[from] NetlinkError),
    #[error("releasing {key} failed: {}", errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Release { key: String, errors: Vec<CniError> },
}

/// What became of one release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Released,
    /// The record vanished meanwhile (a late DEL) or its namespace came back.
    Skipped,
}

#[derive(Debug)]
pub struct Cleaner {
    store: Store,
    cni_path: CniPath,
    grace: Duration,
    stale_since: BTreeMap<String, Duration>,
}

/// The results of one round's releases, by attachment key.
pub type Released = Vec<(String, Result<Outcome, CleanupError>)>;

impl Cleaner {
    /// `store` carries the bound on the store lock wait.
    pub fn new(store: Store, cni_path: Vec<PathBuf>, grace: Duration) -> Self {
        Self { store, cni_path: cni_path.into(), grace, stale_since: BTreeMap::new() }
    }

    /// Attachments waiting out their grace period.
    pub fn watched(&self) -> usize {
        self.stale_since.len()
    }

    /// Plans against `seen` and applies the timer actions; returns the keys to release.
    pub fn observe(&mut self, now: Duration, seen: &[AttachmentView]) -> Vec<String> {
        let seen: Vec<Seen> =
            seen.iter().map(|a| Seen { key: a.key.clone(), liveness: a.liveness }).collect();
        let actions = plan(&Observed {
            now,
            grace: self.grace,
            attachments: &seen,
            stale_since: &self.stale_since,
        });
        let mut release = Vec::new();
        for a in actions {
            match a {
                Action::Watch { key, since } => {
                    tracing::info!(attachment = %key, grace = ?self.grace, "pod gone; waiting out the grace period");
                    self.stale_since.insert(key, since);
                }
                Action::Forget { key } => {
                    self.stale_since.remove(&key);
                }
                Action::Release { key } => release.push(key),
            }
        }
        release
    }

    /// Releases `keys` under one exclusive store lock (blocking, bounded).
    /// `Err` when the lock could not be taken: nothing was done this round.
    pub fn release(&mut self, keys: &[String], host: &mut Netlink) -> Result<Released, StateError> {
        let lock = self.store.lock_store(true)?;
        let mut done = Vec::new();
        for key in keys {
            let outcome = release_one(&self.store, &self.cni_path, key, host);
            if !matches!(outcome, Err(CleanupError::Release { .. })) {
                self.stale_since.remove(key);
            }
            done.push((key.clone(), outcome));
        }
        self.store.sweep_locks(&lock);
        Ok(done)
    }
}

fn release_one(
    store: &Store,
    cni_path: &CniPath,
    key: &str,
    host: &mut Netlink,
) -> Result<Outcome, CleanupError> {
    let (records, _) = store.list();
    let Some(rec) = records.into_iter().find(|r| attachments::key(r) == key) else {
        return Ok(Outcome::Skipped);
    };
    // Re-checked under the lock: a runtime may have reused the path.
    let now = attachments::evidence(&rec, |name| !matches!(host.link_by_name(name), Ok(None)));
    if liveness(now) != Liveness::Gone {
        return Ok(Outcome::Skipped);
    }
    // The record names its IPAM; a delegate gets the record's identity and
    // CNI_PATH, nothing of this process's environment.
    let errors = ops::release(&rec, store, host, cni_path, None, &HashMap::new());
    if errors.is_empty() {
        tracing::info!(
            attachment = key,
            pod_namespace = rec.pod.namespace.as_deref().unwrap_or(""),
            pod_name = rec.pod.name.as_deref().unwrap_or(""),
            network = %rec.network,
            "released a stale attachment (pod gone, no DEL)"
        );
        Ok(Outcome::Released)
    } else {
        Err(CleanupError::Release { key: key.to_owned(), errors })
    }
}

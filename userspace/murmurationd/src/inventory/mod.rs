//! What is on this node: links (uplinks, PFs with their VFs, VLANs, veths)
//! and the plugin's attachments, as one immutable snapshot that is replaced
//! whenever netlink reports a change (see [`events`]) or the resync timer fires.

pub mod attachments;
pub mod events;
pub mod links;
pub mod liveness;
pub mod podlink;

use std::sync::{Arc, PoisonError, RwLock};

use murmuration_core::netlink::{Netlink, NetlinkError};
use murmuration_core::state::Store;
use serde::Serialize;

pub use attachments::AttachmentView;
pub use links::{Counters, LinkView, VfState};
pub use liveness::{Evidence, HostSide, Liveness, NetnsPath, liveness};

#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    pub updated_unix_ms: u64,
    pub links: Vec<LinkView>,
    pub attachments: Vec<AttachmentView>,
    pub unreadable_records: usize,
}

impl Snapshot {
    /// Reads links over `nl` and records from `store`.
    pub fn read(nl: &mut Netlink, store: &Store) -> Result<Self, NetlinkError> {
        let links = links::dump(nl)?;
        let (mut attachments, unreadable_records) = attachments::read(store, &links);
        attachments::read_vlan_counters(&mut attachments);
        Ok(Self { updated_unix_ms: crate::unix_ms(), links, attachments, unreadable_records })
    }
}

/// The current snapshot, shared by the HTTP handlers, metrics and cleanup.
#[derive(Debug)]
pub struct Inventory {
    current: RwLock<Arc<Snapshot>>,
    /// Bumped on every [`Inventory::set`].
    updates: tokio::sync::watch::Sender<u64>,
}

impl Default for Inventory {
    fn default() -> Self {
        Self { current: RwLock::default(), updates: tokio::sync::watch::Sender::new(0) }
    }
}

impl Inventory {
    pub fn get(&self) -> Arc<Snapshot> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn set(&self, s: Snapshot) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(s);
        self.updates.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Wakes on every new snapshot.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.updates.subscribe()
    }
}

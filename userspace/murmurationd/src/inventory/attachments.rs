//! The plugin's attachments, read from its state directory and joined with
//! the links they own.

use std::collections::HashMap;
use std::path::Path;

use murmuration_core::state::{DatapathRecord, Record, Store};
use serde::Serialize;

use super::links::{Counters, LinkView};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachmentView {
    /// `<containerID>@<ifname>`: the record's key under `dataDir`.
    pub key: String,
    pub container_id: String,
    pub ifname: String,
    pub network: String,
    pub mode: String,
    pub pod_namespace: Option<String>,
    pub pod_name: Option<String>,
    pub host_ifname: Option<String>,
    pub netns: Option<String>,
    /// Whether the pod's namespace still exists (`None`: the record has no path).
    pub netns_present: Option<bool>,
    /// The host-side link's index, when it exists.
    pub host_link: Option<u32>,
    /// The host end's counters; rx here is what the pod sent.
    pub host_stats: Option<Counters>,
    /// The fast-path port (pin root, uplink, attachment id), when it has one.
    pub datapath: Option<DatapathRecord>,
    pub created_unix: u64,
}

pub fn key(rec: &Record) -> String {
    format!("{}@{}", rec.container_id, rec.ifname)
}

/// A namespace path counts as present while it can be stat'ed: `ip netns del`
/// and runtimes unlink the bind mount, and `/proc/<pid>/ns/net` goes with its process.
pub fn netns_present(path: &Path) -> bool {
    std::fs::metadata(path).is_ok()
}

pub fn view(rec: &Record, links: &HashMap<&str, &LinkView>) -> AttachmentView {
    let host = rec.host_ifname.as_deref().and_then(|n| links.get(n));
    AttachmentView {
        key: key(rec),
        container_id: rec.container_id.to_string(),
        ifname: rec.ifname.to_string(),
        network: rec.network.clone(),
        mode: format!("{:?}", rec.mode).to_lowercase(),
        pod_namespace: rec.pod.namespace.clone(),
        pod_name: rec.pod.name.clone(),
        host_ifname: rec.host_ifname.clone(),
        netns: rec.netns.as_ref().map(|p| p.display().to_string()),
        netns_present: rec.netns.as_deref().map(netns_present),
        host_link: host.map(|l| l.index),
        host_stats: host.map(|l| l.stats),
        datapath: rec.datapath.clone(),
        created_unix: rec.created_unix,
    }
}

/// Every readable record joined with `links`; unreadable ones are counted.
pub fn read(store: &Store, links: &[LinkView]) -> (Vec<AttachmentView>, usize) {
    let by_name: HashMap<&str, &LinkView> = links.iter().map(|l| (l.name.as_str(), l)).collect();
    let (records, unreadable) = store.list();
    (records.iter().map(|r| view(r, &by_name)).collect(), unreadable.len())
}

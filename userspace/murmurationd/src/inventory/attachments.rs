//! The plugin's attachments, read from its state directory and joined with
//! the links they own.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::path::Path;

use murmuration_core::cni::config::{Mode, NetConf};
use murmuration_core::state::{DatapathRecord, Record, Store};
use murmuration_core::sysfs::Sysfs;
use serde::Serialize;

use super::links::{Counters, LinkView};
use super::liveness::{Evidence, HostSide, Liveness, NetnsPath, liveness};
use super::podlink::{self, PodLink};

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
    /// Whether the namespace path can be stat'ed here (`None`: the record has none).
    pub netns_present: Option<bool>,
    /// What cleanup judges by (see [`super::liveness`]).
    pub evidence: Evidence,
    pub liveness: Liveness,
    /// The host-side link's index, when it exists.
    pub host_link: Option<u32>,
    /// The host end's counters; rx here is what the pod sent.
    pub host_stats: Option<Counters>,
    /// The fast-path port (pin root, uplink, attachment id), when it has one.
    pub datapath: Option<DatapathRecord>,
    pub created_unix: u64,
    /// The VF an sriov attachment holds.
    pub vf: Option<AttachedVf>,
    /// A vlan attachment's subinterface.
    pub vlan: Option<AttachedVlan>,
}

/// An sriov attachment's VF: where its PF-side counters are found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachedVf {
    pub pf: String,
    pub index: u32,
    pub pci: String,
    pub numa_node: Option<u32>,
}

/// A vlan attachment's subinterface: its parent and id as recorded, and its
/// counters read in the pod's namespace (`None` until read, or when the
/// namespace could not be read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachedVlan {
    pub master: String,
    pub id: u16,
    pub stats: Option<Counters>,
}

/// The parent and id a completed vlan attachment of this boot was created with.
pub fn vlan_of(rec: &Record) -> Option<(String, u16)> {
    if rec.mode != Mode::Vlan || rec.result.is_none() || rec.from_earlier_boot() {
        return None;
    }
    let conf = NetConf::parse(rec.config.get().as_bytes()).ok()?;
    Some((conf.master?.to_string(), conf.props.vlan?.get()))
}

/// Fills in the counters of every vlan attachment whose namespace is there,
/// read in the pod namespaces within [`podlink::TIMEOUT`].
pub fn read_vlan_counters(views: &mut [AttachmentView]) {
    let mut targets: Vec<(&mut AttachedVlan, podlink::Query)> = views
        .iter_mut()
        .filter(|a| a.netns_present == Some(true))
        .filter_map(|a| {
            let q = podlink::Query { netns: a.netns.clone()?.into(), ifname: a.ifname.clone() };
            Some((a.vlan.as_mut()?, q))
        })
        .collect();
    let queries: Vec<podlink::Query> = targets.iter().map(|(_, q)| q.clone()).collect();
    let found = podlink::read_all(&queries, podlink::TIMEOUT);
    for ((vlan, q), link) in targets.iter_mut().zip(found) {
        match link {
            PodLink::Found(l) => vlan.stats = Some(l.stats),
            other => podlink::log_unread("counters", q, &other),
        }
    }
}

pub fn key(rec: &Record) -> String {
    format!("{}@{}", rec.container_id, rec.ifname)
}

/// A path that can be stat'ed is present. One that cannot is *removed* only
/// when its directory can be listed here and it is not under `/proc`: a
/// `/proc/<pid>` of another PID namespace, or a directory this mount
/// namespace does not show, says nothing about the pod.
pub fn netns_path(path: Option<&Path>) -> NetnsPath {
    let Some(path) = path else { return NetnsPath::Unrecorded };
    match std::fs::metadata(path) {
        Ok(_) => NetnsPath::Present,
        Err(e)
            if e.kind() == ErrorKind::NotFound
                && !path.starts_with("/proc")
                && path.parent().is_some_and(|d| std::fs::read_dir(d).is_ok()) =>
        {
            NetnsPath::Removed
        }
        Err(_) => NetnsPath::Unseen,
    }
}

/// Gathers the evidence for `rec`; `host_link(name)` says whether the host
/// namespace has a link of that name.
pub fn evidence(rec: &Record, mut host_link: impl FnMut(&str) -> bool) -> Evidence {
    let host = match (rec.mode, &rec.host_ifname, &rec.vf) {
        (Mode::Veth, Some(name), _) => HostSide::VethHostEnd { present: host_link(name) },
        (Mode::Sriov, _, Some(vf)) if !vf.userspace => {
            HostSide::VfNetdev { in_host: Sysfs::new("/sys").netdev(&vf.pci).is_some() }
        }
        _ => HostSide::Nothing,
    };
    Evidence { path: netns_path(rec.netns.as_deref()), host }
}

pub fn view(rec: &Record, links: &HashMap<&str, &LinkView>) -> AttachmentView {
    let host = rec.host_ifname.as_deref().and_then(|n| links.get(n));
    let evidence = evidence(rec, |name| links.contains_key(name));
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
        netns_present: rec.netns.as_ref().map(|_| evidence.path == NetnsPath::Present),
        liveness: liveness(evidence),
        evidence,
        host_link: host.map(|l| l.index),
        host_stats: host.map(|l| l.stats),
        datapath: rec.datapath.clone(),
        created_unix: rec.created_unix,
        vf: rec.vf.as_ref().map(|v| AttachedVf {
            pf: v.pf_netdev.clone(),
            index: v.index,
            pci: v.pci.clone(),
            numa_node: Sysfs::default().numa_node(&v.pci),
        }),
        vlan: vlan_of(rec).map(|(master, id)| AttachedVlan { master, id, stats: None }),
    }
}

/// Every readable record joined with `links`; unreadable ones are counted.
pub fn read(store: &Store, links: &[LinkView]) -> (Vec<AttachmentView>, usize) {
    let by_name: HashMap<&str, &LinkView> = links.iter().map(|l| (l.name.as_str(), l)).collect();
    let (records, unreadable) = store.list();
    (records.iter().map(|r| view(r, &by_name)).collect(), unreadable.len())
}

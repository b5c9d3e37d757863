//! The per-attachment record: everything DEL, CHECK and GC need without the
//! runtime's config (Multus may DEL without `deviceID`, containerd with an
//! empty `CNI_NETNS`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::cni::args::CniArgs;
use crate::cni::config::Mode;
use crate::cni::env::AttachmentId;
use crate::cni::result::CniResult;
use crate::cni::types::{ContainerId, IfName, MacAddr};
use crate::netlink::VfState;

/// The Kubernetes pod an attachment belongs to, from `CNI_ARGS` (may be empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

impl From<&CniArgs> for PodRef {
    fn from(a: &CniArgs) -> Self {
        Self {
            namespace: a.pod_namespace.clone(),
            name: a.pod_name.clone(),
            uid: a.pod_uid.clone(),
        }
    }
}

/// The attachment's fast-path port (veth mode with `master`): what DEL and
/// CHECK need to find exactly its map entries and links again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatapathRecord {
    /// The uplink (`master`) whose programs serve the port.
    pub uplink: String,
    /// The bpffs pin root the uplink's directory is under.
    pub pin_root: PathBuf,
    /// The host end's ifindex: the port's key in the maps.
    pub host_ifindex: u32,
    /// Index of the port's counters and histograms.
    pub attach_id: u32,
    /// The port's random cookie, also in its `POD_CFG` entry: DEL removes
    /// the port only when both match (0 in records that predate cookies,
    /// which therefore never remove a port; the port goes once its veth is).
    #[serde(default)]
    pub cookie: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// Bumped when the layout changes incompatibly.
    pub format: u32,
    /// The network (`name` of the config): GC acts on its own network only.
    pub network: String,
    pub container_id: ContainerId,
    pub ifname: IfName,
    pub netns: Option<PathBuf>,
    pub mode: Mode,
    /// The host-side interface (the veth's host end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ifname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub pod: PodRef,
    /// IPAM ADD may have run for this attachment (set before it is called),
    /// so teardown must tell IPAM.
    pub ipam_allocated: bool,
    /// The network config ADD received, replayed to IPAM on DEL and GC.
    pub config: Box<RawValue>,
    /// The fast-path port, when the attachment has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datapath: Option<DatapathRecord>,
    /// Set once ADD has completed; a record without it is an intent record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<CniResult>,
    pub created_unix: u64,
    /// The kernel's boot id when ADD ran. A record from an earlier boot owns
    /// no kernel state (namespaces, links, VF settings and bpffs pins do
    /// not survive a reboot): releasing it only releases its IPAM lease and
    /// removes it. `None` (older records, no `/proc`): judged as this boot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// SR-IOV: the VF and its state before ADD touched it (written before the
    /// first change, so DEL can restore it whatever happened after).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vf: Option<VfRecord>,
}

/// A VF netdev's own state (kernel-driver VFs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetdevState {
    pub name: String,
    pub mac: Option<MacAddr>,
    pub mtu: Option<u32>,
    pub up: bool,
    #[serde(default)]
    pub altnames: Vec<String>,
}

/// The VF an SR-IOV attachment holds and what it looked like before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VfRecord {
    pub pci: String,
    pub pf_pci: String,
    pub pf_netdev: String,
    pub index: u32,
    #[serde(default)]
    pub driver: Option<String>,
    /// Bound to a userspace driver (vfio-pci, uio): no netdev work.
    #[serde(default)]
    pub userspace: bool,
    /// PF-side state (admin MAC, VLAN, spoofchk, trust, link state, rates).
    pub original: VfState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netdev: Option<NetdevState>,
    /// The NPWG device-info file this attachment wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_info_file: Option<PathBuf>,
}

impl Record {
    pub const FORMAT: u32 = 1;

    pub fn id(&self) -> AttachmentId {
        AttachmentId { container_id: self.container_id.clone(), ifname: self.ifname.clone() }
    }

    /// Whether the record was written before the current boot.
    pub fn from_earlier_boot(&self) -> bool {
        match (&self.boot_id, current_boot_id()) {
            (Some(recorded), Some(now)) => recorded != now,
            _ => false,
        }
    }
}

/// The kernel's id of the current boot (`/proc/sys/kernel/random/boot_id`).
pub fn current_boot_id() -> Option<&'static str> {
    static BOOT_ID: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    BOOT_ID
        .get_or_init(|| {
            let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
            Some(id.trim().to_owned()).filter(|s| !s.is_empty())
        })
        .as_deref()
}

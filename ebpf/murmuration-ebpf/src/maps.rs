//! Maps shared by all programs of the object. The loader pins each one
//! explicitly (`<pin_root>/<uplink>/<NAME>`), so the object itself carries no
//! pinning and can also be loaded unpinned (the kernel feature probe).

use aya_ebpf::{
    macros::map,
    maps::{Array, DevMapHash, HashMap, PerCpuArray},
};
use murmuration_common::{
    AttachKey, AttachValue, Counters, Histogram, NodeConfig, PodConfig, Policer, VlanMembers,
    COUNTER_SLOTS, PodIpKey, HIST_SLOTS, MAX_ATTACHMENTS, MAX_ATTACH_ENTRIES, MAX_POD_IPS, MAX_VLANS,
    SETTINGS_LEN,
};

/// (VLAN, destination MAC) -> pod attachment.
#[map]
pub static ATTACH: HashMap<AttachKey, AttachValue> =
    HashMap::with_max_entries(MAX_ATTACH_ENTRIES, 0);

/// VLAN id -> attachments on that VLAN (flood list).
#[map]
pub static VLAN_MEMBERS: HashMap<u32, VlanMembers> = HashMap::with_max_entries(MAX_VLANS, 0);

/// Host-side veth ifindex -> pod port configuration.
#[map]
pub static POD_CFG: HashMap<u32, PodConfig> = HashMap::with_max_entries(MAX_ATTACHMENTS, 0);

/// Single entry: node-wide configuration.
#[map]
pub static NODE_CFG: Array<NodeConfig> = Array::with_max_entries(1, 0);

/// Per (attachment, direction) counters.
#[map]
pub static COUNTERS: PerCpuArray<Counters> = PerCpuArray::with_max_entries(COUNTER_SLOTS, 0);

/// Per (attachment, direction, kind) latency histograms.
#[map]
pub static LATENCY: PerCpuArray<Histogram> = PerCpuArray::with_max_entries(HIST_SLOTS, 0);

/// Per (attachment, direction) rate policers (`bandwidth`); shared by all
/// CPUs.
#[map]
pub static RATE: Array<Policer> = Array::with_max_entries(COUNTER_SLOTS, 0);

/// Attachment id -> host veth ifindex: the XDP program's redirect targets
/// (an XDP redirect into a veth end delivers to its peer, the pod).
#[map]
pub static PORT_DEVS: DevMapHash = DevMapHash::with_max_entries(MAX_ATTACHMENTS, 0);

/// (host veth ifindex, address) pairs a pod may send from (`ipSpoofchk`).
#[map]
pub static POD_IPS: HashMap<PodIpKey, u8> =
    HashMap::with_max_entries(MAX_ATTACHMENTS * MAX_POD_IPS as u32, 0);

/// Run-time switches (`SETTING_*`), read once or twice per packet (an array
/// lookup with a constant key, which the verifier inlines).
#[map]
pub static SETTINGS: Array<u32> = Array::with_max_entries(SETTINGS_LEN, 0);

/// Looks up the attachment owning `key`, copied out of the map.
#[inline(always)]
pub fn lookup_attach(key: &AttachKey) -> Option<AttachValue> {
    // SAFETY: the value is copied immediately; AttachValue is plain data so
    // a concurrent update can at worst give a stale/mixed but valid value.
    unsafe { ATTACH.get(key).copied() }
}

/// Node configuration (uplink ifindex, PTP priority, clock offset).
#[inline(always)]
pub fn node_config() -> Option<NodeConfig> {
    NODE_CFG.get(0).copied()
}

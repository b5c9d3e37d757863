//! Map key/value types shared by the murmuration eBPF programs and the
//! userspace loader.
//!
//! Rules for every type in this crate:
//! * `#[repr(C)]`, only fixed-size integer fields and arrays of them
//!   (no `bool`, no enums, no references), so that any byte pattern read
//!   from a map is a valid value;
//! * explicit `_pad` fields wherever the C layout would otherwise insert
//!   padding, so that the kernel never sees uninitialised bytes in a key
//!   (hash map keys are compared byte-wise);
//! * sizes are pinned by the compile-time assertions at the bottom.
//!
//! Multi-byte integers are in host byte order unless the field name ends
//! in `_be`.
#![no_std]

/// Maximum number of attachments (pods) per uplink. Attachment ids are
/// `1..MAX_ATTACHMENTS`; id 0 is the "node" slot (traffic passed to the
/// node's own stack, misses).
pub const MAX_ATTACHMENTS: u32 = 256;
/// Capacity of the `ATTACH` map: (VLAN, MAC) entries per uplink, shared by
/// every port (an access port takes one, a trunk one per VLAN it carries).
pub const MAX_ATTACH_ENTRIES: u32 = 4096;
/// Capacity of the `VLAN_MEMBERS` map: one flood list per VLAN in use.
pub const MAX_VLANS: u32 = 4096;
/// Maximum number of attachments sharing one VLAN on one uplink
/// (bounds the flood loop in the eBPF programs).
pub const MAX_VLAN_MEMBERS: usize = 16;
/// Number of histogram buckets (log2 of nanoseconds).
pub const HIST_BUCKETS: usize = 32;

/// Traffic direction index used in counter / histogram slots.
pub const DIR_TO_POD: u32 = 0;
/// Traffic coming from the pod (towards the uplink or another local pod).
pub const DIR_FROM_POD: u32 = 1;
pub const NUM_DIRS: u32 = 2;

/// Latency histogram kinds (see NOTES.md, "Latency measurement").
/// Time spent inside the eBPF program: entry -> redirect decision.
pub const HIST_PROG: u32 = 0;
/// Kernel RX software timestamp (`skb->tstamp`, CLOCK_REALTIME) -> redirect
/// decision. Only sampled when the skb carries an RX timestamp.
pub const HIST_RX_TSTAMP: u32 = 1;
pub const NUM_HIST_KINDS: u32 = 2;

/// Drop reasons (index into [`Counters::drops`]).
pub const DROP_SPOOF: usize = 0;
pub const DROP_VLAN_NOT_ALLOWED: usize = 1;
pub const DROP_NO_ROUTE: usize = 2;
pub const DROP_HELPER_FAILED: usize = 3;
pub const DROP_MALFORMED: usize = 4;
/// IP, ARP or ND from an address IPAM did not give the pod, or a router
/// advertisement / redirect from a pod (`ipSpoofchk`).
pub const DROP_IP_SPOOF: usize = 5;
/// Over the port's configured rate (`bandwidth`): the policer in `RATE`.
pub const DROP_RATE_LIMIT: usize = 6;
pub const NUM_DROP_REASONS: usize = 8;
pub const DROP_REASON_NAMES: [&str; 7] = [
    "spoof",
    "vlan_not_allowed",
    "no_route",
    "helper_failed",
    "malformed",
    "ip_spoof",
    "rate_limit",
];

/// Ethernet/VLAN constants (host byte order).
pub const ETH_P_8021Q: u16 = 0x8100;
pub const ETH_P_8021AD: u16 = 0x88a8;
pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_IPV6: u16 = 0x86dd;
pub const ETH_P_ARP: u16 = 0x0806;
pub const ETH_P_1588: u16 = 0x88f7;
pub const PTP_EVENT_PORT: u16 = 319;
pub const PTP_GENERAL_PORT: u16 = 320;
pub const VLAN_VID_MASK: u16 = 0x0fff;

/// `AttachValue::flags`: the pod receives frames with the VLAN tag kept
/// (trunk port). Without it the tag is popped (access port).
pub const ATTACH_F_TRUNK: u32 = 1;
/// `AttachValue::flags` / `VlanMember::flags`: PTP frames from the uplink go
/// to the node's stack instead of this pod (`ptpToHost`).
pub const ATTACH_F_PTP_TO_HOST: u32 = 2;

/// Key of the `ATTACH` map: which pod owns destination MAC `mac` on VLAN
/// `vlan_id` of TPID `tpid` (802.1Q VLAN n and 802.1ad VLAN n are different
/// networks). The untagged network is VLAN 0 with TPID 0: build keys with
/// [`AttachKey::new`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AttachKey {
    pub vlan_id: u16,
    pub mac: [u8; 6],
    pub tpid: u16,
    pub _pad: [u8; 6],
}

impl AttachKey {
    #[inline(always)]
    pub const fn new(tpid: u16, vlan_id: u16, mac: [u8; 6]) -> Self {
        let vlan_id = vlan_id & VLAN_VID_MASK;
        let tpid = if vlan_id == 0 { 0 } else { tpid };
        Self { vlan_id, mac, tpid, _pad: [0; 6] }
    }
}

/// Key of the `VLAN_MEMBERS` map: TPID in the high half, VLAN id in the low
/// half; the untagged network (VLAN 0) is 0 whatever the TPID.
#[inline(always)]
pub const fn vlan_key(tpid: u16, vlan_id: u16) -> u32 {
    let vlan_id = vlan_id & VLAN_VID_MASK;
    if vlan_id == 0 { 0 } else { ((tpid as u32) << 16) | vlan_id as u32 }
}

/// Value of the `ATTACH` map.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttachValue {
    /// ifindex of the host end of the pod's veth (node namespace).
    pub host_ifindex: u32,
    /// Attachment id, `1..MAX_ATTACHMENTS`: index of counters/histograms.
    pub attach_id: u32,
    /// `ATTACH_F_*`.
    pub flags: u32,
    pub _pad: u32,
}

/// One member of a VLAN's flood list.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VlanMember {
    pub host_ifindex: u32,
    pub attach_id: u32,
    /// `ATTACH_F_*`.
    pub flags: u32,
    pub _pad: u32,
}

/// Value of the `VLAN_MEMBERS` map (key: [`vlan_key`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VlanMembers {
    /// Number of valid entries in `members` (<= MAX_VLAN_MEMBERS).
    pub count: u32,
    pub _pad: u32,
    pub members: [VlanMember; MAX_VLAN_MEMBERS],
}

/// `PodConfig::flags`: the pod port is a trunk (sends/receives tagged frames
/// for the VLANs set in `trunk_bitmap`; untagged frames use `vlan_id` as the
/// native VLAN when it is non-zero).
pub const POD_F_TRUNK: u8 = 1;
/// `PodConfig::flags`: do not enforce the source MAC (`spoofchk: "off"`).
pub const POD_F_NO_SPOOFCHK: u8 = 2;
/// `PodConfig::flags`: PTP from the uplink goes to the node's stack (`ptpToHost`).
pub const POD_F_PTP_TO_HOST: u8 = 4;
/// `PodConfig::flags`: the pod may send IPv4, ARP and IPv6 only from the
/// addresses in `POD_IPS` (IPv6 link-local and the unspecified address
/// too), and no router advertisements or redirects (`ipSpoofchk`).
pub const POD_F_IP_SPOOFCHK: u8 = 16;
/// Addresses one port may hold in `POD_IPS`.
pub const MAX_POD_IPS: usize = 8;

/// Key of the `POD_IPS` set: an address the pod on host veth `ifindex`
/// owns. IPv4 addresses are in `addr[..4]` with the rest zero.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PodIpKey {
    pub ifindex: u32,
    /// 4 or 6.
    pub family: u8,
    pub _pad: [u8; 3],
    pub addr: [u8; 16],
}

/// `PodConfig::flags`: PTP the pod sends gets `NodeConfig::ptp_priority`
/// (`ptpPriority`); other pods' UDP 319/320 keeps its priority.
pub const POD_F_PTP_PRIORITY: u8 = 8;

/// Bit of `SETTINGS[SETTING_FLAGS]`: skip forwarding counters and latency
/// samples (drops are still counted). A run-time switch for measuring what
/// counting costs; clear (= counting) by default.
pub const SETTING_F_NO_STATS: u32 = 1;
/// Index of the flags word in the `SETTINGS` array.
pub const SETTING_FLAGS: u32 = 0;
pub const SETTINGS_LEN: u32 = 1;

/// Value of the `POD_CFG` map (key: host-side veth ifindex as `u32`).
/// 536 bytes: never copy it onto the eBPF stack, read fields through the
/// map value pointer.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PodConfig {
    /// The only source MAC the pod may use.
    pub mac: [u8; 6],
    /// Access VLAN (or native VLAN for trunks); 0 = untagged.
    pub vlan_id: u16,
    /// TPID pushed on egress: 0x8100 or 0x88a8.
    pub tpid: u16,
    /// 802.1p priority code point (0..7) pushed on egress.
    pub pcp: u8,
    /// `POD_F_*`.
    pub flags: u8,
    pub attach_id: u32,
    /// Allowed VLANs of a trunk port: bit `vid % 64` of word `vid / 64`.
    pub trunk_bitmap: [u64; 64],
    /// Random, non-zero, chosen by the ADD that made the port and kept in
    /// its record: a record only ever removes the port whose cookie it
    /// holds (ifindexes and attachment ids repeat after a reboot or a new
    /// bpffs). Not read by the programs.
    pub cookie: u64,
}

impl Default for PodConfig {
    fn default() -> Self {
        Self {
            mac: [0; 6],
            vlan_id: 0,
            tpid: ETH_P_8021Q,
            pcp: 0,
            flags: 0,
            attach_id: 0,
            trunk_bitmap: [0; 64],
            cookie: 0,
        }
    }
}

impl PodConfig {
    /// Allow `vid` on a trunk port.
    pub fn allow_vlan(&mut self, vid: u16) {
        let vid = usize::from(vid & VLAN_VID_MASK);
        self.trunk_bitmap[vid / 64] |= 1u64 << (vid % 64);
    }
}

/// Value of the single-entry `NODE_CFG` array.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeConfig {
    /// ifindex of the uplink (node namespace).
    pub uplink_ifindex: u32,
    /// `skb->priority` given to PTP frames (e.g. 7).
    pub ptp_priority: u32,
    /// CLOCK_TAI - CLOCK_REALTIME in ns (whole seconds, e.g. 0 or 37e9):
    /// lets the programs turn `bpf_ktime_get_tai_ns()` into the
    /// CLOCK_REALTIME base of `skb->tstamp`.
    pub tai_offset_ns: u64,
}

/// Value of the `RATE` array (index: [`counter_index`] of the attachment
/// and direction): an EDT-style virtual-queue policer. On a frame of `len`
/// bytes: `t = max(next_ns, now)`; if `t - now > burst_ns` the frame is
/// dropped, else `next_ns = t + len * 8e9 / rate_bps` and it passes. Shared
/// by all CPUs (not per-CPU: the queue is one); a lost update between two
/// CPUs lets a frame through early, never drops one wrongly.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policer {
    /// Bits per second; 0: no limit.
    pub rate_bps: u64,
    /// The burst as time at `rate_bps`: burst bits * 1e9 / rate, ns.
    pub burst_ns: u64,
    /// When the virtual queue is empty again (CLOCK_MONOTONIC ns).
    pub next_ns: u64,
}

impl Policer {
    /// A policer for `rate_bps` bits/s with a burst of `burst_bits`; no
    /// limit when either is 0.
    pub const fn new(rate_bps: u64, burst_bits: u64) -> Self {
        if rate_bps == 0 || burst_bits == 0 {
            return Self { rate_bps: 0, burst_ns: 0, next_ns: 0 };
        }
        let ns = (burst_bits as u128) * 1_000_000_000 / (rate_bps as u128);
        let burst_ns = if ns > u64::MAX as u128 { u64::MAX } else { ns as u64 };
        Self { rate_bps, burst_ns, next_ns: 0 }
    }
}

/// Per-(attachment, direction) counters (PerCpuArray value; userspace sums
/// the CPUs).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames forwarded (unicast redirect or flood clone).
    pub packets: u64,
    /// Bytes of those frames (`skb->len` at forwarding time, L2 without
    /// FCS; an offloaded VLAN tag is not counted).
    pub bytes: u64,
    /// Of `packets`, how many were flood copies (broadcast/multicast).
    pub flood_packets: u64,
    /// Of `packets`, how many were PTP (L2 0x88F7 or UDP 319/320).
    pub ptp_packets: u64,
    pub drops: [u64; NUM_DROP_REASONS],
}

impl Counters {
    /// Element-wise sum (used to fold per-CPU values).
    pub fn add(&mut self, other: &Self) {
        self.packets += other.packets;
        self.bytes += other.bytes;
        self.flood_packets += other.flood_packets;
        self.ptp_packets += other.ptp_packets;
        for (d, o) in self.drops.iter_mut().zip(other.drops.iter()) {
            *d += *o;
        }
    }
}

/// Latency histogram: bucket `i` counts samples in `[2^i, 2^(i+1))` ns
/// (bucket 0 also holds 0 and 1 ns; the last bucket is open-ended).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Histogram {
    pub count: u64,
    pub sum_ns: u64,
    pub buckets: [u64; HIST_BUCKETS],
}

impl Default for Histogram {
    fn default() -> Self {
        Self { count: 0, sum_ns: 0, buckets: [0; HIST_BUCKETS] }
    }
}

impl Histogram {
    pub fn add(&mut self, other: &Self) {
        self.count += other.count;
        self.sum_ns += other.sum_ns;
        for (b, o) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *b += *o;
        }
    }
}

/// Index of the counter slot of `(attach_id, dir)`.
#[inline(always)]
pub const fn counter_index(attach_id: u32, dir: u32) -> u32 {
    attach_id * NUM_DIRS + dir
}

/// Index of the histogram slot of `(attach_id, dir, kind)`.
#[inline(always)]
pub const fn hist_index(attach_id: u32, dir: u32, kind: u32) -> u32 {
    (attach_id * NUM_DIRS + dir) * NUM_HIST_KINDS + kind
}

pub const COUNTER_SLOTS: u32 = MAX_ATTACHMENTS * NUM_DIRS;
pub const HIST_SLOTS: u32 = MAX_ATTACHMENTS * NUM_DIRS * NUM_HIST_KINDS;

/// Map names (as they appear in the ELF and under the pin directory).
pub mod map_names {
    pub const ATTACH: &str = "ATTACH";
    pub const VLAN_MEMBERS: &str = "VLAN_MEMBERS";
    pub const POD_CFG: &str = "POD_CFG";
    pub const NODE_CFG: &str = "NODE_CFG";
    pub const COUNTERS: &str = "COUNTERS";
    pub const LATENCY: &str = "LATENCY";
    /// DEVMAP_HASH attachment id -> host veth ifindex (XDP redirect targets).
    pub const PORT_DEVS: &str = "PORT_DEVS";
    /// Array of u32 run-time switches (`SETTING_*`).
    pub const SETTINGS: &str = "SETTINGS";
    /// Set of (host veth ifindex, address) a pod may send from (`ipSpoofchk`).
    pub const POD_IPS: &str = "POD_IPS";
    /// Array of [`super::Policer`] per (attachment, direction) (`bandwidth`).
    pub const RATE: &str = "RATE";
}

/// Program names (function names in the eBPF crate).
pub mod prog_names {
    pub const UPLINK_INGRESS: &str = "uplink_ingress";
    pub const POD_EGRESS: &str = "pod_egress";
    /// The XDP variant of `uplink_ingress` (`uplinkXdp`).
    pub const UPLINK_XDP: &str = "uplink_xdp";
}

// Layout is part of the kernel ABI of the maps: pin it.
const _: () = {
    use core::mem::size_of;
    assert!(size_of::<AttachKey>() == 16);
    assert!(size_of::<AttachValue>() == 16);
    assert!(size_of::<VlanMember>() == 16);
    assert!(size_of::<VlanMembers>() == 8 + 16 * MAX_VLAN_MEMBERS);
    assert!(size_of::<PodConfig>() == 16 + 512 + 8);
    assert!(size_of::<NodeConfig>() == 16);
    assert!(size_of::<PodIpKey>() == 24);
    assert!(size_of::<Counters>() == 8 * (4 + NUM_DROP_REASONS));
    assert!(size_of::<Histogram>() == 8 * (2 + HIST_BUCKETS));
    assert!(size_of::<Policer>() == 24);
};

#[cfg(feature = "user")]
mod pod_impls {
    use super::*;
    // Every type below is `#[repr(C)]`, `Copy`, made of integers and integer
    // arrays only, with explicit padding fields: any byte pattern is a valid
    // value and there are no implicit padding bytes.

    // SAFETY: see above.
    unsafe impl aya::Pod for AttachKey {}
    // SAFETY: see above.
    unsafe impl aya::Pod for AttachValue {}
    // SAFETY: see above.
    unsafe impl aya::Pod for VlanMember {}
    // SAFETY: see above.
    unsafe impl aya::Pod for VlanMembers {}
    // SAFETY: see above.
    unsafe impl aya::Pod for PodConfig {}
    // SAFETY: see above.
    unsafe impl aya::Pod for NodeConfig {}
    // SAFETY: see above.
    unsafe impl aya::Pod for PodIpKey {}
    // SAFETY: see above.
    unsafe impl aya::Pod for Counters {}
    // SAFETY: see above.
    unsafe impl aya::Pod for Histogram {}
    // SAFETY: see above.
    unsafe impl aya::Pod for Policer {}
}

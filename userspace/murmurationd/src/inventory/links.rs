//! Links as the daemon sees them, read with one rtnetlink dump (VF info
//! included) and decoded into plain values the status page and metrics use.

use murmuration_core::netlink::{Netlink, NetlinkError};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{
    InfoData, InfoVlan, LinkAttribute, LinkExtentMask, LinkFlags, LinkInfo, LinkMessage,
    LinkVfInfo, LinkXdp, VfInfo, VfLinkState, VfStats, VlanProtocol,
};
use serde::Serialize;

/// Interface counters (the kernel's 64-bit link statistics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
}

/// A VF as its PF reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VfState {
    pub vf: u32,
    pub mac: String,
    pub vlan: u32,
    pub qos: u32,
    pub spoofchk: Option<bool>,
    pub trust: Option<bool>,
    pub link_state: Option<String>,
    pub stats: Counters,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LinkView {
    pub index: u32,
    pub name: String,
    /// `veth`, `vlan`, `bridge`...; `None` for physical devices.
    pub kind: Option<String>,
    pub admin_up: bool,
    pub oper_state: String,
    pub mtu: Option<u32>,
    pub mac: Option<String>,
    /// The lower device (VLAN parent, veth peer index in its namespace).
    pub link: Option<u32>,
    pub vlan_id: Option<u16>,
    /// `802.1q` or `802.1ad` (a VLAN's protocol, as the plugin's config spells it).
    pub vlan_proto: Option<String>,
    /// XDP program attached to the link.
    pub xdp_prog_id: Option<u32>,
    pub num_vfs: Option<u32>,
    pub vfs: Vec<VfState>,
    pub stats: Counters,
}

impl LinkView {
    /// Links whose counters are exported per link: physical devices, PFs and
    /// VLANs (bounded by the node's hardware), not per-pod veth ends.
    pub fn is_infrastructure(&self) -> bool {
        self.name != "lo" && matches!(self.kind.as_deref(), None | Some("vlan"))
    }
}

fn mac_string(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":")
}

pub fn decode(m: &LinkMessage) -> LinkView {
    let mut v = LinkView {
        index: m.header.index,
        admin_up: m.header.flags.contains(LinkFlags::Up),
        ..LinkView::default()
    };
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => v.name.clone_from(n),
            LinkAttribute::Mtu(x) => v.mtu = Some(*x),
            LinkAttribute::Address(b) => v.mac = Some(mac_string(b)),
            LinkAttribute::Link(x) => v.link = Some(*x),
            LinkAttribute::OperState(s) => v.oper_state = s.to_string(),
            LinkAttribute::NumVf(n) => v.num_vfs = Some(*n),
            LinkAttribute::Stats64(s) => {
                v.stats = Counters {
                    rx_packets: s.rx_packets,
                    tx_packets: s.tx_packets,
                    rx_bytes: s.rx_bytes,
                    tx_bytes: s.tx_bytes,
                    rx_dropped: s.rx_dropped,
                    tx_dropped: s.tx_dropped,
                    rx_errors: s.rx_errors,
                    tx_errors: s.tx_errors,
                };
            }
            LinkAttribute::LinkInfo(infos) => decode_info(infos, &mut v),
            LinkAttribute::Xdp(x) => {
                v.xdp_prog_id = x.iter().find_map(|e| match e {
                    LinkXdp::ProgId(id) if *id != 0 => Some(*id),
                    _ => None,
                });
            }
            LinkAttribute::VfInfoList(list) => v.vfs = list.iter().map(decode_vf).collect(),
            _ => {}
        }
    }
    v
}

fn decode_info(infos: &[LinkInfo], v: &mut LinkView) {
    for i in infos {
        match i {
            LinkInfo::Kind(k) => v.kind = Some(k.to_string()),
            LinkInfo::Data(InfoData::Vlan(d)) => {
                for x in d {
                    match x {
                        InfoVlan::Id(id) => v.vlan_id = Some(*id),
                        InfoVlan::Protocol(p) => v.vlan_proto = Some(vlan_proto_name(*p).into()),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

fn vlan_proto_name(p: VlanProtocol) -> &'static str {
    match p {
        VlanProtocol::Ieee8021Q => "802.1q",
        VlanProtocol::Ieee8021Ad => "802.1ad",
        _ => "other",
    }
}

fn decode_vf(info: &LinkVfInfo) -> VfState {
    let mut vf = VfState::default();
    for a in &info.0 {
        match a {
            VfInfo::Mac(m) => {
                vf.vf = m.vf_id;
                vf.mac = mac_string(&m.mac[..6]);
            }
            VfInfo::Vlan(x) => (vf.vlan, vf.qos) = (x.vlan_id, x.qos),
            VfInfo::SpoofCheck(x) => vf.spoofchk = Some(x.enabled),
            VfInfo::Trust(x) => vf.trust = Some(x.enabled),
            VfInfo::LinkState(x) => {
                vf.link_state = Some(
                    match x.state {
                        VfLinkState::Auto => "auto",
                        VfLinkState::Enable => "enable",
                        VfLinkState::Disable => "disable",
                        _ => "other",
                    }
                    .to_owned(),
                );
            }
            VfInfo::Stats(stats) => decode_vf_stats(stats, &mut vf.stats),
            _ => {}
        }
    }
    vf
}

fn decode_vf_stats(stats: &[VfStats], c: &mut Counters) {
    for s in stats {
        match s {
            VfStats::RxPackets(x) => c.rx_packets = *x,
            VfStats::TxPackets(x) => c.tx_packets = *x,
            VfStats::RxBytes(x) => c.rx_bytes = *x,
            VfStats::TxBytes(x) => c.tx_bytes = *x,
            VfStats::RxDropped(x) => c.rx_dropped = *x,
            VfStats::TxDropped(x) => c.tx_dropped = *x,
            _ => {}
        }
    }
}

/// Dumps every link of the socket's namespace, with VF information.
pub fn dump(nl: &mut Netlink) -> Result<Vec<LinkView>, NetlinkError> {
    let mut req = LinkMessage::default();
    req.attributes.push(LinkAttribute::ExtMask(vec![LinkExtentMask::Vf]));
    let replies = nl.get("dump links", RouteNetlinkMessage::GetLink(req), true)?;
    Ok(replies
        .iter()
        .filter_map(|r| match r {
            RouteNetlinkMessage::NewLink(l) => Some(decode(l)),
            _ => None,
        })
        .collect())
}

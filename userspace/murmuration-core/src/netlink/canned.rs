//! Readable summaries of recorded requests and canned kernel replies, for
//! the request-level unit tests of the code that uses [`Netlink`](super::Netlink).

use netlink_packet_core::{NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVlan, LinkAttribute, LinkFlags, LinkInfo as NlLinkInfo, LinkMessage,
    LinkVfInfo, Prop, VfInfo, VfInfoLinkState, VfInfoMac, VfInfoRate, VfInfoSpoofCheck,
    VfInfoTrust, VfInfoVlan, VfLinkState, VfVlan,
};

use super::recorder::Reply;
use crate::cni::types::MacAddr;

/// A link as the kernel reports it to a GET.
pub(crate) fn link(index: u32, name: &str, mac: MacAddr, mtu: u32, altnames: &[&str]) -> Reply {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.attributes.push(LinkAttribute::IfName(name.to_owned()));
    m.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
    m.attributes.push(LinkAttribute::Mtu(mtu));
    let props = altnames.iter().map(|a| Prop::AltIfName((*a).to_owned())).collect();
    m.attributes.push(LinkAttribute::PropList(props));
    Reply::Messages(vec![RouteNetlinkMessage::NewLink(m)])
}

/// A PF (index `pf`) whose VF table holds VF `vf` in state `s`.
pub(crate) fn pf_with_vf(pf: u32, vf: u32, s: &crate::netlink::VfState) -> Reply {
    let mac = s.mac.unwrap_or(MacAddr([0; 6]));
    let mut infos = vec![
        VfInfo::Mac(VfInfoMac::new(vf, &mac.0)),
        VfInfo::Vlan(VfInfoVlan::new(vf, u32::from(s.vlan), u32::from(s.qos))),
        VfInfo::Rate(VfInfoRate::new(vf, s.min_tx_rate, s.max_tx_rate)),
    ];
    infos.extend(s.spoofchk.map(|on| VfInfo::SpoofCheck(VfInfoSpoofCheck::new(vf, on))));
    infos.extend(s.trust.map(|on| VfInfo::Trust(VfInfoTrust::new(vf, on))));
    infos.extend(s.link_state.map(|l| {
        let l = match l {
            crate::cni::config::LinkState::Auto => VfLinkState::Auto,
            crate::cni::config::LinkState::Enable => VfLinkState::Enable,
            crate::cni::config::LinkState::Disable => VfLinkState::Disable,
        };
        VfInfo::LinkState(VfInfoLinkState::new(vf, l))
    }));
    let mut m = LinkMessage::default();
    m.header.index = pf;
    m.attributes.push(LinkAttribute::VfInfoList(vec![LinkVfInfo(infos)]));
    Reply::Messages(vec![RouteNetlinkMessage::NewLink(m)])
}

/// One line per request: what it asks, in the words of `ip link`, with
/// the netlink flags beyond `NLM_F_REQUEST` (`ack`, `dump`, `create|excl`).
pub(crate) fn summary(h: &NetlinkHeader, msg: &RouteNetlinkMessage) -> String {
    let words = match msg {
        RouteNetlinkMessage::GetLink(m) => format!("get {}{}", target(m), attrs(m)),
        RouteNetlinkMessage::SetLink(m) => format!("set {}{}", target(m), attrs(m)),
        RouteNetlinkMessage::NewLink(m) => format!("new {}{}", target(m), attrs(m)),
        RouteNetlinkMessage::DelLink(m) => format!("del {}", target(m)),
        RouteNetlinkMessage::NewLinkProp(m) => format!("prop add {}{}", target(m), attrs(m)),
        RouteNetlinkMessage::DelLinkProp(m) => format!("prop del {}{}", target(m), attrs(m)),
        other => format!("{other:?}"),
    };
    format!("{words}{}", flags(h.flags))
}

fn flags(f: u16) -> String {
    let mut out = String::new();
    assert_eq!(f & NLM_F_REQUEST, NLM_F_REQUEST, "every request has NLM_F_REQUEST");
    for (bit, name) in [(NLM_F_ACK, "ack"), (0x400, "create"), (0x200, "excl")] {
        if f & NLM_F_DUMP != NLM_F_DUMP && f & bit == bit {
            out.push_str(if out.is_empty() { " [" } else { "|" });
            out.push_str(name);
        }
    }
    if f & NLM_F_DUMP == NLM_F_DUMP {
        out.push_str(" [dump");
    }
    if !out.is_empty() {
        out.push(']');
    }
    out
}

fn target(m: &LinkMessage) -> String {
    let name = m.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) if m.header.index == 0 => Some(n.clone()),
        _ => None,
    });
    name.unwrap_or_else(|| format!("#{}", m.header.index))
}

fn attrs(m: &LinkMessage) -> String {
    let mut out = String::new();
    if m.header.change_mask.contains(LinkFlags::Up) {
        out += if m.header.flags.contains(LinkFlags::Up) { " up" } else { " down" };
    }
    for a in &m.attributes {
        out += &match a {
            LinkAttribute::IfName(n) if m.header.index != 0 => format!(" name {n}"),
            LinkAttribute::IfName(_) => String::new(),
            LinkAttribute::Address(b) => format!(" address {}", mac_text(b)),
            LinkAttribute::Mtu(v) => format!(" mtu {v}"),
            LinkAttribute::Link(i) => format!(" link #{i}"),
            LinkAttribute::NetNsFd(_) => " netns <fd>".to_owned(),
            LinkAttribute::PropList(p) => p.iter().map(|p| format!(" {p:?}")).collect(),
            LinkAttribute::ExtMask(_) => " ext-mask vf".to_owned(),
            LinkAttribute::VfInfoList(list) => list.iter().flat_map(|l| &l.0).map(vf).collect(),
            LinkAttribute::LinkInfo(info) => info.iter().map(link_info).collect(),
            other => format!(" {other:?}"),
        };
    }
    out
}

fn mac_text(b: &[u8]) -> String {
    MacAddr::from_slice(b).map_or_else(|| format!("{b:?}"), |m| m.to_string())
}

fn vf(i: &VfInfo) -> String {
    match i {
        VfInfo::Mac(m) => format!(" vf {} mac {}", m.vf_id, mac_text(&m.mac[..6])),
        VfInfo::Vlan(v) => format!(" vf {} vlan {} qos {}", v.vf_id, v.vlan_id, v.qos),
        VfInfo::VlanList(l) => l
            .iter()
            .map(|v| match v {
                VfVlan::Info(v) => format!(
                    " vf {} vlan {} qos {} proto {:?}",
                    v.vf_id, v.vlan_id, v.qos, v.protocol
                ),
                other => format!(" {other:?}"),
            })
            .collect(),
        VfInfo::SpoofCheck(v) => format!(" vf {} spoofchk {}", v.vf_id, on_off(v.enabled)),
        VfInfo::Trust(v) => format!(" vf {} trust {}", v.vf_id, on_off(v.enabled)),
        VfInfo::LinkState(v) => format!(" vf {} state {:?}", v.vf_id, v.state),
        VfInfo::Rate(r) => {
            format!(" vf {} min_tx_rate {} max_tx_rate {}", r.vf_id, r.min_tx_rate, r.max_tx_rate)
        }
        other => format!(" {other:?}"),
    }
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

fn link_info(i: &NlLinkInfo) -> String {
    match i {
        NlLinkInfo::Kind(InfoKind::Vlan) => " type vlan".to_owned(),
        NlLinkInfo::Kind(InfoKind::Veth) => " type veth".to_owned(),
        NlLinkInfo::Data(InfoData::Vlan(v)) => v
            .iter()
            .map(|v| match v {
                InfoVlan::Id(id) => format!(" id {id}"),
                InfoVlan::Protocol(p) => format!(" protocol {p:?}"),
                other => format!(" {other:?}"),
            })
            .collect(),
        NlLinkInfo::Data(InfoData::Veth(netlink_packet_route::link::InfoVeth::Peer(p))) => {
            format!(" peer {{ {}{} }}", target(p), attrs(p))
        }
        other => format!(" {other:?}"),
    }
}

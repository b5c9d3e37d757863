//! SR-IOV VF properties, read and written through the PF (`IFLA_VFINFO_LIST`).

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{
    LinkAttribute, LinkExtentMask, LinkMessage, LinkVfInfo, VfInfo, VfInfoLinkState, VfInfoMac,
    VfInfoRate, VfInfoSpoofCheck, VfInfoTrust, VfInfoVlan, VfLinkState, VfVlan, VfVlanInfo,
    VlanProtocol,
};
use serde::{Deserialize, Serialize};

use super::{Netlink, NetlinkError, Request, Transport};
use crate::cni::config::LinkState;
use crate::cni::types::MacAddr;
use crate::cni::types::VlanProto;

/// One VF's PF-side state, as the PF reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VfState {
    /// The administrative MAC (`00:00:00:00:00:00` when none is set).
    pub mac: Option<MacAddr>,
    pub vlan: u16,
    pub qos: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proto: Option<VlanProto>,
    pub spoofchk: Option<bool>,
    pub trust: Option<bool>,
    pub link_state: Option<LinkState>,
    pub min_tx_rate: u32,
    pub max_tx_rate: u32,
}

/// A change to one VF property (one request each, so a refusal names its property).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VfChange {
    Mac(MacAddr),
    Vlan { vlan: u16, qos: u8, proto: Option<VlanProto> },
    SpoofCheck(bool),
    Trust(bool),
    LinkState(LinkState),
    Rate { min: u32, max: u32 },
}

impl VfChange {
    fn op(&self) -> &'static str {
        match self {
            Self::Mac(_) => "set VF MAC",
            Self::Vlan { .. } => "set VF VLAN",
            Self::SpoofCheck(_) => "set VF spoofchk",
            Self::Trust(_) => "set VF trust",
            Self::LinkState(_) => "set VF link state",
            Self::Rate { .. } => "set VF tx rate",
        }
    }

    fn info(&self, vf: u32) -> VfInfo {
        match *self {
            Self::Mac(mac) => VfInfo::Mac(VfInfoMac::new(vf, &mac.0)),
            // 802.1ad needs the VLAN list attribute; plain 802.1Q works on every driver.
            Self::Vlan { vlan, qos, proto: Some(VlanProto::Dot1Ad) } => {
                VfInfo::VlanList(vec![VfVlan::Info(VfVlanInfo::new(
                    vf,
                    u32::from(vlan),
                    u32::from(qos),
                    VlanProtocol::Ieee8021Ad,
                ))])
            }
            Self::Vlan { vlan, qos, .. } => {
                VfInfo::Vlan(VfInfoVlan::new(vf, u32::from(vlan), u32::from(qos)))
            }
            Self::SpoofCheck(on) => VfInfo::SpoofCheck(VfInfoSpoofCheck::new(vf, on)),
            Self::Trust(on) => VfInfo::Trust(VfInfoTrust::new(vf, on)),
            Self::LinkState(s) => VfInfo::LinkState(VfInfoLinkState::new(vf, link_state_to_nl(s))),
            Self::Rate { min, max } => VfInfo::Rate(VfInfoRate::new(vf, min, max)),
        }
    }

    /// The request that applies this change to VF `vf` of the PF with index `pf`.
    pub fn request(&self, pf: u32, vf: u32) -> Request {
        let mut m = LinkMessage::default();
        m.header.index = pf;
        m.attributes.push(LinkAttribute::VfInfoList(vec![LinkVfInfo(vec![self.info(vf)])]));
        Request { op: self.op(), msg: RouteNetlinkMessage::SetLink(m), flags: 0 }
    }
}

fn link_state_to_nl(s: LinkState) -> VfLinkState {
    match s {
        LinkState::Auto => VfLinkState::Auto,
        LinkState::Enable => VfLinkState::Enable,
        LinkState::Disable => VfLinkState::Disable,
    }
}

fn link_state_from_nl(s: VfLinkState) -> Option<LinkState> {
    match s {
        VfLinkState::Auto => Some(LinkState::Auto),
        VfLinkState::Enable => Some(LinkState::Enable),
        VfLinkState::Disable => Some(LinkState::Disable),
        _ => None,
    }
}

/// The state of VF `vf` from a PF's `IFLA_VFINFO_LIST`; `None` if absent.
pub fn vf_state_from(attrs: &[LinkAttribute], vf: u32) -> Option<VfState> {
    let list = attrs.iter().find_map(|a| match a {
        LinkAttribute::VfInfoList(l) => Some(l),
        _ => None,
    })?;
    let infos = list.iter().find(|LinkVfInfo(infos)| {
        infos.iter().any(|i| matches!(i, VfInfo::Mac(m) if m.vf_id == vf))
    })?;
    let mut s = VfState::default();
    for info in &infos.0 {
        apply_info(&mut s, info);
    }
    Some(s)
}

fn apply_info(s: &mut VfState, info: &VfInfo) {
    match info {
        VfInfo::Mac(m) => s.mac = MacAddr::from_slice(&m.mac[..6]),
        VfInfo::Vlan(v) => {
            s.vlan = u16::try_from(v.vlan_id).unwrap_or_default();
            s.qos = u8::try_from(v.qos).unwrap_or_default();
        }
        VfInfo::VlanList(list) => {
            if let Some(VfVlan::Info(v)) = list.first() {
                s.proto = Some(match v.protocol {
                    VlanProtocol::Ieee8021Ad => VlanProto::Dot1Ad,
                    _ => VlanProto::Dot1Q,
                });
            }
        }
        VfInfo::SpoofCheck(v) => s.spoofchk = Some(v.enabled),
        VfInfo::Trust(v) => s.trust = Some(v.enabled),
        VfInfo::LinkState(v) => s.link_state = link_state_from_nl(v.state),
        VfInfo::Rate(r) => (s.min_tx_rate, s.max_tx_rate) = (r.min_tx_rate, r.max_tx_rate),
        _ => {}
    }
}

impl<T: Transport> Netlink<T> {
    /// Reads VF `vf`'s state from the PF with index `pf`.
    pub fn vf_state(&mut self, pf: u32, vf: u32) -> Result<Option<VfState>, NetlinkError> {
        let mut m = LinkMessage::default();
        m.header.index = pf;
        m.attributes.push(LinkAttribute::ExtMask(vec![LinkExtentMask::Vf]));
        let replies = self.get("get PF VF table", RouteNetlinkMessage::GetLink(m), false)?;
        Ok(replies.iter().find_map(|r| match r {
            RouteNetlinkMessage::NewLink(l) => vf_state_from(&l.attributes, vf),
            _ => None,
        }))
    }

    /// Applies `changes` to VF `vf` of PF `pf`, in order, one request each.
    pub fn set_vf(&mut self, pf: u32, vf: u32, changes: &[VfChange]) -> Result<(), NetlinkError> {
        for change in changes {
            self.execute(change.request(pf, vf))?;
        }
        Ok(())
    }
}

//! Changing existing links: namespace moves, names, MAC, MTU, up/down,
//! altnames, and 802.1Q/802.1ad subinterfaces.

use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVlan, LinkAttribute, LinkFlags, LinkInfo as NlLinkInfo, LinkMessage,
    Prop, VlanProtocol,
};

use super::link::LinkInfo;
use super::{Netlink, NetlinkError, Request, Transport};
use crate::cni::types::MacAddr;
use crate::cni::types::VlanProto;

/// An 802.1Q/802.1ad subinterface of `master`, created directly in `netns`.
#[derive(Debug)]
pub struct VlanSpec<'a> {
    pub name: &'a str,
    pub master: u32,
    pub vlan: u16,
    pub proto: VlanProto,
    pub netns: BorrowedFd<'a>,
    pub mtu: Option<u32>,
    pub mac: Option<MacAddr>,
}

fn set(index: u32, op: &'static str, attrs: Vec<LinkAttribute>) -> Request {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.attributes = attrs;
    Request { op, msg: RouteNetlinkMessage::SetLink(m), flags: 0 }
}

fn prop(index: u32, name: &str, add: bool) -> Request {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.attributes.push(LinkAttribute::PropList(vec![Prop::AltIfName(name.to_owned())]));
    if add {
        Request { op: "add altname", msg: RouteNetlinkMessage::NewLinkProp(m), flags: 0 }
    } else {
        Request { op: "delete altname", msg: RouteNetlinkMessage::DelLinkProp(m), flags: 0 }
    }
}

impl<T: Transport> Netlink<T> {
    /// Looks a link up by index; `None` when there is none.
    pub fn link_by_index(&mut self, index: u32) -> Result<Option<LinkInfo>, NetlinkError> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        self.get_link(m)
    }

    /// Every link of this namespace.
    pub fn links(&mut self) -> Result<Vec<LinkInfo>, NetlinkError> {
        let replies =
            self.get("dump links", RouteNetlinkMessage::GetLink(LinkMessage::default()), true)?;
        Ok(replies
            .iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(LinkInfo::from_message(l)),
                _ => None,
            })
            .collect())
    }

    /// Moves link `index` into the namespace `netns`, renaming it on the way
    /// when `name` is given (one request: no clash with the target's names).
    pub fn move_link(
        &mut self,
        index: u32,
        netns: BorrowedFd<'_>,
        name: Option<&str>,
    ) -> Result<(), NetlinkError> {
        let mut attrs = vec![LinkAttribute::NetNsFd(netns.as_raw_fd())];
        if let Some(name) = name {
            attrs.push(LinkAttribute::IfName(name.to_owned()));
        }
        self.execute(set(index, "move link to namespace", attrs))
    }

    pub fn rename(&mut self, index: u32, name: &str) -> Result<(), NetlinkError> {
        self.execute(set(index, "rename link", vec![LinkAttribute::IfName(name.to_owned())]))
    }

    pub fn set_mac(&mut self, index: u32, mac: MacAddr) -> Result<(), NetlinkError> {
        self.execute(set(index, "set link MAC", vec![LinkAttribute::Address(mac.0.to_vec())]))
    }

    /// Sets a VF netdev's MAC to the one its PF assigned. Some VF drivers
    /// (igbvf) refuse to set it themselves and only take the PF's address at
    /// their next reset, which bringing the link down performs: then the link
    /// is cycled and the MAC polled until it shows (deadline, no fixed sleep).
    pub fn set_vf_netdev_mac(&mut self, index: u32, mac: MacAddr) -> Result<(), NetlinkError> {
        match self.set_mac(index, mac) {
            Err(e) if e.is_addr_not_avail() => {}
            other => return other,
        }
        self.set_up(index, true)?;
        self.set_up(index, false)?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            if self.link_by_index(index)?.is_some_and(|l| l.mac == Some(mac)) {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                return self.set_mac(index, mac);
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    pub fn set_mtu(&mut self, index: u32, mtu: u32) -> Result<(), NetlinkError> {
        self.execute(set(index, "set link MTU", vec![LinkAttribute::Mtu(mtu)]))
    }

    pub fn set_up(&mut self, index: u32, up: bool) -> Result<(), NetlinkError> {
        let mut m = super::link::up_message(index);
        if !up {
            m.header.flags = LinkFlags::empty();
        }
        self.execute(Request {
            op: "set link up/down",
            msg: RouteNetlinkMessage::SetLink(m),
            flags: 0,
        })
    }

    pub fn add_altname(&mut self, index: u32, name: &str) -> Result<(), NetlinkError> {
        self.execute(prop(index, name, true))
    }

    pub fn del_altname(&mut self, index: u32, name: &str) -> Result<(), NetlinkError> {
        self.execute(prop(index, name, false))
    }

    /// Creates a VLAN subinterface of `spec.master` (in this namespace) whose
    /// new link appears directly in `spec.netns` under `spec.name`.
    pub fn create_vlan(&mut self, spec: &VlanSpec<'_>) -> Result<(), NetlinkError> {
        let proto = match spec.proto {
            VlanProto::Dot1Q => VlanProtocol::Ieee8021Q,
            VlanProto::Dot1Ad => VlanProtocol::Ieee8021Ad,
        };
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(spec.name.to_owned()));
        m.attributes.push(LinkAttribute::Link(spec.master));
        m.attributes.push(LinkAttribute::NetNsFd(spec.netns.as_raw_fd()));
        if let Some(mtu) = spec.mtu {
            m.attributes.push(LinkAttribute::Mtu(mtu));
        }
        if let Some(mac) = spec.mac {
            m.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
        }
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            NlLinkInfo::Kind(InfoKind::Vlan),
            NlLinkInfo::Data(InfoData::Vlan(vec![
                InfoVlan::Id(spec.vlan),
                InfoVlan::Protocol(proto),
            ])),
        ]));
        self.execute(Request {
            op: "create vlan link",
            msg: RouteNetlinkMessage::NewLink(m),
            flags: NLM_F_CREATE | NLM_F_EXCL,
        })
    }
}

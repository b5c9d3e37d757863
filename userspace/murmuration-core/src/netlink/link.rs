//! Links: lookup, veth creation with the peer placed in another namespace, deletion.

use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo as NlLinkInfo, LinkMessage,
    Prop,
};

use super::{Netlink, NetlinkError, Request, Transport};
use crate::cni::types::MacAddr;

/// What we read back about a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub index: u32,
    pub name: String,
    pub mac: Option<MacAddr>,
    pub mtu: Option<u32>,
    pub up: bool,
    /// Alternative names (`IFLA_PROP_LIST`).
    pub altnames: Vec<String>,
    /// The parent device (a PCI address for a VF or a NIC).
    pub parent_dev: Option<String>,
}

impl LinkInfo {
    /// Reads an `RTM_NEWLINK` reply.
    pub fn from_message(m: &LinkMessage) -> Self {
        let mut info = LinkInfo {
            index: m.header.index,
            name: String::new(),
            mac: None,
            mtu: None,
            up: m.header.flags.contains(LinkFlags::Up),
            altnames: Vec::new(),
            parent_dev: None,
        };
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => info.name.clone_from(n),
                LinkAttribute::Address(b) => info.mac = MacAddr::from_slice(b),
                LinkAttribute::Mtu(v) => info.mtu = Some(*v),
                LinkAttribute::ParentDevName(p) => info.parent_dev = Some(p.clone()),
                LinkAttribute::PropList(props) => {
                    info.altnames = props
                        .iter()
                        .filter_map(|p| match p {
                            Prop::AltIfName(n) => Some(n.clone()),
                            _ => None,
                        })
                        .collect();
                }
                _ => {}
            }
        }
        info
    }
}

/// A veth pair: the host end stays here, the peer is created directly in
/// `peer_ns` under its final name, so it never appears in the host namespace.
#[derive(Debug)]
pub struct VethSpec<'a> {
    pub host_name: &'a str,
    pub peer_name: &'a str,
    pub peer_ns: BorrowedFd<'a>,
    pub peer_mac: Option<MacAddr>,
    pub mtu: Option<u32>,
}

pub(super) fn up_message(index: u32) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.header.flags = LinkFlags::Up;
    m.header.change_mask = LinkFlags::Up;
    m
}

/// Sets link `index` administratively up (batchable).
pub fn link_up_request(index: u32) -> Request {
    Request { op: "set link up", msg: RouteNetlinkMessage::SetLink(up_message(index)), flags: 0 }
}

impl<T: Transport> Netlink<T> {
    /// Looks a link up by name; `None` when there is none.
    pub fn link_by_name(&mut self, name: &str) -> Result<Option<LinkInfo>, NetlinkError> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_owned()));
        self.get_link(m)
    }

    /// One RTM_GETLINK for the link `m` names (by index or by name); `None`
    /// when the kernel has no such link.
    pub(super) fn get_link(&mut self, m: LinkMessage) -> Result<Option<LinkInfo>, NetlinkError> {
        match self.get("get link", RouteNetlinkMessage::GetLink(m), false) {
            Ok(replies) => Ok(replies.iter().find_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(LinkInfo::from_message(l)),
                _ => None,
            })),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a veth pair with the host end administratively up. The peer is
    /// left down: the kernel cannot open it before the pair is linked
    /// (`ENOTCONN`); [`link_up_request`] brings it up afterwards.
    pub fn create_veth(&mut self, spec: &VethSpec<'_>) -> Result<(), NetlinkError> {
        let mut peer = LinkMessage::default();
        peer.attributes.push(LinkAttribute::IfName(spec.peer_name.to_owned()));
        peer.attributes.push(LinkAttribute::NetNsFd(spec.peer_ns.as_raw_fd()));
        if let Some(mac) = spec.peer_mac {
            peer.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
        }
        let mut host = up_message(0);
        host.attributes.push(LinkAttribute::IfName(spec.host_name.to_owned()));
        if let Some(mtu) = spec.mtu {
            peer.attributes.push(LinkAttribute::Mtu(mtu));
            host.attributes.push(LinkAttribute::Mtu(mtu));
        }
        host.attributes.push(LinkAttribute::LinkInfo(vec![
            NlLinkInfo::Kind(InfoKind::Veth),
            NlLinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]));
        self.execute(Request {
            op: "create veth pair",
            msg: RouteNetlinkMessage::NewLink(host),
            flags: NLM_F_CREATE | NLM_F_EXCL,
        })
    }

    /// Deletes a link by name. Returns `false` when it was already gone.
    pub fn delete_link(&mut self, name: &str) -> Result<bool, NetlinkError> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_owned()));
        let req = Request { op: "delete link", msg: RouteNetlinkMessage::DelLink(m), flags: 0 };
        match self.execute(req) {
            Ok(()) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }
}

//! Addresses and routes.

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use netlink_packet_core::{NLM_F_APPEND, NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteMetric, RouteProtocol,
    RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::{Netlink, NetlinkError, Request, Transport};
use crate::cni::result::Route;

fn family(ip: IpAddr) -> AddressFamily {
    if ip.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 }
}

fn route_addr(ip: IpAddr) -> RouteAddress {
    match ip {
        IpAddr::V4(a) => RouteAddress::Inet(a),
        IpAddr::V6(a) => RouteAddress::Inet6(a),
    }
}

/// Adds `addr` to link `index`. IPv6 addresses skip DAD: the address was
/// leased to this pod by IPAM, and DAD would hold it tentative for seconds.
pub fn address_request(index: u32, addr: IpNetwork) -> Request {
    let mut m = AddressMessage::default();
    m.header.family = family(addr.ip());
    m.header.prefix_len = addr.prefix();
    m.header.index = index;
    m.attributes.push(AddressAttribute::Local(addr.ip()));
    if addr.is_ipv6() {
        m.header.flags = AddressHeaderFlags::Nodad;
        m.attributes.push(AddressAttribute::Flags(AddressFlags::Nodad));
    } else {
        m.attributes.push(AddressAttribute::Address(addr.ip()));
    }
    Request {
        op: "add address",
        msg: RouteNetlinkMessage::NewAddress(m),
        flags: NLM_F_CREATE | NLM_F_EXCL,
    }
}

/// Builds the route `r` out of link `oif`; a route without a gateway is on-link.
pub fn route_message(oif: u32, r: &Route, gw: Option<IpAddr>) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = family(r.dst.ip());
    m.header.destination_prefix_length = r.dst.prefix();
    m.header.protocol = RouteProtocol::Boot;
    m.header.kind = RouteType::Unicast;
    m.header.table = RouteHeader::RT_TABLE_MAIN;
    m.header.scope = match (r.scope, gw) {
        (Some(s), _) => RouteScope::from(s),
        (None, Some(_)) => RouteScope::Universe,
        (None, None) => RouteScope::Link,
    };
    if r.dst.prefix() > 0 {
        m.attributes.push(RouteAttribute::Destination(route_addr(r.dst.network())));
    }
    if let Some(gw) = gw {
        m.attributes.push(RouteAttribute::Gateway(route_addr(gw)));
    }
    m.attributes.push(RouteAttribute::Oif(oif));
    if let Some(t) = r.table {
        m.attributes.push(RouteAttribute::Table(t));
    }
    if let Some(p) = r.priority {
        m.attributes.push(RouteAttribute::Priority(p));
    }
    let metrics: Vec<RouteMetric> =
        [r.mtu.map(RouteMetric::Mtu), r.advmss.map(RouteMetric::Advmss)]
            .into_iter()
            .flatten()
            .collect();
    if !metrics.is_empty() {
        m.attributes.push(RouteAttribute::Metrics(metrics));
    }
    m
}

/// Appends the route, as the reference plugins do: a pod with several
/// attachments of one network gets the same destination once per interface.
pub fn route_request(oif: u32, r: &Route, gw: Option<IpAddr>) -> Request {
    Request {
        op: "add route",
        msg: RouteNetlinkMessage::NewRoute(route_message(oif, r, gw)),
        flags: NLM_F_CREATE | NLM_F_APPEND,
    }
}

impl<T: Transport> Netlink<T> {
    /// Every address on link `index`.
    pub fn addresses(&mut self, index: u32) -> Result<Vec<IpNetwork>, NetlinkError> {
        let replies = self.get(
            "list addresses",
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            true,
        )?;
        Ok(replies
            .iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewAddress(a) if a.header.index == index => address_of(a),
                _ => None,
            })
            .collect())
    }
}

/// The address an `RTM_NEWADDR` reply carries (`IFA_LOCAL`, else
/// `IFA_ADDRESS`) with its prefix; `None` without one or with a prefix
/// longer than the family allows.
pub fn address_of(a: &AddressMessage) -> Option<IpNetwork> {
    let ip = a.attributes.iter().find_map(|x| match x {
        AddressAttribute::Local(ip) => Some(*ip),
        _ => None,
    });
    let ip = ip.or_else(|| {
        a.attributes.iter().find_map(|x| match x {
            AddressAttribute::Address(ip) => Some(*ip),
            _ => None,
        })
    })?;
    IpNetwork::new(ip, a.header.prefix_len).ok()
}

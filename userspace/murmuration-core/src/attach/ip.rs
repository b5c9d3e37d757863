//! Applying an IPAM result to an interface inside the pod namespace.

use std::net::IpAddr;

use crate::cni::error::CniError;
use crate::cni::result::{CniResult, Route};
use crate::netlink::{Netlink, Request, address_request, link_up_request, route_request};
use crate::netns::NetNs;

/// The gateway a route uses: its own `gw`, else the first IP gateway of the
/// same family (as the reference plugins do), else none (an on-link route).
fn gateway_for(result: &CniResult, r: &Route) -> Option<IpAddr> {
    r.gw.or_else(|| {
        result.ips.iter().filter_map(|ip| ip.gateway).find(|gw| gw.is_ipv4() == r.dst.is_ipv4())
    })
}

/// Brings the link up and adds every address, then every route, in one
/// netlink batch (the kernel applies them in order).
pub fn apply(nl: &mut Netlink, index: u32, result: &CniResult) -> Result<(), CniError> {
    let mut reqs: Vec<Request> = vec![link_up_request(index)];
    reqs.extend(result.ips.iter().map(|ip| address_request(index, ip.address)));
    reqs.extend(result.routes.iter().map(|r| route_request(index, r, gateway_for(result, r))));
    nl.batch(reqs).map_err(|e| CniError::from(e).context("configuring pod addresses"))
}

/// Like [`apply`], but the addresses go on before the link comes up, so that
/// `arp_notify` (see [`announce`]) announces them when it does.
pub fn apply_then_up(nl: &mut Netlink, index: u32, result: &CniResult) -> Result<(), CniError> {
    let mut reqs: Vec<Request> =
        result.ips.iter().map(|ip| address_request(index, ip.address)).collect();
    reqs.push(link_up_request(index));
    reqs.extend(result.routes.iter().map(|r| route_request(index, r, gateway_for(result, r))));
    nl.batch(reqs).map_err(|e| CniError::from(e).context("configuring pod addresses"))
}

/// Asks the kernel to announce the interface's addresses when it comes up or
/// changes MAC: gratuitous ARP (`arp_notify`) and unsolicited neighbour
/// advertisements (`ndisc_notify`). Best effort: a pod without IPv4 or IPv6
/// has no such knob, and a missing announcement is not worth failing ADD.
pub fn announce(ns: &NetNs, ifname: &str) {
    let knobs = [
        format!("/proc/sys/net/ipv4/conf/{ifname}/arp_notify"),
        format!("/proc/sys/net/ipv6/conf/{ifname}/ndisc_notify"),
    ];
    // /proc/sys/net belongs to the namespace of the thread that opens it.
    let written = ns.run(move || knobs.iter().filter(|k| std::fs::write(k, "1").is_ok()).count());
    tracing::debug!(?written, ifname, "address announcements enabled");
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn routes_inherit_gateway_of_their_family() {
        let r = CniResult::from_value(&json!({
            "ips": [{"address": "10.0.0.2/24", "gateway": "10.0.0.1"},
                    {"address": "fd00::2/64", "gateway": "fd00::1"}],
            "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}, {"dst": "192.168.0.0/16", "gw": "10.0.0.9"}]
        }))
        .expect("result");
        let gws: Vec<_> =
            r.routes.iter().map(|x| gateway_for(&r, x).map(|g| g.to_string())).collect();
        assert_eq!(gws, [Some("10.0.0.1".into()), Some("fd00::1".into()), Some("10.0.0.9".into())]);
    }
}

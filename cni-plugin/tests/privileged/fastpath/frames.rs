//! Crafted Ethernet frames sent with an AF_PACKET socket from inside a
//! namespace, and UDP sockets opened in one (each on a thread of its own
//! that entered the namespace). Sockets and the IPv4/UDP builders are
//! testkit's.

use std::net::{Ipv6Addr, SocketAddr};

use murmuration_testkit::packet::{
    self, ETH_P_1588, ETH_P_IP, ETH_P_IPV6, PacketSocket, ether, ipv4, ptp_message, udp,
};
pub use murmuration_testkit::packet::{Mac, mac};

use crate::common::Netns;

/// Runs `f` on a thread that entered `ns`'s network namespace.
pub fn in_netns<T: Send>(ns: &Netns, f: impl FnOnce() -> T + Send) -> T {
    ns.run(f)
}

fn ipv6(payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend((payload.len() as u16).to_be_bytes());
    h.extend([17, 64]);
    h.extend("fd00:100::254".parse::<Ipv6Addr>().expect("v6").octets());
    h.extend("fd00:100::1".parse::<Ipv6Addr>().expect("v6").octets());
    [h, payload.to_vec()].concat()
}

/// Kinds of test frame.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    PtpL2,
    PtpUdp4,
    /// PTP general port over IPv4 with an IP option (IHL 6).
    PtpUdp4Options,
    PtpUdp6,
    /// Plain IPv4/UDP to port 9999.
    Udp4,
    /// IPv4/UDP with an in-packet 802.1Q tag of this VLAN.
    Tagged(u16),
}

pub fn frame(kind: Kind, dst: Mac, src: Mac) -> Vec<u8> {
    let ptp = ptp_message();
    let (a, b) = ([10, 100, 0, 254], [10, 100, 0, 1]);
    let udp4 = || ipv4(a, b, &udp(9999, &[0; 44]), &[]);
    match kind {
        Kind::PtpL2 => ether(dst, src, None, ETH_P_1588, &ptp),
        Kind::PtpUdp4 => ether(dst, src, None, ETH_P_IP, &ipv4(a, b, &udp(319, &ptp), &[])),
        Kind::PtpUdp4Options => {
            ether(dst, src, None, ETH_P_IP, &ipv4(a, b, &udp(320, &ptp), &[1, 1, 1, 0]))
        }
        Kind::PtpUdp6 => ether(dst, src, None, ETH_P_IPV6, &ipv6(&udp(319, &ptp))),
        Kind::Udp4 => ether(dst, src, None, ETH_P_IP, &udp4()),
        Kind::Tagged(vid) => ether(dst, src, Some(vid & 0x0fff), ETH_P_IP, &udp4()),
    }
}

/// Sends `count` copies of `frame` out of `iface` in `ns`.
pub fn send(ns: &Netns, iface: &str, frame: &[u8], count: usize) {
    PacketSocket::open(Some(ns.name()), iface, 0).send(frame, count);
}

/// Sends `count` UDP datagrams from `from` to `to` (a listener in `to_ns`)
/// and returns how many arrived.
pub fn udp_exchange(from: &Netns, to_ns: &Netns, to: SocketAddr, count: usize) -> usize {
    packet::udp_exchange(Some(from.name()), Some(to_ns.name()), to, count)
}

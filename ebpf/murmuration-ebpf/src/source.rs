//! `ipSpoofchk`: the addresses a pod may send from. IPv4 and ARP senders
//! must be in `POD_IPS` (an ARP probe's 0.0.0.0 too is allowed), IPv6
//! sources in `POD_IPS`, link-local or unspecified (DAD), neighbour
//! advertisements may only claim such addresses, and a pod never sends a
//! router advertisement or a redirect. Anything that cannot be read far
//! enough to decide is refused.

use aya_ebpf::programs::TcContext;
use murmuration_common::{PodIpKey, ETH_P_ARP, ETH_P_IP, ETH_P_IPV6};

use crate::{
    maps::POD_IPS,
    parse::{load, Frame, IPV6_HLEN},
};

const IPPROTO_ICMPV6: u8 = 58;
const ND_ROUTER_ADVERT: u8 = 134;
const ND_NEIGHBOR_ADVERT: u8 = 136;
const ND_REDIRECT: u8 = 137;

/// Whether the frame's sender addresses are the pod's own.
#[inline(always)]
pub fn allowed(ctx: &TcContext, frame: &Frame, ifindex: u32) -> bool {
    let off = usize::from(frame.l3_off);
    match frame.l3_proto {
        ETH_P_IP => load::<[u8; 4], _>(ctx, off + 12).is_some_and(|a| owns_v4(ifindex, a)),
        // Sender protocol address: after htype, ptype, hlen, plen, oper, sha.
        ETH_P_ARP => {
            load::<[u8; 4], _>(ctx, off + 14).is_some_and(|a| a == [0; 4] || owns_v4(ifindex, a))
        }
        ETH_P_IPV6 => ipv6_allowed(ctx, off, ifindex),
        _ => true,
    }
}

#[inline(always)]
fn ipv6_allowed(ctx: &TcContext, off: usize, ifindex: u32) -> bool {
    let Some(src) = load::<[u8; 16], _>(ctx, off + 8) else {
        return false;
    };
    if !(src == [0; 16] || link_local(&src) || owns_v6(ifindex, src)) {
        return false;
    }
    let Some(next) = load::<u8, _>(ctx, off + 6) else {
        return false;
    };
    if next != IPPROTO_ICMPV6 {
        return true;
    }
    let Some(kind) = load::<u8, _>(ctx, off + IPV6_HLEN) else {
        return false;
    };
    match kind {
        ND_ROUTER_ADVERT | ND_REDIRECT => false,
        // Target address after type, code, checksum and flags.
        ND_NEIGHBOR_ADVERT => load::<[u8; 16], _>(ctx, off + IPV6_HLEN + 8)
            .is_some_and(|t| link_local(&t) || owns_v6(ifindex, t)),
        _ => true,
    }
}

#[inline(always)]
fn link_local(a: &[u8; 16]) -> bool {
    a[0] == 0xfe && a[1] & 0xc0 == 0x80
}

#[inline(always)]
fn owns_v4(ifindex: u32, a: [u8; 4]) -> bool {
    let addr = [a[0], a[1], a[2], a[3], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    owns(PodIpKey { ifindex, family: 4, _pad: [0; 3], addr })
}

#[inline(always)]
fn owns_v6(ifindex: u32, addr: [u8; 16]) -> bool {
    owns(PodIpKey { ifindex, family: 6, _pad: [0; 3], addr })
}

#[inline(always)]
fn owns(key: PodIpKey) -> bool {
    POD_IPS.get_ptr(&key).is_some()
}

//! Frame parsing. All direct packet access goes through [`load`], the one
//! bounds-checked accessor.

use core::mem::size_of;

use aya_ebpf::programs::{TcContext, XdpContext};
use murmuration_common::{
    ETH_P_1588, ETH_P_8021AD, ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6, PTP_EVENT_PORT, PTP_GENERAL_PORT,
    VLAN_VID_MASK,
};

use crate::skb;

pub const ETH_HLEN: usize = 14;
pub const VLAN_HLEN: usize = 4;
pub const IPV6_HLEN: usize = 40;
const IPPROTO_UDP: u8 = 17;
/// Bytes we may need linear: Ethernet + one tag + IPv6 + UDP ports.
const PARSE_LEN: u32 = (ETH_HLEN + VLAN_HLEN + IPV6_HLEN + 4) as u32;

/// Linear packet data of a program context (tc skb or XDP buffer).
pub trait Packet {
    fn data(&self) -> usize;
    fn data_end(&self) -> usize;
}

impl Packet for TcContext {
    #[inline(always)]
    fn data(&self) -> usize {
        TcContext::data(self)
    }
    #[inline(always)]
    fn data_end(&self) -> usize {
        TcContext::data_end(self)
    }
}

impl Packet for XdpContext {
    #[inline(always)]
    fn data(&self) -> usize {
        XdpContext::data(self)
    }
    #[inline(always)]
    fn data_end(&self) -> usize {
        XdpContext::data_end(self)
    }
}

/// Address of `[off, off + len)` of the packet, or `None` if that range is
/// not inside the linear packet data. THE bounds check: every direct packet
/// access goes through it (via [`load`] and [`store`]).
#[inline(always)]
fn checked<P: Packet>(ctx: &P, off: usize, len: usize) -> Option<usize> {
    let start = ctx.data();
    if start + off + len > ctx.data_end() {
        return None;
    }
    Some(start + off)
}

/// Reads a `T` at byte offset `off` of the packet.
#[inline(always)]
pub fn load<T: Copy, P: Packet>(ctx: &P, off: usize) -> Option<T> {
    let at = checked(ctx, off, size_of::<T>())?;
    // SAFETY: `checked` proved [at, at+size_of::<T>()) lies within the
    // packet's linear data (the verifier sees the same comparison).
    // Unaligned read: packet data has no alignment.
    Some(unsafe { (at as *const T).read_unaligned() })
}

/// Writes `v` at byte offset `off` of the packet; false if out of bounds.
#[inline(always)]
pub fn store<T: Copy, P: Packet>(ctx: &P, off: usize, v: T) -> bool {
    let Some(at) = checked(ctx, off, size_of::<T>()) else {
        return false;
    };
    // SAFETY: as in `load`; XDP and tc packet data is writable.
    unsafe { (at as *mut T).write_unaligned(v) };
    true
}

#[inline(always)]
fn load_be16<P: Packet>(ctx: &P, off: usize) -> Option<u16> {
    load::<u16, P>(ctx, off).map(u16::from_be)
}

/// What the programs need to know about a frame. Values are copied out of
/// the packet so they stay valid after helpers that move packet data.
pub struct Frame {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    /// Outer VLAN id, 0 if untagged.
    pub vid: u16,
    /// The frame carries an outer tag (offloaded or in-packet).
    pub tagged: bool,
    /// Outer tag TPID (host order) and TCI, valid if `tagged`.
    pub tag_proto: u16,
    pub tag_tci: u16,
    /// PTP event/general message (L2 or UDP 319/320).
    pub ptp: bool,
    /// EtherType after the outer tag, and where its header starts.
    pub l3_proto: u16,
    pub l3_off: u16,
}

impl Frame {
    #[inline(always)]
    pub fn is_multicast(&self) -> bool {
        self.dst[0] & 1 != 0
    }
}

#[inline(always)]
fn is_vlan_proto(proto: u16) -> bool {
    proto == ETH_P_8021Q || proto == ETH_P_8021AD
}

/// Makes sure the headers we parse are in the linear area (no-op for the
/// usual case; non-linear skbs happen e.g. with GRO or some drivers).
#[inline(always)]
fn ensure_linear(ctx: &TcContext) {
    let have = (ctx.data_end() - ctx.data()) as u32;
    let len = ctx.len();
    if have < PARSE_LEN && len > have {
        let want = if len < PARSE_LEN { len } else { PARSE_LEN };
        // Failure just means we parse less (e.g. no PTP detection).
        let _ = ctx.pull_data(want);
    }
}

/// tc: parses Ethernet, the outer VLAN tag (skb metadata first, then an
/// in-packet tag) and classifies PTP.
#[inline(always)]
pub fn parse_frame(ctx: &TcContext) -> Option<Frame> {
    ensure_linear(ctx);
    parse_eth(ctx, skb::offloaded_tag(ctx))
}

/// XDP: the same, but only in-packet tags exist here (an XDP program never
/// sees a tag the NIC or a veth peer moved into skb metadata: see
/// docs/datapath.md, "XDP").
#[inline(always)]
pub fn parse_xdp(ctx: &XdpContext) -> Option<Frame> {
    parse_eth(ctx, skb::OffloadedTag::NONE)
}

#[inline(always)]
fn parse_eth<P: Packet>(ctx: &P, tag: skb::OffloadedTag) -> Option<Frame> {
    let dst: [u8; 6] = load(ctx, 0)?;
    let src: [u8; 6] = load(ctx, 6)?;
    let mut proto = load_be16(ctx, 12)?;
    let mut l3_off = ETH_HLEN;

    let mut frame = Frame {
        dst,
        src,
        vid: 0,
        tagged: false,
        tag_proto: 0,
        tag_tci: 0,
        ptp: false,
        l3_proto: 0,
        l3_off: 0,
    };
    if tag.present {
        frame.tagged = true;
        frame.tag_proto = tag.proto;
        frame.tag_tci = tag.tci;
    } else if is_vlan_proto(proto) {
        frame.tagged = true;
        frame.tag_proto = proto;
        frame.tag_tci = load_be16(ctx, ETH_HLEN)?;
        proto = load_be16(ctx, ETH_HLEN + 2)?;
        l3_off += VLAN_HLEN;
    }
    frame.vid = frame.tag_tci & VLAN_VID_MASK;
    frame.ptp = is_ptp(ctx, proto, l3_off);
    frame.l3_proto = proto;
    frame.l3_off = l3_off as u16;
    Some(frame)
}

#[inline(always)]
fn is_ptp<P: Packet>(ctx: &P, proto: u16, l3_off: usize) -> bool {
    let dport = match proto {
        ETH_P_1588 => return true,
        ETH_P_IP => ipv4_udp_dport(ctx, l3_off),
        ETH_P_IPV6 => ipv6_udp_dport(ctx, l3_off),
        _ => None,
    };
    matches!(dport, Some(PTP_EVENT_PORT) | Some(PTP_GENERAL_PORT))
}

#[inline(always)]
fn ipv4_udp_dport<P: Packet>(ctx: &P, l3_off: usize) -> Option<u16> {
    let ver_ihl: u8 = load(ctx, l3_off)?;
    let ihl = usize::from(ver_ihl & 0x0f) * 4;
    let l4_proto: u8 = load(ctx, l3_off + 9)?;
    let frag = load_be16(ctx, l3_off + 6)? & 0x1fff;
    if ihl < 20 || l4_proto != IPPROTO_UDP || frag != 0 {
        return None;
    }
    load_be16(ctx, l3_off + ihl + 2)
}

/// Only a UDP header directly after the fixed IPv6 header is recognised
/// (PTP over IPv6 does not use extension headers in practice).
#[inline(always)]
fn ipv6_udp_dport<P: Packet>(ctx: &P, l3_off: usize) -> Option<u16> {
    let next: u8 = load(ctx, l3_off + 6)?;
    if next != IPPROTO_UDP {
        return None;
    }
    load_be16(ctx, l3_off + IPV6_HLEN + 2)
}

/// Byte-wise MAC comparison (avoids a memcmp call in BPF).
#[inline(always)]
pub fn mac_eq(a: &[u8; 6], b: &[u8; 6]) -> bool {
    (a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4]) | (a[5] ^ b[5])
        == 0
}

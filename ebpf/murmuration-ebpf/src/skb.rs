//! Thin, typed wrappers around `__sk_buff` fields, the skb helpers and the
//! one XDP helper used. All `unsafe` needed to touch the context or call
//! helpers lives here.

use aya_ebpf::{
    bindings::TC_ACT_SHOT,
    helpers::{
        bpf_ktime_get_ns, bpf_ktime_get_tai_ns, bpf_redirect, bpf_redirect_peer, bpf_skb_vlan_pop,
        bpf_skb_vlan_push, bpf_xdp_adjust_head,
    },
    programs::{TcContext, XdpContext},
};

/// `skb->tstamp_type` value for a CLOCK_REALTIME (RX) timestamp.
const TSTAMP_REALTIME: u8 = 0;

/// VLAN tag held in skb metadata (`skb->vlan_*`): on tc ingress the kernel
/// has already moved the outer tag out of the packet (skb_vlan_untag in
/// `__netif_receive_skb_core`, or NIC RX offload). A plain struct rather
/// than an `Option`: every field is always initialised, so the compiler
/// never spills an undefined register the verifier would refuse to read.
pub struct OffloadedTag {
    pub present: bool,
    pub proto: u16,
    pub tci: u16,
}

impl OffloadedTag {
    /// No tag in metadata (always the case for XDP).
    pub const NONE: Self = Self { present: false, proto: 0, tci: 0 };
}

#[inline(always)]
pub fn offloaded_tag(ctx: &TcContext) -> OffloadedTag {
    let skb = ctx.skb.skb;
    // SAFETY: `skb` is the context pointer the kernel passed to this
    // program; it is valid for the whole invocation and these fields are
    // readable by tc programs.
    let (present, proto, tci) =
        unsafe { ((*skb).vlan_present, (*skb).vlan_proto, (*skb).vlan_tci) };
    // vlan_proto is a __be16 widened to u32; vlan_tci is host order.
    OffloadedTag { present: present != 0, proto: u16::from_be(proto as u16), tci: tci as u16 }
}

/// ifindex of the device the skb is currently on.
#[inline(always)]
pub fn ifindex(ctx: &TcContext) -> u32 {
    // SAFETY: see `offloaded_tag`.
    unsafe { (*ctx.skb.skb).ifindex }
}

/// `skb->tstamp` if it is a CLOCK_REALTIME RX timestamp (0 otherwise, e.g.
/// a mono delivery time set by TCP/fq, or no timestamp at all).
#[inline(always)]
pub fn rx_tstamp_realtime(ctx: &TcContext) -> u64 {
    // SAFETY: see `offloaded_tag`. Reading tstamp_type too makes the kernel
    // hand us the raw tstamp instead of masking mono delivery times.
    let (ts, ty) = unsafe { ((*ctx.skb.skb).tstamp, (*ctx.skb.skb).tstamp_type) };
    if ty == TSTAMP_REALTIME {
        ts
    } else {
        0
    }
}

#[inline(always)]
pub fn set_priority(ctx: &TcContext, prio: u32) {
    // SAFETY: `priority` is writable from tc programs; the pointer is the
    // valid context pointer.
    unsafe { (*ctx.skb.skb).priority = prio };
}

/// Pushes a VLAN tag (into skb metadata; the driver or
/// `validate_xmit_vlan` puts it on the wire). `proto`: TPID, host order.
#[inline(always)]
pub fn vlan_push(ctx: &TcContext, proto: u16, tci: u16) -> Result<(), i64> {
    // SAFETY: helper call with the valid context pointer. Invalidates packet
    // pointers; callers never reuse pointers obtained before this call.
    let ret = unsafe { bpf_skb_vlan_push(ctx.skb.skb, proto.to_be(), tci) };
    if ret == 0 {
        Ok(())
    } else {
        Err(ret)
    }
}

/// Pops the outer VLAN tag (offloaded or in-packet).
#[inline(always)]
pub fn vlan_pop(ctx: &TcContext) -> Result<(), i64> {
    // SAFETY: as for `vlan_push`.
    let ret = unsafe { bpf_skb_vlan_pop(ctx.skb.skb) };
    if ret == 0 {
        Ok(())
    } else {
        Err(ret)
    }
}

/// Redirects to the *peer* of veth `ifindex` (its ingress, in the peer's
/// netns), without a backlog round trip. Only valid from tc ingress.
#[inline(always)]
pub fn redirect_peer(ifindex: u32) -> i32 {
    // SAFETY: plain helper call; returns TC_ACT_REDIRECT or TC_ACT_SHOT.
    unsafe { bpf_redirect_peer(ifindex, 0) as i32 }
}

/// Redirects to the egress of `ifindex`.
#[inline(always)]
pub fn redirect_egress(ifindex: u32) -> i32 {
    // SAFETY: plain helper call; returns TC_ACT_REDIRECT or TC_ACT_SHOT.
    let ret = unsafe { bpf_redirect(ifindex, 0) as i32 };
    if ret < 0 {
        TC_ACT_SHOT
    } else {
        ret
    }
}

/// Sends a copy to the egress of `ifindex` (flags 0: no BPF_F_INGRESS).
#[inline(always)]
pub fn clone_to_egress(ctx: &TcContext, ifindex: u32) -> Result<(), i64> {
    ctx.clone_redirect(ifindex, 0)
}

/// CLOCK_MONOTONIC now, ns.
#[inline(always)]
pub fn mono_ns() -> u64 {
    // SAFETY: helper without arguments.
    unsafe { bpf_ktime_get_ns() }
}

/// CLOCK_TAI now, ns.
#[inline(always)]
pub fn tai_ns() -> u64 {
    // SAFETY: helper without arguments.
    unsafe { bpf_ktime_get_tai_ns() }
}

/// Moves the start of an XDP frame by `delta` bytes (positive: shrinks the
/// head). Invalidates packet pointers.
#[inline(always)]
pub fn xdp_adjust_head(ctx: &XdpContext, delta: i32) -> bool {
    // SAFETY: helper call with the valid XDP context pointer; callers never
    // reuse packet pointers obtained before this call.
    unsafe { bpf_xdp_adjust_head(ctx.ctx, delta) == 0 }
}

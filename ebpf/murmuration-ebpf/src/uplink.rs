//! `uplink_ingress`: frames arriving from the wire on the uplink.

use aya_ebpf::{
    bindings::{TC_ACT_SHOT, TC_ACT_UNSPEC},
    programs::TcContext,
};
use murmuration_common::{
    vlan_key, AttachKey, AttachValue, ATTACH_F_PTP_TO_HOST, ATTACH_F_TRUNK, DIR_TO_POD,
    DROP_HELPER_FAILED, DROP_RATE_LIMIT,
};

use crate::{
    maps::{lookup_attach, node_config},
    parse::{parse_frame, Frame},
    rate, skb, stats,
    vlan::{flood, TagState},
};

/// Attachment id 0: the node itself (frames passed on to the stack).
const NODE_SLOT: u32 = 0;

#[inline(always)]
pub fn handle(ctx: &TcContext) -> i32 {
    let t0 = stats::start();
    let Some(frame) = parse_frame(ctx) else {
        return TC_ACT_UNSPEC;
    };
    if frame.ptp {
        mark_ptp(ctx);
    }
    if frame.is_multicast() {
        return flood_and_pass(ctx, &frame);
    }
    let key = AttachKey::new(frame.tag_proto, frame.vid, frame.dst);
    match lookup_attach(&key) {
        // ptpToHost: the node's ptp4l gets the pod's PTP, tag and all.
        Some(att) if frame.ptp && att.flags & ATTACH_F_PTP_TO_HOST != 0 => {
            pass_to_stack(ctx, &frame)
        }
        Some(att) => deliver_to_pod(ctx, &frame, &att, t0),
        None => pass_to_stack(ctx, &frame),
    }
}

/// PTP frames are never dropped by policy and get a high skb->priority.
#[inline(always)]
pub fn mark_ptp(ctx: &TcContext) {
    if let Some(node) = node_config() {
        skb::set_priority(ctx, node.ptp_priority);
    }
}

#[inline(always)]
fn pass_to_stack(ctx: &TcContext, frame: &Frame) -> i32 {
    stats::count_fwd(NODE_SLOT, DIR_TO_POD, ctx.len(), frame.ptp, false);
    TC_ACT_UNSPEC
}

/// Unicast hit: pop the tag for access ports, then hand the frame to the
/// pod side of the veth directly (no backlog queue, no second netif_rx).
#[inline(always)]
fn deliver_to_pod(ctx: &TcContext, frame: &Frame, att: &AttachValue, t0: u64) -> i32 {
    // The pod's ingress rate (`bandwidth`); PTP is never held back.
    if !frame.ptp && !rate::admit(att.attach_id, DIR_TO_POD, ctx.len()) {
        stats::count_drop(att.attach_id, DIR_TO_POD, DROP_RATE_LIMIT);
        return TC_ACT_SHOT;
    }
    if att.flags & ATTACH_F_TRUNK == 0 && frame.tagged && skb::vlan_pop(ctx).is_err() {
        stats::count_drop(att.attach_id, DIR_TO_POD, DROP_HELPER_FAILED);
        return TC_ACT_SHOT;
    }
    stats::count_fwd(att.attach_id, DIR_TO_POD, ctx.len(), frame.ptp, false);
    stats::record_latency(ctx, att.attach_id, DIR_TO_POD, t0);
    skb::redirect_peer(att.host_ifindex)
}

/// Broadcast/multicast: a copy to every member of the VLAN, then the
/// original (with its tag restored) continues to the stack.
#[inline(always)]
fn flood_and_pass(ctx: &TcContext, frame: &Frame) -> i32 {
    let mut tag = TagState { proto: frame.tag_proto, tci: frame.tag_tci, tagged: frame.tagged };
    flood(ctx, vlan_key(frame.tag_proto, frame.vid), 0, &mut tag, frame.ptp);
    if tag.ensure(ctx, frame.tagged).is_err() {
        // Could not restore the tag: do not leak the frame into the
        // node's untagged network.
        stats::count_drop(NODE_SLOT, DIR_TO_POD, DROP_HELPER_FAILED);
        return TC_ACT_SHOT;
    }
    pass_to_stack(ctx, frame)
}

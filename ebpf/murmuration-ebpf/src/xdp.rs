//! `uplink_xdp`: the XDP variant of the uplink program. It takes the
//! common case, unicast for a known (VLAN, MAC) carrying its tag in the
//! packet, before the kernel allocates an skb, and leaves everything else
//! to `uplink_ingress` (tc), which still runs behind it:
//!
//! * untagged-looking frames: a NIC with RX VLAN offload, or a veth peer,
//!   may have moved the tag into skb metadata, which XDP cannot see, so
//!   only tc can tell "untagged" from "tag offloaded";
//! * priority-tagged frames (VID 0), PTP (skb priority, counted by tc),
//!   broadcast and multicast (flood clones need an skb).

use aya_ebpf::{
    bindings::xdp_action::{XDP_DROP, XDP_PASS},
    programs::XdpContext,
};
use murmuration_common::{
    AttachKey, ATTACH_F_TRUNK, DIR_TO_POD, DROP_HELPER_FAILED, DROP_RATE_LIMIT,
};

use crate::{
    maps::{lookup_attach, PORT_DEVS},
    parse::{load, parse_xdp, store, VLAN_HLEN},
    rate, skb, stats,
};

#[inline(always)]
pub fn handle(ctx: &XdpContext) -> u32 {
    let t0 = stats::start();
    let Some(frame) = parse_xdp(ctx) else {
        return XDP_PASS;
    };
    if !frame.tagged || frame.vid == 0 || frame.ptp || frame.is_multicast() {
        return XDP_PASS;
    }
    let Some(att) = lookup_attach(&AttachKey::new(frame.tag_proto, frame.vid, frame.dst)) else {
        return XDP_PASS;
    };
    // The pod's ingress rate, charged as tc would (tag not counted).
    let wire_len = (ctx.data_end() - ctx.data()) as u32;
    if !rate::admit(att.attach_id, DIR_TO_POD, wire_len.saturating_sub(VLAN_HLEN as u32)) {
        stats::count_drop(att.attach_id, DIR_TO_POD, DROP_RATE_LIMIT);
        return XDP_DROP;
    }
    if att.flags & ATTACH_F_TRUNK == 0 && !pop_tag(ctx) {
        stats::count_drop(att.attach_id, DIR_TO_POD, DROP_HELPER_FAILED);
        return XDP_DROP;
    }
    let len = (ctx.data_end() - ctx.data()) as u32;
    match PORT_DEVS.redirect(att.attach_id, 0) {
        Ok(action) => {
            stats::count_fwd(att.attach_id, DIR_TO_POD, len, false, false);
            stats::record_prog(att.attach_id, DIR_TO_POD, t0);
            action
        }
        Err(_) => {
            stats::count_drop(att.attach_id, DIR_TO_POD, DROP_HELPER_FAILED);
            XDP_DROP
        }
    }
}

/// Removes the in-packet outer tag: the two MAC addresses move 4 bytes
/// towards the payload, then the head shrinks by 4.
#[inline(always)]
fn pop_tag(ctx: &XdpContext) -> bool {
    let Some(macs) = load::<[u8; 12], _>(ctx, 0) else {
        return false;
    };
    if !store(ctx, VLAN_HLEN, macs) {
        return false;
    }
    skb::xdp_adjust_head(ctx, VLAN_HLEN as i32)
}

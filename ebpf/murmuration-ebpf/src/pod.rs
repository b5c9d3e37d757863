//! `pod_egress`: tc ingress on the host end of a pod veth, i.e. frames the
//! pod sends.

use aya_ebpf::{
    bindings::{TC_ACT_SHOT, TC_ACT_UNSPEC},
    programs::TcContext,
};
use murmuration_common::{
    vlan_key, AttachKey, AttachValue, PodConfig, ATTACH_F_TRUNK, DIR_FROM_POD, DIR_TO_POD,
    DROP_HELPER_FAILED, DROP_IP_SPOOF, DROP_MALFORMED, DROP_NO_ROUTE, DROP_RATE_LIMIT, DROP_SPOOF,
    DROP_VLAN_NOT_ALLOWED, POD_F_IP_SPOOFCHK, POD_F_NO_SPOOFCHK, POD_F_PTP_PRIORITY, POD_F_TRUNK,
    VLAN_VID_MASK,
};

use crate::{
    maps::{lookup_attach, node_config, POD_CFG},
    parse::{mac_eq, parse_frame, Frame},
    rate, skb, source, stats,
    uplink::mark_ptp,
    vlan::{flood, TagState},
};

/// The few fields of the (large) PodConfig the fast path needs, copied
/// out of the map value.
struct Port {
    attach_id: u32,
    mac: [u8; 6],
    vlan_id: u16,
    tpid: u16,
    pcp: u8,
    trunk: bool,
    spoofchk: bool,
    ip_spoofchk: bool,
    ptp_priority: bool,
}

#[inline(always)]
pub fn handle(ctx: &TcContext) -> i32 {
    let t0 = stats::start();
    let ifindex = skb::ifindex(ctx);
    let Some(cfg) = POD_CFG.get_ptr(ifindex) else {
        return TC_ACT_UNSPEC; // not one of our ports
    };
    let port = read_port(cfg);
    let Some(frame) = parse_frame(ctx) else {
        return drop(&port, DROP_MALFORMED);
    };
    if port.spoofchk && !mac_eq(&frame.src, &port.mac) {
        return drop(&port, DROP_SPOOF);
    }
    if port.ip_spoofchk && !source::allowed(ctx, &frame, ifindex) {
        return drop(&port, DROP_IP_SPOOF);
    }
    let Some(mut tag) = egress_tag(cfg, &port, &frame) else {
        return drop(&port, DROP_VLAN_NOT_ALLOWED);
    };
    // The port's egress rate (`bandwidth`); PTP is never held back.
    if !frame.ptp && !rate::admit(port.attach_id, DIR_FROM_POD, ctx.len()) {
        return drop(&port, DROP_RATE_LIMIT);
    }
    // Only a port whose network asks for it may raise its PTP's priority.
    if frame.ptp && port.ptp_priority {
        mark_ptp(ctx);
    }
    let vid = tag.tci & VLAN_VID_MASK;
    if frame.is_multicast() {
        flood(ctx, vlan_key(tag.proto, vid), ifindex, &mut tag, frame.ptp);
        return to_uplink(ctx, &port, &frame, &mut tag, t0);
    }
    match lookup_attach(&AttachKey::new(tag.proto, vid, frame.dst)) {
        Some(att) => to_local_pod(ctx, &port, &frame, &mut tag, &att, t0),
        None => to_uplink(ctx, &port, &frame, &mut tag, t0),
    }
}

#[inline(always)]
fn read_port(cfg: *const PodConfig) -> Port {
    // SAFETY: `cfg` is a live map value pointer from a successful lookup;
    // only small fields are copied (the struct is too big for the stack).
    unsafe {
        Port {
            attach_id: (*cfg).attach_id,
            mac: (*cfg).mac,
            vlan_id: (*cfg).vlan_id,
            tpid: (*cfg).tpid,
            pcp: (*cfg).pcp,
            trunk: (*cfg).flags & POD_F_TRUNK != 0,
            spoofchk: (*cfg).flags & POD_F_NO_SPOOFCHK == 0,
            ptp_priority: (*cfg).flags & POD_F_PTP_PRIORITY != 0,
            ip_spoofchk: (*cfg).flags & POD_F_IP_SPOOFCHK != 0,
        }
    }
}

#[inline(always)]
fn drop(port: &Port, reason: usize) -> i32 {
    stats::count_drop(port.attach_id, DIR_FROM_POD, reason);
    TC_ACT_SHOT
}

/// VLAN policy. Access port: untagged frames only, they belong to
/// `vlan_id` (0: the untagged network). Trunk port: tagged frames must be
/// in the trunk bitmap; untagged frames belong to the native `vlan_id`
/// and are dropped if there is none.
#[inline(always)]
fn egress_tag(cfg: *const PodConfig, port: &Port, frame: &Frame) -> Option<TagState> {
    if !frame.tagged {
        if port.trunk && port.vlan_id == 0 {
            return None; // trunk without native VLAN: tagged frames only
        }
        let tci = (u16::from(port.pcp & 7) << 13) | (port.vlan_id & VLAN_VID_MASK);
        return Some(TagState { proto: port.tpid, tci, tagged: false });
    }
    // A trunk carries its own TPID only: a frame tagged with the other one
    // would hop into the other TPID's VLAN of the same number.
    if !port.trunk || frame.tag_proto != port.tpid || !trunk_allows(cfg, frame.vid) {
        return None;
    }
    Some(TagState { proto: frame.tag_proto, tci: frame.tag_tci, tagged: true })
}

#[inline(always)]
fn trunk_allows(cfg: *const PodConfig, vid: u16) -> bool {
    let vid = usize::from(vid & VLAN_VID_MASK);
    // SAFETY: live map value pointer; index `vid / 64 < 64` by the mask.
    let word = unsafe { (*cfg).trunk_bitmap[(vid >> 6) & 63] };
    word & (1u64 << (vid & 63)) != 0
}

/// Pod -> pod on the same node and VLAN: straight into the other pod.
#[inline(always)]
fn to_local_pod(
    ctx: &TcContext,
    port: &Port,
    frame: &Frame,
    tag: &mut TagState,
    att: &AttachValue,
    t0: u64,
) -> i32 {
    // The receiving port's ingress rate.
    if !frame.ptp && !rate::admit(att.attach_id, DIR_TO_POD, ctx.len()) {
        stats::count_drop(att.attach_id, DIR_TO_POD, DROP_RATE_LIMIT);
        return TC_ACT_SHOT;
    }
    if tag.ensure(ctx, att.flags & ATTACH_F_TRUNK != 0).is_err() {
        return drop(port, DROP_HELPER_FAILED);
    }
    let len = ctx.len();
    stats::count_fwd(port.attach_id, DIR_FROM_POD, len, frame.ptp, false);
    stats::count_fwd(att.attach_id, DIR_TO_POD, len, frame.ptp, false);
    stats::record_latency(ctx, port.attach_id, DIR_FROM_POD, t0);
    skb::redirect_peer(att.host_ifindex)
}

/// Everything else leaves through the uplink, tagged.
#[inline(always)]
fn to_uplink(ctx: &TcContext, port: &Port, frame: &Frame, tag: &mut TagState, t0: u64) -> i32 {
    let uplink = match node_config() {
        Some(node) if node.uplink_ifindex != 0 => node.uplink_ifindex,
        _ => return drop(port, DROP_NO_ROUTE),
    };
    if tag.ensure(ctx, true).is_err() {
        return drop(port, DROP_HELPER_FAILED);
    }
    stats::count_fwd(port.attach_id, DIR_FROM_POD, ctx.len(), frame.ptp, false);
    stats::record_latency(ctx, port.attach_id, DIR_FROM_POD, t0);
    skb::redirect_egress(uplink)
}

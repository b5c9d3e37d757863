//! TEST DOUBLE, not part of the data plane: makes a plain veth end behave
//! like a VLAN access port of a switch, because the host kernel has no
//! 802.1Q devices. Egress frames get a tag pushed, ingress frames with that
//! tag get it popped; ingress frames are classified in WIRE_STATS so the
//! test can prove the tag was present on the wire.
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::TC_ACT_UNSPEC,
    helpers::{bpf_skb_vlan_pop, bpf_skb_vlan_push},
    macros::{classifier, map},
    maps::{Array, PerCpuArray},
    programs::TcContext,
};

/// [0] = VLAN id to tag/untag, [1] = TPID (host order).
#[map]
static WIRE_CFG: Array<u32> = Array::with_max_entries(2, 0);

/// Ingress frames: [0] tagged with our VLAN, [1] untagged,
/// [2] tagged with another VLAN; [3] egress frames that leave with
/// skb->priority 7 (the fast path's PTP priority; a veth scrubs the
/// priority when a frame changes namespace, so it is counted on the way out).
#[map]
static WIRE_STATS: PerCpuArray<u64> = PerCpuArray::with_max_entries(4, 0);

fn bump(i: u32) {
    if let Some(p) = WIRE_STATS.get_ptr_mut(i) {
        // SAFETY: per-CPU slot of a live map value, softirq context.
        unsafe { *p += 1 };
    }
}

fn cfg(i: u32) -> u32 {
    WIRE_CFG.get(i).copied().unwrap_or(0)
}

#[classifier]
pub fn wire_untag(ctx: TcContext) -> i32 {
    let skb = ctx.skb.skb;
    // SAFETY: context pointer, valid for this invocation; readable fields.
    let (present, tci) = unsafe { ((*skb).vlan_present, (*skb).vlan_tci) };
    if present == 0 {
        bump(1);
    } else if tci & 0x0fff == cfg(0) {
        bump(0);
        // SAFETY: helper call with the valid context pointer.
        unsafe { bpf_skb_vlan_pop(skb) };
    } else {
        bump(2);
    }
    TC_ACT_UNSPEC
}

#[classifier]
pub fn wire_tag(ctx: TcContext) -> i32 {
    // SAFETY: context pointer, valid for this invocation; readable field.
    if unsafe { (*ctx.skb.skb).priority } == 7 {
        bump(3);
    }
    let vid = cfg(0);
    if vid != 0 {
        let proto = cfg(1) as u16;
        // SAFETY: helper call with the valid context pointer.
        unsafe { bpf_skb_vlan_push(ctx.skb.skb, proto.to_be(), vid as u16) };
    }
    TC_ACT_UNSPEC
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

//! murmuration eBPF data plane (tc programs and an XDP variant).
//!
//! * `uplink_ingress`: tc ingress on the node's uplink. Delivers frames for
//!   known (VLAN, MAC) pairs straight into the pod (bpf_redirect_peer),
//!   floods broadcast/multicast to the VLAN's members, passes the rest on.
//! * `pod_egress`: tc ingress on the host end of each pod veth (= traffic
//!   leaving the pod). Anti-spoofing, VLAN policy, pod->pod shortcut,
//!   otherwise tag and send out of the uplink.
//! * `uplink_xdp`: optional XDP program on the uplink in front of
//!   `uplink_ingress`: in-packet-tagged unicast for a known (VLAN, MAC) is
//!   redirected through the `PORT_DEVS` devmap; everything else is passed
//!   on to the tc program (`uplinkXdp`, docs/datapath.md).
//!
//! Return codes: `TC_ACT_UNSPEC` (-1, "TCX_NEXT") is used whenever a frame
//! is not ours or should continue to the stack, so that other tc users
//! attached after us (TCX chain or legacy clsact filters) still see it.
#![no_std]
#![no_main]

mod maps;
mod parse;
mod pod;
mod rate;
mod skb;
mod source;
mod stats;
mod uplink;
mod vlan;
mod xdp;

use aya_ebpf::{
    macros::{classifier, xdp},
    programs::{TcContext, XdpContext},
};

#[classifier]
pub fn uplink_ingress(ctx: TcContext) -> i32 {
    uplink::handle(&ctx)
}

#[classifier]
pub fn pod_egress(ctx: TcContext) -> i32 {
    pod::handle(&ctx)
}

#[xdp]
pub fn uplink_xdp(ctx: XdpContext) -> u32 {
    xdp::handle(&ctx)
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // The verifier rejects the infinite loop, so any code path that could
    // panic makes the program fail to load instead of misbehaving.
    loop {}
}

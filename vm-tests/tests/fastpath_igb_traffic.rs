//! The host tier's fast-path traffic checks on the igb PF with native XDP:
//! ICMP, UDP and IPv6 on VLAN 100 with the tag (TPID, VID, PCP) read on the
//! wire NIC, ARP and ND, VLAN 100 vs 200 isolation, pod <-> pod without the
//! uplink, exact counters, the latency histogram, and nothing left after DEL.
#![cfg(target_env = "musl")]

use std::time::Duration;

use murmuration_vm_tests::cmd::{IP, ip, run};
use murmuration_vm_tests::fastpath::{
    IgbUplink, neigh_mac, pin_neigh, pings, unicast, unreachable, wait_reachable,
};
use murmuration_vm_tests::packet::{
    ETH_P_8021Q, ETH_P_ALL, ETH_P_ARP, ETH_P_IP, ETH_P_IPV6, Frame, PacketSocket, mac, udp_exchange,
};
use murmuration_vm_tests::pod::Pod;
use murmuration_vm_tests::sriov::WIRE_MAC;
use murmuration_vm_tests::wire::WireVlan;
use serde_json::json;

const A_MAC: &str = "02:0d:00:00:03:0a";
const B_MAC: &str = "02:0d:00:00:03:0b";
const C_MAC: &str = "02:0d:00:00:03:0c";
const A_IP: &str = "10.100.0.2";
const B_IP: &str = "10.100.0.3";
const C_IP: &str = "10.100.0.4";
const A_IP6: &str = "fd00:100::2";
const WIRE_IP: &str = "10.100.0.1";
const WIRE_IP6: &str = "fd00:100::1";

/// The wire's own VLAN 200 port: `wire.200` moved into a namespace of its
/// own (same subnet as VLAN 100: only the tag separates them).
fn wire_vlan_200(wire: &str) -> Pod {
    let ns = Pod::new("w200");
    ip(&["link", "add", "link", wire, "name", "wire.200", "type", "vlan", "id", "200"]);
    ip(&["link", "set", "wire.200", "netns", &ns.name]);
    let v6 = "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; \
              echo 1 > /proc/sys/net/ipv6/conf/wire.200/disable_ipv6";
    run(IP, &["netns", "exec", &ns.name, "/bin/sh", "-c", v6]);
    ns.ip(&["addr", "add", &format!("{WIRE_IP}/24"), "dev", "wire.200"]);
    ns.ip(&["link", "set", "wire.200", "up"]);
    ns
}

fn from<'a>(frames: &'a [Frame], m: &str) -> impl Iterator<Item = &'a Frame> {
    let m = mac(m);
    frames.iter().filter(move |f| !f.outgoing() && f.src() == m)
}

#[test]
fn igb_fast_path_vlan_traffic_tags_isolation_pod_to_pod_and_cleanup() {
    let up = IgbUplink::new("xdpt");
    let wire = up.s.wire.clone();
    let _w100 = WireVlan::new(&wire, 100, &format!("{WIRE_IP}/24"));
    std::fs::write("/proc/sys/net/ipv6/conf/wire.100/disable_ipv6", "0").expect("v6 on wire.100");
    ip(&["addr", "add", &format!("{WIRE_IP6}/64"), "dev", "wire.100", "nodad"]);
    let w200 = wire_vlan_200(&wire);
    // The capture starts before any pod exists: it sees every ARP and ND frame.
    let cap = PacketSocket::open(None, &wire, ETH_P_ALL);

    let a_conf = up.conf(
        A_MAC,
        &[&format!("{A_IP}/24"), &format!("{A_IP6}/64")],
        &json!({"vlan": 100, "vlanQoS": 5}),
    );
    let a = up.attach("xa", "c-a", &a_conf, true);
    up.assert_native_xdp();
    let b = up.attach(
        "xb",
        "c-b",
        &up.conf(B_MAC, &[&format!("{B_IP}/24")], &json!({"vlan": 200})),
        false,
    );
    let c = up.attach(
        "xc",
        "c-c",
        &up.conf(C_MAC, &[&format!("{C_IP}/24")], &json!({"vlan": 100})),
        false,
    );

    // ARP both ways through the fast path (broadcast: XDP passes, tc floods).
    wait_reachable(a.ns(), WIRE_IP);
    assert_eq!(
        neigh_mac(a.ns(), "eth0", WIRE_IP).as_deref(),
        Some(WIRE_MAC),
        "pod resolved the wire"
    );
    assert_eq!(neigh_mac(None, "wire.100", A_IP).as_deref(), Some(A_MAC), "wire learnt the pod");
    assert!(pings(None, A_IP, 3), "wire -> pod ICMP");

    // Exact counters for UDP both ways, neighbours pinned (no ARP in the window).
    pin_neigh(None, "wire.100", A_IP, A_MAC);
    pin_neigh(a.ns(), "eth0", WIRE_IP, WIRE_MAC);
    let c0 = up.counters(&a);
    let to_wire = udp_exchange(a.ns(), None, format!("{WIRE_IP}:7001").parse().expect("addr"), 5);
    let to_pod = udp_exchange(None, a.ns(), format!("{A_IP}:7002").parse().expect("addr"), 7);
    assert_eq!((to_wire, to_pod), (5, 7), "UDP pod -> wire and wire -> pod");
    let c1 = up.counters(&a);
    let ((t0, f0), (t1, f1)) = (unicast(&c0), unicast(&c1));
    assert_eq!((t1 - t0, f1 - f0), (7, 5), "counters = datagrams sent: {c0:?} -> {c1:?}");

    // IPv6: neighbour discovery (the pod's address may still be tentative), ICMPv6, UDP.
    wait_v6(a.ns());
    assert_eq!(
        neigh_mac(a.ns(), "eth0", WIRE_IP6).as_deref(),
        Some(WIRE_MAC),
        "ND resolved the wire"
    );
    assert!(pings(None, A_IP6, 3), "wire -> pod ICMPv6");
    let v6_to_wire =
        udp_exchange(a.ns(), None, format!("[{WIRE_IP6}]:7003").parse().expect("a"), 5);
    let v6_to_pod = udp_exchange(None, a.ns(), format!("[{A_IP6}]:7004").parse().expect("a"), 5);
    assert_eq!((v6_to_wire, v6_to_pod), (5, 5), "UDPv6 pod -> wire and wire -> pod");

    // On the wire: everything from the pod carries TPID 0x8100, VID 100, PCP 5.
    let frames = cap.collect(Duration::from_millis(300));
    let pod_frames: Vec<&Frame> = from(&frames, A_MAC).collect();
    assert!(!pod_frames.is_empty(), "the capture saw nothing from the pod");
    for f in &pod_frames {
        let (tpid, tci) =
            f.tag().unwrap_or_else(|| panic!("untagged frame from the pod: {f:02x?}"));
        assert_eq!((tpid, tci & 0x0fff, tci >> 13), (ETH_P_8021Q, 100, 5), "tag of {f:02x?}");
    }
    let count = |pred: &dyn Fn(&Frame) -> bool| pod_frames.iter().filter(|f| pred(f)).count();
    assert!(count(&|f| f.ethertype() == ETH_P_ARP) >= 1, "the pod's ARP left tagged");
    assert!(count(&|f| f.ethertype() == ETH_P_IP) >= 3, "the pod's ICMP left tagged");
    assert_eq!(count(&|f| f.udp_dport() == Some(7001)), 5, "5 UDP datagrams on the wire");
    assert_eq!(count(&|f| f.udp_dport() == Some(7003)), 5, "5 UDPv6 datagrams on the wire");
    let nd = count(&|f| f.ethertype() == ETH_P_IPV6 && f.dst()[..3] == [0x33, 0x33, 0xff]);
    assert!(nd >= 1, "the pod's neighbour solicitation left tagged");

    // VLAN 200: reachable from the wire's VLAN 200 port only.
    assert!(pings(w200.ns(), B_IP, 2), "wire (VLAN 200) -> VLAN 200 pod");
    assert!(unreachable(None, B_IP), "wire (VLAN 100) reached the VLAN 200 pod");
    assert!(unreachable(a.ns(), B_IP), "VLAN 100 pod reached the VLAN 200 pod");
    assert!(unreachable(w200.ns(), A_IP), "wire (VLAN 200) reached the VLAN 100 pod");
    let frames = cap.collect(Duration::from_millis(100));
    let b_frames: Vec<&Frame> = from(&frames, B_MAC).collect();
    assert!(!b_frames.is_empty(), "the capture saw nothing from the VLAN 200 pod");
    assert!(
        b_frames.iter().all(|f| f.vid() == Some(200)),
        "VLAN 200 pod's frames: {b_frames:02x?}"
    );

    // Pod <-> pod on VLAN 100: counted on both ports, nothing on the uplink.
    pin_neigh(a.ns(), "eth0", C_IP, C_MAC);
    pin_neigh(c.ns(), "eth0", A_IP, A_MAC);
    cap.drain();
    let (a0, c0, tx0) = (up.counters(&a), up.counters(&c), up.pf_tx_packets());
    assert!(pings(a.ns(), C_IP, 10), "pod -> pod on VLAN 100");
    let (a1, c1, tx1) = (up.counters(&a), up.counters(&c), up.pf_tx_packets());
    let on_wire: Vec<Frame> = cap.collect(Duration::from_millis(100));
    let ours = on_wire.iter().filter(|f| [mac(A_MAC), mac(C_MAC)].contains(&f.src())).count();
    assert_eq!(ours, 0, "pod <-> pod frames reached the wire");
    assert_eq!(tx1 - tx0, 0, "pod <-> pod must not use the uplink");
    assert_eq!(unicast(&a1).1 - unicast(&a0).1, 10, "requests from pod A");
    assert_eq!(unicast(&c1).0 - unicast(&c0).0, 10, "requests to pod C");
    assert_eq!(unicast(&c1).1 - unicast(&c0).1, 10, "replies from pod C");
    assert_eq!(unicast(&a1).0 - unicast(&a0).0, 10, "replies to pod A");

    // The latency histogram filled in both directions.
    let lat = up.latency(&a);
    for (dir, h) in ["to pod", "from pod"].iter().zip(lat.prog) {
        assert!(h.count >= 10, "{dir}: {} latency samples", h.count);
        assert_eq!(h.buckets.iter().sum::<u64>(), h.count, "{dir}: buckets add up");
    }

    for p in [&a, &b, &c] {
        up.del(p);
    }
    up.assert_clean();
}

/// Waits until the pod's IPv6 address left DAD and ICMPv6 reaches the wire.
fn wait_v6(ns: Option<&str>) {
    murmuration_vm_tests::wait_for("pod -> wire ICMPv6", Duration::from_secs(20), || {
        pings(ns, WIRE_IP6, 1).then_some(())
    });
}

trait NsName {
    fn ns(&self) -> Option<&str>;
}

impl NsName for Pod {
    fn ns(&self) -> Option<&str> {
        Some(&self.name)
    }
}

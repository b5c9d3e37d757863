//! Pod <-> wire traffic on a VLAN, isolation between VLANs, exact counters,
//! pod <-> pod without the uplink, and the latency histogram.

use serde_json::json;

use super::frames::udp_exchange;
use super::{Capture, Fabric, WIRE_IF, WIRE_IP, WIRE_IP6, WIRE_MAC, neigh, ping};

const POD_MAC: &str = "02:00:00:00:01:01";
const POD2_MAC: &str = "02:00:00:00:01:02";

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn pods_reach_the_wire_tagged_with_their_vlan_and_pcp() {
    let f = Fabric::new(100);
    f.wire_v6();
    let pod = f.pod(true);
    let mut conf = f.conf(100, true);
    (conf["mac"], conf["vlanQoS"]) = (json!(POD_MAC), json!(5));
    let ip = f.attach(&pod, "tag-1", &conf);
    let cap = Capture::start(&f.wire, WIRE_IF);
    assert!(ping(&pod, WIRE_IP, 3), "pod -> wire ICMP (ARP through the flood path)");
    assert!(ping(&f.wire, &ip, 3), "wire -> pod ICMP");
    assert!(ping(&pod, WIRE_IP6, 3), "pod -> wire ICMPv6 (neighbour discovery)");
    let to_wire = udp_exchange(&pod, &f.wire, format!("{WIRE_IP}:7001").parse().expect("addr"), 5);
    assert_eq!(to_wire, 5, "UDP pod -> wire");
    let ip6 = f.w.record("tag-1", "eth0")["result"]["ips"][1]["address"].clone();
    let ip6 = ip6.as_str().and_then(|a| a.split('/').next()).expect("an IPv6 address").to_owned();
    let to_pod = udp_exchange(&f.wire, &pod, format!("[{ip6}]:7002").parse().expect("addr"), 5);
    assert_eq!(to_pod, 5, "UDPv6 wire -> pod");
    let dump = cap.stop();
    let tagged = format!("{POD_MAC} > {WIRE_MAC}, ethertype 802.1Q (0x8100), length");
    for (what, inner) in [("IPv4", "ethertype IPv4"), ("IPv6", "ethertype IPv6")] {
        let line = dump.lines().find(|l| l.contains(&tagged) && l.contains(inner));
        let line = line.unwrap_or_else(|| panic!("no tagged {what} frame from the pod:\n{dump}"));
        assert!(line.contains("vlan 100, p 5,"), "VID 100 / PCP 5 expected: {line}");
    }
    assert!(
        dump.lines().any(|l| l.contains(POD_MAC) && l.contains("vlan 100, p 5, ethertype ARP")),
        "the pod's ARP left tagged:\n{dump}"
    );
    let untagged =
        dump.lines().filter(|l| l.contains(&format!("{POD_MAC} >")) && !l.contains("802.1Q"));
    assert_eq!(untagged.count(), 0, "no untagged frame from the pod may reach the wire:\n{dump}");
    assert_eq!(f.wire_stats()[1], 0, "the wire port received untagged frames");
    f.w.del(Some(&pod), "tag-1", "eth0", &conf).ok();
    f.assert_clean(&[&pod]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn pods_on_different_vlans_cannot_reach_each_other() {
    let f = Fabric::new(100);
    let (p1, p2) = (f.pod(false), f.pod(false));
    let (c1, c2) = (f.conf(100, false), f.conf(200, false));
    let ip1 = f.attach(&p1, "iso-1", &c1);
    let ip2 = f.attach(&p2, "iso-2", &c2);
    assert!(ping(&f.wire, &ip1, 2), "wire (VLAN 100) -> VLAN 100 pod");
    assert!(!ping(&f.wire, &ip2, 2), "wire (VLAN 100) reached the VLAN 200 pod");
    assert!(!ping(&p1, &ip2, 2), "VLAN 100 pod reached the VLAN 200 pod");
    f.set_wire_vlan(200);
    assert!(ping(&f.wire, &ip2, 2), "wire (VLAN 200) -> VLAN 200 pod");
    assert!(!ping(&f.wire, &ip1, 2), "wire (VLAN 200) reached the VLAN 100 pod");
    f.clear_wire_vlan();
    assert!(!ping(&f.wire, &ip1, 2), "an untagged wire reached the VLAN 100 pod");
    f.w.del(Some(&p1), "iso-1", "eth0", &c1).ok();
    f.w.del(Some(&p2), "iso-2", "eth0", &c2).ok();
    f.assert_clean(&[&p1, &p2]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn counters_are_exact_and_pod_to_pod_bypasses_the_uplink() {
    let f = Fabric::new(100);
    let (p1, p2) = (f.pod(false), f.pod(false));
    let mut c1 = f.conf(100, false);
    c1["mac"] = json!(POD_MAC);
    let mut c2 = f.conf(100, false);
    c2["mac"] = json!(POD2_MAC);
    let ip1 = f.attach(&p1, "cnt-1", &c1);
    let ip2 = f.attach(&p2, "cnt-2", &c2);
    neigh(&p1, "eth0", WIRE_IP, WIRE_MAC);
    neigh(&p1, "eth0", &ip2, POD2_MAC);
    neigh(&p2, "eth0", &ip1, POD_MAC);
    neigh(&f.wire, WIRE_IF, &ip1, POD_MAC);
    let (before, wire0) = (f.counters("cnt-1"), f.wire_stats());
    assert!(ping(&p1, WIRE_IP, 10));
    let after = f.counters("cnt-1");
    assert_eq!(after.from_pod.packets - before.from_pod.packets, 10, "echo requests");
    assert_eq!(after.to_pod.packets - before.to_pod.packets, 10, "echo replies");
    assert_eq!(after.from_pod.bytes - before.from_pod.bytes, 10 * 98, "bytes of 84-byte ICMP + 14");
    assert_eq!(f.wire_stats()[0] - wire0[0], 10, "the wire saw 10 frames tagged 100");

    let (tx0, wire0) = (f.uplink_tx_packets(), f.wire_stats());
    let (a0, b0) = (f.counters("cnt-1"), f.counters("cnt-2"));
    assert!(ping(&p1, &ip2, 10), "pod -> pod on the same VLAN");
    let (a1, b1) = (f.counters("cnt-1"), f.counters("cnt-2"));
    assert_eq!(f.uplink_tx_packets() - tx0, 0, "pod <-> pod must not use the uplink");
    assert_eq!(f.wire_stats(), wire0, "the wire saw pod <-> pod traffic");
    assert_eq!(
        (a1.from_pod.packets - a0.from_pod.packets, b1.to_pod.packets - b0.to_pod.packets),
        (10, 10)
    );
    assert_eq!(
        (b1.from_pod.packets - b0.from_pod.packets, a1.to_pod.packets - a0.to_pod.packets),
        (10, 10)
    );

    let lat = f.reader().latency(f.attach_id("cnt-1")).expect("latency");
    for (dir, h) in ["to pod", "from pod"].iter().zip(lat.prog) {
        assert!(h.count >= 10, "{dir}: the histogram has {} samples", h.count);
        assert_eq!(h.buckets.iter().sum::<u64>(), h.count, "{dir}: buckets add up");
    }

    // The run-time switch: no counting while it is off, exact again after.
    murmuration_core::datapath::set_counting(&f.pin_dir(), false).expect("counting off");
    let (c0, h0) = (f.counters("cnt-1"), f.reader().latency(f.attach_id("cnt-1")).expect("lat"));
    assert!(ping(&p1, WIRE_IP, 3));
    let h1 = f.reader().latency(f.attach_id("cnt-1")).expect("latency");
    assert_eq!(f.counters("cnt-1"), c0, "counters moved while counting was off");
    assert_eq!(h1.prog[0].count, h0.prog[0].count, "latency sampled while counting was off");
    murmuration_core::datapath::set_counting(&f.pin_dir(), true).expect("counting on");
    assert!(ping(&p1, WIRE_IP, 3));
    assert_eq!(f.counters("cnt-1").from_pod.packets - c0.from_pod.packets, 3, "counting again");
    f.w.del(Some(&p1), "cnt-1", "eth0", &c1).ok();
    f.w.del(Some(&p2), "cnt-2", "eth0", &c2).ok();
    f.assert_clean(&[&p1, &p2]);
}

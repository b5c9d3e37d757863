//! Source-MAC enforcement, VLAN trunks and PTP handling.

use serde_json::json;

use super::frames::{Kind, frame, mac, send};
use super::{Capture, Fabric, WIRE_IF, WIRE_MAC};

const P1: &str = "02:00:00:00:02:01";
const P2: &str = "02:00:00:00:02:02";
const SPOOF: &str = "02:00:00:00:02:99";

fn settle() {
    std::thread::sleep(std::time::Duration::from_millis(300));
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn spoofed_source_macs_are_dropped_and_counted() {
    let f = Fabric::new(100);
    let (p1, p2) = (f.pod(false), f.pod(false));
    let mut c1 = f.conf(100, false);
    c1["mac"] = json!(P1);
    let mut c2 = f.conf(100, false);
    (c2["mac"], c2["spoofchk"]) = (json!(P2), json!("off"));
    f.attach(&p1, "spf-1", &c1);
    f.attach(&p2, "spf-2", &c2);
    let (before, wire0) = (f.counters("spf-1"), f.wire_stats());
    send(&p1, "eth0", &frame(Kind::Udp4, mac(WIRE_MAC), mac(SPOOF)), 7);
    send(&p1, "eth0", &frame(Kind::Tagged(200), mac(WIRE_MAC), mac(P1)), 4);
    settle();
    let after = f.counters("spf-1");
    assert_eq!(after.from_pod.drops[0] - before.from_pod.drops[0], 7, "drop_spoof");
    assert_eq!(after.from_pod.drops[1] - before.from_pod.drops[1], 4, "drop_vlan_not_allowed");
    assert_eq!(f.wire_stats(), wire0, "a dropped frame reached the wire");
    send(&p2, "eth0", &frame(Kind::Udp4, mac(WIRE_MAC), mac(SPOOF)), 3);
    settle();
    assert_eq!(f.wire_stats()[0] - wire0[0], 3, "spoofchk off lets other source MACs out");
    f.w.del(Some(&p1), "spf-1", "eth0", &c1).ok();
    f.w.del(Some(&p2), "spf-2", "eth0", &c2).ok();
    f.assert_clean(&[&p1, &p2]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn a_trunk_passes_only_its_vlans_with_their_tags() {
    let f = Fabric::new(100);
    let trunk = f.pod(false);
    let mut conf = f.conf(100, false);
    conf.as_object_mut().expect("object").remove("vlan");
    (conf["mac"], conf["trunk"]) = (json!(P1), json!([100, "200-201"]));
    f.attach(&trunk, "trk-1", &conf);
    let cap = Capture::start(&trunk, "eth0");
    send(&f.wire, WIRE_IF, &frame(Kind::Udp4, mac(P1), mac(WIRE_MAC)), 3);
    let dump = cap.stop();
    let tagged = format!("> {P1}, ethertype 802.1Q (0x8100)");
    let n = dump.lines().filter(|l| l.contains(&tagged) && l.contains("vlan 100,")).count();
    assert_eq!(n, 3, "the trunk pod gets VLAN 100 frames with their tag:\n{dump}");
    let (before, wire0) = (f.counters("trk-1"), f.wire_stats());
    send(&trunk, "eth0", &frame(Kind::Tagged(100), mac(WIRE_MAC), mac(P1)), 2);
    send(&trunk, "eth0", &frame(Kind::Tagged(201), mac(WIRE_MAC), mac(P1)), 3);
    send(&trunk, "eth0", &frame(Kind::Tagged(300), mac(WIRE_MAC), mac(P1)), 2);
    send(&trunk, "eth0", &frame(Kind::Udp4, mac(WIRE_MAC), mac(P1)), 1);
    settle();
    let (after, wire1) = (f.counters("trk-1"), f.wire_stats());
    assert_eq!(wire1[0] - wire0[0], 2, "VLAN 100 frames reach the wire tagged 100");
    assert_eq!(wire1[2] - wire0[2], 3, "VLAN 201 frames reach the wire tagged 201");
    assert_eq!(
        after.from_pod.drops[1] - before.from_pod.drops[1],
        3,
        "VLAN 300 and untagged dropped"
    );
    for bad in [json!(["5-3"]), json!([0]), json!(["x"]), json!([4095]), json!([true])] {
        let mut c = conf.clone();
        c["trunk"] = bad.clone();
        let pod = f.pod(false);
        assert_eq!(f.w.add(&pod, "trk-bad", "eth0", &c).code(), 7, "trunk {bad} must be refused");
    }
    f.w.del(Some(&trunk), "trk-1", "eth0", &conf).ok();
    f.assert_clean(&[&trunk]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn ptp_frames_pass_and_are_counted_separately() {
    let f = Fabric::new(100);
    let (p1, p2) = (f.pod(false), f.pod(false));
    let mut c1 = f.conf(100, false);
    c1["mac"] = json!(P1);
    let mut c2 = f.conf(100, false);
    c2["mac"] = json!(P2);
    f.attach(&p1, "ptp-1", &c1);
    f.attach(&p2, "ptp-2", &c2);
    let before = f.counters("ptp-1");
    for kind in [Kind::PtpL2, Kind::PtpUdp4, Kind::PtpUdp4Options, Kind::PtpUdp6] {
        send(&f.wire, WIRE_IF, &frame(kind, mac(P1), mac(WIRE_MAC)), 3);
    }
    send(&f.wire, WIRE_IF, &frame(Kind::Udp4, mac(P1), mac(WIRE_MAC)), 5);
    settle();
    let after = f.counters("ptp-1");
    assert_eq!(after.to_pod.ptp_packets - before.to_pod.ptp_packets, 12, "PTP frames counted");
    assert_eq!(after.to_pod.packets - before.to_pod.packets, 17, "every frame delivered");
    let (b1, b2, wire0) = (f.counters("ptp-1"), f.counters("ptp-2"), f.wire_stats());
    let multicast = mac("01:1b:19:00:00:00");
    send(&p1, "eth0", &frame(Kind::PtpL2, multicast, mac(P1)), 5);
    settle();
    let (a1, a2) = (f.counters("ptp-1"), f.counters("ptp-2"));
    assert_eq!(a1.from_pod.ptp_packets - b1.from_pod.ptp_packets, 5, "PTP multicast to the uplink");
    assert_eq!(a2.to_pod.flood_packets - b2.to_pod.flood_packets, 5, "flooded to the other pod");
    assert_eq!(f.wire_stats()[0] - wire0[0], 5, "PTP multicast reached the wire tagged");
    f.w.del(Some(&p1), "ptp-1", "eth0", &c1).ok();
    f.w.del(Some(&p2), "ptp-2", "eth0", &c2).ok();
    f.assert_clean(&[&p1, &p2]);
}

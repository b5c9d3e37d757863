//! The host tier's fast-path policy checks on the igb PF with native XDP:
//! spoofed source MACs dropped and counted, a trunk passing only its VLANs
//! (with their tags, both ways), PTP delivered and counted separately, and
//! nothing left after DEL. Frames are hand-built and sent with AF_PACKET;
//! what reaches the wire is read on the wire NIC with PACKET_AUXDATA.
#![cfg(target_env = "musl")]

use std::time::Duration;

use murmuration_core::datapath::common::{DROP_SPOOF, DROP_VLAN_NOT_ALLOWED};
use murmuration_vm_tests::cmd::{IP, ip, link, output};
use murmuration_vm_tests::fastpath::{IgbUplink, pin_neigh, wait_reachable};
use murmuration_vm_tests::packet::{
    ETH_P_1588, ETH_P_ALL, ETH_P_IP, Frame, PacketSocket, ether, ipv4_udp, mac, ptp_message,
};
use murmuration_vm_tests::sriov::WIRE_MAC;
use murmuration_vm_tests::wait_for;
use murmuration_vm_tests::wire::WireVlan;
use serde_json::json;

const P_MAC: &str = "02:0d:00:00:04:01";
const T_MAC: &str = "02:0d:00:00:04:02";
const O_MAC: &str = "02:0d:00:00:04:03";
const SPOOF: &str = "02:0d:00:00:04:99";
const P_IP: [u8; 4] = [10, 100, 0, 5];
const WIRE_IP: [u8; 4] = [10, 100, 0, 1];

/// An address-less VLAN device on the wire NIC: registers the VID in the
/// NIC's VLAN filter, so frames of that VLAN reach the capture if sent.
struct WireVid(String);

impl WireVid {
    fn new(wire: &str, vid: u16) -> Self {
        let name = format!("wire.{vid}");
        ip(&["link", "add", "link", wire, "name", &name, "type", "vlan", "id", &vid.to_string()]);
        std::fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1").expect("v6");
        ip(&["link", "set", &name, "up"]);
        Self(name)
    }
}

impl Drop for WireVid {
    fn drop(&mut self) {
        let _ = output(IP, &["link", "del", &self.0]);
    }
}

fn udp(src: [u8; 4], dst: [u8; 4], dport: u16) -> Vec<u8> {
    ipv4_udp(src, dst, dport, &[0; 44])
}

/// Frames from `src` on the wire (received there, not sent by the wire).
fn from(frames: &[Frame], src: &str) -> Vec<Frame> {
    frames.iter().filter(|f| !f.outgoing() && f.src() == mac(src)).cloned().collect()
}

/// Pinned TCX links of pod veths on the uplink.
fn pod_links(up: &IgbUplink) -> usize {
    let dir = std::fs::read_dir(up.pin_dir()).expect("pin dir");
    dir.flatten().filter(|e| e.file_name().to_string_lossy().starts_with("link_pod_")).count()
}

fn settle() -> Duration {
    Duration::from_millis(500)
}

#[test]
fn igb_fast_path_spoofing_trunks_and_ptp() {
    let up = IgbUplink::new("xdpp");
    let wire = up.s.wire.clone();
    let _w100 = WireVlan::new(&wire, 100, "10.100.0.1/24");
    let _vids = [WireVid::new(&wire, 200), WireVid::new(&wire, 201), WireVid::new(&wire, 300)];
    let p_conf = up.conf(P_MAC, &["10.100.0.5/24"], &json!({"vlan": 100}));
    let p = up.attach("xp", "c-p", &p_conf, false);
    up.assert_native_xdp();
    let t_conf = up.conf(T_MAC, &["10.100.0.6/24"], &json!({"trunk": [100, "200-201"]}));
    let t = up.attach("xt", "c-t", &t_conf, false);
    wait_reachable(p.ns(), "10.100.0.1");
    // No ARP in the counted windows (the pod answers UDP with ICMP errors).
    pin_neigh(p.ns(), "eth0", "10.100.0.1", WIRE_MAC);
    pin_neigh(None, "wire.100", "10.100.0.5", P_MAC);
    // The wire answers the trunk's UDP with ICMP errors: no ARP flood for those either.
    pin_neigh(None, "wire.100", "10.100.0.6", T_MAC);
    let cap = PacketSocket::open(None, &wire, ETH_P_ALL);
    let (wire_mac, p_mac, t_mac) = (mac(WIRE_MAC), mac(P_MAC), mac(T_MAC));

    // Spoofed source MAC and a tag on an access port: dropped and counted;
    // the same frame with the pod's own MAC goes out tagged 100.
    let p_tx = PacketSocket::open(p.ns(), "eth0", 0);
    let c0 = up.counters(&p);
    cap.drain();
    p_tx.send(&ether(wire_mac, mac(SPOOF), None, ETH_P_IP, &udp(P_IP, WIRE_IP, 9001)), 7);
    p_tx.send(&ether(wire_mac, p_mac, Some(200), ETH_P_IP, &udp(P_IP, WIRE_IP, 9002)), 4);
    p_tx.send(&ether(wire_mac, p_mac, None, ETH_P_IP, &udp(P_IP, WIRE_IP, 9003)), 3);
    let frames = cap.collect(settle());
    let c1 = up.counters(&p);
    assert_eq!(c1.from_pod.drops[DROP_SPOOF] - c0.from_pod.drops[DROP_SPOOF], 7, "drop_spoof");
    let vna = c1.from_pod.drops[DROP_VLAN_NOT_ALLOWED] - c0.from_pod.drops[DROP_VLAN_NOT_ALLOWED];
    assert_eq!(vna, 4, "drop_vlan_not_allowed: a tagged frame from an access port");
    assert!(from(&frames, SPOOF).is_empty(), "a spoofed frame reached the wire");
    let own = from(&frames, P_MAC);
    assert!(own.iter().all(|f| f.udp_dport() != Some(9002)), "the tagged frame reached the wire");
    let good: Vec<_> = own.iter().filter(|f| f.udp_dport() == Some(9003)).collect();
    assert_eq!(good.len(), 3, "the pod's own frames reach the wire: {own:02x?}");
    assert!(good.iter().all(|f| f.vid() == Some(100)), "tagged 100: {good:02x?}");
    assert_eq!(c1.from_pod.packets - c0.from_pod.packets, 3, "forwarded from the pod");

    // Trunk, wire -> pod: a VLAN 100 frame arrives with its tag.
    let t_rx = PacketSocket::open(t.ns(), "eth0", ETH_P_ALL);
    let w100_tx = PacketSocket::open(None, "wire.100", 0);
    w100_tx.send(&ether(t_mac, wire_mac, None, ETH_P_IP, &udp(WIRE_IP, [10, 100, 0, 6], 9004)), 3);
    let got = t_rx.collect(settle());
    let got: Vec<_> = got.iter().filter(|f| !f.outgoing() && f.udp_dport() == Some(9004)).collect();
    assert_eq!(got.len(), 3, "the trunk pod gets the VLAN 100 frames: {got:02x?}");
    assert!(got.iter().all(|f| f.vid() == Some(100)), "with their tag: {got:02x?}");

    // Trunk, pod -> wire: allowed VLANs pass with their tags, others drop.
    let t_tx = PacketSocket::open(t.ns(), "eth0", 0);
    let t0 = up.counters(&t);
    cap.drain();
    let tagged = |vid: u16, port: u16| {
        ether(wire_mac, t_mac, Some(vid), ETH_P_IP, &udp([10, 100, 0, 6], WIRE_IP, port))
    };
    t_tx.send(&tagged(100, 9100), 2);
    t_tx.send(&tagged(201, 9201), 3);
    t_tx.send(&tagged(300, 9300), 2);
    t_tx.send(&ether(wire_mac, t_mac, None, ETH_P_IP, &udp([10, 100, 0, 6], WIRE_IP, 9000)), 1);
    let frames = from(&cap.collect(settle()), T_MAC);
    let t1 = up.counters(&t);
    let on_wire = |port: u16| -> Vec<Option<u16>> {
        frames.iter().filter(|f| f.udp_dport() == Some(port)).map(Frame::vid).collect()
    };
    assert_eq!(on_wire(9100), [Some(100); 2], "VLAN 100 reaches the wire tagged 100");
    assert_eq!(on_wire(9201), [Some(201); 3], "VLAN 201 reaches the wire tagged 201");
    assert_eq!(on_wire(9300), [], "VLAN 300 is not the trunk's");
    assert_eq!(on_wire(9000), [], "untagged is not the trunk's (no native VLAN)");
    let vna = t1.from_pod.drops[DROP_VLAN_NOT_ALLOWED] - t0.from_pod.drops[DROP_VLAN_NOT_ALLOWED];
    assert_eq!(vna, 3, "VLAN 300 and untagged counted as not allowed");
    assert_eq!(t1.from_pod.packets - t0.from_pod.packets, 5, "forwarded from the trunk");

    // PTP from the wire: delivered (XDP passes it to tc) and counted apart.
    let p_ptp = PacketSocket::open(p.ns(), "eth0", ETH_P_1588);
    let c0 = up.counters(&p);
    w100_tx.send(&ether(p_mac, wire_mac, None, ETH_P_1588, &ptp_message()), 4);
    w100_tx.send(
        &ether(p_mac, wire_mac, None, ETH_P_IP, &ipv4_udp(WIRE_IP, P_IP, 319, &ptp_message())),
        3,
    );
    w100_tx.send(&ether(p_mac, wire_mac, None, ETH_P_IP, &udp(WIRE_IP, P_IP, 9999)), 5);
    let l2 = p_ptp.collect(settle()).iter().filter(|f| !f.outgoing()).count();
    let c1 = up.counters(&p);
    assert_eq!(l2, 4, "the pod received the L2 PTP frames");
    assert_eq!(
        c1.to_pod.ptp_packets - c0.to_pod.ptp_packets,
        7,
        "PTP (L2 and UDP 319) counted: {c0:?} -> {c1:?}"
    );
    assert_eq!(
        c1.to_pod.packets - c0.to_pod.packets,
        12,
        "every frame delivered and counted: {c0:?} -> {c1:?}"
    );

    // GC: an orphan (record lost, namespace gone without DEL) loses its
    // port and pinned link; the live ports keep theirs.
    let o_conf = up.conf(O_MAC, &["10.100.0.7/24"], &json!({"vlan": 100}));
    let mut o = up.attach("xo", "c-o", &o_conf, false);
    assert_eq!(up.reader().ports().len(), 3, "three ports before GC");
    assert_eq!(pod_links(&up), 3, "three pinned pod links before GC");
    let record = up.cni.data_dir.join("attachments").join("c-o@eth0.json");
    std::fs::remove_file(&record).expect("dropping the orphan's record");
    o.pod.delete();
    wait_for("the orphan's host veth to go", Duration::from_secs(10), || {
        link(None, &o.host).is_none().then_some(())
    });
    let mut gc = p_conf.clone();
    gc["cni.dev/valid-attachments"] = json!([
        {"containerID": "c-p", "ifname": "eth0"},
        {"containerID": "c-t", "ifname": "eth0"},
    ]);
    up.cni.call("GC", None, "", "", &gc).result();
    let ids: Vec<u32> = up.reader().ports().iter().map(|(_, pc)| pc.attach_id).collect();
    assert_eq!(ids.len(), 2, "GC dropped exactly the orphan's port: {ids:?}");
    assert!(ids.contains(&p.id) && ids.contains(&t.id), "live ports kept: {ids:?}");
    assert_eq!(pod_links(&up), 2, "GC unpinned exactly the orphan's link");

    up.del(&p);
    assert!(up.pin_dir().exists(), "the uplink keeps its programs while a port is left");
    up.del(&t);
    up.assert_clean();
}

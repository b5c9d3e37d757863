//! The XDP variant of the uplink program (`uplinkXdp`): tagged unicast from
//! the wire is redirected by XDP into the pod, everything else still goes
//! through tc; `auto` and `native` respect rx-vlan-offload.

use serde_json::json;

use super::frames::udp_exchange;
use super::{Fabric, UPLINK, WIRE_IF, WIRE_IP, WIRE_MAC, ethtool, neigh, ping};

const POD_MAC: &str = "02:00:00:00:02:01";

/// XDP redirects counted by the uplink veth's driver (`ethtool -S`).
fn xdp_redirects(f: &Fabric) -> u64 {
    let stats = ethtool(&f.w.node, &["-S", UPLINK]);
    stats
        .lines()
        .filter(|l| l.contains("xdp_redirect"))
        .filter_map(|l| l.rsplit(':').next()?.trim().parse::<u64>().ok())
        .sum()
}

/// A fabric whose wire puts VLAN tags into the frame (as a switch port
/// does) and whose uplink does not offload them: what XDP needs. The wire
/// also computes its checksums, as a remote host's NIC has by the time a
/// frame is on a real wire (a veth would otherwise hand over
/// CHECKSUM_PARTIAL skbs, whose state an XDP redirect cannot carry).
fn in_packet_tags(f: &Fabric) {
    ethtool(&f.wire, &["-K", WIRE_IF, "txvlan", "off", "tx", "off"]);
    ethtool(&f.w.node, &["-K", UPLINK, "rxvlan", "off"]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn native_xdp_redirects_tagged_unicast_into_the_pod() {
    let f = Fabric::new(100);
    in_packet_tags(&f);
    let pod = f.pod(false);
    let mut conf = f.conf(100, false);
    (conf["mac"], conf["uplinkXdp"]) = (json!(POD_MAC), json!("native"));
    let ip = f.attach(&pod, "xdp-1", &conf);
    assert!(f.pin_dir().join("link_xdp_native").exists(), "native XDP link pinned");
    let link = f.w.node.json(&["-d", "link", "show", UPLINK]);
    assert!(link[0]["xdp"]["mode"].as_u64() == Some(1), "native XDP on the uplink: {link}");
    assert!(ping(&pod, WIRE_IP, 2), "ARP and ICMP through tc (broadcast is left to tc)");
    neigh(&f.wire, WIRE_IF, &ip, POD_MAC);
    neigh(&pod, "eth0", WIRE_IP, WIRE_MAC);

    let (c0, x0, w0) = (f.counters("xdp-1"), xdp_redirects(&f), f.wire_stats());
    assert!(ping(&f.wire, &ip, 10), "wire -> pod ICMP through XDP");
    let got = udp_exchange(&f.wire, &pod, format!("{ip}:7003").parse().expect("addr"), 20);
    assert_eq!(got, 20, "UDP wire -> pod through XDP");
    let c1 = f.counters("xdp-1");
    assert_eq!(c1.to_pod.packets - c0.to_pod.packets, 30, "10 echo requests + 20 datagrams");
    assert_eq!(xdp_redirects(&f) - x0, 30, "every one of them was an XDP redirect");
    assert_eq!(c1.from_pod.packets - c0.from_pod.packets, 10, "echo replies via tc");
    assert_eq!(f.wire_stats()[0] - w0[0], 10, "replies reached the wire tagged 100");
    assert_eq!(f.wire_stats()[1], 0, "nothing untagged reached the wire");

    // This kernel (6.18) delivers an XDP redirect into a veth end to its peer
    // only through the peer's NAPI path, which the plugin enabled with GRO.
    ethtool(&pod, &["-K", "eth0", "gro", "off"]);
    assert!(!ping(&f.wire, &ip, 2), "XDP redirect into a veth whose peer has no NAPI");
    ethtool(&pod, &["-K", "eth0", "gro", "on"]);
    assert!(ping(&f.wire, &ip, 2), "GRO back on: XDP delivers again");

    // Untagged frames are never XDP's: tc sees VLAN 0, which has no pod.
    f.clear_wire_vlan();
    neigh(&f.wire, WIRE_IF, &ip, POD_MAC);
    let x1 = xdp_redirects(&f);
    assert!(!ping(&f.wire, &ip, 2), "an untagged wire reached the VLAN 100 pod");
    assert_eq!(xdp_redirects(&f), x1, "untagged frames were redirected by XDP");

    f.w.del(Some(&pod), "xdp-1", "eth0", &conf).ok();
    f.assert_clean(&[&pod]);
    let link = f.w.node.json(&["-d", "link", "show", UPLINK]);
    assert!(link[0].get("xdp").is_none(), "XDP left on the uplink: {link}");
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn xdp_respects_rx_vlan_offload() {
    let f = Fabric::new(100);
    let pod = f.pod(false);
    let mut conf = f.conf(100, false);
    conf["uplinkXdp"] = json!("native");
    let err = f.w.add(&pod, "xdp-2", "eth0", &conf).error();
    assert_eq!(err["code"], 7, "native XDP with rx-vlan-offload on is refused: {err}");
    assert!(err["msg"].as_str().unwrap_or("").contains("rxvlan"), "{err}");
    f.assert_clean(&[&pod]);

    conf["uplinkXdp"] = json!("auto");
    let ip = f.attach(&pod, "xdp-2", &conf);
    assert!(!f.pin_dir().join("link_xdp_native").exists(), "auto chose XDP despite offload");
    assert!(ping(&f.wire, &ip, 2), "tc serves the pod");
    f.w.del(Some(&pod), "xdp-2", "eth0", &conf).ok();
    f.assert_clean(&[&pod]);
}

//! The eBPF fast path on real NIC drivers: a `veth` pod whose `master` is the
//! igb PF, with the uplink program in native XDP, talking to the wire NIC's
//! real 802.1Q subinterface on VLAN 100.
#![cfg(target_env = "musl")]

use std::path::Path;
use std::time::Duration;

use murmuration_core::datapath::{PortCounters, Reader};
use murmuration_vm_tests::cmd::{IP, ip, link, run};
use murmuration_vm_tests::cni::Cni;
use murmuration_vm_tests::fastpath::pings;
use murmuration_vm_tests::pod::Pod;
use murmuration_vm_tests::sriov::{Sriov, WIRE_MAC};
use murmuration_vm_tests::wait_for;
use murmuration_vm_tests::wire::{Bpffs, WireVlan};
use serde_json::{Value, json};

const POD_MAC: &str = "02:0d:00:00:01:00";
const POD_IP: &str = "10.100.0.2";
const WIRE_IP: &str = "10.100.0.1";
const ETHTOOL: &str = "/usr/sbin/ethtool";

/// `ethtool -S` counters of `dev` in `ns` whose name contains `part`, summed.
fn ethtool_stat(ns: Option<&str>, dev: &str, part: &str) -> u64 {
    let text = match ns {
        Some(ns) => run(IP, &["netns", "exec", ns, ETHTOOL, "-S", dev]),
        None => run(ETHTOOL, &["-S", dev]),
    };
    text.lines()
        .filter(|l| l.split(':').next().is_some_and(|k| k.contains(part)))
        .filter_map(|l| l.rsplit(':').next()?.trim().parse::<u64>().ok())
        .sum()
}

fn counters(pins: &Path, id: u32) -> PortCounters {
    Reader::open(pins).expect("pinned maps").counters(id).expect("counters")
}

/// Unicast (non-flood) packets in each direction.
fn unicast(c: &PortCounters) -> (u64, u64) {
    (c.to_pod.packets - c.to_pod.flood_packets, c.from_pod.packets - c.from_pod.flood_packets)
}

fn veth_conf(cni: &Cni, pf: &str, bpffs: &Bpffs) -> Value {
    let mut c = cni.conf("veth");
    c["master"] = json!(pf);
    c["vlan"] = json!(100);
    c["mac"] = json!(POD_MAC);
    c["uplinkXdp"] = json!("native");
    c["bpfPinRoot"] = json!(bpffs.path().join("murmuration"));
    c["ipam"] = json!({"type": "static", "addresses": [{"address": format!("{POD_IP}/24")}]});
    c
}

#[test]
fn veth_pod_reaches_the_wire_vlan_100_through_native_xdp_on_igb() {
    let s = Sriov::without_vfs();
    // XDP needs the tag in the packet; the PF must accept the pod's MAC.
    run(ETHTOOL, &["-K", &s.pf, "rxvlan", "off"]);
    ip(&["link", "set", &s.pf, "promisc", "on"]);
    let _w100 = WireVlan::new(&s.wire, 100, &format!("{WIRE_IP}/24"));
    let bpffs = Bpffs::mount_temp("xdp");
    let cni = Cni::new("xdp");
    let pod = Pod::new("xdp");
    run(
        IP,
        &[
            "netns",
            "exec",
            &pod.name,
            "/bin/sh",
            "-c",
            "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6",
        ],
    );
    let conf = veth_conf(&cni, &s.pf, &bpffs);
    let r = cni.call("ADD", Some(&pod.path()), "c-xdp", "eth0", &conf).result();
    assert_eq!(r["interfaces"][1]["mac"], POD_MAC, "{r}");
    let pins = bpffs.path().join("murmuration").join(&s.pf);
    assert!(pins.join("link_xdp_native").exists(), "native XDP link pinned on the igb PF");
    let pf = link(None, &s.pf).expect("PF");
    assert_eq!(pf["xdp"]["mode"], 1, "driver-mode XDP on igb: {pf}");
    let rec = cni.record("c-xdp", "eth0").expect("record");
    let id = u32::try_from(rec["datapath"]["attach_id"].as_u64().expect("attach_id")).expect("id");
    let host_veth = rec["host_ifname"].as_str().expect("host_ifname").to_owned();

    // Attaching XDP resets the igb link: wait for it, then resolve both ways
    // (ARP is broadcast: XDP passes it to tc, which floods it to the pod).
    wait_for("pod -> wire ping over VLAN 100", Duration::from_secs(20), || {
        pings(Some(&pod.name), WIRE_IP, 1).then_some(())
    });
    // Pin the neighbours so no ARP refresh lands in the counted window.
    ip(&["neigh", "replace", POD_IP, "lladdr", POD_MAC, "dev", "wire.100", "nud", "permanent"]);
    pod.ip(&["neigh", "replace", WIRE_IP, "lladdr", WIRE_MAC, "dev", "eth0", "nud", "permanent"]);

    let c0 = counters(&pins, id);
    let x0 = ethtool_stat(None, &host_veth, "xdp_xmit");
    assert!(pings(None, POD_IP, 20), "wire -> pod: 20 echo requests answered");
    let c1 = counters(&pins, id);
    let x1 = ethtool_stat(None, &host_veth, "xdp_xmit");
    let ((to0, from0), (to1, from1)) = (unicast(&c0), unicast(&c1));
    assert_eq!(to1 - to0, 20, "20 echo requests to the pod counted: {c0:?} -> {c1:?}");
    assert_eq!(from1 - from0, 20, "20 echo replies from the pod counted: {c0:?} -> {c1:?}");
    assert_eq!(x1 - x0, 20, "every request reached the pod by an XDP redirect (veth xdp_xmit)");
    assert!(pings(Some(&pod.name), WIRE_IP, 10), "pod -> wire: 10 echo requests answered");
    let c2 = counters(&pins, id);
    assert_eq!(unicast(&c2).0 - to1, 10, "10 echo replies to the pod");
    assert_eq!(unicast(&c2).1 - from1, 10, "10 echo requests from the pod");
    assert_eq!(ethtool_stat(None, &host_veth, "xdp_xmit") - x1, 10, "replies via XDP too");

    cni.call("DEL", Some(&pod.path()), "c-xdp", "eth0", &conf).result();
    let pf = link(None, &s.pf).expect("PF");
    assert!(pf.get("xdp").is_none(), "XDP left on the PF: {pf}");
    assert!(!pins.exists(), "pins left after the last port went");
    assert!(link(None, &host_veth).is_none(), "host veth deleted");
    assert!(cni.records().is_empty());
    ip(&["link", "set", &s.pf, "promisc", "off"]);
    run(ETHTOOL, &["-K", &s.pf, "rxvlan", "on"]);
}

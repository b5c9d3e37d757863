//! `vlan` mode traffic to the wire's VLAN, VF traffic on VLAN 100, and VF ADD/DEL latency.
#![cfg(target_env = "musl")]

use std::time::Duration;

use murmuration_vm_tests::cmd::{ip, link, ping};
use murmuration_vm_tests::cni::Cni;
use murmuration_vm_tests::pod::Pod;
use murmuration_vm_tests::report;
use murmuration_vm_tests::sriov::Sriov;
use murmuration_vm_tests::wire::WireVlan;
use serde_json::json;

#[test]
fn vlan_mode_pod_reaches_the_wire_vlan_and_is_deleted_on_del() {
    let s = Sriov::fresh();
    let _wire = WireVlan::new(&s.wire, 300, "10.30.0.1/24");
    let cni = Cni::new("vlan");
    let pod = Pod::new("vlan");
    let mut conf = cni.conf("vlan");
    conf["master"] = json!(s.pf);
    conf["vlan"] = json!(300);
    conf["mtu"] = json!(1400);
    conf["ipam"] = json!({"type": "static", "addresses": [{"address": "10.30.0.2/24"}]});
    let r = cni.call("ADD", Some(&pod.path()), "c-vlan", "net1", &conf).result();
    assert_eq!(r["interfaces"][0]["name"], "net1");
    let l = link(Some(&pod.name), "net1").expect("net1");
    assert_eq!(l["linkinfo"]["info_kind"], "vlan");
    assert_eq!(l["linkinfo"]["info_data"]["id"], 300);
    assert_eq!(l["mtu"], 1400);
    assert!(ping(&pod.name, "10.30.0.1"), "pod reaches the wire's VLAN 300");
    let mut too_big = conf.clone();
    too_big["mtu"] = json!(9000);
    let err = cni.call("ADD", Some(&pod.path()), "c-vlan2", "net2", &too_big).error();
    assert_eq!(err["code"], 7, "MTU above master's: {err}");
    cni.call("DEL", Some(&pod.path()), "c-vlan", "net1", &conf).result();
    assert!(link(Some(&pod.name), "net1").is_none());
    assert!(cni.records().is_empty());
}

#[test]
fn vf_on_vlan_100_reaches_the_wire_vlan_100_only_and_untagged_reaches_untagged() {
    let s = Sriov::fresh();
    let _w100 = WireVlan::new(&s.wire, 100, "10.100.0.1/24");
    ip(&["addr", "add", "10.99.0.1/24", "dev", &s.wire]);
    let cni = Cni::new("traffic");
    let tagged = Pod::new("tagged");
    let plain = Pod::new("plain");
    let mut c1 = cni.conf("sriov");
    c1["deviceID"] = json!(s.vfs[0].pci);
    c1["vlan"] = json!(100);
    c1["ipam"] = json!({"type": "static", "addresses": [{"address": "10.100.0.2/24"}]});
    let mut c2 = cni.conf("sriov");
    c2["deviceID"] = json!(s.vfs[1].pci);
    c2["ipam"] = json!({"type": "static", "addresses": [{"address": "10.99.0.2/24"}]});
    cni.call("ADD", Some(&tagged.path()), "c-t", "net1", &c1).result();
    cni.call("ADD", Some(&plain.path()), "c-p", "net1", &c2).result();
    assert!(ping(&tagged.name, "10.100.0.1"), "VLAN 100 VF reaches wire.100");
    assert!(ping(&plain.name, "10.99.0.1"), "untagged VF reaches the untagged wire");
    // Isolation: the tagged VF cannot reach the untagged wire address space.
    tagged.ip(&["addr", "add", "10.99.0.3/24", "dev", "net1"]);
    assert!(!ping(&tagged.name, "10.99.0.1"), "VLAN 100 traffic never reaches the untagged wire");
    cni.call("DEL", Some(&tagged.path()), "c-t", "net1", &c1).result();
    cni.call("DEL", Some(&plain.path()), "c-p", "net1", &c2).result();
    ip(&["addr", "del", "10.99.0.1/24", "dev", &s.wire]);
}

#[test]
fn vf_add_del_latency() {
    let s = Sriov::fresh();
    let cni = Cni::new("lat");
    let vf = &s.vfs[6];
    let mut conf = cni.conf("sriov");
    conf["deviceID"] = json!(vf.pci);
    conf["mac"] = json!("02:cc:00:00:00:06");
    conf["vlan"] = json!(10);
    conf["ipam"] = json!({"type": "static", "addresses": [{"address": "10.66.0.2/24"}]});
    let (mut adds, mut dels) = (Vec::new(), Vec::new());
    for i in 0..15 {
        let pod = Pod::new("lat");
        let cid = format!("c-lat{i}");
        let a = cni.call("ADD", Some(&pod.path()), &cid, "net1", &conf);
        adds.push(a.elapsed);
        a.result();
        let d = cni.call("DEL", Some(&pod.path()), &cid, "net1", &conf);
        dels.push(d.elapsed);
        d.result();
    }
    let med = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (a, d) = (med(&mut adds), med(&mut dels));
    let text = format!(
        "VF ADD/DEL latency in the guest (QEMU TCG, 15 runs, kernel-driver VF with mac+vlan+static IPAM):\n\
         ADD median {:.1} ms (min {:.1}, max {:.1})\nDEL median {:.1} ms (min {:.1}, max {:.1})\n",
        a.as_secs_f64() * 1e3,
        adds[0].as_secs_f64() * 1e3,
        adds[adds.len() - 1].as_secs_f64() * 1e3,
        d.as_secs_f64() * 1e3,
        dels[0].as_secs_f64() * 1e3,
        dels[dels.len() - 1].as_secs_f64() * 1e3,
    );
    report("vf-latency.txt", &text);
    assert!(cni.records().is_empty());
}

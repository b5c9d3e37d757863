//! A record, a duplicate MAC, a damaged pin directory or a full map never
//! takes down a live pod's port: ownership by cookie and boot id, clashes
//! and capacity refused before anything changes, remnants never guessed.

use std::path::Path;

use serde_json::{Value, json};

use super::{Fabric, UPLINK, WIRE_IP, ping};
use crate::common::{Netns, host_ifname};

const MAC: &str = "02:aa:00:00:00:01";

/// Writes `rec` as the record of attachment (`cid`, eth0).
fn write_record(f: &Fabric, cid: &str, rec: &Value) {
    let path = f.w.record_path(cid, "eth0");
    std::fs::write(&path, serde_json::to_vec(rec).expect("JSON")).expect("write record");
}

/// The live pod's port is exactly as ADD left it and still forwards.
fn assert_port_alive(f: &Fabric, pod: &Netns, cid: &str, conf: &Value) {
    assert_eq!(f.reader().ports().len(), 1, "the live port is still configured");
    assert_eq!(f.tcx_programs(UPLINK), ["uplink_ingress"], "the uplink keeps its program");
    assert_eq!(f.tcx_programs(&host_ifname(cid, "eth0")), ["pod_egress"]);
    f.w.check(pod, cid, "eth0", conf).ok();
    assert!(ping(pod, WIRE_IP, 2), "the live pod still reaches the wire");
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn a_stale_record_whose_numbers_were_reused_releases_only_its_own_lease() {
    let f = Fabric::new(100);
    let conf = f.conf(100, false);
    // Before the "reboot": a pod whose namespace, veth and port vanish with
    // the node, while its record and lease stay on disk.
    let mut old_pod = f.pod(false);
    let old_ip = f.attach(&old_pod, "before-boot", &conf);
    old_pod.delete();
    f.wait_gone(&host_ifname("before-boot", "eth0"));
    // After it: a new pod gets the same attachment id, and (as after a
    // reboot) the same host ifindex in the record we replay.
    let live = f.pod(false);
    let live_ip = f.attach(&live, "after-boot", &conf);
    let live_rec = f.w.record("after-boot", "eth0");
    let mut stale = f.w.record("before-boot", "eth0");
    assert_eq!(stale["datapath"]["attach_id"], live_rec["datapath"]["attach_id"], "id reused");
    stale["datapath"]["host_ifindex"] = live_rec["datapath"]["host_ifindex"].clone();
    write_record(&f, "before-boot", &stale);

    f.w.del(None, "before-boot", "eth0", &conf).ok();
    assert_port_alive(&f, &live, "after-boot", &conf);
    assert_eq!(f.w.attachments(), ["after-boot@eth0.json"], "the stale record is gone");
    let leased = f.w.leased_ips(&f.w.net);
    assert!(!leased.contains(&old_ip), "the stale lease is released: {leased:?}");
    assert!(leased.contains(&live_ip), "the live lease stays: {leased:?}");

    // The same through GC of a runtime that lists only the live pod.
    write_record(&f, "before-boot", &stale);
    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": "after-boot", "ifname": "eth0"}]);
    f.w.gc(&gc).ok();
    assert_port_alive(&f, &live, "after-boot", &conf);
    assert_eq!(f.w.attachments(), ["after-boot@eth0.json"]);

    f.w.del(Some(&live), "after-boot", "eth0", &conf).ok();
    f.assert_clean(&[&live]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn a_record_from_an_earlier_boot_touches_no_kernel_state() {
    let f = Fabric::new(100);
    let conf = f.conf(100, false);
    let live = f.pod(false);
    f.attach(&live, "live", &conf);
    // The worst case: a record of an earlier boot naming exactly the live
    // port (same veth name, ifindex, id, even cookie).
    let mut stale = f.w.record("live", "eth0");
    stale["container_id"] = json!("earlier");
    stale["boot_id"] = json!("00000000-0000-0000-0000-000000000000");
    write_record(&f, "earlier", &stale);

    f.w.del(None, "earlier", "eth0", &conf).ok();
    assert_port_alive(&f, &live, "live", &conf);
    assert!(f.w.node.link(&host_ifname("live", "eth0")).is_some(), "the veth stays");
    assert_eq!(f.w.attachments(), ["live@eth0.json"]);
    f.w.del(Some(&live), "live", "eth0", &conf).ok();
    f.assert_clean(&[&live]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn a_mac_in_use_on_the_same_vlan_is_refused_and_changes_nothing() {
    let f = Fabric::new(100);
    let mut conf = f.conf(100, false);
    conf["runtimeConfig"] = json!({"mac": MAC});
    let first = f.pod(false);
    f.attach(&first, "first", &conf);
    let entries = f.reader().entry_counts();

    let hostile = f.pod(false);
    let out = f.w.add(&hostile, "hostile", "eth0", &conf);
    assert_eq!(out.code(), 107, "MAC clash: {}", out.stdout);
    let msg = out.error()["msg"].as_str().unwrap_or_default().to_owned();
    assert!(msg.contains(MAC) && msg.contains("VLAN 100"), "names the clash: {msg}");
    hostile.assert_empty("refused pod");
    assert_eq!(f.w.attachments(), ["first@eth0.json"], "no record for the refused pod");
    assert_eq!(f.w.leases().len(), 1, "the refused pod's lease is released");
    assert_eq!(f.reader().entry_counts(), entries, "no map entry changed");
    // The runtime's DEL of the refused ADD must not touch the first pod either.
    f.w.del(Some(&hostile), "hostile", "eth0", &conf).ok();
    assert_port_alive(&f, &first, "first", &conf);

    // The same MAC on another VLAN is another station.
    let mut other_vlan = f.conf(200, false);
    other_vlan["runtimeConfig"] = json!({"mac": MAC});
    let elsewhere = f.pod(false);
    f.attach(&elsewhere, "elsewhere", &other_vlan);
    f.w.del(Some(&elsewhere), "elsewhere", "eth0", &other_vlan).ok();
    f.w.del(Some(&first), "first", "eth0", &conf).ok();
    f.assert_clean(&[&first, &hostile, &elsewhere]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn a_full_attach_table_refuses_with_try_again_later_and_changes_nothing() {
    let f = Fabric::new(100);
    let mut big = f.conf(0, false);
    big["trunk"] = json!(["1-4094"]);
    let trunk = f.pod(false);
    f.attach(&trunk, "trunk", &big);
    assert_eq!(f.reader().entry_counts().0, 4094, "one entry per trunk VLAN");

    let mut three = f.conf(0, false);
    three["trunk"] = json!(["10-12"]);
    let refused = f.pod(false);
    let out = f.w.add(&refused, "refused", "eth0", &three);
    assert_eq!(out.code(), 11, "no room: {}", out.stdout);
    let msg = out.error()["msg"].as_str().unwrap_or_default().to_owned();
    assert!(msg.contains("4094 of its 4096"), "names the limit: {msg}");
    refused.assert_empty("refused pod");
    assert_eq!(f.reader().entry_counts().0, 4094, "nothing was inserted");
    assert_eq!(f.w.attachments(), ["trunk@eth0.json"]);

    // One entry still fits.
    let access = f.pod(false);
    f.attach(&access, "access", &f.conf(100, false));
    assert_eq!(f.reader().entry_counts().0, 4095);
    for (pod, cid, conf) in [(&access, "access", f.conf(100, false)), (&trunk, "trunk", big)] {
        f.w.del(Some(pod), cid, "eth0", &conf).ok();
    }
    f.assert_clean(&[&trunk, &refused, &access]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn gc_with_a_pin_root_off_bpffs_deletes_nothing() {
    let f = Fabric::new(0);
    let plain = f.w.tmp().join("not-bpffs");
    let dir = plain.join(UPLINK);
    std::fs::create_dir_all(dir.join("keep")).expect("mkdir");
    for name in ["ATTACH", "POD_CFG", "notes.txt", "keep/data"] {
        std::fs::write(dir.join(name), name).expect("write");
    }
    let mut conf = f.conf(0, false);
    conf["bpfPinRoot"] = json!(plain);
    conf["cni.dev/valid-attachments"] = json!([]);
    let out = f.w.gc(&conf);
    assert_eq!(out.code(), 7, "a pin root off bpffs is a bad config: {}", out.stdout);
    for name in ["ATTACH", "POD_CFG", "notes.txt", "keep/data"] {
        assert!(dir.join(name).is_file(), "{name} must survive GC");
    }
}

/// Every pin of the uplink's directory.
fn pins(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("pin dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn a_damaged_pin_directory_is_reported_by_check_and_repaired_by_add() {
    let f = Fabric::new(100);
    let conf = f.conf(100, false);
    let a = f.pod(false);
    f.attach(&a, "pod-a", &conf);
    let complete = pins(&f.pin_dir());

    // A missing map pin: CHECK reports it and removes nothing.
    std::fs::remove_file(f.pin_dir().join("COUNTERS")).expect("unpin COUNTERS");
    let out = f.w.check(&a, "pod-a", "eth0", &conf);
    assert_eq!(out.code(), 102, "CHECK reports: {}", out.stdout);
    assert!(out.stdout.contains("damaged"), "{}", out.stdout);
    let without: Vec<_> = complete.iter().filter(|p| *p != "COUNTERS").cloned().collect();
    assert_eq!(pins(&f.pin_dir()), without, "CHECK removed nothing");
    assert!(ping(&a, WIRE_IP, 2), "the pod keeps working");

    // The next ADD re-pins the map the running programs still use.
    let b = f.pod(false);
    f.attach(&b, "pod-b", &conf);
    assert!(f.pin_dir().join("COUNTERS").exists(), "ADD re-pinned COUNTERS");
    for (pod, cid) in [(&a, "pod-a"), (&b, "pod-b")] {
        f.w.check(pod, cid, "eth0", &conf).ok();
        assert!(ping(pod, WIRE_IP, 2), "{cid} reaches the wire");
    }
    assert!(f.counters("pod-a").to_pod.packets > 0, "pod-a's counters are the live ones");

    // An unreadable pin (a directory under a map's name: opening it is
    // EACCES): reported, and nothing is removed.
    let before = pins(&f.pin_dir());
    std::fs::remove_file(f.pin_dir().join("LATENCY")).expect("unpin LATENCY");
    std::fs::create_dir(f.pin_dir().join("LATENCY")).expect("mkdir in its place");
    for (pod, cid) in [(&a, "pod-a"), (&b, "pod-b")] {
        let out = f.w.check(pod, cid, "eth0", &conf);
        assert_eq!(out.code(), 102, "{}", out.stdout);
        assert!(out.stdout.contains("LATENCY"), "names the pin: {}", out.stdout);
    }
    assert_eq!(pins(&f.pin_dir()), before, "CHECK removed nothing");
    assert!(ping(&a, WIRE_IP, 2) && ping(&b, WIRE_IP, 2), "both pods keep working");
    std::fs::remove_dir(f.pin_dir().join("LATENCY")).expect("rmdir");

    // DEL repairs what it can and removes exactly its own port.
    std::fs::remove_file(f.pin_dir().join("POD_CFG")).expect("unpin POD_CFG");
    f.w.del(Some(&a), "pod-a", "eth0", &conf).ok();
    assert_eq!(f.reader().ports().len(), 1, "DEL removed only its port");
    f.w.check(&b, "pod-b", "eth0", &conf).ok();
    f.w.del(Some(&b), "pod-b", "eth0", &conf).ok();
    f.assert_clean(&[&a, &b]);
}

//! ADD/CHECK/DEL of real igbvf VFs: requested state applied, original state restored.
#![cfg(target_env = "musl")]

use std::time::Duration;

use murmuration_core::test_hooks;
use murmuration_vm_tests::cmd::{ip, link, link_names};
use murmuration_vm_tests::cni::{Cni, Pause};
use murmuration_vm_tests::pod::Pod;
use murmuration_vm_tests::sriov::{Sriov, netdev_of};
use serde_json::{Value, json};

fn sriov_conf(cni: &Cni, pci: &str, addr: &str) -> Value {
    let mut c = cni.conf("sriov");
    c["deviceID"] = json!(pci);
    c["ipam"] = json!({"type": "static", "addresses": [{"address": addr}]});
    c
}

/// Host-side view of a VF netdev by its original name: exists, no altnames.
fn assert_home(s: &Sriov, index: u32, name: &str, mac: &Value, mtu: &Value) {
    let vf = &s.vfs[index as usize];
    assert_eq!(netdev_of(&vf.pci).as_deref(), Some(name), "VF {index} back under its name");
    let l = link(None, name).expect("VF netdev in the host");
    assert_eq!(&l["address"], mac, "VF {index} netdev MAC restored");
    assert_eq!(&l["mtu"], mtu, "VF {index} MTU restored");
    assert!(l.get("altnames").is_none(), "no leftover altname: {l}");
}

#[test]
fn kernel_vf_add_check_del_applies_and_restores_everything() {
    let s = Sriov::fresh();
    let vf = s.vfs[1].clone();
    // A non-default original state, so restoring it is observable.
    ip(&["link", "set", &s.pf, "vf", "1", "vlan", "7", "spoofchk", "off"]);
    ip(&["link", "property", "add", "dev", &vf.netdev, "altname", "vfone"]);
    let before = link(None, &vf.netdev).expect("VF netdev");
    let orig_info = s.vf_info(1);
    let cni = Cni::new("life");
    let pod = Pod::new("life");
    let mut conf = sriov_conf(&cni, &vf.pci, "10.60.0.2/24");
    for (k, v) in [
        ("mac", json!("02:aa:00:00:00:01")),
        ("vlan", json!(100)),
        ("vlanQoS", json!(3)),
        ("spoofchk", json!("on")),
        ("trust", json!("on")),
        ("max_tx_rate", json!(100)),
        ("mtu", json!(1400)),
    ] {
        conf[k] = v;
    }
    let r = cni.call("ADD", Some(&pod.path()), "c-life", "net1", &conf).result();
    assert_eq!(r["interfaces"][0]["name"], "net1");
    assert_eq!(r["interfaces"][0]["mac"], "02:aa:00:00:00:01");
    assert_eq!(r["interfaces"][0]["pciID"], vf.pci.as_str());

    let info = s.vf_info(1);
    assert_eq!(info["address"], "02:aa:00:00:00:01", "{info}");
    assert_eq!(info["vlan_list"][0]["vlan"], 100, "{info}");
    assert_eq!(info["vlan_list"][0]["qos"], 3, "{info}");
    assert_eq!(info["spoofchk"], true);
    assert_eq!(info["trust"], true);
    assert_eq!(info["rate"]["max_tx"], 100, "{info}");
    let p = link(Some(&pod.name), "net1").expect("net1 in the pod");
    assert_eq!(p["address"], "02:aa:00:00:00:01");
    assert_eq!(p["mtu"], 1400);
    assert!(p["flags"].as_array().expect("flags").contains(&json!("UP")));
    assert!(
        p.get("altnames")
            .is_none_or(|a| !a.as_array().expect("altnames").contains(&json!(vf.netdev))),
        "the old name is not an altname in the pod: {p}"
    );
    assert!(pod.ip(&["-4", "addr", "show", "dev", "net1"]).contains("10.60.0.2/24"));
    assert!(link(None, &vf.netdev).is_none(), "VF left the host namespace");

    let mut check = conf.clone();
    check["prevResult"] = r.clone();
    cni.call("CHECK", Some(&pod.path()), "c-life", "net1", &check).result();

    cni.call("DEL", Some(&pod.path()), "c-life", "net1", &conf).result();
    assert!(link(Some(&pod.name), "net1").is_none());
    let after = s.vf_info(1);
    for key in ["address", "vlan_list", "spoofchk", "trust", "rate", "link_state"] {
        assert_eq!(after[key], orig_info[key], "PF-side {key} restored: {after} vs {orig_info}");
    }
    let l = link(None, &vf.netdev).expect("VF netdev back");
    assert_eq!(l["address"], before["address"]);
    assert_eq!(l["mtu"], before["mtu"]);
    assert_eq!(l["altnames"], json!(["vfone"]), "original altnames only: {l}");
    assert!(cni.records().is_empty(), "record removed");
}

#[test]
fn del_without_device_id_with_empty_netns_after_netns_deletion_and_twice() {
    let s = Sriov::fresh();
    let cni = Cni::new("dels");
    let cases = [("nodev", 2), ("nonetns", 3), ("deleted", 4)];
    for (case, i) in cases {
        let vf = s.vfs[i].clone();
        let before = link(None, &vf.netdev).expect("VF");
        let orig = s.vf_info(i as u32);
        let mut pod = Pod::new(case);
        let mut conf = sriov_conf(&cni, &vf.pci, &format!("10.61.0.{i}/24"));
        conf["mac"] = json!(format!("02:bb:00:00:00:0{i}"));
        conf["vlan"] = json!(200);
        let cid = format!("c-{case}");
        cni.call("ADD", Some(&pod.path()), &cid, "net1", &conf).result();
        let mut del_conf = conf.clone();
        let netns = match case {
            "nodev" => {
                del_conf.as_object_mut().expect("conf").remove("deviceID");
                del_conf.as_object_mut().expect("conf").remove("ipam");
                Some(pod.path())
            }
            "nonetns" => None,
            _ => {
                pod.delete();
                None
            }
        };
        cni.call("DEL", netns.as_deref(), &cid, "net1", &del_conf).result();
        cni.call("DEL", netns.as_deref(), &cid, "net1", &del_conf).result();
        assert_home(&s, i as u32, &vf.netdev, &before["address"], &before["mtu"]);
        let info = s.vf_info(i as u32);
        assert_eq!(info["address"], orig["address"], "{case}: admin MAC restored: {info}");
        assert_eq!(info["vlan_list"], orig["vlan_list"], "{case}: VLAN restored: {info}");
        assert_ne!(info["address"], conf["mac"], "{case}: the pod's MAC is gone");
    }
    assert!(cni.records().is_empty());
}

#[test]
fn a_vf_held_by_a_live_pod_is_refused_and_taken_over_from_a_dead_one() {
    let s = Sriov::fresh();
    let vf = s.vfs[5].clone();
    let before = link(None, &vf.netdev).expect("VF netdev");
    let orig = s.vf_info(5);
    let cni = Cni::new("held");
    let mut pod_a = Pod::new("held-a");
    let pod_b = Pod::new("held-b");
    let mut conf_a = sriov_conf(&cni, &vf.pci, "10.62.0.2/24");
    conf_a["mac"] = json!("02:ab:00:00:00:0a");
    let mut conf_b = sriov_conf(&cni, &vf.pci, "10.62.0.3/24");
    conf_b["mac"] = json!("02:ab:00:00:00:0b");
    cni.call("ADD", Some(&pod_a.path()), "c-a", "net1", &conf_a).result();
    let err = cni.call("ADD", Some(&pod_b.path()), "c-b", "net1", &conf_b).error();
    assert_eq!(err["code"], 106, "{err}");
    assert!(err["msg"].as_str().expect("msg").contains("held by attachment c-a/net1"), "{err}");
    assert!(link(Some(&pod_b.name), "net1").is_none(), "nothing made in the second pod");
    assert!(link(Some(&pod_a.name), "net1").is_some(), "first pod keeps its VF");

    // Pod A dies without a DEL: its namespace goes, the VF drifts back to the
    // host on its own, and B's ADD takes the VF over.
    pod_a.delete();
    let r = cni.call("ADD", Some(&pod_b.path()), "c-b", "net1", &conf_b).result();
    assert_eq!(r["interfaces"][0]["pciID"], vf.pci.as_str(), "{r}");
    let p = link(Some(&pod_b.name), "net1").expect("net1 in pod B");
    assert_eq!(p["address"], "02:ab:00:00:00:0b", "{p}");
    assert_eq!(s.vf_info(5)["address"], "02:ab:00:00:00:0b", "B's admin MAC");
    let old = cni.record("c-a", "net1").expect("A's record keeps its IPAM lease");
    assert!(old.get("vf").is_none(), "A's record no longer holds the VF: {old}");
    assert_eq!(cni.record("c-b", "net1").expect("B's record")["vf"]["pci"], vf.pci.as_str());

    // A's late DEL cleans A's record and leaves B's VF alone.
    cni.call("DEL", None, "c-a", "net1", &conf_a).result();
    assert!(cni.record("c-a", "net1").is_none(), "A's record cleaned");
    assert!(link(Some(&pod_b.name), "net1").is_some(), "B keeps its VF after A's DEL");
    assert_eq!(s.vf_info(5)["address"], "02:ab:00:00:00:0b", "B's admin MAC kept");

    // B's DEL restores the state the VF had before A ever took it.
    cni.call("DEL", Some(&pod_b.path()), "c-b", "net1", &conf_b).result();
    assert_home(&s, 5, &vf.netdev, &before["address"], &before["mtu"]);
    let after = s.vf_info(5);
    assert_eq!(after["address"], orig["address"], "admin MAC from before A: {after}");
    assert_eq!(after["vlan_list"], orig["vlan_list"], "{after}");
    assert!(cni.records().is_empty());
}

/// Take-over racing the dead holder's own DEL, driven through the plugin's
/// pause points: A's DEL stops after restoring the VF, before removing A's
/// record (its attachment lock held).
#[test]
fn take_over_racing_the_dead_holders_del_never_brings_its_record_back() {
    let s = Sriov::fresh();
    let vf = s.vfs[6].clone();
    let before = link(None, &vf.netdev).expect("VF netdev");
    let orig = s.vf_info(6);
    let cni = Cni::new("race");
    let mut pod_a = Pod::new("race-a");
    let pod_b = Pod::new("race-b");
    let mut conf_a = sriov_conf(&cni, &vf.pci, "10.65.0.2/24");
    conf_a["mac"] = json!("02:ac:00:00:00:0a");
    conf_a["vlan"] = json!(300);
    let mut conf_b = sriov_conf(&cni, &vf.pci, "10.65.0.3/24");
    conf_b["mac"] = json!("02:ac:00:00:00:0b");
    cni.call("ADD", Some(&pod_a.path()), "c-a", "net1", &conf_a).result();
    pod_a.delete();

    let del_pause = Pause::new(test_hooks::RELEASE_BEFORE_REMOVE);
    let take_pause = Pause::new(test_hooks::SRIOV_TAKEOVER);
    std::thread::scope(|sc| {
        // A failing assertion lets the paused calls go before the scope joins them.
        let _resume = (del_pause.resumed_on_exit(), take_pause.resumed_on_exit());
        let del_a = sc.spawn(|| cni.call_paused("DEL", None, "c-a", "net1", &conf_a, &del_pause));
        del_pause.wait_paused();

        // A's attachment is busy: B's ADD must neither wait for it (A's DEL
        // may need the VF lock B holds) nor change A's record under it.
        let err = cni.call("ADD", Some(&pod_b.path()), "c-b", "net1", &conf_b).error();
        assert_eq!(err["code"], 11, "try again later while A's DEL runs: {err}");
        assert!(link(Some(&pod_b.name), "net1").is_none(), "nothing made in pod B");
        assert!(cni.record("c-b", "net1").is_none(), "B's failed ADD left no record");

        // B reads A's record, then A's DEL removes it before B acts on it.
        let add_b = sc.spawn(|| {
            cni.call_paused("ADD", Some(&pod_b.path()), "c-b", "net1", &conf_b, &take_pause)
        });
        take_pause.wait_paused();
        del_pause.resume();
        del_a.join().expect("DEL thread").result();
        assert!(cni.record("c-a", "net1").is_none(), "A's DEL removed A's record");
        take_pause.resume();
        let r = add_b.join().expect("ADD thread").result();
        assert_eq!(r["interfaces"][0]["pciID"], vf.pci.as_str(), "{r}");
    });
    assert!(
        cni.record("c-a", "net1").is_none(),
        "take-over wrote back the record A's DEL removed: {:?}",
        cni.record("c-a", "net1")
    );
    assert_eq!(cni.record("c-b", "net1").expect("B's record")["vf"]["pci"], vf.pci.as_str());
    let p = link(Some(&pod_b.name), "net1").expect("net1 in pod B");
    assert_eq!(p["address"], "02:ac:00:00:00:0b", "{p}");

    cni.call("DEL", Some(&pod_b.path()), "c-b", "net1", &conf_b).result();
    assert_home(&s, 6, &vf.netdev, &before["address"], &before["mtu"]);
    let after = s.vf_info(6);
    assert_eq!(after["address"], orig["address"], "admin MAC from before A: {after}");
    assert_eq!(after["vlan_list"], orig["vlan_list"], "{after}");
    assert!(cni.records().is_empty(), "{:?}", cni.records());
}

#[test]
fn a_missing_vf_fails_clearly_and_changes_nothing() {
    let _s = Sriov::fresh();
    let cni = Cni::new("missing");
    let pod = Pod::new("missing");
    let conf = sriov_conf(&cni, "0000:09:1f.7", "10.63.0.2/24");
    let err = cni.call("ADD", Some(&pod.path()), "c-m", "net1", &conf).error();
    assert_eq!(err["code"], 106, "{err}");
    assert!(err["msg"].as_str().expect("msg").contains("0000:09:1f.7"), "{err}");
    assert_eq!(link_names(Some(&pod.name)), ["lo"]);
    assert!(cni.records().is_empty());
}

#[test]
fn seven_vfs_attached_and_released_concurrently_leave_nothing_behind() {
    let s = Sriov::fresh();
    let cni = Cni::new("seven");
    let host_before = {
        let mut v = link_names(None);
        v.sort();
        v
    };
    let pods: Vec<Pod> = (0..7).map(|i| Pod::new(&format!("seven{i}"))).collect();
    let confs: Vec<Value> = s
        .vfs
        .iter()
        .map(|vf| sriov_conf(&cni, &vf.pci, &format!("10.64.0.{}/24", vf.index + 10)))
        .collect();
    let run = |cmd: &'static str| {
        std::thread::scope(|sc| {
            let hs: Vec<_> = (0..7)
                .map(|i| {
                    let (pod, conf, cni) = (&pods[i], &confs[i], &cni);
                    sc.spawn(move || {
                        cni.call(cmd, Some(&pod.path()), &format!("c-{i}"), "net1", conf)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().expect("thread")).collect::<Vec<_>>()
        })
    };
    for (i, r) in run("ADD").into_iter().enumerate() {
        let r = r.result();
        assert_eq!(r["interfaces"][0]["pciID"], s.vfs[i].pci.as_str());
        assert!(link(Some(&pods[i].name), "net1").is_some());
    }
    assert_eq!(cni.records().len(), 7);
    for r in run("DEL") {
        r.result();
    }
    let mut host_after = link_names(None);
    host_after.sort();
    assert_eq!(host_after, host_before, "every VF back under its own name");
    for pod in &pods {
        assert_eq!(link_names(Some(&pod.name)), ["lo"]);
    }
    assert!(cni.records().is_empty());
    let _ = Duration::ZERO;
}

//! Input as Multus sends it (deviceID/pciBusID injected at top level,
//! capabilities-based runtimeConfig, duplicated CNI_ARGS, `net1`), and a VF
//! bound to vfio-pci (no-IOMMU mode) attached as a userspace-driver VF.
#![cfg(target_env = "musl")]

use std::path::Path;

use murmuration_core::cni::paths::DEVINFO_DIR;
use murmuration_vm_tests::cmd::{link, link_names};
use murmuration_vm_tests::cni::Cni;
use murmuration_vm_tests::pod::Pod;
use murmuration_vm_tests::sriov::{Sriov, bind_vfio, driver_of, netdev_of};
use serde_json::{Value, json};

/// What the kubelet passes and Multus appends again (keys repeated).
const MULTUS_ARGS: &str = "IgnoreUnknown=true;K8S_POD_NAMESPACE=edge;K8S_POD_NAME=radio-0;\
    K8S_POD_INFRA_CONTAINER_ID=c-multus;K8S_POD_UID=6f1c;IgnoreUnknown=1;\
    K8S_POD_NAMESPACE=edge;K8S_POD_NAME=radio-0;K8S_POD_INFRA_CONTAINER_ID=c-multus;K8S_POD_UID=6f1c";

/// The NPWG device-info document (spec 1.1.0) for a VF of the PF under test.
fn expected_devinfo(s: &Sriov, vf_pci: &str) -> Value {
    json!({"type": "pci", "version": "1.1.0",
           "pci": {"pci-address": vf_pci, "pf-pci-address": s.pf_pci}})
}

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}: {text}", path.display()))
}

/// A config shaped like the delegate config Multus hands to an SR-IOV CNI.
fn multus_conf(cni: &Cni, pci: &str, mac: &str, devinfo: &Path, addr: &str) -> Value {
    let mut c = cni.conf("sriov");
    c["cniVersion"] = json!("1.0.0");
    c["deviceID"] = json!(pci);
    c["pciBusID"] = json!(pci);
    // The NAD's own MAC: runtimeConfig (the pod annotation) must win over it.
    c["mac"] = json!("02:dd:00:00:00:01");
    c["vlan"] = json!(100);
    c["capabilities"] = json!({"mac": true, "CNIDeviceInfoFile": true});
    c["runtimeConfig"] = json!({"mac": mac, "CNIDeviceInfoFile": devinfo});
    c["ipam"] = json!({"type": "static", "addresses": [{"address": addr}]});
    c
}

/// The same network's config as DEL may get it: no deviceID anywhere.
fn without_device(conf: &Value) -> Value {
    let mut c = conf.clone();
    let o = c.as_object_mut().expect("conf");
    for key in ["deviceID", "pciBusID", "runtimeConfig"] {
        o.remove(key);
    }
    c
}

#[test]
fn multus_shaped_add_applies_runtime_config_and_del_without_device_id_restores() {
    let s = Sriov::fresh();
    let vf = s.vfs[2].clone();
    let before = link(None, &vf.netdev).expect("VF netdev");
    let orig = s.vf_info(2);
    let cni = Cni::new("multus");
    let pod = Pod::new("multus");
    // Where Multus puts it (the plugin refuses any other place).
    let devinfo = Path::new(DEVINFO_DIR).join("default-multus-net-c-multus_net1");
    let mac = "02:dd:00:00:00:42";
    let conf = multus_conf(&cni, &vf.pci, mac, &devinfo, "10.65.0.2/24");
    let r = cni.call_env("ADD", Some(&pod.path()), "c-multus", "net1", MULTUS_ARGS, &conf).result();
    assert_eq!(r["cniVersion"], "1.0.0", "{r}");
    assert_eq!(r["interfaces"][0]["name"], "net1", "{r}");
    assert_eq!(r["interfaces"][0]["mac"], mac, "runtimeConfig.mac wins: {r}");
    assert_eq!(r["ips"][0]["address"], "10.65.0.2/24", "{r}");

    let info = s.vf_info(2);
    assert_eq!(info["address"], mac, "PF-side admin MAC: {info}");
    assert_eq!(info["vlan_list"][0]["vlan"], 100, "{info}");
    let p = link(Some(&pod.name), "net1").expect("net1 in the pod");
    assert_eq!(p["address"], mac, "pod netdev MAC: {p}");
    assert!(pod.ip(&["-4", "addr", "show", "dev", "net1"]).contains("10.65.0.2/24"));
    assert_eq!(read_json(&devinfo), expected_devinfo(&s, &vf.pci), "device-info file");
    let rec = cni.record("c-multus", "net1").expect("record");
    assert_eq!(rec["pod"], json!({"namespace": "edge", "name": "radio-0", "uid": "6f1c"}));

    let del = without_device(&conf);
    cni.call_env("DEL", Some(&pod.path()), "c-multus", "net1", MULTUS_ARGS, &del).result();
    assert_eq!(link_names(Some(&pod.name)), ["lo"], "the VF left the pod");
    assert_eq!(netdev_of(&vf.pci).as_deref(), Some(vf.netdev.as_str()), "original name");
    let l = link(None, &vf.netdev).expect("VF netdev back in the host");
    assert_eq!(l["address"], before["address"], "netdev MAC restored: {l}");
    assert_eq!(l["mtu"], before["mtu"]);
    assert!(l.get("altnames").is_none(), "no leftover altname: {l}");
    let after = s.vf_info(2);
    for key in ["address", "vlan_list", "spoofchk", "trust", "rate"] {
        assert_eq!(after[key], orig[key], "PF-side {key} restored: {after} vs {orig}");
    }
    assert!(!devinfo.exists(), "device-info file removed on DEL");
    assert!(cni.records().is_empty(), "record removed");
}

#[test]
fn vfio_pci_vf_gets_pf_side_state_ipam_and_device_info_without_netdev_work() {
    let s = Sriov::fresh();
    let vf = s.vfs[3].clone();
    bind_vfio(&vf.pci);
    let orig = s.vf_info(3);
    let cni = Cni::new("vfio");
    let pod = Pod::new("vfio");
    let devinfo = Path::new(DEVINFO_DIR).join("default-vfio-net-c-vfio_net1");
    let mac = "02:ee:00:00:00:03";
    let mut conf = multus_conf(&cni, &vf.pci, mac, &devinfo, "10.67.0.2/24");
    // 1.1.0 results name the device (`pciID`); older versions have no such key.
    conf["cniVersion"] = json!("1.1.0");
    (conf["vlan"], conf["vlanQoS"], conf["spoofchk"], conf["trust"]) =
        (json!(300), json!(5), json!("off"), json!("on"));
    let r = cni.call_env("ADD", Some(&pod.path()), "c-vfio", "net1", MULTUS_ARGS, &conf).result();
    assert_eq!(r["interfaces"][0]["name"], "net1", "{r}");
    assert_eq!(r["interfaces"][0]["pciID"], vf.pci.as_str(), "{r}");
    assert_eq!(r["ips"][0]["address"], "10.67.0.2/24", "IPAM result returned: {r}");
    assert_eq!(link_names(Some(&pod.name)), ["lo"], "no netdev work in the pod");
    assert_eq!(driver_of(&vf.pci).as_deref(), Some("vfio-pci"), "driver untouched");
    let info = s.vf_info(3);
    assert_eq!(info["address"], mac, "PF-side admin MAC: {info}");
    assert_eq!(info["vlan_list"][0]["vlan"], 300, "{info}");
    assert_eq!(info["vlan_list"][0]["qos"], 5, "{info}");
    assert_eq!(info["spoofchk"], false, "{info}");
    assert_eq!(info["trust"], true, "{info}");
    assert_eq!(read_json(&devinfo), expected_devinfo(&s, &vf.pci), "device-info file");
    let rec = cni.record("c-vfio", "net1").expect("record");
    assert_eq!(rec["vf"]["userspace"], true, "{rec}");
    assert_eq!(rec["vf"]["driver"], "vfio-pci", "{rec}");

    let mut check = conf.clone();
    check["prevResult"] = r.clone();
    cni.call_env("CHECK", Some(&pod.path()), "c-vfio", "net1", MULTUS_ARGS, &check).result();

    let del = without_device(&conf);
    cni.call_env("DEL", Some(&pod.path()), "c-vfio", "net1", MULTUS_ARGS, &del).result();
    let after = s.vf_info(3);
    for key in ["address", "vlan_list", "spoofchk", "trust", "rate"] {
        assert_eq!(after[key], orig[key], "PF-side {key} restored: {after} vs {orig}");
    }
    // DEL hands the VF back as it found it: still bound to vfio-pci (the
    // device plugin, not the CNI, owns the driver binding).
    assert_eq!(driver_of(&vf.pci).as_deref(), Some("vfio-pci"), "binding kept on DEL");
    assert!(netdev_of(&vf.pci).is_none());
    assert!(!devinfo.exists(), "device-info file removed on DEL");
    assert!(cni.records().is_empty(), "record removed");
}

//! Loading once per uplink, CHECK, DEL and GC leaving nothing behind, the
//! netlink clsact flavour, and STATUS.

use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use super::{Fabric, UPLINK, WIRE_IP, ping};
use crate::common::{Env, host_ifname};

fn pins(f: &Fabric, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(f.pin_dir())
        .map(|d| {
            d.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect()
        })
        .unwrap_or_default();
    names.retain(|n| n.starts_with(prefix));
    names.sort();
    names
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn programs_are_shared_and_del_and_gc_leave_nothing() {
    let f = Fabric::new(100);
    let pods = [f.pod(false), f.pod(false), f.pod(false)];
    let conf = f.conf(100, false);
    for (i, pod) in pods.iter().enumerate() {
        f.attach(pod, &format!("life-{i}"), &conf);
    }
    let mode = std::fs::metadata(f.pin_dir()).expect("pin dir").permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "pin directory mode");
    assert_eq!(f.tcx_programs(UPLINK), ["uplink_ingress"], "one shared uplink program");
    assert_eq!(pins(&f, "prog_").len(), 3, "the programs are loaded (and pinned) once");
    for i in 0..3 {
        let host = host_ifname(&format!("life-{i}"), "eth0");
        assert_eq!(f.tcx_programs(&host), ["pod_egress"], "pod program on {host}");
    }
    f.w.check(&pods[0], "life-0", "eth0", &conf).ok();
    assert_eq!(f.reader().ports().len(), 3);

    f.w.del(Some(&pods[1]), "life-1", "eth0", &conf).ok();
    assert_eq!(f.reader().ports().len(), 2, "DEL removes exactly its port");
    assert_eq!(f.reader().entry_counts(), (2, 1), "two MAC entries, one VLAN flood list");
    assert_eq!(pins(&f, "link_pod_").len(), 2, "DEL unpins exactly its link");
    assert_eq!(f.tcx_programs(UPLINK), ["uplink_ingress"], "the uplink keeps its program");
    assert!(ping(&pods[0], WIRE_IP, 2), "the remaining pods still work");

    // An orphan: the record is lost and the pod's namespace (with the veth) is gone.
    std::fs::remove_file(f.w.record_path("life-2", "eth0")).expect("drop record");
    let [p0, p1, mut p2] = pods;
    p2.delete();
    f.wait_gone(&host_ifname("life-2", "eth0"));
    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": "life-0", "ifname": "eth0"}]);
    f.w.gc(&gc).ok();
    assert_eq!(f.reader().ports().len(), 1, "GC drops the orphaned port");
    assert_eq!(pins(&f, "link_pod_").len(), 1, "GC unpins the orphan's link");
    gc["cni.dev/valid-attachments"] = json!([]);
    f.w.gc(&gc).ok();
    // Debian's host-local (1.1.1) has no GC: the record-less orphan's lease stays.
    for (net, ip, owner) in f.w.leases() {
        assert!(owner.starts_with("life-2"), "only the orphan's lease may be left: {ip} {owner}");
        std::fs::remove_file(f.w.ipam_dir().join(net).join(ip.to_string())).expect("drop lease");
    }
    f.assert_clean(&[&p0, &p1]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn the_netlink_clsact_flavour_works_and_goes_with_the_last_port() {
    let f = Fabric::new(100);
    let (p1, p2) = (f.pod(false), f.pod(false));
    let mut conf = f.conf(100, false);
    conf["bpfAttachMode"] = json!("netlink");
    let ip1 = f.attach(&p1, "nl-1", &conf);
    f.attach(&p2, "nl-2", &conf);
    let show = || {
        let out = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                f.w.node.name(),
                "tc",
                "filter",
                "show",
                "dev",
                UPLINK,
                "ingress",
            ])
            .output()
            .expect("tc");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let ours = |s: String| s.lines().filter(|l| l.contains("uplink_ingress")).count();
    assert_eq!(ours(show()), 1, "one filter:\n{}", show());
    assert!(f.tcx_programs(UPLINK).is_empty(), "no TCX link in netlink mode");
    assert!(ping(&f.wire, &ip1, 2), "wire -> pod through the clsact filter");
    f.w.check(&p1, "nl-1", "eth0", &conf).ok();
    f.w.del(Some(&p1), "nl-1", "eth0", &conf).ok();
    assert!(show().contains("uplink_ingress"), "the filter stays while a port is left");
    f.w.del(Some(&p2), "nl-2", "eth0", &conf).ok();
    assert!(!show().contains("uplink_ingress"), "the filter goes with the last port");
    f.assert_clean(&[&p1, &p2]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn status_probes_the_kernel_and_a_plain_veth_has_no_programs() {
    let f = Fabric::new(0);
    let conf = f.conf(0, false);
    f.w.run(&Env::new("STATUS"), &conf).ok();
    let pod = f.pod(false);
    let mut plain = conf.clone();
    plain["fastpath"] = json!(false);
    plain.as_object_mut().expect("object").remove("vlan");
    f.attach(&pod, "plain-1", &plain);
    assert!(f.w.record("plain-1", "eth0").get("datapath").is_none(), "no fast-path port recorded");
    assert!(!f.pin_dir().exists(), "fastpath false loads nothing");
    assert!(f.tcx_programs(UPLINK).is_empty());
    f.w.del(Some(&pod), "plain-1", "eth0", &plain).ok();
    let mut no_master = conf.clone();
    no_master.as_object_mut().expect("object").remove("master");
    no_master["fastpath"] = json!(true);
    assert_eq!(f.w.add(&pod, "plain-2", "eth0", &no_master).code(), 7, "fastpath needs master");
    f.w.node.ip(&["link", "del", UPLINK]);
    f.w.assert_clean(&[&pod]);
}

//! Soak: 100 ADD/DEL cycles of kernel VFs in `sriov` mode with host-local
//! IPAM and every PF-side property set, then a leak audit of the guest.
#![cfg(target_env = "musl")]

use std::time::{Duration, Instant};

use murmuration_vm_tests::audit::Audit;
use murmuration_vm_tests::cmd::{ip, link};
use murmuration_vm_tests::cni::Cni;
use murmuration_vm_tests::pod::Pod;
use murmuration_vm_tests::sriov::{NUM_VFS, Sriov, Vf};
use murmuration_vm_tests::{report, wait_for};
use serde_json::{Value, json};

const CYCLES: usize = 100;

/// Every how many cycles the pod dies before its DEL (the VF then comes home
/// from a deleted namespace instead of being moved back).
const DEAD_POD_EVERY: usize = 5;

#[test]
fn a_hundred_sriov_add_del_cycles_leave_nothing_behind() {
    let s = Sriov::fresh();
    non_default_originals(&s);
    let cni = Cni::new("soak");
    let audit = Audit::start(&[&s.pf], &[&cni.data_dir]);
    let mut times = Vec::with_capacity(CYCLES);
    let start = Instant::now();
    for i in 0..CYCLES {
        let t = Instant::now();
        cycle(&cni, &s.vfs[i % NUM_VFS as usize], i);
        times.push(t.elapsed());
    }
    let total = start.elapsed();
    assert!(cni.records().is_empty(), "records left: {:?}", cni.records());
    // Lock files of released attachments stay until GC sweeps them.
    let mut gc = conf(&cni, &s.vfs[0], 0);
    gc["cni.dev/valid-attachments"] = json!([]);
    cni.call("GC", None, "", "", &gc).result();
    report("sriov-soak.txt", &timing(total, &mut times));
    audit.assert_clean(&format!("{CYCLES} sriov ADD/DEL cycles"));
}

/// VF states a restore could miss: a VLAN, spoofchk off, trust on, a rate,
/// an altname, a netdev that is up, a non-default MTU.
fn non_default_originals(s: &Sriov) {
    ip(&["link", "set", &s.pf, "vf", "1", "vlan", "7", "qos", "2", "spoofchk", "off"]);
    ip(&["link", "set", &s.pf, "vf", "2", "trust", "on", "max_tx_rate", "50"]);
    ip(&["link", "property", "add", "dev", &s.vfs[4].netdev, "altname", "soak4"]);
    ip(&["link", "set", "dev", &s.vfs[5].netdev, "up"]);
    ip(&["link", "set", "dev", &s.vfs[6].netdev, "mtu", "1300"]);
    wait_for("VF 5 to get its carrier", Duration::from_secs(30), || {
        link(None, &s.vfs[5].netdev).filter(|l| l["operstate"] == "UP").map(drop)
    });
}

fn conf(cni: &Cni, vf: &Vf, i: usize) -> Value {
    let mut c = cni.conf("sriov");
    c["deviceID"] = json!(vf.pci);
    c["mac"] = json!(format!("02:5a:01:00:{:02x}:{:02x}", i / 256, i % 256));
    c["vlan"] = json!(100 + i % 3);
    c["vlanQoS"] = json!(i % 8);
    c["spoofchk"] = json!(if i.is_multiple_of(2) { "on" } else { "off" });
    c["trust"] = json!(if i.is_multiple_of(2) { "off" } else { "on" });
    c["max_tx_rate"] = json!(100);
    c["mtu"] = json!(1400);
    c["ipam"] = json!({
        "type": "host-local",
        "dataDir": cni.data_dir.join("host-local"),
        "ranges": [[{"subnet": "10.66.0.0/24"}]],
    });
    c
}

fn cycle(cni: &Cni, vf: &Vf, i: usize) {
    let mut pod = Pod::new("soak");
    let conf = conf(cni, vf, i);
    let cid = format!("c-soak-{i}");
    let r = cni.call("ADD", Some(&pod.path()), &cid, "net1", &conf).result();
    assert_eq!(r["interfaces"][0]["pciID"], vf.pci.as_str(), "cycle {i}: {r}");
    assert_eq!(r["interfaces"][0]["mac"], conf["mac"], "cycle {i}: {r}");
    assert!(r["ips"][0]["address"].as_str().is_some_and(|a| a.starts_with("10.66.0.")), "{r}");
    let netns = if i % DEAD_POD_EVERY == DEAD_POD_EVERY - 1 {
        pod.delete();
        None
    } else {
        Some(pod.path())
    };
    cni.call("DEL", netns.as_deref(), &cid, "net1", &conf).result();
}

/// Total and per-cycle wall time (TCG: the numbers only say how the tier's
/// budget is spent, nothing is asserted on them).
fn timing(total: Duration, times: &mut [Duration]) -> String {
    times.sort();
    let at = |q: usize| times[(times.len() - 1) * q / 100];
    format!(
        "sriov soak: {CYCLES} ADD/DEL cycles (every {DEAD_POD_EVERY}th after the pod died) in \
         {:.1} s: per cycle mean {:.0} ms, p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms\n",
        total.as_secs_f64(),
        total.as_secs_f64() * 1000.0 / CYCLES as f64,
        at(50).as_secs_f64() * 1000.0,
        at(90).as_secs_f64() * 1000.0,
        at(100).as_secs_f64() * 1000.0,
    )
}

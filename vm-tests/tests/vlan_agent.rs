//! `murmurationd` as the node agent, where only a real kernel can show it:
//! a `vlan`-mode pod's subinterface counters (read in the pod's
//! namespace) with the pod's labels, drift of that subinterface behind the
//! plugin's back raised and cleared, and a PF whose driver is unbound and
//! bound again getting its `[[sriov.pf]]` plan re-applied (timed, reported).
#![cfg(target_env = "musl")]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use murmuration_vm_tests::cmd::{ip, ip_json, ping};
use murmuration_vm_tests::cni::Cni;
use murmuration_vm_tests::daemon::{Daemon, http_get, sample};
use murmuration_vm_tests::pod::Pod;
use murmuration_vm_tests::sriov::{Sriov, netdev_of};
use murmuration_vm_tests::wire::WireVlan;
use murmuration_vm_tests::{report, wait_for};
use serde_json::json;

const ARGS: &str = "IgnoreUnknown=1;K8S_POD_NAMESPACE=edge;K8S_POD_NAME=du-vlan";

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mmd-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

fn state(cni: &Cni) -> String {
    format!(
        "[state]\ndata_dir = \"{}\"\ncni_path = [\"{}\"]\n[inventory]\nresync_seconds = 1\n\
         [drift]\ninterval_seconds = 0.5\n",
        cni.data_dir.display(),
        cni.cni_path,
    )
}

fn metric(d: &Daemon, series: &str) -> Option<f64> {
    let (_, body) = http_get(&d.addr, "/metrics").ok()?;
    sample(&body, series)
}

/// The pod's own view of its link's counters (`ip -s`).
fn pod_stats(pod: &Pod, ifname: &str) -> serde_json::Value {
    let v = ip_json(&["-s", "-n", &pod.name, "link", "show", "dev", ifname]);
    v[0]["stats64"].clone()
}

#[test]
fn agent_vlan_pod_counters_carry_pod_labels_and_its_drift_is_raised_and_cleared() {
    let s = Sriov::without_vfs();
    s.wait_for_carrier();
    let _wire = WireVlan::new(&s.wire, 300, "10.31.0.1/24");
    let cni = Cni::new("vlanagent");
    let dir = scratch("vlanagent");
    let mut daemon = Daemon::start(&dir, &state(&cni));
    let pod = Pod::new("vlanagent");
    let mut conf = cni.conf("vlan");
    conf["master"] = json!(s.pf);
    conf["vlan"] = json!(300);
    conf["mtu"] = json!(1400);
    conf["ipam"] = json!({"type": "static", "addresses": [{"address": "10.31.0.2/24"}]});
    cni.call_env("ADD", Some(&pod.path()), "c-vlanagent", "net1", ARGS, &conf).result();

    // 1. Traffic through the pod's VLAN; its counters at /metrics with the pod's labels.
    for _ in 0..5 {
        assert!(ping(&pod.name, "10.31.0.1"), "the pod reaches the wire's VLAN 300");
    }
    let seen = pod_stats(&pod, "net1");
    let who = format!(
        "network=\"{}\",pod_namespace=\"edge\",pod_name=\"du-vlan\",ifname=\"net1\"",
        cni.net
    );
    let labels = format!("{who},master=\"{}\",vlan=\"300\"", s.pf);
    for (name, key) in [
        ("tx_packets_total", "tx.packets"),
        ("rx_packets_total", "rx.packets"),
        ("tx_bytes_total", "tx.bytes"),
        ("rx_bytes_total", "rx.bytes"),
    ] {
        let (dir_, field) = key.split_once('.').expect("key");
        let least = seen[dir_][field].as_f64().expect("a counter");
        assert!(least >= 5.0, "the pod counted its pings: {seen}");
        let series = format!("murmuration_attachment_vlan_{name}{{{labels}}}");
        let got = wait_for(&series, Duration::from_secs(30), || {
            metric(&daemon, &series).filter(|v| *v >= least)
        });
        eprintln!("vlan_agent: {series} = {got} (the pod's own count {least} before)");
    }

    // 2. MTU changed in the pod behind the plugin's back: drift on `mtu`, logged once.
    let drift = format!("murmuration_attachment_drift{{{who},field=\"mtu\"}}");
    assert_eq!(metric(&daemon, &drift), None, "no drift before the change");
    pod.ip(&["link", "set", "net1", "mtu", "1300"]);
    wait_for("the mtu drift", Duration::from_secs(30), || {
        (metric(&daemon, &drift) == Some(1.0)).then_some(())
    });
    let body = daemon.get("/metrics");
    let others = body.lines().filter(|l| l.starts_with("murmuration_attachment_drift{")).count();
    assert_eq!(others, 1, "only the mtu drifted:\n{body}");
    assert_eq!(daemon.log().matches("attachment drifted from its record").count(), 1);

    // 3. Put back: the series goes and the end is logged.
    pod.ip(&["link", "set", "net1", "mtu", "1400"]);
    wait_for("the drift to clear", Duration::from_secs(30), || {
        metric(&daemon, &drift).is_none().then_some(())
    });
    assert!(daemon.log().contains("attachment drift ended"), "{}", daemon.log());

    // 4. The MAC too (a second field, a second start).
    pod.ip(&["link", "set", "net1", "address", "02:31:00:00:00:09"]);
    let mac = format!("murmuration_attachment_drift{{{who},field=\"mac\"}}");
    wait_for("the mac drift", Duration::from_secs(30), || {
        (metric(&daemon, &mac) == Some(1.0)).then_some(())
    });

    daemon.stop();
    cni.call_env("DEL", Some(&pod.path()), "c-vlanagent", "net1", ARGS, &conf).result();
    assert!(cni.records().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

fn sysfs_write(path: &str, value: &str) {
    std::fs::write(path, value).unwrap_or_else(|e| panic!("{path} <- {value}: {e}"));
}

/// The PF's 3 VFs exist with spoofchk off and trust on.
fn provisioned(pf_pci: &str) -> Option<()> {
    let pf = netdev_of(pf_pci)?;
    let numvfs = Path::new("/sys/bus/pci/devices").join(pf_pci).join("sriov_numvfs");
    let n: u32 = std::fs::read_to_string(numvfs).ok()?.trim().parse().ok()?;
    let v = ip_json(&["link", "show", "dev", &pf]);
    let table = v[0]["vfinfo_list"].as_array()?.clone();
    let set = |e: &serde_json::Value| e["spoofchk"] == false && e["trust"] == true;
    (n == 3 && table.len() == 3 && table.iter().all(set)).then_some(())
}

#[test]
fn agent_a_pf_whose_driver_is_unbound_and_bound_again_gets_its_plan_re_applied() {
    let s = Sriov::without_vfs();
    let cni = Cni::new("reappear");
    let dir = scratch("reappear");
    let pf_pci = s.pf_pci.clone();
    let sections = format!(
        "{}[[sriov.pf]]\naddress = \"{pf_pci}\"\nnumvfs = 3\n\
         drivers = [{{ vfs = \"0-2\", driver = \"igbvf\" }}]\n\
         vf_defaults = {{ spoofchk = false, trust = true }}\n",
        state(&cni)
    );
    let mut daemon = Daemon::start(&dir, &sections);
    wait_for("3 provisioned VFs", Duration::from_secs(60), || provisioned(&pf_pci));
    let appeared = format!("murmurationd_sriov_pf_appearances_total{{pf=\"{pf_pci}\"}}");
    assert_eq!(metric(&daemon, &appeared).unwrap_or(0.0), 0.0, "nothing reappeared yet");

    // The PF goes away with its VFs (driver unbound) and comes back bare.
    let driver = Path::new("/sys/bus/pci/devices").join(&pf_pci).join("driver");
    let driver = std::fs::read_link(&driver).expect("the PF's driver");
    let driver = driver.file_name().expect("driver name").to_string_lossy().into_owned();
    assert_eq!(driver, "igb");
    sysfs_write("/sys/bus/pci/drivers/igb/unbind", &pf_pci);
    wait_for("the PF's netdev to go", Duration::from_secs(30), || {
        netdev_of(&pf_pci).is_none().then_some(())
    });
    // Let the daemon see it gone before it comes back.
    wait_for("the daemon to see the PF gone", Duration::from_secs(30), || {
        let status = daemon.status();
        let links = status["inventory"]["links"].as_array()?.clone();
        links.iter().all(|l| l["name"] != s.pf.as_str()).then_some(())
    });
    let back = Instant::now();
    sysfs_write("/sys/bus/pci/drivers/igb/bind", &pf_pci);
    wait_for("the VFs recreated", Duration::from_secs(90), || provisioned(&pf_pci));
    let took = back.elapsed();
    wait_for("the reappearance counted", Duration::from_secs(30), || {
        (metric(&daemon, &appeared) == Some(1.0)).then_some(())
    });
    let log = daemon.log();
    assert!(log.contains("a configured PF (re)appeared"), "{log}");
    assert!(log.contains("numvfs 0 -> 3"), "{log}");
    let text = format!(
        "sriov_reappear: igb PF unbound and bound again; driver bind to its 3 VFs \
         re-provisioned (igbvf, spoofchk off, trust on): {:.3} s\n",
        took.as_secs_f64()
    );
    eprint!("{text}");
    report("sriov_reappear.txt", &text);

    daemon.stop();
    let pf = netdev_of(&pf_pci).expect("the PF is back");
    ip(&["link", "set", &pf, "up"]);
    sysfs_write(&format!("/sys/bus/pci/devices/{pf_pci}/sriov_numvfs"), "0");
    let _ = std::fs::remove_dir_all(&dir);
}

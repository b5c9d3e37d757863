//! `murmurationd` as the node's SR-IOV agent on the igb PF: `[[sriov.pf]]`
//! provisions 7 VFs with a driver split (igbvf and vfio-pci) and default VF
//! settings (timed, reported), a second pass changes nothing, a new numvfs
//! is refused on SIGHUP while a pod holds a VF (and `--check-config` says
//! so), the held VF is left alone, a VLAN changed behind the plugin's back
//! raises `murmuration_attachment_drift` and is put back with `repair`, and
//! the VF's counters carry the pod's labels.
#![cfg(target_env = "musl")]

use std::path::Path;
use std::time::{Duration, Instant};

use murmuration_vm_tests::cmd::{ip, run};
use murmuration_vm_tests::cni::Cni;
use murmuration_vm_tests::daemon::{Daemon, http_get, sample};
use murmuration_vm_tests::pod::Pod;
use murmuration_vm_tests::sriov::{Sriov, driver_of};
use murmuration_vm_tests::{report, wait_for};
use serde_json::json;

const ARGS: &str = "IgnoreUnknown=1;K8S_POD_NAMESPACE=edge;K8S_POD_NAME=du-0";

fn sections(cni: &Cni, pf: &str, numvfs: u32, repair: bool) -> String {
    format!(
        "[state]\ndata_dir = \"{}\"\ncni_path = [\"{}\"]\n[inventory]\nresync_seconds = 1\n\
         [drift]\ninterval_seconds = 0.5\nrepair = {repair}\n\
         [[sriov.pf]]\nname = \"{pf}\"\nnumvfs = {numvfs}\nhw_timestamping = true\n\
         drivers = [{{ vfs = \"0-4\", driver = \"igbvf\" }}, {{ vfs = \"5-6\", driver = \"vfio-pci\" }}]\n\
         vf_defaults = {{ spoofchk = false, trust = true }}\n",
        cni.data_dir.display(),
        cni.cni_path,
    )
}

fn virtfn(pf_pci: &str, vf: u32) -> Option<String> {
    let link = Path::new("/sys/bus/pci/devices").join(pf_pci).join(format!("virtfn{vf}"));
    let target = std::fs::read_link(link).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

fn numvfs(pf_pci: &str) -> u32 {
    let path = Path::new("/sys/bus/pci/devices").join(pf_pci).join("sriov_numvfs");
    std::fs::read_to_string(path).expect("sriov_numvfs").trim().parse().expect("a number")
}

/// All 7 VFs exist with the configured driver, spoofchk off and trust on.
fn provisioned(s: &Sriov) -> bool {
    let table = ip_vf_table(&s.pf);
    (0..7).all(|vf| {
        let want = if vf < 5 { "igbvf" } else { "vfio-pci" };
        let bound = virtfn(&s.pf_pci, vf).and_then(|pci| driver_of(&pci));
        let entry = table.iter().find(|e| e["vf"] == vf);
        bound.as_deref() == Some(want)
            && entry.is_some_and(|e| e["spoofchk"] == false && e["trust"] == true)
    })
}

fn ip_vf_table(pf: &str) -> Vec<serde_json::Value> {
    let out = ip(&["-j", "link", "show", "dev", pf]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    v[0]["vfinfo_list"].as_array().cloned().unwrap_or_default()
}

fn metric(d: &Daemon, series: &str) -> f64 {
    let (_, body) = http_get(&d.addr, "/metrics").unwrap_or_default();
    sample(&body, series).unwrap_or(0.0)
}

fn applied(d: &Daemon) -> usize {
    d.log().matches("sriov: applied").count()
}

#[test]
fn daemon_provisions_vfs_refuses_numvfs_under_a_pod_and_reports_and_repairs_drift() {
    let s = Sriov::without_vfs();
    let pf = s.pf.clone();
    let cni = Cni::new("agent");
    let dir = std::env::temp_dir().join(format!("mmd-agent-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");

    // 1. Provisioning from 0 VFs: timed from the daemon's start to all VFs ready.
    let start = Instant::now();
    let mut daemon = Daemon::start(&dir, &sections(&cni, &pf, 7, false));
    wait_for("7 provisioned VFs", Duration::from_secs(60), || provisioned(&s).then_some(()));
    let ready = start.elapsed();
    let passes = format!("murmurationd_sriov_passes_total{{pf=\"{pf}\",result=\"ok\"}}");
    wait_for("the first pass to finish", Duration::from_secs(30), || {
        (metric(&daemon, &passes) >= 1.0).then_some(())
    });
    assert_eq!(numvfs(&s.pf_pci), 7);
    let hw = run("hwstamp_ctl", &["-i", &pf]);
    assert!(hw.contains("tx_type 1"), "hardware TX timestamping on {pf}: {hw}");
    let log = daemon.log();
    assert!(log.contains("numvfs 0 -> 7"), "{log}");
    assert!(log.contains("driver igbvf -> vfio-pci"), "{log}");
    let text = format!(
        "sriov_agent: numvfs provisioning of 7 VFs (5 igbvf, 2 vfio-pci, spoofchk off, trust on, \
         PF hardware timestamping), daemon start to all VFs ready: {:.3} s\n",
        ready.as_secs_f64()
    );
    eprint!("{text}");
    report("sriov_agent.txt", &text);

    // 2. A pod holds VF 1 with spoofchk on and VLAN 100.
    let pod = Pod::new("agent");
    let vf_pci = virtfn(&s.pf_pci, 1).expect("VF 1");
    let mut conf = cni.conf("sriov");
    conf["deviceID"] = json!(vf_pci);
    conf["vlan"] = json!(100);
    conf["spoofchk"] = json!("on");
    conf["ipam"] = json!({"type": "static", "addresses": [{"address": "10.62.0.2/24"}]});
    cni.call_env("ADD", Some(&pod.path()), "c-agent", "net1", ARGS, &conf).result();
    let vf1 = |s: &Sriov| s.vf_info(1);
    assert_eq!(vf1(&s)["spoofchk"], true, "{}", vf1(&s));

    // 3. SIGHUP, same config: a pass that changes nothing (the live VF left alone).
    let before = applied(&daemon);
    daemon.hangup();
    wait_for("a second pass", Duration::from_secs(30), || {
        (metric(&daemon, &passes) >= 2.0).then_some(())
    });
    assert_eq!(applied(&daemon), before, "the second pass changed something:\n{}", daemon.log());
    assert_eq!(vf1(&s)["spoofchk"], true, "the held VF was touched: {}", vf1(&s));

    // 4. SIGHUP with numvfs 6: refused while the pod holds VF 1.
    let config = dir.join("murmurationd.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, text.replace("numvfs = 7", "numvfs = 6").replace("\"5-6\"", "\"5-5\""))
        .expect("rewrite the config");
    let refused = format!(
        "murmurationd_sriov_refused_changes_total{{pf=\"{pf}\",reason=\"live_attachments\"}}"
    );
    daemon.hangup();
    wait_for("the numvfs refusal", Duration::from_secs(30), || {
        (metric(&daemon, &refused) >= 1.0).then_some(())
    });
    assert_eq!(numvfs(&s.pf_pci), 7, "numvfs unchanged under a live attachment");
    let exe = std::env::var("MURMURATION_DAEMON").expect("MURMURATION_DAEMON");
    let check = run(&exe, &["--config", &config.display().to_string(), "--check-config"]);
    assert!(check.contains(&format!("sriov pf {pf}:")), "{check}");
    assert!(check.contains("refused (live_attachments): numvfs 7 -> 6"), "{check}");
    assert!(check.contains("0 change(s)"), "{check}");

    // 5. Drift: VLAN 5 behind the plugin's back.
    ip(&["link", "set", &pf, "vf", "1", "vlan", "5"]);
    let who =
        format!("network=\"{}\",pod_namespace=\"edge\",pod_name=\"du-0\",ifname=\"net1\"", cni.net);
    let drift = format!("murmuration_attachment_drift{{{who},field=\"vlan\"}}");
    wait_for("the drift metric", Duration::from_secs(30), || {
        (metric(&daemon, &drift) == 1.0).then_some(())
    });
    assert_eq!(vf1(&s)["vlan_list"][0]["vlan"], 5, "no repair by default");
    assert_eq!(
        daemon.log().matches("attachment drifted from its record").count(),
        1,
        "logged once"
    );

    // 6. The VF's counters with the pod's labels.
    let body = daemon.get("/metrics");
    let vf_series = format!(
        "murmuration_attachment_vf_rx_packets_total{{{who},pf=\"{pf}\",vf=\"1\",pci=\"{vf_pci}\",numa_node="
    );
    assert!(body.contains(&vf_series), "{vf_series} missing:\n{body}");
    assert!(body.contains("murmuration_attachment_vf_tx_bytes_total{"), "{body}");

    // 7. With repair on, the recorded VLAN is put back and the metric goes.
    daemon.stop();
    let mut daemon = Daemon::start(&dir, &sections(&cni, &pf, 7, true));
    wait_for("VLAN 100 put back", Duration::from_secs(30), || {
        (vf1(&s)["vlan_list"][0]["vlan"] == 100).then_some(())
    });
    let (_, body) = http_get(&daemon.addr, "/metrics").expect("metrics");
    assert!(!body.contains(&drift), "no drift after repair:\n{body}");
    assert!(daemon.log().contains("drift repaired"), "{}", daemon.log());

    daemon.stop();
    cni.call_env("DEL", Some(&pod.path()), "c-agent", "net1", ARGS, &conf).result();
    let _ = std::fs::remove_dir_all(&dir);
}

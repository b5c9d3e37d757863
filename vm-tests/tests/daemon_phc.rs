//! `murmurationd` against the igb PF's real PHC: discovery, hardware TX
//! timestamping (`required`), the PHC-to-system offset, and the VF
//! statistics of a VF the plugin attached.
#![cfg(target_env = "musl")]

use std::time::Duration;

use murmuration_vm_tests::cmd::{link, run};
use murmuration_vm_tests::cni::Cni;
use murmuration_vm_tests::daemon::{Daemon, http_get, sample};
use murmuration_vm_tests::pod::Pod;
use murmuration_vm_tests::sriov::{Sriov, netdev_of};
use murmuration_vm_tests::{report, wait_for};
use serde_json::json;

#[test]
fn daemon_reports_the_igb_phc_hw_timestamping_offset_and_vf_statistics() {
    let s = Sriov::fresh();
    let pf = s.pf.clone();
    let vf = s.vfs[1].clone();
    let cni = Cni::new("phc");
    let dir = std::env::temp_dir().join(format!("mmd-phc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut daemon = Daemon::start(
        &dir,
        &format!(
            "[state]\ndata_dir = \"{}\"\ncni_path = [\"{}\"]\n[inventory]\nresync_seconds = 1\n\
             [phc]\nenabled = true\ninterfaces = [\"{pf}\"]\nhw_timestamping = \"required\"\n\
             poll_seconds = 0.5\nsamples = 9\n",
            cni.data_dir.display(),
            cni.cni_path,
        ),
    );
    let addr = daemon.addr.clone();

    // One VF attached in sriov mode, with a VLAN the PF enforces.
    let orig_vlan = s.vf_info(1)["vlan_list"].clone();
    let pod = Pod::new("phc");
    let mut conf = cni.conf("sriov");
    conf["deviceID"] = json!(vf.pci);
    conf["vlan"] = json!(100);
    conf["ipam"] = json!({"type": "static", "addresses": [{"address": "10.61.0.2/24"}]});
    let r = cni.call("ADD", Some(&pod.path()), "c-phc", "net1", &conf).result();
    assert_eq!(r["interfaces"][0]["pciID"], vf.pci.as_str(), "{r}");

    let vf_series = |m: &str| format!("murmuration_vf_{m}{{pf=\"{pf}\",vf=\"1\"}}");
    let offset_series = |c: &str| format!("murmuration_phc_offset_seconds{{clock=\"{c}\"}}");
    let ifl = format!("{{ifname=\"{pf}\"}}");
    let body = wait_for(
        "PHC offset, attachment and VF 1 VLAN in /metrics",
        Duration::from_secs(30),
        || {
            let (status, body) = http_get(&addr, "/metrics").ok()?;
            assert_eq!(status, 200);
            let ok = sample(&body, &format!("murmuration_interface_phc_index{ifl}")).is_some()
                && body.contains("murmuration_phc_offset_seconds{")
                && sample(&body, &vf_series("vlan")) == Some(100.0)
                && sample(&body, "murmuration_attachments{mode=\"sriov\"}") == Some(1.0);
            ok.then_some(body)
        },
    );

    // Discovery and the PF's PHC.
    let clocks = sample(&body, "murmuration_phc_clocks").expect("phc_clocks");
    assert!(clocks >= 1.0, "PHCs found: {clocks}\n{body}");
    let index = sample(&body, &format!("murmuration_interface_phc_index{ifl}")).expect("index");
    assert!(index >= 0.0, "{pf} has a PHC: {index}\n{body}");
    let clock = format!("ptp{index}");
    let sysfs = format!("/sys/class/net/{pf}/device/ptp/{clock}");
    assert!(std::path::Path::new(&sysfs).exists(), "{sysfs}: the PF's own PHC");

    // Hardware TX timestamping: offered, turned on by the daemon, and really on.
    let cap = |c: &str| {
        let series = format!(
            "murmuration_interface_timestamping_capability{{ifname=\"{pf}\",capability=\"{c}\"}}"
        );
        sample(&body, &series)
    };
    assert_eq!(cap("hardware_tx"), Some(1.0), "{body}");
    assert_eq!(cap("hardware_rx"), Some(1.0), "{body}");
    let hw = sample(&body, &format!("murmuration_interface_hw_timestamping{ifl}"));
    assert_eq!(hw, Some(1.0), "{body}\n{}", daemon.log());
    let errors = sample(&body, "murmurationd_task_errors_total{task=\"phc\"}").unwrap_or(0.0);
    assert_eq!(errors, 0.0, "no PHC task error\n{}", daemon.log());
    // SIOCGHWTSTAMP through linuxptp's hwstamp_ctl, independent of the daemon.
    let current = run("hwstamp_ctl", &["-i", &pf]);
    assert!(current.contains("tx_type 1"), "HWTSTAMP_TX_ON on {pf}: {current}");
    assert!(!current.contains("rx_filter 0\n"), "an RX filter on {pf}: {current}");

    // The PHC-to-system offset: finite, measured with a tight window.
    let offset = sample(&body, &offset_series(&clock)).expect("offset of the PF's PHC");
    let uncertainty =
        sample(&body, &format!("murmuration_phc_offset_uncertainty_seconds{{clock=\"{clock}\"}}"))
            .expect("uncertainty");
    let info = body
        .lines()
        .find(|l| l.starts_with(&format!("murmuration_phc_info{{clock=\"{clock}\"")))
        .unwrap_or_else(|| panic!("phc_info for {clock}\n{body}"));
    assert!(offset.is_finite(), "offset {offset}");
    assert!(uncertainty > 0.0 && uncertainty < 1e-3, "uncertainty {uncertainty} s of {info}");
    let text = format!(
        "daemon_phc: {pf} PHC {clock}: offset {offset:.9} s, uncertainty {:.3} us ({info}); \
         {clocks} PHCs\n",
        uncertainty * 1e6
    );
    eprint!("{text}");
    report("daemon_phc.txt", &text);

    // VF statistics and state for the attached VF.
    for m in [
        "rx_packets_total",
        "tx_packets_total",
        "rx_bytes_total",
        "tx_bytes_total",
        "rx_dropped_packets_total",
        "tx_dropped_packets_total",
    ] {
        let v = sample(&body, &vf_series(m)).unwrap_or_else(|| panic!("{}\n{body}", vf_series(m)));
        assert!(v >= 0.0);
    }
    assert_eq!(sample(&body, &format!("murmuration_link_up{ifl}")), Some(1.0), "{body}");

    // Stop the daemon by PID, DEL the VF, nothing left.
    daemon.stop();
    cni.call("DEL", Some(&pod.path()), "c-phc", "net1", &conf).result();
    assert!(link(Some(&pod.name), "net1").is_none(), "net1 left the pod");
    assert_eq!(netdev_of(&vf.pci).as_deref(), Some(vf.netdev.as_str()), "VF back home");
    assert_eq!(s.vf_info(1)["vlan_list"], orig_vlan, "the PF-side VLAN restored");
    let records: Vec<_> = std::fs::read_dir(cni.data_dir.join("attachments"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(records.is_empty(), "no records left: {records:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

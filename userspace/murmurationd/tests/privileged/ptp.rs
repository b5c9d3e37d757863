//! Real ptp4l in two namespaces over a veth pair, software timestamping.
//! The client runs `free_running 1`, so the host clock is never adjusted
//! (and no phc2sys runs). A free-running ptp4l never reports its servo as
//! locked (linuxptp's `clock_no_adjust` answers SERVO_UNLOCKED), so its port
//! stays UNCALIBRATED and never takes MASTER_CLOCK_SELECTED to SLAVE: the test
//! asserts exactly that, with the daemon configured to count UNCALIBRATED as
//! tracking, an offset and a path delay, then stops the master and times
//! HOLDOVER -> FREERUN. A client that really reaches SLAVE needs a clock it
//! may discipline: the VM tier's `vm-tests/tests/ptp_sync.rs` runs one
//! against the guest's own clock.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Netns, Proc, World, spawn_in, wait_for};

const ADDR: &str = "127.0.0.1:9467";
const HOLDOVER_S: f64 = 3.0;

pub(crate) fn ptp4l_config(w: &World, name: &str, role: &str) -> std::path::PathBuf {
    let path = w.tmp.path().join(format!("{name}.cfg"));
    let sock = w.tmp.path().join(format!("{name}.sock"));
    let text = format!(
        "[global]\n{role}\nuds_address {}\nlogAnnounceInterval -2\nlogSyncInterval -3\n\
         announceReceiptTimeout 3\n",
        sock.display()
    );
    std::fs::write(&path, text).expect("ptp4l config");
    path
}

pub(crate) fn ptp4l(w: &World, ns: &Netns, name: &str, ifname: &str, role: &str) -> Proc {
    let cfg = ptp4l_config(w, name, role);
    let cfg = cfg.display().to_string();
    let log = w.tmp.path().join(format!("{name}.log"));
    spawn_in(ns, "ptp4l", "ptp4l", &["-S", "-m", "-i", ifname, "-f", &cfg], &log)
}

fn ptp_status(w: &World) -> Value {
    let (_, body) = w.get(ADDR, "/status");
    let v: Value = serde_json::from_str(&body).expect("status JSON");
    v["ptp"].clone()
}

/// A namespace with a veth pair to the node's `ptpc0`, and a ptp4l master
/// announcing clock class 6 (PRTC locked) on it.
pub(crate) fn master(w: &World) -> (Netns, Proc) {
    let master_ns = Netns::with_lo_up("gm");
    w.node.ip(&[
        "link",
        "add",
        "ptpc0",
        "type",
        "veth",
        "peer",
        "name",
        "ptpm0",
        "netns",
        master_ns.name(),
    ]);
    w.node.ip(&["addr", "add", "10.93.0.2/24", "dev", "ptpc0"]);
    w.node.ip(&["link", "set", "ptpc0", "up"]);
    master_ns.ip(&["addr", "add", "10.93.0.1/24", "dev", "ptpm0"]);
    master_ns.ip(&["link", "set", "ptpm0", "up"]);
    let master =
        ptp4l(w, &master_ns, "master", "ptpm0", "priority1 10\nmasterOnly 1\nclockClass 6");
    (master_ns, master)
}

#[test]
#[ignore = "privileged: needs root, network namespaces and Debian's linuxptp (cargo xtask test)"]
fn ptp4l_port_offset_and_holdover_to_freerun() {
    let w = World::new();
    let (_master_ns, mut master) = master(&w);
    let _client = ptp4l(&w, &w.node, "client", "ptpc0", "slaveOnly 1\nfree_running 1");
    let sock = w.tmp.path().join("client.sock");
    let extra = format!(
        "[ptp]\nenabled = true\nptp4l_socket = \"{}\"\nclient_socket_dir = \"{}\"\n\
         poll_seconds = 0.2\noffset_threshold_ns = 1000000\nholdover_seconds = {HOLDOVER_S}\n\
         locked_port_states = [\"UNCALIBRATED\"]\n",
        sock.display(),
        w.tmp.path().display()
    );
    let _d = w.daemon(9467, &extra);

    let locked = wait_for("LOCKED with a measured path delay", Duration::from_secs(30), || {
        let p = ptp_status(&w);
        let measured = p["mean_path_delay_ns"].as_f64().is_some_and(|d| d > 0.0);
        (p["sync_state"] == "LOCKED" && measured).then_some(p)
    });
    assert_eq!(locked["ports"][0]["state"], "UNCALIBRATED", "free-running: {locked}");
    assert!(locked["offset_ns"].is_f64(), "an offset is reported: {locked}");
    assert!(locked["mean_path_delay_ns"].as_f64().is_some_and(|d| d > 0.0), "{locked}");
    assert_eq!(locked["clock_class"], 6, "the master's class: {locked}");
    assert_eq!(locked["gm_present"], true, "{locked}");
    let (_, metrics) = w.get(ADDR, "/metrics");
    assert!(
        metrics.contains("murmuration_ptp_sync_state{instance=\"ptp4l\",state=\"LOCKED\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "murmuration_ptp_port_state{instance=\"ptp4l\",port=\"1\",state=\"UNCALIBRATED\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "murmuration_ptp_port_state{instance=\"ptp4l\",port=\"1\",state=\"SLAVE\"} 0"
        )
    );

    master.stop();
    let stopped = Instant::now();
    wait_for("HOLDOVER after the master stops", Duration::from_secs(10), || {
        (ptp_status(&w)["sync_state"] == "HOLDOVER").then_some(())
    });
    let holdover_at = stopped.elapsed();
    wait_for("FREERUN after the holdover", Duration::from_secs(15), || {
        (ptp_status(&w)["sync_state"] == "FREERUN").then_some(())
    });
    let in_holdover = stopped.elapsed() - holdover_at;
    // HOLDOVER lasts the configured time (poll 0.2 s and our own 0.1 s polling as slack).
    assert!(
        in_holdover.as_secs_f64() >= HOLDOVER_S - 0.4
            && in_holdover.as_secs_f64() <= HOLDOVER_S + 1.5,
        "HOLDOVER lasted {in_holdover:?}, configured {HOLDOVER_S} s\n{}",
        w.daemon_log()
    );
}

/// Two `[[ptp.instance]]`: `gm` polls the free-running client, `absent` a
/// socket nobody serves. Each has its own state and `instance` series; the
/// node's lock-state is the worse of the two.
#[test]
#[ignore = "privileged: needs root, network namespaces and Debian's linuxptp (cargo xtask test)"]
fn ptp4l_instances_have_their_own_state_and_series() {
    let w = World::new();
    let (_master_ns, _master) = master(&w);
    let _client = ptp4l(&w, &w.node, "client", "ptpc0", "slaveOnly 1\nfree_running 1");
    let extra = format!(
        "[ptp]\nenabled = true\nclient_socket_dir = \"{dir}\"\npoll_seconds = 0.2\n\
         offset_threshold_ns = 1000000\nlocked_port_states = [\"UNCALIBRATED\"]\n\
         [[ptp.instance]]\nname = \"gm\"\nptp4l_socket = \"{dir}/client.sock\"\n\
         [[ptp.instance]]\nname = \"absent\"\nptp4l_socket = \"{dir}/nobody.sock\"\n\
         [notifications]\nenabled = true\nnode_name = \"n1\"\nstore = \"{dir}/subs.json\"\n",
        dir = w.tmp.path().display()
    );
    let _d = w.daemon(9467, &extra);
    let status = wait_for("instance gm LOCKED", Duration::from_secs(30), || {
        let (_, body) = w.get(ADDR, "/status");
        let v: Value = serde_json::from_str(&body).expect("status JSON");
        (v["ptp_instances"]["gm"]["sync_state"] == "LOCKED").then_some(v)
    });
    assert_eq!(status["ptp_instances"]["absent"]["sync_state"], "FREERUN", "{status}");
    assert_eq!(status["ptp_instances"]["absent"]["reachable"], false, "{status}");
    assert_eq!(status["ptp"], status["ptp_instances"]["gm"], "the first instance: {status}");
    let (_, metrics) = w.get(ADDR, "/metrics");
    for series in [
        "murmuration_ptp_sync_state{instance=\"gm\",state=\"LOCKED\"} 1",
        "murmuration_ptp_sync_state{instance=\"absent\",state=\"FREERUN\"} 1",
        "murmuration_ptp_up{instance=\"gm\"} 1",
        "murmuration_ptp_up{instance=\"absent\"} 0",
        "murmuration_ptp_clock_class{instance=\"gm\"} 6",
        "murmuration_ptp_port_state{instance=\"gm\",port=\"1\",state=\"UNCALIBRATED\"} 1",
    ] {
        assert!(metrics.contains(series), "{series}\n{metrics}");
    }
    let lock =
        "/api/ocloudNotifications/v2/cluster/node/n1/sync/ptp-status/lock-state/CurrentState";
    let (code, body) = w.get(ADDR, lock);
    let ev: Value = serde_json::from_str(&body).expect("event JSON");
    assert_eq!(code, 200, "{body}");
    assert_eq!(ev["data"]["values"][0]["value"], "FREERUN", "the worse instance: {ev}");
}

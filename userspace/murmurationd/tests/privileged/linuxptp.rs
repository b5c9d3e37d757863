//! linuxptp supervised by the daemon and the plugin's `requirePtpLock`.
//!
//! The supervised pair: a master ptp4l in a namespace of its own and a
//! free-running client in the node namespace (the daemon's), both software
//! timestamping over a veth pair, both started by the daemon from
//! `[[linuxptp.instance]]`. The client is `monitor = true`, so the daemon's
//! poller reaches LOCKED through it (UNCALIBRATED counts as tracking here,
//! see `ptp.rs`) and writes LOCKED to the state file. Killing the client by
//! PID gets it restarted and counted; SIGTERM to the daemon leaves no
//! program behind.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

use crate::common::{Netns, World, wait_for};

const PORT: u16 = 9468;
const ADDR: &str = "127.0.0.1:9468";

/// PIDs of processes whose command line mentions `needle`.
fn pids_with(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else { continue };
        if String::from_utf8_lossy(&cmd).contains(needle) {
            out.push(pid);
        }
    }
    out
}

fn metric(body: &str, name_and_labels: &str) -> Option<f64> {
    body.lines().find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' ')?.parse().ok())
}

fn supervised_config(w: &World, master: &Netns) -> String {
    let fast = "timestamping = \"software\"\nlog_announce_interval = -2\n\
                log_sync_interval = -3\nannounce_receipt_timeout = 3\n";
    format!(
        "[ptp]\nclient_socket_dir = \"{tmp}\"\npoll_seconds = 0.2\n\
         offset_threshold_ns = 1000000\nlocked_port_states = [\"UNCALIBRATED\"]\nlocked_clock_classes = [248]\n\
         [linuxptp]\nrun_dir = \"{tmp}/lp\"\nrestart_initial_seconds = 0.2\n\
         restart_max_seconds = 1\nstop_timeout_seconds = 2\n\
         [[linuxptp.instance]]\nname = \"gm\"\ninterface = \"lpm0\"\nrole = \"master\"\n\
         priority1 = 10\nnetns = \"{ns}\"\n{fast}\
         [[linuxptp.instance]]\nname = \"client\"\ninterface = \"lpc0\"\n\
         role = \"free-running\"\nmonitor = true\n{fast}",
        tmp = w.tmp.path().display(),
        ns = master.path(),
    )
}

#[test]
#[ignore = "privileged: needs root, network namespaces and Debian's linuxptp (cargo xtask test)"]
fn supervised_ptp4l_pair_restarts_and_stops_with_the_daemon() {
    let w = World::new();
    let master = Netns::with_lo_up("lpgm");
    w.veth_pair(&master, "lpc0", "lpm0", "10.94.0");
    let mut d = w.daemon(PORT, &supervised_config(&w, &master));
    let run_dir = w.tmp.path().join("lp");
    let client_conf = run_dir.join("client.ptp4l.conf").display().to_string();
    let gm_conf = run_dir.join("gm.ptp4l.conf").display().to_string();

    let locked = wait_for("LOCKED through the supervised client", Duration::from_secs(30), || {
        let (_, body) = w.get(ADDR, "/status");
        let v: Value = serde_json::from_str(&body).ok()?;
        (v["ptp"]["sync_state"] == "LOCKED").then_some(v)
    });
    assert_eq!(locked["ptp"]["ports"][0]["state"], "UNCALIBRATED", "{locked}");
    let mode = std::fs::metadata(&client_conf).expect("rendered config");
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777, 0o600);
    let state: Value =
        serde_json::from_slice(&std::fs::read(w.ptp_state_file()).expect("state file"))
            .expect("state JSON");
    assert_eq!(state["sync_state"], "LOCKED", "{state}");

    let (_, m) = w.get(ADDR, "/metrics");
    for inst in ["gm", "client"] {
        let l = format!("{{instance=\"{inst}\",program=\"ptp4l\"}}");
        assert_eq!(metric(&m, &format!("murmuration_linuxptp_up{l}")), Some(1.0), "{m}");
        assert_eq!(metric(&m, &format!("murmuration_linuxptp_restarts_total{l}")), Some(0.0));
    }
    let gm_pids = pids_with(&gm_conf);
    assert_eq!(gm_pids.len(), 1, "one master ptp4l: {gm_pids:?}");
    let gm_ns = std::fs::read_link(format!("/proc/{}/ns/net", gm_pids[0])).expect("ns");
    let own_ns = std::fs::read_link("/proc/self/ns/net").expect("ns");
    assert_ne!(gm_ns, own_ns, "the master runs in its instance's netns");

    let old = pids_with(&client_conf);
    assert_eq!(old.len(), 1, "one client ptp4l: {old:?}");
    kill(Pid::from_raw(old[0]), Signal::SIGKILL).expect("kill the client");
    let l = "{instance=\"client\",program=\"ptp4l\"}";
    let m = wait_for("the client restarted and counted", Duration::from_secs(10), || {
        let (_, m) = w.get(ADDR, "/metrics");
        let restarted = metric(&m, &format!("murmuration_linuxptp_restarts_total{l}")) == Some(1.0)
            && metric(&m, &format!("murmuration_linuxptp_up{l}")) == Some(1.0);
        restarted.then_some(m)
    });
    assert_eq!(metric(&m, &format!("murmuration_linuxptp_last_exit_code{l}")), Some(137.0), "{m}");
    let new = pids_with(&client_conf);
    assert!(new.len() == 1 && new != old, "a new client ptp4l: {old:?} -> {new:?}");
    let gm_l = "{instance=\"gm\",program=\"ptp4l\"}";
    assert_eq!(metric(&m, &format!("murmuration_linuxptp_restarts_total{gm_l}")), Some(0.0));

    let status = d.terminate();
    assert!(status.success(), "daemon exit {status}\n{}", w.daemon_log());
    let left = pids_with(&run_dir.display().to_string());
    assert!(left.is_empty(), "programs left after the daemon stopped: {left:?}");
    let log = w.daemon_log();
    assert!(log.contains("linuxptp stopped"), "SIGTERM stopped them:\n{log}");
}

fn write_state(w: &World, state: &str, age: Duration) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    let updated = (now - age).as_millis() as u64;
    let text = json!({"sync_state": state, "updated_unix_ms": updated}).to_string();
    std::fs::write(w.ptp_state_file(), text).expect("state file");
}

fn refused_with_11(v: &Value, words: &[&str]) {
    assert_eq!(v["code"], 11, "{v}");
    let msg = v["msg"].as_str().unwrap_or_default();
    for word in words {
        assert!(msg.contains(word), "{word:?} missing from {msg:?}");
    }
}

#[test]
#[ignore = "privileged: needs root and network namespaces (cargo xtask test)"]
fn require_ptp_lock_gates_add_and_check() {
    let w = World::new();
    let pod = Netns::with_lo_up("lkpod");
    let mut conf = w.conf("10.95.0.0/24");
    conf["requirePtpLock"] = json!(true);
    conf["ptpStateFile"] = json!(w.ptp_state_file());
    conf["ptpStateMaxAgeSeconds"] = json!(5);
    let file = w.ptp_state_file().display().to_string();
    let add = |cid: &str| w.verb("ADD", &pod.path(), cid, &conf, "p", "eth0");
    let unchanged = || {
        assert_eq!(pod.link_names(), ["lo"], "a refused ADD changes nothing");
        let records = std::fs::read_dir(w.data_dir()).map(|d| d.count()).unwrap_or(0);
        let leases = Path::new(&w.ipam_dir()).exists();
        (records, leases)
    };

    let (ok, v) = add("c1");
    assert!(!ok);
    refused_with_11(&v, &["does not exist", &file]);
    let before = unchanged();
    assert!(!before.1, "no lease was taken");

    write_state(&w, "LOCKED", Duration::from_secs(60));
    let (ok, v) = add("c1");
    assert!(!ok);
    refused_with_11(&v, &["stale", "60.", "LOCKED", &file]);

    write_state(&w, "FREERUN", Duration::ZERO);
    let (ok, v) = add("c1");
    assert!(!ok);
    refused_with_11(&v, &["FREERUN", &file]);
    assert_eq!(unchanged(), before);

    write_state(&w, "LOCKED", Duration::from_secs(1));
    let (ok, v) = add("c1");
    assert!(ok, "a fresh LOCKED file lets ADD through: {v}");
    assert_eq!(pod.link_names().len(), 2, "eth0 made");

    let check = || w.verb("CHECK", &pod.path(), "c1", &conf, "p", "eth0");
    assert!(check().0, "CHECK while LOCKED");
    write_state(&w, "HOLDOVER", Duration::ZERO);
    let (ok, v) = check();
    assert!(!ok, "CHECK reports the lost lock");
    refused_with_11(&v, &["CHECK", "HOLDOVER", &file]);
    std::fs::remove_file(w.ptp_state_file()).expect("rm");
    let (ok, v) = check();
    assert!(!ok);
    refused_with_11(&v, &["does not exist"]);

    let (ok, v) = w.verb("DEL", &pod.path(), "c1", &conf, "p", "eth0");
    assert!(ok, "DEL does not need a lock: {v}");
    assert_eq!(pod.link_names(), ["lo"]);
}

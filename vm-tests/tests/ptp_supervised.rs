//! linuxptp supervised by murmurationd on the guest's two igb NICs (one
//! QEMU hub): a master ptp4l on the wire NIC and a client on the PF, both
//! from `[[linuxptp.instance]]`, over L2. Software timestamping: QEMU's igb
//! model latches a hardware RX timestamp for the first frame only
//! (`docs/benchmarks.md`), so a hardware-timestamping ptp4l never locks in
//! this tier. The client disciplines the guest's own clock and reaches
//! SLAVE; it feeds the daemon's poller (`monitor = true`). `requirePtpLock`
//! refuses an ADD while the daemon has written no state and accepts it once
//! the daemon reports LOCKED. The client killed by PID is restarted,
//! counted, and locks again; SIGTERM to the daemon leaves no ptp4l behind.
#![cfg(target_env = "musl")]

use std::time::{Duration, Instant};

use murmuration_vm_tests::cmd::run;
use murmuration_vm_tests::cni::Cni;
use murmuration_vm_tests::daemon::{Daemon, sample};
use murmuration_vm_tests::pod::Pod;
use murmuration_vm_tests::sriov::Sriov;
use murmuration_vm_tests::{report, wait_for};
use serde_json::json;

/// How long the daemon may take to report a PTP state.
const POLL: Duration = Duration::from_secs(60);

/// PIDs of processes whose command line mentions `needle`.
fn pids_with(needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else { continue };
        if String::from_utf8_lossy(&cmd).contains(needle) {
            out.push(name);
        }
    }
    out
}

#[test]
fn ptp_supervised_ptp4l_restarts_and_require_ptp_lock_waits_for_locked() {
    let s = Sriov::without_vfs();
    let dir = std::env::temp_dir().join(format!("mmd-ptpsup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let state_file = dir.join("ptp-state.json");
    let run_dir = dir.join("lp");
    let cni = Cni::new("ptplock");
    let pod = Pod::new("ptplock");
    let mut conf = cni.conf("veth");
    conf["requirePtpLock"] = json!(true);
    conf["ptpStateFile"] = json!(state_file);

    // No daemon yet, no state file: unknown, so ADD waits.
    let e = cni.call("ADD", Some(&pod.path()), "c-lock", "eth0", &conf).error();
    assert_eq!(e["code"], 11, "{e}");
    assert!(e["msg"].as_str().is_some_and(|m| m.contains("does not exist")), "{e}");
    assert!(cni.records().is_empty(), "a refused ADD records nothing");

    // Fast messages and PI gains as in ptp_sync.rs: the servo's first lock
    // takes 0.016 / pi_integral_const seconds.
    let sw = "timestamping = \"software\"\ntransport = \"l2\"\nlog_announce_interval = -2\n\
              log_sync_interval = -3\nlog_min_delay_req_interval = -3\n\
              announce_receipt_timeout = 3\npi_proportional_const = 0.1\n\
              pi_integral_const = 0.008\n";
    let mut daemon = Daemon::start(
        &dir,
        &format!(
            "[state]\ndata_dir = \"{data}\"\n[ptp_state]\nfile = \"{state}\"\n\
             [ptp]\nclient_socket_dir = \"{dir}\"\npoll_seconds = 0.2\n\
             offset_threshold_ns = 50000000\nlocked_clock_classes = [248]\n\
             [linuxptp]\nrun_dir = \"{run}\"\nrestart_initial_seconds = 0.2\n\
             restart_max_seconds = 1\n\
             [[linuxptp.instance]]\nname = \"gm\"\ninterface = \"{wire}\"\nrole = \"master\"\n\
             priority1 = 10\n{sw}\
             [[linuxptp.instance]]\nname = \"pf\"\ninterface = \"{pf}\"\nrole = \"client\"\n\
             monitor = true\n{sw}",
            data = dir.join("data").display(),
            state = state_file.display(),
            dir = dir.display(),
            run = run_dir.display(),
            wire = s.wire,
            pf = s.pf,
        ),
    );

    let started = Instant::now();
    let locked = daemon.poll_ptp(
        "SLAVE and LOCKED",
        POLL,
        || daemon.log(),
        |p| p["sync_state"] == "LOCKED" && p["ports"][0]["state"] == "SLAVE",
    );
    let to_lock = started.elapsed();
    let r = cni.call("ADD", Some(&pod.path()), "c-lock", "eth0", &conf).result();
    let ifaces = r["interfaces"].as_array().cloned().unwrap_or_default();
    assert!(ifaces.iter().any(|i| i["name"] == "eth0"), "ADD accepted once LOCKED: {r}");

    let client_conf = run_dir.join("pf.ptp4l.conf").display().to_string();
    let old = pids_with(&client_conf);
    assert_eq!(old.len(), 1, "one client ptp4l: {old:?}");
    run("/bin/kill", &["-KILL", &old[0]]);
    let l = "{instance=\"pf\",program=\"ptp4l\"}";
    let metrics = wait_for("the client restarted and counted", Duration::from_secs(20), || {
        let m = daemon.get("/metrics");
        let back = sample(&m, &format!("murmuration_linuxptp_restarts_total{l}")) == Some(1.0)
            && sample(&m, &format!("murmuration_linuxptp_up{l}")) == Some(1.0);
        back.then_some(m)
    });
    let exit = sample(&metrics, &format!("murmuration_linuxptp_last_exit_code{l}"));
    assert_eq!(exit, Some(137.0), "{metrics}");
    let new = pids_with(&client_conf);
    assert!(new.len() == 1 && new != old, "a new client: {old:?} -> {new:?}");
    let relocked = Instant::now();
    daemon.poll_ptp(
        "LOCKED again after the restart",
        POLL,
        || daemon.log(),
        |p| p["sync_state"] == "LOCKED",
    );
    let to_relock = relocked.elapsed();

    daemon.stop();
    let left = pids_with(&run_dir.display().to_string());
    assert!(left.is_empty(), "ptp4l left after the daemon stopped: {left:?}");
    let del = cni.call("DEL", Some(&pod.path()), "c-lock", "eth0", &conf);
    assert!(del.ok, "DEL needs no lock: {:?}", del.stdout);

    let text = format!(
        "ptp_supervised: supervised client (software timestamping, L2) SLAVE + LOCKED {:.1} s after the daemon \
         started (offset {} ns); killed by PID, restarted and LOCKED again in {:.1} s\n",
        to_lock.as_secs_f64(),
        locked["offset_ns"],
        to_relock.as_secs_f64(),
    );
    eprint!("{text}");
    report("ptp_supervised.txt", &text);
    let _ = std::fs::remove_dir_all(&dir);
}

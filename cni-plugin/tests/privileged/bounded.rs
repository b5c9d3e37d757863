//! Bounded waits: a hung IPAM plugin and a held lock end in code 11 ("try
//! again later") within their bounds, and leave nothing behind.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use serde_json::{Value, json};

use crate::common::{CNI_BIN_DIR, Env, World};

const TRY_AGAIN_LATER: u64 = 11;

/// Installs `hang-ipam`: answers VERSION, then on ADD writes its PID to
/// `pid_file` and becomes `sleep 1000` (same PID). Returns the `CNI_PATH`.
fn hang_ipam(w: &World, pid_file: &Path) -> String {
    let dir = w.tmp().join("hang-bin");
    fs::create_dir_all(&dir).expect("bin dir");
    let script = format!(
        "#!/bin/sh\n\
         case \"$CNI_COMMAND\" in\n\
         VERSION) echo '{{\"cniVersion\":\"1.1.0\",\"supportedVersions\":[\"1.0.0\",\"1.1.0\"]}}' ;;\n\
         ADD) echo $$ > '{pid}.tmp' && mv '{pid}.tmp' '{pid}' && exec sleep 1000 ;;\n\
         esac\n",
        pid = pid_file.display(),
    );
    let bin = dir.join("hang-ipam");
    fs::write(&bin, script).expect("write hang-ipam");
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).expect("chmod");
    format!("{}:{CNI_BIN_DIR}", dir.display())
}

/// Whether `pid` names a live (or unreaped) `sleep`.
fn sleeping(pid: u32) -> bool {
    fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(b"sleep"))
}

/// Kills the hung IPAM child if the plugin did not (a failing test must not
/// leave it running for 1000 s).
struct Reaper(PathBuf);

impl Drop for Reaper {
    fn drop(&mut self) {
        let pid = fs::read_to_string(&self.0).ok().and_then(|s| s.trim().parse::<u32>().ok());
        if let Some(pid) = pid.filter(|p| sleeping(*p)) {
            let pid = nix::unistd::Pid::from_raw(pid as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

fn wait_for_pid(file: &Path) -> u32 {
    let start = Instant::now();
    loop {
        if let Some(pid) = fs::read_to_string(file).ok().and_then(|s| s.trim().parse().ok()) {
            return pid;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "the IPAM plugin never started ADD");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn msg(e: &Value) -> &str {
    e["msg"].as_str().unwrap_or_default()
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn a_hung_ipam_plugin_is_killed_and_nothing_waits_forever() {
    let w = World::new();
    let pod = w.pod();
    let pid_file = w.tmp().join("hang-ipam.pid");
    let _reaper = Reaper(pid_file.clone());
    let path = hang_ipam(&w, &pid_file);
    let conf = json!({
        "cniVersion": "1.1.0", "name": w.net, "type": "murmuration",
        "dataDir": w.data_dir(), "ipamTimeoutSeconds": 2, "lockTimeoutSeconds": 0.25,
        "ipam": {"type": "hang-ipam"}
    });
    let env = |verb| Env::attachment(verb, Some(&pod), "ctr-hung", "eth0").set("CNI_PATH", &path);
    std::thread::scope(|s| {
        let add = s.spawn(|| w.run(&env("ADD"), &conf));
        let pid = wait_for_pid(&pid_file);
        // While ADD holds its locks inside IPAM, DEL (same attachment lock)
        // and GC (store.lock exclusive) give up at their bound.
        let del = s.spawn(|| w.run(&env("DEL"), &conf));
        let gc = w.run(&Env::new("GC").set("CNI_PATH", &path), &conf);
        let del = del.join().expect("DEL thread");
        assert!(sleeping(pid), "the ADD's IPAM call is still hung while DEL and GC answer");
        let (del, gc) = (del.error(), gc.error());
        assert_eq!(del["code"], TRY_AGAIN_LATER, "{del}");
        assert!(msg(&del).contains("ctr-hung@eth0.lock"), "{del}");
        assert_eq!(gc["code"], TRY_AGAIN_LATER, "{gc}");
        assert!(msg(&gc).contains("store.lock"), "{gc}");

        let add = add.join().expect("ADD thread").error();
        assert_eq!(add["code"], TRY_AGAIN_LATER, "{add}");
        assert!(msg(&add).contains("hang-ipam") && msg(&add).contains(&pid.to_string()), "{add}");
        assert!(!sleeping(pid), "the hung IPAM plugin (pid {pid}) was killed and reaped");
    });
    w.node.assert_empty("node");
    pod.assert_empty("pod");
    assert_eq!(w.attachments(), Vec::<String>::new(), "no record of the failed ADD");
    w.run(&env("DEL"), &conf).ok();
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn del_gives_up_on_a_held_store_lock_and_changes_nothing() {
    let w = World::new();
    let pod = w.pod();
    let mut conf = w.conf("1.1.0");
    conf["lockTimeoutSeconds"] = json!(0.5);
    w.add(&pod, "ctr-a", "eth0", &conf).result();
    let record = fs::read(w.record_path("ctr-a", "eth0")).expect("record");
    let (links, leases) = (w.node.link_names(), w.leases());

    fs::create_dir_all(w.data_dir()).expect("dataDir");
    let file = fs::File::create(w.data_dir().join("store.lock")).expect("store.lock");
    let held = Flock::lock(file, FlockArg::LockExclusive).expect("hold store.lock");
    let e = w.del(Some(&pod), "ctr-a", "eth0", &conf).error();
    assert_eq!(e["code"], TRY_AGAIN_LATER, "{e}");
    assert!(msg(&e).contains("store.lock"), "{e}");
    assert!(msg(&e).contains(&format!("held by pid {}", std::process::id())), "{e}");
    assert_eq!(fs::read(w.record_path("ctr-a", "eth0")).expect("record kept"), record);
    assert_eq!((w.node.link_names(), w.leases()), (links, leases), "DEL changed something");

    drop(held);
    w.del(Some(&pod), "ctr-a", "eth0", &conf).ok();
    w.assert_clean(&[&pod]);
}

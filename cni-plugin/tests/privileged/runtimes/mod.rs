//! Real container runtimes drive the plugin: containerd 1.6 (`ctr run
//! --cni`), podman 4.3 (CNI network backend) and Debian's libcni 1.1.2
//! through a small Go driver. Each runs in the World's node namespace, with
//! its root, state, socket and config directories in the test's temporary
//! directory, inside a private mount namespace where the paths a runtime
//! cannot be told about (ctr's `/etc/cni/net.d` and `/usr/lib/cni`, libcni's
//! cache `/var/lib/cni`, podman's `/run/netns`) are bind mounts or tmpfs that
//! only that namespace sees: the machine's own configuration is never
//! written. The plugin is the test build behind a shim that records each
//! call's environment and stdin, so the tests assert what the runtime
//! actually sent. The network: the fast path on the fabric's uplink (VLAN
//! [`VLAN`], the wire port an access port of it), chained with the reference
//! `tuning` plugin setting a sysctl.

mod containerd;
mod libcni;
mod podman;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use murmuration_testkit::audit::LOCKS;
use serde_json::{Value, json};

use crate::common::audit::{Snapshot, poll};
use crate::common::{CNI_BIN_DIR, PLUGIN};
use crate::fastpath::{Fabric, WIRE_IP};

/// The pods' VLAN; the wire port is an access port of it.
pub const VLAN: u16 = 100;
/// The sysctl the chained `tuning` plugin sets in the pod, and its value
/// (the kernel's default is 0).
pub const SYSCTL: &str = "net.ipv4.conf.eth0.arp_ignore";
const SYSCTL_VALUE: &str = "1";
/// How long a runtime's teardown may take to reach the plugin.
const SETTLE: Duration = Duration::from_secs(20);

/// What the container runs: its address, the tuned sysctl, a ping to the wire.
pub fn container_script() -> String {
    let file = format!("/proc/sys/{}", SYSCTL.replace('.', "/"));
    format!(
        "ip -4 addr show eth0; echo sysctl=$(cat {file}); \
         ping -c 3 -W 2 {WIRE_IP} && echo PING_OK"
    )
}

/// Asserts the container's output shows the address the plugin gave it, the
/// sysctl `tuning` set, and replies from the wire across the fast path.
pub fn assert_container_saw(output: &str, add: &Call) {
    let result = add.result().unwrap_or_else(|| panic!("no result recorded for {add:?}"));
    let ip = result["ips"][0]["address"].as_str().expect("an IPv4 address in the ADD result");
    assert!(
        output.contains(&format!("inet {ip}")),
        "the container does not see its address {ip}:\n{output}"
    );
    assert!(
        output.contains(&format!("sysctl={SYSCTL_VALUE}")),
        "tuning's {SYSCTL} not set in the container:\n{output}"
    );
    assert!(output.contains("PING_OK"), "the container did not reach the wire:\n{output}");
}

/// Fails (never skips) unless `bin` is on PATH.
pub fn require(bin: &str, package: &str) {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path.split(':').any(|d| Path::new(d).join(bin).is_file());
    assert!(found, "{bin} missing: apt-get install {package} (cargo xtask setup installs it)");
}

/// The first line `cmd --version` prints.
pub fn version_of(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run --version");
    String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or_default().to_owned()
}

/// One plugin invocation as the shim recorded it.
#[derive(Debug, Clone)]
pub struct Call {
    pub env: BTreeMap<String, String>,
    pub conf: Value,
    pub stdout: String,
}

impl Call {
    pub fn var(&self, key: &str) -> &str {
        self.env.get(key).map_or("", String::as_str)
    }

    pub fn command(&self) -> &str {
        self.var("CNI_COMMAND")
    }

    pub fn has_prev_result(&self) -> bool {
        self.conf.get("prevResult").is_some_and(Value::is_object)
    }

    /// The plugin's answer to an ADD.
    pub fn result(&self) -> Option<Value> {
        serde_json::from_str(&self.stdout).ok()
    }

    pub fn summary(&self) -> String {
        format!(
            "{} cniVersion={} CNI_CONTAINERID={} CNI_NETNS={:?} CNI_IFNAME={} CNI_ARGS={:?} \
             CNI_PATH={} prevResult={}",
            self.command(),
            self.conf["cniVersion"].as_str().unwrap_or("-"),
            self.var("CNI_CONTAINERID"),
            self.var("CNI_NETNS"),
            self.var("CNI_IFNAME"),
            self.var("CNI_ARGS"),
            self.var("CNI_PATH"),
            self.has_prev_result()
        )
    }
}

/// The fabric, the runtime's directories and the recording plugin.
#[derive(Debug)]
pub struct Rig {
    pub f: Fabric,
    root: PathBuf,
    baseline: Snapshot,
}

impl Rig {
    /// The fabric, a bin dir (the recording `murmuration`, copies of
    /// `host-local` and `tuning`), a conf dir with the conflist named `net`
    /// and a busybox rootfs.
    pub fn new() -> Self {
        let f = Fabric::new(VLAN);
        let root = f.w.tmp().join("rt");
        let rig = Self { baseline: f.w.snapshot(&f.extra()), f, root };
        for dir in ["bin", "conf", "calls", "cache"] {
            fs::create_dir_all(rig.dir(dir)).expect("runtime dir");
        }
        rig.install_plugins();
        let list = serde_json::to_vec_pretty(&rig.conflist()).expect("conflist JSON");
        fs::write(rig.dir("conf").join("10-murmuration.conflist"), list).expect("conflist");
        rig.build_rootfs();
        rig
    }

    /// A directory of the rig (`bin`, `conf`, `calls`, `cache`, `rootfs`, ...).
    pub fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The network: murmuration's fast path chained with `tuning`.
    pub fn conflist(&self) -> Value {
        let mut plugin = self.f.conf(VLAN, false);
        let obj = plugin.as_object_mut().expect("conf object");
        obj.remove("cniVersion");
        obj.remove("name");
        json!({
            "cniVersion": "1.0.0",
            "name": self.f.w.net,
            "plugins": [plugin, {"type": "tuning", "sysctl": {SYSCTL: SYSCTL_VALUE}}]
        })
    }

    pub fn conflist_path(&self) -> PathBuf {
        self.dir("conf").join("10-murmuration.conflist")
    }

    fn install_plugins(&self) {
        let bin = self.dir("bin");
        for reference in ["host-local", "tuning"] {
            let from = Path::new(CNI_BIN_DIR).join(reference);
            fs::copy(&from, bin.join(reference))
                .unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
        }
        // Records the call, then runs the real plugin on the same stdin;
        // its answer is kept next to the call.
        let shim = format!(
            "#!/bin/sh\nd=\"{calls}/$(date +%s%N)-$$\"\nmkdir -p \"$d\"\nenv > \"$d/env\"\n\
             cat > \"$d/stdin\"\n{PLUGIN} < \"$d/stdin\" > \"$d/stdout\"\nrc=$?\n\
             cat \"$d/stdout\"\nexit $rc\n",
            calls = self.dir("calls").display()
        );
        let path = bin.join("murmuration");
        fs::write(&path, shim).expect("write the recording shim");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    fn build_rootfs(&self) {
        let bin = self.dir("rootfs").join("bin");
        fs::create_dir_all(&bin).expect("rootfs");
        fs::copy("/bin/busybox", bin.join("busybox")).expect("busybox-static missing");
        for applet in ["sh", "ip", "ping", "cat", "echo"] {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).expect("applet link");
        }
    }

    /// Every call the plugin received, in order (VERSION calls included).
    pub fn calls(&self) -> Vec<Call> {
        let mut dirs: Vec<PathBuf> = fs::read_dir(self.dir("calls"))
            .expect("calls dir")
            .map(|e| e.expect("entry").path())
            .collect();
        dirs.sort();
        dirs.iter().map(|d| read_call(d)).collect()
    }

    /// The recorded calls of `command`.
    pub fn calls_of(&self, command: &str) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.command() == command).collect()
    }

    /// Waits until the runtime's teardown has reached the plugin: `n` DELs.
    pub fn wait_for_dels(&self, n: usize) {
        let ok = poll(SETTLE, || self.calls_of("DEL").len() >= n);
        assert!(ok, "expected {n} DEL calls, got:\n{}", self.describe());
    }

    pub fn describe(&self) -> String {
        self.calls().iter().map(Call::summary).collect::<Vec<_>>().join("\n")
    }

    /// Prints the calls, one line each, after a `what` header.
    pub fn print_summary(&self, what: &str) {
        eprintln!("{what}: what the plugin received\n{}", self.describe());
    }

    /// The runtime's DEL left nothing of the attachments (links, addresses,
    /// routes, records, leases, pins, map entries) except their lock files,
    /// which DEL keeps for the next GC (none of these runtimes sends GC); a
    /// GC with no valid attachments then removes those, and nothing of ours
    /// remains. No mount is left under the temporary directory except the
    /// fabric's bpffs.
    pub fn assert_left_nothing(&self) {
        let mut left = self.f.w.snapshot(&self.f.extra()).leftovers(&self.baseline);
        left.remove(LOCKS);
        assert!(left.is_empty(), "the runtime's DEL left: {left:?}\n{}", self.describe());
        self.f.assert_clean(&[]);
        let mut gc = self.f.conf(VLAN, false);
        gc["cni.dev/valid-attachments"] = json!([]);
        self.f.w.gc(&gc).ok();
        self.f.w.snapshot(&self.f.extra()).assert_nothing_left(&self.baseline);
        let tmp = self.f.w.tmp().display().to_string();
        let mounts: Vec<String> = fs::read_to_string("/proc/self/mountinfo")
            .expect("mountinfo")
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_owned))
            .filter(|m| m.starts_with(&tmp) && !m.ends_with("/bpffs"))
            .collect();
        assert!(mounts.is_empty(), "mounts left under {tmp}: {mounts:?}");
    }

    /// `cmd` in the node namespace and a private mount namespace in which
    /// `setup` (shell commands: mounts) ran first.
    pub fn private(&self, setup: &str, cmd: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        // nsenter (unlike `ip netns exec`) keeps /sys and its cgroup mounts,
        // which runc needs.
        c.arg(format!("--net={}", self.f.w.node.path()))
            .args(["unshare", "--mount", "--propagation", "private", "sh", "-ec"])
            .arg(format!("{setup}\nexec \"$@\""))
            .arg("sh")
            .args(cmd);
        c
    }
}

fn read_call(dir: &Path) -> Call {
    let text = |name: &str| fs::read_to_string(dir.join(name)).unwrap_or_default();
    let env = text("env")
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.starts_with("CNI_"))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let conf = serde_json::from_str(&text("stdin")).unwrap_or(Value::Null);
    Call { env, conf, stdout: text("stdout") }
}

/// A runtime process of the test's own, in a private mount namespace.
/// Dropping it kills it by PID and every process left in its mount
/// namespace (shims, conmon), by PID, and waits for them.
#[derive(Debug)]
pub struct Spawned {
    child: Child,
    /// The runtime's mount namespace, held open: a namespace's inode number
    /// is reused once the namespace is freed, and a scan for a freed one
    /// would find (and kill) the processes of whichever namespace got it
    /// next, e.g. another test's `ip netns exec`.
    mnt: Option<(u64, fs::File)>,
}

impl Spawned {
    /// Starts `cmd` (from [`Rig::private`]) with its output in `log`.
    pub fn start(mut cmd: Command, log: &Path) -> Self {
        let out = fs::File::create(log).expect("runtime log");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .spawn()
            .expect("spawn the runtime");
        Self { child, mnt: None }
    }

    /// nsenter, unshare and sh exec in place: the child's PID is the runtime's.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (at most `limit`, then kills it) for the runtime to exit.
    pub fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let mut status = None;
        poll(limit, || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        status.unwrap_or_else(|| {
            let _ = self.child.kill();
            panic!("the runtime ran longer than {limit:?}")
        })
    }

    /// Remembers the runtime's mount namespace once it runs in it.
    pub fn settle(&mut self, limit: Duration) {
        let own = mnt_ns(std::process::id());
        let pid = self.pid();
        let entered = poll(limit, || mnt_ns(pid).is_some_and(|m| Some(m) != own));
        assert!(entered, "the runtime never entered its mount namespace");
        let held =
            fs::File::open(format!("/proc/{pid}/ns/mnt")).expect("the runtime's mount namespace");
        let ino = held.metadata().expect("fstat of a namespace").ino();
        assert_eq!(mnt_ns(pid), Some(ino), "the runtime changed mount namespace again");
        self.mnt = Some((ino, held));
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The namespace stays held (`self.mnt`) through the scan.
        if let Some((ns, _held)) = &self.mnt {
            kill_mount_namespace(*ns);
        }
    }
}

/// The inode of `pid`'s mount namespace.
fn mnt_ns(pid: u32) -> Option<u64> {
    fs::metadata(format!("/proc/{pid}/ns/mnt")).ok().map(|m| m.ino())
}

/// Kills (SIGKILL, by PID) every process in mount namespace `ns`: what a
/// runtime started in the test's private namespace and left running. The
/// caller must hold `ns` open, so that its number cannot name another one.
pub fn kill_mount_namespace(ns: u64) {
    let pids: Vec<i32> = fs::read_dir("/proc")
        .map(|d| d.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default();
    for pid in pids {
        if u32::try_from(pid).ok().and_then(mnt_ns) == Some(ns) {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
        }
    }
}

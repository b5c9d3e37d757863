//! Throwaway namespaces, the daemon under `ip netns exec`, the plugin's ADD
//! run in-process inside the node namespace, and a tiny HTTP client.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use murmuration_core::netns::NetNs;
use serde_json::{Value, json};

pub const DAEMON: &str = env!("CARGO_BIN_EXE_murmurationd");
pub const CNI_BIN_DIR: &str = "/usr/lib/cni";

static COUNTER: AtomicUsize = AtomicUsize::new(0);
static NETNS_LOCK: Mutex<()> = Mutex::new(());

pub fn unique(tag: &str) -> String {
    format!("mmd-{}-{}-{tag}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

pub fn require_root() {
    use std::os::unix::fs::MetadataExt;
    let euid = std::fs::metadata("/proc/self").expect("stat").uid();
    assert_eq!(euid, 0, "privileged test without root; use cargo xtask test");
}

pub fn sh(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A namespace this test made; deleted on drop.
#[derive(Debug)]
pub struct Netns {
    pub name: String,
    live: bool,
}

impl Netns {
    pub fn new(tag: &str) -> Self {
        let name = unique(tag);
        let _t = NETNS_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        sh("ip", &["netns", "add", &name]);
        sh("ip", &["-n", &name, "link", "set", "lo", "up"]);
        Self { name, live: true }
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/var/run/netns/{}", self.name))
    }

    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        sh("ip", &all)
    }

    pub fn link_names(&self) -> Vec<String> {
        let v: Value = serde_json::from_str(&self.ip(&["-j", "link", "show"])).expect("ip -j");
        v.as_array()
            .expect("links")
            .iter()
            .map(|l| l["ifname"].as_str().expect("ifname").to_owned())
            .collect()
    }

    pub fn delete(&mut self) {
        let _t = NETNS_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        sh("ip", &["netns", "del", &self.name]);
        self.live = false;
    }

    /// Runs `f` on a thread inside this namespace.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        NetNs::open(&self.path()).expect("open netns").run(f).expect("enter netns")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if self.live {
            let _t = NETNS_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
        }
    }
}

/// A child process we started, killed by PID on drop.
#[derive(Debug)]
pub struct Proc {
    pub child: Child,
    pub what: &'static str,
}

impl Proc {
    /// `ip netns exec <ns> <cmd> <args>`: ip execs the command in place, so
    /// the child's PID is the command's.
    pub fn spawn_in(ns: &Netns, what: &'static str, cmd: &str, args: &[&str], log: &Path) -> Self {
        let log = std::fs::File::create(log).expect("log file");
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name, cmd])
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
        let proc = Self { child, what };
        proc.wait_until_in(ns);
        proc
    }

    /// `ip netns exec` forks into the namespace a moment after the spawn:
    /// until then `/proc/<pid>/ns/net` is the caller's namespace, and a
    /// test using that path would act on the wrong one.
    fn wait_until_in(&self, ns: &Netns) {
        let id = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
        let want = id(&ns.path()).expect("the namespace's bind mount");
        let own = PathBuf::from(format!("/proc/{}/ns/net", self.child.id()));
        wait_for(&format!("{} to enter {}", self.what, ns.name), Duration::from_secs(10), || {
            (id(&own)? == want).then_some(())
        });
    }

    pub fn stop(&mut self) {
        if self.alive() {
            eprintln!("stopping {} (pid {})", self.what, self.child.id());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A plain HTTP/1.0 GET; returns (status, body).
pub fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    let (head, body) = buf.split_once("\r\n\r\n").unwrap_or((&buf, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((status, body.to_owned()))
}

/// Polls `f` until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A node namespace with a plugin dataDir and a host-local IPAM dir.
#[derive(Debug)]
pub struct World {
    pub node: Netns,
    pub net: String,
    pub tmp: tempfile::TempDir,
}

impl World {
    pub fn new() -> Self {
        require_root();
        let tmp = tempfile::Builder::new().prefix("mmd-").tempdir().expect("tempdir");
        Self { node: Netns::new("node"), net: unique("net"), tmp }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    /// A veth pair: `node_if` with `<prefix>.2/24` in the node namespace,
    /// `peer_if` with `<prefix>.1/24` in `peer`, both up.
    pub fn veth_pair(&self, peer: &Netns, node_if: &str, peer_if: &str, prefix: &str) {
        let add = ["link", "add", node_if, "type", "veth", "peer", "name", peer_if, "netns"];
        let mut args = add.to_vec();
        args.push(&peer.name);
        self.node.ip(&args);
        self.node.ip(&["addr", "add", &format!("{prefix}.2/24"), "dev", node_if]);
        self.node.ip(&["link", "set", node_if, "up"]);
        peer.ip(&["addr", "add", &format!("{prefix}.1/24"), "dev", peer_if]);
        peer.ip(&["link", "set", peer_if, "up"]);
    }

    /// The daemon's `[ptp_state] file` (never the node's default path).
    pub fn ptp_state_file(&self) -> PathBuf {
        self.tmp.path().join("ptp-state.json")
    }

    pub fn ipam_dir(&self) -> PathBuf {
        self.tmp.path().join("ipam")
    }

    pub fn conf(&self, subnet: &str) -> Value {
        json!({
            "cniVersion": "1.1.0", "name": self.net, "type": "murmuration",
            "dataDir": self.data_dir(),
            "ipam": {"type": "host-local", "dataDir": self.ipam_dir(), "ranges": [[{"subnet": subnet}]]}
        })
    }

    /// The plugin's ADD, through the core's entry point, inside the node namespace.
    pub fn add(&self, pod: &Netns, cid: &str, conf: &Value, pod_name: &str) -> Value {
        self.add_at(&pod.path(), cid, conf, pod_name)
    }

    /// ADD with `CNI_NETNS` = `netns` (e.g. `/proc/<pid>/ns/net`, as some runtimes pass it).
    pub fn add_at(&self, netns: &Path, cid: &str, conf: &Value, pod_name: &str) -> Value {
        self.add_as(netns, cid, conf, pod_name, "eth0")
    }

    /// ADD with every name chosen: pod name (in `CNI_ARGS`) and `CNI_IFNAME`.
    pub fn add_as(
        &self,
        netns: &Path,
        cid: &str,
        conf: &Value,
        pod_name: &str,
        ifname: &str,
    ) -> Value {
        let (ok, v) = self.verb("ADD", netns, cid, conf, pod_name, ifname);
        assert!(ok, "ADD failed: {v}");
        v
    }

    /// Any verb, through the core's entry point, inside the node namespace:
    /// (succeeded, the JSON it printed; `null` for an empty answer).
    pub fn verb(
        &self,
        command: &str,
        netns: &Path,
        cid: &str,
        conf: &Value,
        pod_name: &str,
        ifname: &str,
    ) -> (bool, Value) {
        let vars: HashMap<String, String> = [
            ("CNI_COMMAND", command.to_owned()),
            ("CNI_CONTAINERID", cid.to_owned()),
            ("CNI_NETNS", netns.display().to_string()),
            ("CNI_IFNAME", ifname.to_owned()),
            ("CNI_PATH", CNI_BIN_DIR.to_owned()),
            (
                "CNI_ARGS",
                format!("IgnoreUnknown=1;K8S_POD_NAMESPACE=testns;K8S_POD_NAME={pod_name}"),
            ),
            ("PATH", "/usr/sbin:/usr/bin:/sbin:/bin".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let stdin = serde_json::to_vec(conf).expect("json");
        let out = self.node.run(move || {
            let mut out = Vec::new();
            let code = murmuration_core::plugin::run(&vars, &mut stdin.as_slice(), &mut out);
            (code, out)
        });
        let v: Value = if out.1.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&out.1).expect("JSON")
        };
        (out.0 == std::process::ExitCode::SUCCESS, v)
    }

    /// Writes a daemon config and starts the daemon in the node namespace.
    pub fn daemon(&self, port: u16, extra: &str) -> Proc {
        self.daemon_with(port, extra, &[])
    }

    /// The daemon in a PID namespace (and `/proc`) of its own, as in a
    /// DaemonSet without `hostPID`: `/proc/<pid>` of the test's processes
    /// does not exist there.
    pub fn daemon_in_own_pid_ns(&self, port: u16, extra: &str) -> Proc {
        self.daemon_with(
            port,
            extra,
            &["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"],
        )
    }

    /// `wrapper` (a command that execs or forks its arguments) runs the daemon.
    fn daemon_with(&self, port: u16, extra: &str, wrapper: &[&str]) -> Proc {
        self.daemon_http(port, "", extra, wrapper)
    }

    /// The daemon with `http` lines added to its `[http]` section.
    pub fn daemon_http(&self, port: u16, http: &str, extra: &str, wrapper: &[&str]) -> Proc {
        let cfg = self.tmp.path().join("murmurationd.toml");
        let text = format!(
            "[log]\nlevel = \"debug\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n{http}\n[state]\n\
             data_dir = \"{}\"\ncni_path = [\"{CNI_BIN_DIR}\"]\n[ptp_state]\nfile = \"{}\"\n{extra}",
            self.data_dir().display(),
            self.ptp_state_file().display()
        );
        std::fs::write(&cfg, text).expect("write config");
        let cfg_s = cfg.display().to_string();
        let mut argv: Vec<&str> = wrapper.to_vec();
        argv.extend([DAEMON, "--config", &cfg_s]);
        let mut p = Proc::spawn_in(
            &self.node,
            "murmurationd",
            argv[0],
            &argv[1..],
            &self.tmp.path().join("murmurationd.log"),
        );
        let addr = format!("127.0.0.1:{port}");
        wait_for("the daemon's /healthz", Duration::from_secs(10), || {
            assert!(p.alive(), "daemon exited: {}", self.daemon_log());
            self.node.run(|| http_get(&addr, "/healthz")).ok().filter(|r| r.0 == 200)
        });
        p
    }

    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.tmp.path().join("murmurationd.log")).unwrap_or_default()
    }

    /// GET from inside the node namespace.
    pub fn get(&self, addr: &str, path: &str) -> (u16, String) {
        self.node.run(|| http_get(addr, path)).unwrap_or_else(|e| panic!("GET {addr}{path}: {e}"))
    }
}

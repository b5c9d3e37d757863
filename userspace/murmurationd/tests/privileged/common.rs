//! Throwaway namespaces, the daemon under `ip netns exec`, the plugin's ADD
//! run in-process inside the node namespace, and a tiny HTTP client.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub use murmuration_testkit::http::http_get;
pub use murmuration_testkit::netns::{Netns, unique};
pub use murmuration_testkit::process::Process as Proc;
pub use murmuration_testkit::wait_for;
use serde_json::{Value, json};

pub const DAEMON: &str = env!("CARGO_BIN_EXE_murmurationd");
pub const CNI_BIN_DIR: &str = "/usr/lib/cni";

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

/// A child process started by [`Proc::spawn_in`](Process::spawn_in) in `ns`,
/// returned once it is in that namespace.
pub fn spawn_in(ns: &Netns, what: &str, cmd: &str, args: &[&str], log: &Path) -> Proc {
    let proc = Proc::spawn_in(ns.name(), what, cmd, args, log);
    proc.wait_until_in(Path::new(&ns.path()));
    proc
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
        Self { node: Netns::with_lo_up("node"), net: unique("net"), tmp }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    /// A veth pair: `node_if` with `<prefix>.2/24` in the node namespace,
    /// `peer_if` with `<prefix>.1/24` in `peer`, both up.
    pub fn veth_pair(&self, peer: &Netns, node_if: &str, peer_if: &str, prefix: &str) {
        self.node.add_veth_to(node_if, peer, peer_if);
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
    pub fn add_at(
        &self,
        netns: &(impl AsRef<Path> + ?Sized),
        cid: &str,
        conf: &Value,
        pod_name: &str,
    ) -> Value {
        self.add_as(netns, cid, conf, pod_name, "eth0")
    }

    /// ADD with every name chosen: pod name (in `CNI_ARGS`) and `CNI_IFNAME`.
    pub fn add_as(
        &self,
        netns: &(impl AsRef<Path> + ?Sized),
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
        netns: &(impl AsRef<Path> + ?Sized),
        cid: &str,
        conf: &Value,
        pod_name: &str,
        ifname: &str,
    ) -> (bool, Value) {
        let vars: HashMap<String, String> = [
            ("CNI_COMMAND", command.to_owned()),
            ("CNI_CONTAINERID", cid.to_owned()),
            ("CNI_NETNS", netns.as_ref().display().to_string()),
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
        let mut p = spawn_in(
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

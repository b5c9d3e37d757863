//! The test world: a private "node" namespace the plugin runs in, pod
//! namespaces, a temporary `dataDir` and host-local lease directory, and the
//! helpers that run the plugin the way a runtime does and inspect what it left.

pub mod audit;
pub use murmuration_testkit::netns;

use std::fs;
use std::io::{Read, Write};
use std::net::IpAddr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use netns::{Netns, global_addresses};

pub const PLUGIN: &str = env!("CARGO_BIN_EXE_murmuration");
/// Debian's reference plugins (host-local, static).
pub const CNI_BIN_DIR: &str = "/usr/lib/cni";
/// How long one plugin invocation may take before the test fails.
const PLUGIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `cmd` with `stdin` on its standard input; its output (bounded by
/// the plugin timeout: the child is killed by PID after it).
pub fn output_with_stdin(cmd: &mut Command, stdin: &[u8]) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(stdin).expect("write stdin");
    let readers = [child.stdout.take().map(drain), child.stderr.take().map(drain)];
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > PLUGIN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            // Our own child: `ip netns exec` execs the plugin in place.
            panic!("{cmd:?} hung for {PLUGIN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let [stdout, stderr] =
        readers.map(|r| r.expect("pipe").join().expect("reader thread").unwrap_or_default());
    std::process::Output { status, stdout, stderr }
}

/// Fails loudly unless we can create namespaces and the reference IPAM is installed.
pub fn require_root() {
    let euid = fs::metadata("/proc/self").expect("stat /proc/self").uid();
    assert_eq!(euid, 0, "privileged test run without root (euid {euid}); use cargo xtask test");
    for ipam in ["host-local", "static"] {
        let bin = Path::new(CNI_BIN_DIR).join(ipam);
        assert!(
            bin.is_file(),
            "{} missing: apt-get install containernetworking-plugins",
            bin.display()
        );
    }
}

/// The veth host-end name the plugin derives: `mm` + 13 hex of SHA-256(cid, NUL, ifname).
pub fn host_ifname(container_id: &str, ifname: &str) -> String {
    let mut h = Sha256::new();
    h.update(container_id.as_bytes());
    h.update([0]);
    h.update(ifname.as_bytes());
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("mm{}", &hex[..13])
}

/// The plugin's environment, built up like a runtime would.
#[derive(Debug, Clone, Default)]
pub struct Env(Vec<(String, String)>);

impl Env {
    pub fn new(command: &str) -> Self {
        Self::default().set("CNI_COMMAND", command).set("CNI_PATH", CNI_BIN_DIR)
    }

    /// ADD/DEL/CHECK for one attachment; `netns` None leaves `CNI_NETNS` empty.
    pub fn attachment(command: &str, netns: Option<&Netns>, cid: &str, ifname: &str) -> Self {
        Self::new(command)
            .set("CNI_CONTAINERID", cid)
            .set("CNI_IFNAME", ifname)
            .set("CNI_NETNS", &netns.map(Netns::path).unwrap_or_default())
            .set("CNI_ARGS", "")
    }

    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.0.retain(|(k, _)| k != key);
        self.0.push((key.to_owned(), value.to_owned()));
        self
    }

    /// The variables, for a command of the test's own.
    pub fn vars(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn unset(mut self, key: &str) -> Self {
        self.0.retain(|(k, _)| k != key);
        self
    }
}

/// What one plugin invocation produced.
#[derive(Debug)]
pub struct Outcome {
    pub success: bool,
    /// The signal that killed the plugin, if one did.
    pub signal: Option<i32>,
    /// The exit status, if the plugin exited.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    fn describe(&self) -> String {
        format!(
            "exit: {}\nstdout: {}\nstderr: {}",
            self.signal
                .map_or_else(|| format!("status {:?}", self.code), |s| format!("signal {s}")),
            self.stdout,
            self.stderr
        )
    }

    /// The success document (ADD's result, VERSION's answer).
    pub fn result(&self) -> Value {
        assert!(self.success, "plugin failed\n{}", self.describe());
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("stdout is not one JSON document ({e})\n{}", self.describe())
        })
    }

    /// Success with nothing on stdout (DEL, CHECK, STATUS, GC).
    pub fn ok(&self) {
        assert!(self.success, "plugin failed\n{}", self.describe());
        assert_eq!(self.stdout.trim(), "", "verb must print nothing on success");
    }

    /// The error object, checked for the spec's shape.
    pub fn error(&self) -> Value {
        assert!(!self.success, "plugin succeeded where it must fail\n{}", self.describe());
        let e: Value = serde_json::from_str(&self.stdout)
            .unwrap_or_else(|_| panic!("error is not JSON\n{}", self.describe()));
        assert!(e["cniVersion"].is_string(), "error lacks cniVersion: {e}");
        assert!(e["code"].is_u64(), "error lacks a numeric code: {e}");
        assert!(e["msg"].as_str().is_some_and(|m| !m.is_empty()), "error lacks msg: {e}");
        e
    }

    pub fn code(&self) -> u64 {
        self.error()["code"].as_u64().expect("code")
    }
}

/// A host-local lease: (network, address, file content).
pub type Lease = (String, IpAddr, String);

/// One test's private node namespace and directories.
#[derive(Debug)]
pub struct World {
    pub node: Netns,
    /// The network `name` of [`World::conf`].
    pub net: String,
    tmp: tempfile::TempDir,
}

impl World {
    pub fn new() -> Self {
        require_root();
        let tmp = tempfile::Builder::new().prefix("mmt-").tempdir().expect("tempdir");
        Self { node: Netns::new("node"), net: netns::unique("net"), tmp }
    }

    pub fn tmp(&self) -> &Path {
        self.tmp.path()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.tmp().join("data")
    }

    pub fn ipam_dir(&self) -> PathBuf {
        self.tmp().join("ipam")
    }

    pub fn pod(&self) -> Netns {
        Netns::new("pod")
    }

    /// A dual-stack host-local network config with default routes.
    pub fn conf(&self, version: &str) -> Value {
        json!({
            "cniVersion": version,
            "name": self.net,
            "type": "murmuration",
            "dataDir": self.data_dir(),
            "ipam": {
                "type": "host-local",
                "dataDir": self.ipam_dir(),
                "ranges": [
                    [{"subnet": "10.77.0.0/24", "gateway": "10.77.0.1"}],
                    [{"subnet": "fd00:77::/64", "gateway": "fd00:77::1"}]
                ],
                "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]
            }
        })
    }

    /// Runs the plugin inside the node namespace with exactly `env` and `stdin`.
    pub fn exec(&self, env: &Env, stdin: &[u8]) -> Outcome {
        self.exec_binary(Path::new(PLUGIN), env, stdin)
    }

    /// Runs `binary` (e.g. a reference plugin of a chain) like [`World::exec`].
    pub fn exec_binary(&self, binary: &Path, env: &Env, stdin: &[u8]) -> Outcome {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", self.node.name()])
            .arg(binary)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .envs(env.vars());
        let out = output_with_stdin(&mut cmd, stdin);
        let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
        Outcome {
            success: out.status.success(),
            code: out.status.code(),
            signal: std::os::unix::process::ExitStatusExt::signal(&out.status),
            stdout: text(out.stdout),
            stderr: text(out.stderr),
        }
    }

    pub fn run(&self, env: &Env, conf: &Value) -> Outcome {
        self.exec(env, &serde_json::to_vec(conf).expect("config JSON"))
    }

    pub fn add(&self, pod: &Netns, cid: &str, ifname: &str, conf: &Value) -> Outcome {
        self.run(&Env::attachment("ADD", Some(pod), cid, ifname), conf)
    }

    pub fn check(&self, pod: &Netns, cid: &str, ifname: &str, conf: &Value) -> Outcome {
        self.run(&Env::attachment("CHECK", Some(pod), cid, ifname), conf)
    }

    pub fn del(&self, pod: Option<&Netns>, cid: &str, ifname: &str, conf: &Value) -> Outcome {
        self.run(&Env::attachment("DEL", pod, cid, ifname), conf)
    }

    /// GC as libcni sends it: only `CNI_COMMAND` and `CNI_PATH`.
    pub fn gc(&self, conf: &Value) -> Outcome {
        self.run(&Env::new("GC"), conf)
    }

    pub fn record_path(&self, cid: &str, ifname: &str) -> PathBuf {
        self.data_dir().join("attachments").join(format!("{cid}@{ifname}.json"))
    }

    pub fn record(&self, cid: &str, ifname: &str) -> Value {
        let bytes = fs::read(self.record_path(cid, ifname)).expect("attachment record");
        serde_json::from_slice(&bytes).expect("record is JSON")
    }

    /// File names under `<dataDir>/attachments` (none when it does not exist).
    pub fn attachments(&self) -> Vec<String> {
        list_dir(&self.data_dir().join("attachments"))
    }

    /// Every host-local lease under the IPAM dataDir, of every network.
    pub fn leases(&self) -> Vec<Lease> {
        let mut out = Vec::new();
        for net in list_dir(&self.ipam_dir()) {
            for file in list_dir(&self.ipam_dir().join(&net)) {
                if let Ok(ip) = file.parse::<IpAddr>() {
                    let owner = fs::read_to_string(self.ipam_dir().join(&net).join(&file))
                        .expect("read lease");
                    out.push((net.clone(), ip, owner));
                }
            }
        }
        out.sort();
        out
    }

    /// Leased addresses of network `net`, as strings.
    pub fn leased_ips(&self, net: &str) -> Vec<String> {
        self.leases().into_iter().filter(|l| l.0 == net).map(|l| l.1.to_string()).collect()
    }

    /// Nothing of ours is left: links or addresses in the node and pod
    /// namespaces, attachment records, host-local leases.
    pub fn assert_clean(&self, pods: &[&Netns]) {
        self.node.assert_empty("node");
        for pod in pods {
            pod.assert_empty("pod");
        }
        assert_eq!(self.attachments(), Vec::<String>::new(), "attachment records left");
        assert_eq!(self.leases(), Vec::<Lease>::new(), "IPAM leases left");
    }

    /// Installs a fake IPAM plugin named `fake-ipam` that speaks up to 1.1.0,
    /// answers ADD with `result` and logs every verb to [`World::fake_ipam_log`].
    /// Returns the `CNI_PATH` to use.
    pub fn fake_ipam(&self, result: &Value) -> String {
        let dir = self.tmp().join("bin");
        fs::create_dir_all(&dir).expect("bin dir");
        let script = format!(
            "#!/bin/sh\n/bin/cat >/dev/null\n\
             echo \"$CNI_COMMAND $CNI_CONTAINERID $CNI_IFNAME\" >> '{log}'\n\
             case \"$CNI_COMMAND\" in\n\
             VERSION) echo '{{\"cniVersion\":\"1.1.0\",\"supportedVersions\":[\"0.4.0\",\"1.0.0\",\"1.1.0\"]}}' ;;\n\
             ADD) echo '{result}' ;;\n\
             esac\n",
            log = self.fake_ipam_log_path().display(),
        );
        let bin = dir.join("fake-ipam");
        fs::write(&bin, script).expect("write fake IPAM");
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).expect("chmod");
        format!("{}:{CNI_BIN_DIR}", dir.display())
    }

    fn fake_ipam_log_path(&self) -> PathBuf {
        self.tmp().join("fake-ipam.log")
    }

    /// The verbs the fake IPAM received, as `"<VERB> <cid> <ifname>"` lines.
    pub fn fake_ipam_log(&self) -> Vec<String> {
        fs::read_to_string(self.fake_ipam_log_path())
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim().to_owned())
            .collect()
    }
}

/// Asserts `ifname` is in `pod`, up, with `mac` and `mtu` when given and exactly
/// `addrs` as its global addresses. Returns its `ip -j addr` entry.
pub fn assert_pod_link(
    pod: &Netns,
    ifname: &str,
    mac: Option<&str>,
    mtu: Option<u64>,
    addrs: &[&str],
) -> Value {
    let link = pod.link(ifname).unwrap_or_else(|| panic!("{ifname} missing from the pod"));
    assert!(flags(&link).contains(&"UP"), "{ifname} is not up: {link}");
    if let Some(mac) = mac {
        assert_eq!(link["address"], mac, "{ifname} MAC");
    }
    if let Some(mtu) = mtu {
        assert_eq!(link["mtu"], mtu, "{ifname} MTU");
    }
    let mut want: Vec<String> = addrs.iter().map(|a| (*a).to_owned()).collect();
    want.sort();
    assert_eq!(global_addresses(&link), want, "{ifname} addresses");
    link
}

/// The link's flags (`UP`, `LOWER_UP`, ...).
pub fn flags(link: &Value) -> Vec<&str> {
    link["flags"]
        .as_array()
        .map(|f| f.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

impl World {
    /// Asserts the host end of (cid, ifname) is in the node namespace, up, and
    /// the veth peer of `pod_link`. Returns its `ip -j addr` entry.
    pub fn assert_host_end(&self, cid: &str, ifname: &str, pod_link: &Value) -> Value {
        let name = host_ifname(cid, ifname);
        let host = self.node.link(&name).unwrap_or_else(|| {
            panic!("host end {name} missing; node has {:?}", self.node.link_names())
        });
        assert!(flags(&host).contains(&"UP"), "host end is not up: {host}");
        assert_eq!(host["link_index"], pod_link["ifindex"], "host end is not the pod link's peer");
        assert_eq!(host["mtu"], pod_link["mtu"], "both ends share the MTU");
        host
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Option<Vec<u8>>> {
    std::thread::spawn(move || {
        let mut s = Vec::new();
        pipe.read_to_end(&mut s).ok().map(|_| s)
    })
}

fn list_dir(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match fs::read_dir(dir) {
        Ok(entries) => {
            entries.map(|e| e.expect("dir entry").file_name().to_string_lossy().into()).collect()
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("cannot list {}: {e}", dir.display()),
    };
    names.sort();
    names
}

//! The leak audit of the plugin tests: [`murmuration_testkit::audit`] over
//! the World's node namespace, dataDir and lease directory, plus the entries
//! of every uplink's fast-path maps under the pin root (read through the
//! core's datapath module), and the node daemon as a process of our own.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use murmuration_testkit::audit::Scope;
pub use murmuration_testkit::audit::{MAP_ENTRIES, Snapshot, Usage};

use murmuration_core::datapath::Maps;
use murmuration_core::netns::NetNs;

use super::{CNI_BIN_DIR, PLUGIN, World};

/// What to audit besides the World's own directories.
#[derive(Debug, Clone, Default)]
pub struct Extra<'a> {
    /// The bpffs pin root of the fast path.
    pub pin_root: Option<PathBuf>,
    /// The test's own links in the node namespace (the uplink).
    pub own_links: &'a [&'a str],
    /// The node daemon's PID.
    pub daemon: Option<u32>,
}

impl World {
    /// Everything of the node an attachment can leave behind, right now.
    pub fn snapshot(&self, extra: &Extra<'_>) -> Snapshot {
        let data_dir = self.data_dir();
        let lease_dir = self.ipam_dir();
        let scope = Scope {
            netns: self.node.name(),
            own_links: extra.own_links,
            data_dir: &data_dir,
            lease_dir: Some(&lease_dir),
            pin_root: extra.pin_root.as_deref(),
            process: extra.daemon,
        };
        let maps = extra.pin_root.as_deref().map(map_entries).unwrap_or_default();
        Snapshot::take(&scope).with(MAP_ENTRIES, maps)
    }
}

/// Every entry of the per-attachment maps of every uplink under `pin_root`,
/// as `<uplink> <MAP> <key>`.
pub fn map_entries(pin_root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(dirs) = std::fs::read_dir(pin_root) else { return out };
    for dir in dirs.flatten().map(|d| d.path()).filter(|p| p.is_dir()) {
        let uplink = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let Ok(maps) = Maps::open(&dir) else {
            // A directory without its maps: the pins audit reports it.
            continue;
        };
        let mut add = |map: &str, key: String| out.push(format!("{uplink} {map} {key}"));
        maps.pods.keys().flatten().for_each(|k| add("POD_CFG", k.to_string()));
        maps.attach.keys().flatten().for_each(|k| {
            add("ATTACH", format!("vlan {} mac {:02x?}", k.vlan_id, k.mac));
        });
        maps.vlans.keys().flatten().for_each(|k| add("VLAN_MEMBERS", k.to_string()));
        maps.devs.keys().flatten().for_each(|k| add("PORT_DEVS", k.to_string()));
    }
    out
}

/// Polls `done` every 50 ms until it holds (true) or `limit` has passed (false).
pub fn poll(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The node daemon built next to the plugin (`cargo test --workspace` builds
/// both; a `-p murmuration-cni` run needs `cargo build -p murmurationd` first).
pub fn daemon_binary() -> PathBuf {
    let bin = Path::new(PLUGIN).with_file_name("murmurationd");
    assert!(
        bin.is_file(),
        "{} missing: run the privileged tests with `cargo test --workspace` \
         (or `cargo build -p murmurationd` first)",
        bin.display()
    );
    bin
}

/// `murmurationd` running in the World's node namespace against its
/// dataDir; killed (by PID) on drop.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Starts the daemon with cleanup grace `grace` and a short resync, and
    /// waits until it listens on `port` (loopback of the node, which this
    /// brings up: take an audit baseline after [`Daemon::loopback`]).
    pub fn start(w: &World, port: u16, grace: Duration) -> Self {
        Self::loopback(w);
        let dir = w.tmp().join("daemon");
        std::fs::create_dir_all(&dir).expect("daemon dir");
        let cfg = dir.join("murmurationd.toml");
        let text = format!(
            "[http]\nlisten = \"127.0.0.1:{port}\"\n[state]\ndata_dir = \"{}\"\n\
             cni_path = [\"{CNI_BIN_DIR}\"]\n[inventory]\nresync_seconds = 0.5\n\
             [cleanup]\ngrace_period_seconds = {}\n",
            w.data_dir().display(),
            grace.as_secs_f64()
        );
        std::fs::write(&cfg, text).expect("daemon config");
        let log = dir.join("murmurationd.log");
        let out = std::fs::File::create(&log).expect("daemon log");
        let child = Command::new("ip")
            .args(["netns", "exec", w.node.name()])
            .arg(daemon_binary())
            .arg("--config")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .spawn()
            .expect("spawn murmurationd");
        let d = Self { child, log };
        let node = NetNs::open(Path::new(&w.node.path())).expect("open the node namespace");
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        d.wait("the daemon to listen", Duration::from_secs(20), || {
            node.run(|| std::net::TcpStream::connect(addr).is_ok()).unwrap_or(false)
        });
        d
    }

    /// Brings up the node's loopback, where the daemon listens.
    pub fn loopback(w: &World) {
        w.node.ip(&["link", "set", "lo", "up"]);
    }

    /// `ip netns exec` execs the daemon in place: the child's PID is the daemon's.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `done` until it holds; fails after `limit` with the daemon's log.
    pub fn wait(&self, what: &str, limit: Duration, done: impl FnMut() -> bool) {
        assert!(poll(limit, done), "timed out waiting for {what}\n{}", self.log());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! Network namespaces the tests create (uniquely named), inspected with
//! `ip -j`, entered by a thread, deleted on drop.

use std::fs::File;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use serde_json::Value;

use crate::sys;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// `ip netns add` sets up the `/var/run/netns` bind mount on first use; running
/// several at once can race that setup, so additions and deletions take turns.
static NETNS_LOCK: Mutex<()> = Mutex::new(());

/// A name no other test, and no other test process, uses: `mmt-<pid>-<n>-<tag>`.
pub fn unique(tag: &str) -> String {
    format!("mmt-{}-{}-{tag}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Runs `ip` with `args` and returns its stdout; panics with stderr on failure.
pub fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("cannot run ip(8)");
    assert!(
        out.status.success(),
        "ip {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("ip output is UTF-8")
}

/// Runs `f` on a thread that entered the network namespace at `path`
/// (sockets opened there stay in it).
pub fn run_in<T: Send>(path: &Path, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            let file =
                File::open(path).unwrap_or_else(|e| panic!("open netns {}: {e}", path.display()));
            sys::setns_net(&file).unwrap_or_else(|e| panic!("setns {}: {e}", path.display()));
            f()
        })
        .join()
        .expect("netns thread panicked")
    })
}

/// A network namespace this test made. Dropping it deletes it (and with it
/// every link inside, including veth pairs with one end in it).
#[derive(Debug)]
pub struct Netns {
    name: String,
    live: bool,
}

impl Netns {
    pub fn new(tag: &str) -> Self {
        let name = unique(tag);
        let _turn = NETNS_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        ip(&["netns", "add", &name]);
        Self { name, live: true }
    }

    /// A new namespace with its loopback link up.
    pub fn with_lo_up(tag: &str) -> Self {
        let ns = Self::new(tag);
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// What a runtime passes as `CNI_NETNS`.
    pub fn path(&self) -> String {
        format!("/var/run/netns/{}", self.name)
    }

    /// Whether the namespace still exists (not [`Netns::delete`]d).
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// Deletes the namespace now (as a runtime does when the pod is gone).
    pub fn delete(&mut self) {
        let _turn = NETNS_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        ip(&["netns", "del", &self.name]);
        self.live = false;
    }

    /// Runs `f` on a thread inside this namespace.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        run_in(Path::new(&self.path()), f)
    }

    /// `ip -n <ns> <args>`.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// `ip -n <ns> -j <args>`, parsed.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["-j"];
        all.extend_from_slice(args);
        let text = self.ip(&all);
        if text.trim().is_empty() {
            return Value::Array(Vec::new());
        }
        serde_json::from_str(&text).expect("ip -j prints JSON")
    }

    /// Every link with its addresses (`ip -j addr show`).
    pub fn links(&self) -> Vec<Value> {
        match self.json(&["addr", "show"]) {
            Value::Array(links) => links,
            other => panic!("unexpected ip -j addr output {other}"),
        }
    }

    pub fn link_names(&self) -> Vec<String> {
        self.links().iter().map(|l| l["ifname"].as_str().expect("ifname").to_owned()).collect()
    }

    pub fn link(&self, name: &str) -> Option<Value> {
        self.links().into_iter().find(|l| l["ifname"] == name)
    }

    /// Routes of the main table; `family` is `-4` or `-6`.
    pub fn routes(&self, family: &str) -> Vec<Value> {
        match self.json(&[family, "route", "show"]) {
            Value::Array(routes) => routes,
            other => panic!("unexpected ip -j route output {other}"),
        }
    }

    /// Makes a veth pair inside this namespace (the kernel has no dummy links).
    pub fn add_veth(&self, name: &str, peer: &str) {
        self.ip(&["link", "add", "name", name, "type", "veth", "peer", "name", peer]);
    }

    /// Makes a veth pair: `name` in this namespace, `peer_name` in `peer`.
    pub fn add_veth_to(&self, name: &str, peer: &Netns, peer_name: &str) {
        let args = ["link", "add", name, "type", "veth", "peer", "name", peer_name, "netns"];
        let mut all = args.to_vec();
        all.push(peer.name());
        self.ip(&all);
    }

    /// Asserts the namespace holds only its loopback link, and that without addresses.
    pub fn assert_empty(&self, what: &str) {
        let links = self.links();
        let names: Vec<&str> = links.iter().filter_map(|l| l["ifname"].as_str()).collect();
        assert_eq!(names, ["lo"], "{what} namespace {} still has links", self.name);
        assert_eq!(
            links[0]["addr_info"].as_array().map(Vec::len),
            Some(0),
            "{what} namespace {} has addresses left: {}",
            self.name,
            links[0]
        );
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if self.live {
            let _turn = NETNS_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
            // Never panic in drop: a failing test is already unwinding.
            let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
        }
    }
}

/// Addresses of a link as `addr/prefix` strings, with their `ip -j` entries.
pub fn addresses(link: &Value) -> Vec<(String, Value)> {
    link["addr_info"]
        .as_array()
        .map(|infos| {
            infos
                .iter()
                .map(|a| {
                    let local = a["local"].as_str().expect("local address");
                    (format!("{local}/{}", a["prefixlen"]), a.clone())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Global (non link-local) addresses of a link.
pub fn global_addresses(link: &Value) -> Vec<String> {
    let mut out: Vec<String> = addresses(link)
        .into_iter()
        .filter(|(_, a)| a["scope"] == "global")
        .map(|(s, _)| s)
        .collect();
    out.sort();
    out
}

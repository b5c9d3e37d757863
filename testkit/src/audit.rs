//! The leak audit: everything of a node that an attachment can leave behind,
//! taken as a [`Snapshot`] before a test and after it, and compared.
//!
//! A snapshot holds, per kind, a set of one-line descriptions: links of the
//! node namespace, their addresses, routes (every table), attachment
//! records and lock files under `dataDir`, host-local leases, pins under the
//! bpffs pin root, and whatever the caller adds with [`Snapshot::with`]
//! (fast-path map entries: reading them needs the core's datapath module,
//! which this crate does not depend on). A process (the node daemon) is
//! measured separately ([`Usage`]): its fd count and RSS are compared with
//! bounds, not for equality of contents.
//!
//! Usage:
//! ```ignore
//! let before = Snapshot::take(&scope);
//! // ... ADDs, DELs, crashes, GC ...
//! Snapshot::take(&scope).with(MAP_ENTRIES, entries).assert_nothing_left(&before);
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

pub const LINKS: &str = "links";
pub const ADDRESSES: &str = "addresses";
pub const ROUTES: &str = "routes";
pub const RECORDS: &str = "records";
pub const LOCKS: &str = "locks";
pub const LEASES: &str = "leases";
pub const PINS: &str = "pins";
/// Fast-path map entries (POD_CFG, ATTACH, VLAN_MEMBERS, PORT_DEVS), from the caller.
pub const MAP_ENTRIES: &str = "map entries";

/// What to look at.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    /// The node namespace (a name under /var/run/netns).
    pub netns: &'a str,
    /// Links that are the test's own (besides `lo`): the uplink, a wire end.
    pub own_links: &'a [&'a str],
    /// The plugin's `dataDir`.
    pub data_dir: &'a Path,
    /// The host-local `dataDir` (one directory per network, one file per lease).
    pub lease_dir: Option<&'a Path>,
    /// The bpffs pin root (`bpfPinRoot`).
    pub pin_root: Option<&'a Path>,
    /// A process to measure (the node daemon).
    pub process: Option<u32>,
}

/// A process's resource use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub fds: usize,
    pub rss_kib: u64,
}

impl Usage {
    /// Reads `/proc/<pid>/fd` and `VmRSS` of `/proc/<pid>/status`.
    pub fn of(pid: u32) -> io::Result<Self> {
        let fds = fs::read_dir(format!("/proc/{pid}/fd"))?.count();
        let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
        let rss_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| io::Error::other(format!("no VmRSS for {pid}")))?;
        Ok(Self { fds, rss_kib })
    }
}

/// What was there at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    items: BTreeMap<&'static str, BTreeSet<String>>,
    /// The measured process, if the scope named one.
    pub process: Option<Usage>,
}

impl Snapshot {
    /// Looks at everything `scope` names. Panics when something cannot be
    /// read (a test helper: an audit that silently saw nothing would pass).
    pub fn take(scope: &Scope<'_>) -> Self {
        let mut s = Self::default();
        let links = ip_json(scope.netns, &["addr", "show"]);
        s.items.insert(LINKS, link_names(&links, scope.own_links));
        s.items.insert(ADDRESSES, addresses(&links));
        s.items.insert(ROUTES, routes(scope.netns));
        s.items.insert(RECORDS, files(&scope.data_dir.join("attachments")));
        s.items.insert(LOCKS, files(&scope.data_dir.join("locks")));
        s.items.insert(LEASES, scope.lease_dir.map(leases).unwrap_or_default());
        s.items.insert(PINS, scope.pin_root.map(|r| tree(r, r)).unwrap_or_default());
        s.process = scope.process.map(|pid| {
            Usage::of(pid).unwrap_or_else(|e| panic!("cannot measure process {pid}: {e}"))
        });
        s
    }

    /// Adds items the caller collected (e.g. [`MAP_ENTRIES`]).
    #[must_use]
    pub fn with(mut self, kind: &'static str, items: impl IntoIterator<Item = String>) -> Self {
        self.items.entry(kind).or_default().extend(items);
        self
    }

    /// The items of one kind.
    pub fn get(&self, kind: &str) -> BTreeSet<String> {
        self.items.get(kind).cloned().unwrap_or_default()
    }

    /// What is here and was not in `baseline`, per kind (kinds with nothing new omitted).
    pub fn leftovers(&self, baseline: &Self) -> BTreeMap<&'static str, Vec<String>> {
        self.items
            .iter()
            .filter_map(|(kind, now)| {
                let before = baseline.items.get(kind);
                let new: Vec<String> = now
                    .iter()
                    .filter(|i| before.is_none_or(|b| !b.contains(*i)))
                    .cloned()
                    .collect();
                (!new.is_empty()).then_some((*kind, new))
            })
            .collect()
    }

    /// Panics with a full list when anything beyond `baseline` is left.
    pub fn assert_nothing_left(&self, baseline: &Self) {
        let left = self.leftovers(baseline);
        assert!(left.is_empty(), "left behind beyond the baseline:\n{}", render(&left));
    }

    /// One line per kind and item count, for a test's report.
    pub fn summary(&self) -> String {
        let counts: Vec<String> =
            self.items.iter().map(|(k, v)| format!("{k}: {}", v.len())).collect();
        let process = self
            .process
            .map(|u| format!("; process: {} fds, {} KiB RSS", u.fds, u.rss_kib))
            .unwrap_or_default();
        format!("{}{process}", counts.join(", "))
    }
}

fn render(left: &BTreeMap<&'static str, Vec<String>>) -> String {
    left.iter().map(|(k, v)| format!("  {k}: {}", v.join(", "))).collect::<Vec<_>>().join("\n")
}

/// `ip -n <ns> -j <args>`, parsed (an empty answer is an empty list).
fn ip_json(netns: &str, args: &[&str]) -> Vec<Value> {
    let out = Command::new("ip")
        .args(["-n", netns, "-j"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ip: {e}"));
    assert!(
        out.status.success(),
        "ip -n {netns} -j {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim().is_empty() {
        return Vec::new();
    }
    match serde_json::from_str(&text) {
        Ok(Value::Array(v)) => v,
        other => panic!("ip -j {} printed {other:?}", args.join(" ")),
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("?")
}

fn link_names(links: &[Value], own: &[&str]) -> BTreeSet<String> {
    links
        .iter()
        .map(|l| str_of(l, "ifname"))
        .filter(|n| *n != "lo" && !own.contains(n))
        .map(str::to_owned)
        .collect()
}

fn addresses(links: &[Value]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for link in links {
        for a in link["addr_info"].as_array().into_iter().flatten() {
            out.insert(format!(
                "{} {}/{}",
                str_of(link, "ifname"),
                str_of(a, "local"),
                a["prefixlen"]
            ));
        }
    }
    out
}

fn routes(netns: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for family in ["-4", "-6"] {
        for r in ip_json(netns, &[family, "route", "show", "table", "all"]) {
            out.insert(format!(
                "{} {} {} dev {}",
                r["table"].as_str().unwrap_or("main"),
                r["type"].as_str().unwrap_or("unicast"),
                str_of(&r, "dst"),
                str_of(&r, "dev")
            ));
        }
    }
    out
}

/// Names in `dir` (none when it does not exist).
fn files(dir: &Path) -> BTreeSet<String> {
    match fs::read_dir(dir) {
        Ok(entries) => entries.flatten().map(|e| e.file_name().to_string_lossy().into()).collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeSet::new(),
        Err(e) => panic!("cannot list {}: {e}", dir.display()),
    }
}

/// host-local leases: `<network>/<address>` for every file named like an address.
fn leases(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for net in files(dir) {
        for f in files(&dir.join(&net)) {
            if f.parse::<IpAddr>().is_ok() {
                out.insert(format!("{net}/{f}"));
            }
        }
    }
    out
}

/// Every path under `dir`, relative to `root` (directories included).
fn tree(root: &Path, dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for name in files(dir) {
        let path: PathBuf = dir.join(&name);
        out.insert(path.strip_prefix(root).unwrap_or(&path).display().to_string());
        if path.is_dir() {
            out.extend(tree(root, &path));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(items: &[(&'static str, &[&str])]) -> Snapshot {
        items
            .iter()
            .fold(Snapshot::default(), |s, (k, v)| s.with(k, v.iter().map(|i| (*i).to_owned())))
    }

    #[test]
    fn leftovers_are_what_the_baseline_lacks() {
        let before = snap(&[(LINKS, &["up0"]), (PINS, &[])]);
        let after = snap(&[(LINKS, &["up0", "mm1"]), (PINS, &["up0/ATTACH"]), (LEASES, &[])]);
        let left = after.leftovers(&before);
        assert_eq!(left.get(LINKS), Some(&vec!["mm1".to_owned()]));
        assert_eq!(left.get(PINS), Some(&vec!["up0/ATTACH".to_owned()]));
        assert_eq!(left.len(), 2, "kinds with nothing new are omitted: {left:?}");
        assert!(before.leftovers(&after).is_empty(), "gone items are not leftovers");
    }

    #[test]
    fn files_leases_and_trees_of_a_directory() {
        let tmp = std::env::temp_dir().join(format!("mm-testkit-{}", std::process::id()));
        let net = tmp.join("ipam").join("net1");
        fs::create_dir_all(&net).expect("mkdir");
        for f in ["10.0.0.2", "fd00::2", "lock", "last_reserved_ip.0"] {
            fs::write(net.join(f), "c1").expect("write");
        }
        let got = leases(&tmp.join("ipam"));
        assert_eq!(got, ["net1/10.0.0.2", "net1/fd00::2"].map(str::to_owned).into());
        let all = tree(&tmp, &tmp);
        assert!(all.contains("ipam/net1/lock") && all.contains("ipam"), "{all:?}");
        assert!(files(&tmp.join("missing")).is_empty());
        fs::remove_dir_all(&tmp).expect("cleanup");
    }

    #[test]
    fn this_process_can_be_measured() {
        let u = Usage::of(std::process::id()).expect("usage");
        assert!(u.fds >= 3 && u.rss_kib > 0, "{u:?}");
    }
}

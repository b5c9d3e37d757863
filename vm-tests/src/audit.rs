//! Leak audit of the guest: [`Audit::start`] snapshots the guest before a
//! test, [`Audit::assert_clean`] snapshots it after and fails with the diff
//! ([`Snapshot`] and [`Snapshot::diff`] are there for finer use). Every
//! difference is one line saying what was left behind or not put back:
//!
//! - host-namespace links: name, MAC, MTU, admin up, altnames, PCI device
//!   (so a VF netdev must be home under its original name and state);
//! - each watched PF's VF table (`ip -d link show <pf>`: MAC, VLAN, QoS,
//!   protocol, spoofchk, trust, rates, link state, ...);
//! - network namespaces under `/run/netns`;
//! - host addresses (`dev address/prefix`) and routes of every table;
//! - files under the watched directories (records, locks, leases), except
//!   the ones the plugin and the IPAM plugins keep by design ([`KEPT`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cmd::ip_json;
use crate::wait_for;

/// How long the kernel may take to settle after a test (a VF returning from
/// a deleted namespace, carrier, IPv6 duplicate address detection).
const SETTLE: Duration = Duration::from_secs(15);

/// A snapshot of the guest and what to compare it with later.
#[derive(Debug)]
pub struct Audit {
    pfs: Vec<String>,
    dirs: Vec<PathBuf>,
    before: Snapshot,
}

impl Audit {
    /// Snapshots the host namespace, the VF tables of `pfs` and the files
    /// under `dirs`, once no IPv6 address is tentative.
    pub fn start(pfs: &[&str], dirs: &[&Path]) -> Self {
        let pfs: Vec<String> = pfs.iter().map(|p| (*p).to_owned()).collect();
        let dirs: Vec<PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
        let before = settled(&pfs, &dirs);
        Self { pfs, dirs, before }
    }

    /// Fails with every difference unless the guest is back to the first
    /// snapshot within [`SETTLE`].
    pub fn assert_clean(&self, what: &str) {
        let deadline = Instant::now() + SETTLE;
        loop {
            let diff = self.before.diff(&settled(&self.pfs, &self.dirs));
            if diff.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what} left the guest changed (after {SETTLE:?}):\n  {}",
                diff.join("\n  ")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A snapshot taken once duplicate address detection is over.
fn settled(pfs: &[String], dirs: &[PathBuf]) -> Snapshot {
    wait_for("no tentative IPv6 address in the host", SETTLE, || {
        (!ip_json(&["addr", "show", "tentative"]).as_array().is_some_and(|l| {
            l.iter().any(|i| i["addr_info"].as_array().is_some_and(|a| !a.is_empty()))
        }))
        .then_some(())
    });
    let pfs: Vec<&str> = pfs.iter().map(String::as_str).collect();
    let dirs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    Snapshot::take(&pfs, &dirs)
}

/// File names kept by design: the store lock (lock files of released
/// attachments and devices are swept by GC, so they are not kept), the
/// operation log, the IPAM version cache, host-local's lock and its
/// last-reserved marker.
pub const KEPT: &[&str] = &["store.lock", "ops.log", "lock", "last_reserved_ip.0"];

/// Directories whose content is kept by design.
const KEPT_DIRS: &[&str] = &["ipam-versions"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    links: BTreeMap<String, String>,
    vfs: BTreeMap<String, String>,
    namespaces: BTreeSet<String>,
    addresses: BTreeSet<String>,
    routes: BTreeSet<String>,
    files: BTreeSet<String>,
}

impl Snapshot {
    /// The guest's state now, with the VF tables of `pfs` and the files under `dirs`.
    pub fn take(pfs: &[&str], dirs: &[&Path]) -> Self {
        Self {
            links: links(),
            vfs: pfs.iter().flat_map(|pf| vf_table(pf)).collect(),
            namespaces: namespaces(),
            addresses: addresses(),
            routes: routes(),
            files: dirs.iter().flat_map(|d| files(d)).collect(),
        }
    }

    /// What differs in `after`, one line per difference (empty: nothing leaked).
    pub fn diff(&self, after: &Self) -> Vec<String> {
        let mut out = map_diff("link", &self.links, &after.links);
        out.extend(map_diff("VF", &self.vfs, &after.vfs));
        out.extend(set_diff("namespace", &self.namespaces, &after.namespaces));
        out.extend(set_diff("address", &self.addresses, &after.addresses));
        out.extend(set_diff("route", &self.routes, &after.routes));
        out.extend(set_diff("file", &self.files, &after.files));
        out
    }
}

fn map_diff(
    kind: &str,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<String> {
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter_map(|k| match (before.get(k), after.get(k)) {
            (Some(b), Some(a)) if a != b => Some(format!("{kind} {k} changed: {b} -> {a}")),
            (Some(b), None) => Some(format!("{kind} {k} gone (was {b})")),
            (None, Some(a)) => Some(format!("{kind} {k} left behind: {a}")),
            _ => None,
        })
        .collect()
}

fn set_diff(kind: &str, before: &BTreeSet<String>, after: &BTreeSet<String>) -> Vec<String> {
    let gone = before.difference(after).map(|x| format!("{kind} gone: {x}"));
    let new = after.difference(before).map(|x| format!("{kind} left behind: {x}"));
    gone.chain(new).collect()
}

/// Host links by name, with what a restore must put back.
fn links() -> BTreeMap<String, String> {
    let all = ip_json(&["link", "show"]);
    let list = all.as_array().map(Vec::as_slice).unwrap_or_default();
    list.iter()
        .map(|l| {
            let up = l["flags"].as_array().is_some_and(|f| f.contains(&Value::from("UP")));
            let state = format!(
                "mac={} mtu={} up={up} altnames={} pci={}",
                l["address"], l["mtu"], l["altnames"], l["parentdev"]
            );
            (l["ifname"].as_str().unwrap_or_default().to_owned(), state)
        })
        .collect()
}

/// `<pf> vf <n>` -> the whole VF table entry.
fn vf_table(pf: &str) -> Vec<(String, String)> {
    let links = ip_json(&["link", "show", "dev", pf]);
    let list = links[0]["vfinfo_list"].as_array().cloned().unwrap_or_default();
    list.into_iter().map(|v| (format!("{pf} vf {}", v["vf"]), v.to_string())).collect()
}

fn namespaces() -> BTreeSet<String> {
    let Ok(entries) = fs::read_dir("/run/netns") else { return BTreeSet::new() };
    entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()
}

/// `dev address/prefix` for every host address.
fn addresses() -> BTreeSet<String> {
    let all = ip_json(&["addr", "show"]);
    let mut out = BTreeSet::new();
    for l in all.as_array().map(Vec::as_slice).unwrap_or_default() {
        for a in l["addr_info"].as_array().map(Vec::as_slice).unwrap_or_default() {
            out.insert(format!("{} {}/{}", l["ifname"], a["local"], a["prefixlen"]));
        }
    }
    out
}

/// `family table dst dev gateway` for every host route of every table.
fn routes() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for family in ["-4", "-6"] {
        let all = ip_json(&[family, "route", "show", "table", "all"]);
        for r in all.as_array().map(Vec::as_slice).unwrap_or_default() {
            out.insert(format!(
                "{family} table={} {} dev={} via={}",
                r["table"], r["dst"], r["dev"], r["gateway"]
            ));
        }
    }
    out
}

/// Files under `dir` (recursively) except the ones kept by design.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo: Vec<PathBuf> = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            if path.is_dir() {
                if !KEPT_DIRS.contains(&name.as_str()) {
                    todo.push(path);
                }
            } else if !KEPT.contains(&name.as_str()) {
                out.push(path.display().to_string());
            }
        }
    }
    out
}

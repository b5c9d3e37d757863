//! The demo's leak check. Inside the node namespace, the privileged tests'
//! leak audit (`murmuration-testkit`): links, addresses, routes, attachment
//! records, locks, host-local leases and pins after the last DEL, compared
//! with a snapshot taken before the first ADD. On the host, after teardown:
//! no demo namespace, the bpffs unmounted, the scratch directory gone and
//! the processes the demo started gone.

use std::path::{Path, PathBuf};

use murmuration_testkit::audit;
use serde_json::{Value, json};

pub use murmuration_testkit::audit::Snapshot;

/// What the node audit looks at (owned; see [`audit::Scope`]).
#[derive(Debug)]
pub struct Scope {
    pub netns: String,
    pub own_links: Vec<String>,
    pub data_dir: PathBuf,
    pub lease_dir: PathBuf,
    pub pin_root: PathBuf,
}

impl Scope {
    pub fn snapshot(&self) -> Snapshot {
        let own: Vec<&str> = self.own_links.iter().map(String::as_str).collect();
        Snapshot::take(&audit::Scope {
            netns: &self.netns,
            own_links: &own,
            data_dir: &self.data_dir,
            lease_dir: Some(&self.lease_dir),
            pin_root: Some(&self.pin_root),
            process: None,
        })
    }
}

/// What must be gone from the host once the demo has torn down.
#[derive(Debug)]
pub struct HostCheck {
    pub namespaces: Vec<String>,
    pub bpffs: PathBuf,
    pub scratch: PathBuf,
    pub pids: Vec<u32>,
}

impl HostCheck {
    /// Each thing still there, described.
    fn leftovers(&self) -> Vec<String> {
        let netns = |name: &&String| Path::new("/var/run/netns").join(name.as_str()).exists();
        let mut left: Vec<String> =
            self.namespaces.iter().filter(netns).map(|n| format!("namespace {n}")).collect();
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let bpffs = self.bpffs.display().to_string();
        if mounts.lines().any(|l| l.split(' ').nth(1) == Some(bpffs.as_str())) {
            left.push(format!("bpffs mounted on {bpffs}"));
        }
        if self.scratch.exists() {
            left.push(format!("directory {}", self.scratch.display()));
        }
        let alive = |pid: &&u32| Path::new(&format!("/proc/{pid}")).exists();
        left.extend(self.pids.iter().filter(alive).map(|pid| format!("process {pid}")));
        left
    }
}

/// The verdict of the leak check.
#[derive(Debug)]
pub struct Report {
    node: Vec<String>,
    host: Vec<String>,
    audited: String,
    host_checked: String,
    calls: String,
}

impl Report {
    pub fn new(baseline: &Snapshot, after: &Snapshot, host: &HostCheck, calls: String) -> Self {
        let node = after.leftovers(baseline);
        Report {
            node: node
                .iter()
                .flat_map(|(k, v)| v.iter().map(move |i| format!("{k}: {i}")))
                .collect(),
            host: host.leftovers(),
            audited: after.summary(),
            host_checked: format!(
                "{} namespaces deleted, bpffs unmounted, scratch directory removed, {} processes ended",
                host.namespaces.len(),
                host.pids.len()
            ),
            calls,
        }
    }

    pub fn passed(&self) -> bool {
        self.node.is_empty() && self.host.is_empty()
    }

    pub fn leftovers(&self) -> Vec<String> {
        self.node.iter().chain(&self.host).cloned().collect()
    }

    pub fn json(&self) -> Value {
        json!({
            "leak_check": if self.passed() { "passed" } else { "failed" },
            "leftovers": self.leftovers(),
            "node_after_del": self.audited,
            "calls": self.calls,
        })
    }
}

/// Prints the clean-up confirmation (or what was left).
pub fn print(report: &Report) {
    println!(
        "\nclean-up: DEL for every pod (one twice: DEL of what is gone succeeds), GC per network;\n  {}",
        report.calls
    );
    if report.passed() {
        println!(
            "  node after DEL and GC = node before ADD (links, addresses, routes, records, locks, \
             leases, pins)"
        );
        println!("  host after teardown: {}", report.host_checked);
        println!("{}", super::LEAK_CHECK_PASSED);
    } else {
        println!("leak check: FAILED, left behind:");
        for item in report.leftovers() {
            println!("  {item}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{HostCheck, Report, Snapshot};

    fn host(scratch: &std::path::Path) -> HostCheck {
        HostCheck {
            namespaces: vec!["mmdemo-never-created-0".into()],
            bpffs: "/nonexistent/bpffs".into(),
            scratch: scratch.to_owned(),
            pids: vec![],
        }
    }

    #[test]
    fn a_leftover_on_the_node_or_the_host_fails_the_check() {
        let before = Snapshot::default();
        let gone = std::path::Path::new("/nonexistent/scratch");
        let clean = Report::new(&before, &before, &host(gone), String::new());
        assert!(clean.passed(), "{:?}", clean.leftovers());
        assert_eq!(clean.json()["leak_check"], "passed");

        let after = Snapshot::default().with("links", ["mm0123456789abc".to_owned()]);
        let node = Report::new(&before, &after, &host(gone), String::new());
        assert_eq!(node.leftovers(), ["links: mm0123456789abc"]);

        let here = std::env::temp_dir();
        let host_left = Report::new(&before, &before, &host(&here), String::new());
        assert!(!host_left.passed());
        assert_eq!(host_left.json()["leak_check"], "failed");
    }
}

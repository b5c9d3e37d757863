//! PF provisioning (`[[sriov.pf]]`): numvfs, the driver per VF range, PF
//! MTU and link, hardware timestamping and default VF settings, applied
//! idempotently at start, on SIGHUP (the file's `[sriov]` section is
//! re-read) and whenever a configured PF (re)appears. The plan is a pure
//! function ([`plan::plan`]); this module reads the PF, applies the plan
//! and logs every change with its before and after. A VF with a live
//! attachment is never touched, and numvfs is not changed under one
//! unless the entry says `force = true`.

pub mod drift;
pub mod plan;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use murmuration_core::netlink::{Netlink, NetlinkError};
use murmuration_core::state::Store;
use murmuration_core::sysfs::{Sysfs, SysfsError};
use tokio_util::sync::CancellationToken;

use crate::Shared;
use crate::config::{Config, PfConfig};
use crate::metrics::label::Lv;
use plan::{Change, PfNow, Plan, VfNow};

/// How long new VFs may take to show up after numvfs is written.
const VF_APPEAR_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("PF {0} not found")]
    NoPf(String),
    #[error(transparent)]
    Sysfs(#[from] SysfsError),
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    #[error("{pf}: VF {vf} did not appear within {VF_APPEAR_TIMEOUT:?}")]
    VfMissing { pf: String, vf: u32 },
    #[error("{pf}: hardware timestamping: {reason}")]
    Timestamping { pf: String, reason: String },
}

/// A configured PF found on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pf {
    pub netdev: String,
    pub pci: String,
    pub index: u32,
}

/// Finds the PF an entry names (by netdev or by PCI address).
pub fn resolve(sysfs: &Sysfs, nl: &mut Netlink, cfg: &PfConfig) -> Result<Pf, ProvisionError> {
    let missing = || ProvisionError::NoPf(cfg.label().to_owned());
    let (netdev, pci) = match (&cfg.name, &cfg.address) {
        (Some(n), _) => (n.clone(), sysfs.pci_of_netdev(n).ok_or_else(missing)?),
        (None, Some(a)) => (sysfs.netdev(a).ok_or_else(missing)?, a.clone()),
        (None, None) => return Err(missing()),
    };
    let link = nl.link_by_name(&netdev)?.ok_or_else(missing)?;
    Ok(Pf { netdev, pci, index: link.index })
}

/// The PF as it is now: sysfs for counts and drivers, netlink for the rest.
pub fn read(sysfs: &Sysfs, nl: &mut Netlink, pf: &Pf) -> Result<PfNow, ProvisionError> {
    let numvfs = sysfs.numvfs(&pf.pci)?;
    let link =
        nl.link_by_name(&pf.netdev)?.ok_or_else(|| ProvisionError::NoPf(pf.netdev.clone()))?;
    let mut vfs = Vec::new();
    for vf in 0..numvfs {
        let state = nl.vf_state(pf.index, vf)?.unwrap_or_default();
        vfs.push(VfNow {
            driver: sysfs.virtfn(&pf.pci, vf).and_then(|p| sysfs.driver(&p)),
            spoofchk: state.spoofchk,
            trust: state.trust,
            link_state: state.link_state,
        });
    }
    Ok(PfNow {
        numvfs,
        totalvfs: sysfs.totalvfs(&pf.pci).ok(),
        mtu: link.mtu,
        up: link.up,
        hw_timestamping: crate::phc::hw_timestamping_on(&pf.netdev),
        vfs,
    })
}

/// Indices of the PF's VFs that a record of this boot holds.
pub fn live_vfs(store: &Store, pf_pci: &str) -> BTreeSet<u32> {
    let (records, _) = store.list();
    records
        .iter()
        .filter(|r| !r.from_earlier_boot())
        .filter_map(|r| r.vf.as_ref())
        .filter(|v| v.pf_pci == pf_pci)
        .map(|v| v.index)
        .collect()
}

fn apply_one(sysfs: &Sysfs, nl: &mut Netlink, pf: &Pf, c: &Change) -> Result<(), ProvisionError> {
    match c {
        Change::NumVfs { to, .. } => {
            sysfs.set_numvfs(&pf.pci, *to)?;
            wait_for_vfs(sysfs, pf, *to)
        }
        Change::Mtu { to, .. } => Ok(nl.set_mtu(pf.index, *to)?),
        Change::Up => Ok(nl.set_up(pf.index, true)?),
        Change::HwTimestamping => crate::phc::require_hw_timestamping(&pf.netdev)
            .map_err(|reason| ProvisionError::Timestamping { pf: pf.netdev.clone(), reason }),
        Change::Driver { vf, to, .. } => {
            let pci = sysfs
                .virtfn(&pf.pci, *vf)
                .ok_or(ProvisionError::VfMissing { pf: pf.netdev.clone(), vf: *vf })?;
            Ok(sysfs.bind(&pci, to)?)
        }
        Change::Vf { vf, change, .. } => {
            Ok(nl.set_vf(pf.index, *vf, std::slice::from_ref(change))?)
        }
    }
}

/// Polls (with a deadline) until every new VF exists and, when the kernel
/// probes drivers for new VFs, has its driver bound.
fn wait_for_vfs(sysfs: &Sysfs, pf: &Pf, n: u32) -> Result<(), ProvisionError> {
    let deadline = Instant::now() + VF_APPEAR_TIMEOUT;
    let autoprobe = sysfs.drivers_autoprobe(&pf.pci);
    let ready = |vf| {
        sysfs.virtfn(&pf.pci, vf).is_some_and(|pci| !autoprobe || sysfs.driver(&pci).is_some())
    };
    for vf in 0..n {
        while !ready(vf) {
            if Instant::now() > deadline {
                return Err(ProvisionError::VfMissing { pf: pf.netdev.clone(), vf });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(())
}

/// What one pass over one PF did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub applied: Vec<Change>,
    pub refused: Vec<plan::Refusal>,
    pub failed: Vec<(Change, String)>,
}

/// Plans and applies one PF. After a numvfs change the VFs are read again
/// and planned a second time, so each VF change is logged against what the
/// new VF really had.
pub fn provision(
    sysfs: &Sysfs,
    nl: &mut Netlink,
    store: &Store,
    cfg: &PfConfig,
) -> Result<Outcome, ProvisionError> {
    let pf = resolve(sysfs, nl, cfg)?;
    let mut out = Outcome::default();
    for _ in 0..2 {
        let p = plan::plan(cfg, &read(sysfs, nl, &pf)?, &live_vfs(store, &pf.pci));
        out.refused = p.refused;
        let mut recreated = false;
        for c in p.changes {
            match apply_one(sysfs, nl, &pf, &c) {
                Ok(()) => {
                    tracing::info!(pf = %pf.netdev, change = %c, "sriov: applied");
                    recreated |= matches!(c, Change::NumVfs { .. });
                    out.applied.push(c);
                }
                Err(e) => {
                    tracing::warn!(pf = %pf.netdev, change = %c, error = %crate::chain(&e), "sriov: change failed");
                    out.failed.push((c, crate::chain(&e)));
                }
            }
            if recreated {
                break; // plan the new VFs from what they are
            }
        }
        if !recreated {
            break;
        }
    }
    for r in &out.refused {
        tracing::warn!(pf = %pf.netdev, reason = r.reason, detail = %r.detail, "sriov: change refused");
    }
    Ok(out)
}

/// The plan for every `[[sriov.pf]]` entry, as `--check-config` prints it.
pub fn describe(cfg: &Config) -> String {
    let sysfs = Sysfs::default();
    let store = Store::new(&cfg.state.data_dir);
    let mut out = String::new();
    if cfg.sriov.pf.is_empty() {
        return out;
    }
    let mut nl = match Netlink::open() {
        Ok(nl) => nl,
        Err(e) => return format!("sriov: cannot read the PFs: {}\n", crate::chain(&e)),
    };
    for pf_cfg in &cfg.sriov.pf {
        let plan = resolve(&sysfs, &mut nl, pf_cfg).and_then(|pf| {
            let now = read(&sysfs, &mut nl, &pf)?;
            Ok(plan::plan(pf_cfg, &now, &live_vfs(&store, &pf.pci)))
        });
        let _ = writeln!(out, "{}", render(pf_cfg.label(), &plan));
    }
    out
}

fn render(label: &str, plan: &Result<Plan, ProvisionError>) -> String {
    let p = match plan {
        Ok(p) => p,
        Err(e) => return format!("sriov pf {label}: cannot plan: {}", crate::chain(e)),
    };
    if p.changes.is_empty() && p.refused.is_empty() {
        return format!("sriov pf {label}: no changes");
    }
    let mut s = format!("sriov pf {label}: {} change(s)", p.changes.len());
    for c in &p.changes {
        let _ = write!(s, "\n  change: {c}");
    }
    for r in &p.refused {
        let _ = write!(s, "\n  refused ({}): {}", r.reason, r.detail);
    }
    s
}

/// One pass over every entry, with metrics.
fn pass(shared: &Shared, pfs: &[PfConfig]) {
    let sysfs = Sysfs::default();
    let store = Store::new(&shared.config.state.data_dir);
    let mut nl = match Netlink::open() {
        Ok(nl) => nl,
        Err(e) => {
            tracing::warn!(error = %crate::chain(&e), "sriov: no netlink socket");
            shared.metrics.task_error("sriov");
            return;
        }
    };
    let m = &shared.metrics;
    for cfg in pfs {
        let pf = || Lv::from(cfg.label().to_owned());
        let result = match provision(&sysfs, &mut nl, &store, cfg) {
            Ok(o) => {
                for c in &o.applied {
                    m.sriov_changes
                        .get_or_create(&vec![("pf", pf()), ("kind", Lv::from(c.kind()))])
                        .inc();
                }
                for r in &o.refused {
                    m.sriov_refused
                        .get_or_create(&vec![("pf", pf()), ("reason", Lv::from(r.reason))])
                        .inc();
                }
                tracing::info!(
                    pf = cfg.label(),
                    applied = o.applied.len(),
                    refused = o.refused.len(),
                    failed = o.failed.len(),
                    "sriov: provisioning pass done"
                );
                if o.failed.is_empty() { "ok" } else { "error" }
            }
            Err(e) => {
                tracing::warn!(pf = cfg.label(), error = %crate::chain(&e), "sriov: PF not provisioned");
                "error"
            }
        };
        m.sriov_passes.get_or_create(&vec![("pf", pf()), ("result", Lv::from(result))]).inc();
    }
}

/// The ifindex of every configured PF present in the inventory, to notice
/// one that (re)appears.
fn present(shared: &Shared, pfs: &[PfConfig]) -> BTreeMap<String, u32> {
    let snap = shared.inventory.get();
    let sysfs = Sysfs::default();
    pfs.iter()
        .filter_map(|c| {
            let name = match (&c.name, &c.address) {
                (Some(n), _) => n.clone(),
                (None, Some(a)) => sysfs.netdev(a)?,
                _ => return None,
            };
            let l = snap.links.iter().find(|l| l.name == name)?;
            Some((c.label().to_owned(), l.index))
        })
        .collect()
}

/// The entries of `now` that `seen` did not have (with that ifindex).
fn appeared(seen: &BTreeMap<String, u32>, now: &BTreeMap<String, u32>) -> Vec<String> {
    now.iter().filter(|(k, i)| seen.get(*k) != Some(*i)).map(|(k, _)| k.clone()).collect()
}

/// The `[sriov]` section of the file the daemon was started with.
fn reload(shared: &Shared) -> Option<Vec<PfConfig>> {
    let path = shared.config.source.as_ref()?;
    match Config::load(path) {
        Ok(c) => {
            tracing::info!(path = %path.display(), pfs = c.sriov.pf.len(), "SIGHUP: [sriov] re-read (other sections need a restart)");
            Some(c.sriov.pf)
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %crate::chain(&e), "SIGHUP: config not reloaded");
            None
        }
    }
}

async fn run_pass(shared: &Arc<Shared>, pfs: &[PfConfig]) {
    let (s, p) = (shared.clone(), pfs.to_vec());
    if tokio::task::spawn_blocking(move || pass(&s, &p)).await.is_err() {
        shared.metrics.task_error("sriov");
    }
}

/// The SIGHUP stream, registered before any task runs (SIGHUP's default
/// action would end the daemon); `None` if it cannot be.
pub fn hangups() -> Option<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{SignalKind, signal};
    signal(SignalKind::hangup())
        .inspect_err(|e| tracing::warn!(error = %e, "no SIGHUP handler; reload needs a restart"))
        .ok()
}

/// Provisions at start, on SIGHUP and when a configured PF (re)appears.
pub async fn run(
    shared: Arc<Shared>,
    mut hup: Option<tokio::signal::unix::Signal>,
    cancel: CancellationToken,
) {
    let mut updates = shared.inventory.subscribe();
    let mut pfs = shared.config.sriov.pf.clone();
    run_pass(&shared, &pfs).await;
    // Compared only once the inventory has been read.
    let snapshot_read = |s: &Shared| s.inventory.get().updated_unix_ms != 0;
    let mut seen = snapshot_read(&shared).then(|| present(&shared, &pfs));
    loop {
        let hangup = async {
            match hup.as_mut() {
                Some(h) => h.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = hangup => {
                if let Some(new) = reload(&shared) {
                    pfs = new;
                }
                run_pass(&shared, &pfs).await;
            }
            r = updates.changed() => {
                if r.is_err() {
                    return;
                }
                let now = present(&shared, &pfs);
                let back = seen.as_ref().map(|seen| appeared(seen, &now)).unwrap_or_default();
                for pf in &back {
                    tracing::info!(pf = %pf, ifindex = now.get(pf), "sriov: a configured PF (re)appeared; re-applying its plan");
                    shared.metrics.sriov_appeared.get_or_create(&vec![("pf", Lv::from(pf.clone()))]).inc();
                }
                if !back.is_empty() {
                    run_pass(&shared, &pfs).await;
                }
            }
        }
        seen = snapshot_read(&shared).then(|| present(&shared, &pfs));
    }
}

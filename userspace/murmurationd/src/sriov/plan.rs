//! The provisioning plan: a pure function from what a `[[sriov.pf]]` entry
//! asks for, what the PF looks like now and which of its VFs have live
//! attachments, to the list of changes to make (and the ones refused).

use std::collections::BTreeSet;
use std::fmt;

use murmuration_core::cni::config::LinkState;
use murmuration_core::netlink::VfChange;

use crate::config::PfConfig;

/// One VF as it is now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VfNow {
    pub driver: Option<String>,
    /// `None`: the driver does not report it (then it is not managed).
    pub spoofchk: Option<bool>,
    pub trust: Option<bool>,
    pub link_state: Option<LinkState>,
}

/// The PF as it is now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PfNow {
    pub numvfs: u32,
    pub totalvfs: Option<u32>,
    pub mtu: Option<u32>,
    pub up: bool,
    /// Hardware TX timestamping is on (`None`: unknown, not readable).
    pub hw_timestamping: Option<bool>,
    /// By VF index, `numvfs` entries.
    pub vfs: Vec<VfNow>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    NumVfs { from: u32, to: u32 },
    Mtu { from: Option<u32>, to: u32 },
    Up,
    HwTimestamping,
    Driver { vf: u32, from: Option<String>, to: String },
    Vf { vf: u32, field: &'static str, from: String, to: String, change: VfChange },
}

impl Change {
    /// A short name for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NumVfs { .. } => "numvfs",
            Self::Mtu { .. } => "mtu",
            Self::Up => "up",
            Self::HwTimestamping => "hw_timestamping",
            Self::Driver { .. } => "driver",
            Self::Vf { field, .. } => field,
        }
    }
}

fn opt<T: fmt::Display>(v: Option<&T>) -> String {
    v.map_or_else(|| "none".to_owned(), ToString::to_string)
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NumVfs { from, to } => write!(f, "numvfs {from} -> {to}"),
            Self::Mtu { from, to } => write!(f, "mtu {} -> {to}", opt(from.as_ref())),
            Self::Up => write!(f, "link down -> up"),
            Self::HwTimestamping => write!(f, "hardware timestamping off -> on"),
            Self::Driver { vf, from, to } => {
                write!(f, "vf {vf} driver {} -> {to}", opt(from.as_ref()))
            }
            Self::Vf { vf, field, from, to, .. } => write!(f, "vf {vf} {field} {from} -> {to}"),
        }
    }
}

/// A change the plan will not make, and why (`reason` is a metric label).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    pub detail: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub refused: Vec<Refusal>,
}

fn link_state_name(s: LinkState) -> &'static str {
    match s {
        LinkState::Auto => "auto",
        LinkState::Enable => "enable",
        LinkState::Disable => "disable",
    }
}

/// What `want` asks of the PF `now`, leaving every VF in `live` (indices
/// with a live attachment) alone. A numvfs change recreates every VF, so it
/// is refused while any VF is live unless `force` is set; after it, the
/// VFs are planned as new (nothing known about them).
pub fn plan(want: &PfConfig, now: &PfNow, live: &BTreeSet<u32>) -> Plan {
    let mut p = Plan::default();
    let mut count = now.numvfs;
    let mut fresh = false;
    if let Some(to) = want.numvfs.filter(|n| *n != now.numvfs) {
        if let Some(total) = now.totalvfs.filter(|t| to > *t) {
            p.refused.push(Refusal {
                reason: "beyond_totalvfs",
                detail: format!("numvfs {to}: the PF supports at most {total}"),
            });
        } else if !live.is_empty() && !want.force {
            p.refused.push(Refusal {
                reason: "live_attachments",
                detail: format!(
                    "numvfs {} -> {to}: VFs {live:?} have live attachments (force = true overrides)",
                    now.numvfs
                ),
            });
        } else {
            p.changes.push(Change::NumVfs { from: now.numvfs, to });
            (count, fresh) = (to, true);
        }
    }
    pf_changes(want, now, &mut p.changes);
    let unknown = VfNow::default();
    for vf in 0..count {
        if live.contains(&vf) && !fresh {
            continue;
        }
        let cur = if fresh { &unknown } else { now.vfs.get(vf as usize).unwrap_or(&unknown) };
        vf_changes(want, vf, cur, fresh, &mut p.changes);
    }
    p
}

fn pf_changes(want: &PfConfig, now: &PfNow, out: &mut Vec<Change>) {
    if let Some(to) = want.mtu.filter(|m| Some(*m) != now.mtu) {
        out.push(Change::Mtu { from: now.mtu, to });
    }
    if want.up.unwrap_or(true) && !now.up {
        out.push(Change::Up);
    }
    if want.hw_timestamping && now.hw_timestamping != Some(true) {
        out.push(Change::HwTimestamping);
    }
}

fn vf_changes(want: &PfConfig, vf: u32, cur: &VfNow, fresh: bool, out: &mut Vec<Change>) {
    if let Some(d) = want.driver_for(vf).filter(|d| cur.driver.as_deref() != Some(*d)) {
        out.push(Change::Driver { vf, from: cur.driver.clone(), to: d.to_owned() });
    }
    let d = &want.vf_defaults;
    // A setting the driver does not report is not managed (unless the VF is
    // new, when nothing has been read yet).
    let mut setting = |field, now: Option<String>, to: Option<String>, change| {
        if let Some(to) = to
            && (fresh || now.as_ref().is_some_and(|n| *n != to))
        {
            let from = now.unwrap_or_else(|| "unknown".to_owned());
            out.push(Change::Vf { vf, field, from, to, change });
        }
    };
    let b = |v: Option<bool>| v.map(|x| x.to_string());
    if let Some(on) = d.spoofchk {
        setting("spoofchk", b(cur.spoofchk), b(Some(on)), VfChange::SpoofCheck(on));
    }
    if let Some(on) = d.trust {
        setting("trust", b(cur.trust), b(Some(on)), VfChange::Trust(on));
    }
    if let Some(s) = d.link_state {
        let name = |s: Option<LinkState>| s.map(|s| link_state_name(s).to_owned());
        setting("link_state", name(cur.link_state), name(Some(s.0)), VfChange::LinkState(s.0));
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;

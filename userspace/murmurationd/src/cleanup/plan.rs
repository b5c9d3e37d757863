//! The cleanup planner: pure, so every case is a table test.
//!
//! An attachment is *stale* only on positive evidence that its pod is gone
//! ([`liveness`]). A namespace path the daemon cannot stat is not such
//! evidence on its own: under a DaemonSet without `hostPID` every
//! `/proc/<pid>/ns/net` fails to stat, and a path may live in a mount
//! namespace the daemon does not share. The evidence, gathered by the
//! executor (`inventory::attachments`):
//! - veth: the host end is gone. Destroying a namespace destroys its veth
//!   ends and with them their peers, so a missing host end means the pod end
//!   is gone too, whatever the path looked like.
//! - SR-IOV, kernel-driver VF: its netdev is back in the host namespace (the
//!   kernel returns physical devices there when their namespace is destroyed).
//! - otherwise (vlan, userspace-driver VFs, which leave nothing on the host):
//!   the path is gone from a directory the daemon can list, i.e. the
//!   runtime unlinked its bind mount (`/proc` paths never count).
//!
//! A path that can be stat'ed always means alive. A stale attachment is
//! first watched; once it has stayed stale for the grace period it is
//! released. An attachment that is no longer stale (alive, or no longer
//! provably gone), or whose record disappears (a late DEL), is forgotten.
//! Records without a namespace path are never judged.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// What the daemon sees of the namespace path a record names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NetnsPath {
    /// The record has no path.
    Unrecorded,
    /// It can be stat'ed.
    Present,
    /// Gone from a directory the daemon can list (not under `/proc`).
    Removed,
    /// It cannot be stat'ed and nothing says whether it exists elsewhere
    /// (another PID or mount namespace, an unlistable directory).
    Unseen,
}

/// What the host namespace shows of the pod's end of the attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostSide {
    /// veth mode: whether the host end exists.
    VethHostEnd { present: bool },
    /// SR-IOV with a kernel driver: whether the VF's netdev is in the host namespace.
    VfNetdev { in_host: bool },
    /// Nothing on the host to look at (vlan mode, userspace-driver VFs).
    Nothing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub path: NetnsPath,
    pub host: HostSide,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Liveness {
    /// No namespace path recorded: never judged.
    Unjudged,
    Alive,
    /// Positive evidence that the pod's end is gone.
    Gone,
    /// The path is not visible, but nothing proves the pod gone: kept.
    Unknown,
}

/// The rule above, from the evidence alone.
pub fn liveness(e: Evidence) -> Liveness {
    use {HostSide::*, Liveness::*, NetnsPath::*};
    match (e.path, e.host) {
        (Unrecorded, _) => Unjudged,
        (Present, _) => Alive,
        (_, VethHostEnd { present: false } | VfNetdev { in_host: true }) => Gone,
        (Removed, Nothing) => Gone,
        _ => Unknown,
    }
}

/// One attachment as observed now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub key: String,
    pub liveness: Liveness,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed<'a> {
    /// Monotonic time of this observation.
    pub now: Duration,
    pub grace: Duration,
    pub attachments: &'a [Seen],
    /// Since when each watched attachment has been stale.
    pub stale_since: &'a BTreeMap<String, Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start the grace period for a newly stale attachment.
    Watch { key: String, since: Duration },
    /// Stop watching (alive again, no longer provably gone, record gone).
    Forget { key: String },
    /// Tear the attachment down through `ops::release`.
    Release { key: String },
}

pub fn plan(o: &Observed<'_>) -> Vec<Action> {
    let mut actions = Vec::new();
    for a in o.attachments {
        let stale = a.liveness == Liveness::Gone;
        match (stale, o.stale_since.get(&a.key)) {
            (true, None) => actions.push(Action::Watch { key: a.key.clone(), since: o.now }),
            (true, Some(since)) if o.now.saturating_sub(*since) >= o.grace => {
                actions.push(Action::Release { key: a.key.clone() });
            }
            (false, Some(_)) => actions.push(Action::Forget { key: a.key.clone() }),
            _ => {}
        }
    }
    for key in o.stale_since.keys() {
        if !o.attachments.iter().any(|a| &a.key == key) {
            actions.push(Action::Forget { key: key.clone() });
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(30);

    /// (name, now, observed attachments, watched since, expected actions)
    type Case = (&'static str, u64, Vec<Seen>, Vec<(&'static str, u64)>, Vec<Action>);

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn seen(key: &str, liveness: Liveness) -> Seen {
        Seen { key: key.into(), liveness }
    }

    fn run(now: u64, attachments: &[Seen], watched: &[(&str, u64)]) -> Vec<Action> {
        let stale_since = watched.iter().map(|(k, t)| ((*k).to_owned(), s(*t))).collect();
        plan(&Observed { now: s(now), grace: GRACE, attachments, stale_since: &stale_since })
    }

    #[test]
    fn table() {
        use Action::*;
        let k = |x: &str| x.to_owned();
        let cases: Vec<Case> = vec![
            ("healthy: nothing", 100, vec![seen("a", Liveness::Alive)], vec![], vec![]),
            (
                "no netns path: never judged",
                100,
                vec![seen("a", Liveness::Unjudged)],
                vec![],
                vec![],
            ),
            ("unknown: never watched", 100, vec![seen("a", Liveness::Unknown)], vec![], vec![]),
            (
                "no longer provably gone: forget",
                120,
                vec![seen("a", Liveness::Unknown)],
                vec![("a", 100)],
                vec![Forget { key: k("a") }],
            ),
            (
                "newly stale: watch",
                100,
                vec![seen("a", Liveness::Gone)],
                vec![],
                vec![Watch { key: k("a"), since: s(100) }],
            ),
            ("within grace: wait", 129, vec![seen("a", Liveness::Gone)], vec![("a", 100)], vec![]),
            (
                "grace over: release",
                130,
                vec![seen("a", Liveness::Gone)],
                vec![("a", 100)],
                vec![Release { key: k("a") }],
            ),
            (
                "namespace back: forget",
                120,
                vec![seen("a", Liveness::Alive)],
                vec![("a", 100)],
                vec![Forget { key: k("a") }],
            ),
            (
                "record gone (late DEL): forget",
                120,
                vec![],
                vec![("a", 100)],
                vec![Forget { key: k("a") }],
            ),
            (
                "independent attachments",
                200,
                vec![
                    seen("a", Liveness::Gone),
                    seen("b", Liveness::Gone),
                    seen("c", Liveness::Alive),
                ],
                vec![("a", 100)],
                vec![Release { key: k("a") }, Watch { key: k("b"), since: s(200) }],
            ),
        ];
        for (name, now, attachments, watched, want) in cases {
            assert_eq!(run(now, &attachments, &watched), want, "{name}");
        }
    }

    #[test]
    fn zero_grace_releases_on_the_second_observation() {
        let a = [seen("a", Liveness::Gone)];
        let watched = BTreeMap::new();
        let first = plan(&Observed {
            now: s(5),
            grace: Duration::ZERO,
            attachments: &a,
            stale_since: &watched,
        });
        assert_eq!(first, vec![Action::Watch { key: "a".into(), since: s(5) }]);
        let watched = [("a".to_owned(), s(5))].into_iter().collect();
        let second = plan(&Observed {
            now: s(5),
            grace: Duration::ZERO,
            attachments: &a,
            stale_since: &watched,
        });
        assert_eq!(second, vec![Action::Release { key: "a".into() }]);
    }

    #[test]
    fn liveness_needs_positive_evidence() {
        use {HostSide::*, Liveness::*, NetnsPath::*};
        let veth = |present| VethHostEnd { present };
        let vf = |in_host| VfNetdev { in_host };
        // (what, path, host side, verdict)
        let cases = [
            ("no path recorded", Unrecorded, veth(false), Unjudged),
            ("visible path, veth", Present, veth(true), Alive),
            ("visible path wins over a missing host end", Present, veth(false), Alive),
            ("/proc path of another PID namespace, veth alive", Unseen, veth(true), Unknown),
            ("/proc path of another PID namespace, veth gone", Unseen, veth(false), Gone),
            ("bind mount unlinked, veth gone", Removed, veth(false), Gone),
            ("bind mount unlinked, namespace held open, veth alive", Removed, veth(true), Unknown),
            ("VF netdev back in the host", Unseen, vf(true), Gone),
            ("VF netdev still in the pod, path unseen", Unseen, vf(false), Unknown),
            ("VF netdev still in the pod, path unlinked", Removed, vf(false), Unknown),
            ("vlan: path unlinked from a visible directory", Removed, Nothing, Gone),
            ("vlan: path unseen", Unseen, Nothing, Unknown),
            ("vlan: path visible", Present, Nothing, Alive),
        ];
        for (what, path, host, want) in cases {
            assert_eq!(liveness(Evidence { path, host }), want, "{what}");
        }
    }
}

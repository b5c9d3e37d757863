//! The cleanup planner: pure, so every case is a table test.
//!
//! It acts on each attachment's [`Liveness`], judged from evidence by
//! [`crate::inventory::liveness`]. A stale attachment is
//! first watched; once it has stayed stale for the grace period it is
//! released. An attachment that is no longer stale (alive, or no longer
//! provably gone), or whose record disappears (a late DEL), is forgotten.
//! Records without a namespace path are never judged.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::inventory::Liveness;

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
}

//! The sync state, derived the way StarlingX's PTP notification does.
//!
//! A poll is *good* when ptp4l answered, one of its ports tracks a master
//! (SLAVE by default), a grandmaster is present, its clock class is in the
//! locked set (6, 7, 135 by default), `timeTraceable` is set where that is
//! required, and |offset| is within the threshold ([`Criteria::good`]). The
//! state is LOCKED while polls are good; on losing that, HOLDOVER for the
//! holdover period; then FREERUN. A clock that never locked is FREERUN
//! ([`SyncMachine`]). Pure: inputs in, state out (see the table tests).

use std::time::Duration;

pub use crate::sync_state::SyncState;

/// One poll of ptp4l.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sample {
    /// ptp4l answered and one of its ports is in a state that counts as tracking.
    pub tracking: bool,
    pub offset_ns: Option<f64>,
    /// TIME_STATUS_NP `gmPresent`.
    pub gm_present: Option<bool>,
    /// PARENT_DATA_SET grandmaster clock class.
    pub clock_class: Option<u8>,
    /// TIME_PROPERTIES_DATA_SET `timeTraceable`.
    pub time_traceable: Option<bool>,
}

/// What a poll must show to count towards LOCKED.
#[derive(Debug, Clone, PartialEq)]
pub struct Criteria {
    pub threshold_ns: f64,
    pub locked_clock_classes: Vec<u8>,
    pub require_time_traceable: bool,
}

impl Criteria {
    pub fn good(&self, s: &Sample) -> bool {
        s.tracking
            && s.gm_present == Some(true)
            && s.clock_class.is_some_and(|c| self.locked_clock_classes.contains(&c))
            && (!self.require_time_traceable || s.time_traceable == Some(true))
            && s.offset_ns.is_some_and(|o| o.abs() <= self.threshold_ns)
    }
}

/// LOCKED / HOLDOVER / FREERUN from a sequence of good or bad observations.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncMachine {
    state: SyncState,
    holdover_since: Option<Duration>,
    holdover: Duration,
}

impl SyncMachine {
    pub fn new(holdover: Duration) -> Self {
        Self { state: SyncState::Freerun, holdover_since: None, holdover }
    }

    pub fn state(&self) -> SyncState {
        self.state
    }

    /// Feeds one observation taken at monotonic time `now`.
    pub fn step(&mut self, now: Duration, good: bool) -> SyncState {
        self.state = match (self.state, good) {
            (_, true) => {
                self.holdover_since = None;
                SyncState::Locked
            }
            (SyncState::Locked, false) => {
                self.holdover_since = Some(now);
                SyncState::Holdover
            }
            (SyncState::Holdover, false) => {
                let since = self.holdover_since.unwrap_or(now);
                if now.saturating_sub(since) >= self.holdover {
                    self.holdover_since = None;
                    SyncState::Freerun
                } else {
                    SyncState::Holdover
                }
            }
            (SyncState::Freerun, false) => SyncState::Freerun,
        };
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::SyncState::{Freerun, Holdover, Locked};
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn criteria() -> Criteria {
        Criteria {
            threshold_ns: 100.0,
            locked_clock_classes: vec![6, 7, 135],
            require_time_traceable: false,
        }
    }

    /// A poll that passes every check of [`criteria`].
    fn ok(offset_ns: f64) -> Sample {
        Sample {
            tracking: true,
            offset_ns: Some(offset_ns),
            gm_present: Some(true),
            clock_class: Some(6),
            time_traceable: Some(true),
        }
    }

    fn lost() -> Sample {
        Sample::default()
    }

    /// (time ms, poll, expected state) against threshold 100 ns, classes
    /// 6/7/135 and a 3 s holdover.
    fn run(steps: &[(u64, Sample, SyncState)]) {
        let c = criteria();
        let mut m = SyncMachine::new(Duration::from_secs(3));
        for (i, (t, s, want)) in steps.iter().enumerate() {
            let got = m.step(ms(*t), c.good(s));
            assert_eq!(got, *want, "step {i} at {t} ms: {s:?}");
        }
    }

    #[test]
    fn each_criterion_alone_keeps_a_poll_from_counting() {
        let c = criteria();
        assert!(c.good(&ok(-100.0)), "the baseline poll is good");
        let bad: [(&str, Sample); 9] = [
            ("not tracking", Sample { tracking: false, ..ok(0.0) }),
            ("no offset", Sample { offset_ns: None, ..ok(0.0) }),
            ("offset beyond the threshold", ok(100.5)),
            ("negative offset beyond", ok(-101.0)),
            ("no grandmaster", Sample { gm_present: Some(false), ..ok(0.0) }),
            ("grandmaster unknown", Sample { gm_present: None, ..ok(0.0) }),
            ("default class 248", Sample { clock_class: Some(248), ..ok(0.0) }),
            ("holdover class 7 is locked, 52 is not", Sample { clock_class: Some(52), ..ok(0.0) }),
            ("class unknown", Sample { clock_class: None, ..ok(0.0) }),
        ];
        for (what, s) in bad {
            assert!(!c.good(&s), "{what}: {s:?}");
        }
        for class in [6, 7, 135] {
            assert!(c.good(&Sample { clock_class: Some(class), ..ok(0.0) }), "class {class}");
        }
    }

    #[test]
    fn time_traceable_counts_only_where_required() {
        let untraceable = Sample { time_traceable: Some(false), ..ok(0.0) };
        let unknown = Sample { time_traceable: None, ..ok(0.0) };
        assert!(criteria().good(&untraceable));
        let strict = Criteria { require_time_traceable: true, ..criteria() };
        assert!(!strict.good(&untraceable));
        assert!(!strict.good(&unknown));
        assert!(strict.good(&ok(0.0)));
    }

    #[test]
    fn never_locked_is_freerun() {
        run(&[
            (0, lost(), Freerun),
            (1000, ok(500.0), Freerun),
            (2000, Sample { clock_class: Some(248), ..ok(5.0) }, Freerun),
            (9000, lost(), Freerun),
        ]);
    }

    #[test]
    fn lock_holdover_freerun_on_schedule() {
        run(&[
            (0, ok(50.0), Locked),
            (1000, ok(-99.0), Locked),
            (2000, lost(), Holdover),
            (4999, lost(), Holdover),
            (5000, lost(), Freerun),
            (6000, lost(), Freerun),
        ]);
    }

    #[test]
    fn offset_beyond_threshold_starts_holdover() {
        run(&[
            (0, ok(0.0), Locked),
            (1000, ok(101.0), Holdover),
            (2000, ok(-500.0), Holdover),
            (4000, ok(500.0), Freerun),
        ]);
    }

    #[test]
    fn a_degraded_grandmaster_starts_holdover() {
        run(&[
            (0, ok(0.0), Locked),
            (1000, Sample { clock_class: Some(248), ..ok(0.0) }, Holdover),
            (2000, Sample { gm_present: Some(false), ..ok(0.0) }, Holdover),
            (4000, ok(0.0), Locked),
        ]);
    }

    #[test]
    fn recovery_in_holdover_relocks_and_restarts_the_timer() {
        run(&[
            (0, ok(10.0), Locked),
            (1000, lost(), Holdover),
            (3500, ok(10.0), Locked),
            (4000, lost(), Holdover),
            (6500, lost(), Holdover),
            (7000, lost(), Freerun),
            (8000, ok(1.0), Locked),
        ]);
    }

    #[test]
    fn tracking_without_an_offset_is_not_locked() {
        run(&[
            (0, Sample { offset_ns: None, ..ok(0.0) }, Freerun),
            (10, ok(1.0), Locked),
            (20, Sample { offset_ns: None, ..ok(0.0) }, Holdover),
        ]);
    }

    #[test]
    fn worst_orders_freerun_over_holdover_over_locked() {
        for (a, b, want) in [
            (Locked, Locked, Locked),
            (Locked, Holdover, Holdover),
            (Holdover, Locked, Holdover),
            (Holdover, Freerun, Freerun),
            (Freerun, Locked, Freerun),
        ] {
            assert_eq!(a.worst(b), want, "{a:?} {b:?}");
        }
    }
}

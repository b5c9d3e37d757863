//! The sync state, derived the way StarlingX's PTP notification does:
//! LOCKED while ptp4l tracks a master within the offset threshold; on losing
//! that, HOLDOVER for the holdover period; then FREERUN. A clock that never
//! locked is FREERUN. Pure: inputs in, state out (see the table tests).

use std::time::Duration;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SyncState {
    Locked,
    Holdover,
    Freerun,
}

impl SyncState {
    pub const ALL: [SyncState; 3] = [Self::Locked, Self::Holdover, Self::Freerun];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Locked => "LOCKED",
            Self::Holdover => "HOLDOVER",
            Self::Freerun => "FREERUN",
        }
    }
}

/// One poll of ptp4l.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Monotonic time of the poll.
    pub now: Duration,
    /// ptp4l answered and its port is in a state that counts as tracking.
    pub tracking: bool,
    pub offset_ns: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SyncMachine {
    state: SyncState,
    holdover_since: Option<Duration>,
    threshold_ns: f64,
    holdover: Duration,
}

impl SyncMachine {
    pub fn new(threshold_ns: u64, holdover: Duration) -> Self {
        Self {
            state: SyncState::Freerun,
            holdover_since: None,
            threshold_ns: threshold_ns as f64,
            holdover,
        }
    }

    pub fn state(&self) -> SyncState {
        self.state
    }

    pub fn step(&mut self, s: Sample) -> SyncState {
        let good = s.tracking && s.offset_ns.is_some_and(|o| o.abs() <= self.threshold_ns);
        self.state = match (self.state, good) {
            (_, true) => {
                self.holdover_since = None;
                SyncState::Locked
            }
            (SyncState::Locked, false) => {
                self.holdover_since = Some(s.now);
                SyncState::Holdover
            }
            (SyncState::Holdover, false) => {
                let since = self.holdover_since.unwrap_or(s.now);
                if s.now.saturating_sub(since) >= self.holdover {
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

    /// (time ms, tracking, offset ns, expected state) against threshold 100
    /// ns and a 3 s holdover.
    fn run(steps: &[(u64, bool, Option<f64>, SyncState)]) {
        let mut m = SyncMachine::new(100, Duration::from_secs(3));
        for (i, (t, tracking, offset_ns, want)) in steps.iter().enumerate() {
            let got = m.step(Sample { now: ms(*t), tracking: *tracking, offset_ns: *offset_ns });
            assert_eq!(got, *want, "step {i} at {t} ms");
        }
    }

    #[test]
    fn never_locked_is_freerun() {
        run(&[
            (0, false, None, Freerun),
            (1000, true, Some(500.0), Freerun),
            (2000, false, Some(5.0), Freerun),
            (9000, false, None, Freerun),
        ]);
    }

    #[test]
    fn lock_holdover_freerun_on_schedule() {
        run(&[
            (0, true, Some(50.0), Locked),
            (1000, true, Some(-99.0), Locked),
            (2000, false, None, Holdover),
            (4999, false, None, Holdover),
            (5000, false, None, Freerun),
            (6000, false, None, Freerun),
        ]);
    }

    #[test]
    fn offset_beyond_threshold_starts_holdover() {
        run(&[
            (0, true, Some(0.0), Locked),
            (1000, true, Some(101.0), Holdover),
            (2000, true, Some(-500.0), Holdover),
            (4000, true, Some(500.0), Freerun),
        ]);
    }

    #[test]
    fn recovery_in_holdover_relocks_and_restarts_the_timer() {
        run(&[
            (0, true, Some(10.0), Locked),
            (1000, false, None, Holdover),
            (3500, true, Some(10.0), Locked),
            (4000, false, None, Holdover),
            (6500, false, None, Holdover),
            (7000, false, None, Freerun),
            (8000, true, Some(1.0), Locked),
        ]);
    }

    #[test]
    fn tracking_without_an_offset_is_not_locked() {
        run(&[(0, true, None, Freerun), (10, true, Some(1.0), Locked), (20, true, None, Holdover)]);
    }
}

//! What `/healthz` answers. The daemon is healthy while
//! - the inventory has been read, and not longer ago than `resync_seconds`
//!   plus `[health] stuck_seconds`;
//! - no refresh round (inventory read, then cleanup) has been running for
//!   longer than `stuck_seconds`;
//! - cleanup has not been kept from the store lock for longer than
//!   `stuck_seconds` (every round in that time skipped).
//!
//! The tasks report into [`Health`]; [`problems`] judges (pure).

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Since when each watched condition holds; `None`: it does not.
#[derive(Debug, Default)]
pub struct Health {
    round_since: Mutex<Option<Instant>>,
    cleanup_blocked_since: Mutex<Option<Instant>>,
}

fn set(m: &Mutex<Option<Instant>>, v: Option<Instant>, keep_earlier: bool) {
    let mut g = m.lock().unwrap_or_else(PoisonError::into_inner);
    if !(keep_earlier && g.is_some()) {
        *g = v;
    }
}

fn age(m: &Mutex<Option<Instant>>, now: Instant) -> Option<Duration> {
    m.lock().unwrap_or_else(PoisonError::into_inner).map(|t| now.saturating_duration_since(t))
}

impl Health {
    pub fn round_started(&self) {
        set(&self.round_since, Some(Instant::now()), false);
    }

    pub fn round_finished(&self) {
        set(&self.round_since, None, false);
    }

    /// Cleanup could not take the store lock (the first failure counts).
    pub fn cleanup_blocked(&self) {
        set(&self.cleanup_blocked_since, Some(Instant::now()), true);
    }

    pub fn cleanup_unblocked(&self) {
        set(&self.cleanup_blocked_since, None, false);
    }

    pub fn observe(&self, inventory_age: Option<Duration>) -> Observation {
        let now = Instant::now();
        Observation {
            inventory_age,
            round_running: age(&self.round_since, now),
            cleanup_blocked: age(&self.cleanup_blocked_since, now),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// `None`: the inventory has not been read yet.
    pub inventory_age: Option<Duration>,
    pub round_running: Option<Duration>,
    pub cleanup_blocked: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub resync: Duration,
    pub stuck: Duration,
}

/// Why the daemon is unhealthy; empty when it is healthy.
pub fn problems(o: &Observation, b: &Bounds) -> Vec<String> {
    let mut out = Vec::new();
    match o.inventory_age {
        None => out.push("inventory not read yet".to_owned()),
        Some(age) if age > b.resync + b.stuck => out.push(format!(
            "inventory is {:.1} s old (resync every {:.1} s)",
            age.as_secs_f64(),
            b.resync.as_secs_f64()
        )),
        Some(_) => {}
    }
    if let Some(t) = o.round_running.filter(|t| *t > b.stuck) {
        out.push(format!("inventory refresh and cleanup round stuck for {:.1} s", t.as_secs_f64()));
    }
    if let Some(t) = o.cleanup_blocked.filter(|t| *t > b.stuck) {
        out.push(format!("cleanup cannot take store.lock for {:.1} s", t.as_secs_f64()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: u64) -> Duration {
        Duration::from_secs(x)
    }

    const B: Bounds = Bounds { resync: Duration::from_secs(30), stuck: Duration::from_secs(10) };

    fn obs(age: Option<u64>, round: Option<u64>, blocked: Option<u64>) -> Observation {
        Observation {
            inventory_age: age.map(s),
            round_running: round.map(s),
            cleanup_blocked: blocked.map(s),
        }
    }

    #[test]
    fn table() {
        // (what, observation, expected problem substrings)
        let cases: [(&str, Observation, &[&str]); 8] = [
            ("fresh and idle", obs(Some(1), None, None), &[]),
            ("not read yet", obs(None, None, None), &["not read yet"]),
            ("old but within resync + slack", obs(Some(40), None, None), &[]),
            ("too old", obs(Some(41), None, None), &["inventory is 41.0 s old"]),
            ("a round running, within bound", obs(Some(1), Some(10), None), &[]),
            ("a round stuck", obs(Some(1), Some(11), None), &["stuck for 11.0 s"]),
            ("cleanup blocked briefly", obs(Some(1), None, Some(3)), &[]),
            (
                "cleanup blocked and round stuck",
                obs(Some(50), Some(20), Some(20)),
                &["old", "stuck", "store.lock"],
            ),
        ];
        for (what, o, want) in cases {
            let got = problems(&o, &B);
            assert_eq!(got.len(), want.len(), "{what}: {got:?}");
            for (g, w) in got.iter().zip(want) {
                assert!(g.contains(w), "{what}: {g:?} lacks {w:?}");
            }
        }
    }

    #[test]
    fn the_first_blocked_round_counts_and_success_clears_it() {
        let h = Health::default();
        h.cleanup_blocked();
        let first = h.observe(None).cleanup_blocked.expect("blocked");
        h.cleanup_blocked();
        assert!(h.observe(None).cleanup_blocked.expect("still blocked") >= first);
        h.cleanup_unblocked();
        assert_eq!(h.observe(None).cleanup_blocked, None);
        h.round_started();
        assert!(h.observe(None).round_running.is_some());
        h.round_finished();
        assert_eq!(h.observe(None).round_running, None);
    }
}

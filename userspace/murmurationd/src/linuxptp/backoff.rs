//! Restart delays: exponential from an initial delay up to a bound, back
//! to the initial delay after a run that lasted the stable period. Pure.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    stable: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration, stable: Duration) -> Self {
        Self { initial, max, stable, next: initial }
    }

    /// The delay before restarting a process that exited after `ran_for`.
    pub fn after_exit(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= self.stable {
            self.next = self.initial;
        }
        let delay = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn doubles_up_to_the_bound() {
        let mut b = Backoff::new(s(1), s(10), s(60));
        let got: Vec<u64> = (0..6).map(|_| b.after_exit(s(0)).as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 8, 10, 10]);
    }

    #[test]
    fn a_stable_run_resets_it() {
        let mut b = Backoff::new(s(1), s(10), s(60));
        assert_eq!(b.after_exit(s(5)), s(1));
        assert_eq!(b.after_exit(s(5)), s(2));
        assert_eq!(b.after_exit(s(59)), s(4));
        assert_eq!(b.after_exit(s(60)), s(1));
        assert_eq!(b.after_exit(s(1)), s(2));
    }
}

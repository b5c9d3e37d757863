//! PHC-to-system offset from (system, PHC, system) reading triples, as
//! phc2sys does: the triple with the shortest system-clock window wins, the
//! PHC reading is taken to lie at its midpoint, and half the window bounds
//! the error.

use serde::Serialize;

/// One reading: system clock, PHC, system clock again (ns since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub sys_before_ns: i128,
    pub phc_ns: i128,
    pub sys_after_ns: i128,
}

/// PHC minus system clock, and how far off that can be.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// PHC - CLOCK_REALTIME at the chosen reading (ns).
    pub offset_ns: f64,
    /// Half the chosen reading's system-clock window (ns); 0 for a hardware
    /// cross-timestamp.
    pub uncertainty_ns: f64,
    /// Readings that were usable (windows that did not run backwards).
    pub samples: usize,
}

/// The estimate from the best reading, or `None` if no reading is usable
/// (a system clock stepped backwards within every window).
pub fn estimate(samples: &[Sample]) -> Option<Estimate> {
    let usable = samples.iter().filter(|s| s.sys_after_ns >= s.sys_before_ns);
    let best = usable.clone().min_by_key(|s| s.sys_after_ns - s.sys_before_ns)?;
    let window = best.sys_after_ns - best.sys_before_ns;
    let mid2 = best.sys_before_ns + best.sys_after_ns; // twice the midpoint
    Some(Estimate {
        offset_ns: (2 * best.phc_ns - mid2) as f64 / 2.0,
        uncertainty_ns: window as f64 / 2.0,
        samples: usable.count(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i128 = 1_700_000_000_000_000_000;

    fn s(before: i128, phc: i128, after: i128) -> Sample {
        Sample { sys_before_ns: T0 + before, phc_ns: T0 + phc, sys_after_ns: T0 + after }
    }

    #[test]
    fn the_shortest_window_wins_and_its_midpoint_is_the_reference() {
        // PHC 37 s ahead (TAI vs UTC) and +250 ns.
        let tai = 37_000_000_000;
        let samples =
            [s(0, tai + 900, 2_000), s(5_000, tai + 5_550, 5_600), s(9_000, tai + 9_900, 10_500)];
        let e = estimate(&samples).expect("an estimate");
        assert_eq!(e.offset_ns, (tai + 250) as f64);
        assert_eq!(e.uncertainty_ns, 300.0);
        assert_eq!(e.samples, 3);
    }

    #[test]
    fn odd_windows_keep_the_half_nanosecond() {
        let e = estimate(&[s(0, -1_000, 1)]).expect("an estimate");
        assert_eq!(e.offset_ns, -1_000.5);
        assert_eq!(e.uncertainty_ns, 0.5);
    }

    #[test]
    fn a_hardware_cross_timestamp_has_no_window() {
        let e = estimate(&[s(100, 40, 100)]).expect("an estimate");
        assert_eq!((e.offset_ns, e.uncertainty_ns), (-60.0, 0.0));
    }

    #[test]
    fn readings_across_a_backwards_step_are_ignored() {
        assert_eq!(estimate(&[s(10, 5, 0)]), None);
        assert_eq!(estimate(&[]), None);
        let e = estimate(&[s(10, 5, 0), s(20, 30, 40)]).expect("one usable");
        assert_eq!((e.offset_ns, e.samples), (0.0, 1));
    }
}

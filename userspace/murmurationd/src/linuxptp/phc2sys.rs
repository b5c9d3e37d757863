//! phc2sys's view of the system clock: its per-update summary line, as
//! linuxptp prints it with `verbose 1` (phc2sys(8), `update_clock` in
//! phc2sys.c):
//!
//! ```text
//! phc2sys[5374.383]: CLOCK_REALTIME ens1f0 offset        -9 s2 freq  +14561 delay    512
//! ```
//!
//! the clock it steers, the clock it follows, the offset of the first
//! against the second in ns, the servo state (`s0` unlocked, `s1` clock
//! stepped, `s2` locked, `s3` locked and stable), the frequency adjustment
//! in ppb and, where it measured one, the read delay. Lines about other
//! clocks (phc2sys `-a` also steers secondary PHCs) and every other line
//! (notices, errors, `rms` statistics) are not updates of the system clock.

use serde::Serialize;

/// The clock phc2sys names the system clock.
pub const REALTIME: &str = "CLOCK_REALTIME";

/// phc2sys's servo state (`s0`..`s3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Servo {
    Unlocked,
    Jump,
    Locked,
    LockedStable,
}

impl Servo {
    fn parse(token: &str) -> Option<Self> {
        match token {
            "s0" => Some(Self::Unlocked),
            "s1" => Some(Self::Jump),
            "s2" => Some(Self::Locked),
            "s3" => Some(Self::LockedStable),
            _ => None,
        }
    }

    /// `s2` and `s3`: the servo tracks (as OpenShift's log parser counts it).
    pub fn locked(self) -> bool {
        matches!(self, Self::Locked | Self::LockedStable)
    }
}

/// One update line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Update {
    /// The clock phc2sys steers (`CLOCK_REALTIME` for the system clock).
    pub clock: String,
    /// The clock it follows (an interface or `/dev/ptpN`).
    pub source: String,
    /// `clock` minus `source` (after the UTC offset), ns.
    pub offset_ns: i64,
    pub servo: Servo,
}

impl Update {
    /// Parses one line of phc2sys's output; `None` for anything that is not
    /// an update line.
    pub fn parse(line: &str) -> Option<Self> {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let at = tokens.iter().position(|t| *t == "offset")?;
        let (clock, source) = (tokens.get(at.checked_sub(2)?)?, tokens.get(at - 1)?);
        let offset_ns = tokens.get(at + 1)?.parse().ok()?;
        let servo = Servo::parse(tokens.get(at + 2)?)?;
        if tokens.get(at + 3) != Some(&"freq") {
            return None;
        }
        Some(Self { clock: (*clock).to_owned(), source: (*source).to_owned(), offset_ns, servo })
    }

    /// An update of the system clock.
    pub fn is_realtime(&self) -> bool {
        self.clock == REALTIME
    }

    /// Counts towards os-clock-sync-state LOCKED: servo locked and
    /// |offset| within `threshold_ns`.
    pub fn good(&self, threshold_ns: u64) -> bool {
        self.servo.locked() && self.offset_ns.unsigned_abs() <= threshold_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines in the format linuxptp 3.1 and 4.x print (`-m` / `verbose 1`),
    /// with and without the read delay and the message tag.
    #[test]
    fn update_lines_of_the_system_clock_and_of_other_clocks() {
        let cases = [
            (
                "phc2sys[5374.383]: CLOCK_REALTIME ens1f0 offset        -9 s2 freq  +14561 delay    512",
                Some(("CLOCK_REALTIME", "ens1f0", -9, Servo::Locked)),
            ),
            (
                "phc2sys[5371.380]: CLOCK_REALTIME ens1f0 offset 1523412 s0 freq      +0 delay    496",
                Some(("CLOCK_REALTIME", "ens1f0", 1_523_412, Servo::Unlocked)),
            ),
            (
                "phc2sys[5372.381]: CLOCK_REALTIME ens1f0 offset   1522965 s1 freq   -1203",
                Some(("CLOCK_REALTIME", "ens1f0", 1_522_965, Servo::Jump)),
            ),
            (
                "phc2sys[90.1]: [ran0:0] CLOCK_REALTIME /dev/ptp0 offset 25 s3 freq -3 delay 300",
                Some(("CLOCK_REALTIME", "/dev/ptp0", 25, Servo::LockedStable)),
            ),
            (
                "phc2sys[5374.383]: ens1f1 ens1f0 offset         3 s2 freq     -12 delay    811",
                Some(("ens1f1", "ens1f0", 3, Servo::Locked)),
            ),
            ("phc2sys[5370.379]: reconfiguring after port state change", None),
            ("phc2sys[5370.379]: selecting CLOCK_REALTIME for synchronization", None),
            ("phc2sys[5370.379]: selecting ens1f0 as the master clock", None),
            ("phc2sys[5400.1]: CLOCK_REALTIME rms   12 max   30 freq +14561 +/-   4", None),
            ("phc2sys[5374.383]: CLOCK_REALTIME ens1f0 offset lots s2 freq +1", None),
            ("phc2sys[5374.383]: CLOCK_REALTIME ens1f0 offset -9 s7 freq +1", None),
            ("offset -9 s2 freq +1", None),
            ("", None),
        ];
        for (line, want) in cases {
            let got = Update::parse(line);
            let got =
                got.as_ref().map(|u| (u.clock.as_str(), u.source.as_str(), u.offset_ns, u.servo));
            assert_eq!(got, want, "{line}");
        }
    }

    #[test]
    fn good_needs_a_locked_servo_and_the_offset_within_the_threshold() {
        let u = |offset_ns, servo| Update {
            clock: REALTIME.to_owned(),
            source: "eth0".to_owned(),
            offset_ns,
            servo,
        };
        assert!(u(-1000, Servo::Locked).good(1000));
        assert!(u(999, Servo::LockedStable).good(1000));
        assert!(!u(1001, Servo::Locked).good(1000));
        assert!(!u(-1001, Servo::Locked).good(1000));
        assert!(!u(0, Servo::Unlocked).good(1000));
        assert!(!u(0, Servo::Jump).good(1000));
        assert!(u(0, Servo::Locked).is_realtime());
    }
}

//! The round-trip time of one probe, from whichever timestamps it got.
//! Pure: the prober task collects the timestamps, this picks the pair.

/// Where the two ends of an RTT came from (the `source` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// TX and RX stamped by the NIC (the same PHC at both ends).
    Hardware,
    /// TX and RX stamped by the kernel (`CLOCK_REALTIME`).
    Software,
    /// No TX timestamp: the clock read just before `sendto`, to the RX
    /// software timestamp (or the clock read after `recvmsg` without one).
    Clock,
}

impl Source {
    pub const ALL: [Self; 3] = [Self::Hardware, Self::Software, Self::Clock];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hardware => "hardware",
            Self::Software => "software",
            Self::Clock => "clock",
        }
    }
}

pub use murmuration_core::ptp::cmsg::Stamps;

/// Everything known about one request and its reply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exchange {
    /// `CLOCK_REALTIME` just before the request was sent.
    pub sent_ns: i128,
    /// `CLOCK_REALTIME` just after the reply was read.
    pub received_ns: i128,
    pub tx: Stamps,
    pub rx: Stamps,
}

fn positive(from: Option<i128>, to: Option<i128>) -> Option<u64> {
    let d = to? - from?;
    if d > 0 { u64::try_from(d).ok() } else { None }
}

/// The RTT in nanoseconds and its source: hardware when both ends have a
/// hardware stamp, else software when both have a software one, else the
/// send-time clock read to the best receive time. A pair that does not go
/// forward in time (a clock step, a stale stamp) is skipped.
pub fn rtt(x: &Exchange) -> Option<(Source, u64)> {
    if let Some(ns) = positive(x.tx.hardware, x.rx.hardware) {
        return Some((Source::Hardware, ns));
    }
    if let Some(ns) = positive(x.tx.software, x.rx.software) {
        return Some((Source::Software, ns));
    }
    let rx = x.rx.software.unwrap_or(x.received_ns);
    positive(Some(x.sent_ns), Some(rx)).map(|ns| (Source::Clock, ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(software: Option<i128>, hardware: Option<i128>) -> Stamps {
        Stamps { software, hardware }
    }

    #[test]
    fn picks_the_best_pair_that_goes_forward() {
        let x = |tx, rx| Exchange { sent_ns: 1_000, received_ns: 9_000, tx, rx };
        let none = Stamps::default();
        let cases = [
            (
                "hardware both ends",
                x(st(Some(1_100), Some(50)), st(Some(5_000), Some(2_050))),
                Some((Source::Hardware, 2_000)),
            ),
            (
                "hardware RX only: software",
                x(st(Some(1_100), None), st(Some(5_100), Some(70))),
                Some((Source::Software, 4_000)),
            ),
            (
                "software both ends",
                x(st(Some(1_200), None), st(Some(4_200), None)),
                Some((Source::Software, 3_000)),
            ),
            (
                "no TX stamp: clock to RX stamp",
                x(none, st(Some(4_000), None)),
                Some((Source::Clock, 3_000)),
            ),
            ("no stamps: clock to clock", x(none, none), Some((Source::Clock, 8_000))),
            (
                "hardware going back: software",
                x(st(Some(1_100), Some(900)), st(Some(2_100), Some(800))),
                Some((Source::Software, 1_000)),
            ),
            (
                "software going back: clock",
                x(st(Some(6_000), None), st(Some(5_000), None)),
                Some((Source::Clock, 4_000)),
            ),
        ];
        for (what, ex, want) in cases {
            assert_eq!(rtt(&ex), want, "{what}");
        }
        let backwards = Exchange { sent_ns: 10_000, received_ns: 9_000, ..Exchange::default() };
        assert_eq!(rtt(&backwards), None, "a clock step backwards gives no sample");
    }
}

//! The io_uring packet generator: a ring of `send` SQEs on a connected UDP
//! socket, refilled as their completions arrive.

mod sys;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nix::errno::Errno;

/// Sends in flight, as many as `udp::blast` sends per `sendmmsg`.
const DEPTH: u32 = 64;

/// Sends `size`-byte datagrams to `dst` for `duration`, keeping `DEPTH` in
/// flight. Returns how many the kernel accepted.
pub fn blast(dst: SocketAddr, size: usize, duration: Duration) -> anyhow::Result<u64> {
    let mut ring = sys::SendRing::new(super::udp::connected(dst)?, size, DEPTH)?;
    let end = Instant::now() + duration;
    let mut tally = Tally::default();
    while Instant::now() < end {
        ring.fill();
        ring.submit_and_reap(1, |res| tally.add(res))?;
    }
    ring.drain(|res| tally.add(res))?;
    tally.into_result()
}

/// Completions counted: accepted sends, and the first hard error.
#[derive(Debug, Default)]
struct Tally {
    sent: u64,
    error: Option<Errno>,
}

impl Tally {
    fn add(&mut self, res: i32) {
        match res {
            0.. => self.sent += 1,
            // Dropped under pressure, as `udp::blast` counts it: not sent.
            _ if matches!(Errno::from_raw(-res), Errno::ENOBUFS | Errno::EAGAIN) => {}
            _ => self.error = self.error.or(Some(Errno::from_raw(-res))),
        }
    }

    fn into_result(self) -> anyhow::Result<u64> {
        match self.error {
            Some(e) => Err(anyhow::anyhow!(e).context("io_uring send")),
            None => Ok(self.sent),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_counts_sends_and_ignores_backpressure() {
        let mut t = Tally::default();
        for res in [64, 0, -(Errno::ENOBUFS as i32), -(Errno::EAGAIN as i32)] {
            t.add(res);
        }
        assert_eq!(t.into_result().expect("no hard error"), 2);
    }

    #[test]
    fn tally_reports_a_hard_error() {
        let mut t = Tally::default();
        t.add(-(Errno::ECONNREFUSED as i32));
        t.add(64);
        assert!(t.into_result().is_err());
    }
}

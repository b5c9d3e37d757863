//! The packet generators and the comparison that picks one: each generator's
//! rates on the bare veth floor, measured in the run that then uses the
//! faster one for every path.

use std::net::SocketAddr;
use std::time::Duration;

use nix::time::{ClockId, clock_gettime};
use serde::Serialize;

use super::{measure_pps, paths, udp, uring};

/// How `measure_pps` puts packets on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Generator {
    /// Batches of 64 datagrams per `sendmmsg` call.
    Sendmmsg,
    /// A ring of 64 `send` SQEs, refilled as completions arrive.
    IoUring,
}

impl Generator {
    pub const ALL: [Self; 2] = [Self::Sendmmsg, Self::IoUring];

    pub fn name(self) -> &'static str {
        match self {
            Self::Sendmmsg => "sendmmsg",
            Self::IoUring => "io_uring",
        }
    }

    /// Sends `size`-byte datagrams to `dst` for `duration` from this thread.
    pub fn blast(self, dst: SocketAddr, size: usize, duration: Duration) -> anyhow::Result<Sent> {
        let start = thread_cpu()?;
        let datagrams = match self {
            Self::Sendmmsg => udp::blast(dst, size, duration),
            Self::IoUring => uring::blast(dst, size, duration),
        }?;
        Ok(Sent { datagrams, cpu: thread_cpu()?.saturating_sub(start) })
    }
}

fn thread_cpu() -> anyhow::Result<Duration> {
    Ok(clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)?.into())
}

/// What a generator's run put through: datagrams the kernel accepted, and
/// the sending thread's CPU time (user and system) to do it.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    pub datagrams: u64,
    pub cpu: Duration,
}

/// A packet rate, as the sender's kernel accepted it and as the sink
/// received it, and the sender's CPU time per accepted datagram (which load
/// from elsewhere on the machine changes far less than the rates).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Pps {
    pub sent: f64,
    pub received: f64,
    pub cpu_ns_per_sent: f64,
}

impl Pps {
    /// The better of two rounds, field by field.
    fn best(self, other: Self) -> Self {
        let cpu = match (self.cpu_ns_per_sent, other.cpu_ns_per_sent) {
            (a, b) if a > 0.0 && b > 0.0 => a.min(b),
            (a, b) => a.max(b),
        };
        Self {
            sent: self.sent.max(other.sent),
            received: self.received.max(other.received),
            cpu_ns_per_sent: cpu,
        }
    }

    fn over(self, base: Self) -> Self {
        Self {
            sent: self.sent / base.sent,
            received: self.received / base.received,
            cpu_ns_per_sent: self.cpu_ns_per_sent / base.cpu_ns_per_sent,
        }
    }
}

/// One generator's best rates on the floor path.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rates {
    pub generator: Generator,
    pub pps_64: Pps,
    pub pps_1500: Pps,
}

/// The comparison and its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    /// sendmmsg's, then io_uring's.
    pub rates: [Rates; 2],
    /// io_uring's rates / sendmmsg's.
    pub io_uring_over_sendmmsg_64: Pps,
    pub io_uring_over_sendmmsg_1500: Pps,
    /// The generator every path is measured with: the one whose 64-byte
    /// datagrams the kernel accepted faster. That is the generator's own
    /// speed; the received rate is also bound by the sink.
    pub used: Generator,
}

impl Choice {
    /// From the rates of `Generator::ALL`, in that order.
    pub fn from_rates(rates: [Rates; 2]) -> Self {
        let [mmsg, uring] = rates;
        let ratio_64 = uring.pps_64.over(mmsg.pps_64);
        let used = if ratio_64.sent > 1.0 { uring.generator } else { mmsg.generator };
        Self {
            rates,
            io_uring_over_sendmmsg_64: ratio_64,
            io_uring_over_sendmmsg_1500: uring.pps_1500.over(mmsg.pps_1500),
            used,
        }
    }
}

/// Each generator's rates on a bare veth pair, best of `rounds` runs of
/// `secs` seconds, the generators taking turns so drift in the machine's
/// load hits both alike.
pub fn choose(secs: f64, rounds: usize) -> anyhow::Result<Choice> {
    let floor = paths::bare_veth("dpu")?;
    let mut rates = Generator::ALL.map(|generator| Rates {
        generator,
        pps_64: Pps::default(),
        pps_1500: Pps::default(),
    });
    for round in 1..=rounds {
        eprintln!("bench datapath: packet generators on the veth floor, round {round}/{rounds}...");
        for r in &mut rates {
            r.pps_64 = r.pps_64.best(measure_pps(&floor, 64, secs, r.generator)?);
            r.pps_1500 = r.pps_1500.best(measure_pps(&floor, 1500, secs, r.generator)?);
        }
    }
    Ok(Choice::from_rates(rates))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates(mmsg: f64, uring: f64) -> [Rates; 2] {
        let pps = |sent: f64| Pps { sent, received: 100.0, cpu_ns_per_sent: 1e9 / sent };
        [
            Rates { generator: Generator::Sendmmsg, pps_64: pps(mmsg), pps_1500: pps(mmsg / 2.0) },
            Rates { generator: Generator::IoUring, pps_64: pps(uring), pps_1500: pps(uring / 2.0) },
        ]
    }

    #[test]
    fn the_generator_with_the_higher_64_byte_send_rate_is_used() {
        let c = Choice::from_rates(rates(1.0e6, 1.2e6));
        assert_eq!(c.used, Generator::IoUring);
        assert_eq!(c.io_uring_over_sendmmsg_64.sent, 1.2);
        assert_eq!(c.io_uring_over_sendmmsg_64.received, 1.0);
        assert_eq!(Choice::from_rates(rates(1.2e6, 1.0e6)).used, Generator::Sendmmsg);
    }

    #[test]
    fn best_of_rounds_is_per_field() {
        let a = Pps { sent: 2.0, received: 1.0, cpu_ns_per_sent: 500.0 };
        let b = Pps { sent: 1.0, received: 3.0, cpu_ns_per_sent: 400.0 };
        assert_eq!(a.best(b), Pps { sent: 2.0, received: 3.0, cpu_ns_per_sent: 400.0 });
        assert_eq!(Pps::default().best(a), a, "the first round replaces the zero start");
    }
}

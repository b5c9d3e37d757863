//! The prober's socket-level code: SO_TIMESTAMPING on a UDP socket, replies
//! read with their timestamps, and TX timestamps read back from the error
//! queue, both through the core's [`murmuration_core::ptp::sys::recvmsg`].

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::BorrowedFd;

use murmuration_core::ptp;
use murmuration_core::ptp::cmsg::Stamps;
use nix::sys::socket::{TimestampingFlag, setsockopt, sockopt};
use nix::sys::time::TimeSpec;
use nix::time::{ClockId, clock_gettime};

/// TX and RX, software and hardware (raw PHC time), TX stamps without the
/// packet looped back.
fn timestamping_flags() -> TimestampingFlag {
    TimestampingFlag::SOF_TIMESTAMPING_TX_SOFTWARE
        | TimestampingFlag::SOF_TIMESTAMPING_RX_SOFTWARE
        | TimestampingFlag::SOF_TIMESTAMPING_SOFTWARE
        | TimestampingFlag::SOF_TIMESTAMPING_TX_HARDWARE
        | TimestampingFlag::SOF_TIMESTAMPING_RX_HARDWARE
        | TimestampingFlag::SOF_TIMESTAMPING_RAW_HARDWARE
        | TimestampingFlag::SOF_TIMESTAMPING_OPT_TSONLY
}

/// A non-blocking UDP socket bound to `bind` in this thread's network
/// namespace, with SO_TIMESTAMPING when `timestamping`.
pub fn open(bind: SocketAddr, timestamping: bool) -> io::Result<UdpSocket> {
    let sock = UdpSocket::bind(bind)?;
    sock.set_nonblocking(true)?;
    if timestamping {
        setsockopt(&sock, sockopt::Timestamping, &timestamping_flags())?;
    }
    Ok(sock)
}

fn ns(t: &TimeSpec) -> Option<i128> {
    let v = i128::from(t.tv_sec()) * 1_000_000_000 + i128::from(t.tv_nsec());
    (v != 0).then_some(v)
}

/// `CLOCK_REALTIME` in nanoseconds, the clock software timestamps use.
pub fn realtime_ns() -> i128 {
    clock_gettime(ClockId::CLOCK_REALTIME).ok().as_ref().and_then(ns).unwrap_or(0)
}

/// A datagram read by [`recv`].
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub len: usize,
    pub from: Option<SocketAddr>,
    pub rx: Stamps,
    /// `CLOCK_REALTIME` right after `recvmsg` returned.
    pub at_ns: i128,
}

/// One non-blocking `recvmsg` with its RX timestamps (`WouldBlock` when empty).
pub fn recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Received> {
    let msg = ptp::sys::recvmsg(fd, buf, libc::MSG_DONTWAIT)?;
    let at_ns = realtime_ns();
    Ok(Received { len: msg.len, from: msg.from, rx: msg.control.stamps, at_ns })
}

/// Drains the error queue; returns the TX timestamps found in it, merged
/// (software and hardware stamps of one packet come in separate messages).
pub fn drain_tx_stamps(fd: BorrowedFd<'_>) -> io::Result<Stamps> {
    let mut out = Stamps::default();
    let mut buf = [0u8; 64];
    loop {
        match ptp::sys::recvmsg(fd, &mut buf, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) {
            Ok(msg) => out = out.merge(msg.control.stamps),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(out),
            Err(e) => return Err(e),
        }
    }
}

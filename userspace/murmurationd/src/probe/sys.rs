//! The prober's socket-level code: SO_TIMESTAMPING on a UDP socket, replies
//! read with their control messages, and TX timestamps read back from the
//! error queue. Everything goes through nix's safe wrappers (no `unsafe`).

use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, SockaddrStorage, TimestampingFlag, Timestamps, recvmsg,
    setsockopt, sockopt,
};
use nix::sys::time::TimeSpec;
use nix::time::{ClockId, clock_gettime};

use super::rtt::Stamps;

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

fn stamps(t: &Timestamps) -> Stamps {
    Stamps { software: ns(&t.system), hardware: ns(&t.hw_raw) }
}

/// `CLOCK_REALTIME` in nanoseconds, the clock software timestamps use.
pub fn realtime_ns() -> i128 {
    clock_gettime(ClockId::CLOCK_REALTIME).ok().as_ref().and_then(ns).unwrap_or(0)
}

fn socket_addr(s: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    s.as_sockaddr_in6().map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
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
    let mut cmsg = nix::cmsg_space!(Timestamps, libc::sock_extended_err, libc::sockaddr_in6);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrStorage>(
        fd.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_DONTWAIT,
    )?;
    let at_ns = realtime_ns();
    let rx = msg
        .cmsgs()?
        .find_map(|c| match c {
            ControlMessageOwned::ScmTimestampsns(t) => Some(stamps(&t)),
            _ => None,
        })
        .unwrap_or_default();
    Ok(Received { len: msg.bytes, from: msg.address.as_ref().and_then(socket_addr), rx, at_ns })
}

/// Drains the error queue; returns the TX timestamps found in it, merged
/// (software and hardware stamps of one packet come in separate messages).
pub fn drain_tx_stamps(fd: BorrowedFd<'_>) -> io::Result<Stamps> {
    let mut out = Stamps::default();
    let mut buf = [0u8; 64];
    loop {
        let mut cmsg = nix::cmsg_space!(Timestamps, libc::sock_extended_err, libc::sockaddr_in6);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let flags = MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT;
        let msg = match recvmsg::<()>(fd.as_raw_fd(), &mut iov, Some(&mut cmsg), flags) {
            Ok(m) => m,
            Err(nix::errno::Errno::EAGAIN) => return Ok(out),
            Err(e) => return Err(e.into()),
        };
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmTimestampsns(t) = c {
                out = out.merge(stamps(&t));
            }
        }
    }
}

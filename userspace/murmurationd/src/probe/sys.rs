//! The prober's socket-level code: SO_TIMESTAMPING on a UDP socket, replies
//! read with their control messages, and TX timestamps read back from the
//! error queue. `recvmsg(2)` is called directly so the control bytes can be
//! handed to the core's allocation-free decoder
//! ([`murmuration_core::ptp::cmsg::parse`]).

use std::io;
use std::mem::MaybeUninit;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::{AsRawFd, BorrowedFd};

use murmuration_core::ptp::cmsg::{self, Stamps};
use nix::sys::socket::{SockaddrLike, SockaddrStorage, TimestampingFlag, setsockopt, sockopt};
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

/// Room for the control messages a reply or an error-queue entry carries:
/// `SCM_TIMESTAMPING` (64 bytes) and `IP(V6)_RECVERR` with its offender
/// address (64), with slack.
const CONTROL_LEN: usize = 256;

/// What one `recvmsg(2)` returned.
struct Message {
    len: usize,
    from: Option<SocketAddr>,
    control: cmsg::Control,
}

/// One non-blocking `recvmsg(2)` with `flags` (plus `MSG_DONTWAIT`).
fn recvmsg(fd: BorrowedFd<'_>, buf: &mut [u8], flags: libc::c_int) -> io::Result<Message> {
    let mut control = [0u8; CONTROL_LEN];
    let mut addr = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: an all-zero msghdr is valid (no name, no iov, no control).
    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    hdr.msg_name = addr.as_mut_ptr().cast();
    hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    hdr.msg_iov = &raw mut iov;
    hdr.msg_iovlen = 1;
    hdr.msg_control = control.as_mut_ptr().cast();
    hdr.msg_controllen = CONTROL_LEN as _;
    // SAFETY: every pointer in `hdr` points at a live local buffer of the
    // length stored next to it (`buf` through `iov`, `addr`, `control`),
    // all of which outlive the call; the kernel writes at most those lengths.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &raw mut hdr, flags | libc::MSG_DONTWAIT) };
    let len = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    let used = (hdr.msg_controllen as usize).min(CONTROL_LEN);
    // SAFETY: `addr` is a zero-initialised sockaddr_storage the kernel filled
    // `msg_namelen` bytes of; from_raw checks the family and the length.
    let from = unsafe { SockaddrStorage::from_raw(addr.as_ptr().cast(), Some(hdr.msg_namelen)) };
    Ok(Message {
        len,
        from: from.as_ref().and_then(socket_addr),
        control: cmsg::parse(&control[..used]),
    })
}

/// One non-blocking `recvmsg` with its RX timestamps (`WouldBlock` when empty).
pub fn recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Received> {
    let msg = recvmsg(fd, buf, 0)?;
    let at_ns = realtime_ns();
    Ok(Received { len: msg.len, from: msg.from, rx: msg.control.stamps, at_ns })
}

/// Drains the error queue; returns the TX timestamps found in it, merged
/// (software and hardware stamps of one packet come in separate messages).
pub fn drain_tx_stamps(fd: BorrowedFd<'_>) -> io::Result<Stamps> {
    let mut out = Stamps::default();
    let mut buf = [0u8; 64];
    loop {
        match recvmsg(fd, &mut buf, libc::MSG_ERRQUEUE) {
            Ok(msg) => out = out.merge(msg.control.stamps),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(out),
            Err(e) => return Err(e),
        }
    }
}

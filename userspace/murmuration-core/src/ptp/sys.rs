//! `recvmsg(2)` with SO_TIMESTAMPING control messages, called directly so
//! the control bytes reach the allocation-free decoder ([`super::cmsg`]);
//! the latency prober of the daemon and the benchmark's RTT client read
//! their timestamps through it. The module's only `unsafe` is that call.

use std::io;
use std::mem::MaybeUninit;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::sys::socket::{SockaddrLike, SockaddrStorage};

use super::cmsg;

/// Room for the control messages a reply or an error-queue entry carries:
/// `SCM_TIMESTAMPING` (64 bytes) and `IP(V6)_RECVERR` with its offender
/// address (64), with slack.
const CONTROL_LEN: usize = 256;

/// What one `recvmsg(2)` returned.
#[derive(Debug, Clone, Copy)]
pub struct Message {
    /// Bytes of the datagram written to the buffer.
    pub len: usize,
    pub from: Option<SocketAddr>,
    /// The decoded control messages (timestamps, error-queue key).
    pub control: cmsg::Control,
}

/// One `recvmsg(2)` with `flags` (`MSG_DONTWAIT`, `MSG_ERRQUEUE`...) into
/// `buf`, the control messages decoded by [`cmsg::parse`].
pub fn recvmsg(fd: BorrowedFd<'_>, buf: &mut [u8], flags: libc::c_int) -> io::Result<Message> {
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
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &raw mut hdr, flags) };
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

fn socket_addr(s: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    s.as_sockaddr_in6().map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
}

//! The tests' only raw system calls: an AF_PACKET socket bound to one
//! interface, for sending hand-built frames and counting what arrives.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A raw packet socket bound to `ifindex` for EtherType `proto` (host order).
pub struct PacketSocket(OwnedFd);

fn sockaddr(ifindex: u32, proto: u16) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = proto.to_be();
    addr.sll_ifindex = i32::try_from(ifindex).expect("ifindex fits");
    addr
}

const ADDR_LEN: u32 = size_of::<libc::sockaddr_ll>() as u32;

impl PacketSocket {
    /// Opens and binds the socket; `proto` 0 receives nothing (send-only).
    pub fn open(ifindex: u32, proto: u16, nonblocking: bool) -> Self {
        let kind = libc::SOCK_RAW | if nonblocking { libc::SOCK_NONBLOCK } else { 0 };
        // SAFETY: plain socket(2) call; the result is checked before use.
        let fd = unsafe { libc::socket(libc::AF_PACKET, kind, i32::from(proto.to_be())) };
        assert!(fd >= 0, "AF_PACKET socket: {}", std::io::Error::last_os_error());
        // SAFETY: `fd` is a fresh descriptor we own from here on.
        let sock = unsafe { OwnedFd::from_raw_fd(fd) };
        let addr = sockaddr(ifindex, proto);
        // SAFETY: `addr` is a valid sockaddr_ll of ADDR_LEN bytes.
        let rc = unsafe { libc::bind(sock.as_raw_fd(), (&raw const addr).cast(), ADDR_LEN) };
        assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
        Self(sock)
    }

    /// Sends one whole frame out of `ifindex`.
    pub fn send(&self, ifindex: u32, frame: &[u8]) {
        let mut addr = sockaddr(ifindex, 0);
        addr.sll_halen = 6;
        addr.sll_addr[..6].copy_from_slice(&frame[..6]);
        // SAFETY: `frame` and `addr` are valid for the lengths given.
        let n = unsafe {
            libc::sendto(
                self.0.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&raw const addr).cast(),
                ADDR_LEN,
            )
        };
        assert_eq!(n, frame.len() as isize, "sendto: {}", std::io::Error::last_os_error());
    }

    /// Receives one frame: `Some(packet type)` or `None` when nothing waits
    /// (non-blocking sockets).
    pub fn recv(&self, buf: &mut [u8]) -> Option<u8> {
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut len = ADDR_LEN;
        // SAFETY: `buf` and `from` are valid for the lengths given.
        let r = unsafe {
            libc::recvfrom(
                self.0.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                (&raw mut from).cast(),
                &raw mut len,
            )
        };
        (r >= 0).then_some(from.sll_pkttype)
    }
}

//! The packet helpers' system calls: AF_PACKET sockets (socket, setsockopt, bind, sendto, recvmsg with `PACKET_AUXDATA`).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use super::{ETH_P_8021Q, Frame};
use crate::netns::run_in;

/// Runs `f` on a thread that entered network namespace `ns` (`None`: the
/// caller's namespace, no switch). Sockets opened there stay in `ns`.
pub fn in_netns<T: Send>(ns: Option<&str>, f: impl FnOnce() -> T + Send) -> T {
    match ns {
        Some(ns) => run_in(Path::new(&format!("/run/netns/{ns}")), f),
        None => f(),
    }
}

/// A raw packet socket bound to one interface of one namespace.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: i32,
}

const ADDR_LEN: u32 = size_of::<libc::sockaddr_ll>() as u32;

fn sockaddr(ifindex: i32, proto: u16) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = proto.to_be();
    addr.sll_ifindex = ifindex;
    addr
}

impl PacketSocket {
    /// A non-blocking socket on `iface` in `ns` receiving EtherType `proto`
    /// (0: send-only, [`ETH_P_ALL`]: everything), with `PACKET_AUXDATA` on.
    pub fn open(ns: Option<&str>, iface: &str, proto: u16) -> Self {
        let iface = iface.to_owned();
        in_netns(ns, move || {
            let name = std::ffi::CString::new(iface.clone()).expect("name");
            // SAFETY: a valid NUL-terminated name.
            let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
            assert!(ifindex > 0, "no interface {iface}");
            let ifindex = i32::try_from(ifindex).expect("ifindex");
            let kind = libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
            // SAFETY: plain socket(2); the result is checked before use.
            let fd = unsafe { libc::socket(libc::AF_PACKET, kind, i32::from(proto.to_be())) };
            assert!(fd >= 0, "AF_PACKET socket: {}", std::io::Error::last_os_error());
            // SAFETY: `fd` is a fresh descriptor we own from here on.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let one: libc::c_int = 1;
            // SAFETY: a c_int option value of the size given.
            let rc = unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_PACKET,
                    libc::PACKET_AUXDATA,
                    (&raw const one).cast(),
                    size_of::<libc::c_int>() as u32,
                )
            };
            assert_eq!(rc, 0, "PACKET_AUXDATA: {}", std::io::Error::last_os_error());
            let addr = sockaddr(ifindex, proto);
            // SAFETY: `addr` is a valid sockaddr_ll of ADDR_LEN bytes.
            let rc = unsafe { libc::bind(fd.as_raw_fd(), (&raw const addr).cast(), ADDR_LEN) };
            assert_eq!(rc, 0, "bind {iface}: {}", std::io::Error::last_os_error());
            Self { fd, ifindex }
        })
    }

    /// Sends `count` copies of the whole frame `frame`.
    pub fn send(&self, frame: &[u8], count: usize) {
        let mut addr = sockaddr(self.ifindex, 0);
        addr.sll_halen = 6;
        addr.sll_addr[..6].copy_from_slice(&frame[..6]);
        for _ in 0..count {
            // SAFETY: `frame` and `addr` are valid for the lengths given.
            let n = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    frame.as_ptr().cast(),
                    frame.len(),
                    0,
                    (&raw const addr).cast(),
                    ADDR_LEN,
                )
            };
            assert_eq!(n, frame.len() as isize, "sendto: {}", std::io::Error::last_os_error());
        }
    }

    /// Everything received so far (drains the socket).
    pub fn drain(&self) -> Vec<Frame> {
        let mut frames = Vec::new();
        while let Some(f) = self.recv() {
            frames.push(f);
        }
        frames
    }

    /// Waits `settle`, then drains.
    pub fn collect(&self, settle: Duration) -> Vec<Frame> {
        std::thread::sleep(settle);
        self.drain()
    }

    fn recv(&self) -> Option<Frame> {
        let mut buf = vec![0u8; 2048];
        // u64-aligned room for one cmsg carrying tpacket_auxdata.
        let mut control = [0u64; 16];
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        // SAFETY: msghdr is plain data; all-zero is a valid value.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&raw mut from).cast();
        msg.msg_namelen = ADDR_LEN;
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of_val(&control) as _;
        // SAFETY: every pointer in `msg` is valid for the lengths it gives.
        let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &raw mut msg, 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "recvmsg: {e}");
            return None;
        }
        buf.truncate(usize::try_from(n).expect("length"));
        let mut aux_tag = None;
        // SAFETY: walking the control buffer the kernel filled, as CMSG_* define.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_PACKET
                    && (*cmsg).cmsg_type == libc::PACKET_AUXDATA
                {
                    let aux: libc::tpacket_auxdata =
                        std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                    if aux.tp_status & libc::TP_STATUS_VLAN_VALID != 0 {
                        let tpid = if aux.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                            aux.tp_vlan_tpid
                        } else {
                            ETH_P_8021Q
                        };
                        aux_tag = Some((tpid, aux.tp_vlan_tci));
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&raw const msg, cmsg);
            }
        }
        Some(Frame { data: buf, pkttype: from.sll_pkttype, aux_tag })
    }
}

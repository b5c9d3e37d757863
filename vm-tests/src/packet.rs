//! Raw frames on the wire and in pods: AF_PACKET sockets that send
//! hand-built frames and capture what passes, with the 802.1Q tag read from
//! `PACKET_AUXDATA` (a NIC with rx-vlan-offload, like the wire's igb, hands
//! the tag over in metadata), and UDP sockets opened inside a namespace.

use std::fs::File;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

pub type Mac = [u8; 6];

pub const ETH_P_ALL: u16 = 0x0003;
pub const ETH_P_8021Q: u16 = 0x8100;
pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_ARP: u16 = 0x0806;
pub const ETH_P_IPV6: u16 = 0x86dd;
pub const ETH_P_1588: u16 = 0x88f7;

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn mac(s: &str) -> Mac {
    let mut out = [0u8; 6];
    let parts: Vec<&str> = s.split(':').collect();
    assert_eq!(parts.len(), 6, "MAC {s}");
    for (b, p) in out.iter_mut().zip(parts) {
        *b = u8::from_str_radix(p, 16).expect("hex MAC");
    }
    out
}

/// Runs `f` on a thread that entered network namespace `ns` (`None`: the
/// guest's root namespace, no switch). Sockets opened there stay in `ns`.
pub fn in_netns<T: Send>(ns: Option<&str>, f: impl FnOnce() -> T + Send) -> T {
    let Some(ns) = ns else { return f() };
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = File::open(format!("/run/netns/{ns}")).expect("open netns");
            // SAFETY: setns(2) on a valid namespace fd, for this thread only.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {ns}: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .expect("netns thread panicked")
    })
}

/// One captured frame.
#[derive(Debug, Clone)]
pub struct Frame {
    pub data: Vec<u8>,
    /// `PACKET_HOST`, `PACKET_OUTGOING`, ...
    pub pkttype: u8,
    /// (TPID, TCI) of a tag the kernel holds in metadata (auxdata).
    pub aux_tag: Option<(u16, u16)>,
}

impl Frame {
    pub fn dst(&self) -> Mac {
        self.data[..6].try_into().expect("6 bytes")
    }

    pub fn src(&self) -> Mac {
        self.data[6..12].try_into().expect("6 bytes")
    }

    fn be16(&self, at: usize) -> u16 {
        u16::from_be_bytes([self.data[at], self.data[at + 1]])
    }

    /// The outer tag as (TPID, TCI): from metadata, else from the packet.
    pub fn tag(&self) -> Option<(u16, u16)> {
        self.aux_tag.or_else(|| {
            (self.data.len() >= 18 && self.be16(12) == ETH_P_8021Q)
                .then(|| (ETH_P_8021Q, self.be16(14)))
        })
    }

    pub fn vid(&self) -> Option<u16> {
        self.tag().map(|(_, tci)| tci & 0x0fff)
    }

    pub fn pcp(&self) -> Option<u16> {
        self.tag().map(|(_, tci)| tci >> 13)
    }

    /// The EtherType behind the (outer) tag, if any.
    pub fn ethertype(&self) -> u16 {
        if self.aux_tag.is_none() && self.be16(12) == ETH_P_8021Q && self.data.len() >= 18 {
            self.be16(16)
        } else {
            self.be16(12)
        }
    }

    /// The bytes behind the Ethernet header (and an in-packet tag).
    pub fn l3(&self) -> &[u8] {
        let tagged = self.aux_tag.is_none() && self.be16(12) == ETH_P_8021Q;
        &self.data[(if tagged { 18 } else { 14 }).min(self.data.len())..]
    }

    /// The UDP destination port of an IPv4 or IPv6 (no extension headers) datagram.
    pub fn udp_dport(&self) -> Option<u16> {
        let l3 = self.l3();
        let at = match self.ethertype() {
            ETH_P_IP if l3.len() >= 24 && l3[9] == 17 => usize::from(l3[0] & 0x0f) * 4,
            ETH_P_IPV6 if l3.len() >= 44 && l3[6] == 17 => 40,
            _ => return None,
        };
        l3.get(at + 2..at + 4).map(|p| u16::from_be_bytes([p[0], p[1]]))
    }

    pub fn outgoing(&self) -> bool {
        self.pkttype == libc::PACKET_OUTGOING
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

fn csum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum >> 16) + (sum & 0xffff);
    }
    !(sum as u16)
}

/// An Ethernet frame; `tag` puts an 802.1Q tag (TCI) in the packet.
pub fn ether(dst: Mac, src: Mac, tag: Option<u16>, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = [&dst[..], &src[..]].concat();
    if let Some(tci) = tag {
        f.extend(ETH_P_8021Q.to_be_bytes());
        f.extend(tci.to_be_bytes());
    }
    f.extend(ethertype.to_be_bytes());
    f.extend(payload);
    f
}

/// IPv4/UDP from `src` to `dst`, destination port `dport`.
pub fn ipv4_udp(src: [u8; 4], dst: [u8; 4], dport: u16, body: &[u8]) -> Vec<u8> {
    let ulen = (8 + body.len()) as u16;
    let udp =
        [&40000u16.to_be_bytes()[..], &dport.to_be_bytes(), &ulen.to_be_bytes(), &[0, 0], body]
            .concat();
    let total = (20 + udp.len()) as u16;
    let mut h = vec![0x45, 0];
    h.extend(total.to_be_bytes());
    h.extend([0, 1, 0, 0, 64, 17, 0, 0]);
    h.extend(src);
    h.extend(dst);
    let c = csum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    [h, udp].concat()
}

/// A minimal PTP (IEEE 1588 v2) Sync message body.
pub fn ptp_message() -> Vec<u8> {
    [&[0u8, 2][..], &[0; 42]].concat()
}

/// Sends `count` UDP datagrams from namespace `from` to `to` (a listener
/// bound in namespace `to_ns`) and returns how many arrived.
pub fn udp_exchange(
    from: Option<&str>,
    to_ns: Option<&str>,
    to: SocketAddr,
    count: usize,
) -> usize {
    let listener = in_netns(to_ns, || UdpSocket::bind(to).expect("bind UDP listener"));
    listener.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
    in_netns(from, || {
        let any: SocketAddr =
            if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().expect("any");
        let s = UdpSocket::bind(any).expect("bind UDP sender");
        for i in 0..count {
            s.send_to(format!("datagram {i}").as_bytes(), to).expect("send UDP");
        }
    });
    let mut buf = [0u8; 64];
    (0..count).take_while(|_| listener.recv_from(&mut buf).is_ok()).count()
}

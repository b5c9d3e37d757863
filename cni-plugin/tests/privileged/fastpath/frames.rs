//! Crafted Ethernet frames sent with an AF_PACKET socket from inside a
//! namespace, and UDP sockets opened in one (each on a thread of its own
//! that entered the namespace).

use super::sys::PacketSocket;
use std::fs::File;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use nix::sched::{CloneFlags, setns};

use crate::common::Netns;

/// Runs `f` on a thread that entered `ns`'s network namespace.
pub fn in_netns<T: Send>(ns: &Netns, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = File::open(ns.path()).expect("open netns");
            setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .expect("netns thread panicked")
    })
}

pub type Mac = [u8; 6];

pub fn mac(s: &str) -> Mac {
    let mut out = [0u8; 6];
    for (b, p) in out.iter_mut().zip(s.split(':')) {
        *b = u8::from_str_radix(p, 16).expect("hex MAC");
    }
    out
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

fn udp(dport: u16, body: &[u8]) -> Vec<u8> {
    let len = (8 + body.len()) as u16;
    [&40000u16.to_be_bytes()[..], &dport.to_be_bytes(), &len.to_be_bytes(), &[0, 0], body].concat()
}

/// An IPv4 packet (with `options`, a multiple of 4 bytes) around `payload`.
fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8], options: &[u8]) -> Vec<u8> {
    let ihl = 5 + options.len() / 4;
    let total = (ihl * 4 + payload.len()) as u16;
    let mut h = vec![(4 << 4) | ihl as u8, 0];
    h.extend(total.to_be_bytes());
    h.extend([0, 1, 0, 0, 64, 17, 0, 0]);
    h.extend(src.octets());
    h.extend(dst.octets());
    h.extend(options);
    let c = csum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    [h, payload.to_vec()].concat()
}

fn ipv6(payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend((payload.len() as u16).to_be_bytes());
    h.extend([17, 64]);
    h.extend("fd00:100::254".parse::<Ipv6Addr>().expect("v6").octets());
    h.extend("fd00:100::1".parse::<Ipv6Addr>().expect("v6").octets());
    [h, payload.to_vec()].concat()
}

/// Kinds of test frame.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    PtpL2,
    PtpUdp4,
    /// PTP general port over IPv4 with an IP option (IHL 6).
    PtpUdp4Options,
    PtpUdp6,
    /// Plain IPv4/UDP to port 9999.
    Udp4,
    /// IPv4/UDP with an in-packet 802.1Q tag of this VLAN.
    Tagged(u16),
}

pub fn frame(kind: Kind, dst: Mac, src: Mac) -> Vec<u8> {
    let ptp = [&[0u8, 2][..], &[0; 42]].concat();
    let (a, b) = (Ipv4Addr::new(10, 100, 0, 254), Ipv4Addr::new(10, 100, 0, 1));
    let (ethertype, payload): (u16, Vec<u8>) = match kind {
        Kind::PtpL2 => (0x88f7, ptp),
        Kind::PtpUdp4 => (0x0800, ipv4(a, b, &udp(319, &ptp), &[])),
        Kind::PtpUdp4Options => (0x0800, ipv4(a, b, &udp(320, &ptp), &[1, 1, 1, 0])),
        Kind::PtpUdp6 => (0x86dd, ipv6(&udp(319, &ptp))),
        Kind::Udp4 => (0x0800, ipv4(a, b, &udp(9999, &[0; 44]), &[])),
        Kind::Tagged(vid) => {
            let inner = ipv4(a, b, &udp(9999, &[0; 44]), &[]);
            (0x8100, [&(vid & 0x0fff).to_be_bytes()[..], &0x0800u16.to_be_bytes(), &inner].concat())
        }
    };
    [&dst[..], &src, &ethertype.to_be_bytes(), &payload].concat()
}

/// Sends `count` copies of `frame` out of `iface` in `ns`.
pub fn send(ns: &Netns, iface: &str, frame: &[u8], count: usize) {
    in_netns(ns, || {
        let ifindex = nix::net::if_::if_nametoindex(iface).expect("ifindex");
        let sock = PacketSocket::open(ifindex, 0, false);
        for _ in 0..count {
            sock.send(ifindex, frame);
        }
    });
}

/// Sends `count` UDP datagrams from `from` to `to` (a listener in `to_ns`)
/// and returns how many arrived.
pub fn udp_exchange(from: &Netns, to_ns: &Netns, to: SocketAddr, count: usize) -> usize {
    let listener = in_netns(to_ns, || UdpSocket::bind(to).expect("bind UDP listener"));
    listener.set_read_timeout(Some(std::time::Duration::from_millis(500))).expect("timeout");
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

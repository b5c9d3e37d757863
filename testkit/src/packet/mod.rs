//! Raw frames on the wire and in pods: AF_PACKET sockets that send
//! hand-built frames and capture what passes, with the 802.1Q tag read from
//! `PACKET_AUXDATA` (a NIC with rx-vlan-offload, like the VM wire's igb, hands
//! the tag over in metadata), and UDP sockets opened inside a namespace.

mod sys;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

pub use sys::{PacketSocket, in_netns};

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

/// The Internet checksum (RFC 1071) of `data`.
pub fn csum(data: &[u8]) -> u16 {
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

/// A UDP datagram (source port 40000, no checksum) to `dport`.
pub fn udp(dport: u16, body: &[u8]) -> Vec<u8> {
    let len = (8 + body.len()) as u16;
    [&40000u16.to_be_bytes()[..], &dport.to_be_bytes(), &len.to_be_bytes(), &[0, 0], body].concat()
}

/// An IPv4 packet carrying UDP (with `options`, a multiple of 4 bytes) around `payload`.
pub fn ipv4(src: [u8; 4], dst: [u8; 4], payload: &[u8], options: &[u8]) -> Vec<u8> {
    let ihl = 5 + options.len() / 4;
    let total = (ihl * 4 + payload.len()) as u16;
    let mut h = vec![(4 << 4) | ihl as u8, 0];
    h.extend(total.to_be_bytes());
    h.extend([0, 1, 0, 0, 64, 17, 0, 0]);
    h.extend(src);
    h.extend(dst);
    h.extend(options);
    let c = csum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    [h, payload.to_vec()].concat()
}

/// IPv4/UDP from `src` to `dst`, destination port `dport`.
pub fn ipv4_udp(src: [u8; 4], dst: [u8; 4], dport: u16, body: &[u8]) -> Vec<u8> {
    ipv4(src, dst, &udp(dport, body), &[])
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_frames_parse_back() {
        let (dst, src) = (mac("02:00:00:00:00:01"), mac("02:00:00:00:00:02"));
        let ip = ipv4([10, 0, 0, 1], [10, 0, 0, 2], &udp(319, &ptp_message()), &[1, 1, 1, 0]);
        assert_eq!(csum(&ip[..24]), 0, "a header with its checksum sums to zero");
        let f =
            Frame { data: ether(dst, src, Some(0xa064), ETH_P_IP, &ip), pkttype: 0, aux_tag: None };
        assert_eq!((f.dst(), f.src()), (dst, src));
        assert_eq!((f.vid(), f.pcp(), f.ethertype()), (Some(100), Some(5), ETH_P_IP));
        assert_eq!(f.udp_dport(), Some(319), "behind a 24-byte header with options");
    }
}

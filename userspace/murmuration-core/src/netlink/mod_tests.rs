use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};

use super::*;

/// One RTM_NEWLINK of `attrs` aliases of `each` bytes, as the kernel frames it.
fn big_link(seq: u32, attrs: usize, each: usize) -> Vec<u8> {
    let mut link = LinkMessage::default();
    link.header.index = 7;
    link.attributes = (0..attrs).map(|_| LinkAttribute::IfAlias("v".repeat(each))).collect();
    let mut header = NetlinkHeader::default();
    header.sequence_number = seq;
    let mut nl = NetlinkMessage::new(
        header,
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)),
    );
    nl.finalize();
    let mut out = vec![0; nl.buffer_len()];
    nl.serialize(&mut out);
    out
}

#[test]
fn a_datagram_beyond_64_kib_decodes_every_message() {
    // Two link messages of ~100 KiB each: more than the old fixed buffer.
    let datagram = [big_link(1, 25, 4000), big_link(2, 25, 4000)].concat();
    assert!(datagram.len() > 2 * 64 * 1024);
    let mut seen = Vec::new();
    for_each_message(&datagram, |seq, payload| {
        if let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) = payload {
            seen.push((seq, l.header.index, l.attributes.len()));
        }
    })
    .expect("decodes");
    assert_eq!(seen, [(1, 7, 25), (2, 7, 25)]);
}

#[test]
fn a_cut_datagram_is_a_decode_error_not_a_panic() {
    let whole = big_link(3, 20, 4000);
    for cut in [1, 15, 16, 17, 64 * 1024, whole.len() - 1] {
        let mut n = 0;
        let r = for_each_message(&whole[..cut], |_, _| n += 1);
        assert!(r.is_err(), "{cut} bytes");
        assert_eq!(n, 0, "{cut} bytes: no message from a cut datagram");
    }
    assert!(for_each_message(&[], |_, _| unreachable!()).is_ok());
}

/// Serializes `msgs` as the kernel sends a dump: one datagram, each message
/// padded to 4 bytes, sequence numbers from 1.
fn datagram(msgs: Vec<RouteNetlinkMessage>) -> Vec<u8> {
    let mut out = Vec::new();
    for (seq, msg) in (1..).zip(msgs) {
        let mut header = NetlinkHeader::default();
        header.sequence_number = seq;
        let mut nl = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        nl.finalize();
        let start = out.len();
        out.resize(start + nl.buffer_len(), 0);
        nl.serialize(&mut out[start..]);
        out.resize(out.len().next_multiple_of(4), 0);
    }
    out
}

fn link(index: u32, name: &str) -> RouteNetlinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.attributes.push(LinkAttribute::IfName(name.to_owned()));
    m.attributes.push(LinkAttribute::Mtu(1500));
    RouteNetlinkMessage::NewLink(m)
}

#[test]
fn a_datagram_splits_into_its_messages() {
    let mut addr = AddressMessage::default();
    addr.header.family = netlink_packet_route::AddressFamily::Inet;
    addr.header.prefix_len = 24;
    addr.attributes.push(AddressAttribute::Local([10, 0, 0, 2].into()));
    let bytes = datagram(vec![link(7, "up0"), RouteNetlinkMessage::NewAddress(addr)]);
    let mut seen = Vec::new();
    for_each_message(&bytes, |seq, payload| seen.push((seq, payload))).expect("decodes");
    assert_eq!(seen.len(), 2);
    let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) = &seen[0].1 else {
        panic!("first is the link: {:?}", seen[0]);
    };
    let info = LinkInfo::from_message(l);
    assert_eq!((seen[0].0, info.index, info.name.as_str(), info.mtu), (1, 7, "up0", Some(1500)));
    let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(a)) = &seen[1].1 else {
        panic!("second is the address: {:?}", seen[1]);
    };
    assert_eq!(address_of(a).map(|n| n.to_string()).as_deref(), Some("10.0.0.2/24"));
}

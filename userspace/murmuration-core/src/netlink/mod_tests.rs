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

/// The pod namespace's fd as a request carries it (`IFLA_NET_NS_FD`).
fn own_netns() -> std::fs::File {
    std::fs::File::open("/proc/self/ns/net").expect("own netns")
}

fn lines(nl: &Netlink<recorder::Recorder>) -> Vec<String> {
    nl.recorder().requests().iter().map(|(h, m)| canned::summary(h, m)).collect()
}

#[test]
fn an_802_1ad_subinterface_is_one_rtm_newlink_byte_for_byte() {
    use std::os::fd::{AsFd, AsRawFd};
    let ns = own_netns();
    let mut nl = recorder::netlink([]);
    let spec = VlanSpec {
        name: "net1",
        master: 3,
        vlan: 100,
        proto: crate::cni::config::VlanProto::Dot1Ad,
        netns: ns.as_fd(),
        mtu: None,
        mac: None,
    };
    nl.create_vlan(&spec).expect("acked");
    let fd = u32::try_from(ns.as_raw_fd()).expect("fd").to_le_bytes();
    #[rustfmt::skip]
    let want: Vec<u8> = [
        // struct nlmsghdr: length 96, RTM_NEWLINK (16),
        // NLM_F_REQUEST|NLM_F_ACK|NLM_F_EXCL|NLM_F_CREATE (0x605), seq 1, port 0
        &[96, 0, 0, 0,   16, 0,   0x05, 0x06,   1, 0, 0, 0,   0, 0, 0, 0][..],
        // struct ifinfomsg: all zero (the kernel picks the index)
        &[0; 16],
        // IFLA_IFNAME (3) "net1\0", padded to 12
        &[9, 0, 3, 0,   b'n', b'e', b't', b'1', 0, 0, 0, 0],
        // IFLA_LINK (5): the master's index 3
        &[8, 0, 5, 0,   3, 0, 0, 0],
        // IFLA_NET_NS_FD (28): the pod namespace's fd
        &[8, 0, 28, 0],
        &fd,
        // IFLA_LINKINFO (18), 36 bytes
        &[36, 0, 18, 0],
        //   IFLA_INFO_KIND (1) "vlan\0", padded to 12
        &[9, 0, 1, 0,   b'v', b'l', b'a', b'n', 0, 0, 0, 0],
        //   IFLA_INFO_DATA (2), 20 bytes
        &[20, 0, 2, 0],
        //     IFLA_VLAN_ID (1): 100, padded to 8
        &[6, 0, 1, 0,   100, 0, 0, 0],
        //     IFLA_VLAN_PROTOCOL (5): ETH_P_8021AD, big endian, padded to 8
        &[6, 0, 5, 0,   0x88, 0xa8, 0, 0],
    ]
    .concat();
    assert_eq!(nl.recorder().sent(), [want]);
}

#[test]
fn a_link_moves_to_a_namespace_and_is_renamed_in_one_request() {
    use std::os::fd::AsFd;
    let ns = own_netns();
    let mut nl = recorder::netlink([]);
    nl.move_link(7, ns.as_fd(), Some("net1")).expect("acked");
    nl.move_link(8, ns.as_fd(), None).expect("acked");
    assert_eq!(lines(&nl), ["set #7 netns <fd> name net1 [ack]", "set #8 netns <fd> [ack]"]);
}

#[test]
fn a_veth_pair_is_one_request_with_the_peer_in_the_pod_namespace() {
    use std::os::fd::AsFd;
    let ns = own_netns();
    let mut nl = recorder::netlink([]);
    let spec = VethSpec {
        host_name: "mm0123456789abc",
        peer_name: "net1",
        peer_ns: ns.as_fd(),
        peer_mac: Some(crate::cni::types::MacAddr([2, 0, 0, 0, 0, 1])),
        mtu: Some(1400),
    };
    nl.create_veth(&spec).expect("acked");
    assert_eq!(
        lines(&nl),
        ["new mm0123456789abc up mtu 1400 type veth \
          peer { net1 netns <fd> address 02:00:00:00:00:01 mtu 1400 } [ack|create|excl]"]
    );
}

#[test]
fn a_batch_is_one_datagram_and_the_first_refusal_names_its_request() {
    let mut nl = recorder::netlink([
        recorder::Reply::Ack,
        recorder::Reply::Errno(libc::EEXIST),
        recorder::Reply::Errno(libc::EINVAL),
    ]);
    let addr = "10.0.0.2/24".parse().expect("net");
    let e = nl
        .batch(vec![link_up_request(5), address_request(5, addr), address_request(5, addr)])
        .expect_err("refused");
    assert!(e.is_exists(), "{e:?}");
    assert!(e.to_string().starts_with("add address"), "{e}");
    assert_eq!((nl.recorder().sent().len(), nl.recorder().datagrams()), (3, 1));
}

#[test]
fn deleting_a_link_that_is_gone_is_not_an_error() {
    let mut nl = recorder::netlink([recorder::Reply::Errno(libc::ENODEV)]);
    assert!(!nl.delete_link("mm0123456789abc").expect("gone counts as done"));
    let mut nl = recorder::netlink([recorder::Reply::Errno(libc::EPERM)]);
    assert!(nl.delete_link("mm0123456789abc").is_err());
    assert_eq!(lines(&nl), ["del mm0123456789abc [ack]"]);
}

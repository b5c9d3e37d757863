//! Kernel rtnetlink replies as the core receives them: a datagram split into
//! messages, then read as links (with VF info lists), addresses and routes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use murmuration_core::netlink::{LinkInfo, address_of, for_each_message, vf_state_from};
use netlink_packet_core::NetlinkPayload;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{LinkAttribute, VfInfo};

fuzz_target!(|data: &[u8]| {
    let _ = for_each_message(data, |_seq, payload| {
        let NetlinkPayload::InnerMessage(msg) = payload else {
            return;
        };
        match msg {
            RouteNetlinkMessage::NewLink(l) => {
                let info = LinkInfo::from_message(&l);
                assert_eq!(info.index, l.header.index);
                for vf in vf_ids(&l.attributes) {
                    assert!(vf_state_from(&l.attributes, vf).is_some(), "VF {vf} is listed");
                }
                let view = murmurationd::inventory::links::decode(&l);
                assert_eq!(view.index, info.index);
            }
            RouteNetlinkMessage::NewAddress(a) => {
                let _ = address_of(&a);
            }
            _ => {}
        }
    });
});

/// The VF ids the (first) `IFLA_VFINFO_LIST` of a PF names by their MAC entries.
fn vf_ids(attrs: &[LinkAttribute]) -> Vec<u32> {
    let list = attrs.iter().find_map(|a| match a {
        LinkAttribute::VfInfoList(list) => Some(list),
        _ => None,
    });
    list.into_iter()
        .flatten()
        .flat_map(|vf| &vf.0)
        .filter_map(|info| match info {
            VfInfo::Mac(m) => Some(m.vf_id),
            _ => None,
        })
        .collect()
}

use murmuration_common::{ATTACH_F_TRUNK, ETH_P_8021Q, PodConfig, VlanMember, VlanMembers};

use super::{memberships, remove_member, upsert_member};

fn pc(vlan: u16, trunk: &[u16]) -> PodConfig {
    let mut pc = PodConfig {
        mac: [2, 0, 0, 0, 0, 1],
        vlan_id: vlan,
        tpid: ETH_P_8021Q,
        ..PodConfig::default()
    };
    if !trunk.is_empty() {
        pc.flags |= murmuration_common::POD_F_TRUNK;
        trunk.iter().for_each(|&v| pc.allow_vlan(v));
    }
    pc
}

#[test]
fn an_access_port_is_an_untagged_member_of_its_vlan() {
    assert_eq!(memberships(&pc(100, &[])), vec![(100, 0)]);
    assert_eq!(memberships(&pc(0, &[])), vec![(0, 0)]);
}

#[test]
fn a_trunk_port_is_a_tagged_member_of_each_allowed_vlan() {
    let m = memberships(&pc(10, &[10, 20, 4094]));
    assert_eq!(m, vec![(10, 0), (20, ATTACH_F_TRUNK), (4094, ATTACH_F_TRUNK)]);
    assert_eq!(memberships(&pc(0, &[5])), vec![(5, ATTACH_F_TRUNK)]);
}

#[test]
fn ptp_to_host_marks_every_membership() {
    use murmuration_common::{ATTACH_F_PTP_TO_HOST as P, POD_F_PTP_TO_HOST};
    let mut port = pc(10, &[20]);
    port.flags |= POD_F_PTP_TO_HOST;
    assert_eq!(memberships(&port), vec![(10, P), (20, ATTACH_F_TRUNK | P)]);
}

fn member(ifindex: u32, id: u32) -> VlanMember {
    VlanMember { host_ifindex: ifindex, attach_id: id, ..VlanMember::default() }
}

#[test]
fn member_lists_update_in_place_and_stay_compact() {
    let mut m = VlanMembers::default();
    for i in 1..=3 {
        assert!(upsert_member(&mut m, member(i, i)));
    }
    assert!(upsert_member(&mut m, member(2, 9)));
    assert_eq!(m.count, 3);
    assert_eq!(m.members[1].attach_id, 9);
    remove_member(&mut m, 1);
    remove_member(&mut m, 42);
    assert_eq!(m.count, 2);
    assert_eq!(m.members[0].host_ifindex, 2);
    assert_eq!(m.members[2], VlanMember::default());
}

#[test]
fn a_full_member_list_refuses_a_new_member() {
    let mut m = VlanMembers::default();
    for i in 0..murmuration_common::MAX_VLAN_MEMBERS as u32 {
        assert!(upsert_member(&mut m, member(i + 1, i + 1)));
    }
    assert!(!upsert_member(&mut m, member(999, 999)));
    assert!(upsert_member(&mut m, member(1, 7)), "an existing member can still be updated");
}

//! The requests a VF restore sends, against a recorded netlink client.

use super::*;
use crate::cni::config::{LinkState, Mode};

use crate::netlink::canned::{link, pf_with_vf, summary};
use crate::netlink::recorder::{self, Recorder, Reply};
use crate::state::fixture;

const PF: u32 = 4;
const VF_NETDEV: u32 = 9;

fn mac(last: u8) -> MacAddr {
    MacAddr([0x02, 0, 0, 0, 0, last])
}

/// What the VF looked like before ADD.
fn original() -> VfState {
    VfState {
        mac: Some(mac(0x0a)),
        vlan: 100,
        qos: 3,
        proto: None,
        spoofchk: Some(true),
        trust: Some(false),
        link_state: Some(LinkState::Auto),
        min_tx_rate: 0,
        max_tx_rate: 0,
    }
}

/// What ADD made of it: every property changed.
fn changed() -> VfState {
    VfState {
        mac: Some(mac(0x0b)),
        vlan: 0,
        qos: 0,
        proto: None,
        spoofchk: Some(false),
        trust: Some(true),
        link_state: Some(LinkState::Enable),
        min_tx_rate: 10,
        max_tx_rate: 100,
    }
}

fn netdev() -> NetdevState {
    NetdevState {
        name: "eth5".into(),
        mac: Some(mac(0x05)),
        mtu: Some(1500),
        up: true,
        altnames: vec!["enp0s3v2".into()],
    }
}

fn record(netdev: Option<NetdevState>) -> Record {
    Record {
        netns: None,
        mode: Mode::Sriov,
        host_ifname: None,
        mtu: None,
        ipam_allocated: false,
        vf: Some(VfRecord {
            pci: "0000:00:03.2".into(),
            pf_pci: "0000:00:03.0".into(),
            pf_netdev: "pf0".into(),
            index: 2,
            driver: None,
            userspace: netdev.is_none(),
            original: original(),
            netdev,
            device_info_file: None,
        }),
        ..fixture("c1", "net1")
    }
}

/// A sysfs tree in which the VF's netdev is back in the host as `name`.
fn sysfs_with_netdev(root: &Path, name: &str) -> Sysfs {
    std::fs::create_dir_all(root.join("bus/pci/devices/0000:00:03.2/net").join(name))
        .expect("fake sysfs");
    Sysfs::new(root)
}

fn run(
    rec: &Record,
    sysfs: &Sysfs,
    script: Vec<Reply>,
) -> (Result<(), CniError>, Vec<String>, Netlink<Recorder>) {
    let mut host = recorder::netlink(script);
    let r = restore_vf_in(sysfs, rec, &mut host);
    let lines = host.recorder().requests().iter().map(|(h, m)| summary(h, m)).collect();
    (r, lines, host)
}

/// The PF side of a restore: the PF and its VF table read, then one
/// request per changed property, MAC first.
const PF_SIDE: [&str; 8] = [
    "get pf0",
    "get #4 ext-mask vf",
    "set #4 vf 2 mac 02:00:00:00:00:0a [ack]",
    "set #4 vf 2 vlan 100 qos 3 [ack]",
    "set #4 vf 2 spoofchk on [ack]",
    "set #4 vf 2 trust off [ack]",
    "set #4 vf 2 state Auto [ack]",
    "set #4 vf 2 min_tx_rate 0 max_tx_rate 0 [ack]",
];

#[test]
fn a_userspace_vf_gets_every_changed_property_back_in_order() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let script = vec![link(PF, "pf0", mac(1), 1500, &[]), pf_with_vf(PF, 2, &changed())];
    let (r, lines, host) = run(&record(None), &Sysfs::new(tmp.path()), script);
    r.expect("restored");
    assert_eq!(lines, PF_SIDE);
    assert_eq!(host.recorder().unused(), 0);
}

#[test]
fn an_unchanged_vf_gets_no_set_request() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let script = vec![link(PF, "pf0", mac(1), 1500, &[]), pf_with_vf(PF, 2, &original())];
    let (r, lines, _) = run(&record(None), &Sysfs::new(tmp.path()), script);
    r.expect("restored");
    assert_eq!(lines, PF_SIDE[..2]);
}

/// Host-side netdev under a temporary name, 9000 MTU, no altname: all put back.
fn netdev_script(vf_table: &VfState) -> Vec<Reply> {
    vec![
        link(VF_NETDEV, "mmvf2", mac(0x0b), 9000, &[]),
        Reply::Ack,
        link(PF, "pf0", mac(1), 1500, &[]),
        pf_with_vf(PF, 2, vf_table),
        link(VF_NETDEV, "mmvf2", mac(0x0b), 9000, &[]),
    ]
}

/// A kernel VF's netdev found in the host, taken down, the PF side read.
const HOME: [&str; 4] = ["get mmvf2", "set #9 down [ack]", "get pf0", "get #4 ext-mask vf"];

/// The netdev's name, MAC, MTU and altnames put back, then brought up.
const NETDEV: [&str; 6] = [
    "get #9",
    "set #9 name eth5 [ack]",
    "set #9 address 02:00:00:00:00:05 [ack]",
    "set #9 mtu 1500 [ack]",
    "prop add #9 AltIfName(\"enp0s3v2\") [ack]",
    "set #9 up [ack]",
];

#[test]
fn a_kernel_vf_netdev_is_taken_down_then_restored_and_brought_up() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sysfs = sysfs_with_netdev(tmp.path(), "mmvf2");
    let (r, lines, host) = run(&record(Some(netdev())), &sysfs, netdev_script(&original()));
    r.expect("restored");
    assert_eq!(lines, [&HOME[..], &NETDEV[..]].concat());
    assert_eq!(host.recorder().unused(), 0);
}

#[test]
fn a_refused_vf_property_stops_the_pf_side_but_not_the_netdev_restore() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sysfs = sysfs_with_netdev(tmp.path(), "mmvf2");
    let mut script = netdev_script(&changed());
    // MAC and VLAN accepted, spoofchk refused (a driver without spoof checking).
    script.splice(4..4, [Reply::Ack, Reply::Ack, Reply::Errno(libc::EINVAL)]);
    let (r, lines, host) = run(&record(Some(netdev())), &sysfs, script);
    let e = r.expect_err("the refusal is reported");
    assert_eq!(e.code, ErrorCode::Netlink as u32);
    assert!(e.msg.contains("restoring VF 0000:00:03.2"), "{}", e.msg);
    assert!(e.msg.contains("set VF spoofchk refused"), "{}", e.msg);
    let pf_side = [
        "set #4 vf 2 mac 02:00:00:00:00:0a [ack]",
        "set #4 vf 2 vlan 100 qos 3 [ack]",
        "set #4 vf 2 spoofchk on [ack]",
        // trust, link state and rate are not attempted after the refusal;
        // the netdev is still restored.
    ];
    assert_eq!(lines, [&HOME[..], &pf_side, &NETDEV].concat());
    assert_eq!(host.recorder().unused(), 0);
}

/// The request that puts back VLAN 100 QoS 3 (`proto`) on a VF found on
/// VLAN 0: the third, after the PF lookup and its VF table.
fn vlan_restore(proto: Option<crate::cni::config::VlanProto>) -> Vec<u8> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut rec = record(None);
    if let Some(vf) = rec.vf.as_mut() {
        vf.original.proto = proto;
    }
    let now = VfState { vlan: 0, qos: 0, ..original() };
    let script = vec![link(PF, "pf0", mac(1), 1500, &[]), pf_with_vf(PF, 2, &now)];
    let (r, _, host) = run(&rec, &Sysfs::new(tmp.path()), script);
    r.expect("restored");
    let sent = host.recorder().sent();
    assert_eq!(sent.len(), 3, "lookup, VF table, one VLAN change");
    sent[2].clone()
}

#[test]
fn a_vlan_restore_is_one_setlink_with_ifla_vfinfo_list_byte_for_byte() {
    let sent = vlan_restore(None);
    #[rustfmt::skip]
    let want: [u8; 56] = [
        // struct nlmsghdr: length 56, RTM_SETLINK (19), NLM_F_REQUEST|NLM_F_ACK, seq 3, port 0
        56, 0, 0, 0,   19, 0,   5, 0,   3, 0, 0, 0,   0, 0, 0, 0,
        // struct ifinfomsg: AF_UNSPEC, pad, type 0, index 4, flags 0, change 0
        0, 0, 0, 0,   4, 0, 0, 0,   0, 0, 0, 0,   0, 0, 0, 0,
        // IFLA_VFINFO_LIST (22), 24 bytes
        24, 0, 22, 0,
        //   IFLA_VF_INFO (1), 20 bytes
        20, 0, 1, 0,
        //     IFLA_VF_VLAN (2), 16 bytes: struct ifla_vf_vlan { vf 2, vlan 100, qos 3 }
        16, 0, 2, 0,   2, 0, 0, 0,   100, 0, 0, 0,   3, 0, 0, 0,
    ];
    assert_eq!(sent, want);
}

#[test]
fn an_802_1ad_vlan_restore_uses_ifla_vf_vlan_list_byte_for_byte() {
    let sent = vlan_restore(Some(crate::cni::config::VlanProto::Dot1Ad));
    #[rustfmt::skip]
    let want: [u8; 64] = [
        // struct nlmsghdr: length 64, RTM_SETLINK (19), NLM_F_REQUEST|NLM_F_ACK, seq 3, port 0
        64, 0, 0, 0,   19, 0,   5, 0,   3, 0, 0, 0,   0, 0, 0, 0,
        // struct ifinfomsg: AF_UNSPEC, pad, type 0, index 4, flags 0, change 0
        0, 0, 0, 0,   4, 0, 0, 0,   0, 0, 0, 0,   0, 0, 0, 0,
        // IFLA_VFINFO_LIST (22), 32 bytes
        32, 0, 22, 0,
        //   IFLA_VF_INFO (1), 28 bytes
        28, 0, 1, 0,
        //     IFLA_VF_VLAN_LIST (12), 24 bytes
        24, 0, 12, 0,
        //       IFLA_VF_VLAN_INFO (1), 20 bytes: struct ifla_vf_vlan_info (16 bytes)
        //       { vf 2, vlan 100, qos 3, vlan_proto ETH_P_8021AD (0x88a8, big endian), pad }
        20, 0, 1, 0,   2, 0, 0, 0,   100, 0, 0, 0,   3, 0, 0, 0,   0x88, 0xa8, 0, 0,
    ];
    assert_eq!(sent, want);
}

use murmuration_common::{
    ETH_P_8021AD, ETH_P_8021Q, Histogram, POD_F_NO_SPOOFCHK, POD_F_PTP_TO_HOST, POD_F_TRUNK,
};

use super::stats::{prometheus_buckets, quantile_le_ns};
use super::{PortSpec, validate};

fn spec() -> PortSpec {
    PortSpec {
        host_if: "mm0".into(),
        mac: [2, 0, 0, 0, 0, 1],
        vlan: 100,
        trunk: Vec::new(),
        tpid: ETH_P_8021Q,
        pcp: 0,
        spoofchk: true,
        ptp_to_host: false,
        ptp_priority: false,
        ip_spoofchk: false,
        ips: Vec::new(),
        rates: Default::default(),
    }
}

#[test]
fn a_port_spec_becomes_the_programs_config() {
    let pc = validate(&PortSpec { pcp: 5, tpid: ETH_P_8021AD, ..spec() }).expect("valid");
    assert_eq!((pc.vlan_id, pc.pcp, pc.tpid, pc.flags), (100, 5, ETH_P_8021AD, 0));
    let trunk =
        validate(&PortSpec { trunk: vec![200, 4094], spoofchk: false, ..spec() }).expect("valid");
    assert_eq!(trunk.flags, POD_F_TRUNK | POD_F_NO_SPOOFCHK);
    assert_eq!(trunk.trunk_bitmap[200 / 64], 1 << (200 % 64));
    let ptp = validate(&PortSpec { ptp_to_host: true, ..spec() }).expect("valid");
    assert_eq!(ptp.flags, POD_F_PTP_TO_HOST);
    let prio = validate(&PortSpec { ptp_priority: true, ..spec() }).expect("valid");
    assert_eq!(prio.flags, murmuration_common::POD_F_PTP_PRIORITY);
}

#[test]
fn bad_port_specs_are_refused() {
    assert!(validate(&PortSpec { vlan: 4095, ..spec() }).is_err());
    assert!(validate(&PortSpec { trunk: vec![0], ..spec() }).is_err());
    assert!(validate(&PortSpec { pcp: 8, ..spec() }).is_err());
    assert!(validate(&PortSpec { tpid: 0x0800, ..spec() }).is_err());
    assert!(validate(&PortSpec { mac: [1, 0, 0, 0, 0, 1], ..spec() }).is_err());
}

#[test]
fn quantiles_name_the_upper_bound_of_their_bucket() {
    let mut h = Histogram::default();
    assert_eq!(quantile_le_ns(&h, 500), None);
    h.buckets[6] = 98; // [64, 128) ns
    h.buckets[12] = 2; // [4096, 8192) ns
    h.count = 100;
    assert_eq!(quantile_le_ns(&h, 500), Some(128));
    assert_eq!(quantile_le_ns(&h, 980), Some(128));
    assert_eq!(quantile_le_ns(&h, 990), Some(8192));
    let buckets = prometheus_buckets(&h);
    assert_eq!(buckets[6], (128e-9, 98));
    assert_eq!(buckets.last().map(|b| b.1), Some(100));
}

use proptest::prelude::*;
use serde_json::json;

use super::*;

fn parse(v: Value) -> Result<NetConf, CniError> {
    NetConf::parse(&serde_json::to_vec(&v).expect("json"))
}

fn base() -> Value {
    json!({"cniVersion": "1.1.0", "name": "net-a", "type": "murmuration"})
}

fn with(extra: Value) -> Value {
    let mut v = base();
    for (k, x) in extra.as_object().expect("object") {
        v[k] = x.clone();
    }
    v
}

#[test]
fn minimal_config_defaults_to_veth() {
    let c = parse(base()).expect("valid");
    assert_eq!(c.mode, Mode::Veth);
    assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
    assert!(c.ipam.is_none());
}

#[test]
fn multus_device_id_selects_sriov() {
    let c = parse(with(json!({"deviceID": "0000:03:02.0"}))).expect("valid");
    assert_eq!(c.mode, Mode::Sriov);
    assert_eq!(c.device.expect("device").as_ref(), "0000:03:02.0");
    let c = parse(with(json!({"pciBusID": "03:02.1"}))).expect("valid");
    assert_eq!(c.device.expect("device").as_ref(), "0000:03:02.1");
    let c = parse(with(
        json!({"runtimeConfig": {"deviceID": "0000:03:02.2"}, "deviceID": "0000:03:02.0"}),
    ))
    .expect("valid");
    assert_eq!(c.device.expect("device").as_ref(), "0000:03:02.2");
}

#[test]
fn sriov_cni_keys_are_understood() {
    let c = parse(with(json!({
        "vlan": 100, "vlanQoS": 5, "vlanProto": "802.1ad", "spoofchk": "off", "trust": "on",
        "link_state": "enable", "min_tx_rate": 10, "max_tx_rate": 100, "mtu": 9000,
        "mac": "02:00:00:00:00:10"
    })))
    .expect("valid");
    assert_eq!(c.props.vlan.map(VlanId::get), Some(100));
    assert_eq!(c.props.qos.map(VlanQos::get), Some(5));
    assert_eq!(c.props.proto, Some(VlanProto::Dot1Ad));
    assert_eq!((c.props.spoofchk, c.props.trust), (Some(false), Some(true)));
    assert_eq!(c.props.link_state, Some(LinkState::Enable));
    assert_eq!(c.mtu, Some(9000));
}

#[test]
fn mac_precedence_runtime_then_args_then_config() {
    let c = parse(with(json!({"mac": "02:00:00:00:00:01",
                              "runtimeConfig": {"mac": "02:00:00:00:00:03"}})))
    .expect("valid");
    let args = CniArgs::parse("MAC=02:00:00:00:00:02").expect("args");
    assert_eq!(c.effective_mac(&args).expect("mac").to_string(), "02:00:00:00:00:03");
    let c = parse(with(json!({"mac": "02:00:00:00:00:01"}))).expect("valid");
    assert_eq!(c.effective_mac(&args).expect("mac").to_string(), "02:00:00:00:00:02");
    assert_eq!(c.effective_mac(&CniArgs::default()).expect("mac").to_string(), "02:00:00:00:00:01");
}

#[test]
fn gc_attachments_accept_both_keys() {
    let item = json!([{"containerID": "c1", "ifname": "net1"}]);
    let c = parse(with(json!({"cni.dev/valid-attachments": item.clone()}))).expect("valid");
    assert_eq!(c.valid_attachments.len(), 1);
    let c = parse(with(json!({"cni.dev/attachments": item}))).expect("valid");
    assert_eq!(c.valid_attachments[0].ifname, "net1");
}

#[test]
fn decode_failures_are_code_6() {
    for bad in [&b"{"[..], b"not json", b"", b"{\"cniVersion\": \"1.1.0\",}"] {
        assert_eq!(NetConf::parse(bad).unwrap_err().code, 6, "{:?}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn unsupported_version_is_code_1() {
    assert_eq!(parse(json!({"cniVersion": "9.9.9", "name": "n"})).unwrap_err().code, 1);
}

#[test]
fn invalid_values_are_code_7() {
    let cases = [
        json!({"vlan": 4095}),
        json!({"vlan": -1}),
        json!({"vlan": 10, "vlanQoS": 8}),
        json!({"vlanQoS": 1}),
        json!({"vlan": 10, "vlanProto": "802.1x"}),
        json!({"mac": "01:00:5e:00:00:01"}),
        json!({"mac": "zz"}),
        json!({"mtu": 10}),
        json!({"mode": "macvlan"}),
        json!({"master": "a/b"}),
        json!({"deviceID": "0000:03:00.9"}),
        json!({"spoofchk": "yes"}),
        json!({"link_state": "up"}),
        json!({"min_tx_rate": 100, "max_tx_rate": 10}),
        json!({"ipam": {}}),
        json!({"ipam": {"type": "../evil"}}),
        json!({"ipam": {"type": "host-local"}, "ipamInProcess": true}),
        json!({"vlan": "100"}),
        json!({"name": "bad name"}),
        json!({"ipamTimeoutSeconds": 0}),
        json!({"ipamTimeoutSeconds": -1}),
        json!({"ipamTimeoutSeconds": 3601}),
        json!({"ipamTimeoutSeconds": "30"}),
        json!({"lockTimeoutSeconds": 0}),
        json!({"lockTimeoutSeconds": 1e300}),
    ];
    for extra in cases {
        let got = parse(with(extra.clone()));
        assert_eq!(got.map(|_| ()).unwrap_err().code, 7, "{extra} accepted or wrong code");
    }
    assert_eq!(parse(json!({"cniVersion": "1.1.0"})).unwrap_err().code, 7);
}

#[test]
fn timeouts_default_and_the_lock_bound_follows_the_ipam_bound() {
    let c = parse(base()).expect("valid");
    assert_eq!(c.ipam_timeout, DEFAULT_IPAM_TIMEOUT);
    assert_eq!(c.lock_timeout, DEFAULT_IPAM_TIMEOUT * 3);
    let c = parse(with(json!({"ipamTimeoutSeconds": 1.5}))).expect("valid");
    assert_eq!(c.ipam_timeout, Duration::from_millis(1500));
    assert_eq!(c.lock_timeout, Duration::from_millis(4500));
    let c =
        parse(with(json!({"ipamTimeoutSeconds": 2, "lockTimeoutSeconds": 0.25}))).expect("valid");
    assert_eq!(
        (c.ipam_timeout, c.lock_timeout),
        (Duration::from_secs(2), Duration::from_millis(250))
    );
}

#[test]
fn add_needs_mode_specific_keys() {
    let c = parse(with(json!({"mode": "sriov"}))).expect("parses");
    assert_eq!(c.validate_for_add().unwrap_err().code, 7);
    let c = parse(with(json!({"mode": "vlan", "vlan": 100}))).expect("parses");
    assert_eq!(c.validate_for_add().unwrap_err().code, 7);
    let c = parse(with(json!({"mode": "vlan", "vlan": 100, "master": "eth1"}))).expect("parses");
    assert!(c.validate_for_add().is_ok());
}

#[test]
fn prev_result_is_parsed() {
    let c = parse(with(json!({"prevResult": {"cniVersion": "1.0.0",
        "ips": [{"address": "10.0.0.2/24"}]}})))
    .expect("valid");
    assert_eq!(c.prev_result.expect("prev").ips.len(), 1);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = NetConf::parse(&bytes);
    }

    #[test]
    fn vlan_range_is_exactly_0_to_4094(v in -10i64..5000) {
        let got = parse(with(json!({"vlan": v})));
        prop_assert_eq!(got.is_ok(), (0..=4094).contains(&v));
    }

    #[test]
    fn mtu_range_is_exactly_68_to_65535(m in 0u32..70000) {
        let got = parse(with(json!({"mtu": m})));
        prop_assert_eq!(got.is_ok(), (68..=65535).contains(&m));
    }
}

#[test]
fn the_fast_path_is_on_with_master_and_reads_trunk_lists() {
    let c = parse(with(json!({"master": "up0", "vlan": 100, "trunk": [300, "200-202", 201]})))
        .expect("valid");
    let fp = c.fastpath.expect("fast path on with master");
    assert_eq!(fp.trunk, [200, 201, 202, 300]);
    assert_eq!(fp.pin_root, PathBuf::from(super::fastpath::DEFAULT_PIN_ROOT));
    assert_eq!(fp.attach_mode, super::fastpath::AttachMode::Auto);
    assert_eq!(fp.uplink_xdp, super::fastpath::UplinkXdp::Off, "XDP is opt-in");
    assert!(!fp.ptp_to_host, "PTP goes to the pod unless asked");
    let c = parse(with(json!({"master": "up0", "ptpToHost": true}))).expect("valid");
    assert!(c.fastpath.expect("on").ptp_to_host);
    for (v, want) in [
        ("auto", super::fastpath::UplinkXdp::Auto),
        ("native", super::fastpath::UplinkXdp::Native),
        ("generic", super::fastpath::UplinkXdp::Generic),
        ("off", super::fastpath::UplinkXdp::Off),
    ] {
        let c = parse(with(json!({"master": "up0", "uplinkXdp": v}))).expect("valid");
        assert_eq!(c.fastpath.expect("on").uplink_xdp, want, "{v}");
    }
    let c = parse(with(json!({"master": "up0", "bpfPinRoot": "/x", "bpfAttachMode": "netlink"})))
        .expect("valid");
    let fp = c.fastpath.expect("on");
    assert_eq!((fp.pin_root, fp.attach_mode), ("/x".into(), super::fastpath::AttachMode::Netlink));
    assert!(
        parse(with(json!({"master": "up0", "fastpath": false}))).expect("valid").fastpath.is_none()
    );
    assert!(parse(base()).expect("valid").fastpath.is_none(), "no master: plain veth");
}

#[test]
fn bad_fast_path_settings_are_code_7() {
    for bad in [
        json!({"master": "up0", "trunk": ["5-3"]}),
        json!({"master": "up0", "trunk": [0]}),
        json!({"master": "up0", "trunk": [4095]}),
        json!({"master": "up0", "trunk": ["1-4095"]}),
        json!({"master": "up0", "trunk": ["x"]}),
        json!({"master": "up0", "trunk": [true]}),
        json!({"master": "up0", "bpfAttachMode": "xdp"}),
        json!({"master": "up0", "uplinkXdp": "drv"}),
        json!({"trunk": [5]}),
        json!({"mode": "vlan", "master": "up0", "vlan": 5, "fastpath": true}),
    ] {
        let e = parse(with(bad.clone())).expect_err("must be refused");
        assert_eq!(e.code, 7, "{bad}: {e:?}");
    }
    let no_master = parse(with(json!({"fastpath": true}))).expect("parses");
    assert_eq!(no_master.validate_for_add().expect_err("needs master").code, 7);
    let vlan_only = parse(with(json!({"vlan": 5}))).expect("parses");
    assert_eq!(vlan_only.validate_for_add().expect_err("vlan needs the fast path").code, 7);
}

#[test]
fn del_tolerates_invalid_values_but_not_garbage() {
    let bad = with(json!({"vlan": 5000, "dataDir": "/tmp/x", "ipam": {"type": "host-local"}}));
    let bytes = serde_json::to_vec(&bad).expect("json");
    assert_eq!(NetConf::parse(&bytes).unwrap_err().code, 7);
    let (c, set_aside) = NetConf::parse_for_del(&bytes).expect("DEL still parses");
    assert_eq!(set_aside.expect("the validation error is kept").code, 7);
    assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
    assert_eq!(c.ipam.expect("ipam kept").kind, "host-local");
    assert_eq!(c.raw, bytes, "delegates still get the runtime's config");
    assert_eq!(NetConf::parse_for_del(b"{nope").unwrap_err().code, 6);
    let pins = with(json!({"vlan": 5000, "bpfPinRoot": 5}));
    let (c, _) = NetConf::parse_for_del(&serde_json::to_vec(&pins).expect("json")).expect("DEL");
    assert_eq!(c.name, "net-a", "a wrong-typed key DEL does not need is dropped too");
    let bounded = with(json!({"vlan": 5000, "lockTimeoutSeconds": 0.5}));
    let (c, _) = NetConf::parse_for_del(&serde_json::to_vec(&bounded).expect("json")).expect("DEL");
    assert_eq!(c.lock_timeout, Duration::from_millis(500), "DEL keeps its lock bound");
    let old = serde_json::to_vec(&json!({"cniVersion": "9.0.0", "name": "n"})).expect("json");
    assert_eq!(NetConf::parse_for_del(&old).unwrap_err().code, 1);
}

#[test]
fn trunk_ranges_are_validated_then_merged_whatever_their_number() {
    let c = parse(with(json!({"master": "up0", "trunk": ["10-20", "15-30", 12, "1-2", 40]})))
        .expect("valid");
    let fp = c.fastpath.expect("fast path");
    let want: Vec<u16> = [1, 2].into_iter().chain(10..=30).chain([40]).collect();
    assert_eq!(fp.trunk, want);
    // 100 000 full ranges are 4094 ids, not 409 million.
    let many = vec![json!("1-4094"); 100_000];
    let c = parse(with(json!({"master": "up0", "trunk": many}))).expect("valid");
    assert_eq!(c.fastpath.expect("fast path").trunk.len(), 4094);
    // One bad entry anywhere refuses the whole list.
    let mut bad = vec![json!("1-4094"); 1000];
    bad.push(json!("4000-4095"));
    assert_eq!(parse(with(json!({"master": "up0", "trunk": bad}))).err().map(|e| e.code), Some(7));
}

#[test]
fn bandwidth_comes_from_runtime_config_first_and_needs_the_fast_path() {
    use crate::cni::config::bandwidth::Limit;
    let key = json!({"egressRate": 1000, "egressBurst": 80});
    let runtime = json!({"ingressRate": 2000, "ingressBurst": 160});
    let c = parse(with(json!({"master": "up0", "bandwidth": key}))).expect("valid");
    let bw = c.fastpath.expect("on").bandwidth;
    assert_eq!((bw.ingress, bw.egress), (None, Some(Limit { rate_bps: 1000, burst_bits: 80 })));
    let both = json!({"master": "up0", "bandwidth": key, "runtimeConfig": {"bandwidth": runtime}});
    let bw = parse(with(both)).expect("valid").fastpath.expect("on").bandwidth;
    assert_eq!((bw.ingress, bw.egress), (Some(Limit { rate_bps: 2000, burst_bits: 160 }), None));
    for bad in [
        json!({"bandwidth": key}),
        json!({"master": "up0", "fastpath": false, "runtimeConfig": {"bandwidth": runtime}}),
        json!({"master": "up0", "bandwidth": {"egressRate": 1000}}),
    ] {
        assert_eq!(parse(with(bad.clone())).expect_err("refused").code, 7, "{bad}");
    }
    assert!(parse(with(json!({"bandwidth": {}}))).is_ok(), "an empty object limits nothing");
}

#[test]
fn require_ptp_lock_keys() {
    assert!(parse(base()).expect("valid").ptp_lock.is_none());
    let c = parse(with(json!({"requirePtpLock": true}))).expect("valid");
    let lock = c.ptp_lock.expect("set");
    assert_eq!(lock.state_file, PathBuf::from(super::ptplock::DEFAULT_STATE_FILE));
    assert_eq!(lock.max_age, super::ptplock::DEFAULT_MAX_AGE);
    let c = parse(with(json!({
        "requirePtpLock": true, "ptpStateFile": "/run/x/s.json", "ptpStateMaxAgeSeconds": 2.5
    })))
    .expect("valid");
    let lock = c.ptp_lock.expect("set");
    assert_eq!(lock.state_file, PathBuf::from("/run/x/s.json"));
    assert_eq!(lock.max_age, Duration::from_millis(2500));
    for bad in [
        json!({"requirePtpLock": "yes"}),
        json!({"requirePtpLock": true, "ptpStateMaxAgeSeconds": 0}),
        json!({"ptpStateMaxAgeSeconds": -1}),
        json!({"ptpStateFile": 3}),
    ] {
        let e = parse(with(bad.clone())).expect_err("refused");
        assert_eq!(e.code, 7, "{bad}: {e}");
    }
}

//! Tenant isolation on a shared uplink: 802.1Q and 802.1ad VLANs of the
//! same number are different networks, PTP priority only for networks that
//! ask for it, and uplink-wide settings no network can flip for the others.

use std::time::Duration;

use serde_json::{Value, json};

use super::frames::{Kind, frame, in_netns, mac, send};
use super::{Fabric, UPLINK, WIRE_MAC};
use crate::common::audit::poll;
use murmuration_core::datapath::{PortCounters, testing};

const Q1: &str = "02:00:00:00:05:01";
const Q2: &str = "02:00:00:00:05:02";
const AD: &str = "02:00:00:00:05:03";
const BROADCAST: &str = "ff:ff:ff:ff:ff:ff";

/// Reads `read` until `done` holds (at most 10 s, through the audit's
/// `poll`); the value that satisfied it.
fn wait_until<T: std::fmt::Debug>(
    what: &str,
    read: impl Fn() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let mut last = None;
    let reached = poll(Duration::from_secs(10), || {
        let v = read();
        let ok = done(&v);
        last = Some(v);
        ok
    });
    let last = last.expect("read at least once");
    assert!(reached, "{what} never got there: {last:?}");
    last
}

/// The port's counters once `done` holds (the program counts a frame when
/// it forwards it, so the sender's count says it was handled).
fn wait_counters(f: &Fabric, cid: &str, done: impl Fn(&PortCounters) -> bool) -> PortCounters {
    wait_until(cid, || f.counters(cid), done)
}

/// The wire's frame counts once `done` holds.
fn wait_wire(f: &Fabric, done: impl Fn(&[u64; 4]) -> bool) -> [u64; 4] {
    wait_until("the wire", || f.wire_stats(), done)
}

fn conf_with(f: &Fabric, vlan: u16, extra: Value) -> Value {
    let mut c = f.conf(vlan, false);
    for (k, v) in extra.as_object().expect("object") {
        c[k] = v.clone();
    }
    c
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn dot1q_and_dot1ad_vlans_of_one_number_are_separate_networks() {
    let f = Fabric::new(0);
    let (q1, q2, ad) = (f.pod(false), f.pod(false), f.pod(false));
    let cq1 = conf_with(&f, 100, json!({"mac": Q1}));
    let cq2 = conf_with(&f, 100, json!({"mac": Q2}));
    let cad = conf_with(&f, 100, json!({"mac": AD, "vlanProto": "802.1ad"}));
    f.attach(&q1, "q1", &cq1);
    f.attach(&q2, "q2", &cq2);
    f.attach(&ad, "ad", &cad);
    // The same MAC on 802.1ad VLAN 100 is another station than on 802.1Q.
    let twin = f.pod(false);
    let ctwin = conf_with(&f, 100, json!({"mac": Q1, "vlanProto": "802.1ad"}));
    f.attach(&twin, "twin", &ctwin);

    // Unicast from an 802.1Q pod to the 802.1ad pod's MAC, and broadcast.
    send(&q1, "eth0", &frame(Kind::Udp4, mac(AD), mac(Q1)), 4);
    send(&q1, "eth0", &frame(Kind::Udp4, mac(BROADCAST), mac(Q1)), 3);
    wait_counters(&f, "q1", |c| c.from_pod.packets == 7);
    assert_eq!(f.counters("ad").to_pod.packets, 0, "802.1Q frames reached an 802.1ad pod");
    assert_eq!(f.counters("twin").to_pod.packets, 0, "802.1Q broadcast reached 802.1ad");
    assert_eq!(f.counters("q2").to_pod.flood_packets, 3, "the 802.1Q neighbour got the broadcast");
    // And the other way round.
    send(&ad, "eth0", &frame(Kind::Udp4, mac(Q2), mac(AD)), 5);
    wait_counters(&f, "ad", |c| c.from_pod.packets == 5);
    assert_eq!(f.counters("q2").to_pod.packets, 3, "802.1ad frames reached an 802.1Q pod");

    for (pod, cid, conf) in [(&q1, "q1", cq1), (&q2, "q2", cq2), (&ad, "ad", cad)] {
        f.w.del(Some(pod), cid, "eth0", &conf).ok();
    }
    f.w.del(Some(&twin), "twin", "eth0", &ctwin).ok();
    f.assert_clean(&[&q1, &q2, &ad, &twin]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn only_networks_that_ask_for_it_give_their_ptp_the_ptp_priority() {
    let f = Fabric::new(100);
    let plain = f.pod(false);
    let timing = f.pod(false);
    let cplain = conf_with(&f, 100, json!({"mac": Q1}));
    let ctiming = conf_with(&f, 100, json!({"mac": Q2, "ptpPriority": true}));
    f.attach(&plain, "plain", &cplain);
    f.attach(&timing, "timing", &ctiming);
    // The test double on the uplink's egress counts frames leaving with
    // skb->priority 7 (it tags nothing with VLAN 0).
    let root = f.bpffs_root();
    in_netns(&f.w.node, || testing::install(&root, UPLINK, 0, 0x8100).expect("priority counter"));
    let leaving = || in_netns(&f.w.node, || testing::stats(&root, UPLINK).expect("stats"));
    let before = f.wire_stats();
    send(&plain, "eth0", &frame(Kind::PtpUdp4, mac(WIRE_MAC), mac(Q1)), 5);
    wait_counters(&f, "plain", |c| c.from_pod.ptp_packets == 5);
    wait_wire(&f, |w| w[0] - before[0] == 5);
    assert_eq!(leaving()[3], 0, "a pod's UDP 319 got the PTP priority uninvited");

    send(&timing, "eth0", &frame(Kind::PtpUdp4, mac(WIRE_MAC), mac(Q2)), 4);
    wait_counters(&f, "timing", |c| c.from_pod.ptp_packets == 4);
    wait_wire(&f, |w| w[0] - before[0] == 9);
    assert_eq!(leaving()[3], 4, "ptpPriority: the PTP priority");
    in_netns(&f.w.node, || testing::remove(&root, UPLINK).expect("remove counter"));

    f.w.del(Some(&plain), "plain", "eth0", &cplain).ok();
    f.w.del(Some(&timing), "timing", "eth0", &ctiming).ok();
    f.assert_clean(&[&plain, &timing]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn an_uplink_wide_setting_cannot_be_flipped_by_another_network() {
    let f = Fabric::new(100);
    let first = f.pod(false);
    let generic = conf_with(&f, 100, json!({"uplinkXdp": "generic"}));
    f.attach(&first, "xdp-first", &generic);
    assert!(f.pin_dir().join("link_xdp_generic").exists());

    let second = f.pod(false);
    for asked in ["off", "native", "auto"] {
        let conf = conf_with(&f, 100, json!({"uplinkXdp": asked}));
        let out = f.w.add(&second, "xdp-second", "eth0", &conf);
        assert_eq!(out.code(), 7, "uplinkXdp {asked} under generic: {}", out.stdout);
        let msg = out.error()["msg"].as_str().unwrap_or_default().to_owned();
        assert!(msg.contains("uplinkXdp = generic") && msg.contains(asked), "{msg}");
        second.assert_empty("refused pod");
        assert!(f.pin_dir().join("link_xdp_generic").exists(), "XDP stays as it was");
    }
    f.attach(&second, "xdp-second", &generic);
    f.w.del(Some(&first), "xdp-first", "eth0", &generic).ok();
    f.w.del(Some(&second), "xdp-second", "eth0", &generic).ok();
    // With no port left the next network chooses again.
    let plain = conf_with(&f, 100, json!({"uplinkXdp": "off"}));
    f.attach(&first, "xdp-third", &plain);
    assert!(!f.pin_dir().join("link_xdp_generic").exists());
    f.w.del(Some(&first), "xdp-third", "eth0", &plain).ok();
    f.assert_clean(&[&first, &second]);
}

/// An ARP reply from `sha`/`spa` to the wire.
fn arp_reply(sha: [u8; 6], spa: [u8; 4]) -> Vec<u8> {
    let wire = mac(WIRE_MAC);
    let mut f = [&wire[..], &sha, &0x0806u16.to_be_bytes()].concat();
    f.extend([0, 1, 0x08, 0, 6, 4, 0, 2]); // Ethernet/IPv4, reply
    f.extend(sha);
    f.extend(spa);
    f.extend(wire);
    f.extend([10, 100, 0, 254]);
    f
}

/// An ICMPv6 message of `kind` from fe80::1 to all nodes, with `body`.
fn icmpv6(src_mac: [u8; 6], kind: u8, body: &[u8]) -> Vec<u8> {
    let mut f = [&[0x33, 0x33, 0, 0, 0, 1][..], &src_mac, &0x86ddu16.to_be_bytes()].concat();
    let len = u16::try_from(4 + body.len()).expect("short");
    f.extend([0x60, 0, 0, 0]);
    f.extend(len.to_be_bytes());
    f.extend([58, 255]);
    f.extend([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    f.extend([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    f.extend([kind, 0, 0, 0]);
    f.extend(body);
    f
}

fn ipv4_of(ip: &str) -> [u8; 4] {
    ip.parse::<std::net::Ipv4Addr>().expect("IPv4").octets()
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn ip_spoofchk_drops_spoofed_arp_ip_and_router_advertisements() {
    const IP_SPOOF: usize = 5;
    let f = Fabric::new(100);
    let (guarded, open, victim) = (f.pod(false), f.pod(false), f.pod(false));
    let cg = conf_with(&f, 100, json!({"mac": Q1, "ipSpoofchk": true}));
    let co = conf_with(&f, 100, json!({"mac": Q2}));
    let cv = conf_with(&f, 100, json!({"mac": AD}));
    let own = f.attach(&guarded, "guarded", &cg);
    f.attach(&open, "open", &co);
    let victim_ip = f.attach(&victim, "victim", &cv);
    // Its own traffic (ARP from its address, ICMP) passes.
    assert!(super::ping(&guarded, super::WIRE_IP, 2), "the guarded pod reaches the wire");
    let start = f.counters("guarded");
    let wire0 = f.wire_stats();

    let na_body =
        [&[0x60, 0, 0, 0][..], &[0xfd, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99]].concat();
    let spoofed: Vec<(&str, Vec<u8>)> = vec![
        ("ARP reply claiming the victim's address", arp_reply(mac(Q1), ipv4_of(&victim_ip))),
        ("IPv4 from the wire's address", frame(Kind::Udp4, mac(WIRE_MAC), mac(Q1))),
        (
            "router advertisement",
            icmpv6(mac(Q1), 134, &[64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0]),
        ),
        ("neighbour advertisement for a foreign address", icmpv6(mac(Q1), 136, &na_body)),
    ];
    for (i, (what, bytes)) in spoofed.iter().enumerate() {
        send(&guarded, "eth0", bytes, 3);
        let want = start.from_pod.drops[IP_SPOOF] + 3 * (i as u64 + 1);
        wait_counters(&f, "guarded", |c| c.from_pod.drops[IP_SPOOF] == want);
        assert_eq!(f.counters("guarded").from_pod.packets, start.from_pod.packets, "{what} left");
    }
    // A legitimate ARP reply from its own address still goes out.
    send(&guarded, "eth0", &arp_reply(mac(Q1), ipv4_of(&own)), 2);
    wait_counters(&f, "guarded", |c| c.from_pod.packets == start.from_pod.packets + 2);
    assert_eq!(f.wire_stats()[0] - wire0[0], 2, "only the legitimate replies reached the wire");
    // Without ipSpoofchk the same spoofed reply passes: the switch is what stops it.
    let open0 = f.counters("open");
    send(&open, "eth0", &arp_reply(mac(Q2), ipv4_of(&victim_ip)), 1);
    wait_counters(&f, "open", |c| c.from_pod.packets == open0.from_pod.packets + 1);

    for (pod, cid, conf) in
        [(&guarded, "guarded", cg), (&open, "open", co), (&victim, "victim", cv)]
    {
        f.w.del(Some(pod), cid, "eth0", &conf).ok();
    }
    f.assert_clean(&[&guarded, &open, &victim]);
}

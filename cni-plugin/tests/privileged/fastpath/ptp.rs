//! `ptpToHost`: PTP from the uplink reaches the pod by default and the
//! node's stack with the option; counted separately either way.

use serde_json::json;

use murmuration_testkit::packet::{ETH_P_1588, ETH_P_ALL, PacketSocket};

use super::frames::{Kind, frame, mac, send};
use super::{Fabric, UPLINK, WIRE_IF, WIRE_MAC};
use crate::common::Netns;

const P1: &str = "02:00:00:00:03:01";
const P2: &str = "02:00:00:00:03:02";
/// PTP's L2 multicast address (IEEE 1588 annex F, forwardable).
const PTP_MCAST: &str = "01:1b:19:00:00:00";

/// A non-blocking AF_PACKET socket bound to `iface` in `ns` for `proto`.
struct Tap(PacketSocket);

impl Tap {
    fn open(ns: &Netns, iface: &str, proto: u16) -> Self {
        Self(PacketSocket::open(Some(ns.name()), iface, proto))
    }

    /// Frames received so far (drains the socket); incoming frames only.
    fn count(&self) -> usize {
        self.0.drain().iter().filter(|f| !f.outgoing()).count()
    }
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn ptp_goes_to_the_pod_by_default_and_to_the_node_with_ptp_to_host() {
    let f = Fabric::new(100);
    let (p1, p2) = (f.pod(false), f.pod(false));
    let mut c1 = f.conf(100, false);
    c1["mac"] = json!(P1);
    let mut c2 = f.conf(100, false);
    (c2["mac"], c2["ptpToHost"]) = (json!(P2), json!(true));
    f.attach(&p1, "ptp-1", &c1);
    f.attach(&p2, "ptp-2", &c2);
    let (t1, t2) = (Tap::open(&p1, "eth0", ETH_P_1588), Tap::open(&p2, "eth0", ETH_P_ALL));
    let node = Tap::open(&f.w.node, UPLINK, ETH_P_1588);
    let r = f.reader();
    let (a0, b0, n0) = (f.counters("ptp-1"), f.counters("ptp-2"), r.counters(0).expect("node"));

    let wire = mac(WIRE_MAC);
    send(&f.wire, WIRE_IF, &frame(Kind::PtpL2, mac(P1), wire), 5);
    send(&f.wire, WIRE_IF, &frame(Kind::PtpL2, mac(P2), wire), 7);
    send(&f.wire, WIRE_IF, &frame(Kind::PtpUdp4, mac(P2), wire), 4);
    send(&f.wire, WIRE_IF, &frame(Kind::PtpL2, mac(PTP_MCAST), wire), 3);
    std::thread::sleep(std::time::Duration::from_millis(300));

    assert_eq!(t1.count(), 5 + 3, "default: unicast and multicast PTP reach the pod");
    assert_eq!(t2.count(), 0, "ptpToHost: nothing reaches that pod");
    assert_eq!(node.count(), 7 + 3, "the node's stack got the pod's L2 PTP and the multicast");
    let (a1, b1, n1) = (f.counters("ptp-1"), f.counters("ptp-2"), r.counters(0).expect("node"));
    assert_eq!(a1.to_pod.ptp_packets - a0.to_pod.ptp_packets, 8, "PTP counted for pod 1");
    assert_eq!(b1.to_pod.packets - b0.to_pod.packets, 0, "nothing counted for pod 2");
    assert_eq!(n1.to_pod.ptp_packets - n0.to_pod.ptp_packets, 7 + 4 + 3, "node slot PTP");
    f.w.del(Some(&p1), "ptp-1", "eth0", &c1).ok();
    f.w.del(Some(&p2), "ptp-2", "eth0", &c2).ok();
    f.assert_clean(&[&p1, &p2]);
}

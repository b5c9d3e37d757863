//! The fast-path test fabric: a "wire" namespace holding the far end of the
//! uplink veth (made a VLAN access port by the wire-side test double), the
//! World's "node" namespace holding `master`, pods attached through the
//! plugin, and a private bpffs as the pin root (the host's /sys/fs/bpf is
//! never touched). Everything goes on drop, also when a test fails.

mod chain;
pub mod frames;
mod isolation;
mod lifecycle;
mod ownership;
mod policy;
mod ptp;
mod traffic;
mod xdp;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use murmuration_core::datapath::{self, PortCounters, Reader, testing};
use murmuration_testkit::bpffs::Bpffs;
use serde_json::{Value, json};

use crate::common::{Netns, World};
use frames::in_netns;

pub const UPLINK: &str = "up0";
pub const WIRE_IF: &str = "wr0";
pub const WIRE_MAC: &str = "02:00:00:00:00:fe";
pub const WIRE_IP: &str = "10.100.0.254";
pub const WIRE_IP6: &str = "fd00:100::254";

/// The test topology. Field order is drop order: the wire namespace, the
/// bpffs (before the World's temporary directory it is mounted in), the World.
#[derive(Debug)]
pub struct Fabric {
    pub wire: Netns,
    bpffs: Bpffs,
    pub w: World,
}

impl Fabric {
    /// Wire and node namespaces joined by `wr0`/`up0`; the wire port is an
    /// access port of `wire_vlan` (0: plain untagged port).
    pub fn new(wire_vlan: u16) -> Self {
        let w = World::new();
        let bpffs = Bpffs::mount(&w.tmp().join("bpffs"));
        let wire = Netns::new("wire");
        // No IPv6 chatter (router solicitations, MLD) from the node or the
        // wire unless a test asks for it: counters must be exact.
        for ns in [&w.node, &wire] {
            sysctl(ns, "net.ipv6.conf.default.disable_ipv6=1");
            sysctl(ns, "net.ipv6.conf.all.disable_ipv6=1");
        }
        let f = Self { w, wire, bpffs };
        f.w.node.add_veth_to(UPLINK, &f.wire, WIRE_IF);
        f.wire.ip(&["link", "set", WIRE_IF, "address", WIRE_MAC, "up"]);
        f.wire.ip(&["addr", "add", &format!("{WIRE_IP}/24"), "dev", WIRE_IF]);
        f.w.node.ip(&["link", "set", UPLINK, "up"]);
        if wire_vlan != 0 {
            f.set_wire_vlan(wire_vlan);
        }
        f
    }

    /// Gives the wire port an IPv6 address (pods' IPv6 works without the node's).
    pub fn wire_v6(&self) {
        sysctl(&self.wire, &format!("net.ipv6.conf.{WIRE_IF}.disable_ipv6=0"));
        self.wire.ip(&["addr", "add", &format!("{WIRE_IP6}/64"), "dev", WIRE_IF, "nodad"]);
    }

    /// Nothing of ours is left (the node keeps its uplink).
    pub fn assert_clean(&self, pods: &[&Netns]) {
        self.assert_no_fast_path();
        assert_eq!(self.w.node.link_names(), ["lo", UPLINK], "node links left");
        for pod in pods {
            pod.assert_empty("pod");
        }
        assert_eq!(self.w.attachments(), Vec::<String>::new(), "attachment records left");
        assert!(self.w.leases().is_empty(), "IPAM leases left: {:?}", self.w.leases());
    }

    /// Waits until the node no longer has `iface` (a deleted namespace's
    /// veth goes asynchronously).
    pub fn wait_gone(&self, iface: &str) {
        for _ in 0..100 {
            if self.w.node.link(iface).is_none() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("{iface} is still in the node namespace");
    }

    /// The private bpffs itself (the test doubles pin under it).
    pub fn bpffs_root(&self) -> PathBuf {
        self.bpffs.path().to_owned()
    }

    pub fn pin_root(&self) -> PathBuf {
        self.bpffs.path().join("murmuration")
    }

    pub fn pin_dir(&self) -> PathBuf {
        self.pin_root().join(UPLINK)
    }

    /// Makes the wire port an access port of `vid` (replacing the previous one).
    pub fn set_wire_vlan(&self, vid: u16) {
        let root = self.bpffs.path().to_owned();
        in_netns(&self.wire, || {
            testing::remove(&root, WIRE_IF).expect("remove wire tagger");
            testing::install(&root, WIRE_IF, vid, 0x8100).expect("install wire tagger");
        });
        self.forget_neighbours();
    }

    pub fn clear_wire_vlan(&self) {
        let root = self.bpffs.path().to_owned();
        in_netns(&self.wire, || testing::remove(&root, WIRE_IF).expect("remove wire tagger"));
        self.forget_neighbours();
    }

    /// The wire moved to another VLAN: what it resolved (or failed to) is stale.
    fn forget_neighbours(&self) {
        self.wire.ip(&["neigh", "flush", "dev", WIRE_IF]);
    }

    /// Frames the wire port received: [tagged with its VLAN, untagged, other
    /// VLAN], then frames it sent with skb->priority 7.
    pub fn wire_stats(&self) -> [u64; 4] {
        testing::stats(self.bpffs.path(), WIRE_IF).expect("wire stats")
    }

    /// A fast-path config on VLAN `vlan`; IPv4-only unless `v6`.
    pub fn conf(&self, vlan: u16, v6: bool) -> Value {
        let mut ranges = vec![json!([{"subnet": "10.100.0.0/24", "rangeStart": "10.100.0.10"}])];
        if v6 {
            ranges.push(json!([{"subnet": "fd00:100::/64", "rangeStart": "fd00:100::10"}]));
        }
        json!({
            "cniVersion": "1.1.0",
            "name": self.w.net,
            "type": "murmuration",
            "mode": "veth",
            "master": UPLINK,
            "vlan": vlan,
            "bpfPinRoot": self.pin_root(),
            "dataDir": self.w.data_dir(),
            "ipam": {"type": "host-local", "dataDir": self.w.ipam_dir(), "ranges": ranges}
        })
    }

    /// A pod namespace that will not make IPv6 noise unless `v6`.
    pub fn pod(&self, v6: bool) -> Netns {
        let pod = self.w.pod();
        let v = if v6 { "0" } else { "1" };
        sysctl(&pod, &format!("net.ipv6.conf.default.disable_ipv6={v}"));
        sysctl(&pod, &format!("net.ipv6.conf.all.disable_ipv6={v}"));
        pod
    }

    /// ADD through the plugin; returns the pod's IPv4 address.
    pub fn attach(&self, pod: &Netns, cid: &str, conf: &Value) -> String {
        let r = self.w.add(pod, cid, "eth0", conf).result();
        let ip = r["ips"][0]["address"].as_str().expect("an IPv4 address");
        ip.split('/').next().expect("addr").to_owned()
    }

    pub fn reader(&self) -> Reader {
        Reader::open(&self.pin_dir()).expect("open the pinned maps")
    }

    /// The attachment id the plugin recorded for `cid`.
    pub fn attach_id(&self, cid: &str) -> u32 {
        let id = &self.w.record(cid, "eth0")["datapath"]["attach_id"];
        u32::try_from(id.as_u64().expect("recorded attach_id")).expect("u32")
    }

    pub fn counters(&self, cid: &str) -> PortCounters {
        self.reader().counters(self.attach_id(cid)).expect("counters")
    }

    /// Names of the TCX programs on `iface` in the node namespace.
    pub fn tcx_programs(&self, iface: &str) -> Vec<String> {
        in_netns(&self.w.node, || datapath::tcx_programs(iface))
    }

    pub fn uplink_tx_packets(&self) -> u64 {
        let link = self.w.node.json(&["-s", "link", "show", UPLINK]);
        link[0]["stats64"]["tx"]["packets"].as_u64().expect("tx packets")
    }

    /// The fast path of the uplink is entirely gone.
    pub fn assert_no_fast_path(&self) {
        assert!(
            !self.pin_dir().exists(),
            "pins left: {:?}",
            std::fs::read_dir(self.pin_dir()).map(|d| d.count())
        );
        let progs = self.tcx_programs(UPLINK);
        assert!(progs.is_empty(), "programs left on the uplink: {progs:?}");
    }
}

pub fn sysctl(ns: &Netns, setting: &str) {
    let ok = Command::new("ip")
        .args(["netns", "exec", ns.name(), "sysctl", "-qw", setting])
        .status()
        .expect("sysctl");
    assert!(ok.success(), "sysctl {setting}");
}

/// Runs ethtool in `ns`; its stdout.
pub fn ethtool(ns: &Netns, args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns.name(), "ethtool"])
        .args(args)
        .output()
        .expect("run ethtool");
    assert!(out.status.success(), "ethtool {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn ping(ns: &Netns, addr: &str, count: u32) -> bool {
    Command::new("ip")
        .args([
            "netns",
            "exec",
            ns.name(),
            "ping",
            "-q",
            "-c",
            &count.to_string(),
            "-i",
            "0.05",
            "-W",
            "1",
            addr,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run ping")
        .success()
}

/// Static neighbour entries: no ARP/ND frames, so counters are exact.
pub fn neigh(ns: &Netns, dev: &str, ip: &str, mac: &str) {
    ns.ip(&["neigh", "replace", ip, "lladdr", mac, "dev", dev, "nud", "permanent"]);
}

/// tcpdump -e on `iface` in `ns` until stopped; the capture text on stop.
#[derive(Debug)]
pub struct Capture(Option<Child>);

impl Capture {
    pub fn start(ns: &Netns, iface: &str) -> Self {
        let child = Command::new("ip")
            .args(["netns", "exec", ns.name(), "tcpdump", "-l", "-n", "-e", "-i", iface])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tcpdump");
        std::thread::sleep(std::time::Duration::from_millis(800));
        Self(Some(child))
    }

    pub fn stop(mut self) -> String {
        let child = self.0.take().expect("running");
        std::thread::sleep(std::time::Duration::from_millis(300));
        // Our own child, by PID (ip netns exec execs tcpdump in place).
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::SIGINT,
        );
        let out = child.wait_with_output().expect("tcpdump output");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

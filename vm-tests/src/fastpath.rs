//! The veth fast path on the igb PF with native XDP: the uplink fixture
//! (rx-vlan-offload off, promiscuous, no IPv6 chatter from the PF, a private
//! bpffs; all restored on drop), pods attached through the plugin, and the
//! probes the fast-path tests share.

use std::path::PathBuf;
use std::time::Duration;

use murmuration_core::datapath::{PortCounters, PortLatency, Reader, tcx_programs};
use serde_json::{Value, json};

use crate::cmd::{IP, ip, ip_json, link, output, run};
use crate::cni::Cni;
use crate::pod::Pod;
use crate::sriov::Sriov;
use crate::wire::Bpffs;

pub const ETHTOOL: &str = "/usr/sbin/ethtool";

/// The igb PF as a native-XDP fast-path uplink, with the wire NIC next to it.
#[derive(Debug)]
pub struct IgbUplink {
    pub s: Sriov,
    pub cni: Cni,
    // Dropped after `cni` (records) and before the restore in `drop`.
    pub bpffs: Bpffs,
    pf_v6: String,
}

fn v6_sysctl(dev: &str) -> String {
    format!("/proc/sys/net/ipv6/conf/{dev}/disable_ipv6")
}

impl IgbUplink {
    pub fn new(tag: &str) -> Self {
        let s = Sriov::without_vfs();
        // XDP needs the tag in the packet; the PF must accept the pods' MACs.
        run(ETHTOOL, &["-K", &s.pf, "rxvlan", "off"]);
        ip(&["link", "set", &s.pf, "promisc", "on"]);
        // The PF's own IPv6 (router solicitations, MLD) would disturb the
        // uplink's TX counter that pod <-> pod checks.
        let pf_v6 = std::fs::read_to_string(v6_sysctl(&s.pf)).expect("PF disable_ipv6");
        std::fs::write(v6_sysctl(&s.pf), "1").expect("PF disable_ipv6");
        Self { s, cni: Cni::new(tag), bpffs: Bpffs::mount_temp(tag), pf_v6 }
    }

    pub fn pin_dir(&self) -> PathBuf {
        self.bpffs.path().join("murmuration").join(&self.s.pf)
    }

    /// A veth fast-path config on the PF with native XDP: `mac`, static
    /// `addrs`, and `extra` fields merged in (e.g. `vlan`, `trunk`).
    pub fn conf(&self, mac: &str, addrs: &[&str], extra: &Value) -> Value {
        let mut c = self.cni.conf("veth");
        c["master"] = json!(self.s.pf);
        c["mac"] = json!(mac);
        c["uplinkXdp"] = json!("native");
        c["bpfPinRoot"] = json!(self.bpffs.path().join("murmuration"));
        let addresses: Vec<Value> = addrs.iter().map(|a| json!({"address": a})).collect();
        c["ipam"] = json!({"type": "static", "addresses": addresses});
        for (k, v) in extra.as_object().expect("extra fields") {
            c[k] = v.clone();
        }
        c
    }

    /// A pod namespace (IPv6 off unless `v6`) attached with `conf` as `cid`.
    pub fn attach(&self, tag: &str, cid: &str, conf: &Value, v6: bool) -> Attached {
        let pod = Pod::new(tag);
        let v = if v6 { "0" } else { "1" };
        let script = format!(
            "echo {v} > /proc/sys/net/ipv6/conf/all/disable_ipv6; \
             echo {v} > /proc/sys/net/ipv6/conf/default/disable_ipv6"
        );
        run(IP, &["netns", "exec", &pod.name, "/bin/sh", "-c", &script]);
        let r = self.cni.call("ADD", Some(&pod.path()), cid, "eth0", conf).result();
        assert_eq!(r["interfaces"][1]["mac"], conf["mac"], "{r}");
        let rec = self.cni.record(cid, "eth0").expect("record");
        let id = rec["datapath"]["attach_id"].as_u64().expect("attach_id");
        let host = rec["host_ifname"].as_str().expect("host_ifname").to_owned();
        Attached {
            pod,
            cid: cid.to_owned(),
            conf: conf.clone(),
            id: u32::try_from(id).expect("id"),
            host,
        }
    }

    pub fn del(&self, a: &Attached) {
        self.cni.call("DEL", Some(&a.pod.path()), &a.cid, "eth0", &a.conf).result();
        assert!(link(None, &a.host).is_none(), "host veth {} left after DEL", a.host);
    }

    pub fn reader(&self) -> Reader {
        Reader::open(&self.pin_dir()).expect("pinned maps")
    }

    pub fn counters(&self, a: &Attached) -> PortCounters {
        self.reader().counters(a.id).expect("counters")
    }

    pub fn latency(&self, a: &Attached) -> PortLatency {
        self.reader().latency(a.id).expect("latency")
    }

    /// Packets the PF transmitted (`ip -s link`).
    pub fn pf_tx_packets(&self) -> u64 {
        let l = ip_json(&["-s", "link", "show", "dev", &self.s.pf]);
        l[0]["stats64"]["tx"]["packets"].as_u64().expect("tx packets")
    }

    /// Native XDP is on the PF (and pinned).
    pub fn assert_native_xdp(&self) {
        assert!(self.pin_dir().join("link_xdp_native").exists(), "native XDP link pinned");
        let pf = link(None, &self.s.pf).expect("PF");
        assert_eq!(pf["xdp"]["mode"], 1, "driver-mode XDP on igb: {pf}");
    }

    /// After the last DEL: no XDP or TCX program on the PF, no pins, no records.
    pub fn assert_clean(&self) {
        let pf = link(None, &self.s.pf).expect("PF");
        assert!(pf.get("xdp").is_none(), "XDP left on the PF: {pf}");
        let progs = tcx_programs(&self.s.pf);
        assert!(progs.is_empty(), "TCX programs left on the PF: {progs:?}");
        let pins = self.bpffs.path().join("murmuration");
        let left: Vec<_> = std::fs::read_dir(&pins)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "pins left: {left:?}");
        assert!(self.cni.records().is_empty(), "records left: {:?}", self.cni.records());
    }
}

impl Drop for IgbUplink {
    fn drop(&mut self) {
        let _ = std::fs::write(v6_sysctl(&self.s.pf), self.pf_v6.trim());
        let _ = output(IP, &["link", "set", &self.s.pf, "promisc", "off"]);
        let _ = output(ETHTOOL, &["-K", &self.s.pf, "rxvlan", "on"]);
    }
}

/// A pod attached to the fast path.
#[derive(Debug)]
pub struct Attached {
    pub pod: Pod,
    pub cid: String,
    pub conf: Value,
    pub id: u32,
    pub host: String,
}

impl Attached {
    pub fn ns(&self) -> Option<&str> {
        Some(&self.pod.name)
    }
}

/// `count` pings from `ns` (None: the guest's root namespace), all answered.
pub fn pings(ns: Option<&str>, target: &str, count: u32) -> bool {
    let c = count.to_string();
    let ping = ["/bin/ping", "-c", &c, "-i", "0.2", "-W", "5", "-q", target];
    let out = match ns {
        Some(ns) => output(IP, &[&["netns", "exec", ns][..], &ping[..]].concat()),
        None => output(ping[0], &ping[1..]),
    };
    let text = String::from_utf8_lossy(&out.stdout);
    out.status.success() && text.contains(&format!("{count} packets received"))
}

/// Two pings from `ns` within a 2 s deadline: true if none was answered.
pub fn unreachable(ns: Option<&str>, target: &str) -> bool {
    let ping = ["/bin/ping", "-c", "2", "-w", "2", "-q", target];
    let out = match ns {
        Some(ns) => output(IP, &[&["netns", "exec", ns][..], &ping[..]].concat()),
        None => output(ping[0], &ping[1..]),
    };
    let text = String::from_utf8_lossy(&out.stdout);
    !out.status.success() && text.contains(" 0 packets received")
}

/// Waits (up to 20 s) for the first answered ping: attaching XDP resets
/// the igb link.
pub fn wait_reachable(ns: Option<&str>, target: &str) {
    crate::wait_for(&format!("ping {target}"), Duration::from_secs(20), || {
        pings(ns, target, 1).then_some(())
    });
}

/// A permanent neighbour entry (no ARP/ND in counted windows).
pub fn pin_neigh(ns: Option<&str>, dev: &str, addr: &str, mac: &str) {
    let args = ["neigh", "replace", addr, "lladdr", mac, "dev", dev, "nud", "permanent"];
    match ns {
        Some(ns) => ip(&[&["-n", ns][..], &args[..]].concat()),
        None => ip(&args),
    };
}

/// The link-layer address `ns` resolved for `addr` on `dev`, if any.
pub fn neigh_mac(ns: Option<&str>, dev: &str, addr: &str) -> Option<String> {
    let args = ["neigh", "show", "to", addr, "dev", dev];
    let v = match ns {
        Some(ns) => ip_json(&[&["-n", ns][..], &args[..]].concat()),
        None => ip_json(&args),
    };
    v.as_array()?.iter().find_map(|n| n["lladdr"].as_str().map(str::to_owned))
}

/// Unicast (non-flood) packets in each direction (to pod, from pod).
pub fn unicast(c: &PortCounters) -> (u64, u64) {
    (c.to_pod.packets - c.to_pod.flood_packets, c.from_pod.packets - c.from_pod.flood_packets)
}

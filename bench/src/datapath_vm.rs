//! `datapath-vm`: UDP RTT and packet rates between the wire igb NIC and a
//! pod on the igb PF, run inside the VM tier's guest (`cargo xtask vm-bench
//! --datapath` boots it; see `xtask/src/vm/bench.rs`).
//!
//! The two emulated 82576 NICs sit on one QEMU hub: the "wire" NIC is moved
//! into a client namespace of its own, the PF stays in the guest's root
//! namespace (the node). Paths, each built, measured and torn down in turn:
//!
//! - **bare PF (floor)**: the wire to an address on the PF itself;
//! - **bridge on PF + veth**: the PF enslaved to a Linux bridge, a veth to the pod;
//! - **murmuration sriov VF**: a fresh kernel-driver VF moved into the pod
//!   by the plugin's `sriov` mode;
//! - **murmuration fast path (tc)** and **(XDP native)**: a veth pod
//!   attached by the plugin with the PF as the fast-path uplink (rx-VLAN
//!   offload off and promiscuous, as the VM tests set it up).
//!
//! Neighbours are pinned on both ends, so no ARP falls in a timed window.
//! RTT uses the `datapath` client, whose SO_TIMESTAMPING timestamps are the
//! kernel's software RX timestamps: QEMU's igb latches a hardware RX
//! timestamp for the first frame only.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::cni_vm::{fresh_vfs, netdev_by_mac};
use crate::datapath::paths::{Built, addr, run_cmd, run_in, veth};
use crate::datapath::{Generator, PathResult, fastpath_add_pod, measure, measure_rtt};
use crate::topo::{Netns, ip, ip_in};

const WIRE_IP: &str = "10.64.0.1";
const POD_IP: Ipv4Addr = Ipv4Addr::new(10, 64, 0, 10);

/// Row names (the ratios are computed between them).
pub mod rows {
    pub const FLOOR: &str = "bare PF (floor)";
    pub const BRIDGE: &str = "bridge on PF + veth";
    pub const SRIOV: &str = "murmuration sriov VF";
    pub const FAST_TC: &str = "murmuration fast path (tc)";
    pub const FAST_XDP: &str = "murmuration fast path (XDP native)";
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// RTT samples per path (default 5000, 500 with --quick).
    #[arg(long)]
    samples: Option<usize>,
    /// Seconds of traffic per packet-rate measurement (default 3, 1 with --quick).
    #[arg(long)]
    seconds: Option<f64>,
    /// The murmuration plugin binary (default: next to this binary).
    #[arg(long)]
    plugin: Option<PathBuf>,
    /// MAC of the igb PF (the node's uplink).
    #[arg(long, default_value = "52:54:00:4d:00:01")]
    pf_mac: String,
    /// MAC of the wire igb NIC (the traffic's other end).
    #[arg(long, default_value = "52:54:00:4d:00:02")]
    wire_mac: String,
}

/// Commands undone (in reverse) when a path is torn down, after its `Built`.
#[derive(Debug, Default)]
struct Undo(Vec<Vec<String>>);

impl Undo {
    fn push(&mut self, argv: &[&str]) {
        self.0.push(argv.iter().map(|s| (*s).to_owned()).collect());
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        for argv in self.0.drain(..).rev() {
            let _ = Command::new(&argv[0]).args(&argv[1..]).status();
        }
    }
}

#[derive(Debug)]
struct VmPath {
    built: Built,
    _undo: Undo,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Floor,
    Bridge,
    Sriov,
    FastTc,
    FastXdp,
}

impl Kind {
    const ALL: [Kind; 5] = [Kind::Floor, Kind::Bridge, Kind::Sriov, Kind::FastTc, Kind::FastXdp];

    fn name(self) -> &'static str {
        match self {
            Kind::Floor => rows::FLOOR,
            Kind::Bridge => rows::BRIDGE,
            Kind::Sriov => rows::SRIOV,
            Kind::FastTc => rows::FAST_TC,
            Kind::FastXdp => rows::FAST_XDP,
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Kind::Floor => "vmf",
            Kind::Bridge => "vmb",
            Kind::Sriov => "vmv",
            Kind::FastTc => "vmt",
            Kind::FastXdp => "vmx",
        }
    }
}

/// Waits (up to 10 s) for the netdev with `mac` in the root namespace: a
/// physical NIC returns there asynchronously when its namespace goes.
fn wait_netdev(mac: &str) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match netdev_by_mac(mac) {
            Ok(n) => return Ok(n),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn v6_off(ns: &str, dev: &str) -> anyhow::Result<()> {
    let script = format!("echo 1 > /proc/sys/net/ipv6/conf/{dev}/disable_ipv6");
    run_in(ns, &["/bin/sh", "-c", &script], None)
}

/// The MAC of `dev` in namespace `ns`.
fn mac_in(ns: &str, dev: &str) -> anyhow::Result<String> {
    let out = Command::new("ip").args(["-n", ns, "-br", "link", "show", "dev", dev]).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .nth(2)
        .map(str::to_owned)
        .with_context(|| format!("MAC of {dev}: {text}"))
}

fn pin_neigh(ns: &str, dev: &str, addr: &str, mac: &str) -> anyhow::Result<()> {
    ip_in(ns, &["neigh", "replace", addr, "lladdr", mac, "dev", dev, "nud", "permanent"])
}

/// The plugin config of the fast path (`xdp`: `uplinkXdp: native`) or of
/// `sriov` mode on VF `vf`, with the pod's static address.
fn plugin_conf(data: &Path, pf: &str, vf: Option<&str>, xdp: bool) -> String {
    let mode = match vf {
        Some(vf) => format!(r#","mode":"sriov","deviceID":"{vf}""#),
        None => format!(
            r#","master":"{pf}","bpfPinRoot":"{}"{}"#,
            data.join("bpf").display(),
            if xdp { r#","uplinkXdp":"native""# } else { "" }
        ),
    };
    format!(
        r#"{{"cniVersion":"1.1.0","name":"bench-vm","type":"murmuration","dataDir":"{}"{mode},"ipamInProcess":true,"ipam":{{"type":"static","addresses":[{{"address":"{POD_IP}/24"}}]}}}}"#,
        data.display()
    )
}

fn build(kind: Kind, a: &Args, plugin: &Path) -> anyhow::Result<VmPath> {
    let tag = kind.tag();
    let pf = netdev_by_mac(&a.pf_mac)?;
    let wire = wait_netdev(&a.wire_mac)?;
    let mut undo = Undo::default();
    let w = Netns::create(&format!("{tag}-w"))?;
    ip(&["link", "set", &wire, "netns", &w.name])?;
    v6_off(&w.name, &wire)?;
    addr(&w, &wire, &format!("{WIRE_IP}/24"))?;
    ip_in(&w.name, &["link", "set", &wire, "up"])?;
    let node = Netns::attach(&format!("{tag}-node"), 1)?;
    ip(&["link", "set", &pf, "up"])?;
    let data = std::env::temp_dir().join(format!("{}-state", node.name));
    std::fs::create_dir_all(&data)?;
    let mut built = Built {
        name: kind.name().to_owned(),
        client: w,
        server: Netns::create(&format!("{tag}-p"))?,
        server_ip: IpAddr::V4(POD_IP),
        keep: vec![],
        plugin_del: vec![],
        state_dir: Some(data.clone()),
    };
    let pod_dev = match kind {
        Kind::Floor => {
            // The server is the node itself; the pod namespace goes unused.
            let pod = std::mem::replace(&mut built.server, node);
            built.keep.push(pod);
            v6_off(&built.server.name, &pf)?;
            ip(&["addr", "add", &format!("{POD_IP}/24"), "dev", &pf])?;
            undo.push(&["ip", "addr", "flush", "dev", &pf]);
            pf.clone()
        }
        Kind::Bridge => {
            let br = "mmbbr0";
            ip(&["link", "add", br, "type", "bridge"])?;
            undo.push(&["ip", "link", "del", br]);
            ip(&["link", "set", &pf, "master", br])?;
            ip(&["link", "set", br, "up"])?;
            veth(&node, "mmbv0", &built.server, "eth0")?;
            ip(&["link", "set", "mmbv0", "master", br])?;
            v6_off(&built.server.name, "eth0")?;
            addr(&built.server, "eth0", &format!("{POD_IP}/24"))?;
            built.keep.push(node);
            "eth0".to_owned()
        }
        Kind::Sriov => {
            let vf = fresh_vfs(&a.pf_mac, 1)?.remove(0);
            let numvfs = format!("/sys/class/net/{pf}/device/sriov_numvfs");
            undo.push(&["/bin/sh", "-c", &format!("echo 0 > {numvfs}")]);
            let conf = plugin_conf(&data, &pf, Some(&vf), false);
            let call = fastpath_add_pod(plugin, &node, &built.server, format!("{tag}-pod"), conf)?;
            built.plugin_del.push(call);
            built.keep.push(node);
            "eth0".to_owned()
        }
        Kind::FastTc | Kind::FastXdp => {
            // XDP needs the tag in the packet; the PF must accept the pod's MAC.
            run_cmd(Command::new("ethtool").args(["-K", &pf, "rxvlan", "off"]))?;
            undo.push(&["ethtool", "-K", &pf, "rxvlan", "on"]);
            ip(&["link", "set", &pf, "promisc", "on"])?;
            undo.push(&["ip", "link", "set", &pf, "promisc", "off"]);
            crate::topo::mount_bpffs(&data.join("bpf"))?;
            let conf = plugin_conf(&data, &pf, None, kind == Kind::FastXdp);
            let call = fastpath_add_pod(plugin, &node, &built.server, format!("{tag}-pod"), conf)?;
            built.plugin_del.push(call);
            built.keep.push(node);
            "eth0".to_owned()
        }
    };
    let server_ns = built.server.name.clone();
    let client_ns = built.client.name.clone();
    if kind != Kind::Floor {
        ip_in(&server_ns, &["link", "set", "lo", "up"])?;
    }
    let server_mac = mac_in(&server_ns, &pod_dev)?;
    pin_neigh(&client_ns, &wire, &POD_IP.to_string(), &server_mac)?;
    pin_neigh(&server_ns, &pod_dev, WIRE_IP, &a.wire_mac)?;
    wait_reachable(&built)?;
    Ok(VmPath { built, _undo: undo })
}

/// Waits (up to 40 s) for the first echoed datagram: attaching XDP resets
/// the igb link, and a NIC moved between namespaces comes up again.
fn wait_reachable(p: &Built) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        match measure_rtt(p, 0, 1) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                let dst = SocketAddr::new(p.server_ip, 0);
                return Err(e.context(format!("{}: {dst} not reachable from the wire", p.name)));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Ratios of every path to the floor and to the bridge, and XDP to tc.
fn ratios(results: &[PathResult]) -> String {
    let get = |n: &str| results.iter().find(|r| r.name == n);
    let Some(floor) = get(rows::FLOOR) else {
        return "Ratios need the floor (bare PF) result.\n".into();
    };
    let bridge = get(rows::BRIDGE);
    let mut md = String::from(
        "| path | RTT p50 / floor | RTT p99 / floor | 64 B pps / floor | 1500 B pps / floor | RTT p50 / bridge | 64 B pps / bridge |\n|---|---|---|---|---|---|---|\n",
    );
    for r in results {
        let b = |f: &dyn Fn(&PathResult) -> f64| {
            bridge.map_or("n/a".into(), |b| format!("{:.3}", f(r) / f(b)))
        };
        md += &format!(
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {} |\n",
            r.name,
            r.rtt.p50_us / floor.rtt.p50_us,
            r.rtt.p99_us / floor.rtt.p99_us,
            r.pps_64 / floor.pps_64,
            r.pps_1500 / floor.pps_1500,
            b(&|x| x.rtt.p50_us),
            b(&|x| x.pps_64),
        );
    }
    if let (Some(x), Some(t)) = (get(rows::FAST_XDP), get(rows::FAST_TC)) {
        md += &format!(
            "\nXDP / tc: RTT p50 {:.3}, 64 B pps {:.3}, 1500 B pps {:.3}\n",
            x.rtt.p50_us / t.rtt.p50_us,
            x.pps_64 / t.pps_64,
            x.pps_1500 / t.pps_1500
        );
    }
    md += "\nRTT: software SO_TIMESTAMPING RX timestamps (QEMU's igb latches a hardware RX \
           timestamp for the first frame only). TCG guest: only ratios within one run mean anything.\n";
    md
}

pub fn run(args: &Args, quick: bool, out: &Path) -> anyhow::Result<()> {
    let samples = args.samples.unwrap_or(if quick { 500 } else { 5000 });
    let secs = args.seconds.unwrap_or(if quick { 1.0 } else { 3.0 });
    let plugin = crate::plugin_path(args.plugin.as_deref())?;
    if !plugin.is_file() {
        bail!("no plugin at {}", plugin.display());
    }
    let mut results = Vec::new();
    let mut failures = Vec::new();
    for kind in Kind::ALL {
        eprintln!("bench datapath-vm: building {}", kind.name());
        // sendmmsg: the packet generators are compared by `datapath`, not here.
        match build(kind, args, &plugin)
            .and_then(|p| measure(&p.built, samples, secs, Generator::Sendmmsg))
        {
            Ok(r) => results.push(r),
            Err(e) => {
                eprintln!("bench datapath-vm: {} failed: {e:#}", kind.name());
                failures.push(format!("{}: {e:#}", kind.name()));
            }
        }
    }
    crate::report::paths_report("datapath-vm", &results, &ratios(&results), None, &failures, out)?;
    if results.is_empty() {
        bail!("every path failed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::summarize;

    fn row(name: &str, us: u64, pps: f64) -> PathResult {
        let s = vec![Duration::from_micros(us); 3];
        PathResult {
            name: name.into(),
            rtt: summarize(&s),
            rtt_kernel_ts: None,
            pps_64: pps,
            pps_1500: pps / 2.0,
            rtt_samples: s,
        }
    }

    #[test]
    fn configs_and_the_datapath_json_shape() {
        let d = Path::new("/tmp/x");
        let tc = plugin_conf(d, "enp1s0", None, false);
        let v: serde_json::Value = serde_json::from_str(&tc).expect("tc conf");
        assert_eq!(v["master"], "enp1s0");
        assert_eq!(v["bpfPinRoot"], "/tmp/x/bpf");
        assert!(v.get("uplinkXdp").is_none());
        let x: serde_json::Value =
            serde_json::from_str(&plugin_conf(d, "enp1s0", None, true)).expect("xdp conf");
        assert_eq!(x["uplinkXdp"], "native");
        let vf: serde_json::Value =
            serde_json::from_str(&plugin_conf(d, "enp1s0", Some("0000:01:10.0"), false))
                .expect("vf conf");
        assert_eq!(vf["mode"], "sriov");
        assert_eq!(vf["deviceID"], "0000:01:10.0");
        assert_eq!(vf["ipam"]["addresses"][0]["address"], "10.64.0.10/24");

        let dir = tempfile::tempdir().expect("tempdir");
        let results = vec![
            row(rows::FLOOR, 100, 1000.0),
            row(rows::BRIDGE, 200, 500.0),
            row(rows::FAST_TC, 150, 800.0),
            row(rows::FAST_XDP, 120, 900.0),
        ];
        let md = ratios(&results);
        assert!(md.contains("| murmuration fast path (tc) | 1.500 |"), "{md}");
        assert!(md.contains("XDP / tc: RTT p50 0.800"), "{md}");
        crate::report::paths_report("datapath-vm", &results, &md, None, &[], dir.path())
            .expect("report");
        let json: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.path().join("datapath-vm.json")).expect("json"),
        )
        .expect("valid JSON");
        assert_eq!(json["benchmark"], "datapath-vm");
        assert_eq!(json["paths"][0]["name"], rows::FLOOR);
        assert_eq!(json["paths"][2]["rtt"]["p50_us"], 150.0);
        assert_eq!(json["paths"][3]["pps_64"], 900.0);
        assert!(dir.path().join("datapath-vm-rtt-cdf.svg").is_file());
        assert!(dir.path().join("datapath-vm-pps-64.svg").is_file());
    }
}

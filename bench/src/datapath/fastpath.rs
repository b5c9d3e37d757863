//! The fast-path variants of the datapath benchmark: wire -> uplink `up0` in
//! a node namespace -> pod attached by the real plugin binary, optionally on
//! VLAN 100 (the wire made an access port by the core's test-only tagger),
//! with in-packet tags, with the XDP uplink program, with counting switched
//! off, or pod -> pod on the same uplink.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::bail;
use murmuration_core::datapath::{self, testing};
use murmuration_core::netns::NetNs;

use super::paths::{Built, PluginCall, addr, run_in, run_with_stdin, veth};
use crate::topo::{Netns, ip_in};

/// Which fast path to build.
#[derive(Debug, Clone, Copy, Default)]
pub struct Variant {
    /// Access VLAN of the pod and the wire (0: untagged).
    pub vlan: u16,
    /// The wire puts tags (and complete checksums) in the frame, as a
    /// switch port and a remote NIC do; the uplink does not offload them.
    pub tags_in_packet: bool,
    /// `uplinkXdp: native`.
    pub xdp: bool,
    /// Counting switched off at run time (`datapath::set_counting`).
    pub no_counters: bool,
    /// The client is a second pod on the same uplink, not the wire.
    pub pod_to_pod: bool,
    /// Untagged, but with the wire tagger's programs installed (tagging
    /// nothing): the control for the VLAN rows, whose wire-side tag push is
    /// a cost of the test double, not of the node.
    pub idle_tagger: bool,
}

impl Variant {
    fn extra(&self) -> String {
        let mut s = String::new();
        if self.vlan != 0 {
            s += &format!(r#","vlan":{}"#, self.vlan);
        }
        if self.xdp {
            s += r#","uplinkXdp":"native""#;
        }
        s
    }
}

/// A plugin ADD of one pod; the call to replay as DEL.
pub fn add_pod(
    plugin: &Path,
    node: &Netns,
    pod: &Netns,
    cid: String,
    conf: String,
) -> anyhow::Result<PluginCall> {
    let env = vec![
        ("CNI_CONTAINERID", cid),
        ("CNI_NETNS", pod.path()),
        ("CNI_IFNAME", "eth0".to_owned()),
        ("CNI_PATH", "/usr/lib/cni".to_owned()),
    ];
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &node.name]).arg(plugin).envs(env.iter().cloned());
    cmd.env("CNI_COMMAND", "ADD");
    let out = run_with_stdin(cmd, conf.as_bytes())?;
    let call = PluginCall { plugin: plugin.to_owned(), node: node.name.clone(), conf, env };
    if !out.status.success() {
        drop(call);
        bail!("plugin ADD failed: {}", String::from_utf8_lossy(&out.stdout));
    }
    Ok(call)
}

fn conf(data: &Path, pins: &Path, v: &Variant, address: &str) -> String {
    format!(
        r#"{{"cniVersion":"1.1.0","name":"bench-fp","type":"murmuration","master":"up0","dataDir":"{}","bpfPinRoot":"{}"{},"ipamInProcess":true,"ipam":{{"type":"static","addresses":[{{"address":"{address}"}}]}}}}"#,
        data.display(),
        pins.display(),
        v.extra()
    )
}

/// The wire side: tags in the packet, complete checksums, VLAN tagger.
fn prepare_wire(wire: &Netns, node: &Netns, pins: &Path, v: &Variant) -> anyhow::Result<()> {
    if v.tags_in_packet {
        run_in(&wire.name, &["ethtool", "-K", "c0", "txvlan", "off", "tx", "off"], None)?;
        run_in(&node.name, &["ethtool", "-K", "up0", "rxvlan", "off"], None)?;
    }
    if v.vlan != 0 || v.idle_tagger {
        let (pins, vid) = (pins.to_owned(), v.vlan);
        NetNs::open(Path::new(&wire.path()))?
            .run(move || testing::install(&pins, "c0", vid, 0x8100))??;
    }
    Ok(())
}

pub fn build(tag: &str, name: &str, plugin: &Path, v: Variant) -> anyhow::Result<Built> {
    let c = Netns::create(&format!("{tag}-w"))?;
    let n = Netns::create(&format!("{tag}-n"))?;
    let s = Netns::create(&format!("{tag}-p"))?;
    veth(&n, "up0", &c, "c0")?;
    addr(&c, "c0", "10.63.0.1/24")?;
    ip_in(&s.name, &["link", "set", "lo", "up"])?;
    let data: PathBuf = std::env::temp_dir().join(format!("{}-state", n.name));
    let pins = data.join("bpf");
    crate::topo::mount_bpffs(&pins)?;
    let mut built = Built {
        name: name.to_owned(),
        client: c,
        server: s,
        server_ip: IpAddr::V4(Ipv4Addr::new(10, 63, 0, 10)),
        keep: vec![],
        plugin_del: vec![],
        state_dir: Some(data.clone()),
    };
    prepare_wire(&built.client, &n, &pins, &v)?;
    let call = add_pod(
        plugin,
        &n,
        &built.server,
        format!("{tag}-pod"),
        conf(&data, &pins, &v, "10.63.0.10/24"),
    )?;
    built.plugin_del.push(call);
    if v.pod_to_pod {
        let q = Netns::create(&format!("{tag}-q"))?;
        ip_in(&q.name, &["link", "set", "lo", "up"])?;
        let call = add_pod(
            plugin,
            &n,
            &q,
            format!("{tag}-pod2"),
            conf(&data, &pins, &v, "10.63.0.11/24"),
        )?;
        built.plugin_del.push(call);
        let wire = std::mem::replace(&mut built.client, q);
        built.keep.push(wire);
    }
    if v.no_counters {
        datapath::set_counting(&pins.join("up0"), false)?;
    }
    built.keep.push(n);
    Ok(built)
}

//! The packet paths under test, each built in its own throwaway namespaces.
//!
//! - `veth`: a bare veth pair between two namespaces (the floor here).
//! - `bridge`: wire -> Linux bridge in a node namespace -> pod, what a bridge CNI gives.
//! - `iptables`: wire -> node routes -> pod with 1,000 non-matching FORWARD rules,
//!   as an iptables-based primary CNI leaves a node.
//! - the fast-path variants live in `fastpath.rs`.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use crate::topo::{Netns, ip_in};

/// A built path: traffic goes from `client` to `server_ip` inside `server`.
#[derive(Debug)]
pub struct Built {
    pub name: String,
    pub client: Netns,
    pub server: Netns,
    pub server_ip: IpAddr,
    /// Namespaces that must live as long as the path (node, extra pods).
    pub keep: Vec<Netns>,
    /// How to DEL what the plugin attached, before the namespaces go.
    pub plugin_del: Vec<PluginCall>,
    /// The plugin's state directory with its private bpffs at `bpf/`.
    pub state_dir: Option<std::path::PathBuf>,
}

/// A plugin invocation replayed on teardown.
#[derive(Debug)]
pub struct PluginCall {
    pub plugin: std::path::PathBuf,
    pub node: String,
    pub conf: String,
    pub env: Vec<(&'static str, String)>,
}

impl PluginCall {
    fn del(&self) {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.node]).arg(&self.plugin).envs(self.env.iter().cloned());
        cmd.env("CNI_COMMAND", "DEL");
        match run_with_stdin(cmd, self.conf.as_bytes()) {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                eprintln!("bench: plugin DEL failed: {}", String::from_utf8_lossy(&out.stdout))
            }
            Err(e) => eprintln!("bench: plugin DEL failed: {e:#}"),
        }
    }
}

impl Drop for Built {
    fn drop(&mut self) {
        for call in self.plugin_del.drain(..).rev() {
            call.del();
        }
        if let Some(dir) = self.state_dir.take() {
            crate::topo::unmount_bpffs(&dir.join("bpf"));
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

pub fn veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str) -> anyhow::Result<()> {
    ip_in(&a.name, &["link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", &b.name])?;
    ip_in(&a.name, &["link", "set", a_if, "up"])?;
    ip_in(&b.name, &["link", "set", b_if, "up"])
}

pub fn addr(ns: &Netns, ifname: &str, cidr: &str) -> anyhow::Result<()> {
    ip_in(&ns.name, &["addr", "add", cidr, "dev", ifname])?;
    ip_in(&ns.name, &["link", "set", "lo", "up"])
}

pub fn bare_veth(tag: &str) -> anyhow::Result<Built> {
    let (c, s) = (Netns::create(&format!("{tag}-c"))?, Netns::create(&format!("{tag}-s"))?);
    veth(&c, "c0", &s, "s0")?;
    addr(&c, "c0", "10.60.0.1/24")?;
    addr(&s, "s0", "10.60.0.2/24")?;
    Ok(Built {
        name: "veth (floor)".into(),
        client: c,
        server: s,
        server_ip: ip(10, 60, 0, 2),
        keep: vec![],
        plugin_del: vec![],
        state_dir: None,
    })
}

pub fn bridge(tag: &str) -> anyhow::Result<Built> {
    let c = Netns::create(&format!("{tag}-c"))?;
    let n = Netns::create(&format!("{tag}-n"))?;
    let s = Netns::create(&format!("{tag}-s"))?;
    ip_in(&n.name, &["link", "add", "br0", "type", "bridge"])?;
    ip_in(&n.name, &["link", "set", "br0", "up"])?;
    veth(&n, "cb", &c, "c0")?;
    veth(&n, "sb", &s, "s0")?;
    ip_in(&n.name, &["link", "set", "cb", "master", "br0"])?;
    ip_in(&n.name, &["link", "set", "sb", "master", "br0"])?;
    addr(&c, "c0", "10.61.0.1/24")?;
    addr(&s, "s0", "10.61.0.2/24")?;
    Ok(Built {
        name: "bridge".into(),
        client: c,
        server: s,
        server_ip: ip(10, 61, 0, 2),
        keep: vec![n],
        plugin_del: vec![],
        state_dir: None,
    })
}

pub fn iptables(tag: &str, rules: usize) -> anyhow::Result<Built> {
    let c = Netns::create(&format!("{tag}-c"))?;
    let n = Netns::create(&format!("{tag}-n"))?;
    let s = Netns::create(&format!("{tag}-s"))?;
    veth(&n, "cn", &c, "c0")?;
    veth(&n, "sn", &s, "s0")?;
    addr(&n, "cn", "10.62.1.1/24")?;
    addr(&n, "sn", "10.62.2.1/24")?;
    addr(&c, "c0", "10.62.1.2/24")?;
    addr(&s, "s0", "10.62.2.2/24")?;
    ip_in(&c.name, &["route", "add", "default", "via", "10.62.1.1"])?;
    ip_in(&s.name, &["route", "add", "default", "via", "10.62.2.1"])?;
    run_in(&n.name, &["sysctl", "-qw", "net.ipv4.ip_forward=1"], None)?;
    run_in(&n.name, &["iptables-restore"], Some(&forward_rules(rules)))?;
    Ok(Built {
        name: format!("iptables ({rules} rules)"),
        client: c,
        server: s,
        server_ip: ip(10, 62, 2, 2),
        keep: vec![n],
        plugin_del: vec![],
        state_dir: None,
    })
}

/// `rules` FORWARD rules that never match the benchmark's traffic, then ACCEPT.
fn forward_rules(rules: usize) -> String {
    let mut out =
        String::from("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    for i in 0..rules {
        out += &format!(
            "-A FORWARD -s 198.18.{}.{}/32 -p tcp --dport {} -j DROP\n",
            i / 250,
            i % 250 + 1,
            1000 + i
        );
    }
    out += "-A FORWARD -j ACCEPT\nCOMMIT\n";
    out
}

fn ip(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

pub fn run_with_stdin(mut cmd: Command, input: &[u8]) -> anyhow::Result<std::process::Output> {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
    child.stdin.take().context("stdin")?.write_all(input)?;
    Ok(child.wait_with_output()?)
}

pub fn run_cmd(cmd: &mut Command) -> anyhow::Result<()> {
    let st = cmd.status()?;
    if !st.success() {
        bail!("{cmd:?} failed");
    }
    Ok(())
}

pub fn run_in(ns: &str, argv: &[&str], input: Option<&str>) -> anyhow::Result<()> {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns]).args(argv);
    let out = run_with_stdin(cmd, input.unwrap_or("").as_bytes())?;
    if !out.status.success() {
        bail!("{} in {ns} failed", argv.join(" "));
    }
    Ok(())
}

//! Chains driven the way a runtime drives a conflist: ADD each plugin in
//! order with the previous result, CHECK each with the final result, DEL in
//! reverse; `runtimeConfig` only for the capabilities a plugin declares.
//! The chained plugins are Debian's reference `tuning` and `bandwidth`.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use murmuration_core::datapath::PortCounters;
use murmuration_core::datapath::common::{DROP_RATE_LIMIT, DROP_SPOOF};
use serde_json::{Value, json};

use super::frames::{in_netns, udp_exchange};
use super::{Fabric, WIRE_IF, WIRE_IP, WIRE_MAC, neigh, ping};
use crate::common::audit::poll;
use crate::common::{CNI_BIN_DIR, Env, Netns, Outcome, PLUGIN};

const POD_MAC: &str = "02:00:00:00:07:01";
const TUNED_MAC: &str = "02:00:00:00:07:99";
/// The reference plugins of this Debian release speak up to 1.0.0.
const CHAIN_VERSION: &str = "1.0.0";

/// One conflist and the runtime's per-attachment arguments.
struct Chain<'a> {
    f: &'a Fabric,
    pod: &'a Netns,
    cid: &'a str,
    plugins: Vec<Value>,
    /// What the runtime offers per capability (`runtimeConfig`).
    runtime: Value,
}

impl Chain<'_> {
    fn binary(plugin: &Value) -> PathBuf {
        match plugin["type"].as_str().expect("type") {
            "murmuration" => PathBuf::from(PLUGIN),
            other => Path::new(CNI_BIN_DIR).join(other),
        }
    }

    /// Plugin `i`'s network config as libcni builds it.
    fn conf(&self, i: usize, prev: Option<&Value>) -> Value {
        let mut c = self.plugins[i].clone();
        c["cniVersion"] = json!(CHAIN_VERSION);
        c["name"] = json!(self.f.w.net);
        let caps = c["capabilities"].as_object().cloned().unwrap_or_default();
        let rc: serde_json::Map<String, Value> = caps
            .iter()
            .filter(|(k, on)| on.as_bool() == Some(true) && !self.runtime[k.as_str()].is_null())
            .map(|(k, _)| (k.clone(), self.runtime[k.as_str()].clone()))
            .collect();
        if !rc.is_empty() {
            c["runtimeConfig"] = Value::Object(rc);
        }
        if let Some(p) = prev {
            c["prevResult"] = p.clone();
        }
        c
    }

    fn run(&self, i: usize, verb: &str, prev: Option<&Value>) -> Outcome {
        let env = Env::attachment(verb, Some(self.pod), self.cid, "eth0");
        let stdin = serde_json::to_vec(&self.conf(i, prev)).expect("config JSON");
        self.f.w.exec_binary(&Self::binary(&self.plugins[i]), &env, &stdin)
    }

    /// ADD through the chain: the final result, or the index and outcome
    /// of the plugin that failed (with the last result before it).
    fn add(&self) -> Result<Value, (usize, Outcome, Option<Value>)> {
        let mut prev: Option<Value> = None;
        for i in 0..self.plugins.len() {
            let out = self.run(i, "ADD", prev.as_ref());
            if !out.success {
                return Err((i, out, prev));
            }
            prev = Some(out.result());
        }
        Ok(prev.expect("a non-empty chain"))
    }

    /// CHECK of every plugin with the final result.
    fn check(&self, result: &Value) -> Vec<Outcome> {
        (0..self.plugins.len()).map(|i| self.run(i, "CHECK", Some(result))).collect()
    }

    /// DEL in reverse order; every plugin must succeed.
    fn del(&self, result: Option<&Value>) {
        for i in (0..self.plugins.len()).rev() {
            self.run(i, "DEL", result).ok();
        }
    }
}

fn fast_path_plugin(f: &Fabric) -> Value {
    let mut c = f.conf(0, false);
    c.as_object_mut().expect("object").remove("cniVersion");
    c
}

/// The MAC of `iface` in `ns`.
fn link_mac(ns: &Netns, iface: &str) -> String {
    let link = ns.link(iface).unwrap_or_else(|| panic!("{iface} is missing"));
    link["address"].as_str().expect("address").to_owned()
}

fn wait_counters(f: &Fabric, cid: &str, done: impl Fn(&PortCounters) -> bool) -> PortCounters {
    let ok = poll(Duration::from_secs(10), || done(&f.counters(cid)));
    let now = f.counters(cid);
    assert!(ok, "{cid}: counters never got there: {now:?}");
    now
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn tuning_that_changes_the_mac_fails_check_and_its_frames_count_as_spoof() {
    let f = Fabric::new(0);
    let pod = f.pod(false);
    let mut ours = fast_path_plugin(&f);
    ours["mac"] = json!(POD_MAC);
    let tuning = json!({"type": "tuning", "mac": TUNED_MAC});
    let chain =
        Chain { f: &f, pod: &pod, cid: "tune-1", plugins: vec![ours, tuning], runtime: json!({}) };
    let result = chain.add().unwrap_or_else(|(i, out, _)| panic!("ADD {i}: {}", out.stdout));
    assert_eq!(link_mac(&pod, "eth0"), TUNED_MAC, "tuning changed the pod's MAC");

    let checks = chain.check(&result);
    let e = checks[0].error();
    let msg = e["msg"].as_str().expect("msg");
    assert_eq!(e["code"], 102, "{e}");
    for needed in [TUNED_MAC, POD_MAC, "runtimeConfig.mac", "MAC=", "spoof"] {
        assert!(msg.contains(needed), "CHECK's message lacks {needed:?}: {msg}");
    }
    checks[1].ok();

    // What the MAC change does to traffic: dropped, and counted as spoof.
    neigh(&pod, "eth0", WIRE_IP, WIRE_MAC);
    let before = f.counters("tune-1").from_pod.drops[DROP_SPOOF];
    let got = udp_exchange(&pod, &f.wire, format!("{WIRE_IP}:7101").parse().expect("addr"), 5);
    assert_eq!(got, 0, "frames from the changed MAC reached the wire");
    wait_counters(&f, "tune-1", |c| c.from_pod.drops[DROP_SPOOF] >= before + 5);

    chain.del(Some(&result));
    f.assert_clean(&[&pod]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn tuning_given_the_same_mac_as_murmuration_passes_check_and_traffic() {
    let f = Fabric::new(0);
    let pod = f.pod(false);
    let mut ours = fast_path_plugin(&f);
    ours["capabilities"] = json!({"mac": true});
    let tuning = json!({"type": "tuning", "capabilities": {"mac": true}});
    let chain = Chain {
        f: &f,
        pod: &pod,
        cid: "tune-2",
        plugins: vec![ours, tuning],
        runtime: json!({"mac": POD_MAC}),
    };
    let result = chain.add().unwrap_or_else(|(i, out, _)| panic!("ADD {i}: {}", out.stdout));
    assert_eq!(link_mac(&pod, "eth0"), POD_MAC);
    for out in chain.check(&result) {
        out.ok();
    }
    assert!(ping(&pod, WIRE_IP, 2), "pod -> wire with the runtime's MAC");
    assert_eq!(f.counters("tune-2").from_pod.drops[DROP_SPOOF], 0, "nothing dropped as spoof");
    chain.del(Some(&result));

    // The same through CNI_ARGS MAC=, which every plugin of the chain gets.
    let mut ours = fast_path_plugin(&f);
    ours.as_object_mut().expect("object").remove("capabilities");
    let plugins = vec![ours, json!({"type": "tuning"})];
    let chain = Chain { f: &f, pod: &pod, cid: "tune-3", plugins, runtime: json!({}) };
    let mut prev: Option<Value> = None;
    for i in 0..2 {
        let env = Env::attachment("ADD", Some(&pod), "tune-3", "eth0")
            .set("CNI_ARGS", &format!("IgnoreUnknown=1;MAC={POD_MAC}"));
        let stdin = serde_json::to_vec(&chain.conf(i, prev.as_ref())).expect("JSON");
        prev = Some(f.w.exec_binary(&Chain::binary(&chain.plugins[i]), &env, &stdin).result());
    }
    let result = prev.expect("result");
    assert_eq!(link_mac(&pod, "eth0"), POD_MAC);
    chain.check(&result)[0].ok();
    assert!(ping(&pod, WIRE_IP, 2), "pod -> wire with MAC= from CNI_ARGS");
    chain.del(Some(&result));
    f.assert_clean(&[&pod]);
}

/// Sends 1000-byte UDP datagrams from `from` to `to` for `span`; the time
/// it really sent for.
fn blast(from: &Netns, to: SocketAddr, span: Duration) -> Duration {
    in_netns(from, || {
        let s = UdpSocket::bind("0.0.0.0:0").expect("bind UDP sender");
        let payload = [0u8; 1000];
        let start = Instant::now();
        while start.elapsed() < span {
            // A full queue refuses some; the policer sees the rest.
            let _ = s.send_to(&payload, to);
        }
        start.elapsed()
    })
}

/// bits/s the fast path forwarded: `bytes` over `span`.
fn measured(bytes: u64, span: Duration) -> f64 {
    bytes as f64 * 8.0 / span.as_secs_f64()
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn runtime_bandwidth_is_enforced_by_the_fast_path_in_both_directions() {
    const RATE: u64 = 10_000_000;
    let f = Fabric::new(0);
    let pod = f.pod(false);
    let mut ours = fast_path_plugin(&f);
    (ours["mac"], ours["capabilities"]) = (json!(POD_MAC), json!({"bandwidth": true}));
    let bw = json!({"ingressRate": RATE, "ingressBurst": 1_000_000,
                    "egressRate": RATE, "egressBurst": 1_000_000});
    let chain = Chain {
        f: &f,
        pod: &pod,
        cid: "bw-1",
        plugins: vec![ours],
        runtime: json!({"bandwidth": bw}),
    };
    let result = chain.add().unwrap_or_else(|(i, out, _)| panic!("ADD {i}: {}", out.stdout));
    let pod_ip = result["ips"][0]["address"].as_str().and_then(|a| a.split('/').next());
    let pod_ip = pod_ip.expect("an IPv4 address").to_owned();
    neigh(&pod, "eth0", WIRE_IP, WIRE_MAC);
    neigh(&f.wire, WIRE_IF, &pod_ip, POD_MAC);
    // Receivers, so that neither side answers with port unreachables.
    let _sink_wire = in_netns(&f.wire, || UdpSocket::bind(format!("{WIRE_IP}:7201")));
    let _sink_pod = in_netns(&pod, || UdpSocket::bind(format!("{pod_ip}:7202")));

    let span = Duration::from_secs(2);
    let before = f.counters("bw-1");
    let took = blast(&pod, format!("{WIRE_IP}:7201").parse().expect("addr"), span);
    let mid = f.counters("bw-1");
    let took_in = blast(&f.wire, format!("{pod_ip}:7202").parse().expect("addr"), span);
    let after = f.counters("bw-1");

    let egress = measured(mid.from_pod.bytes - before.from_pod.bytes, took);
    let ingress = measured(after.to_pod.bytes - mid.to_pod.bytes, took_in);
    eprintln!(
        "bandwidth {RATE} bit/s: egress {egress:.0} bit/s ({:.3}x), ingress {ingress:.0} bit/s \
         ({:.3}x); rate_limit drops egress {} ingress {}",
        egress / RATE as f64,
        ingress / RATE as f64,
        mid.from_pod.drops[DROP_RATE_LIMIT],
        after.to_pod.drops[DROP_RATE_LIMIT],
    );
    for (what, got) in [("egress", egress), ("ingress", ingress)] {
        let ratio = got / RATE as f64;
        assert!((0.5..=1.5).contains(&ratio), "{what}: {got:.0} bit/s is {ratio:.2}x of {RATE}");
    }
    assert!(mid.from_pod.drops[DROP_RATE_LIMIT] > 0, "the egress policer dropped nothing");
    assert!(after.to_pod.drops[DROP_RATE_LIMIT] > 0, "the ingress policer dropped nothing");
    chain.del(Some(&result));
    f.assert_clean(&[&pod]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn a_chained_reference_bandwidth_plugin_fails_loudly_and_leaves_nothing() {
    let f = Fabric::new(0);
    let pod = f.pod(false);
    let cases = [
        ("bwc-in", json!({"ingressRate": 10_000_000, "ingressBurst": 100_000})),
        ("bwc-out", json!({"egressRate": 10_000_000, "egressBurst": 100_000})),
    ];
    for (cid, bw) in cases {
        let plugins = vec![
            fast_path_plugin(&f),
            json!({"type": "bandwidth", "capabilities": {"bandwidth": true}}),
        ];
        let runtime = json!({"bandwidth": bw});
        let chain = Chain { f: &f, pod: &pod, cid, plugins, runtime };
        let Err((i, out, prev)) = chain.add() else {
            panic!("{cid}: the chained bandwidth plugin succeeded on a fast-path port");
        };
        assert_eq!(i, 1, "{cid}: murmuration itself failed: {}", out.stdout);
        // The reference plugin's error object (code 999, no cniVersion).
        assert!(!out.success, "{cid}: exit status 0 with an error");
        let e: Value = serde_json::from_str(&out.stdout).expect("an error object on stdout");
        eprintln!("{cid}: the runtime gets: {e}");
        let msg = e["msg"].as_str().expect("msg").to_lowercase();
        assert!(msg.contains("qdisc"), "{cid}: {msg}");
        // The runtime's cleanup after a failed ADD: DEL of the whole chain.
        chain.del(prev.as_ref());
        f.assert_clean(&[&pod]);
    }
}

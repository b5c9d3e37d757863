//! Running guest tools: iproute2 by absolute path (busybox ash prefers its own
//! applets), JSON output parsed with serde_json.

use std::process::{Command, Output};

use serde_json::Value;

pub const IP: &str = "/usr/sbin/ip";

/// Runs a command; panics with its output unless it exits 0. Returns stdout.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = output(program, args);
    assert!(
        out.status.success(),
        "`{program} {}` failed ({}): {}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn output(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

/// `ip <args>`, asserting success.
pub fn ip(args: &[&str]) -> String {
    run(IP, args)
}

/// `ip -j -d <args>` parsed (`-n ns` may lead `args`).
pub fn ip_json(args: &[&str]) -> Value {
    let mut all = vec!["-j", "-d"];
    all.extend_from_slice(args);
    let text = run(IP, &all);
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("ip {all:?} printed bad JSON ({e}): {text}"))
}

/// The link `name` in namespace `ns` (`None`: the host), or `None` if absent.
pub fn link(ns: Option<&str>, name: &str) -> Option<Value> {
    let mut args = vec!["-j", "-d"];
    if let Some(ns) = ns {
        args.extend(["-n", ns]);
    }
    args.extend(["link", "show", "dev", name]);
    let out = output(IP, &args);
    if !out.status.success() {
        return None;
    }
    let v: Value = serde_json::from_slice(&out.stdout).expect("ip link JSON");
    v.as_array().and_then(|a| a.first().cloned())
}

/// All link names in namespace `ns` (`None`: the host).
pub fn link_names(ns: Option<&str>) -> Vec<String> {
    let mut args = vec![];
    if let Some(ns) = ns {
        args.extend(["-n", ns]);
    }
    args.extend(["link", "show"]);
    let v = ip_json(&args);
    v.as_array()
        .expect("link list")
        .iter()
        .filter_map(|l| l["ifname"].as_str().map(str::to_owned))
        .collect()
}

/// `ping` (busybox) from namespace `ns`; true if the probe got a reply.
pub fn ping(ns: &str, target: &str) -> bool {
    let out = output(IP, &["netns", "exec", ns, "/bin/ping", "-c", "1", "-W", "3", target]);
    out.status.success()
}

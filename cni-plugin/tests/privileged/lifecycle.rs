//! ADD, CHECK and DEL end to end with real IPAM plugins, in every result version.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use serde_json::{Value, json};

use crate::common::{Netns, World, assert_pod_link, host_ifname};

const MAC: &str = "02:4d:4d:00:00:01";

/// ADD with mtu 1400, CHECK with the ADD result as prevResult, DEL; asserts
/// nothing is left and returns ADD's result.
fn add_check_del(w: &World, pod: &Netns, conf: &Value, check: bool) -> Value {
    let mut conf = conf.clone();
    conf["mtu"] = json!(1400);
    let result = w.add(pod, "ctr-1", "eth0", &conf).result();
    let link = assert_pod_link(pod, "eth0", None, Some(1400), &["10.77.0.2/24", "fd00:77::2/64"]);
    w.assert_host_end("ctr-1", "eth0", &link);
    assert_eq!(w.leased_ips(&w.net), ["10.77.0.2", "fd00:77::2"]);
    if check {
        let mut with_prev = conf.clone();
        with_prev["prevResult"] = result.clone();
        w.check(pod, "ctr-1", "eth0", &with_prev).ok();
    }
    w.del(Some(pod), "ctr-1", "eth0", &conf).ok();
    w.assert_clean(&[pod]);
    result
}

fn ping(w: &World, addr: &str) {
    let status = Command::new("ip")
        .args(["netns", "exec", w.node.name(), "ping", "-c", "1", "-W", "3", addr])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run ping");
    assert!(status.success(), "no reply from {addr} across the veth pair");
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn add_check_del_dual_stack_host_local() {
    let w = World::new();
    let pod = w.pod();
    let mut conf = w.conf("1.1.0");
    conf["mtu"] = json!(1400);
    conf["mac"] = json!(MAC);
    let r = w.add(&pod, "ctr-1", "eth0", &conf).result();
    let host = host_ifname("ctr-1", "eth0");

    assert_eq!(r["cniVersion"], "1.1.0");
    let ifs = r["interfaces"].as_array().expect("interfaces");
    assert_eq!(ifs.len(), 2, "host end and pod end: {r}");
    assert_eq!(ifs[0]["name"], host);
    assert_eq!(ifs[0]["mtu"], 1400);
    assert!(ifs[0].get("sandbox").is_none(), "the host end has no sandbox");
    assert_eq!(ifs[1], json!({"name": "eth0", "mac": MAC, "mtu": 1400, "sandbox": pod.path()}));
    assert_eq!(
        r["ips"],
        json!([
            {"address": "10.77.0.2/24", "gateway": "10.77.0.1", "interface": 1},
            {"address": "fd00:77::2/64", "gateway": "fd00:77::1", "interface": 1}
        ])
    );
    assert_eq!(r["routes"], json!([{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]));

    let link =
        assert_pod_link(&pod, "eth0", Some(MAC), Some(1400), &["10.77.0.2/24", "fd00:77::2/64"]);
    let v6 = crate::common::netns::addresses(&link);
    assert!(
        v6.iter().any(|(a, info)| a == "fd00:77::2/64" && info["nodad"] == true),
        "IPv6 address is added with NODAD: {link}"
    );
    let v4_routes = pod.routes("-4");
    assert!(
        v4_routes
            .iter()
            .any(|r| r["dst"] == "default" && r["gateway"] == "10.77.0.1" && r["dev"] == "eth0"),
        "IPv4 default route via the gateway: {v4_routes:?}"
    );
    let v6_routes = pod.routes("-6");
    assert!(
        v6_routes
            .iter()
            .any(|r| r["dst"] == "default" && r["gateway"] == "fd00:77::1" && r["dev"] == "eth0"),
        "IPv6 default route via the gateway: {v6_routes:?}"
    );
    let host_link = w.assert_host_end("ctr-1", "eth0", &link);
    assert_eq!(host_link["address"], ifs[0]["mac"], "result reports the host end's MAC");
    assert_eq!(w.node.link_names(), ["lo", host.as_str()], "ADD made exactly one host link");

    let record = w.record_path("ctr-1", "eth0");
    let mode = std::fs::metadata(&record).expect("record").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "attachment record is private");
    let rec = w.record("ctr-1", "eth0");
    assert_eq!(rec["network"], w.net.as_str());
    assert_eq!(rec["netns"], pod.path());
    let leases = w.leases();
    assert_eq!(w.leased_ips(&w.net), ["10.77.0.2", "fd00:77::2"]);
    assert!(leases.iter().all(|l| l.2.starts_with("ctr-1")), "leases held by ctr-1: {leases:?}");

    w.node.ip(&["addr", "add", "10.77.0.1/24", "dev", &host]);
    w.node.ip(&["addr", "add", "fd00:77::1/64", "dev", &host, "nodad"]);
    ping(&w, "10.77.0.2");
    ping(&w, "fd00:77::2");

    let mut with_prev = conf.clone();
    with_prev["prevResult"] = r.clone();
    w.check(&pod, "ctr-1", "eth0", &with_prev).ok();
    w.del(Some(&pod), "ctr-1", "eth0", &conf).ok();
    w.assert_clean(&[&pod]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn add_check_del_with_static_ipam_routes_and_dns() {
    let w = World::new();
    let pod = w.pod();
    let dns = json!({
        "nameservers": ["10.88.0.53"], "domain": "example.test",
        "search": ["example.test"], "options": ["ndots:2"]
    });
    let mut conf = w.conf("1.1.0");
    conf["ipam"] = json!({
        "type": "static",
        "addresses": [
            {"address": "10.88.0.5/24", "gateway": "10.88.0.1"},
            {"address": "fd00:88::5/64", "gateway": "fd00:88::1"}
        ],
        "routes": [
            {"dst": "0.0.0.0/0"},
            {"dst": "192.168.0.0/16", "gw": "10.88.0.254"},
            {"dst": "::/0"}
        ],
        "dns": dns
    });
    let r = w.add(&pod, "ctr-s", "net1", &conf).result();
    assert_eq!(
        r["ips"],
        json!([
            {"address": "10.88.0.5/24", "gateway": "10.88.0.1", "interface": 1},
            {"address": "fd00:88::5/64", "gateway": "fd00:88::1", "interface": 1}
        ])
    );
    assert_eq!(r["routes"].as_array().map(Vec::len), Some(3), "routes: {r}");
    assert_eq!(r["routes"][1], json!({"dst": "192.168.0.0/16", "gw": "10.88.0.254"}));
    assert_eq!(r["dns"], dns, "IPAM's DNS is passed through");

    let link = assert_pod_link(&pod, "net1", None, None, &["10.88.0.5/24", "fd00:88::5/64"]);
    w.assert_host_end("ctr-s", "net1", &link);
    let v4 = pod.routes("-4");
    let has = |dst: &str, gw: &str| v4.iter().any(|r| r["dst"] == dst && r["gateway"] == gw);
    assert!(has("default", "10.88.0.1"), "default route inherits the IP's gateway: {v4:?}");
    assert!(has("192.168.0.0/16", "10.88.0.254"), "route with its own gw: {v4:?}");
    let v6 = pod.routes("-6");
    assert!(v6.iter().any(|r| r["dst"] == "default" && r["gateway"] == "fd00:88::1"), "{v6:?}");

    let mut with_prev = conf.clone();
    with_prev["prevResult"] = r;
    w.check(&pod, "ctr-s", "net1", &with_prev).ok();
    w.del(Some(&pod), "ctr-s", "net1", &conf).ok();
    w.assert_clean(&[&pod]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn results_for_0_4_0_callers_carry_ip_versions() {
    let w = World::new();
    let pod = w.pod();
    let r = add_check_del(&w, &pod, &w.conf("0.4.0"), true);
    assert_eq!(r["cniVersion"], "0.4.0");
    assert_eq!(r["ips"][0]["version"], "4");
    assert_eq!(r["ips"][1]["version"], "6");
    assert_eq!(r["ips"][0]["interface"], 1);
    assert!(r["interfaces"][1].get("mtu").is_none(), "0.4.0 has no interface mtu: {r}");
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn results_for_0_3_1_callers_carry_ip_versions_without_check() {
    let w = World::new();
    let pod = w.pod();
    let r = add_check_del(&w, &pod, &w.conf("0.3.1"), false);
    assert_eq!(r["cniVersion"], "0.3.1");
    assert_eq!(r["ips"][1]["version"], "6");
    assert!(r["interfaces"][0].get("mtu").is_none(), "0.3.1 has no interface mtu: {r}");
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn results_for_1_0_0_callers_have_no_1_1_fields() {
    let w = World::new();
    let pod = w.pod();
    let r = add_check_del(&w, &pod, &w.conf("1.0.0"), true);
    assert_eq!(r["cniVersion"], "1.0.0");
    assert!(r["ips"][0].get("version").is_none(), "1.0.0 has no ip version: {r}");
    for i in r["interfaces"].as_array().expect("interfaces") {
        assert!(i.get("mtu").is_none(), "1.0.0 has no interface mtu: {r}");
    }
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn route_mtu_reaches_the_pod_and_only_1_1_callers_see_it() {
    let w = World::new();
    let pod = w.pod();
    let route = json!({"dst": "192.168.60.0/24", "gw": "10.66.0.1", "mtu": 1300});
    let path = w.fake_ipam(&json!({
        "cniVersion": "1.1.0",
        "ips": [{"address": "10.66.0.7/24", "gateway": "10.66.0.1"}],
        "routes": [route]
    }));
    let env = |cmd: &str, cid: &str| {
        crate::common::Env::attachment(cmd, Some(&pod), cid, "eth0").set("CNI_PATH", &path)
    };
    let mut conf = w.conf("1.1.0");
    conf["ipam"] = json!({"type": "fake-ipam"});

    let r = w.run(&env("ADD", "ctr-a"), &conf).result();
    assert_eq!(r["routes"], json!([route]), "1.1.0 result keeps route mtu");
    let routes = pod.routes("-4");
    let applied = routes.iter().find(|r| r["dst"] == "192.168.60.0/24").expect("route in pod");
    assert_eq!(applied["metrics"], json!([{"mtu": 1300}]), "route mtu applied: {applied}");
    w.run(&env("DEL", "ctr-a"), &conf).ok();
    w.assert_clean(&[&pod]);

    conf["cniVersion"] = json!("1.0.0");
    let r = w.run(&env("ADD", "ctr-b"), &conf).result();
    assert_eq!(r["routes"], json!([{"dst": "192.168.60.0/24", "gw": "10.66.0.1"}]));
    w.run(&env("DEL", "ctr-b"), &conf).ok();
    w.assert_clean(&[&pod]);
    let verbs: Vec<String> =
        w.fake_ipam_log().into_iter().filter(|l| !l.starts_with("VERSION")).collect();
    assert_eq!(verbs, ["ADD ctr-a eth0", "DEL ctr-a eth0", "ADD ctr-b eth0", "DEL ctr-b eth0"]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn chained_add_appends_to_prev_result() {
    let w = World::new();
    let pod = w.pod();
    let mut conf = w.conf("1.1.0");
    conf["prevResult"] = json!({
        "cniVersion": "1.1.0",
        "interfaces": [{"name": "eth0", "sandbox": pod.path()}],
        "ips": [{"address": "10.55.0.9/24", "interface": 0}],
        "dns": {"nameservers": ["10.55.0.53"]}
    });
    let r = w.add(&pod, "ctr-c", "net1", &conf).result();
    let names: Vec<&str> = r["interfaces"]
        .as_array()
        .expect("interfaces")
        .iter()
        .filter_map(|i| i["name"].as_str())
        .collect();
    assert_eq!(names, ["eth0", host_ifname("ctr-c", "net1").as_str(), "net1"]);
    let ips: Vec<(&str, u64)> = r["ips"]
        .as_array()
        .expect("ips")
        .iter()
        .map(|i| (i["address"].as_str().expect("address"), i["interface"].as_u64().expect("index")))
        .collect();
    assert_eq!(ips, [("10.55.0.9/24", 0), ("10.77.0.2/24", 2), ("fd00:77::2/64", 2)]);
    assert_eq!(r["dns"], json!({"nameservers": ["10.55.0.53"]}), "earlier DNS kept");

    let mut with_prev = conf.clone();
    with_prev["prevResult"] = r;
    w.check(&pod, "ctr-c", "net1", &with_prev).ok();
    w.del(Some(&pod), "ctr-c", "net1", &conf).ok();
    w.assert_clean(&[&pod]);
}

//! Failing ADDs change nothing; every bad input gets its spec code; CHECK
//! notices what was changed behind its back.

use std::os::unix::fs::PermissionsExt;

use serde_json::{Value, json};

use crate::common::{Env, Netns, World, assert_pod_link};

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn add_refuses_an_ifname_that_exists_in_the_pod() {
    let w = World::new();
    let pod = w.pod();
    pod.add_veth("eth0", "eth0peer");
    let before = pod.links();
    let e = w.add(&pod, "ctr-1", "eth0", &w.conf("1.1.0"));
    assert_eq!(e.code(), 101, "{}", e.stdout);
    assert_eq!(pod.links(), before, "the pod's own links are untouched");
    w.node.assert_empty("node");
    assert_eq!(w.attachments(), Vec::<String>::new());
    assert!(!w.ipam_dir().exists(), "IPAM was never called: {:?}", w.leases());
    pod.ip(&["link", "del", "eth0"]);
    w.assert_clean(&[&pod]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn add_refuses_when_the_host_end_name_is_taken() {
    let w = World::new();
    let pod = w.pod();
    let host = crate::common::host_ifname("ctr-1", "eth0");
    w.node.add_veth(&host, "mmtpeer0");
    let before = w.node.links();
    let e = w.add(&pod, "ctr-1", "eth0", &w.conf("1.1.0"));
    assert_eq!(e.code(), 101, "{}", e.stdout);
    assert_eq!(w.node.links(), before, "the node's links are untouched");
    pod.assert_empty("pod");
    assert_eq!(w.attachments(), Vec::<String>::new());
    assert!(!w.ipam_dir().exists(), "IPAM was never called: {:?}", w.leases());
    w.node.ip(&["link", "del", &host]);
    w.assert_clean(&[&pod]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn add_refuses_an_attachment_that_exists() {
    let w = World::new();
    let (pod, other) = (w.pod(), w.pod());
    let conf = w.conf("1.1.0");
    w.add(&pod, "ctr-1", "eth0", &conf).result();
    let e = w.add(&other, "ctr-1", "eth0", &conf);
    assert_eq!(e.code(), 101, "{}", e.stdout);
    other.assert_empty("second pod");
    let link = assert_pod_link(&pod, "eth0", None, None, &["10.77.0.2/24", "fd00:77::2/64"]);
    w.assert_host_end("ctr-1", "eth0", &link);
    assert_eq!(w.leased_ips(&w.net), ["10.77.0.2", "fd00:77::2"], "no second lease");
    w.del(Some(&pod), "ctr-1", "eth0", &conf).ok();
    w.assert_clean(&[&pod, &other]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn add_failing_after_ipam_releases_the_lease() {
    let w = World::new();
    let pod = w.pod();
    let mut conf = w.conf("1.1.0");
    // The kernel refuses a gateway outside every on-link subnet: the ADD fails
    // after host-local allocated, while routes are applied in the pod.
    conf["ipam"]["routes"] = json!([{"dst": "192.168.50.0/24", "gw": "10.99.0.1"}]);
    let e = w.add(&pod, "ctr-1", "eth0", &conf);
    let err = e.error();
    assert_eq!(err["code"], 100, "netlink refusal: {err}");
    assert!(err["msg"].as_str().expect("msg").contains("route"), "names the route: {err}");
    let reserved = w.ipam_dir().join(&w.net).join("last_reserved_ip.0");
    assert!(reserved.is_file(), "host-local did allocate before the failure");
    w.assert_clean(&[&pod]);
    // The same attachment can be added once the config is fixed.
    conf["ipam"]["routes"] = json!([]);
    w.add(&pod, "ctr-1", "eth0", &conf).result();
    w.del(Some(&pod), "ctr-1", "eth0", &conf).ok();
    w.assert_clean(&[&pod]);
}

/// What a bad-input case feeds the plugin instead of the good config.
enum Input {
    Conf(fn(&mut Value)),
    Raw(&'static str),
}

struct Case {
    what: &'static str,
    code: u64,
    env: fn(Env) -> Env,
    input: Input,
}

fn env_ok(e: Env) -> Env {
    e
}

fn case(what: &'static str, code: u64, env: fn(Env) -> Env, conf: fn(&mut Value)) -> Case {
    Case { what, code, env, input: Input::Conf(conf) }
}

fn cases() -> Vec<Case> {
    let same = |_: &mut Value| {};
    vec![
        case("cniVersion 0.2.0", 1, env_ok, |c| c["cniVersion"] = json!("0.2.0")),
        case("cniVersion 2.0.0", 1, env_ok, |c| c["cniVersion"] = json!("2.0.0")),
        case("GC with 1.0.0", 1, |_| Env::new("GC"), |c| c["cniVersion"] = json!("1.0.0")),
        case("STATUS with 0.4.0", 1, |_| Env::new("STATUS"), |c| c["cniVersion"] = json!("0.4.0")),
        case(
            "CHECK with 0.3.1",
            1,
            |e| e.set("CNI_COMMAND", "CHECK"),
            |c| {
                c["cniVersion"] = json!("0.3.1");
            },
        ),
        case("ADD into a missing netns", 3, |e| e.set("CNI_NETNS", MISSING_NS), same),
        case("CHECK of a missing netns", 3, |e| check(e).set("CNI_NETNS", MISSING_NS), same),
        case("no CNI_COMMAND", 4, |e| e.unset("CNI_COMMAND"), same),
        case("unknown CNI_COMMAND", 4, |e| e.set("CNI_COMMAND", "FROB"), same),
        case("CNI_CONTAINERID -bad", 4, |e| e.set("CNI_CONTAINERID", "-bad"), same),
        case("CNI_CONTAINERID a/b", 4, |e| e.set("CNI_CONTAINERID", "a/b"), same),
        case("no CNI_CONTAINERID", 4, |e| e.unset("CNI_CONTAINERID"), same),
        case("ifname a/b", 4, |e| e.set("CNI_IFNAME", "a/b"), same),
        case("16-char ifname", 4, |e| e.set("CNI_IFNAME", "a234567890123456"), same),
        case("ifname ..", 4, |e| e.set("CNI_IFNAME", ".."), same),
        case("no CNI_IFNAME", 4, |e| e.unset("CNI_IFNAME"), same),
        case("relative CNI_NETNS", 4, |e| e.set("CNI_NETNS", "var/run/netns/x"), same),
        case("no CNI_NETNS on ADD", 4, |e| e.unset("CNI_NETNS"), same),
        case("no CNI_PATH", 4, |e| e.unset("CNI_PATH"), same),
        case("CNI_ARGS without =", 4, |e| e.set("CNI_ARGS", "IgnoreUnknown=1;novalue"), same),
        case("CNI_ARGS bad MAC", 4, |e| e.set("CNI_ARGS", "IgnoreUnknown=1;MAC=zz"), same),
        Case { what: "syntax error", code: 6, env: env_ok, input: Input::Raw("{nope") },
        Case { what: "truncated", code: 6, env: env_ok, input: Input::Raw(r#"{"cniVersion":"#) },
        case("vlan 4095", 7, env_ok, |c| c["vlan"] = json!(4095)),
        case("vlanQoS 8", 7, env_ok, |c| (c["vlan"], c["vlanQoS"]) = (json!(5), json!(8))),
        case("vlanQoS without vlan", 7, env_ok, |c| c["vlanQoS"] = json!(3)),
        case("bad mac", 7, env_ok, |c| c["mac"] = json!("02:00:00:00:00")),
        case("multicast mac", 7, env_ok, |c| c["mac"] = json!("01:00:5e:00:00:01")),
        case("bad runtimeConfig.mac", 7, env_ok, |c| c["runtimeConfig"] = json!({"mac": "x"})),
        case("mtu 10", 7, env_ok, |c| c["mtu"] = json!(10)),
        case("mtu 70000", 7, env_ok, |c| c["mtu"] = json!(70000)),
        case("unknown mode", 7, env_ok, |c| c["mode"] = json!("macvtap")),
        case("sriov without deviceID", 7, env_ok, |c| c["mode"] = json!("sriov")),
        case("bad deviceID", 7, env_ok, |c| c["deviceID"] = json!("0000:zz:00.1")),
        case("vlan mode without master", 7, env_ok, |c| {
            (c["mode"], c["vlan"]) = (json!("vlan"), json!(5));
        }),
        case("spoofchk maybe", 7, env_ok, |c| c["spoofchk"] = json!("maybe")),
        case("ipam without type", 7, env_ok, |c| c["ipam"] = json!({"subnet": "10.0.0.0/8"})),
        case("ipam type is a path", 7, env_ok, |c| c["ipam"]["type"] = json!("../host-local")),
        case("no name", 7, env_ok, |c| drop(c.as_object_mut().map(|o| o.remove("name")))),
        case("ipam not on CNI_PATH", 104, env_ok, |c| c["ipam"]["type"] = json!("mmt-no-ipam")),
        case("vlan mode with a missing master", 7, env_ok, |c| {
            (c["mode"], c["master"], c["vlan"]) = (json!("vlan"), json!("mmt-nomaster"), json!(5));
        }),
        case("sriov mode with a missing VF (no SR-IOV here)", 106, env_ok, |c| {
            (c["mode"], c["deviceID"]) = (json!("sriov"), json!("0000:03:00.1"));
        }),
    ]
}

const MISSING_NS: &str = "/var/run/netns/mmt-never-created";

fn check(e: Env) -> Env {
    e.set("CNI_COMMAND", "CHECK")
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn bad_inputs_get_their_codes_and_change_nothing() {
    let w = World::new();
    let pod = w.pod();
    let base = w.conf("1.1.0");
    let mut failures = Vec::new();
    for c in cases() {
        let env = (c.env)(Env::attachment("ADD", Some(&pod), "ctr-bad", "eth0"));
        let stdin = match c.input {
            Input::Conf(tweak) => {
                let mut conf = base.clone();
                tweak(&mut conf);
                serde_json::to_vec(&conf).expect("json")
            }
            Input::Raw(raw) => raw.as_bytes().to_vec(),
        };
        let out = w.exec(&env, &stdin);
        let err = out.error();
        if err["code"] != c.code {
            failures.push(format!("{}: want {}, got {err}", c.what, c.code));
        }
        w.assert_clean(&[&pod]);
    }
    assert!(failures.is_empty(), "wrong codes:\n{}", failures.join("\n"));
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn errors_answer_in_the_callers_version() {
    let w = World::new();
    let pod = w.pod();
    let mut conf = w.conf("0.4.0");
    conf["vlan"] = json!(5000);
    let err = w.add(&pod, "ctr-1", "eth0", &conf).error();
    assert_eq!((err["cniVersion"].as_str(), err["code"].as_u64()), (Some("0.4.0"), Some(7)));
    w.assert_clean(&[&pod]);
}

/// An attachment for CHECK to find fault with, and the config that made it.
fn attached(w: &World, pod: &Netns) -> Value {
    let mut conf = w.conf("1.1.0");
    // CHECK compares only what the config asked for.
    (conf["mtu"], conf["mac"]) = (json!(1450), json!("02:00:00:00:00:42"));
    let r = w.add(pod, "ctr-1", "eth0", &conf).result();
    conf["prevResult"] = r;
    w.check(pod, "ctr-1", "eth0", &conf).ok();
    conf
}

fn assert_check_fails(w: &World, pod: &Netns, conf: &Value, what: &str) {
    let e = w.check(pod, "ctr-1", "eth0", conf);
    assert_eq!(e.code(), 102, "CHECK after {what}: {}", e.stdout);
}

fn del_and_assert_clean(w: &World, pod: &Netns, conf: &Value) {
    w.del(Some(pod), "ctr-1", "eth0", conf).ok();
    w.assert_clean(&[pod]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn check_fails_when_the_interface_is_removed() {
    let w = World::new();
    let pod = w.pod();
    let conf = attached(&w, &pod);
    pod.ip(&["link", "del", "eth0"]);
    assert_check_fails(&w, &pod, &conf, "removing eth0");
    del_and_assert_clean(&w, &pod, &conf);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn check_fails_when_an_address_is_removed() {
    let w = World::new();
    let pod = w.pod();
    let conf = attached(&w, &pod);
    pod.ip(&["addr", "del", "fd00:77::2/64", "dev", "eth0"]);
    assert_check_fails(&w, &pod, &conf, "removing the IPv6 address");
    del_and_assert_clean(&w, &pod, &conf);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn check_fails_on_changed_mtu_mac_state_or_host_end() {
    let w = World::new();
    let pod = w.pod();
    let conf = attached(&w, &pod);
    let host = crate::common::host_ifname("ctr-1", "eth0");
    let mac = pod.link("eth0").expect("eth0")["address"].as_str().expect("mac").to_owned();
    // Each change is undone and CHECK passes again, except setting eth0 down:
    // the kernel drops its IPv6 addresses then, so it comes last.
    let changes: [(&Netns, &[&str], &[&str]); 4] = [
        (&pod, &["link", "set", "eth0", "mtu", "1400"], &["link", "set", "eth0", "mtu", "1450"]),
        (&w.node, &["link", "set", &host, "down"], &["link", "set", &host, "up"]),
        (
            &pod,
            &["link", "set", "eth0", "address", "02:00:00:00:00:99"],
            &["link", "set", "eth0", "address", &mac],
        ),
        (&pod, &["link", "set", "eth0", "down"], &[]),
    ];
    for (ns, change, undo) in changes {
        ns.ip(change);
        assert_check_fails(&w, &pod, &conf, &change.join(" "));
        if !undo.is_empty() {
            ns.ip(undo);
            w.check(&pod, "ctr-1", "eth0", &conf).ok();
        }
    }
    del_and_assert_clean(&w, &pod, &conf);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn check_fails_when_prev_result_lacks_the_interface() {
    let w = World::new();
    let pod = w.pod();
    let mut conf = attached(&w, &pod);
    conf["prevResult"]["interfaces"] = json!([{"name": "eth9", "sandbox": pod.path()}]);
    assert_check_fails(&w, &pod, &conf, "a prevResult without eth0");
    // A prevResult with another MAC (one the config asked for): named as MACs.
    conf["prevResult"]["interfaces"] =
        json!([{"name": "eth0", "sandbox": pod.path(), "mac": "02:00:00:00:00:99"}]);
    let e = w.check(&pod, "ctr-1", "eth0", &conf);
    let msg = e.error()["msg"].as_str().unwrap_or_default().to_owned();
    assert!(msg.contains("02:00:00:00:00:99 differs from 02:00:00:00:00:42"), "{msg}");
    let e = w.check(&pod, "ctr-2", "eth0", &conf);
    assert_eq!(e.code(), 102, "CHECK of an attachment never added: {}", e.stdout);
    del_and_assert_clean(&w, &pod, &conf);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn a_non_utf8_environment_gets_json_on_every_verb_never_an_abort() {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::process::ExitStatusExt;
    let w = World::new();
    let pod = w.pod();
    let conf = serde_json::to_vec(&w.conf("1.1.0")).expect("JSON");
    let junk = std::ffi::OsStr::from_bytes(b"\xff\xfe");
    for verb in ["ADD", "CHECK", "DEL", "STATUS", "GC", "VERSION"] {
        let mut cmd = std::process::Command::new("ip");
        cmd.args(["netns", "exec", w.node.name(), crate::common::PLUGIN])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("CNI_COMMAND", verb)
            .env("CNI_PATH", crate::common::CNI_BIN_DIR)
            .env("CNI_CONTAINERID", "utf8-ctr")
            .env("CNI_IFNAME", "eth0")
            .env("CNI_NETNS", pod.path())
            .env("LANG_JUNK", junk)
            .env(junk, "value");
        let out = crate::common::output_with_stdin(&mut cmd, &conf);
        assert_eq!(out.status.signal(), None, "{verb}: killed by a signal (abort)");
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || !text.trim().is_empty() {
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{verb}: stdout is not JSON ({e}): {text:?}"));
            assert!(out.status.success() || v["code"].is_u64(), "{verb}: {v}");
        }
    }
    // A CNI variable that is not UTF-8 is an invalid environment (4).
    let mut cmd = std::process::Command::new("ip");
    cmd.args(["netns", "exec", w.node.name(), crate::common::PLUGIN])
        .env_clear()
        .env("CNI_COMMAND", "DEL")
        .env("CNI_PATH", crate::common::CNI_BIN_DIR)
        .env("CNI_CONTAINERID", junk)
        .env("CNI_IFNAME", "eth0");
    let out = crate::common::output_with_stdin(&mut cmd, &conf);
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON error");
    assert_eq!(v["code"], 4, "{v}");
    w.del(Some(&pod), "utf8-ctr", "eth0", &w.conf("1.1.0")).ok();
    w.assert_clean(&[&pod]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn a_netns_that_is_no_namespace_or_an_oversized_id_is_refused_without_blocking() {
    let w = World::new();
    let pod = w.pod();
    let conf = w.conf("1.1.0");
    let fifo = w.tmp().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let file = w.tmp().join("plain");
    std::fs::write(&file, b"not a namespace").expect("write");
    for (verb, path) in [("ADD", &fifo), ("ADD", &file), ("CHECK", &fifo)] {
        let path = path.display().to_string();
        let env = Env::attachment(verb, None, "ns-ctr", "eth0").set("CNI_NETNS", &path);
        let out = w.run(&env, &conf);
        assert_eq!(out.code(), 4, "{verb} with CNI_NETNS={path}: {}", out.stdout);
        assert!(out.error()["msg"].as_str().is_some_and(|m| m.contains("nsfs")), "{}", out.stdout);
    }
    let long = "c".repeat(129);
    let out = w.add(&pod, &long, "eth0", &conf);
    assert_eq!(out.code(), 4, "{}", out.stdout);
    let msg = out.error()["msg"].as_str().unwrap_or_default().to_owned();
    assert!(msg.contains("128") && msg.len() < 300, "short message naming the bound: {msg}");
    w.assert_clean(&[&pod]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn paths_outside_the_policy_are_refused_and_nothing_is_written() {
    let w = World::new();
    let pod = w.pod();
    let victim = w.tmp().join("victim");
    std::fs::write(&victim, b"precious").expect("write victim");
    let link = w.tmp().join("log-link");
    std::os::unix::fs::symlink(&victim, &link).expect("symlink");
    let mut sriov = w.conf("1.1.0");
    (sriov["mode"], sriov["deviceID"]) = (json!("sriov"), json!("0000:00:01.0"));
    sriov["runtimeConfig"] = json!({"CNIDeviceInfoFile": victim});
    let cases: Vec<(&str, Value)> = vec![
        ("logFile through a symlink", with(&w, "logFile", json!(link))),
        ("relative dataDir", with(&w, "dataDir", json!("relative/data"))),
        ("dataDir with ..", with(&w, "dataDir", json!(format!("{}/../x", w.tmp().display())))),
        ("device-info file outside the NPWG directory", sriov),
    ];
    for (what, conf) in &cases {
        for verb in ["ADD", "DEL"] {
            let out = w.run(&Env::attachment(verb, Some(&pod), "paths-ctr", "net1"), conf);
            assert_eq!(out.code(), 7, "{what} ({verb}): {}", out.stdout);
        }
    }
    assert_eq!(std::fs::read(&victim).expect("victim"), b"precious", "the victim is untouched");
    assert!(!w.tmp().join("relative").exists() && !w.tmp().join("x").exists());
    pod.assert_empty("pod");

    // A dataDir open to everyone is tightened before it is used.
    std::fs::create_dir_all(w.data_dir()).expect("mkdir");
    std::fs::set_permissions(w.data_dir(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    w.add(&pod, "paths-ctr", "eth0", &w.conf("1.1.0")).result();
    let mode = std::fs::metadata(w.data_dir()).expect("dataDir").permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "dataDir mode");
    w.del(Some(&pod), "paths-ctr", "eth0", &w.conf("1.1.0")).ok();
    w.assert_clean(&[&pod]);
}

fn with(w: &World, key: &str, value: Value) -> Value {
    let mut c = w.conf("1.1.0");
    c[key] = value;
    c
}

/// Runs Debian's reference plugin `name` in the node namespace as the next
/// plugin of a chain; its result.
fn chained(w: &World, name: &str, env: &Env, conf: &Value) -> Value {
    let mut cmd = std::process::Command::new("ip");
    cmd.args(["netns", "exec", w.node.name(), &format!("{}/{name}", crate::common::CNI_BIN_DIR)])
        .env_clear()
        .envs(env.vars());
    let out = crate::common::output_with_stdin(&mut cmd, &serde_json::to_vec(conf).expect("JSON"));
    assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stdout));
    serde_json::from_slice(&out.stdout).expect("result")
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn check_allows_a_later_plugin_to_change_what_the_config_did_not_set() {
    let w = World::new();
    let pod = w.pod();
    let conf = w.conf("1.0.0"); // Debian's tuning speaks up to 1.0.0
    let ours = w.add(&pod, "chain-ctr", "eth0", &conf).result();
    // tuning after us: MTU 1400 and another MAC, neither asked of us.
    let tuning = json!({
        "cniVersion": "1.0.0", "name": w.net, "type": "tuning",
        "mtu": 1400, "mac": "02:00:00:00:77:01", "prevResult": ours,
    });
    let env = Env::attachment("ADD", Some(&pod), "chain-ctr", "eth0");
    let last = chained(&w, "tuning", &env, &tuning);
    let mut check = conf.clone();
    check["prevResult"] = last;
    let out = w.check(&pod, "chain-ctr", "eth0", &check);
    assert!(out.success, "CHECK after tuning changed MTU and MAC: {}", out.stdout);
    // Without prevResult the delegate is asked with ours, not refused (999).
    w.check(&pod, "chain-ctr", "eth0", &conf).ok();
    w.del(Some(&pod), "chain-ctr", "eth0", &conf).ok();
    w.assert_clean(&[&pod]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn calls_refused_while_the_config_is_parsed_are_in_the_operation_log() {
    let w = World::new();
    let pod = w.pod();
    let conf = w.conf("1.1.0");
    w.add(&pod, "oplog-ctr", "eth0", &conf).result();
    let mut bad = conf.clone();
    bad["mtu"] = json!("not a number");
    let out = w.add(&pod, "oplog-bad", "eth0", &bad);
    assert_eq!(out.code(), 7, "{}", out.stdout);
    let log = std::fs::read_to_string(w.data_dir().join("ops.log")).expect("ops.log");
    let codes: Vec<(&str, &str)> =
        log.lines().filter_map(|l| l.split(' ').nth(2).zip(l.split(' ').nth(3))).collect();
    assert_eq!(codes, [("ADD", "0"), ("ADD", "7")], "{log}");
    w.del(Some(&pod), "oplog-ctr", "eth0", &conf).ok();
    w.assert_clean(&[&pod]);
}

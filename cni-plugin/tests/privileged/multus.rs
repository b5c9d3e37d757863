//! What Multus sends a secondary-network delegate: `net1`-style names,
//! duplicated `CNI_ARGS`, `MAC=`, `runtimeConfig.mac`, a top-level `deviceID`,
//! and on DEL possibly a rebuilt config without `deviceID` or `ipam`.

use serde_json::{Value, json};

use crate::common::{Env, Netns, World, assert_pod_link};

const K8S_ARGS: &str = "IgnoreUnknown=true;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web-0;\
    K8S_POD_INFRA_CONTAINER_ID=ctr-m;K8S_POD_UID=uid-1;IgnoreUnknown=1;K8S_POD_NAMESPACE=ns2;\
    K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=ctr-m;K8S_POD_UID=uid-1";
const RUNTIME_MAC: &str = "02:4d:00:00:00:01";
const ARGS_MAC: &str = "02:4d:00:00:00:02";
const CONF_MAC: &str = "02:4d:00:00:00:03";

fn multus_conf(w: &World) -> Value {
    let mut conf = w.conf("1.1.0");
    conf["mode"] = json!("veth");
    conf["deviceID"] = json!("0000:03:00.1");
    conf["pciBusID"] = json!("0000:03:00.1");
    conf["mac"] = json!(CONF_MAC);
    conf["capabilities"] = json!({"mac": true});
    // Several attachments of this network share the pod; see
    // `two_attachments_of_one_network_share_its_routes` for routes.
    conf["ipam"].as_object_mut().expect("ipam").remove("routes");
    conf
}

fn add(w: &World, pod: &Netns, ifname: &str, args: &str, conf: &Value) -> Value {
    let env = Env::attachment("ADD", Some(pod), "ctr-m", ifname).set("CNI_ARGS", args);
    w.run(&env, conf).result()
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn multus_add_applies_cni_args_and_mac_precedence() {
    let w = World::new();
    let pod = w.pod();
    let conf = multus_conf(&w);
    let args_with_mac = format!("{K8S_ARGS};MAC={ARGS_MAC}");
    let mut with_runtime = conf.clone();
    with_runtime["runtimeConfig"] = json!({"mac": RUNTIME_MAC});

    let cases = [
        ("net1", &with_runtime, args_with_mac.as_str(), RUNTIME_MAC, "10.77.0.2"),
        ("net2", &conf, args_with_mac.as_str(), ARGS_MAC, "10.77.0.3"),
        ("net3", &conf, K8S_ARGS, CONF_MAC, "10.77.0.4"),
    ];
    for (ifname, conf, args, mac, v4) in cases {
        let r = add(&w, &pod, ifname, args, conf);
        assert_eq!(r["interfaces"][1]["name"], ifname);
        assert_eq!(r["interfaces"][1]["mac"], mac, "{ifname}: result MAC");
        let v6 = v4.replace("10.77.0.", "fd00:77::");
        let link = assert_pod_link(
            &pod,
            ifname,
            Some(mac),
            None,
            &[&format!("{v4}/24"), &format!("{v6}/64")],
        );
        w.assert_host_end("ctr-m", ifname, &link);
    }
    let rec = w.record("ctr-m", "net1");
    assert_eq!(rec["pod"], json!({"namespace": "ns2", "name": "web-0", "uid": "uid-1"}));

    // Multus lost its cache: DEL arrives rebuilt, without deviceID and ipam.
    let rebuilt = json!({
        "cniVersion": "1.1.0", "name": w.net, "type": "murmuration", "dataDir": w.data_dir()
    });
    let del = Env::attachment("DEL", Some(&pod), "ctr-m", "net1").set("CNI_ARGS", K8S_ARGS);
    w.run(&del, &rebuilt).ok();
    assert!(pod.link("net1").is_none(), "net1 removed");
    assert_eq!(w.leased_ips(&w.net), ["10.77.0.3", "10.77.0.4", "fd00:77::3", "fd00:77::4"]);
    for ifname in ["net2", "net3"] {
        let del = Env::attachment("DEL", Some(&pod), "ctr-m", ifname).set("CNI_ARGS", K8S_ARGS);
        w.run(&del, &conf).ok();
    }
    w.assert_clean(&[&pod]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn device_id_without_mode_selects_sriov_and_fails_cleanly() {
    let w = World::new();
    let pod = w.pod();
    let mut cases = Vec::new();
    for key in ["deviceID", "pciBusID"] {
        let mut conf = w.conf("1.1.0");
        conf[key] = json!("0000:03:00.1");
        cases.push((key, conf));
    }
    let mut conf = w.conf("1.1.0");
    conf["runtimeConfig"] = json!({"deviceID": "0000:03:00.1"});
    conf["capabilities"] = json!({"deviceID": true});
    cases.push(("runtimeConfig.deviceID", conf));

    for (what, conf) in cases {
        let env = Env::attachment("ADD", Some(&pod), "ctr-m", "net1").set("CNI_ARGS", K8S_ARGS);
        let err = w.run(&env, &conf).error();
        // This host has no SR-IOV: the VF's sysfs device is missing.
        assert_eq!(err["code"], 106, "{what} selects sriov, whose VF is missing here: {err}");
        let msg = err["msg"].as_str().expect("msg");
        assert!(msg.contains("0000:03:00.1") && msg.contains("not found"), "{what}: {err}");
        w.assert_clean(&[&pod]);
        // Its DEL (Multus retries it) is harmless.
        let del = Env::attachment("DEL", Some(&pod), "ctr-m", "net1").set("CNI_ARGS", K8S_ARGS);
        w.run(&del, &conf).ok();
        w.assert_clean(&[&pod]);
    }
}

/// podman (CNI backend) and containerd pass `IP=` and `MAC=` in `CNI_ARGS`;
/// the environment reaches host-local, which honours `IP=`.
#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn podman_style_ip_and_mac_in_cni_args() {
    let w = World::new();
    let pod = w.pod();
    let conf = w.conf("1.0.0");
    let args = format!("IgnoreUnknown=1;IP=10.77.0.50;MAC={ARGS_MAC}");
    let env = Env::attachment("ADD", Some(&pod), "ctr-p", "eth0").set("CNI_ARGS", &args);
    let r = w.run(&env, &conf).result();
    assert_eq!(r["ips"][0]["address"], "10.77.0.50/24", "IP= honoured: {r}");
    let link =
        assert_pod_link(&pod, "eth0", Some(ARGS_MAC), None, &["10.77.0.50/24", "fd00:77::2/64"]);
    w.assert_host_end("ctr-p", "eth0", &link);
    let del = Env::attachment("DEL", Some(&pod), "ctr-p", "eth0").set("CNI_ARGS", &args);
    w.run(&del, &conf).ok();
    w.assert_clean(&[&pod]);
}

/// Multus can attach one network twice to a pod (two interfaces from one
/// NetworkAttachmentDefinition). The reference plugins append routes that
/// already exist on another interface (netlink `RouteAddEcmp`), so the pod
/// gets both; the second ADD must not fail with EEXIST.
#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn two_attachments_of_one_network_share_its_routes() {
    let w = World::new();
    let pod = w.pod();
    let mut conf = w.conf("1.1.0");
    conf["ipam"]["routes"] = json!([{"dst": "0.0.0.0/0"}, {"dst": "192.168.0.0/16"}]);
    let first = add(&w, &pod, "net1", K8S_ARGS, &conf);
    assert_eq!(first["ips"][0]["address"], "10.77.0.2/24");
    let second = Env::attachment("ADD", Some(&pod), "ctr-m", "net2").set("CNI_ARGS", K8S_ARGS);
    let out = w.run(&second, &conf);
    let outcome = if out.success { "ok".to_owned() } else { out.stdout.clone() };
    let routes = pod.routes("-4");
    let devs = |dst: &str| -> Vec<String> {
        let mut d: Vec<String> = routes
            .iter()
            .filter(|r| r["dst"] == dst)
            .filter_map(|r| r["dev"].as_str().map(str::to_owned))
            .collect();
        d.sort();
        d
    };
    let (default, private) = (devs("default"), devs("192.168.0.0/16"));
    for ifname in ["net1", "net2"] {
        let del = Env::attachment("DEL", Some(&pod), "ctr-m", ifname).set("CNI_ARGS", K8S_ARGS);
        w.run(&del, &conf).ok();
    }
    w.assert_clean(&[&pod]);
    assert_eq!(outcome, "ok", "second attachment of the network");
    assert_eq!(default, ["net1", "net2"], "default route on both interfaces");
    assert_eq!(private, ["net1", "net2"], "192.168.0.0/16 on both interfaces");
}

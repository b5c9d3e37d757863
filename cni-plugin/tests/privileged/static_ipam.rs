//! `"ipamInProcess": true` serves `static` inside the plugin; it must hand the
//! pod exactly what Debian's reference `static` plugin hands it.

use serde_json::{Value, json};

use crate::common::{Env, Netns, World, global_addresses};

/// One way a runtime can ask `static` for addresses.
struct Variant {
    what: &'static str,
    cni_args: &'static str,
    extra: fn(&mut Value),
}

fn variants() -> Vec<Variant> {
    vec![
        Variant { what: "ipam.addresses", cni_args: "", extra: |_| {} },
        Variant {
            what: "IP= and GATEWAY= in CNI_ARGS",
            cni_args: "IgnoreUnknown=1;K8S_POD_NAME=p;IP=10.1.0.2/24,fd00:1::2/64;\
                       GATEWAY=10.1.0.1,fd00:1::1",
            extra: |_| {},
        },
        Variant {
            what: "runtimeConfig.ips (Multus ips capability)",
            cni_args: "",
            extra: |c| {
                c["capabilities"] = json!({"ips": true});
                c["runtimeConfig"] = json!({"ips": ["10.3.0.2/24"]});
            },
        },
        Variant {
            what: "args.cni.ips",
            cni_args: "",
            extra: |c| c["args"] = json!({"cni": {"ips": ["10.4.0.2/24"]}}),
        },
    ]
}

fn static_conf(w: &World, v: &Variant, in_process: bool) -> Value {
    let mut conf = w.conf("1.1.0");
    conf["ipam"] = json!({
        "type": "static",
        "addresses": [
            {"address": "10.88.0.5/24", "gateway": "10.88.0.1"},
            {"address": "fd00:88::5/64", "gateway": "fd00:88::1"}
        ],
        "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}],
        "dns": {"nameservers": ["10.88.0.53"], "search": ["example.test"]}
    });
    conf["ipamInProcess"] = json!(in_process);
    (v.extra)(&mut conf);
    conf
}

/// ADD then DEL; returns the result's (ips, routes, dns) and the pod's addresses.
fn attach_once(w: &World, pod: &Netns, conf: &Value, env: &Env) -> (Value, Vec<String>) {
    let add = env.clone().set("CNI_COMMAND", "ADD");
    let r = w.run(&add, conf).result();
    let link = pod.link("eth0").expect("eth0 in the pod");
    let seen = json!({"ips": r["ips"], "routes": r["routes"], "dns": r["dns"]});
    w.run(&env.clone().set("CNI_COMMAND", "DEL"), conf).ok();
    w.assert_clean(&[pod]);
    (seen, global_addresses(&link))
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn in_process_static_matches_the_reference_plugin() {
    let w = World::new();
    let pod = w.pod();
    // No `static` binary on the in-process CNI_PATH: it must not be executed.
    let empty = w.tmp().join("no-plugins");
    std::fs::create_dir(&empty).expect("mkdir");
    let mut mismatches = Vec::new();
    for v in variants() {
        let env = Env::attachment("ADD", Some(&pod), "ctr-s", "eth0").set("CNI_ARGS", v.cni_args);
        let reference = attach_once(&w, &pod, &static_conf(&w, &v, false), &env);
        let env = env.set("CNI_PATH", &empty.display().to_string());
        let ours = attach_once(&w, &pod, &static_conf(&w, &v, true), &env);
        if ours != reference {
            mismatches.push(format!(
                "{}:\n  reference {} on the pod {:?}\n  in-process {} on the pod {:?}",
                v.what, reference.0, reference.1, ours.0, ours.1
            ));
        }
    }
    assert!(mismatches.is_empty(), "in-process static differs:\n{}", mismatches.join("\n"));
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn in_process_static_check_and_repeated_del() {
    let w = World::new();
    let pod = w.pod();
    let v = Variant { what: "plain", cni_args: "", extra: |_| {} };
    let mut conf = static_conf(&w, &v, true);
    let r = w.add(&pod, "ctr-s", "eth0", &conf).result();
    conf["prevResult"] = r;
    w.check(&pod, "ctr-s", "eth0", &conf).ok();
    w.del(Some(&pod), "ctr-s", "eth0", &conf).ok();
    w.del(None, "ctr-s", "eth0", &conf).ok();
    w.assert_clean(&[&pod]);
    let mut other = w.conf("1.1.0");
    other["ipamInProcess"] = json!(true);
    let err = w.add(&pod, "ctr-s", "eth0", &other).error();
    assert_eq!(err["code"], 7, "only static can run in-process: {err}");
    w.assert_clean(&[&pod]);
}

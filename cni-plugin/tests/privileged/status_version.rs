//! STATUS (1.1.0) and VERSION.

use serde_json::json;

use crate::common::{Env, World};

const SUPPORTED: [&str; 5] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

fn status_env() -> Env {
    Env::new("STATUS")
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn status_is_ok_with_host_local() {
    let w = World::new();
    w.run(&status_env(), &w.conf("1.1.0")).ok();
    w.assert_clean(&[]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn status_is_forwarded_to_an_ipam_that_speaks_1_1() {
    let w = World::new();
    let path = w.fake_ipam(&json!({"cniVersion": "1.1.0"}));
    let mut conf = w.conf("1.1.0");
    conf["ipam"] = json!({"type": "fake-ipam"});
    w.run(&status_env().set("CNI_PATH", &path), &conf).ok();
    assert!(w.fake_ipam_log().iter().any(|l| l == "STATUS"), "log: {:?}", w.fake_ipam_log());
    w.assert_clean(&[]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn status_needs_the_master_interface() {
    let w = World::new();
    let mut conf = w.conf("1.1.0");
    conf["master"] = json!("mmtmaster0");
    let err = w.run(&status_env(), &conf).error();
    assert_eq!(err["code"], 50, "missing master: {err}");
    // The master is looked up in the plugin's (node) namespace.
    w.node.add_veth("mmtmaster0", "mmtmaster0p");
    w.run(&status_env(), &conf).ok();
    w.node.ip(&["link", "del", "mmtmaster0"]);
    w.assert_clean(&[]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn status_needs_the_ipam_binary() {
    let w = World::new();
    let empty = w.tmp().join("empty-bin");
    std::fs::create_dir(&empty).expect("mkdir");
    let env = status_env().set("CNI_PATH", &empty.display().to_string());
    let err = w.run(&env, &w.conf("1.1.0")).error();
    assert_eq!(err["code"], 50, "host-local not on CNI_PATH: {err}");
    let mut conf = w.conf("1.1.0");
    conf["ipam"]["type"] = json!("mmt-no-ipam");
    let err = w.run(&status_env(), &conf).error();
    assert_eq!(err["code"], 50, "unknown IPAM type: {err}");
    w.assert_clean(&[]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn status_reports_a_missing_vf() {
    let w = World::new();
    let mut conf = w.conf("1.1.0");
    conf["deviceID"] = json!("0000:03:00.1");
    let err = w.run(&status_env(), &conf).error();
    assert_eq!(err["code"], 50, "the VF does not exist on this host: {err}");
    assert!(err["msg"].as_str().expect("msg").contains("0000:03:00.1"), "{err}");
    w.assert_clean(&[]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn version_lists_every_supported_version() {
    let w = World::new();
    // VERSION needs nothing but CNI_COMMAND, even beside otherwise invalid variables.
    let env = Env::default().set("CNI_COMMAND", "VERSION").set("CNI_CONTAINERID", "-bad");
    for (stdin, answer) in [
        (r#"{"cniVersion":"1.1.0"}"#, "1.1.0"),
        (r#"{"cniVersion":"0.4.0"}"#, "0.4.0"),
        (r#"{"cniVersion":"1.0.0","name":"x","type":"murmuration"}"#, "1.0.0"),
        (r#"{"cniVersion":"9.9.9"}"#, "1.1.0"),
        ("", "1.1.0"),
    ] {
        let v = w.exec(&env, stdin.as_bytes()).result();
        assert_eq!(
            v,
            json!({"cniVersion": answer, "supportedVersions": SUPPORTED}),
            "for {stdin:?}"
        );
    }
    w.assert_clean(&[]);
}

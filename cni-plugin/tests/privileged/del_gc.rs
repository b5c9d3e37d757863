//! DEL in every state a runtime may send it, and GC.

use serde_json::{Value, json};

use crate::common::{Netns, World, assert_pod_link, host_ifname};

/// ADDs (cid, ifname) into `pod` and checks the attachment is complete.
fn attach(w: &World, pod: &Netns, cid: &str, ifname: &str, conf: &Value) -> Value {
    let r = w.add(pod, cid, ifname, conf).result();
    let addrs: Vec<&str> =
        r["ips"].as_array().expect("ips").iter().filter_map(|i| i["address"].as_str()).collect();
    assert_eq!(addrs.len(), 2, "dual-stack lease: {r}");
    let link = assert_pod_link(pod, ifname, None, None, &addrs);
    w.assert_host_end(cid, ifname, &link);
    assert!(w.record_path(cid, ifname).is_file(), "ADD records the attachment");
    r
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn del_with_empty_netns_then_again() {
    let w = World::new();
    let pod = w.pod();
    let conf = w.conf("1.1.0");
    attach(&w, &pod, "ctr-1", "eth0", &conf);
    w.del(None, "ctr-1", "eth0", &conf).ok();
    w.assert_clean(&[&pod]);
    w.del(Some(&pod), "ctr-1", "eth0", &conf).ok();
    w.del(None, "ctr-1", "eth0", &conf).ok();
    w.assert_clean(&[&pod]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn del_after_the_pod_namespace_is_gone() {
    let w = World::new();
    let mut pod = w.pod();
    let conf = w.conf("1.1.0");
    attach(&w, &pod, "ctr-1", "eth0", &conf);
    let stale = pod.path();
    pod.delete();
    let env = crate::common::Env::attachment("DEL", None, "ctr-1", "eth0").set("CNI_NETNS", &stale);
    w.run(&env, &conf).ok();
    w.assert_clean(&[]);
    w.run(&env, &conf).ok();
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn del_without_any_state_still_removes_veth_and_lease() {
    let w = World::new();
    let pod = w.pod();
    let conf = w.conf("1.1.0");
    attach(&w, &pod, "ctr-1", "eth0", &conf);
    // The whole dataDir is lost between ADD and DEL (reboot onto tmpfs, operator error).
    std::fs::remove_dir_all(w.data_dir()).expect("remove dataDir");
    w.del(Some(&pod), "ctr-1", "eth0", &conf).ok();
    w.assert_clean(&[&pod]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn del_without_the_record_file_still_removes_veth_and_lease() {
    let w = World::new();
    let pod = w.pod();
    let conf = w.conf("1.1.0");
    attach(&w, &pod, "ctr-1", "eth0", &conf);
    std::fs::remove_file(w.record_path("ctr-1", "eth0")).expect("remove record");
    w.del(None, "ctr-1", "eth0", &conf).ok();
    w.assert_clean(&[&pod]);
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn del_of_an_attachment_never_added() {
    let w = World::new();
    let pod = w.pod();
    let conf = w.conf("1.1.0");
    w.del(Some(&pod), "never-added", "eth0", &conf).ok();
    w.del(None, "never-added", "eth0", &conf).ok();
    let mut bare = conf.clone();
    bare.as_object_mut().expect("object").remove("ipam");
    w.del(None, "never-added", "net1", &bare).ok();
    w.assert_clean(&[&pod]);
}

/// Runtimes repeat DEL (containerd sends one per sandbox stop and removal)
/// and DEL attachments they never added; whatever lock files that leaves
/// behind, GC must not leave any for attachments without a record, or
/// `locks/` grows with every pod the node ever ran.
#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn gc_leaves_no_lock_files_of_released_attachments() {
    let w = World::new();
    let (pod, kept) = (w.pod(), w.pod());
    let conf = w.conf("1.1.0");
    let locks = || -> Vec<String> {
        let mut names: Vec<String> = match std::fs::read_dir(w.data_dir().join("locks")) {
            Ok(d) => d.map(|e| e.expect("entry").file_name().to_string_lossy().into()).collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        names
    };
    attach(&w, &kept, "ctr-keep", "eth0", &conf);
    attach(&w, &pod, "ctr-1", "eth0", &conf);
    w.del(Some(&pod), "ctr-1", "eth0", &conf).ok();
    w.del(Some(&pod), "ctr-1", "eth0", &conf).ok();
    w.del(None, "never-added", "eth0", &conf).ok();
    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": "ctr-keep", "ifname": "eth0"}]);
    w.gc(&gc).ok();
    // Only ctr-keep still has a record; its lock file may stay.
    let stale: Vec<String> = locks().into_iter().filter(|l| l != "ctr-keep@eth0.lock").collect();
    assert_eq!(stale, Vec::<String>::new(), "lock files of released attachments after GC");
    assert_eq!(w.attachments(), ["ctr-keep@eth0.json"]);
    w.del(None, "ctr-keep", "eth0", &conf).ok();
    w.assert_clean(&[&pod, &kept]);
}

/// Two pods on network A, one on network B, all in one dataDir.
struct TwoNetworks {
    w: World,
    pods: [Netns; 3],
    conf_a: Value,
    conf_b: Value,
    net_b: String,
}

impl TwoNetworks {
    fn new() -> Self {
        let w = World::new();
        let pods = [w.pod(), w.pod(), w.pod()];
        let conf_a = w.conf("1.1.0");
        let net_b = format!("{}-b", w.net);
        let mut conf_b = conf_a.clone();
        conf_b["name"] = json!(net_b);
        attach(&w, &pods[0], "ctr-a1", "eth0", &conf_a);
        attach(&w, &pods[1], "ctr-a2", "eth0", &conf_a);
        attach(&w, &pods[2], "ctr-b1", "eth0", &conf_b);
        assert_eq!(w.leased_ips(&w.net).len(), 4);
        Self { w, pods, conf_a, conf_b, net_b }
    }

    fn gc_a(&self, key: &str, keep: Value) {
        let mut conf = self.conf_a.clone();
        conf[key] = keep;
        self.w.gc(&conf).ok();
    }

    fn host_links(&self) -> Vec<String> {
        self.w.node.link_names().into_iter().filter(|n| n != "lo").collect()
    }

    /// Network B's attachment is untouched: link, lease and record.
    fn assert_b_intact(&self) {
        assert_pod_link(&self.pods[2], "eth0", None, None, &["10.77.0.2/24", "fd00:77::2/64"]);
        assert!(self.host_links().contains(&host_ifname("ctr-b1", "eth0")));
        assert_eq!(self.w.leased_ips(&self.net_b), ["10.77.0.2", "fd00:77::2"]);
        assert!(self.w.record_path("ctr-b1", "eth0").is_file());
    }

    /// DELs what is left and checks everything is gone.
    fn finish(self) {
        self.w.del(None, "ctr-a1", "eth0", &self.conf_a).ok();
        self.w.del(None, "ctr-a2", "eth0", &self.conf_a).ok();
        self.w.del(None, "ctr-b1", "eth0", &self.conf_b).ok();
        let [p0, p1, p2] = &self.pods;
        self.w.assert_clean(&[p0, p1, p2]);
    }
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn gc_with_empty_list_releases_only_this_networks_attachments() {
    let t = TwoNetworks::new();
    t.gc_a("cni.dev/valid-attachments", json!([]));
    assert_eq!(t.host_links(), [host_ifname("ctr-b1", "eth0")], "only B's host end remains");
    t.pods[0].assert_empty("GC'd pod");
    t.pods[1].assert_empty("GC'd pod");
    assert_eq!(t.w.leased_ips(&t.w.net), Vec::<String>::new(), "A's leases released");
    assert_eq!(t.w.attachments(), ["ctr-b1@eth0.json"]);
    t.assert_b_intact();
    t.gc_a("cni.dev/valid-attachments", json!([]));
    t.assert_b_intact();
    t.finish();
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn gc_keeps_listed_attachments() {
    let t = TwoNetworks::new();
    let keep = json!([{"containerID": "ctr-a1", "ifname": "eth0"}]);
    t.gc_a("cni.dev/valid-attachments", keep);
    assert_pod_link(&t.pods[0], "eth0", None, None, &["10.77.0.2/24", "fd00:77::2/64"]);
    t.pods[1].assert_empty("GC'd pod");
    assert_eq!(t.w.leased_ips(&t.w.net), ["10.77.0.2", "fd00:77::2"], "a1 keeps its lease");
    assert_eq!(t.w.attachments(), ["ctr-a1@eth0.json", "ctr-b1@eth0.json"]);
    let mut links = t.host_links();
    links.sort();
    let mut want = vec![host_ifname("ctr-a1", "eth0"), host_ifname("ctr-b1", "eth0")];
    want.sort();
    assert_eq!(links, want);
    t.assert_b_intact();
    t.finish();
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn gc_accepts_the_legacy_attachments_key() {
    let t = TwoNetworks::new();
    let keep = json!([{"containerID": "ctr-a2", "ifname": "eth0"}]);
    t.gc_a("cni.dev/attachments", keep);
    t.pods[0].assert_empty("GC'd pod");
    assert_pod_link(&t.pods[1], "eth0", None, None, &["10.77.0.3/24", "fd00:77::3/64"]);
    assert_eq!(t.w.attachments(), ["ctr-a2@eth0.json", "ctr-b1@eth0.json"]);
    assert_eq!(t.w.leased_ips(&t.w.net), ["10.77.0.3", "fd00:77::3"]);
    t.assert_b_intact();
    t.finish();
}

/// A record a crash or a full disk left unreadable.
fn corrupt_record(w: &World, cid: &str, ifname: &str) {
    std::fs::write(w.record_path(cid, ifname), b"{\"format\": 1, \"netw").expect("corrupt");
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn del_with_a_corrupt_record_cleans_up_by_name() {
    let w = World::new();
    let pod = w.pod();
    let conf = w.conf("1.1.0");
    attach(&w, &pod, "ctr-1", "eth0", &conf);
    corrupt_record(&w, "ctr-1", "eth0");
    w.del(Some(&pod), "ctr-1", "eth0", &conf).ok();
    w.assert_clean(&[&pod]);
}

/// `state` documents that GC drops unreadable records; one must not make
/// every later GC fail, nor stop GC from releasing the readable ones.
#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn gc_survives_a_corrupt_record() {
    let t = TwoNetworks::new();
    corrupt_record(&t.w, "ctr-a2", "eth0");
    let mut conf = t.conf_a.clone();
    conf["cni.dev/valid-attachments"] = json!([]);
    let out = t.w.gc(&conf);
    t.pods[0].assert_empty("GC'd pod");
    t.assert_b_intact();
    let records = t.w.attachments();
    let gc = if out.success { "ok".to_owned() } else { out.stdout.clone() };
    t.finish();
    assert_eq!(gc, "ok", "GC with one unreadable record");
    assert_eq!(records, ["ctr-b1@eth0.json"], "GC drops the unreadable record");
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn del_succeeds_with_an_invalid_config_and_malformed_cni_args() {
    let w = World::new();
    let pod = w.pod();
    let conf = w.conf("1.1.0");
    attach(&w, &pod, "ctr-1", "eth0", &conf);
    let mut broken = conf.clone();
    broken["vlan"] = serde_json::json!(5000);
    broken["mac"] = serde_json::json!("not-a-mac");
    let env = crate::common::Env::attachment("DEL", Some(&pod), "ctr-1", "eth0")
        .set("CNI_ARGS", "garbage;MAC=zz;K8S_POD_NAME=p");
    w.run(&env, &broken).ok();
    w.assert_clean(&[&pod]);
    // ADD keeps refusing the same input, with the spec's codes.
    let add = crate::common::Env::attachment("ADD", Some(&pod), "ctr-2", "eth0");
    assert_eq!(w.run(&add, &broken).code(), 7);
    assert_eq!(w.run(&add.set("CNI_ARGS", "garbage"), &conf).code(), 4);
    w.assert_clean(&[&pod]);
}

//! Least privilege: the plugin executes nothing but the IPAM plugin of its
//! config (traced with strace on every verb).

use std::process::Command;

use crate::common::{CNI_BIN_DIR, Env, PLUGIN, World, output_with_stdin};

/// Every program the plugin (and its children) executed for one verb.
fn executed(w: &World, env: &Env, conf: &serde_json::Value) -> Vec<String> {
    let trace = w.tmp().join("exec.trace");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", w.node.name(), "strace", "-f", "-qq", "-e", "trace=execve", "-o"])
        .arg(&trace)
        .arg(PLUGIN)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .envs(env.vars());
    let out = output_with_stdin(&mut cmd, &serde_json::to_vec(conf).expect("JSON"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let text = std::fs::read_to_string(&trace).expect("trace");
    text.lines()
        .filter_map(|l| l.split_once("execve(\"").and_then(|(_, rest)| rest.split_once('"')))
        .map(|(path, _)| path.to_owned())
        .collect()
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn the_plugin_executes_nothing_but_its_ipam_plugin() {
    let w = World::new();
    let pod = w.pod();
    let conf = w.conf("1.1.0");
    let ipam = format!("{CNI_BIN_DIR}/host-local");
    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = serde_json::json!([]);
    let calls = [
        (Env::attachment("ADD", Some(&pod), "spawn-ctr", "eth0"), &conf),
        (Env::attachment("CHECK", Some(&pod), "spawn-ctr", "eth0"), &conf),
        (Env::new("STATUS"), &conf),
        (Env::attachment("DEL", Some(&pod), "spawn-ctr", "eth0"), &conf),
        (Env::new("GC"), &gc),
    ];
    for (env, conf) in calls {
        let progs = executed(&w, &env, conf);
        assert_eq!(progs.first().map(String::as_str), Some(PLUGIN), "{env:?}: {progs:?}");
        let others: Vec<&String> = progs[1..].iter().filter(|p| **p != ipam).collect();
        assert!(others.is_empty(), "{env:?} executed {others:?}");
    }
    w.assert_clean(&[&pod]);
}

//! podman 4.3 with its CNI network backend: root, runroot, tmpdir, storage
//! and the CNI config dir are flags, the plugin dir and events log come from
//! a containers.conf named by `CONTAINERS_CONF`. podman runs in the node
//! namespace inside a private mount namespace where `/run` (its netns files
//! under /run/netns) and `/var/lib` (libcni's cache `/var/lib/cni`, a bind
//! mount of the rig's) are its own: the machine's /etc/containers,
//! /etc/cni/net.d and /var/lib/containers are neither read for the network
//! nor written.

use std::process::Command;
use std::time::Duration;

use super::{Rig, Spawned, assert_container_saw, container_script, require, version_of};

#[test]
#[ignore = "privileged: needs root, network namespaces and podman (run by cargo xtask test)"]
fn podman_runs_a_container_on_the_fast_path_and_its_del_leaves_nothing() {
    for (bin, package) in [("podman", "podman"), ("conmon", "conmon"), ("runc", "runc")] {
        require(bin, package);
    }
    let rig = Rig::new();
    let version = version_of(Command::new("podman").arg("--version"));
    let conf = rig.dir("containers.conf");
    let text = format!(
        "[network]\nnetwork_backend = \"cni\"\ncni_plugin_dirs = [\"{bin}\"]\n\
         network_config_dir = \"{cni}\"\n[engine]\ncgroup_manager = \"cgroupfs\"\n\
         events_logger = \"file\"\nevents_logfile_path = \"{events}\"\ntmp_dir = \"{tmp}\"\n",
        bin = rig.dir("bin").display(),
        cni = rig.dir("conf").display(),
        events = rig.dir("podman-events.log").display(),
        tmp = rig.dir("podman-tmp").display(),
    );
    std::fs::write(&conf, text).expect("containers.conf");
    let setup = format!(
        "mount -t tmpfs tmpfs /run\nmount -t tmpfs tmpfs /var/lib\n\
         mkdir /var/lib/cni\nmount --bind {cache} /var/lib/cni",
        cache = rig.dir("cache").display()
    );
    let dirs = ["podman-root", "podman-runroot", "conf", "rootfs"].map(|d| rig.dir(d));
    let [root, runroot, cni, rootfs] = dirs.each_ref().map(|d| d.display().to_string());
    let script = container_script();
    // podman's default rlimits (nofile 1048576, nproc above conmon's
    // 32768) need CAP_SYS_RESOURCE, which this machine's root lacks: runc
    // fails with EPERM. Lowering them is always allowed.
    let args = [
        "podman",
        "--root",
        &root,
        "--runroot",
        &runroot,
        "--network-backend",
        "cni",
        "--cni-config-dir",
        &cni,
        "--storage-driver",
        "vfs",
        "run",
        "--rm",
        "--name",
        "rt-1",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
        "--network",
        &rig.f.w.net,
        "--rootfs",
        &rootfs,
        "/bin/sh",
        "-c",
        &script,
    ];
    let mut cmd = rig.private(&setup, &args);
    cmd.env("CONTAINERS_CONF", &conf);
    let log = rig.dir("podman.log");
    let mut podman = Spawned::start(cmd, &log);
    podman.settle(Duration::from_secs(10));
    let status = podman.wait(Duration::from_secs(60));
    let out = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "podman run failed:\n{out}\n{}", rig.describe());
    rig.wait_for_dels(1);
    rig.print_summary(&version);

    let adds = rig.calls_of("ADD");
    assert_eq!(adds.len(), 1, "one ADD:\n{}", rig.describe());
    let add = &adds[0];
    assert_container_saw(&out, add);
    assert_eq!(add.conf["cniVersion"], "1.0.0", "the conflist's version");
    let netns = add.var("CNI_NETNS");
    assert!(netns.starts_with("/run/netns/netns-"), "podman's own netns file: {netns}");
    assert!(
        add.var("CNI_ARGS").contains("K8S_POD_NAME=rt-1"),
        "podman passes the container name as K8S_POD_NAME: {}",
        add.var("CNI_ARGS")
    );
    let del = &rig.calls_of("DEL")[0];
    assert_eq!(del.var("CNI_NETNS"), netns, "podman's DEL names the same namespace");
    assert_eq!(del.var("CNI_ARGS"), add.var("CNI_ARGS"), "DEL repeats ADD's CNI_ARGS");
    assert!(del.has_prev_result(), "libcni's cached result is the DEL's prevResult");
    let versions = rig.calls_of("VERSION");
    assert!(!versions.is_empty(), "podman validates the conflist with VERSION first");
    assert!(rig.calls_of("CHECK").is_empty(), "podman run sends no CHECK");
    drop(podman);
    rig.assert_left_nothing();
}

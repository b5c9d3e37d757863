//! libcni 1.1.2 (Debian's golang-github-appc-cni-dev) through the Go driver
//! in `tests/libcni-driver`, built offline in GOPATH mode against
//! /usr/share/gocode: the list calls, then the single-plugin calls, with
//! the result cache in the rig. libcni 1.1.2 has no STATUS and no GC (CNI
//! 1.1 added them in libcni 1.2): the test checks that in the package's own
//! source rather than assuming it.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Rig, require};
use crate::common::output_with_stdin;

const GOCODE: &str = "/usr/share/gocode/src/github.com/containernetworking/cni";

/// Builds the driver with Debian's Go toolchain, no network, and returns it.
fn build_driver(rig: &Rig) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/libcni-driver/main.go");
    let out = rig.dir("libcni-driver");
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gocache");
    let mut cmd = Command::new("go");
    cmd.args(["build", "-o"])
        .arg(&out)
        .arg(&src)
        .env("GO111MODULE", "off")
        .env("GOPATH", "/usr/share/gocode")
        .env("GOPROXY", "off")
        .env("GOFLAGS", "")
        .env("GOCACHE", cache);
    let built = output_with_stdin(&mut cmd, b"");
    assert!(built.status.success(), "go build: {}", String::from_utf8_lossy(&built.stderr));
    out
}

/// The package's version as dpkg knows it.
fn package_version(package: &str) -> String {
    let out = Command::new("dpkg-query").args(["-W", "-f=${Version}", package]).output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
}

#[test]
#[ignore = "privileged: needs root, network namespaces and Debian's Go libcni (run by cargo xtask test)"]
fn libcni_list_and_single_plugin_calls_reach_the_plugin_and_leave_nothing() {
    require("go", "golang-go");
    let api = std::fs::read_to_string(Path::new(GOCODE).join("libcni/api.go"))
        .expect("libcni source missing: apt-get install golang-github-appc-cni-dev");
    for verb in ["GCNetworkList", "GetStatusNetworkList"] {
        assert!(!api.contains(verb), "this libcni has {verb}: extend the driver");
    }
    let rig = Rig::new();
    let driver = build_driver(&rig);
    let pod = rig.f.pod(false);
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", rig.f.w.node.name()])
        .arg(&driver)
        .arg(rig.conflist_path())
        .arg(pod.path())
        .arg(rig.dir("bin"))
        .arg(rig.dir("cache"))
        .arg("rt-libcni");
    let run = output_with_stdin(&mut cmd, b"");
    let out = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(run.status.success(), "driver: {out}{}", String::from_utf8_lossy(&run.stderr));
    let version = format!("libcni {}", package_version("golang-github-appc-cni-dev"));
    rig.print_summary(&version);
    for call in [
        "AddNetworkList",
        "CheckNetworkList",
        "DelNetworkList",
        "AddNetwork",
        "CheckNetwork",
        "DelNetwork",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(&format!("{call} ok"))),
            "{call} failed:\n{out}\n{}",
            rig.describe()
        );
    }

    let verbs: Vec<String> = rig.calls().iter().map(|c| c.command().to_owned()).collect();
    assert_eq!(verbs, ["ADD", "CHECK", "DEL", "ADD", "CHECK", "DEL"], "{}", rig.describe());
    for call in rig.calls() {
        assert_eq!(call.var("CNI_NETNS"), pod.path(), "every verb names the pod's namespace");
        assert_eq!(call.conf["cniVersion"], "1.0.0");
        let cached = call.command() != "ADD";
        assert_eq!(call.has_prev_result(), cached, "prevResult on CHECK and DEL only: {call:?}");
    }
    let cache: Vec<_> = walk(&rig.dir("cache"));
    assert!(cache.is_empty(), "libcni's cache keeps entries after DEL: {cache:?}");
    pod.assert_empty("pod");
    rig.assert_left_nothing();
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

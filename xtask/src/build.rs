//! `cargo xtask build`: build the release binaries.
//!
//! The CNI plugin is linked statically (glibc static-pie): runtimes exec it
//! for every ADD and DEL, and a static binary starts about 0.3 ms faster
//! here than a dynamically linked one; it also runs on any node whatever its
//! libc, like the reference plugins. `--target` keeps the static flag away
//! from build scripts and proc-macros; the result is copied to
//! `target/release/murmuration`, next to the benchmark binary and the node
//! daemon `murmurationd` ([`daemon_path`]).

use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::sh;

const PACKAGE: &str = "murmuration-cni";
const BINARY: &str = "murmuration";
const HOST_TARGET: &str = "x86_64-unknown-linux-gnu";

/// Build `murmuration-cni` in release mode and return the absolute path of the
/// `murmuration` binary, as cargo reports it (so `CARGO_TARGET_DIR` is honoured).
pub fn run() -> Result<PathBuf> {
    let static_bin = build_plugin()?;
    let release_dir = static_bin
        .parent()
        .and_then(|d| d.parent())
        .and_then(|d| d.parent())
        .context("unexpected target layout")?
        .join("release");
    std::fs::create_dir_all(&release_dir)?;
    let path = release_dir.join(BINARY);
    // Replace rather than overwrite: a running plugin keeps its old inode.
    let tmp = release_dir.join(format!(".{BINARY}.tmp"));
    std::fs::copy(&static_bin, &tmp)?;
    std::fs::rename(&tmp, &path)?;
    // The daemon is a long-running service: the default (dynamic) link is
    // fine. It is built on its own: the benchmark enables the core's and the
    // daemon's `testing` features, and one cargo invocation unifies features
    // across its packages, which would compile them into the daemon.
    for package in ["murmurationd", "murmuration-bench"] {
        let mut cmd = sh::cargo();
        cmd.args(["build", "--release", "--package", package]).stdin(Stdio::null());
        sh::run(&mut cmd)?;
    }
    for shipped in [path.clone(), daemon_path(&path)] {
        refuse_test_build(&shipped)?;
    }
    eprintln!("build: {}", path.display());
    Ok(path)
}

/// The core's fault points read this variable (`murmuration_core::fault::ENV`);
/// only a build with the `testing` feature contains the name.
const FAULT_ENV: &[u8] = b"MURMURATION_FAULT";

/// Fails when a binary that ships was built with the core's `testing` feature.
pub(crate) fn refuse_test_build(binary: &std::path::Path) -> Result<()> {
    let bytes = std::fs::read(binary).with_context(|| format!("reading {}", binary.display()))?;
    if contains(&bytes, FAULT_ENV) {
        bail!("{} contains the test-only fault points (core feature `testing`)", binary.display());
    }
    Ok(())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The node daemon, built by [`run`] next to the plugin it returns.
pub fn daemon_path(plugin: &std::path::Path) -> PathBuf {
    plugin.with_file_name("murmurationd")
}

fn build_plugin() -> Result<PathBuf> {
    let mut cmd = sh::cargo();
    cmd.args(["build", "--release", "--package", PACKAGE, "--target", HOST_TARGET])
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .arg("--message-format=json-render-diagnostics")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    eprintln!("$ {}", sh::display(&cmd));
    let output = cmd.output().context("cannot start cargo")?;
    if !output.status.success() {
        bail!("building {PACKAGE} failed ({})", output.status);
    }
    let messages = String::from_utf8_lossy(&output.stdout);
    let path = messages
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find_map(|message| binary_path(&message))
        .with_context(|| format!("cargo reported no `{BINARY}` executable for {PACKAGE}"))?;
    Ok(path)
}

fn binary_path(message: &Value) -> Option<PathBuf> {
    let is_artifact = message["reason"] == "compiler-artifact";
    let is_ours = message["target"]["name"] == BINARY;
    let executable = message["executable"].as_str()?;
    (is_artifact && is_ours).then(|| PathBuf::from(executable))
}

#[cfg(test)]
mod tests {
    use super::{FAULT_ENV, binary_path, contains};
    use serde_json::json;

    #[test]
    fn finds_the_plugin_executable_among_cargo_messages() {
        let ours = json!({"reason": "compiler-artifact", "target": {"name": "murmuration"},
                          "executable": "/w/target/release/murmuration"});
        let lib = json!({"reason": "compiler-artifact", "target": {"name": "murmuration_core"},
                         "executable": null});
        let other = json!({"reason": "compiler-artifact", "target": {"name": "bench"},
                           "executable": "/w/target/release/bench"});
        assert_eq!(binary_path(&ours).as_deref(), Some("/w/target/release/murmuration".as_ref()));
        assert_eq!(binary_path(&lib), None);
        assert_eq!(binary_path(&other), None);
    }

    #[test]
    fn a_test_build_is_recognised_by_the_fault_variable() {
        assert!(contains(b"..\0MURMURATION_FAULT\0..", FAULT_ENV));
        assert!(!contains(b"MURMURATION_FAUL", FAULT_ENV));
    }
}

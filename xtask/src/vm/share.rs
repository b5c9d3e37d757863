//! What the guest gets over 9p: the musl plugin and daemon, the musl test binaries and
//! the `run.sh` that runs them one after the other.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::sh;

pub const MUSL: &str = "x86_64-unknown-linux-musl";
const TEST_PACKAGE: &str = "murmuration-vm-tests";

/// The binaries built for the guest.
#[derive(Debug)]
pub struct Built {
    pub plugin: PathBuf,
    pub daemon: PathBuf,
    /// (test target name, executable)
    pub tests: Vec<(String, PathBuf)>,
}

impl Built {
    pub fn test_names(&self) -> Vec<String> {
        self.tests.iter().map(|(name, _)| name.clone()).collect()
    }

    /// The same binaries with only the test binaries named in `names`.
    pub fn only(&self, names: &[String]) -> Self {
        let tests = self.tests.iter().filter(|(n, _)| names.contains(n)).cloned().collect();
        Self { plugin: self.plugin.clone(), daemon: self.daemon.clone(), tests }
    }
}

/// Builds the release plugin and the VM test binaries for musl.
pub fn build_binaries() -> Result<Built> {
    // The `testing` feature arms the core's pause points (`test_hooks`) for race tests.
    let bins = cargo_artifacts(&[
        "build",
        "--release",
        "-p",
        "murmuration-cni",
        "-p",
        "murmurationd",
        "--features",
        "murmuration-core/testing",
    ])?;
    let bin = |want: &str| {
        let found = bins.iter().find(|(name, _)| name == want).map(|(_, path)| path.clone());
        found.with_context(|| format!("cargo reported no musl `{want}` binary"))
    };
    let (plugin, daemon) = (bin("murmuration")?, bin("murmurationd")?);
    let tests = cargo_artifacts(&["test", "--no-run", "--package", TEST_PACKAGE, "--tests"])?;
    if tests.is_empty() {
        bail!("{TEST_PACKAGE} has no integration test binaries");
    }
    Ok(Built { plugin, daemon, tests })
}

/// Runs cargo for the musl target and returns (target name, executable) pairs.
pub fn cargo_artifacts(args: &[&str]) -> Result<Vec<(String, PathBuf)>> {
    let mut cmd = sh::cargo();
    cmd.args(args)
        .args(["--target", MUSL, "--message-format=json-render-diagnostics"])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    eprintln!("$ {}", sh::display(&cmd));
    let output = cmd.output().context("cannot start cargo")?;
    if !output.status.success() {
        bail!("`{}` failed ({})", sh::display(&cmd), output.status);
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|m| artifact(&m))
        .collect())
}

fn artifact(m: &Value) -> Option<(String, PathBuf)> {
    if m["reason"] != "compiler-artifact" {
        return None;
    }
    let kinds = m["target"]["kind"].as_array()?;
    let wanted = kinds.iter().any(|k| k == "bin" || k == "test");
    let exe = m["executable"].as_str()?;
    wanted.then(|| (m["target"]["name"].as_str().unwrap_or_default().to_owned(), exe.into()))
}

/// A share directory under `target/vm-run/`, removed when dropped unless kept.
#[derive(Debug)]
pub struct Share(Option<tempfile::TempDir>, PathBuf);

impl Share {
    pub fn path(&self) -> &Path {
        &self.1
    }

    /// Keeps the directory (for a failed run's logs) and returns its path.
    pub fn keep(mut self) -> Result<PathBuf> {
        if let Some(dir) = self.0.take() {
            let _ = dir.keep();
        }
        Ok(self.1.clone())
    }
}

pub fn prepare(parent: &Path, built: &Built, filter: Option<&str>) -> Result<Share> {
    fs::create_dir_all(parent)?;
    let dir = tempfile::Builder::new().prefix("share-").tempdir_in(parent)?;
    let root = dir.path().to_path_buf();
    for sub in ["bin", "tests", "reports"] {
        fs::create_dir_all(root.join(sub))?;
    }
    fs::copy(&built.plugin, root.join("bin/murmuration"))?;
    fs::copy(&built.daemon, root.join("bin/murmurationd"))?;
    for (name, exe) in &built.tests {
        fs::copy(exe, root.join("tests").join(name))?;
    }
    fs::write(root.join("run.sh"), run_script(&built.test_names(), filter))?;
    Ok(Share(Some(dir), root))
}

/// The guest-side runner: every binary runs even after a failure; each one's
/// start and status are marked on the console for [`super::report`].
fn run_script(names: &[String], filter: Option<&str>) -> String {
    let filter = filter.map(|f| format!(" {}", sh::quote(f))).unwrap_or_default();
    let mut s = String::from(
        "#!/bin/sh\n\
         cd /mnt/share || exit 91\n\
         export MURMURATION_PLUGIN=/mnt/share/bin/murmuration\n\
         export MURMURATION_DAEMON=/mnt/share/bin/murmurationd\n\
         export MURMURATION_CNI_PATH=/usr/lib/cni\n\
         export MURMURATION_VM_REPORTS=/mnt/share/reports\n\
         export MURMURATION_VM_GUEST=1 RUST_BACKTRACE=1\n\
         rc=0\n",
    );
    for name in names {
        s.push_str(&format!(
            "echo \"VMTEST_BEGIN {name}\"\n\
             ./tests/{name} --test-threads=1{filter}\n\
             r=$?\n\
             echo \"VMTEST_END {name} rc=$r\"\n\
             [ \"$r\" = 0 ] || rc=1\n"
        ));
    }
    s.push_str("exit $rc\n");
    s
}

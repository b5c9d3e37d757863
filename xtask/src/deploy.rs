//! The `deploy` step of the unit tier: everything under `deploy/` a cluster
//! consumes is checked, and a broken manifest fails the step.
//!
//! - `deploy/check/check_deploy.py`, in a venv under `target/` (made by
//!   [`venv`], from `cargo xtask setup`): Kubernetes manifests against the
//!   Kubernetes schemas (kubernetes-validate, strict), the custom resources
//!   it cannot know (NetworkAttachmentDefinition, PrometheusRule) by their
//!   own rules, the dashboard's and the alerts' metric names against
//!   `docs/metrics.md`, the dashboard's PromQL, every ConfigMap's
//!   `murmurationd.toml` through the daemon's `--check-config` and the
//!   DaemonSet's mounts against the paths those configs use.
//! - promtool: the scrape config, the rules, the rules' unit tests.
//!
//! The NADs' embedded configs go through the plugin's parser in the core's
//! `tests/deploy_examples.rs` (the `unit` step).

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::sh;

/// Debian's Python, not whatever `python3` is first on PATH: the venv must
/// not depend on a user's interpreter, and nothing is installed outside it.
const SYSTEM_PYTHON: &str = "/usr/bin/python3";
/// The validator's pinned packages (every transitive one, installed with `--no-deps`).
const REQUIREMENTS: &str = "deploy/check/requirements.txt";
const CHECKER: &str = "deploy/check/check_deploy.py";

fn venv_dir() -> PathBuf {
    sh::workspace_root().join("target/deploy-venv")
}

/// The copy of the requirements the venv was built from: equal means up to date.
fn venv_stamp() -> PathBuf {
    venv_dir().join("requirements.txt")
}

/// Makes `target/deploy-venv` with the pinned validator, unless it already
/// holds exactly these requirements (then nothing runs and no network is used).
pub fn venv() -> Result<()> {
    let wanted = std::fs::read_to_string(sh::workspace_root().join(REQUIREMENTS))
        .with_context(|| format!("read {REQUIREMENTS}"))?;
    let python = venv_dir().join("bin/python");
    if python.exists() && std::fs::read_to_string(venv_stamp()).ok().as_deref() == Some(&wanted) {
        eprintln!("setup: deploy validator present in {}", venv_dir().display());
        return Ok(());
    }
    sh::run(Command::new(SYSTEM_PYTHON).args(["-m", "venv", "--clear"]).arg(venv_dir()))?;
    let pip = |args: &[&str]| {
        sh::run(
            Command::new(&python)
                .args(["-m", "pip", "--disable-pip-version-check", "-q"])
                .args(args)
                .current_dir(sh::workspace_root()),
        )
    };
    pip(&["install", "--no-deps", "-r", REQUIREMENTS])?;
    pip(&["check"])?;
    std::fs::write(venv_stamp(), wanted).context("write the venv's stamp")
}

/// The debug daemon the unit step's `cargo test --workspace` built (built
/// here when it is missing), for the checker's `--check-config` runs.
fn daemon() -> Result<PathBuf> {
    let path = sh::workspace_root().join("target/debug/murmurationd");
    if !path.is_file() {
        sh::run(sh::cargo().args(["build", "--package", "murmurationd", "--bin", "murmurationd"]))?;
    }
    Ok(path)
}

/// The `deploy` step.
pub fn check() -> Result<()> {
    let python = venv_dir().join("bin/python");
    if !python.exists() {
        bail!("{} is missing: run `cargo xtask setup`", python.display());
    }
    let root = sh::workspace_root();
    let promtool = |args: &[&str]| sh::run(Command::new("promtool").args(args).current_dir(&root));
    let daemon = daemon()?;
    sh::run(Command::new(&python).arg(CHECKER).arg("--daemon").arg(&daemon).current_dir(&root))?;
    promtool(&["check", "config", "deploy/prometheus/scrape.yaml"])?;
    promtool(&["check", "rules", "deploy/prometheus/murmuration-rules.yml"])?;
    promtool(&["test", "rules", "deploy/prometheus/rules-test.yml"])
}

//! The `image` test tier (root): build the image, load its archive into a
//! throwaway podman storage and run the installer from it the way the
//! DaemonSet's init container does, with a temporary directory as the host's
//! CNI bin dir: the plugin lands there executable and answers `VERSION`; a
//! second run reports "unchanged" and leaves the file alone; a different
//! build already there is replaced by a rename (a reader holding the old
//! file keeps reading the old build, complete). Then the storage is removed
//! and nothing may remain mounted under it.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use super::podman::Podman;
use super::{Built, IMAGE};
use crate::sh;

/// Far above the few seconds one container run takes here.
const RUN_LIMIT: Duration = Duration::from_secs(120);
const INSTALLER: &str = "/opt/murmuration/bin/murmuration-install";

pub fn tier() -> Result<()> {
    let built = super::run()?;
    let podman = Podman::new(&sh::workspace_root().join("target/image"))?;
    let checked = check(&podman, &built);
    let removed = podman.remove();
    checked.and(removed)
}

fn check(podman: &Podman, built: &Built) -> Result<()> {
    let mut load = podman.command();
    sh::run(load.args(["load", "--quiet", "--input"]).arg(&built.archive))?;
    let host = tempfile::Builder::new().prefix("host-cni-bin-").tempdir()?;
    let plugin = fs::read(built.context.join("bin/murmuration"))?;
    let target = host.path().join("murmuration");

    expect_said(&install(podman, host.path())?, "installed")?;
    expect_plugin(&target, &plugin)?;

    let inode = fs::metadata(&target)?.ino();
    expect_said(&install(podman, host.path())?, "unchanged")?;
    ensure!(fs::metadata(&target)?.ino() == inode, "an identical plugin was rewritten");

    replaces_a_different_build(podman, host.path(), &plugin)?;
    eprintln!("image: installer checks passed");
    for program in ["ptp4l", "phc2sys", "ts2phc"] {
        let version = run_in_image(podman, &[program, "-v"])?;
        ensure!(
            version.trim().starts_with(|c: char| c.is_ascii_digit()),
            "{program} -v: {version}"
        );
    }
    eprintln!("image: linuxptp runs from PATH");
    Ok(())
}

/// A different build at the target is replaced by a new inode; a reader that
/// opened the old one still reads the old build, complete.
fn replaces_a_different_build(podman: &Podman, host: &Path, plugin: &[u8]) -> Result<()> {
    let target = host.join("murmuration");
    let mut other = plugin.to_vec();
    other.extend_from_slice(b"\0another build");
    fs::write(&target, &other)?;
    fs::set_permissions(&target, fs::Permissions::from_mode(0o755))?;
    let mut held = File::open(&target)?;
    let old_inode = held.metadata()?.ino();

    expect_said(&install(podman, host)?, "replaced")?;
    expect_plugin(&target, plugin)?;
    ensure!(fs::metadata(&target)?.ino() != old_inode, "the plugin was rewritten in place");
    let mut before = Vec::new();
    held.read_to_end(&mut before)?;
    ensure!(before == other, "the file a reader held changed under it");
    let names: Vec<_> = fs::read_dir(host)?.flatten().map(|e| e.file_name()).collect();
    ensure!(names == ["murmuration"], "the CNI bin dir holds {names:?}");
    Ok(())
}

/// The init container: the installer as entry point, the host dir mounted.
fn install(podman: &Podman, host: &Path) -> Result<String> {
    let volume = format!("{}:/host/opt/cni/bin", host.display());
    run_with(podman, &["--volume", &volume, "--entrypoint", INSTALLER, IMAGE])
}

/// `command` (its first word looked up on the image's PATH) in the image.
fn run_in_image(podman: &Podman, command: &[&str]) -> Result<String> {
    let entry = ["--entrypoint", command[0], IMAGE];
    run_with(podman, &[&entry[..], &command[1..]].concat())
}

/// `podman run` with `args` after the common options: stdout; an error
/// unless it succeeds.
fn run_with(podman: &Podman, args: &[&str]) -> Result<String> {
    let mut run = podman.command();
    run.args(["run", "--rm", "--pull=never", "--network", "none"])
        // Podman raises these limits by default, which needs CAP_SYS_RESOURCE
        // (a CI container may not have it); the installer needs few.
        .args(["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"])
        .args(args);
    eprintln!("$ {}", sh::display(&run));
    let output = sh::run_with_input(&mut run, b"", RUN_LIMIT)?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    eprint!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    ensure!(output.status.success(), "the container failed ({})", output.status);
    Ok(stdout)
}

fn expect_said(stdout: &str, word: &str) -> Result<()> {
    ensure!(stdout.contains(&format!("murmuration: {word}")), "expected `{word}`, got: {stdout}");
    Ok(())
}

/// The installed plugin is the image's, mode 0755, and answers VERSION.
fn expect_plugin(target: &Path, plugin: &[u8]) -> Result<()> {
    let meta = fs::symlink_metadata(target).with_context(|| format!("{}", target.display()))?;
    ensure!(meta.is_file(), "{} is not a regular file", target.display());
    ensure!(meta.permissions().mode() & 0o777 == 0o755, "mode {:o}", meta.permissions().mode());
    ensure!(fs::read(target)? == plugin, "{} differs from the image's plugin", target.display());
    let mut version = Command::new(target);
    version.env_clear().env("CNI_COMMAND", "VERSION");
    let output = sh::run_with_input(&mut version, br#"{"cniVersion":"1.1.0"}"#, RUN_LIMIT)?;
    supports_1_1(&output)
}

fn supports_1_1(output: &Output) -> Result<()> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("VERSION failed ({}): {stdout}", output.status);
    }
    let answer: Value = serde_json::from_str(&stdout).context("VERSION answer is not JSON")?;
    let versions = answer["supportedVersions"].as_array().cloned().unwrap_or_default();
    ensure!(versions.iter().any(|v| v == "1.1.0"), "VERSION answered {answer}");
    Ok(())
}

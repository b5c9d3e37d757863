//! `cargo xtask image`: the node image, built offline.
//!
//! The plugin, the daemon and the installer are built for
//! `x86_64-unknown-linux-musl` (static: the image is `FROM scratch`), copied
//! into a build context under `target/image/`, built with podman from
//! `deploy/image/Containerfile` in a storage of its own ([`podman::Podman`],
//! removed afterwards) and saved as an OCI archive,
//! `target/image/murmuration.tar`, tagged [`IMAGE`]. Nothing is pulled.
//! [`check`] is the `image` test tier.

mod check;
mod podman;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::vm::share;
use crate::{build, sh};

pub use check::tier;

/// The image's name and tag, as `deploy/daemonset.yaml` refers to it.
pub const IMAGE: &str = concat!("murmuration/murmuration:", env!("CARGO_PKG_VERSION"));
/// The binaries the image ships, under `/opt/murmuration/bin/`.
const BINARIES: [&str; 3] = ["murmuration", "murmurationd", "murmuration-install"];
const PACKAGES: [&str; 3] = ["murmuration-cni", "murmurationd", "murmuration-install"];

/// What [`run`] made.
#[derive(Debug)]
pub struct Built {
    /// The OCI archive.
    pub archive: PathBuf,
    /// The build context: `bin/` holds the binaries the image was built from.
    pub context: PathBuf,
}

/// Builds the binaries and the image; writes the OCI archive.
pub fn run() -> Result<Built> {
    let out = sh::workspace_root().join("target/image");
    let context = out.join("context");
    let binaries = build_binaries()?;
    let start = Instant::now();
    prepare_context(&context, &binaries)?;
    let archive = out.join("murmuration.tar");
    let podman = podman::Podman::new(&out)?;
    let built = build_image(&podman, &context, &archive);
    podman.remove()?;
    built?;
    eprintln!("image: {IMAGE} in {} ({:.1}s)", archive.display(), start.elapsed().as_secs_f64());
    Ok(Built { archive, context })
}

fn build_binaries() -> Result<Vec<PathBuf>> {
    let packages = PACKAGES.iter().flat_map(|p| ["--package", p]);
    let args: Vec<&str> = ["build", "--release"].into_iter().chain(packages).collect();
    let artifacts = share::cargo_artifacts(&args)?;
    BINARIES
        .iter()
        .map(|want| {
            let found = artifacts.iter().find(|(name, _)| name == want);
            let path = found.map(|(_, path)| path.clone());
            let path = path.with_context(|| format!("cargo reported no musl `{want}` binary"))?;
            build::refuse_test_build(&path)?;
            Ok(path)
        })
        .collect()
}

fn prepare_context(context: &Path, binaries: &[PathBuf]) -> Result<()> {
    let bin = context.join("bin");
    fs::create_dir_all(&bin)?;
    for (name, path) in BINARIES.iter().zip(binaries) {
        fs::copy(path, bin.join(name)).with_context(|| format!("copying {}", path.display()))?;
    }
    copy_linuxptp(&context.join("linuxptp"))?;
    let containerfile = sh::workspace_root().join("deploy/image/Containerfile");
    fs::copy(&containerfile, context.join("Containerfile"))?;
    Ok(())
}

/// linuxptp's programs the daemon supervises, from the build machine's
/// Debian package (`cargo xtask setup` installs it).
const LINUXPTP: [&str; 4] =
    ["/usr/sbin/ptp4l", "/usr/sbin/phc2sys", "/usr/sbin/ts2phc", "/usr/sbin/pmc"];

/// Copies [`LINUXPTP`] and the shared libraries `ldd` names for them (glibc,
/// libm, the loader) under `root`, at their paths: the image is `FROM
/// scratch`, and these are the only dynamically linked programs in it.
fn copy_linuxptp(root: &Path) -> Result<()> {
    let mut files: Vec<PathBuf> = LINUXPTP.iter().map(PathBuf::from).collect();
    for program in LINUXPTP {
        let out = std::process::Command::new("ldd")
            .arg(program)
            .output()
            .with_context(|| format!("ldd {program} (is linuxptp installed? cargo xtask setup)"))?;
        anyhow::ensure!(out.status.success(), "ldd {program} failed: is linuxptp installed?");
        files.extend(libraries(&String::from_utf8_lossy(&out.stdout)));
    }
    for file in files {
        let to = root.join(file.strip_prefix("/")?);
        fs::create_dir_all(to.parent().context("a file has a directory")?)?;
        fs::copy(&file, &to).with_context(|| format!("copying {}", file.display()))?;
    }
    Ok(())
}

/// The absolute library paths in `ldd` output (`libc.so.6 => /lib/... (0x..)`,
/// `/lib64/ld-linux-x86-64.so.2 (0x..)`); the vDSO has none.
fn libraries(ldd: &str) -> Vec<PathBuf> {
    ldd.lines()
        .filter_map(|l| {
            let l = l.trim();
            let path = l.split_once("=> ").map_or(l, |(_, p)| p);
            let path = path.split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

fn build_image(podman: &podman::Podman, context: &Path, archive: &Path) -> Result<()> {
    // --timestamp 0: the same binaries give the same image digest.
    let mut build = podman.command();
    build.args(["build", "--pull=never", "--timestamp", "0", "--tag", IMAGE]).arg(context);
    sh::run(&mut build)?;
    let temp = archive.with_extension("tar.tmp");
    let _ = fs::remove_file(&temp);
    let mut save = podman.command();
    save.args(["save", "--quiet", "--format", "oci-archive", "--output"]).arg(&temp).arg(IMAGE);
    sh::run(&mut save)?;
    fs::rename(&temp, archive)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libraries_from_ldd_output() {
        let out = "\tlinux-vdso.so.1 (0x00007ffd)\n\
            \tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f57)\n\
            \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f57)\n\
            \t/lib64/ld-linux-x86-64.so.2 (0x00007f57)\n";
        assert_eq!(
            libraries(out),
            [
                "/lib/x86_64-linux-gnu/libm.so.6",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
            .map(PathBuf::from)
        );
    }
}

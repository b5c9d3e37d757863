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
    let containerfile = sh::workspace_root().join("deploy/image/Containerfile");
    fs::copy(&containerfile, context.join("Containerfile"))?;
    Ok(())
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

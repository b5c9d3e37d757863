//! The guest's kernel and userland: which Debian packages, at which versions,
//! and the cache directory they are built into.
//!
//! The kernel comes from bookworm-backports (6.12, the `-amd64` flavour: the
//! `-cloud-` one lacks igb/igbvf) as a downloaded `.deb` that is extracted,
//! never installed. The userland is the host's own busybox-static, iproute2,
//! ethtool, linuxptp, bpftool and Go reference plugins (installed by setup),
//! copied with their libraries. The cache key covers every version plus the
//! harness's own files, so a change to either rebuilds the initramfs.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::sh;

/// Host packages whose files go into the guest; their versions are part of the key.
pub const USERLAND_PACKAGES: &[&str] = &[
    "busybox-static",
    "iproute2",
    "ethtool",
    "linuxptp",
    "bpftool",
    "containernetworking-plugins",
];

/// The harness files whose content is part of the key.
const HARNESS_FILES: &[(&str, &str)] = &[
    ("init", include_str!("../../../vm-tests/guest/init")),
    ("initramfs.rs", include_str!("initramfs.rs")),
    ("assets.rs", include_str!("assets.rs")),
];

/// The resolved kernel package and the cache layout.
#[derive(Debug)]
pub struct Assets {
    pub kernel_package: String,
    pub kernel_release: String,
    /// `target/vm-cache/<key>/`: `vmlinuz`, `initramfs.cpio`, `KEY`.
    pub dir: PathBuf,
    /// `target/vm-cache/debs/`: downloaded packages, kept across keys.
    pub debs: PathBuf,
    pub key_text: String,
}

impl Assets {
    pub fn vmlinuz(&self) -> PathBuf {
        self.dir.join("vmlinuz")
    }

    pub fn initramfs(&self) -> PathBuf {
        self.dir.join("initramfs.cpio")
    }

    /// Whether a previous run built this exact key completely.
    pub fn is_built(&self) -> bool {
        let key = std::fs::read_to_string(self.dir.join("KEY")).unwrap_or_default();
        key == self.key_text && self.vmlinuz().is_file() && self.initramfs().is_file()
    }

    pub fn mark_built(&self) -> Result<()> {
        std::fs::write(self.dir.join("KEY"), &self.key_text).context("writing the cache key")
    }
}

/// Resolves versions and the cache directory under `cache_root`; downloads nothing.
pub fn resolve(cache_root: &Path) -> Result<Assets> {
    let kernel_package = backports_kernel_package()?;
    let kernel_version = candidate_version(&kernel_package)?;
    let kernel_release = kernel_package.trim_start_matches("linux-image-").to_owned();
    let mut key_text = format!("{kernel_package}={kernel_version}\n");
    for package in USERLAND_PACKAGES {
        key_text.push_str(&format!("{package}={}\n", installed_version(package)?));
    }
    for (name, content) in HARNESS_FILES {
        let digest = hex(&Sha256::digest(content.as_bytes()));
        key_text.push_str(&format!("{name}:{digest}\n"));
    }
    let key = &hex(&Sha256::digest(key_text.as_bytes()))[..16];
    Ok(Assets {
        kernel_package,
        kernel_release,
        dir: cache_root.join(key),
        debs: cache_root.join("debs"),
        key_text,
    })
}

/// The versioned image package `linux-image-amd64` from backports depends on.
fn backports_kernel_package() -> Result<String> {
    let out = sh::capture(Command::new("apt-cache").args([
        "depends",
        "-t",
        "bookworm-backports",
        "linux-image-amd64",
    ]))?;
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .find(|p| p.starts_with("linux-image-6.") && p.ends_with("-amd64"))
        .map(str::to_owned)
        .context("bookworm-backports offers no linux-image-6.x-amd64 (is the source configured?)")
}

fn candidate_version(package: &str) -> Result<String> {
    let out = sh::capture(Command::new("apt-cache").args(["policy", package]))?;
    out.lines()
        .find_map(|l| l.trim().strip_prefix("Candidate: "))
        .filter(|v| *v != "(none)")
        .map(str::to_owned)
        .with_context(|| format!("apt has no candidate for {package}"))
}

fn installed_version(package: &str) -> Result<String> {
    let v = sh::capture(Command::new("dpkg-query").args(["-W", "-f=${Version}", package]))
        .with_context(|| format!("{package} is not installed; run `cargo xtask setup`"))?;
    if v.trim().is_empty() {
        bail!("{package} is not installed; run `cargo xtask setup`");
    }
    Ok(v.trim().to_owned())
}

/// Downloads the kernel `.deb` (if not already there) and extracts it into `into`.
pub fn extract_kernel(assets: &Assets, into: &Path) -> Result<()> {
    std::fs::create_dir_all(&assets.debs)?;
    let deb = find_deb(&assets.debs, &assets.kernel_package)?;
    let deb = match deb {
        Some(deb) => deb,
        None => {
            sh::run(
                Command::new("apt-get")
                    .current_dir(&assets.debs)
                    .args(["download", "-q", "-t", "bookworm-backports"])
                    .arg(&assets.kernel_package),
            )?;
            find_deb(&assets.debs, &assets.kernel_package)?
                .context("apt-get download produced no kernel package")?
        }
    };
    sh::run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(into))
}

fn find_deb(dir: &Path, package: &str) -> Result<Option<PathBuf>> {
    let prefix = format!("{package}_");
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with(&prefix) && name.ends_with(".deb") {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

//! Podman with storage of its own under `target/image/`: never the machine's
//! default storage, no registry, no network, no events journal, and nothing
//! mounted once it is dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::sh;

/// A podman storage (root, temporary files) in one directory and its runroot
/// in a short one under the system's temporary directory (podman refuses a
/// runroot path longer than 50 bytes, which a checkout's `target/` easily
/// is); both removed after whatever is still mounted under them is unmounted.
#[derive(Debug)]
pub struct Podman {
    dir: tempfile::TempDir,
    run: tempfile::TempDir,
}

impl Podman {
    /// A fresh storage in a new directory under `parent`.
    pub fn new(parent: &Path) -> Result<Self> {
        std::fs::create_dir_all(parent)?;
        let dir = tempfile::Builder::new().prefix("podman-").tempdir_in(parent)?;
        for sub in ["root", "tmp"] {
            std::fs::create_dir(dir.path().join(sub))?;
        }
        let run = tempfile::Builder::new().prefix("mm-podman-").tempdir()?;
        Ok(Self { dir, run })
    }

    /// `podman` with this storage's global flags. `vfs` needs no overlay
    /// mounts; cgroupfs and no events journal need no systemd.
    pub fn command(&self) -> Command {
        let path = |sub: &str| self.dir.path().join(sub);
        let mut cmd = Command::new("podman");
        cmd.arg("--root").arg(path("root"));
        cmd.arg("--runroot").arg(self.run.path());
        cmd.arg("--tmpdir").arg(path("tmp"));
        cmd.args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs"]);
        cmd.args(["--events-backend", "none"]);
        // Build steps copy through TMPDIR (default /var/tmp).
        cmd.env("TMPDIR", path("tmp"));
        cmd
    }

    /// Unmounts what is left under the storage, removes it, and fails if a
    /// mount under it survived.
    pub fn remove(self) -> Result<()> {
        for root in [self.dir.path(), self.run.path()] {
            unmount_under(root)?;
            std::fs::remove_dir_all(root)
                .with_context(|| format!("removing {}", root.display()))?;
            let left = mounts_under(root)?;
            if !left.is_empty() {
                bail!("still mounted after cleanup: {left:?}");
            }
        }
        Ok(())
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // `remove` is the checked path; this covers an early return.
        let _ = unmount_under(self.dir.path());
        let _ = unmount_under(self.run.path());
    }
}

/// Mount points at or below `dir`, deepest first (`findmnt`, util-linux).
pub fn mounts_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let table = sh::capture(Command::new("findmnt").args(["-rn", "-o", "TARGET"]))?;
    let mut found: Vec<PathBuf> = table
        .lines()
        .map(|line| PathBuf::from(unescape(line)))
        .filter(|target| target.starts_with(dir))
        .collect();
    found.sort_by_key(|target| std::cmp::Reverse(target.components().count()));
    Ok(found)
}

fn unmount_under(dir: &Path) -> Result<()> {
    for target in mounts_under(dir)? {
        sh::run(Command::new("umount").arg(&target))?;
    }
    Ok(())
}

/// `findmnt -r` writes a space as `\x20`.
fn unescape(line: &str) -> String {
    line.replace("\\x20", " ")
}

//! A private bpffs on a directory of the caller's, so pins never touch the
//! node's `/sys/fs/bpf`.

use std::io;
use std::path::{Path, PathBuf};

use crate::sys;

/// Mounts a bpffs on `dir` (created if missing); [`unmount`] undoes it.
pub fn mount(dir: &Path) -> io::Result<()> {
    let named = |e: io::Error| {
        io::Error::new(e.kind(), format!("cannot mount a bpffs on {}: {e}", dir.display()))
    };
    std::fs::create_dir_all(dir).map_err(named)?;
    sys::mount_bpf(dir).map_err(named)
}

/// Unmounts a bpffs of [`mount`], lazily: a program or map fd still open (a
/// daemon stopping, a DEL in flight) must not keep it mounted. Errors are
/// ignored: teardown goes on.
pub fn unmount(dir: &Path) {
    let _ = sys::unmount_lazy(dir);
}

/// A bpffs mounted for a test; unmounted on drop, which drops its pins.
#[derive(Debug)]
pub struct Bpffs {
    dir: PathBuf,
    /// Whether the directory is ours to remove after the unmount.
    owned_dir: bool,
}

impl Bpffs {
    /// On `dir` (e.g. inside the test's temporary directory).
    pub fn mount(dir: &Path) -> Self {
        mount(dir).unwrap_or_else(|e| panic!("{e}"));
        Self { dir: dir.to_owned(), owned_dir: false }
    }

    /// On a fresh directory under the temporary directory, named after `tag`.
    pub fn mount_temp(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("bpffs-{tag}-{}", std::process::id()));
        let mut fs = Self::mount(&dir);
        fs.owned_dir = true;
        fs
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Bpffs {
    fn drop(&mut self) {
        unmount(&self.dir);
        if self.owned_dir {
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

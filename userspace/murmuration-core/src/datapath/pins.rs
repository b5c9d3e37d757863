//! The pin directory of one uplink, `<pin_root>/<uplink>/` (mode 0700 on
//! bpffs), locked while a process changes it.
//!
//! Pin root policy: the root must be on a bpf filesystem. The default root
//! lives under `/sys/fs/bpf`; when nothing is mounted there and this process
//! runs in the node's initial mount namespace (as runtimes exec plugins), it
//! mounts bpffs there, as systemd would. Inside a private mount namespace
//! (e.g. `ip netns exec`) a mount would vanish with the namespace and take
//! every pin with it, so there it fails instead: configure `bpfPinRoot`.

use std::fs::{self, DirBuilder, File};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::Flock;

use murmuration_common::map_names;

use super::error::DatapathError;
use super::sys;

/// Every map of the object; each is pinned as `<pin_dir>/<NAME>`.
pub const MAPS: [&str; 10] = [
    map_names::ATTACH,
    map_names::VLAN_MEMBERS,
    map_names::POD_CFG,
    map_names::NODE_CFG,
    map_names::COUNTERS,
    map_names::LATENCY,
    map_names::PORT_DEVS,
    map_names::SETTINGS,
    map_names::POD_IPS,
    map_names::RATE,
];

/// Where bpffs is conventionally mounted.
pub const BPFFS_MOUNT: &str = "/sys/fs/bpf";

/// A locked `<pin_root>/<uplink>` directory; the lock is held until drop.
#[derive(Debug)]
pub struct PinDir {
    root: PathBuf,
    path: PathBuf,
    _lock: Flock<File>,
}

impl PinDir {
    /// Creates (if `create`) and locks the uplink's pin directory. `Ok(None)`
    /// when it does not exist and `create` is false.
    pub fn open(root: &Path, uplink: &str, create: bool) -> Result<Option<Self>, DatapathError> {
        if uplink.is_empty() || uplink.contains('/') || uplink.starts_with('.') {
            return Err(DatapathError::InvalidPort { reason: "bad uplink name" });
        }
        if create {
            ensure_root(root)?;
        } else if root.exists() && !sys::is_bpffs(root) {
            // Nothing of ours can live there, and nothing there may be removed.
            return Err(DatapathError::NotBpffs { path: root.to_owned() });
        }
        let path = root.join(uplink);
        for _ in 0..5 {
            if create {
                make_dir(&path)?;
            }
            let file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if !create && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(DatapathError::io("opening", &path)(e)),
            };
            let lock = sys::lock_exclusive(file, &path)?;
            // The last DEL may have removed the directory while we waited.
            if sys::same_inode(&lock, &path) {
                return Ok(Some(Self { root: root.to_owned(), path, _lock: lock }));
            }
            if !create {
                return Ok(None);
            }
        }
        Err(DatapathError::Unstable { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Names of the pins in the directory.
    pub fn entries(&self) -> Result<Vec<String>, DatapathError> {
        let rd = fs::read_dir(&self.path).map_err(DatapathError::io("listing", &self.path))?;
        let mut names: Vec<String> = rd
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Unpins what is positively ours (the object's maps, `prog_*` and
    /// `link_*` pins, on bpffs) and removes the directory when that empties
    /// it (and the root when empty). Anything else stays, and so does the
    /// directory.
    pub fn remove(self) -> Result<(), DatapathError> {
        if !sys::is_bpffs(&self.path) {
            return Err(DatapathError::NotBpffs { path: self.path.clone() });
        }
        let (ours, foreign): (Vec<String>, Vec<String>) =
            self.entries()?.into_iter().partition(|n| is_our_pin(n));
        for name in ours {
            let p = self.join(&name);
            match fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(DatapathError::io("unpinning", p)(e));
                }
                _ => {}
            }
            crate::fault::point(crate::fault::DEL_UNPINNING);
        }
        if !foreign.is_empty() {
            tracing::warn!(dir = %self.path.display(), ?foreign, "keeping a pin directory with entries that are not ours");
            return Ok(());
        }
        fs::remove_dir(&self.path).map_err(DatapathError::io("removing", &self.path))?;
        // Another uplink may still use the root: "not empty" is fine.
        let _ = fs::remove_dir(&self.root);
        Ok(())
    }
}

/// Names the fast path pins under an uplink's directory.
fn is_our_pin(name: &str) -> bool {
    MAPS.contains(&name) || name.starts_with("prog_") || name.starts_with("link_")
}

fn make_dir(path: &Path) -> Result<(), DatapathError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(DatapathError::io("creating", path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o700))
        .map_err(DatapathError::io("chmod 0700", path))
}

/// Makes sure `root` is (or can be created) on bpffs; see the module docs.
fn ensure_root(root: &Path) -> Result<(), DatapathError> {
    let base = Path::new(BPFFS_MOUNT);
    if root.starts_with(base) && base.is_dir() && !sys::is_bpffs(base) {
        if !sys::in_initial_mount_ns() {
            return Err(DatapathError::NotBpffs { path: base.to_owned() });
        }
        sys::mount_bpffs(base)?;
        tracing::info!(path = %base.display(), "mounted bpffs");
    }
    let existing = root.ancestors().find(|p| p.exists()).unwrap_or(root);
    if !sys::is_bpffs(existing) {
        return Err(DatapathError::NotBpffs { path: root.to_owned() });
    }
    make_dir(root)
}

//! Attachment state under `dataDir`: one record per (containerID, ifname).
//!
//! Layout (all 0700 directories, 0600 files):
//! - `attachments/<containerID>@<ifname>.json`: what DEL, CHECK and GC need.
//!   `@` cannot occur in a container ID, so the name is unambiguous.
//! - `locks/<containerID>@<ifname>.lock`: per-attachment `flock`, so different
//!   attachments never wait for each other.
//! - `store.lock`: shared by ADD/DEL/CHECK, exclusive for GC and the daemon's
//!   cleanup, which walk every record.
//!
//! Every lock is waited for at most the store's lock timeout
//! ([`Store::with_lock_timeout`], default [`lock::DEFAULT_LOCK_TIMEOUT`]);
//! then [`StateError::LockTimeout`] names the lock and its holders.
//!
//! Durability: records are replaced by write + rename, so a crashed plugin
//! never leaves a half-written record. They are not fsynced: every record
//! describes kernel objects (namespaces, veths, VF settings) that do not
//! survive a power loss either, and a record lost or truncated by one is
//! handled like a missing record (DEL falls back to the attachment's
//! deterministic names and the runtime's config; GC and the daemon drop
//! unreadable records). Skipping fsync takes about 1 ms off every ADD here.

#[cfg(test)]
mod fixture;
pub mod lock;
mod record;
#[cfg(test)]
pub(crate) use fixture::fixture;

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::Flock;

pub use lock::{DEFAULT_LOCK_TIMEOUT, LockTimeout};

pub use record::{DatapathRecord, NetdevState, PodRef, Record, VfRecord, current_boot_id};

use crate::cni::env::AttachmentId;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state I/O on {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("corrupt state record {path}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    LockTimeout(LockTimeout),
}

impl StateError {
    /// A lock was not free within the bound: a caller may try again later.
    pub fn is_lock_timeout(&self) -> bool {
        matches!(self, Self::LockTimeout(_))
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StateError + '_ {
    move |source| StateError::Io { path: path.to_owned(), source }
}

/// Replaces `path` with `bytes` atomically (temp file with mode 0600, then
/// rename): readers see the old or the new content, never a mix.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut f =
        OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    let written = f.write_all(bytes).and_then(|()| fs::rename(&tmp, path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// A held `flock`; released on drop.
#[derive(Debug)]
pub struct Lock(#[allow(dead_code)] Flock<File>);

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    lock_timeout: Duration,
}

impl Store {
    pub fn new(data_dir: &Path) -> Self {
        Self { root: data_dir.to_owned(), lock_timeout: DEFAULT_LOCK_TIMEOUT }
    }

    /// Waits at most `timeout` for each lock.
    #[must_use]
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn key(id: &AttachmentId) -> String {
        format!("{}@{}", id.container_id, id.ifname)
    }

    fn record_path(&self, id: &AttachmentId) -> PathBuf {
        self.root.join("attachments").join(format!("{}.json", Self::key(id)))
    }

    /// Runs `f`, creating `dir` (mode 0700) and retrying once if it was missing.
    /// Trying first keeps the common case to one syscall.
    fn in_dir<T>(dir: &Path, f: impl Fn() -> io::Result<T>) -> io::Result<T> {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
                f()
            }
            other => other,
        }
    }

    fn lock_file(&self, path: PathBuf, exclusive: bool) -> Result<Lock, StateError> {
        let dir = path.parent().unwrap_or(&self.root);
        let open =
            || OpenOptions::new().create(true).truncate(false).write(true).mode(0o600).open(&path);
        let f = Self::in_dir(dir, open).map_err(io_err(&path))?;
        lock::flock_bounded(f, &path, exclusive, self.lock_timeout).map(Lock).map_err(|e| match e {
            lock::FlockError::Timeout(t) => StateError::LockTimeout(t),
            lock::FlockError::Os { source, .. } => StateError::Io { path, source: source.into() },
        })
    }

    /// Takes the store lock: shared for single-attachment verbs, exclusive for GC.
    pub fn lock_store(&self, exclusive: bool) -> Result<Lock, StateError> {
        self.lock_file(self.root.join("store.lock"), exclusive)
    }

    /// Serializes every verb on one attachment.
    pub fn lock_attachment(&self, id: &AttachmentId) -> Result<Lock, StateError> {
        self.lock_file(self.lock_path(id), true)
    }

    /// [`Store::lock_attachment`] without waiting: `None` while another
    /// process holds it. For a caller that already holds locks the holder
    /// may be waiting for (an SR-IOV take-over holds the device lock).
    pub fn try_lock_attachment(&self, id: &AttachmentId) -> Result<Option<Lock>, StateError> {
        match self.clone().with_lock_timeout(Duration::ZERO).lock_attachment(id) {
            Ok(lock) => Ok(Some(lock)),
            Err(StateError::LockTimeout(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Serializes every change to one device (an SR-IOV VF, by PCI address),
    /// whichever attachment makes it.
    pub fn lock_device(&self, pci: &str) -> Result<Lock, StateError> {
        self.lock_file(self.root.join("locks").join(format!("dev-{pci}.lock")), true)
    }

    pub fn load(&self, id: &AttachmentId) -> Result<Option<Record>, StateError> {
        let path = self.record_path(id);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| StateError::Corrupt { path, source }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    pub fn save(&self, rec: &Record) -> Result<(), StateError> {
        let path = self.record_path(&rec.id());
        let bytes = serde_json::to_vec_pretty(rec)
            .map_err(|source| StateError::Corrupt { path: path.clone(), source })?;
        let dir = path.parent().unwrap_or(&self.root);
        Self::in_dir(dir, || atomic_write(&path, &bytes)).map_err(io_err(&path))
    }

    /// Removes the record; already gone is fine. The lock file stays: removing
    /// it while another process waits on it would let two processes "hold"
    /// the lock on different inodes. [`Store::sweep_locks`] removes it later.
    pub fn remove(&self, id: &AttachmentId) -> Result<(), StateError> {
        let path = self.record_path(id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Removes lock files of attachments that have no record. Only safe under
    /// the exclusive store lock (GC, daemon cleanup): every other verb holds
    /// the store lock shared before it takes an attachment lock.
    pub fn sweep_locks(&self, _exclusive: &Lock) {
        let Ok(entries) = fs::read_dir(self.root.join("locks")) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(key) = name.to_str().and_then(|n| n.strip_suffix(".lock")) else { continue };
            if !self.root.join("attachments").join(format!("{key}.json")).exists() {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// Removes records that cannot be parsed (e.g. truncated by a power
    /// loss): they cannot be acted on, and a DEL of their attachment works
    /// without them. Exclusive store lock only, like [`Store::sweep_locks`].
    pub fn drop_unreadable(&self, errors: &[StateError], _exclusive: &Lock) {
        for e in errors {
            if let StateError::Corrupt { path, .. } = e {
                tracing::warn!(record = %path.display(), "dropping unreadable record");
                let _ = fs::remove_file(path);
            } else {
                tracing::warn!(error = %crate::cni::error::chain(e), "cannot read state");
            }
        }
    }

    fn lock_path(&self, id: &AttachmentId) -> PathBuf {
        self.root.join("locks").join(format!("{}.lock", Self::key(id)))
    }

    /// Every record, with the ones that could not be read reported separately.
    pub fn list(&self) -> (Vec<Record>, Vec<StateError>) {
        let dir = self.root.join("attachments");
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return (Vec::new(), Vec::new()),
            Err(e) => return (Vec::new(), vec![io_err(&dir)(e)]),
        };
        let mut records = Vec::new();
        let mut errors = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            match fs::read(&path).map_err(io_err(&path)).and_then(|b| {
                serde_json::from_slice(&b).map_err(|source| StateError::Corrupt { path, source })
            }) {
                Ok(r) => records.push(r),
                Err(e) => errors.push(e),
            }
        }
        records.sort_by_key(Record::id);
        (records, errors)
    }
}

#[cfg(test)]
mod tests;

//! Network namespaces: opened by path, entered only on a short-lived thread.
//!
//! A netlink socket opened inside a namespace stays bound to it, so the usual
//! pattern is `ns.run(Netlink::open)`: the thread enters, opens the socket and
//! exits, and the caller keeps using the socket from its own thread. The
//! calling thread never changes namespace.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::sched::{CloneFlags, setns};

/// Namespace workers only enter the namespace and run a small closure.
const WORKER_STACK: usize = 256 * 1024;

/// An open handle on a network namespace.
#[derive(Debug)]
pub struct NetNs {
    file: File,
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum NetNsError {
    #[error("cannot open network namespace {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot enter network namespace {path}")]
    Enter {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not a namespace file (nsfs)")]
    NotNamespace { path: PathBuf },
    #[error("namespace worker thread panicked")]
    Panicked,
}

impl NetNsError {
    /// The namespace path does not exist (any more).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Open { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }

    /// The path exists but names no namespace (a runtime's or a caller's mistake).
    pub fn is_not_namespace(&self) -> bool {
        matches!(self, Self::NotNamespace { .. })
    }
}

impl NetNs {
    /// Opens `path`, which must be a namespace file (`/proc/<pid>/ns/net`,
    /// a bind mount of one under `/var/run/netns`...). Opened non-blocking,
    /// so a FIFO or a device at that path is refused without waiting.
    pub fn open(path: &Path) -> Result<Self, NetNsError> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
            .map_err(|source| NetNsError::Open { path: path.to_owned(), source })?;
        let nsfs = nix::sys::statfs::fstatfs(&file)
            .is_ok_and(|st| st.filesystem_type() == nix::sys::statfs::NSFS_MAGIC);
        if !nsfs {
            return Err(NetNsError::NotNamespace { path: path.to_owned() });
        }
        Ok(Self { file, path: path.to_owned() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn enter_error(&self, source: io::Error) -> NetNsError {
        NetNsError::Enter { path: self.path.clone(), source }
    }

    /// Runs `f` on a new thread that has entered this namespace.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, NetNsError> {
        std::thread::scope(|s| {
            let worker = std::thread::Builder::new()
                .stack_size(WORKER_STACK)
                .spawn_scoped(s, || {
                    setns(self.file.as_fd(), CloneFlags::CLONE_NEWNET)
                        .map_err(|e| self.enter_error(io::Error::from(e)))?;
                    Ok(f())
                })
                .map_err(|e| self.enter_error(e))?;
            worker.join().map_err(|_| NetNsError::Panicked)?
        })
    }

    /// Starts `f` on a new thread that has entered this namespace, so the
    /// caller can do other work meanwhile (entering a namespace and starting a
    /// thread cost a few hundred microseconds); [`Pending::join`] collects it.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Pending<T>, NetNsError> {
        let file = self.file.try_clone().map_err(|e| self.enter_error(e))?;
        let path = self.path.clone();
        let handle = std::thread::Builder::new()
            .stack_size(WORKER_STACK)
            .spawn(move || {
                setns(file.as_fd(), CloneFlags::CLONE_NEWNET)
                    .map_err(|e| NetNsError::Enter { path, source: io::Error::from(e) })?;
                Ok(f())
            })
            .map_err(|e| self.enter_error(e))?;
        Ok(Pending(handle))
    }
}

/// Work running on a thread inside a namespace; see [`NetNs::spawn`].
#[derive(Debug)]
pub struct Pending<T>(std::thread::JoinHandle<Result<T, NetNsError>>);

impl<T> Pending<T> {
    pub fn join(self) -> Result<T, NetNsError> {
        self.0.join().map_err(|_| NetNsError::Panicked)?
    }
}

impl AsFd for NetNs {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

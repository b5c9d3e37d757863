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
    #[error("namespace worker thread panicked")]
    Panicked,
}

impl NetNsError {
    /// The namespace path does not exist (any more).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Open { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

impl NetNs {
    pub fn open(path: &Path) -> Result<Self, NetNsError> {
        let file = File::open(path)
            .map_err(|source| NetNsError::Open { path: path.to_owned(), source })?;
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

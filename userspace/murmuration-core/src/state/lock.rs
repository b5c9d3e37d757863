//! Bounded `flock` waits.
//!
//! Every lock the plugin and the daemon take (`store.lock`, attachment and
//! device locks, a fast-path pin directory) is waited for with a deadline:
//! a holder that hangs must not hang every later caller with it. The lock is
//! tried without blocking, then again with a short, growing backoff until
//! the deadline. On timeout the holders' PIDs are read from `/proc/locks`
//! (one read, after the wait) so the error can name them.

use std::fmt::Write as _;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// How long a lock is waited for when the configuration does not say.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(90);

const FIRST_BACKOFF: Duration = Duration::from_millis(1);
const MAX_BACKOFF: Duration = Duration::from_millis(50);

/// The lock was not free within the bound.
#[derive(Debug, thiserror::Error)]
#[error("lock {path} not free within {waited:?}{}", holders_text(holders))]
pub struct LockTimeout {
    pub path: PathBuf,
    pub waited: Duration,
    /// PIDs holding the lock when the wait gave up (as `/proc/locks` shows them).
    pub holders: Vec<u32>,
}

fn holders_text(holders: &[u32]) -> String {
    let mut s = String::new();
    for (i, pid) in holders.iter().enumerate() {
        let sep = if i == 0 { "; held by pid " } else { ", " };
        let _ = write!(s, "{sep}{pid}");
    }
    s
}

#[derive(Debug, thiserror::Error)]
pub enum FlockError {
    #[error(transparent)]
    Timeout(#[from] LockTimeout),
    #[error("flock {path}")]
    Os {
        path: PathBuf,
        #[source]
        source: Errno,
    },
}

/// Locks `file` (opened from `path`), waiting at most `timeout`.
pub fn flock_bounded(
    file: File,
    path: &Path,
    exclusive: bool,
    timeout: Duration,
) -> Result<Flock<File>, FlockError> {
    let arg =
        if exclusive { FlockArg::LockExclusiveNonblock } else { FlockArg::LockSharedNonblock };
    let start = Instant::now();
    let mut backoff = FIRST_BACKOFF;
    let mut file = file;
    loop {
        match Flock::lock(file, arg) {
            Ok(lock) => return Ok(lock),
            Err((f, Errno::EWOULDBLOCK | Errno::EINTR)) => file = f,
            Err((_, source)) => return Err(FlockError::Os { path: path.to_owned(), source }),
        }
        let waited = start.elapsed();
        if waited >= timeout {
            let holders = file.metadata().map(|m| holders_of(m.dev(), m.ino())).unwrap_or_default();
            return Err(LockTimeout { path: path.to_owned(), waited, holders }.into());
        }
        std::thread::sleep(backoff.min(timeout - waited));
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// PIDs that hold (not wait for) a lock on the file `dev`/`ino`.
fn holders_of(dev: u64, ino: u64) -> Vec<u32> {
    std::fs::read_to_string("/proc/locks").map(|t| parse_holders(&t, dev, ino)).unwrap_or_default()
}

/// glibc's `major()`/`minor()` of a `dev_t`.
fn split_dev(dev: u64) -> (u64, u64) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major, minor)
}

/// Parses `/proc/locks`: `1: FLOCK ADVISORY WRITE <pid> <maj>:<min>:<ino> 0 EOF`
/// (major and minor in hex); waiters' lines carry `->` and are skipped.
pub(crate) fn parse_holders(text: &str, dev: u64, ino: u64) -> Vec<u32> {
    let (major, minor) = split_dev(dev);
    let mut pids: Vec<u32> = text
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.get(1) == Some(&"->") {
                return None;
            }
            let mut id = f.get(5)?.split(':');
            let maj = u64::from_str_radix(id.next()?, 16).ok()?;
            let min = u64::from_str_radix(id.next()?, 16).ok()?;
            let i: u64 = id.next()?.parse().ok()?;
            ((maj, min, i) == (major, minor, ino)).then(|| f.get(4)?.parse().ok())?
        })
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_are_parsed_and_waiters_skipped() {
        // dev 0:42 (0x2a), inode 1234.
        let dev = 42;
        let text = "1: FLOCK  ADVISORY  WRITE 311 00:2a:1234 0 EOF\n\
                    1: -> FLOCK  ADVISORY  WRITE 312 00:2a:1234 0 EOF\n\
                    2: FLOCK  ADVISORY  READ 400 00:2a:1234 0 EOF\n\
                    2: FLOCK  ADVISORY  READ 401 00:2a:1234 0 EOF\n\
                    3: FLOCK  ADVISORY  WRITE 99 00:2b:1234 0 EOF\n\
                    4: POSIX  ADVISORY  WRITE 98 fd:01:1234 0 EOF\n\
                    garbage\n";
        assert_eq!(parse_holders(text, dev, 1234), vec![311, 400, 401]);
        assert_eq!(parse_holders(text, dev, 1235), Vec::<u32>::new());
        // A large device number (major 259, minor 3) in hex.
        let nvme = (259 << 8) | 3;
        assert_eq!(parse_holders("1: FLOCK ADVISORY WRITE 7 103:03:55 0 EOF", nvme, 55), vec![7]);
    }

    #[test]
    fn a_held_lock_times_out_naming_its_holder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.lock");
        let _held = Flock::lock(File::create(&path).expect("create"), FlockArg::LockExclusive)
            .expect("lock");
        let other = File::open(&path).expect("open");
        match flock_bounded(other, &path, false, Duration::from_millis(30)) {
            Err(FlockError::Timeout(t)) => {
                assert_eq!(t.holders, vec![std::process::id()], "{t}");
                assert!(t.to_string().contains("x.lock"), "{t}");
                assert!(t.to_string().contains(&format!("held by pid {}", std::process::id())));
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
    }

    #[test]
    fn a_free_lock_is_taken_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("y.lock");
        let f = File::create(&path).expect("create");
        assert!(flock_bounded(f, &path, true, Duration::ZERO).is_ok());
    }
}

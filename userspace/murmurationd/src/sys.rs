//! The daemon's own unsafe code (the core's `sys` modules hold the rest).

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use netlink_sys::Socket;
use tokio::io::unix::AsyncFd;

/// A netlink socket owned for the lifetime of its `AsyncFd` registration.
pub struct NetlinkFd(pub Socket);

impl AsRawFd for NetlinkFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl std::fmt::Debug for NetlinkFd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NetlinkFd({})", self.0.as_raw_fd())
    }
}

/// Registers a non-blocking netlink socket with the tokio reactor.
pub fn register_netlink(sock: Socket) -> io::Result<AsyncFd<NetlinkFd>> {
    // SAFETY: `NetlinkFd` owns the socket, so its fd stays open and refers to
    // the same socket until the `AsyncFd` (and with it the socket) is dropped;
    // `as_raw_fd` always returns that one fd.
    unsafe { AsyncFd::register(NetlinkFd(sock)) }.map_err(io::Error::from)
}

/// One glibc malloc arena for the whole process. glibc gives every thread
/// that allocates concurrently an arena of its own and keeps what is freed
/// in each; the exposition of a busy node is several MB per scrape, built on
/// whichever runtime thread serves it, so each arena ended up holding a copy
/// (31 MB RSS with 256 attachments against 21 MB with one arena, and no
/// slower scrapes: `murmuration-bench daemon`). Call before starting threads.
#[cfg(target_env = "gnu")]
pub fn single_malloc_arena() {
    // SAFETY: mallopt only sets an allocator parameter; M_ARENA_MAX with a
    // positive value is always valid, and no other thread exists yet that
    // could be inside malloc.
    let _ = unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
}

/// musl's allocator has no per-thread arenas.
#[cfg(not(target_env = "gnu"))]
pub fn single_malloc_arena() {}

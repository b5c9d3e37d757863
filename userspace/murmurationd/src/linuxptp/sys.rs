//! The supervisor's unsafe code: what a child does between fork and exec.

use std::os::fd::{AsRawFd, OwnedFd};

/// In the child before exec: ask for SIGTERM when the daemon's thread that
/// started it dies (a crashed daemon leaves no ptp4l behind holding the
/// socket its successor needs), and enter `netns` when given.
pub fn prepare_child(cmd: &mut tokio::process::Command, netns: Option<OwnedFd>) {
    let pre = move || -> std::io::Result<()> {
        // SAFETY: prctl(PR_SET_PDEATHSIG) and setns are plain system calls,
        // async-signal-safe, and use no memory of the parent; the namespace
        // fd is owned by this closure and open until exec.
        unsafe {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(fd) = &netns
                && libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    };
    // SAFETY: between fork and exec the closure makes only the
    // async-signal-safe calls above, takes no locks and allocates nothing
    // (`last_os_error` is a plain errno value).
    unsafe {
        cmd.pre_exec(pre);
    }
}

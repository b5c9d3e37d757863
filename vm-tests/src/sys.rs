//! The one raw system call the process helpers need.

use std::io;

/// Sends SIGTERM to `pid`.
pub fn terminate(pid: u32) -> io::Result<()> {
    signal(pid, libc::SIGTERM)
}

/// Sends SIGHUP to `pid`.
pub fn hangup(pid: u32) -> io::Result<()> {
    signal(pid, libc::SIGHUP)
}

fn signal(pid: u32, sig: libc::c_int) -> io::Result<()> {
    let pid =
        libc::pid_t::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: kill(2) takes no pointers; callers pass the PID of a child they
    // have not reaped, so it cannot name an unrelated process.
    if unsafe { libc::kill(pid, sig) } == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

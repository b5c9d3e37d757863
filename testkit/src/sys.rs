//! The helpers' raw system calls: entering a network namespace, signals by
//! PID, and mounting a bpffs.

use std::ffi::CString;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Moves the calling thread into the network namespace open as `ns`.
pub fn setns_net(ns: &impl AsRawFd) -> io::Result<()> {
    // SAFETY: setns(2) on an open namespace fd, for the calling thread only;
    // no pointers are passed.
    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Sends `sig` to `pid`.
pub fn signal(pid: u32, sig: libc::c_int) -> io::Result<()> {
    let pid =
        libc::pid_t::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: kill(2) takes no pointers; callers pass the PID of a child they
    // have not reaped, so it cannot name an unrelated process.
    if unsafe { libc::kill(pid, sig) } == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// `mount -t bpf bpf <dir>`.
pub fn mount_bpf(dir: &Path) -> io::Result<()> {
    let target = c_path(dir)?;
    let (source, fstype) = (c"bpf", c"bpf");
    // SAFETY: every pointer is a valid NUL-terminated string that outlives
    // the call; a bpffs takes no mount data.
    let rc = unsafe {
        libc::mount(source.as_ptr(), target.as_ptr(), fstype.as_ptr(), 0, std::ptr::null())
    };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// `umount -l <dir>`: detached now, gone when the last user closes it.
pub fn unmount_lazy(dir: &Path) -> io::Result<()> {
    let target = c_path(dir)?;
    // SAFETY: a valid NUL-terminated path that outlives the call.
    let rc = unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

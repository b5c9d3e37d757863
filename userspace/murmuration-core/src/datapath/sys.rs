//! Every OS call of the datapath that is not a BPF syscall (those go through
//! aya): interface names, bpffs checks and mounts, locks, clocks (safe
//! wrappers from `nix`), and the two ethtool ioctls, the only `unsafe` here.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::fcntl::Flock;
use nix::mount::{MsFlags, mount};
use nix::sys::statfs::{BPF_FS_MAGIC, statfs};
use nix::time::{ClockId, clock_gettime};

use super::error::DatapathError;

pub fn ifindex(name: &str) -> Result<u32, DatapathError> {
    nix::net::if_::if_nametoindex(name)
        .map_err(|_| DatapathError::NoInterface { name: name.to_owned() })
}

/// The name of interface `index` in this network namespace, if it exists.
pub fn ifname(index: u32) -> Option<String> {
    // nix 0.30 misses the NULL return of if_indextoname(3) (its sentinel for
    // pointers is MAP_FAILED) and hands back the untouched, empty buffer.
    let name = nix::net::if_::if_indextoname(index).ok()?;
    Some(name.to_string_lossy().into_owned()).filter(|n| !n.is_empty())
}

pub fn is_bpffs(path: &Path) -> bool {
    statfs(path).is_ok_and(|st| st.filesystem_type() == BPF_FS_MAGIC)
}

/// Whether this process shares PID 1's mount namespace (a mount made here is
/// seen by the whole node, not just by a transient `ip netns exec` namespace).
pub fn in_initial_mount_ns() -> bool {
    let ino = |p: &str| std::fs::metadata(p).map(|m| (m.dev(), m.ino())).ok();
    matches!((ino("/proc/self/ns/mnt"), ino("/proc/1/ns/mnt")), (Some(a), Some(b)) if a == b)
}

pub fn mount_bpffs(target: &Path) -> Result<(), DatapathError> {
    mount(Some("bpf"), target, Some("bpf"), MsFlags::empty(), Some("mode=0700"))
        .map_err(DatapathError::os("mounting bpffs"))
}

/// Waits (bounded, see `state::lock`) for an exclusive lock on `file`
/// opened from `path`; released on drop.
pub fn lock_exclusive(file: File, path: &Path) -> Result<Flock<File>, DatapathError> {
    use crate::state::lock::{DEFAULT_LOCK_TIMEOUT, FlockError, flock_bounded};
    flock_bounded(file, path, true, DEFAULT_LOCK_TIMEOUT).map_err(|e| match e {
        FlockError::Timeout(t) => DatapathError::LockTimeout(t),
        FlockError::Os { source, .. } => DatapathError::os("flock")(source),
    })
}

/// A random, non-zero port cookie from the kernel's CSPRNG.
pub fn random_cookie() -> Result<u64, DatapathError> {
    use std::io::Read;
    let path = "/dev/urandom";
    let mut bytes = [0u8; 8];
    loop {
        File::open(path)
            .and_then(|mut f| f.read_exact(&mut bytes))
            .map_err(DatapathError::io("reading", path))?;
        let cookie = u64::from_ne_bytes(bytes);
        if cookie != 0 {
            return Ok(cookie);
        }
    }
}

/// Whether `path` still names the object open as `file`.
pub fn same_inode(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

fn clock_ns(clock: ClockId) -> Result<i128, DatapathError> {
    let ts = clock_gettime(clock).map_err(DatapathError::os("clock_gettime"))?;
    Ok(i128::from(ts.tv_sec()) * 1_000_000_000 + i128::from(ts.tv_nsec()))
}

/// CLOCK_TAI - CLOCK_REALTIME in whole seconds, as ns (the kernel keeps them
/// an integral number of seconds apart: 0, or 37 s once ptp4l/chrony set it).
pub fn tai_offset_ns() -> Result<u64, DatapathError> {
    let diff = clock_ns(ClockId::CLOCK_TAI)? - clock_ns(ClockId::CLOCK_REALTIME)?;
    let secs = (diff + 500_000_000).div_euclid(1_000_000_000);
    Ok(u64::try_from(secs).unwrap_or(0) * 1_000_000_000)
}

/// `SIOCETHTOOL` (linux/sockios.h; not exported by the libc crate).
const SIOCETHTOOL: libc::Ioctl = 0x8946;
/// linux/ethtool.h commands and flags (stable UAPI).
const ETHTOOL_GFLAGS: u32 = 0x25;
const ETHTOOL_SGRO: u32 = 0x2c;
const ETH_FLAG_RXVLAN: u32 = 1 << 8;

/// `struct ethtool_value`.
#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

/// One `struct ethtool_value` ioctl on `iface` (in this thread's netns);
/// returns the value's `data` afterwards.
fn ethtool_value(iface: &str, cmd: u32, data: u32) -> Result<u32, DatapathError> {
    let name = iface.as_bytes();
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(DatapathError::NoInterface { name: iface.to_owned() });
    }
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(DatapathError::os("ethtool socket")(nix::Error::last()));
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut value = EthtoolValue { cmd, data };
    // SAFETY: `ifreq` is plain data (a name array and a union of integers
    // and pointers); all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, &b) in ifr.ifr_name.iter_mut().zip(name) {
        *dst = b as libc::c_char;
    }
    ifr.ifr_ifru.ifru_data = (&raw mut value).cast();
    // SAFETY: SIOCETHTOOL reads the NUL-terminated name and the
    // `ethtool_value` that `ifru_data` points to (both live on this stack
    // frame for the duration of the call) and writes back into the latter.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCETHTOOL, &raw mut ifr) };
    if rc < 0 {
        return Err(DatapathError::os("ethtool ioctl")(nix::Error::last()));
    }
    Ok(value.data)
}

/// Whether `iface` strips received VLAN tags into metadata (rx-vlan-offload),
/// where an XDP program cannot see them.
pub fn rx_vlan_offload(iface: &str) -> Result<bool, DatapathError> {
    Ok(ethtool_value(iface, ETHTOOL_GFLAGS, 0)? & ETH_FLAG_RXVLAN != 0)
}

/// Turns GRO on for `iface` (in this thread's netns). On a veth end this
/// enables its NAPI receive path, which XDP redirects into the pair need.
pub fn enable_gro(iface: &str) -> Result<(), DatapathError> {
    ethtool_value(iface, ETHTOOL_SGRO, 1).map(drop)
}

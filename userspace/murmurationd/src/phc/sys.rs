//! Every ioctl of the PHC monitor: `ETHTOOL_GET_TS_INFO`, `SIOCSHWTSTAMP`
//! and the `PTP_SYS_OFFSET*` family on `/dev/ptpN`.

use std::fs::File;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::offset::Sample;

/// `ETHTOOL_GET_TS_INFO` (linux/ethtool.h).
const ETHTOOL_GET_TS_INFO: u32 = 0x41;

/// `struct ethtool_ts_info`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct EthtoolTsInfo {
    cmd: u32,
    so_timestamping: u32,
    phc_index: i32,
    tx_types: u32,
    tx_reserved: [u32; 3],
    rx_filters: u32,
    rx_reserved: [u32; 3],
}

/// `struct ifreq` with the `ifr_data` member of the union.
#[repr(C)]
struct IfreqData {
    name: [libc::c_char; libc::IFNAMSIZ],
    data: *mut libc::c_void,
    _pad: [u8; 16],
}

/// What `ETHTOOL_GET_TS_INFO` reports for an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TsInfo {
    /// `SOF_TIMESTAMPING_*` capability bits.
    pub so_timestamping: u32,
    /// `/dev/ptp<N>` of the interface, or -1.
    pub phc_index: i32,
    /// Bit `HWTSTAMP_TX_*` set for each supported TX type.
    pub tx_types: u32,
    /// Bit `HWTSTAMP_FILTER_*` set for each supported RX filter.
    pub rx_filters: u32,
}

fn dgram_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a freshly opened descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ifreq(ifname: &str, data: *mut libc::c_void) -> io::Result<IfreqData> {
    let bytes = ifname.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    let mut name = [0 as libc::c_char; libc::IFNAMSIZ];
    for (d, s) in name.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    Ok(IfreqData { name, data, _pad: [0; 16] })
}

/// Runs a socket ioctl whose `ifr_data` points at `payload`.
fn if_ioctl<T>(ifname: &str, request: libc::c_ulong, payload: &mut T) -> io::Result<()> {
    let sock = dgram_socket()?;
    let mut req = ifreq(ifname, std::ptr::from_mut(payload).cast())?;
    // SAFETY: `req` is a valid ifreq whose data pointer refers to `payload`,
    // a live, exclusively borrowed value of the type the request expects;
    // the kernel writes at most `size_of::<T>()` bytes to it.
    let rc = unsafe {
        libc::ioctl(sock.as_raw_fd(), request as libc::Ioctl, std::ptr::from_mut(&mut req))
    };
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// `ETHTOOL_GET_TS_INFO` on `ifname` (in this thread's network namespace).
pub fn ts_info(ifname: &str) -> io::Result<TsInfo> {
    let mut info = EthtoolTsInfo { cmd: ETHTOOL_GET_TS_INFO, ..EthtoolTsInfo::default() };
    if_ioctl(ifname, libc::SIOCETHTOOL, &mut info)?;
    Ok(TsInfo {
        so_timestamping: info.so_timestamping,
        phc_index: info.phc_index,
        tx_types: info.tx_types,
        rx_filters: info.rx_filters,
    })
}

/// `SIOCGHWTSTAMP`: the interface's current (tx_type, rx_filter).
pub fn get_hwtstamp(ifname: &str) -> io::Result<(u32, u32)> {
    let mut cfg = libc::hwtstamp_config { flags: 0, tx_type: 0, rx_filter: 0 };
    if_ioctl(ifname, libc::SIOCGHWTSTAMP, &mut cfg)?;
    Ok((cfg.tx_type as u32, cfg.rx_filter as u32))
}

/// `SIOCSHWTSTAMP`: asks for `tx_type` and `rx_filter`; returns what the
/// driver actually set (it may widen the RX filter).
pub fn set_hwtstamp(ifname: &str, tx_type: u32, rx_filter: u32) -> io::Result<(u32, u32)> {
    let mut cfg = libc::hwtstamp_config {
        flags: 0,
        tx_type: tx_type as libc::c_int,
        rx_filter: rx_filter as libc::c_int,
    };
    if_ioctl(ifname, libc::SIOCSHWTSTAMP, &mut cfg)?;
    Ok((cfg.tx_type as u32, cfg.rx_filter as u32))
}

fn ptp_ioctl<T>(clock: &File, request: libc::Ioctl, arg: &mut T) -> io::Result<()> {
    // SAFETY: `clock` is an open PTP character device and `arg` a live,
    // exclusively borrowed struct of the type `request` encodes (its size is
    // part of the request number, so the kernel copies exactly that much).
    let rc = unsafe { libc::ioctl(clock.as_raw_fd(), request, std::ptr::from_mut(arg)) };
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

fn ns(t: &libc::ptp_clock_time) -> i128 {
    i128::from(t.sec) * 1_000_000_000 + i128::from(t.nsec)
}

/// `PTP_SYS_OFFSET_PRECISE`: one cross-timestamp taken by the hardware
/// (uncertainty 0), when the driver supports it.
pub fn offset_precise(clock: &File) -> io::Result<Sample> {
    // SAFETY: an all-zero ptp_sys_offset_precise is a valid value (plain integers).
    let mut p: libc::ptp_sys_offset_precise = unsafe { std::mem::zeroed() };
    ptp_ioctl(clock, libc::PTP_SYS_OFFSET_PRECISE, &mut p)?;
    let sys = ns(&p.sys_realtime);
    Ok(Sample { sys_before_ns: sys, phc_ns: ns(&p.device), sys_after_ns: sys })
}

/// `PTP_SYS_OFFSET_EXTENDED`: `n` (sys, phc, sys) triples against CLOCK_REALTIME.
pub fn offset_extended(clock: &File, n: u32) -> io::Result<Vec<Sample>> {
    // SAFETY: an all-zero ptp_sys_offset_extended is a valid value.
    let mut x: libc::ptp_sys_offset_extended = unsafe { std::mem::zeroed() };
    x.n_samples = n.clamp(1, libc::PTP_MAX_SAMPLES);
    x.clockid = libc::CLOCK_REALTIME;
    ptp_ioctl(clock, libc::PTP_SYS_OFFSET_EXTENDED, &mut x)?;
    let samples = x.ts.iter().take(x.n_samples as usize);
    Ok(samples
        .map(|t| Sample { sys_before_ns: ns(&t[0]), phc_ns: ns(&t[1]), sys_after_ns: ns(&t[2]) })
        .collect())
}

/// `PTP_SYS_OFFSET` (every driver): `ts` alternates sys, phc, sys, ... sys.
pub fn offset_basic(clock: &File, n: u32) -> io::Result<Vec<Sample>> {
    // SAFETY: an all-zero ptp_sys_offset is a valid value.
    let mut x: libc::ptp_sys_offset = unsafe { std::mem::zeroed() };
    x.n_samples = n.clamp(1, libc::PTP_MAX_SAMPLES);
    ptp_ioctl(clock, libc::PTP_SYS_OFFSET, &mut x)?;
    let ts = &x.ts[..=2 * x.n_samples as usize];
    Ok(ts
        .windows(3)
        .step_by(2)
        .map(|w| Sample { sys_before_ns: ns(&w[0]), phc_ns: ns(&w[1]), sys_after_ns: ns(&w[2]) })
        .collect())
}

const _: () = assert!(size_of::<EthtoolTsInfo>() == 44);
const _: () = assert!(size_of::<IfreqData>() == 40);

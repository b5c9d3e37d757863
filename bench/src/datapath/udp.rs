//! UDP traffic for the datapath benchmark: an echo server, a request/response
//! RTT client with kernel receive timestamps, and a batched packet blaster
//! (`sendmmsg`; the io_uring one is in `uring`).
//!
//! RTT is measured from a `CLOCK_REALTIME` read just before `send` to the
//! kernel's software receive timestamp of the reply (SO_TIMESTAMPING), so the
//! client's own wake-up latency is not part of the number.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::socket::{
    MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg, setsockopt, sockopt,
};
use nix::sys::time::TimeSpec;
use nix::time::{ClockId, clock_gettime};

/// Pins the calling thread to `cpu`. RTT client and server share a CPU so the
/// number is the path's cost, not a cross-CPU wake-up (tens of microseconds
/// on these VMs, whose idle vCPUs do not poll).
pub fn pin(cpu: usize) -> anyhow::Result<()> {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu)?;
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)?;
    Ok(())
}

/// Runs until `stop`: answers every datagram with itself.
pub fn echo_server(sock: &UdpSocket, stop: &AtomicBool) -> anyhow::Result<()> {
    pin(0)?;
    sock.set_read_timeout(Some(Duration::from_millis(50)))?;
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        match sock.recv_from(&mut buf) {
            Ok((n, peer)) => {
                sock.send_to(&buf[..n], peer)?;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn ts_to_ns(ts: TimeSpec) -> i128 {
    i128::from(ts.tv_sec()) * 1_000_000_000 + i128::from(ts.tv_nsec())
}

/// One request/response: the RTT seen by the application, and the RTT to the
/// reply's kernel receive timestamp when the kernel supplied one (it does not
/// for replies that were forwarded by a router namespace: forwarding turns
/// the skb's timestamp into a delivery time, which is not reported).
fn one_rtt(
    sock: &UdpSocket,
    payload: &[u8],
    buf: &mut [u8],
) -> anyhow::Result<(Duration, Option<Duration>)> {
    let sent = ts_to_ns(clock_gettime(ClockId::CLOCK_REALTIME)?);
    sock.send(payload)?;
    let msg = murmuration_core::ptp::sys::recvmsg(sock.as_fd(), buf, 0)?;
    let done = ts_to_ns(clock_gettime(ClockId::CLOCK_REALTIME)?);
    let rx = msg.control.stamps.software;
    let ns = |t: i128| Duration::from_nanos(u64::try_from(t - sent).unwrap_or(0));
    Ok((ns(done), rx.map(ns)))
}

/// RTT samples of a run: application-level, and kernel-timestamped where available.
#[derive(Debug, Default)]
pub struct RttSamples {
    pub app: Vec<Duration>,
    pub kernel: Vec<Duration>,
}

/// `n` RTT samples after `warmup` unmeasured ones.
pub fn rtt_client(server: SocketAddr, warmup: usize, n: usize) -> anyhow::Result<RttSamples> {
    pin(0)?;
    let sock = UdpSocket::bind("0.0.0.0:0")?;
    sock.connect(server)?;
    sock.set_read_timeout(Some(Duration::from_secs(2)))?;
    let flags = nix::sys::socket::TimestampingFlag::SOF_TIMESTAMPING_RX_SOFTWARE
        | nix::sys::socket::TimestampingFlag::SOF_TIMESTAMPING_SOFTWARE;
    setsockopt(&sock, sockopt::Timestamping, &flags)?;
    let payload = [0x5au8; 64];
    let mut buf = [0u8; 2048];
    let mut out = RttSamples { app: Vec::with_capacity(n), kernel: Vec::with_capacity(n) };
    for i in 0..warmup + n {
        let (app, kernel) = one_rtt(&sock, &payload, &mut buf)
            .with_context(|| format!("request {i} to {server}"))?;
        if i >= warmup {
            out.app.push(app);
            out.kernel.extend(kernel);
        }
    }
    Ok(out)
}

/// Counts datagrams until `stop`, in batches.
pub fn sink(sock: &UdpSocket, stop: &AtomicBool, count: &AtomicU64) -> anyhow::Result<()> {
    pin(1)?;
    sock.set_read_timeout(Some(Duration::from_millis(50)))?;
    const BATCH: usize = 64;
    let mut bufs = vec![[0u8; 2048]; BATCH];
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    while !stop.load(Ordering::Relaxed) {
        let mut iovs: Vec<[std::io::IoSliceMut<'_>; 1]> =
            bufs.iter_mut().map(|b| [std::io::IoSliceMut::new(&mut b[..])]).collect();
        match recvmmsg(sock.as_raw_fd(), &mut headers, iovs.iter_mut(), MsgFlags::empty(), None) {
            Ok(msgs) => {
                count.fetch_add(msgs.count() as u64, Ordering::Relaxed);
            }
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// A generator's socket: connected to `dst`, on a thread pinned to CPU 0
/// (the sink has CPU 1).
pub fn connected(dst: SocketAddr) -> anyhow::Result<UdpSocket> {
    pin(0)?;
    let sock = UdpSocket::bind("0.0.0.0:0")?;
    sock.connect(dst)?;
    Ok(sock)
}

/// Sends `size`-byte datagrams to `dst` in batches of 64 with `sendmmsg`
/// for `duration`. Returns how many the kernel accepted.
pub fn blast(dst: SocketAddr, size: usize, duration: Duration) -> anyhow::Result<u64> {
    let sock = connected(dst)?;
    let payload = vec![0xa5u8; size];
    const BATCH: usize = 64;
    let iovs: Vec<[std::io::IoSlice<'_>; 1]> =
        (0..BATCH).map(|_| [std::io::IoSlice::new(&payload)]).collect();
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let addrs: Vec<Option<SockaddrStorage>> = vec![None; BATCH];
    let end = Instant::now() + duration;
    let mut sent = 0u64;
    while Instant::now() < end {
        match sendmmsg(sock.as_raw_fd(), &mut headers, &iovs, &addrs, [], MsgFlags::empty()) {
            Ok(r) => sent += r.count() as u64,
            Err(nix::errno::Errno::ENOBUFS | nix::errno::Errno::EAGAIN) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(sent)
}

/// A stop flag and counter shared between a measuring thread and its owner.
#[derive(Debug, Default)]
pub struct Shared {
    pub stop: AtomicBool,
    pub count: AtomicU64,
}

pub fn shared() -> Arc<Shared> {
    Arc::new(Shared::default())
}

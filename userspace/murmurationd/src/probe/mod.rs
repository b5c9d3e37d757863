//! The latency prober: per `[[prober]]`, timestamped UDP requests to an echo
//! target and the round-trip time from the request's TX timestamp to the
//! reply's RX timestamp (SO_TIMESTAMPING, see [`rtt::rtt`]); per
//! `[[responder]]`, the UDP echo to probe.
//!
//! Sockets are opened inside the configured network namespace on a
//! short-lived thread (`NetNs::run`) and then used from the task; no task
//! ever holds or enters a namespace.

pub mod rtt;
mod sys;

use crate::metrics::label::Lv;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use murmuration_core::netns::{NetNs, NetNsError};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::Shared;
use crate::config::{ProberConfig, ResponderConfig};
use rtt::{Exchange, Source};

/// How long a prober or responder waits before retrying to open its socket.
const RETRY: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    Netns(#[from] NetNsError),
    #[error("cannot open a UDP socket on {addr}")]
    Socket {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("socket worker failed")]
    Worker,
}

/// Opens a UDP socket bound to `bind` inside `netns` (the daemon's own when
/// `None`), on a blocking-pool thread that enters the namespace and leaves.
async fn open_in(
    netns: Option<PathBuf>,
    bind: SocketAddr,
    timestamping: bool,
) -> Result<UdpSocket, ProbeError> {
    let opened = tokio::task::spawn_blocking(move || -> Result<StdUdpSocket, ProbeError> {
        let open = || sys::open(bind, timestamping);
        let r = match netns {
            Some(p) => NetNs::open(&p)?.run(open)?,
            None => open(),
        };
        r.map_err(|source| ProbeError::Socket { addr: bind, source })
    })
    .await
    .map_err(|_| ProbeError::Worker)??;
    UdpSocket::from_std(opened).map_err(|source| ProbeError::Socket { addr: bind, source })
}

/// Opens the socket, retrying every [`RETRY`] (a namespace may appear later);
/// `None` on shutdown.
async fn open_retrying(
    s: &Shared,
    what: &str,
    netns: &Option<PathBuf>,
    bind: SocketAddr,
    timestamping: bool,
    shutdown: &CancellationToken,
) -> Option<UdpSocket> {
    loop {
        match open_in(netns.clone(), bind, timestamping).await {
            Ok(sock) => return Some(sock),
            Err(e) => {
                tracing::warn!(what, error = %crate::chain(&e), "probe socket not opened; retrying");
                s.metrics.task_error("probe");
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return None,
            () = tokio::time::sleep(RETRY) => {}
        }
    }
}

fn wildcard(target: SocketAddr) -> SocketAddr {
    let ip = if target.is_ipv4() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    };
    SocketAddr::new(ip, 0)
}

/// The request payload: a per-socket token and the sequence number, padded.
fn payload(token: u64, seq: u64, len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[..8].copy_from_slice(&token.to_be_bytes());
    p[8..16].copy_from_slice(&seq.to_be_bytes());
    p
}

/// One probe. `None`: no matching reply before the timeout (or no send).
async fn probe_once(
    sock: &UdpSocket,
    cfg: &ProberConfig,
    req: &[u8],
    buf: &mut [u8],
) -> Option<Exchange> {
    let _ = sys::drain_tx_stamps(sock.as_fd());
    let sent_ns = sys::realtime_ns();
    if let Err(e) = sock.send_to(req, cfg.target).await {
        tracing::debug!(probe = %cfg.name, error = %e, "probe not sent");
        return None;
    }
    let deadline = Instant::now() + cfg.timeout_seconds.get();
    loop {
        let read = sock.async_io(Interest::READABLE, || sys::recv(sock.as_fd(), buf));
        let got = match tokio::time::timeout_at(deadline, read).await {
            Err(_) => return None,
            Ok(Err(e)) => {
                tracing::debug!(probe = %cfg.name, error = %e, "probe reply not read");
                continue;
            }
            Ok(Ok(got)) => got,
        };
        if got.from == Some(cfg.target) && got.len >= 16 && buf[..16] == req[..16] {
            let tx = sys::drain_tx_stamps(sock.as_fd()).unwrap_or_default();
            return Some(Exchange { sent_ns, received_ns: got.at_ns, tx, rx: got.rx });
        }
    }
}

fn record(s: &Shared, name: &str, x: Option<Exchange>) {
    let m = &s.metrics;
    let probe = || vec![("probe", Lv::from(name.to_owned()))];
    let Some((source, ns)) = x.as_ref().and_then(rtt::rtt) else {
        if x.is_none() {
            m.probe_timeouts.get_or_create(&probe()).inc();
        }
        return;
    };
    m.probe_rtt.get_or_create(&probe()).observe(ns as f64 / 1e9);
    for other in Source::ALL {
        let l = vec![
            ("probe", Lv::from(name.to_owned())),
            ("source", Lv::from(other.as_str().to_owned())),
        ];
        m.probe_timestamp_source.get_or_create(&l).set(i64::from(other == source));
    }
}

/// Probes `cfg.target` every interval until shutdown.
pub async fn run_prober(s: Arc<Shared>, cfg: ProberConfig, shutdown: CancellationToken) {
    let name = cfg.name.as_str().to_owned();
    // Exported at 0 from the start, so `rate()` sees the first timeout.
    let _ = s.metrics.probe_timeouts.get_or_create(&vec![("probe", Lv::from(name.clone()))]);
    let bind = cfg.source.unwrap_or_else(|| wildcard(cfg.target));
    let Some(sock) = open_retrying(&s, &name, &cfg.netns, bind, true, &shutdown).await else {
        return;
    };
    tracing::info!(probe = %name, target = %cfg.target, "prober started");
    let token = (sys::realtime_ns() as u64) ^ u64::from(std::process::id()).rotate_left(32);
    let mut buf = vec![0u8; 2048];
    let mut tick = tokio::time::interval(cfg.interval_seconds.get());
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    for seq in 0u64.. {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let req = payload(token, seq, cfg.payload_bytes);
        let x = tokio::select! {
            () = shutdown.cancelled() => return,
            x = probe_once(&sock, &cfg, &req, &mut buf) => x,
        };
        record(&s, &name, x);
    }
}

/// Echoes every datagram back to its sender until shutdown.
pub async fn run_responder(s: Arc<Shared>, cfg: ResponderConfig, shutdown: CancellationToken) {
    let name = cfg.name.as_str().to_owned();
    let label = vec![("responder", Lv::from(name.clone()))];
    let requests = s.metrics.responder_requests.get_or_create(&label).clone();
    let Some(sock) = open_retrying(&s, &name, &cfg.netns, cfg.listen, false, &shutdown).await
    else {
        return;
    };
    tracing::info!(responder = %name, listen = %cfg.listen, "responder started");
    let mut buf = vec![0u8; 2048];
    loop {
        let (n, peer) = tokio::select! {
            () = shutdown.cancelled() => return,
            r = sock.recv_from(&mut buf) => match r {
                Ok(got) => got,
                Err(e) => {
                    tracing::debug!(responder = %name, error = %e, "receive failed");
                    continue;
                }
            },
        };
        requests.inc();
        if let Err(e) = sock.send_to(&buf[..n], peer).await {
            tracing::debug!(responder = %name, %peer, error = %e, "echo not sent");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_carries_token_and_sequence() {
        let p = payload(0x0102_0304_0506_0708, 9, 64);
        assert_eq!(p.len(), 64);
        assert_eq!(&p[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&p[8..16], &9u64.to_be_bytes());
        assert_eq!(wildcard("[::1]:7".parse().expect("v6")).to_string(), "[::]:0");
        assert_eq!(wildcard("10.0.0.1:7".parse().expect("v4")).to_string(), "0.0.0.0:0");
    }
}

//! `murmurationd`, the node daemon: inventory over netlink, cleanup of
//! attachments whose pod namespace vanished without DEL, PTP monitoring
//! (ptp4l's management socket), a timestamped UDP latency prober, and
//! Prometheus metrics.
//!
//! [`run`] is the whole daemon; `main` only parses flags and builds the runtime.
//! Tasks share one [`Shared`]; each stops when the cancellation token fires,
//! and none of them panics or unwraps.

pub mod cleanup;
pub mod cli;
pub mod config;
pub mod health;
pub mod http;
pub mod inventory;
pub mod metrics;
mod oplog;
pub mod phc;
pub mod probe;
pub mod ptp;
mod refresh;
pub mod sriov;
mod sys;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::Config;

/// Process-wide settings the daemon needs before any thread starts (the
/// binary calls it first; embedders of [`run`] may).
pub fn init_process() {
    sys::single_malloc_arena();
}

use crate::inventory::Inventory;
use crate::metrics::Metrics;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot listen on {addr}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot subscribe to netlink events")]
    Events(#[source] std::io::Error),
}

pub(crate) fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// State every task shares.
#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    pub inventory: Arc<Inventory>,
    pub metrics: Metrics,
    pub health: health::Health,
    ptp: RwLock<Option<ptp::Status>>,
    stale_watched: AtomicUsize,
}

impl Shared {
    pub fn new(config: Config) -> Self {
        let inventory = Arc::new(Inventory::default());
        let start = unix_ms() as f64 / 1000.0;
        Self {
            metrics: Metrics::new(inventory.clone(), start),
            inventory,
            config,
            health: health::Health::default(),
            ptp: RwLock::new(None),
            stale_watched: AtomicUsize::new(0),
        }
    }

    pub fn ptp_status(&self) -> Option<ptp::Status> {
        self.ptp.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub(crate) fn set_ptp_status(&self, s: ptp::Status) {
        *self.ptp.write().unwrap_or_else(PoisonError::into_inner) = Some(s);
    }

    pub fn stale_watched(&self) -> usize {
        self.stale_watched.load(Ordering::Relaxed)
    }

    /// Why `/healthz` should fail; empty when healthy.
    pub fn health_problems(&self) -> Vec<String> {
        let updated = self.inventory.get().updated_unix_ms;
        let age = (updated != 0)
            .then(|| std::time::Duration::from_millis(unix_ms().saturating_sub(updated)));
        let bounds = health::Bounds {
            resync: self.config.inventory.resync_seconds.get(),
            stuck: self.config.health.stuck_seconds.get(),
        };
        health::problems(&self.health.observe(age), &bounds)
    }
}

/// Runs the daemon until `shutdown` is cancelled. The listener is bound
/// before anything else starts, so a bad address fails fast.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), DaemonError> {
    let addr = config.http.listen;
    let listener =
        TcpListener::bind(addr).await.map_err(|source| DaemonError::Listen { addr, source })?;
    let events = inventory::events::subscribe().map_err(DaemonError::Events)?;
    tracing::info!(%addr, data_dir = %config.state.data_dir.display(), "murmurationd started");
    let shared = Arc::new(Shared::new(config));
    let tasks = TaskTracker::new();
    let changed = Arc::new(tokio::sync::Notify::new());
    {
        let (s, c, n) = (shared.clone(), shutdown.clone(), changed.clone());
        tasks.spawn(async move {
            let on_event = || {
                s.metrics.netlink_events.inc();
            };
            if let Err(e) = inventory::events::watch(events, &n, on_event, c).await {
                tracing::error!(error = %e, "netlink event watch stopped; resync timer only");
                s.metrics.task_error("events");
            }
        });
    }
    tasks.spawn(refresh::run(shared.clone(), changed, shutdown.clone()));
    tasks.spawn(oplog::run(shared.clone(), shutdown.clone()));
    if shared.config.ptp.enabled {
        tasks.spawn(ptp::run(shared.clone(), shutdown.clone()));
    }
    tasks.spawn(sriov::run(shared.clone(), sriov::hangups(), shutdown.clone()));
    if shared.config.drift.enabled {
        tasks.spawn(sriov::drift::run(shared.clone(), shutdown.clone()));
    }
    if shared.config.phc.enabled {
        tasks.spawn(phc::run(shared.clone(), shutdown.clone()));
    }
    for r in shared.config.responders.clone() {
        tasks.spawn(probe::run_responder(shared.clone(), r, shutdown.clone()));
    }
    for p in shared.config.probers.clone() {
        tasks.spawn(probe::run_prober(shared.clone(), p, shutdown.clone()));
    }
    {
        let (s, c) = (shared.clone(), shutdown.clone());
        tasks.spawn(async move {
            if let Err(e) = http::serve(listener, s.clone(), c).await {
                tracing::error!(error = %e, "HTTP server stopped");
                s.metrics.task_error("http");
            }
        });
    }
    tasks.close();
    shutdown.cancelled().await;
    tasks.wait().await;
    tracing::info!("murmurationd stopped");
    Ok(())
}

/// An error and its sources, for logs.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

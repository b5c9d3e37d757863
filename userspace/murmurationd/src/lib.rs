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
pub mod device_plugin;
pub mod health;
pub mod http;
pub mod inventory;
pub mod linuxptp;
pub mod metrics;
pub mod notify;
mod oplog;
pub mod phc;
pub mod probe;
pub mod ptp;
mod refresh;
pub mod sriov;
pub mod sync_state;
mod sys;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
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
    #[error("cannot load the notification subscriptions")]
    Notifications(#[source] notify::store::StoreError),
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
    /// Each ptp4l instance's last poll, in `[ptp]` order.
    ptp: RwLock<Vec<(String, ptp::Status)>>,
    os_clock: RwLock<Option<ptp::OsClock>>,
    stale_watched: AtomicUsize,
    /// The O-Cloud Notification API, when `[notifications] enabled`.
    pub notify: OnceLock<Arc<notify::Hub>>,
    /// Each PHC's last offset to the system clock (ns) and when it was measured.
    phc_offsets: RwLock<HashMap<String, (f64, std::time::Instant)>>,
    /// Each supervised phc2sys's last update of the system clock, by instance.
    phc2sys: RwLock<HashMap<String, (linuxptp::phc2sys::Update, std::time::Instant)>>,
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
            ptp: RwLock::new(Vec::new()),
            os_clock: RwLock::new(None),
            stale_watched: AtomicUsize::new(0),
            notify: OnceLock::new(),
            phc_offsets: RwLock::new(HashMap::new()),
            phc2sys: RwLock::new(HashMap::new()),
        }
    }

    /// The first instance's last poll (the only one in the single `[ptp]` form).
    pub fn ptp_status(&self) -> Option<ptp::Status> {
        self.ptp.read().unwrap_or_else(PoisonError::into_inner).first().map(|(_, s)| s.clone())
    }

    /// Every instance's last poll, by name, in `[ptp]` order.
    pub fn ptp_instances(&self) -> Vec<(String, ptp::Status)> {
        self.ptp.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub(crate) fn set_ptp_status(&self, name: &str, s: ptp::Status) {
        let mut all = self.ptp.write().unwrap_or_else(PoisonError::into_inner);
        match all.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = s,
            None => {
                all.push((name.to_owned(), s));
                let order = self.config.ptp.instances();
                all.sort_by_key(|(n, _)| order.iter().position(|i| &i.name == n));
            }
        }
        drop(all);
        linuxptp::write_state(self);
    }

    pub fn os_clock(&self) -> Option<ptp::OsClock> {
        self.os_clock.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub(crate) fn set_os_clock(&self, s: ptp::OsClock) {
        *self.os_clock.write().unwrap_or_else(PoisonError::into_inner) = Some(s);
    }

    pub(crate) fn set_phc_offset(&self, clock: String, offset_ns: f64) {
        let mut m = self.phc_offsets.write().unwrap_or_else(PoisonError::into_inner);
        m.insert(clock, (offset_ns, std::time::Instant::now()));
    }

    /// `clock`'s last offset (ns) if it was measured within `max_age`.
    pub fn phc_offset(&self, clock: &str, max_age: std::time::Duration) -> Option<f64> {
        let m = self.phc_offsets.read().unwrap_or_else(PoisonError::into_inner);
        m.get(clock).filter(|(_, at)| at.elapsed() <= max_age).map(|(o, _)| *o)
    }

    pub(crate) fn set_phc2sys(&self, instance: &str, u: linuxptp::phc2sys::Update) {
        let mut m = self.phc2sys.write().unwrap_or_else(PoisonError::into_inner);
        m.insert(instance.to_owned(), (u, std::time::Instant::now()));
    }

    /// `instance`'s phc2sys's last update of the system clock if it came within `max_age`.
    pub fn phc2sys(
        &self,
        instance: &str,
        max_age: std::time::Duration,
    ) -> Option<linuxptp::phc2sys::Update> {
        let m = self.phc2sys.read().unwrap_or_else(PoisonError::into_inner);
        m.get(instance).filter(|(_, at)| at.elapsed() <= max_age).map(|(u, _)| u.clone())
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
    let notify_listener = start_notifications(&shared, &shutdown).await?;
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
    linuxptp::spawn_all(&shared, &tasks, &shutdown);
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
    if shared.config.device_plugin.enabled {
        spawn_device_plugin(&tasks, &shared, &shutdown)?;
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
    if let Some(l) = notify_listener {
        let (s, c) = (shared.clone(), shutdown.clone());
        tasks.spawn(async move {
            let app = shared_notify_router(&s);
            if let Err(e) = http::serve_app(l, app, s.clone(), c).await {
                tracing::error!(error = %e, "notification API server stopped");
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

/// Loads the subscriptions and starts the hub when `[notifications]
/// enabled`; binds its own listener when one is configured.
async fn start_notifications(
    shared: &Arc<Shared>,
    shutdown: &CancellationToken,
) -> Result<Option<TcpListener>, DaemonError> {
    let cfg = &shared.config.notifications;
    if !cfg.enabled {
        return Ok(None);
    }
    let listener = match cfg.listen {
        Some(addr) if addr != shared.config.http.listen => Some(
            TcpListener::bind(addr).await.map_err(|source| DaemonError::Listen { addr, source })?,
        ),
        _ => None,
    };
    let addr = cfg.listen.unwrap_or(shared.config.http.listen);
    let hub = notify::Hub::start(
        cfg.clone(),
        format!("http://{addr}"),
        notify::HubMetrics::from(&shared.metrics),
        shutdown.child_token(),
    )
    .map_err(DaemonError::Notifications)?;
    let _ = shared.notify.set(hub);
    Ok(listener)
}

fn shared_notify_router(s: &Shared) -> axum::Router {
    s.notify.get().map(|h| notify::api::router(h.clone())).unwrap_or_default()
}

/// The device plugin and its own link-event subscription (which wakes its scanner).
fn spawn_device_plugin(
    tasks: &TaskTracker,
    shared: &Arc<Shared>,
    shutdown: &CancellationToken,
) -> Result<(), DaemonError> {
    let events = inventory::events::subscribe().map_err(DaemonError::Events)?;
    let changed = Arc::new(tokio::sync::Notify::new());
    let (s, c, n) = (shared.clone(), shutdown.clone(), changed.clone());
    tasks.spawn(async move {
        if let Err(e) = inventory::events::watch(events, &n, || {}, c).await {
            tracing::error!(error = %e, "device plugin's link events stopped; rescan timer only");
            s.metrics.task_error("device_plugin");
        }
    });
    let config = shared.config.device_plugin.clone();
    let metrics = shared.metrics.device_plugin.clone();
    tasks.spawn(device_plugin::run(config, metrics, changed, shutdown.clone()));
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

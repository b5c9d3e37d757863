//! The inventory loop: re-read links and records when netlink reports a
//! change (coalesced) or the resync timer fires, then let the cleaner act.

use crate::metrics::label::Lv;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use murmuration_core::netlink::Netlink;
use murmuration_core::state::Store;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::Shared;
use crate::cleanup::{Cleaner, Outcome};
use crate::inventory::Snapshot;

/// While an attachment waits out its grace period, look again this often.
const WATCH_TICK: Duration = Duration::from_millis(500);

#[derive(Debug)]
struct Worker {
    store: Store,
    host: Option<Netlink>,
    cleaner: Option<Cleaner>,
    started: Instant,
}

pub async fn run(shared: Arc<Shared>, changed: Arc<Notify>, cancel: CancellationToken) {
    let cfg = &shared.config;
    let store =
        Store::new(&cfg.state.data_dir).with_lock_timeout(cfg.cleanup.lock_timeout_seconds.get());
    let cleaner = cfg.cleanup.enabled.then(|| {
        Cleaner::new(
            store.clone(),
            cfg.state.cni_path.clone(),
            cfg.cleanup.grace_period_seconds.get(),
        )
    });
    let worker =
        Arc::new(Mutex::new(Worker { store, host: None, cleaner, started: Instant::now() }));
    let resync = cfg.inventory.resync_seconds.get();
    let debounce = cfg.inventory.debounce_seconds.get();
    loop {
        let (s, w) = (shared.clone(), worker.clone());
        shared.health.round_started();
        let round = tokio::task::spawn_blocking(move || refresh(&s, &w)).await;
        shared.health.round_finished();
        match round {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "inventory refresh failed");
                shared.metrics.task_error("inventory");
            }
            Err(_) => shared.metrics.task_error("inventory"),
        }
        let wait = if shared.stale_watched() > 0 { resync.min(WATCH_TICK) } else { resync };
        tokio::select! {
            () = cancel.cancelled() => return,
            () = changed.notified() => tokio::time::sleep(debounce).await,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

fn refresh(
    shared: &Shared,
    worker: &Mutex<Worker>,
) -> Result<(), murmuration_core::netlink::NetlinkError> {
    let mut w = worker.lock().unwrap_or_else(PoisonError::into_inner);
    let w = &mut *w;
    let host = match &mut w.host {
        Some(h) => h,
        None => w.host.insert(Netlink::open()?),
    };
    let snap = match Snapshot::read(host, &w.store) {
        Ok(s) => s,
        Err(e) => {
            w.host = None; // reopen next time
            return Err(e);
        }
    };
    shared.metrics.inventory_refreshes.inc();
    let Some(cleaner) = &mut w.cleaner else {
        shared.inventory.set(snap);
        return Ok(());
    };
    let due = cleaner.observe(w.started.elapsed(), &snap.attachments);
    let released = !due.is_empty() && release(shared, cleaner, &due, host);
    shared.stale_watched.store(cleaner.watched(), std::sync::atomic::Ordering::Relaxed);
    shared.metrics.stale_attachments.set(cleaner.watched() as i64);
    let snap = if released { Snapshot::read(host, &w.store)? } else { snap };
    shared.inventory.set(snap);
    Ok(())
}

/// Releases `due` under the store lock; whether anything was attempted.
/// A round that cannot take the lock is skipped (logged, counted, and kept
/// for `/healthz`); the attachments stay watched and are tried next round.
fn release(shared: &Shared, cleaner: &mut Cleaner, due: &[String], host: &mut Netlink) -> bool {
    let done = match cleaner.release(due, host) {
        Ok(done) => done,
        Err(e) => {
            tracing::warn!(error = %crate::chain(&e), due = due.len(), "cleanup round skipped: no store lock");
            shared.metrics.cleanup_lock_timeouts.inc();
            shared.health.cleanup_blocked();
            return false;
        }
    };
    shared.health.cleanup_unblocked();
    for (key, outcome) in done {
        let result = match outcome {
            Ok(Outcome::Released) => "released",
            Ok(Outcome::Skipped) => "skipped",
            Err(e) => {
                tracing::warn!(attachment = %key, error = %crate::chain(&e), "stale attachment cleanup failed; will retry");
                "error"
            }
        };
        shared
            .metrics
            .cleanup_releases
            .get_or_create(&vec![("result", Lv::from(result.to_owned()))])
            .inc();
    }
    true
}

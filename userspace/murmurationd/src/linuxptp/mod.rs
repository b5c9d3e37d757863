//! linuxptp supervision: for every `[[linuxptp.instance]]` the daemon
//! renders ptp4l's (and phc2sys's, ts2phc's) config under `run_dir`, runs
//! the programs and restarts them with backoff ([`supervise`]); the
//! `[ptp]` poller can watch an instance's socket (`monitor = true`). Also
//! the sync-state file for the plugin's `requirePtpLock` ([`write_state`]).

pub mod backoff;
pub mod phc2sys;
pub mod render;
pub mod supervise;
mod sys;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::Shared;
use backoff::Backoff;
use murmuration_core::ptp::lockstate;

/// Starts one supervisor per program of every instance on `tasks`.
pub fn spawn_all(shared: &Arc<Shared>, tasks: &TaskTracker, cancel: &CancellationToken) {
    let lp = &shared.config.linuxptp;
    for i in &lp.instances {
        for rendered in render::instance(lp, i) {
            let spec = supervise::Spec {
                instance: i.name.clone(),
                rendered,
                netns: i.netns.clone(),
                backoff: Backoff::new(
                    lp.restart_initial_seconds.get(),
                    lp.restart_max_seconds.get(),
                    lp.stable_seconds.get(),
                ),
                stop_timeout: lp.stop_timeout_seconds.get(),
            };
            tasks.spawn(supervise::run(shared.clone(), spec, cancel.clone()));
        }
    }
}

/// Replaces the sync-state file with the node's lock state: the least
/// synchronized of the polled instances (none polled yet: nothing written).
pub fn write_state(shared: &Shared) {
    let cfg = &shared.config.ptp_state;
    if !cfg.enabled {
        return;
    }
    let worst = shared
        .ptp_instances()
        .iter()
        .filter_map(|(_, s)| s.sync_state)
        .reduce(crate::sync_state::SyncState::worst);
    let Some(state) = worst else { return };
    let file = lockstate::StateFile {
        sync_state: state.as_str().to_owned(),
        updated_unix_ms: crate::unix_ms(),
    };
    if let Err(e) = lockstate::write(&cfg.file, &file) {
        tracing::warn!(path = %cfg.file.display(), error = %e, "PTP state file");
        shared.metrics.task_error("ptp_state");
    }
}

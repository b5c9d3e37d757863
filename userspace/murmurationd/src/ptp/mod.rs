//! PTP monitoring: poll ptp4l over its management socket, derive the sync
//! state, publish both as status and metrics.

pub mod pmc;
pub mod sync;

use crate::metrics::label::Lv;
use std::sync::Arc;
use std::time::{Duration, Instant};

use murmuration_core::ptp::mgmt::{Dataset, PortState, Response};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::Shared;
use crate::config::PtpConfig;
pub use sync::{Criteria, Sample, SyncMachine, SyncState};

const DATASETS: [Dataset; 5] = [
    Dataset::PortDataSet,
    Dataset::CurrentDataSet,
    Dataset::ParentDataSet,
    Dataset::TimePropertiesDataSet,
    Dataset::TimeStatusNp,
];

#[derive(Debug, Clone, Serialize)]
pub struct PortStatus {
    pub port: u16,
    pub state: PortState,
}

/// What the last poll of ptp4l found, and the derived sync state.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    pub reachable: bool,
    pub sync_state: Option<SyncState>,
    /// The system clock against the PHC (`os_clock_phc`).
    pub os_clock_sync_state: Option<SyncState>,
    /// PHC minus system clock minus the expected offset (ns).
    pub os_clock_offset_ns: Option<f64>,
    pub ports: Vec<PortStatus>,
    pub offset_ns: Option<f64>,
    pub mean_path_delay_ns: Option<f64>,
    pub clock_class: Option<u8>,
    pub time_traceable: Option<bool>,
    pub gm_present: Option<bool>,
    pub updated_unix_ms: u64,
}

impl Status {
    fn from_responses(rs: &[Response]) -> Self {
        let mut s = Self { reachable: true, ..Self::default() };
        for r in rs {
            match r {
                Response::Port { port_number, state, .. } => {
                    s.ports.push(PortStatus { port: *port_number, state: *state });
                }
                Response::Current { offset_ns, mean_path_delay_ns, .. } => {
                    s.offset_ns = Some(*offset_ns);
                    s.mean_path_delay_ns = Some(*mean_path_delay_ns);
                }
                Response::Parent { gm_clock_class, .. } => s.clock_class = Some(*gm_clock_class),
                Response::TimeProperties { time_traceable, .. } => {
                    s.time_traceable = Some(*time_traceable);
                }
                Response::TimeStatus { gm_present, .. } => s.gm_present = Some(*gm_present),
                _ => {}
            }
        }
        s.ports.sort_by_key(|p| p.port);
        s
    }

    fn tracking(&self, cfg: &PtpConfig) -> bool {
        self.ports.iter().any(|p| cfg.locked_port_states.iter().any(|l| l.0 == p.state))
    }

    fn sample(&self, cfg: &PtpConfig) -> Sample {
        Sample {
            tracking: self.tracking(cfg),
            offset_ns: self.offset_ns,
            gm_present: self.gm_present,
            clock_class: self.clock_class,
            time_traceable: self.time_traceable,
        }
    }

    /// What the notification API reports. A clock class that ptp4l did not
    /// give is reported as 248 (default), as StarlingX does.
    fn snapshot(&self) -> crate::notify::Snapshot {
        crate::notify::Snapshot {
            lock: self.sync_state,
            offset_ns: self.offset_ns,
            clock_class: Some(self.clock_class.unwrap_or(248)),
            os_clock: self.os_clock_sync_state,
            os_offset_ns: self.os_clock_offset_ns,
        }
    }
}

fn criteria(cfg: &PtpConfig) -> Criteria {
    Criteria {
        threshold_ns: cfg.offset_threshold_ns as f64,
        locked_clock_classes: cfg.locked_clock_classes.clone(),
        require_time_traceable: cfg.require_time_traceable,
    }
}

/// The system clock's error against `os_clock_phc` (PHC minus system
/// clock minus the expected offset), from a reading at most three polls old.
fn os_clock_error(shared: &Shared, cfg: &PtpConfig) -> Option<f64> {
    let phc = cfg.os_clock_phc.as_deref()?;
    let fresh = shared.config.phc.poll_seconds.get() * 3;
    let offset = shared.phc_offset(phc, fresh)?;
    Some(offset - cfg.os_clock_offset_seconds * 1e9)
}

pub async fn run(shared: Arc<Shared>, cancel: CancellationToken) {
    let cfg = shared.config.ptp.clone();
    let crit = criteria(&cfg);
    let mut machine = SyncMachine::new(cfg.holdover_seconds.get());
    let mut os_clock = SyncMachine::new(cfg.holdover_seconds.get());
    let started = Instant::now();
    let poll = cfg.poll_seconds.get();
    let timeout = poll.min(Duration::from_millis(500));
    let mut client = None;
    let mut tick = tokio::time::interval(poll);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        if client.is_none() {
            match pmc::Pmc::bind(&cfg.client_socket_dir, &cfg.ptp4l_socket, cfg.domain) {
                Ok(c) => client = Some(c),
                Err(e) => {
                    tracing::warn!(error = %crate::chain(&e), "PTP management client");
                    shared.metrics.task_error("ptp");
                }
            }
        }
        let polled = match &mut client {
            Some(c) => c.get(&DATASETS, timeout).await.map_err(|e| crate::chain(&e)),
            None => Err("no management client".to_owned()),
        };
        let mut status = match polled {
            Ok(rs) => Status::from_responses(&rs),
            Err(e) => {
                tracing::debug!(error = %e, "ptp4l not answering");
                Status::default()
            }
        };
        let now = started.elapsed();
        let before = machine.state();
        let state = machine.step(now, crit.good(&status.sample(&cfg)));
        if state != before {
            tracing::info!(from = before.as_str(), to = state.as_str(), "PTP sync state changed");
        }
        status.sync_state = Some(state);
        status.os_clock_offset_ns = os_clock_error(&shared, &cfg);
        let os_good =
            status.os_clock_offset_ns.is_some_and(|e| e.abs() <= cfg.os_clock_threshold_ns as f64);
        status.os_clock_sync_state = Some(os_clock.step(now, os_good));
        status.updated_unix_ms = crate::unix_ms();
        publish(&shared, &status);
        if let Some(hub) = shared.notify.get() {
            hub.update(status.snapshot());
        }
        shared.set_ptp_status(status);
    }
}

fn publish(shared: &Shared, s: &Status) {
    let m = &shared.metrics;
    m.ptp_up.set(i64::from(s.reachable));
    m.ptp_offset.set(s.offset_ns.unwrap_or(0.0) / 1e9);
    m.ptp_mean_path_delay.set(s.mean_path_delay_ns.unwrap_or(0.0) / 1e9);
    m.ptp_clock_class.set(s.clock_class.map_or(0, i64::from));
    m.ptp_time_traceable.set(i64::from(s.time_traceable.unwrap_or(false)));
    m.ptp_port_state.clear();
    for p in &s.ports {
        for st in PortState::ALL {
            let labels = vec![
                ("port", Lv::from(p.port.to_string())),
                ("state", Lv::from(st.as_str().to_owned())),
            ];
            m.ptp_port_state.get_or_create(&labels).set(i64::from(st == p.state));
        }
    }
    for st in SyncState::ALL {
        let labels = vec![("state", Lv::from(st.as_str().to_owned()))];
        m.ptp_sync_state.get_or_create(&labels).set(i64::from(s.sync_state == Some(st)));
        let os = i64::from(s.os_clock_sync_state == Some(st));
        m.ptp_os_clock_sync_state.get_or_create(&labels).set(os);
    }
}

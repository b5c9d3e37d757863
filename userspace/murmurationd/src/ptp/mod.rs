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
use crate::config::{PtpConfig, PtpInstance};
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

/// Where os-clock-sync-state comes from: the first `[[linuxptp.instance]]`
/// whose phc2sys steers the system clock (`realtime = true`) while it
/// reports fresh updates, else the daemon's own reading of `os_clock_phc`,
/// else nothing (FREERUN). phc2sys in automatic mode steers the system clock
/// only from a port that tracks a master: on a grandmaster it prints
/// nothing, and the PHC reading stands in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum OsClockSource {
    /// The instance whose phc2sys reports its updates.
    Phc2sys(String),
    /// The PHC the `[phc]` task measures.
    Phc(String),
    None,
}

impl OsClockSource {
    /// The source for this round: a supervised phc2sys without a fresh
    /// update gives way to the PHC reading where one is configured.
    fn now(shared: &Shared) -> Self {
        match Self::of(shared) {
            Self::Phc2sys(instance)
                if shared.phc2sys(&instance, phc2sys_fresh(shared)).is_none() =>
            {
                shared.config.ptp.os_clock_phc.clone().map_or(Self::Phc2sys(instance), Self::Phc)
            }
            other => other,
        }
    }

    fn of(shared: &Shared) -> Self {
        let supervised = shared
            .config
            .linuxptp
            .instances
            .iter()
            .find(|i| i.phc2sys.as_ref().is_some_and(|p| p.realtime));
        match (supervised, &shared.config.ptp.os_clock_phc) {
            (Some(i), _) => Self::Phc2sys(i.name.clone()),
            (None, Some(phc)) => Self::Phc(phc.clone()),
            (None, None) => Self::None,
        }
    }
}

/// phc2sys updates the system clock once a second by default: an update
/// older than this (or three polls) means phc2sys is not steering it.
const PHC2SYS_FRESH: Duration = Duration::from_secs(3);

fn phc2sys_fresh(shared: &Shared) -> Duration {
    PHC2SYS_FRESH.max(shared.config.ptp.poll_seconds.get() * 3)
}

/// The system clock's offset (ns) from `source`, and whether it counts
/// towards LOCKED: phc2sys's last fresh update with its servo locked (s2,
/// s3) and |offset| within the threshold; or the daemon's PHC reading
/// within the threshold.
fn os_clock_reading(shared: &Shared, source: &OsClockSource) -> (Option<f64>, bool) {
    let cfg = &shared.config.ptp;
    let threshold = cfg.os_clock_threshold_ns;
    match source {
        OsClockSource::Phc2sys(instance) => {
            let update = shared.phc2sys(instance, phc2sys_fresh(shared));
            let good = update.as_ref().is_some_and(|u| u.good(threshold));
            (update.map(|u| u.offset_ns as f64), good)
        }
        OsClockSource::Phc(_) => {
            let error = os_clock_error(shared, cfg);
            (error, error.is_some_and(|e| e.abs() <= threshold as f64))
        }
        OsClockSource::None => (None, false),
    }
}

/// Polls every configured ptp4l instance (one task each) until `cancel`.
pub async fn run(shared: Arc<Shared>, cancel: CancellationToken) {
    let node = Arc::new(std::sync::Mutex::new(NodeClock::new(&shared.config.ptp)));
    let tasks = tokio_util::task::TaskTracker::new();
    for inst in shared.config.ptp.instances() {
        tasks.spawn(run_instance(shared.clone(), inst, node.clone(), cancel.clone()));
    }
    tasks.close();
    tasks.wait().await;
}

/// The node-level part: the system clock against the PHC, and what the
/// notification API reports (every instance's poll refreshes it).
#[derive(Debug)]
struct NodeClock {
    os_clock: SyncMachine,
    started: Instant,
}

impl NodeClock {
    fn new(cfg: &PtpConfig) -> Self {
        Self { os_clock: SyncMachine::new(cfg.holdover_seconds.get()), started: Instant::now() }
    }

    /// Steps the OS clock state and hands the node's view to the API.
    fn refresh(&mut self, shared: &Shared) {
        let source = OsClockSource::now(shared);
        let (offset_ns, good) = os_clock_reading(shared, &source);
        let os = OsClock {
            sync_state: self.os_clock.step(self.started.elapsed(), good),
            offset_ns,
            source,
        };
        for st in SyncState::ALL {
            let labels = vec![("state", Lv::from(st.as_str().to_owned()))];
            let on = i64::from(os.sync_state == st);
            shared.metrics.ptp_os_clock_sync_state.get_or_create(&labels).set(on);
        }
        let instances = shared.ptp_instances();
        shared.set_os_clock(os.clone());
        if let Some(hub) = shared.notify.get() {
            hub.update(snapshot(&instances, &os));
        }
    }
}

/// The system clock's state, from phc2sys's view or the daemon's own PHC reading.
#[derive(Debug, Clone, Serialize)]
pub struct OsClock {
    pub sync_state: SyncState,
    /// phc2sys: the system clock minus the PHC (ns), as phc2sys printed it;
    /// PHC: PHC minus system clock minus the expected offset (ns).
    pub offset_ns: Option<f64>,
    pub source: OsClockSource,
}

/// The node's view for the notification API: lock-state is the least
/// synchronized instance (its offset with it); clock-class is the first
/// instance's grandmaster class, 248 when ptp4l does not answer (as
/// StarlingX reports it).
fn snapshot(instances: &[(String, Status)], os: &OsClock) -> crate::notify::Snapshot {
    let worst = instances
        .iter()
        .filter_map(|(_, s)| s.sync_state.map(|st| (st, s)))
        .reduce(|a, b| if a.0.worst(b.0) == a.0 { a } else { b });
    crate::notify::Snapshot {
        lock: worst.map(|(st, _)| st),
        offset_ns: worst.and_then(|(_, s)| s.offset_ns),
        clock_class: instances.first().map(|(_, s)| s.clock_class.unwrap_or(248)),
        os_clock: Some(os.sync_state),
        os_offset_ns: os.offset_ns,
    }
}

async fn run_instance(
    shared: Arc<Shared>,
    inst: PtpInstance,
    node: Arc<std::sync::Mutex<NodeClock>>,
    cancel: CancellationToken,
) {
    let cfg = shared.config.ptp.clone();
    let crit = criteria(&cfg);
    let mut machine = SyncMachine::new(cfg.holdover_seconds.get());
    let started = Instant::now();
    let poll = cfg.poll_seconds.get();
    let timeout = poll.min(Duration::from_millis(500));
    let mut client = None;
    let mut last = Status::default();
    let mut tick = tokio::time::interval(poll);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        if client.is_none() {
            let local = format!("{}.{}", std::process::id(), inst.name);
            match pmc::Pmc::bind(&cfg.client_socket_dir, &local, &inst.ptp4l_socket, inst.domain) {
                Ok(c) => client = Some(c),
                Err(e) => {
                    tracing::warn!(instance = %inst.name, error = %crate::chain(&e), "PTP management client");
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
                tracing::debug!(instance = %inst.name, error = %e, "ptp4l not answering");
                Status::default()
            }
        };
        let before = machine.state();
        let state = machine.step(started.elapsed(), crit.good(&status.sample(&cfg)));
        if state != before {
            tracing::info!(instance = %inst.name, from = before.as_str(), to = state.as_str(), "PTP sync state changed");
        }
        status.sync_state = Some(state);
        status.updated_unix_ms = crate::unix_ms();
        publish(&shared, &inst.name, &last, &status);
        shared.set_ptp_status(&inst.name, status.clone());
        last = status;
        node.lock().unwrap_or_else(std::sync::PoisonError::into_inner).refresh(&shared);
    }
}

/// `instance`'s series; a port that went away loses its `port_state` series.
fn publish(shared: &Shared, instance: &str, before: &Status, s: &Status) {
    let m = &shared.metrics;
    let i = || ("instance", Lv::from(instance.to_owned()));
    m.ptp_up.get_or_create(&vec![i()]).set(i64::from(s.reachable));
    m.ptp_offset.get_or_create(&vec![i()]).set(s.offset_ns.unwrap_or(0.0) / 1e9);
    let delay = s.mean_path_delay_ns.unwrap_or(0.0) / 1e9;
    m.ptp_mean_path_delay.get_or_create(&vec![i()]).set(delay);
    m.ptp_clock_class.get_or_create(&vec![i()]).set(s.clock_class.map_or(0, i64::from));
    let traceable = i64::from(s.time_traceable.unwrap_or(false));
    m.ptp_time_traceable.get_or_create(&vec![i()]).set(traceable);
    let gone = before.ports.iter().filter(|b| !s.ports.iter().any(|p| p.port == b.port));
    for p in s.ports.iter().chain(gone) {
        let here = s.ports.iter().find(|now| now.port == p.port);
        for st in PortState::ALL {
            let labels = vec![
                i(),
                ("port", Lv::from(p.port.to_string())),
                ("state", Lv::from(st.as_str().to_owned())),
            ];
            match here {
                Some(now) => {
                    m.ptp_port_state.get_or_create(&labels).set(i64::from(st == now.state));
                }
                None => {
                    m.ptp_port_state.remove(&labels);
                }
            }
        }
    }
    for st in SyncState::ALL {
        let labels = vec![i(), ("state", Lv::from(st.as_str().to_owned()))];
        m.ptp_sync_state.get_or_create(&labels).set(i64::from(s.sync_state == Some(st)));
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;
    use crate::linuxptp::phc2sys::Update;

    fn shared(text: &str) -> Shared {
        Shared::new(Config::parse(text, Path::new("t.toml")).expect("valid"))
    }

    const SUPERVISED: &str = "[ptp]\nos_clock_phc = \"/dev/ptp0\"\nos_clock_threshold_ns = 100\n\
        [linuxptp]\nrun_dir = \"/run/t\"\n[[linuxptp.instance]]\nname = \"ran0\"\n\
        interface = \"eth1\"\n[linuxptp.instance.phc2sys]\nrealtime = true\n";

    fn update(line: &str) -> Update {
        Update::parse(line).expect("an update line")
    }

    #[test]
    fn phc2sys_steering_the_system_clock_is_the_source_over_the_phc_reading() {
        let s = shared(SUPERVISED);
        let source = OsClockSource::of(&s);
        assert_eq!(source, OsClockSource::Phc2sys("ran0".to_owned()));
        assert_eq!(os_clock_reading(&s, &source), (None, false), "no update yet");
        // No fresh update (a grandmaster: phc2sys -a does not steer the
        // system clock there): the PHC reading stands in.
        assert_eq!(OsClockSource::now(&s), OsClockSource::Phc("/dev/ptp0".to_owned()));
        s.set_phc_offset("/dev/ptp0".to_owned(), 37e9);
        s.set_phc2sys("ran0", update("phc2sys[1.2]: CLOCK_REALTIME eth1 offset -99 s2 freq +3"));
        assert_eq!(OsClockSource::now(&s), source, "phc2sys again once it updates");
        assert_eq!(os_clock_reading(&s, &source), (Some(-99.0), true));
        s.set_phc2sys("ran0", update("phc2sys[2.2]: CLOCK_REALTIME eth1 offset 101 s2 freq +3"));
        assert_eq!(os_clock_reading(&s, &source), (Some(101.0), false), "over the threshold");
        s.set_phc2sys("ran0", update("phc2sys[3.2]: CLOCK_REALTIME eth1 offset 5 s1 freq +3"));
        assert_eq!(os_clock_reading(&s, &source), (Some(5.0), false), "servo not locked");
        s.set_phc2sys("other", update("phc2sys[4.2]: CLOCK_REALTIME eth2 offset 0 s2 freq +3"));
        assert_eq!(os_clock_reading(&s, &source), (Some(5.0), false), "another instance's");
    }

    #[test]
    fn without_phc2sys_on_the_system_clock_the_daemons_phc_reading_counts() {
        let not_realtime = SUPERVISED.replace("realtime = true", "realtime = false");
        let s = shared(&not_realtime);
        let source = OsClockSource::of(&s);
        assert_eq!(source, OsClockSource::Phc("/dev/ptp0".to_owned()));
        s.set_phc2sys("ran0", update("phc2sys[1.2]: CLOCK_REALTIME eth1 offset 0 s2 freq +3"));
        s.set_phc_offset("/dev/ptp0".to_owned(), 37e9 + 50.0);
        assert_eq!(os_clock_reading(&s, &source), (Some(50.0), true));
        s.set_phc_offset("/dev/ptp0".to_owned(), 37e9 - 150.0);
        assert_eq!(os_clock_reading(&s, &source), (Some(-150.0), false));

        let s = shared("");
        assert_eq!(OsClockSource::of(&s), OsClockSource::None);
        assert_eq!(os_clock_reading(&s, &OsClockSource::None), (None, false));
        let json = serde_json::to_value(OsClockSource::Phc2sys("ran0".to_owned())).expect("json");
        assert_eq!(json, serde_json::json!({"kind": "phc2sys", "name": "ran0"}));
        let json = serde_json::to_value(OsClockSource::None).expect("json");
        assert_eq!(json, serde_json::json!({"kind": "none"}));
    }
}

//! Prometheus metrics: registered families updated by the tasks, plus a
//! collector that renders the inventory snapshot at scrape time.
//! Every metric is documented in `docs/metrics.md`.

mod device_plugin;
mod fastpath;
mod inventory;
pub mod label;
pub mod linuxptp;
pub use device_plugin::DevicePluginMetrics;

use label::Lv;
pub mod text004;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::inventory::Inventory;

pub type Labels = Vec<(&'static str, label::Lv<String>)>;
type FGauge = Gauge<f64, AtomicU64>;

/// Latency buckets from 10 µs to 2.5 s.
const SECONDS_BUCKETS: [f64; 16] = [
    1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 1.0,
    2.5,
];

fn seconds_histogram() -> Histogram {
    Histogram::new(SECONDS_BUCKETS)
}

/// Probe RTT buckets: 1 µs doubling to about 1.05 s (21 bounds).
fn probe_histogram() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(1e-6, 2.0, 21))
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub cni_operations: Family<Labels, Counter>,
    pub cni_duration: Family<Labels, Histogram, fn() -> Histogram>,
    pub cleanup_releases: Family<Labels, Counter>,
    pub cleanup_lock_timeouts: Counter,
    /// Connections closed at once because `max_connections` were open.
    pub http_refused: Counter,
    pub stale_attachments: Gauge,
    pub netlink_events: Counter,
    pub inventory_refreshes: Counter,
    pub task_errors: Family<Labels, Counter>,
    pub ptp_up: Family<Labels, Gauge>,
    pub ptp_offset: Family<Labels, FGauge>,
    pub ptp_mean_path_delay: Family<Labels, FGauge>,
    pub ptp_clock_class: Family<Labels, Gauge>,
    pub ptp_time_traceable: Family<Labels, Gauge>,
    pub ptp_port_state: Family<Labels, Gauge>,
    pub ptp_sync_state: Family<Labels, Gauge>,
    pub ptp_os_clock_sync_state: Family<Labels, Gauge>,
    pub notify_subscriptions: Gauge,
    pub notify_events: Family<Labels, Counter>,
    pub phc_clocks: Gauge,
    pub phc_offset: Family<Labels, FGauge>,
    pub phc_uncertainty: Family<Labels, FGauge>,
    pub phc_info: Family<Labels, Gauge>,
    pub if_phc_index: Family<Labels, Gauge>,
    pub if_timestamping_capability: Family<Labels, Gauge>,
    pub if_hw_timestamping: Family<Labels, Gauge>,
    pub probe_rtt: Family<Labels, Histogram, fn() -> Histogram>,
    pub probe_timeouts: Family<Labels, Counter>,
    pub probe_timestamp_source: Family<Labels, Gauge>,
    pub responder_requests: Family<Labels, Counter>,
    pub sriov_changes: Family<Labels, Counter>,
    pub sriov_refused: Family<Labels, Counter>,
    pub sriov_passes: Family<Labels, Counter>,
    pub sriov_appeared: Family<Labels, Counter>,
    pub attachment_drift: Family<Labels, Gauge>,
    pub linuxptp: linuxptp::LinuxPtpMetrics,
    pub device_plugin: device_plugin::DevicePluginMetrics,
    /// Length of the last exposition: the next one starts with that much
    /// room (a 256-attachment node writes about 4 MB; growing a buffer to
    /// that by doubling copied it several times per scrape).
    last_len: AtomicUsize,
}

impl Metrics {
    pub fn new(inventory: Arc<Inventory>, start_unix: f64) -> Self {
        let mut r = Registry::default();
        let m = Self {
            cni_operations: Family::default(),
            cni_duration: Family::new_with_constructor(seconds_histogram),
            cleanup_releases: Family::default(),
            cleanup_lock_timeouts: Counter::default(),
            http_refused: Counter::default(),
            stale_attachments: Gauge::default(),
            netlink_events: Counter::default(),
            inventory_refreshes: Counter::default(),
            task_errors: Family::default(),
            ptp_up: Family::default(),
            ptp_offset: Family::default(),
            ptp_mean_path_delay: Family::default(),
            ptp_clock_class: Family::default(),
            ptp_time_traceable: Family::default(),
            ptp_port_state: Family::default(),
            ptp_sync_state: Family::default(),
            ptp_os_clock_sync_state: Family::default(),
            notify_subscriptions: Gauge::default(),
            notify_events: Family::default(),
            phc_clocks: Gauge::default(),
            phc_offset: Family::default(),
            phc_uncertainty: Family::default(),
            phc_info: Family::default(),
            if_phc_index: Family::default(),
            if_timestamping_capability: Family::default(),
            if_hw_timestamping: Family::default(),
            probe_rtt: Family::new_with_constructor(probe_histogram),
            probe_timeouts: Family::default(),
            probe_timestamp_source: Family::default(),
            responder_requests: Family::default(),
            sriov_changes: Family::default(),
            sriov_refused: Family::default(),
            sriov_passes: Family::default(),
            sriov_appeared: Family::default(),
            attachment_drift: Family::default(),
            linuxptp: linuxptp::LinuxPtpMetrics::default(),
            device_plugin: device_plugin::DevicePluginMetrics::default(),
            registry: Registry::default(),
            last_len: AtomicUsize::new(64 * 1024),
        };
        m.register(&mut r, start_unix);
        r.register_collector(Box::new(fastpath::FastPathCollector {
            inventory: inventory.clone(),
            errors: m.task_errors.clone(),
        }));
        r.register_collector(Box::new(inventory::InventoryCollector(inventory)));
        Self { registry: r, ..m }
    }

    fn register(&self, r: &mut Registry, start_unix: f64) {
        let start = FGauge::default();
        start.set(start_unix);
        r.register_with_unit(
            "murmurationd_start_time",
            "When the daemon started (Unix time)",
            Unit::Seconds,
            start,
        );
        let info: Family<Labels, Gauge> = Family::default();
        info.get_or_create(&vec![("version", Lv::from(env!("CARGO_PKG_VERSION").to_owned()))])
            .set(1);
        r.register("murmurationd_build_info", "The daemon's version (always 1)", info);
        r.register(
            "murmurationd_netlink_events",
            "Netlink notifications received (link and namespace-ID groups)",
            self.netlink_events.clone(),
        );
        r.register(
            "murmurationd_inventory_refreshes",
            "Times the inventory was re-read",
            self.inventory_refreshes.clone(),
        );
        r.register(
            "murmurationd_task_errors",
            "Failures of a daemon task, by task",
            self.task_errors.clone(),
        );
        r.register(
            "murmuration_cni_operations",
            "CNI plugin invocations, by verb and CNI error code (0 = success)",
            self.cni_operations.clone(),
        );
        r.register_with_unit(
            "murmuration_cni_operation_duration",
            "Duration of CNI plugin invocations, by verb",
            Unit::Seconds,
            self.cni_duration.clone(),
        );
        r.register(
            "murmuration_cleanup_releases",
            "Stale attachments released by the daemon, by result",
            self.cleanup_releases.clone(),
        );
        r.register(
            "murmuration_cleanup_lock_timeouts",
            "Cleanup rounds skipped because the store lock stayed busy",
            self.cleanup_lock_timeouts.clone(),
        );
        r.register(
            "murmurationd_http_refused_connections",
            "HTTP connections closed on accept because max_connections were open",
            self.http_refused.clone(),
        );
        r.register(
            "murmuration_stale_attachments",
            "Attachments whose pod is provably gone, waiting out the grace period",
            self.stale_attachments.clone(),
        );
        self.register_ptp(r);
        self.register_phc(r);
        self.register_probe(r);
        self.register_sriov(r);
        self.linuxptp.register(r);
        self.device_plugin.register(r);
    }

    fn register_sriov(&self, r: &mut Registry) {
        r.register(
            "murmurationd_sriov_changes",
            "Provisioning changes applied to a PF, by kind",
            self.sriov_changes.clone(),
        );
        r.register(
            "murmurationd_sriov_refused_changes",
            "Provisioning changes refused, by PF and reason",
            self.sriov_refused.clone(),
        );
        r.register(
            "murmurationd_sriov_passes",
            "Provisioning passes over a PF, by result (ok, error)",
            self.sriov_passes.clone(),
        );
        r.register(
            "murmurationd_sriov_pf_appearances",
            "Times a configured PF (re)appeared and its plan was re-applied, by PF",
            self.sriov_appeared.clone(),
        );
        r.register(
            "murmuration_attachment_drift",
            "1 while an attachment's VF field differs from what the plugin set",
            self.attachment_drift.clone(),
        );
    }

    fn register_probe(&self, r: &mut Registry) {
        r.register_with_unit(
            "murmuration_probe_rtt",
            "UDP round-trip time of a prober, TX timestamp to the reply's RX timestamp",
            Unit::Seconds,
            self.probe_rtt.clone(),
        );
        r.register(
            "murmuration_probe_timeouts",
            "Probe requests without a matching reply within the timeout",
            self.probe_timeouts.clone(),
        );
        r.register(
            "murmuration_probe_timestamp_source",
            "1 for the timestamp source of the prober's last sample (hardware, software, clock)",
            self.probe_timestamp_source.clone(),
        );
        r.register(
            "murmuration_responder_requests",
            "Datagrams echoed by a responder",
            self.responder_requests.clone(),
        );
    }

    fn register_phc(&self, r: &mut Registry) {
        r.register(
            "murmuration_phc_clocks",
            "PTP hardware clocks found under /sys/class/ptp",
            self.phc_clocks.clone(),
        );
        r.register_with_unit(
            "murmuration_phc_offset",
            "PHC minus system clock (CLOCK_REALTIME), by clock",
            Unit::Seconds,
            self.phc_offset.clone(),
        );
        r.register_with_unit(
            "murmuration_phc_offset_uncertainty",
            "Half the system-clock window of the reading the PHC offset comes from",
            Unit::Seconds,
            self.phc_uncertainty.clone(),
        );
        r.register(
            "murmuration_phc_info",
            "1 per PHC: its driver name and the offset method in use",
            self.phc_info.clone(),
        );
        r.register(
            "murmuration_interface_phc_index",
            "The interface's PHC (/dev/ptpN), -1 for none",
            self.if_phc_index.clone(),
        );
        r.register(
            "murmuration_interface_timestamping_capability",
            "1 when the interface offers the timestamping capability",
            self.if_timestamping_capability.clone(),
        );
        r.register(
            "murmuration_interface_hw_timestamping",
            "1 when the daemon turned hardware timestamping on for the interface",
            self.if_hw_timestamping.clone(),
        );
    }

    fn register_ptp(&self, r: &mut Registry) {
        r.register(
            "murmuration_ptp_up",
            "1 when ptp4l answered the last poll",
            self.ptp_up.clone(),
        );
        r.register_with_unit(
            "murmuration_ptp_offset",
            "ptp4l's offset from master",
            Unit::Seconds,
            self.ptp_offset.clone(),
        );
        r.register_with_unit(
            "murmuration_ptp_mean_path_delay",
            "ptp4l's mean path delay",
            Unit::Seconds,
            self.ptp_mean_path_delay.clone(),
        );
        r.register(
            "murmuration_ptp_clock_class",
            "The grandmaster's clock class",
            self.ptp_clock_class.clone(),
        );
        r.register(
            "murmuration_ptp_time_traceable",
            "1 when the grandmaster's time is traceable to a primary reference",
            self.ptp_time_traceable.clone(),
        );
        r.register(
            "murmuration_ptp_port_state",
            "1 for each ptp4l port's current state (instance, port, state)",
            self.ptp_port_state.clone(),
        );
        r.register(
            "murmuration_ptp_sync_state",
            "1 for the derived sync state (LOCKED, HOLDOVER, FREERUN)",
            self.ptp_sync_state.clone(),
        );
        r.register(
            "murmuration_ptp_os_clock_sync_state",
            "1 for the system clock's state against the PHC (LOCKED, HOLDOVER, FREERUN)",
            self.ptp_os_clock_sync_state.clone(),
        );
        r.register(
            "murmuration_notification_subscriptions",
            "O-Cloud Notification API subscriptions",
            self.notify_subscriptions.clone(),
        );
        r.register(
            "murmuration_notification_events",
            "Events for subscribers by result (delivered, failed after retries, dropped from a full queue)",
            self.notify_events.clone(),
        );
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let room = self.last_len.load(Ordering::Relaxed);
        let mut out = String::with_capacity(room + room / 8);
        encode(&mut out, &self.registry)?;
        self.last_len.store(out.len(), Ordering::Relaxed);
        Ok(out)
    }

    pub fn task_error(&self, task: &'static str) {
        self.task_errors.get_or_create(&vec![("task", Lv::from(task.to_owned()))]).inc();
    }

    pub fn record_op(&self, op: &murmuration_core::oplog::OpRecord) {
        let verb = bounded_verb(&op.verb).to_owned();
        self.cni_operations
            .get_or_create(&vec![
                ("verb", Lv::from(verb.clone())),
                ("code", Lv::from(op.code.min(999).to_string())),
            ])
            .inc();
        self.cni_duration
            .get_or_create(&vec![("verb", Lv::from(verb))])
            .observe(op.duration.as_secs_f64());
    }
}

/// Keeps the `verb` label to the spec's verbs.
fn bounded_verb(v: &str) -> &str {
    match v {
        "ADD" | "DEL" | "CHECK" | "STATUS" | "GC" => v,
        _ => "OTHER",
    }
}

//! The daemon's configuration: a strict TOML file (unknown keys are refused
//! with their name), overridden by flags and environment variables.
//!
//! Every field has a default, so an empty file (or none) is a valid config.
//! Values are validated on the way in: durations are positive seconds,
//! addresses and port-state names parse, the log filter compiles.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use murmuration_core::ptp::mgmt::PortState;
use serde::Deserialize;

mod device_plugin;
pub mod linuxptp;
mod notifications;
mod probe;
pub use device_plugin::{DevicePluginConfig, HexId, PfSelector, PoolConfig, PoolName};
pub use linuxptp::{LinuxPtpConfig, PtpStateConfig};
pub use notifications::NotificationsConfig;
pub use probe::{ProbeName, ProberConfig, ResponderConfig};
mod sriov;
pub use sriov::{
    DriftConfig, DriverRange, LinkStateName, PfConfig, SriovConfig, VfDefaults, VfRange,
};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config file {path}")]
    Parse {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("invalid config: {0}")]
    Invalid(String),
}

/// A strictly positive duration given in (fractional) seconds.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "f64")]
pub struct Seconds(Duration);

impl Seconds {
    pub fn from_secs_f64(s: f64) -> Result<Self, String> {
        if s.is_finite() && s > 0.0 && s < 1e9 {
            Ok(Self(Duration::from_secs_f64(s)))
        } else {
            Err(format!("expected a positive number of seconds, got {s}"))
        }
    }

    pub fn get(self) -> Duration {
        self.0
    }
}

impl TryFrom<f64> for Seconds {
    type Error = String;
    fn try_from(s: f64) -> Result<Self, String> {
        Self::from_secs_f64(s)
    }
}

fn secs(s: f64) -> Seconds {
    Seconds(Duration::from_secs_f64(s))
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub log: LogConfig,
    pub http: HttpConfig,
    pub state: StateConfig,
    pub inventory: InventoryConfig,
    pub cleanup: CleanupConfig,
    pub health: HealthConfig,
    pub ptp: PtpConfig,
    pub phc: PhcConfig,
    pub notifications: NotificationsConfig,
    pub linuxptp: LinuxPtpConfig,
    pub ptp_state: PtpStateConfig,
    /// `[[prober]]` entries: timestamped UDP round trips.
    #[serde(rename = "prober")]
    pub probers: Vec<ProberConfig>,
    /// `[[responder]]` entries: UDP echo endpoints for probers.
    #[serde(rename = "responder")]
    pub responders: Vec<ResponderConfig>,
    /// `[[sriov.pf]]`: PFs the daemon provisions (`sriov/`).
    pub sriov: SriovConfig,
    pub drift: DriftConfig,
    /// `[device_plugin]`: SR-IOV VF pools served to the kubelet.
    pub device_plugin: DevicePluginConfig,
    /// The file this config was loaded from (re-read on SIGHUP).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter, e.g. `info` or `murmurationd=debug`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { level: "info".into() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// `/metrics`, `/status` and `/healthz` are served here (loopback by default).
    pub listen: SocketAddr,
    /// A client must send a request's headers within this time.
    pub header_timeout_seconds: Seconds,
    /// A connection is closed after this long, idle or not (scrapers reconnect).
    pub connection_lifetime_seconds: Seconds,
    /// Connections served at once; more are closed as soon as accepted.
    pub max_connections: std::num::NonZeroUsize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9465)),
            header_timeout_seconds: secs(5.0),
            connection_lifetime_seconds: secs(60.0),
            max_connections: std::num::NonZeroUsize::new(64).unwrap_or(std::num::NonZeroUsize::MIN),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// The plugin's `dataDir`.
    pub data_dir: PathBuf,
    /// Where delegated IPAM plugins are found when an attachment is released.
    pub cni_path: Vec<PathBuf>,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(murmuration_core::cni::config::DEFAULT_DATA_DIR),
            cni_path: vec![PathBuf::from("/opt/cni/bin"), PathBuf::from("/usr/lib/cni")],
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InventoryConfig {
    /// Full re-read of links and records even without events (a backstop).
    pub resync_seconds: Seconds,
    /// Events are coalesced for this long before the inventory is re-read.
    pub debounce_seconds: Seconds,
}

impl Default for InventoryConfig {
    fn default() -> Self {
        Self { resync_seconds: secs(30.0), debounce_seconds: secs(0.1) }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CleanupConfig {
    pub enabled: bool,
    /// How long an attachment must stay provably gone before it is released.
    pub grace_period_seconds: Seconds,
    /// How long a round waits for the exclusive store lock before it is
    /// skipped (the plugin's verbs hold it shared, GC exclusively).
    pub lock_timeout_seconds: Seconds,
}

impl Default for CleanupConfig {
    fn default() -> Self {
        Self { enabled: true, grace_period_seconds: secs(60.0), lock_timeout_seconds: secs(2.0) }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// `/healthz` fails when a refresh round (inventory and cleanup) has run
    /// this long, when cleanup has been kept from the store lock this long,
    /// or when the inventory is older than `resync_seconds` plus this.
    pub stuck_seconds: Seconds,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self { stuck_seconds: secs(120.0) }
    }
}

/// A PTP port state by its IEEE 1588 name (`SLAVE`, `UNCALIBRATED`...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct LockedPortState(pub PortState);

impl TryFrom<String> for LockedPortState {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        PortState::parse(&s).map(Self).ok_or_else(|| format!("unknown PTP port state {s:?}"))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PtpConfig {
    pub enabled: bool,
    /// ptp4l's management socket (`uds_address`).
    pub ptp4l_socket: PathBuf,
    pub domain: u8,
    pub poll_seconds: Seconds,
    /// LOCKED needs a SLAVE port and |offset| at or below this.
    pub offset_threshold_ns: u64,
    /// How long HOLDOVER lasts after losing lock before FREERUN.
    pub holdover_seconds: Seconds,
    /// Port states that count as tracking a master. `SLAVE` only, by default;
    /// a monitoring-only ptp4l (`free_running 1`) stays `UNCALIBRATED`.
    pub locked_port_states: Vec<LockedPortState>,
    /// Where the management client binds its own socket.
    pub client_socket_dir: PathBuf,
    /// Grandmaster clock classes that count as locked (PRTC locked, PRTC
    /// in holdover in spec, T-BC in holdover in spec).
    pub locked_clock_classes: Vec<u8>,
    /// LOCKED also needs the grandmaster's `timeTraceable`.
    pub require_time_traceable: bool,
    /// The PHC (`ptpN`) the system clock is compared with for
    /// os-clock-sync-state (needs `[phc] enabled`); none: FREERUN.
    pub os_clock_phc: Option<String>,
    /// PHC minus system clock when the system clock is in sync (37 s: PHC
    /// on TAI, system clock on UTC, as phc2sys keeps them).
    pub os_clock_offset_seconds: f64,
    /// os-clock-sync-state is LOCKED within this of the expected offset.
    pub os_clock_threshold_ns: u64,
    /// `[[ptp.instance]]`: several ptp4l (one per PHC or domain), each with
    /// its own state; none: the one at `ptp4l_socket`/`domain`, named `ptp4l`.
    #[serde(rename = "instance")]
    pub instance_list: Vec<PtpInstance>,
}

/// One ptp4l the daemon polls; the `[ptp]` criteria and timers apply.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PtpInstance {
    /// The `instance` label and resource-address segment: `[A-Za-z0-9_.-]+`.
    pub name: String,
    pub ptp4l_socket: PathBuf,
    #[serde(default)]
    pub domain: u8,
}

impl PtpConfig {
    /// The instances polled: `[[ptp.instance]]`, or the single `[ptp]` one.
    pub fn instances(&self) -> Vec<PtpInstance> {
        if !self.instance_list.is_empty() {
            return self.instance_list.clone();
        }
        vec![PtpInstance {
            name: "ptp4l".into(),
            ptp4l_socket: self.ptp4l_socket.clone(),
            domain: self.domain,
        }]
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let ok = |c: char| c.is_ascii_alphanumeric() || "_.-".contains(c);
        for (i, inst) in self.instance_list.iter().enumerate() {
            if inst.name.is_empty() || inst.name.len() > 64 || !inst.name.chars().all(ok) {
                return Err(ConfigError::Invalid(format!(
                    "ptp.instance name {:?}: 1-64 of [A-Za-z0-9_.-]",
                    inst.name
                )));
            }
            if self.instance_list[..i].iter().any(|o| o.name == inst.name) {
                return Err(ConfigError::Invalid(format!("ptp.instance {:?} twice", inst.name)));
            }
        }
        Ok(())
    }
}

impl Default for PtpConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            ptp4l_socket: PathBuf::from("/var/run/ptp4l"),
            domain: 0,
            poll_seconds: secs(1.0),
            offset_threshold_ns: 1000,
            holdover_seconds: secs(30.0),
            locked_port_states: vec![LockedPortState(PortState::Slave)],
            client_socket_dir: PathBuf::from("/run"),
            locked_clock_classes: vec![6, 7, 135],
            require_time_traceable: false,
            os_clock_phc: None,
            os_clock_offset_seconds: 37.0,
            os_clock_threshold_ns: 1000,
            instance_list: Vec::new(),
        }
    }
}

/// What to do about hardware timestamping on `[phc] interfaces`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HwTimestamping {
    /// Enable it where the NIC offers it; log where it does not.
    Auto,
    /// Enable it; an interface without it is an error (metric, task error, log).
    Required,
    /// Leave the interfaces' timestamping configuration alone.
    Off,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PhcConfig {
    pub enabled: bool,
    /// Interfaces whose timestamping capabilities and PHC are reported, and
    /// on which `hw_timestamping` applies.
    pub interfaces: Vec<String>,
    pub hw_timestamping: HwTimestamping,
    /// How often every PHC's offset to the system clock is measured.
    pub poll_seconds: Seconds,
    /// Readings per measurement (1-25, `PTP_SYS_OFFSET*` `n_samples`).
    pub samples: u32,
    /// Where `class/ptp` is looked up.
    pub sysfs_root: PathBuf,
    /// Where the `ptpN` character devices are.
    pub dev_dir: PathBuf,
}

impl Default for PhcConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            interfaces: Vec::new(),
            hw_timestamping: HwTimestamping::Auto,
            poll_seconds: secs(1.0),
            samples: 9,
            sysfs_root: PathBuf::from("/sys"),
            dev_dir: PathBuf::from("/dev"),
        }
    }
}

impl Config {
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let mut cfg: Self = toml::from_str(text)
            .map_err(|e| ConfigError::Parse { path: path.to_owned(), source: Box::new(e) })?;
        cfg.linuxptp.feed_poller(&mut cfg.ptp);
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let mut cfg = Self::parse(&text, path)?;
        cfg.source = Some(path.to_owned());
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| ConfigError::Invalid(format!("log.level {:?}: {e}", self.log.level)))?;
        if !(1..=25).contains(&self.phc.samples) {
            return Err(ConfigError::Invalid(format!(
                "phc.samples {} not in 1..=25",
                self.phc.samples
            )));
        }
        self.ptp.validate()?;
        self.notifications.validate()?;
        self.linuxptp.validate()?;
        self.device_plugin.validate()?;
        probe::validate(&self.probers, &self.responders)?;
        sriov::validate(&self.sriov)
    }
}

#[cfg(test)]
mod tests;

//! `[linuxptp]` (ptp4l, phc2sys and ts2phc run and restarted by the daemon)
//! and `[ptp_state]` (the sync-state file the plugin's `requirePtpLock`
//! reads). See `docs/timing.md`.

use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, PtpConfig, Seconds, secs};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinuxPtpConfig {
    /// Rendered config files (0600) and the instances' management sockets.
    pub run_dir: PathBuf,
    /// The programs, by path or by name on `PATH`.
    pub ptp4l: PathBuf,
    pub phc2sys: PathBuf,
    pub ts2phc: PathBuf,
    /// First delay before a restart; it doubles per exit up to the maximum.
    pub restart_initial_seconds: Seconds,
    pub restart_max_seconds: Seconds,
    /// A process that ran this long restarts after the initial delay again.
    pub stable_seconds: Seconds,
    /// On shutdown, SIGTERM, then SIGKILL after this long.
    pub stop_timeout_seconds: Seconds,
    /// `[[linuxptp.instance]]` entries.
    #[serde(rename = "instance")]
    pub instances: Vec<InstanceConfig>,
}

impl Default for LinuxPtpConfig {
    fn default() -> Self {
        Self {
            run_dir: PathBuf::from("/run/murmuration/linuxptp"),
            ptp4l: PathBuf::from("ptp4l"),
            phc2sys: PathBuf::from("phc2sys"),
            ts2phc: PathBuf::from("ts2phc"),
            restart_initial_seconds: secs(1.0),
            restart_max_seconds: secs(60.0),
            stable_seconds: secs(60.0),
            stop_timeout_seconds: secs(5.0),
            instances: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// `slaveOnly 1`: follows a master and disciplines the PHC (or the clock).
    #[default]
    Client,
    /// `masterOnly 1`: serves time, never follows.
    Master,
    /// `slaveOnly 1` and `free_running 1`: measures, never adjusts a clock.
    FreeRunning,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Timestamping {
    #[default]
    Hardware,
    Software,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum Transport {
    #[default]
    #[serde(rename = "udpv4")]
    UdpV4,
    #[serde(rename = "udpv6")]
    UdpV6,
    #[serde(rename = "l2")]
    L2,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum DelayMechanism {
    #[default]
    E2E,
    P2P,
}

/// One ptp4l (and optionally its phc2sys and ts2phc).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceConfig {
    /// Names the files, sockets and metric labels: 1-32 of `[A-Za-z0-9_-]`.
    pub name: String,
    pub interface: String,
    #[serde(default)]
    pub domain: u8,
    #[serde(default)]
    pub role: Role,
    #[serde(default)]
    pub timestamping: Timestamping,
    #[serde(default)]
    pub transport: Transport,
    #[serde(default)]
    pub delay_mechanism: DelayMechanism,
    pub priority1: Option<u8>,
    pub priority2: Option<u8>,
    pub log_announce_interval: Option<i8>,
    pub log_sync_interval: Option<i8>,
    pub log_min_delay_req_interval: Option<i8>,
    pub announce_receipt_timeout: Option<u8>,
    /// The PI servo's gains (ptp4l's defaults depend on the timestamping).
    pub pi_proportional_const: Option<f64>,
    pub pi_integral_const: Option<f64>,
    /// Run the programs in this network namespace (a path such as
    /// `/run/netns/ptp`); unset: the daemon's own.
    pub netns: Option<PathBuf>,
    /// The `[ptp]` poller watches this instance (as a `[[ptp.instance]]`).
    #[serde(default)]
    pub monitor: bool,
    pub phc2sys: Option<Phc2sysConfig>,
    pub ts2phc: Option<Ts2phcConfig>,
}

/// phc2sys in automatic mode (`-a`), following this instance's ptp4l.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phc2sysConfig {
    /// `-r`: also synchronise the system clock (default true).
    #[serde(default = "yes")]
    pub realtime: bool,
    pub step_threshold: Option<f64>,
    pub first_step_threshold: Option<f64>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ts2phcSource {
    #[default]
    Generic,
    Nmea,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Polarity {
    #[default]
    Rising,
    Falling,
    Both,
}

/// ts2phc disciplining the instance interface's PHC from a PPS source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ts2phcConfig {
    #[serde(default)]
    pub source: Ts2phcSource,
    /// `ts2phc.nmea_serialport`: needed with `source = "nmea"`.
    pub nmea_serialport: Option<PathBuf>,
    pub pulsewidth_ns: Option<u32>,
    #[serde(default)]
    pub extts_polarity: Polarity,
}

impl LinuxPtpConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let mut names = std::collections::HashSet::new();
        for i in &self.instances {
            let ok = (1..=32).contains(&i.name.len())
                && i.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !ok {
                return bad(format!(
                    "linuxptp.instance name {:?}: 1-32 of A-Z a-z 0-9 _ -",
                    i.name
                ));
            }
            if !names.insert(&i.name) {
                return bad(format!("linuxptp.instance name {:?} is used twice", i.name));
            }
            if i.interface.is_empty() || i.interface.len() > 15 || i.interface.contains(['/', ' '])
            {
                return bad(format!("linuxptp.instance {}: interface {:?}", i.name, i.interface));
            }
            if let Some(t) = &i.ts2phc
                && t.source == Ts2phcSource::Nmea
                && t.nmea_serialport.is_none()
            {
                return bad(format!(
                    "linuxptp.instance {}: ts2phc source nmea needs nmea_serialport",
                    i.name
                ));
            }
        }
        if self.restart_initial_seconds.get() > self.restart_max_seconds.get() {
            return bad("linuxptp: restart_initial_seconds exceeds restart_max_seconds".into());
        }
        Ok(())
    }

    /// The instance's ptp4l management socket (`uds_address`).
    pub fn socket(&self, instance: &InstanceConfig) -> PathBuf {
        self.run_dir.join(format!("{}.sock", instance.name))
    }

    /// Every instance with `monitor = true` turns the `[ptp]` poller on and
    /// is polled as a `[[ptp.instance]]` of the same name (its socket and
    /// domain), after any listed there.
    pub fn feed_poller(&self, ptp: &mut PtpConfig) {
        for i in self.instances.iter().filter(|i| i.monitor) {
            ptp.enabled = true;
            ptp.instance_list.push(super::PtpInstance {
                name: i.name.clone(),
                ptp4l_socket: self.socket(i),
                domain: i.domain,
            });
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PtpStateConfig {
    /// Write the file on every poll while `[ptp]` is enabled.
    pub enabled: bool,
    /// The plugin's `ptpStateFile` must name the same path.
    pub file: PathBuf,
}

impl Default for PtpStateConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            file: PathBuf::from(murmuration_core::ptp::lockstate::DEFAULT_STATE_FILE),
        }
    }
}

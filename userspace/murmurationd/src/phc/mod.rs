//! PTP hardware clocks: discovery (`<sysfs>/class/ptp/ptp*`), each
//! configured interface's timestamping capabilities and PHC
//! (`ETHTOOL_GET_TS_INFO`), hardware timestamping by policy
//! (`SIOCSHWTSTAMP`, once at start), and every PHC's offset to
//! CLOCK_REALTIME each poll (`PTP_SYS_OFFSET_PRECISE`, else `_EXTENDED`,
//! else plain `PTP_SYS_OFFSET`), published as metrics.

pub mod offset;
mod sys;

use crate::metrics::label::Lv;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::Shared;
use crate::config::{HwTimestamping, PhcConfig};
pub use offset::{Estimate, Sample, estimate};

/// A PHC found under `<sysfs>/class/ptp`: its index N (`/dev/ptpN`) and driver name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clock {
    pub index: u32,
    pub name: String,
}

/// The PHCs under `<sysfs>/class/ptp`, by index; none when the class is absent.
pub fn discover(sysfs: &Path) -> Vec<Clock> {
    let Ok(rd) = std::fs::read_dir(sysfs.join("class/ptp")) else { return Vec::new() };
    let mut clocks: Vec<Clock> = rd
        .filter_map(Result::ok)
        .filter_map(|e| {
            let file = e.file_name();
            let index = file.to_str()?.strip_prefix("ptp")?.parse().ok()?;
            let name = std::fs::read_to_string(e.path().join("clock_name")).unwrap_or_default();
            Some(Clock { index, name: name.trim().to_owned() })
        })
        .collect();
    clocks.sort_by_key(|c| c.index);
    clocks
}

/// Measures `/dev/ptpN`'s offset with the best method the driver has.
fn measure(dev: &File, samples: u32) -> std::io::Result<(&'static str, Option<Estimate>)> {
    if let Ok(s) = sys::offset_precise(dev) {
        return Ok(("precise", estimate(&[s])));
    }
    match sys::offset_extended(dev, samples) {
        Ok(s) => Ok(("extended", estimate(&s))),
        Err(_) => Ok(("basic", estimate(&sys::offset_basic(dev, samples)?))),
    }
}

/// Capability names exported as `capability` label values.
const CAPABILITIES: [(&str, u32); 4] = [
    ("hardware_tx", libc::SOF_TIMESTAMPING_TX_HARDWARE),
    ("hardware_rx", libc::SOF_TIMESTAMPING_RX_HARDWARE),
    ("software_tx", libc::SOF_TIMESTAMPING_TX_SOFTWARE),
    ("software_rx", libc::SOF_TIMESTAMPING_RX_SOFTWARE),
];

/// Applies the policy to one interface; returns whether hardware
/// timestamping is on. `Err` only when the policy is `required`.
fn enable(ifname: &str, ts: &sys::TsInfo, policy: HwTimestamping) -> Result<bool, String> {
    if policy == HwTimestamping::Off {
        return Ok(false);
    }
    let can_tx = ts.so_timestamping & libc::SOF_TIMESTAMPING_TX_HARDWARE != 0
        && ts.tx_types & (1 << libc::HWTSTAMP_TX_ON) != 0;
    let rx = if ts.rx_filters & (1 << libc::HWTSTAMP_FILTER_PTP_V2_EVENT) != 0 {
        libc::HWTSTAMP_FILTER_PTP_V2_EVENT
    } else {
        libc::HWTSTAMP_FILTER_ALL
    };
    let result = if can_tx {
        sys::set_hwtstamp(ifname, libc::HWTSTAMP_TX_ON, rx).map_err(|e| e.to_string())
    } else {
        Err("no hardware TX timestamping".to_owned())
    };
    match (result, policy) {
        (Ok((tx, rx)), _) => {
            tracing::info!(ifname, tx_type = tx, rx_filter = rx, "hardware timestamping on");
            Ok(tx == libc::HWTSTAMP_TX_ON)
        }
        (Err(e), HwTimestamping::Required) => Err(e),
        (Err(e), _) => {
            tracing::info!(ifname, reason = %e, "hardware timestamping not available (auto)");
            Ok(false)
        }
    }
}

/// Whether hardware TX timestamping is on for `ifname` (`SIOCGHWTSTAMP`);
/// `None` when the driver cannot say.
pub(crate) fn hw_timestamping_on(ifname: &str) -> Option<bool> {
    sys::get_hwtstamp(ifname).ok().map(|(tx, _)| tx == libc::HWTSTAMP_TX_ON)
}

/// Turns hardware timestamping on for `ifname` as `hw_timestamping =
/// "required"` does; the error says why it is not on.
pub(crate) fn require_hw_timestamping(ifname: &str) -> Result<(), String> {
    let ts = sys::ts_info(ifname).map_err(|e| format!("ETHTOOL_GET_TS_INFO: {e}"))?;
    match enable(ifname, &ts, HwTimestamping::Required)? {
        true => Ok(()),
        false => Err("the driver did not turn TX timestamping on".to_owned()),
    }
}

fn setup_interfaces(s: &Shared, cfg: &PhcConfig) {
    let m = &s.metrics;
    for ifname in &cfg.interfaces {
        let l =
            |k: &'static str, v: &str| vec![("ifname", Lv::from(ifname.clone())), (k, Lv::from(v))];
        let ts = match sys::ts_info(ifname) {
            Ok(ts) => ts,
            Err(e) => {
                tracing::error!(ifname, error = %e, "ETHTOOL_GET_TS_INFO failed");
                m.task_error("phc");
                continue;
            }
        };
        let ifl = vec![("ifname", Lv::from(ifname.clone()))];
        m.if_phc_index.get_or_create(&ifl).set(i64::from(ts.phc_index));
        for (name, bit) in CAPABILITIES {
            let on = i64::from(ts.so_timestamping & bit != 0);
            m.if_timestamping_capability.get_or_create(&l("capability", name)).set(on);
        }
        let on = enable(ifname, &ts, cfg.hw_timestamping).unwrap_or_else(|e| {
            tracing::error!(ifname, error = %e, "hardware timestamping required but not enabled");
            m.task_error("phc");
            false
        });
        m.if_hw_timestamping.get_or_create(&ifl).set(i64::from(on));
    }
}

fn poll_clocks(s: &Shared, cfg: &PhcConfig) {
    let clocks = discover(&cfg.sysfs_root);
    s.metrics.phc_clocks.set(clocks.len() as i64);
    for c in clocks {
        let path = cfg.dev_dir.join(format!("ptp{}", c.index));
        let label = vec![("clock", Lv::from(format!("ptp{}", c.index)))];
        let result = File::open(&path).and_then(|f| measure(&f, cfg.samples));
        match result {
            Ok((method, Some(e))) => {
                s.set_phc_offset(format!("ptp{}", c.index), e.offset_ns);
                s.metrics.phc_offset.get_or_create(&label).set(e.offset_ns / 1e9);
                s.metrics.phc_uncertainty.get_or_create(&label).set(e.uncertainty_ns / 1e9);
                let info = vec![
                    label[0].clone(),
                    ("name", Lv::from(c.name)),
                    ("method", Lv::from(method)),
                ];
                s.metrics.phc_info.get_or_create(&info).set(1);
            }
            Ok((_, None)) => tracing::debug!(clock = %path.display(), "no usable reading"),
            Err(e) => {
                tracing::warn!(clock = %path.display(), error = %e, "PHC offset not measured");
                s.metrics.task_error("phc");
            }
        }
    }
}

/// Sets up timestamping once, then measures every poll until shutdown.
pub async fn run(s: Arc<Shared>, shutdown: CancellationToken) {
    let cfg = s.config.phc.clone();
    setup_interfaces(&s, &cfg);
    let clocks = discover(&cfg.sysfs_root);
    if clocks.is_empty() {
        tracing::info!(sysfs = %cfg.sysfs_root.display(), "no PTP hardware clock found");
    }
    let mut tick = tokio::time::interval(cfg.poll_seconds.get());
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => poll_clocks(&s, &cfg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_reads_the_ptp_class_and_tolerates_its_absence() {
        let t = tempfile::tempdir().expect("tempdir");
        assert_eq!(discover(t.path()), Vec::new(), "no class/ptp: no PHC");
        for (dir, name) in [("ptp1", "igb\n"), ("ptp0", "e1000e"), ("rtc0", "x")] {
            let d = t.path().join("class/ptp").join(dir);
            std::fs::create_dir_all(&d).expect("mkdir");
            std::fs::write(d.join("clock_name"), name).expect("write");
        }
        let clock = |index, name: &str| Clock { index, name: name.to_owned() };
        assert_eq!(discover(t.path()), [clock(0, "e1000e"), clock(1, "igb")]);
    }
}

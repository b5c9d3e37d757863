//! Reading an uplink's counters and latency histograms from the pinned maps,
//! without the lock (per-CPU maps are read per CPU and summed here).

use std::path::Path;

use murmuration_common::{
    Counters, DIR_FROM_POD, DIR_TO_POD, HIST_PROG, HIST_RX_TSTAMP, PodConfig, counter_index,
    hist_index, map_names,
};

pub use murmuration_common::Histogram;

use super::error::DatapathError;
use super::maps::Maps;

/// Counters of one attachment, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortCounters {
    pub to_pod: Counters,
    pub from_pod: Counters,
}

/// Latency histograms of one attachment, summed over CPUs; index 0 is the
/// direction to the pod, 1 from the pod (`DIR_*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortLatency {
    /// Program entry -> redirect (the fast path's own time).
    pub prog: [Histogram; 2],
    /// Kernel RX software timestamp -> redirect (queueing before the hook).
    pub rx_tstamp: [Histogram; 2],
}

/// Read-only view of an uplink's maps (`<pin_root>/<uplink>`).
#[derive(Debug)]
pub struct Reader {
    maps: Maps,
}

impl Reader {
    pub fn open(pin_dir: &Path) -> Result<Self, DatapathError> {
        Ok(Self { maps: Maps::open(pin_dir)? })
    }

    /// (host veth ifindex, config) of every port, by attachment id.
    pub fn ports(&self) -> Vec<(u32, PodConfig)> {
        self.maps.ports()
    }

    /// Number of (VLAN, MAC) entries and VLAN flood lists.
    pub fn entry_counts(&self) -> (usize, usize) {
        (self.maps.attach.keys().count(), self.maps.vlans.keys().count())
    }

    /// Counters of `attach_id` (0: the node slot, frames the uplink program
    /// passed on to the node's stack).
    pub fn counters(&self, attach_id: u32) -> Result<PortCounters, DatapathError> {
        let sum = |dir| -> Result<Counters, DatapathError> {
            let values = self
                .maps
                .counters
                .get(&counter_index(attach_id, dir), 0)
                .map_err(DatapathError::map(map_names::COUNTERS))?;
            let mut total = Counters::default();
            values.iter().for_each(|c| total.add(c));
            Ok(total)
        };
        Ok(PortCounters { to_pod: sum(DIR_TO_POD)?, from_pod: sum(DIR_FROM_POD)? })
    }

    pub fn latency(&self, attach_id: u32) -> Result<PortLatency, DatapathError> {
        let sum = |dir, kind| -> Result<Histogram, DatapathError> {
            let values = self
                .maps
                .latency
                .get(&hist_index(attach_id, dir, kind), 0)
                .map_err(DatapathError::map(map_names::LATENCY))?;
            let mut total = Histogram::default();
            values.iter().for_each(|h| total.add(h));
            Ok(total)
        };
        Ok(PortLatency {
            prog: [sum(DIR_TO_POD, HIST_PROG)?, sum(DIR_FROM_POD, HIST_PROG)?],
            rx_tstamp: [sum(DIR_TO_POD, HIST_RX_TSTAMP)?, sum(DIR_FROM_POD, HIST_RX_TSTAMP)?],
        })
    }
}

/// Switches the uplink's forwarding counters and latency samples on or off
/// at run time (drops are always counted). For measuring what counting
/// costs; new fast paths count.
pub fn set_counting(pin_dir: &Path, on: bool) -> Result<(), DatapathError> {
    use murmuration_common::{SETTING_F_NO_STATS, SETTING_FLAGS};
    let mut maps = Maps::open(pin_dir)?;
    let flags = maps.settings.get(&SETTING_FLAGS, 0).unwrap_or(0);
    let flags = if on { flags & !SETTING_F_NO_STATS } else { flags | SETTING_F_NO_STATS };
    maps.settings.set(SETTING_FLAGS, flags, 0).map_err(DatapathError::map(map_names::SETTINGS))
}

/// Upper bound (ns) of the bucket holding quantile `permille`/1000, or None
/// for an empty histogram. Bucket `i` holds `[2^i, 2^(i+1))` ns.
pub fn quantile_le_ns(h: &Histogram, permille: u64) -> Option<u64> {
    let rank = (h.count * permille).div_ceil(1000).max(1);
    let mut seen = 0;
    for (i, n) in h.buckets.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return Some(1u64 << (i + 1));
        }
    }
    None
}

/// Cumulative `(le_seconds, count)` pairs, as a Prometheus histogram's buckets.
pub fn prometheus_buckets(h: &Histogram) -> Vec<(f64, u64)> {
    let mut acc = 0;
    h.buckets
        .iter()
        .enumerate()
        .map(|(i, n)| {
            acc += n;
            ((1u64 << (i + 1)) as f64 / 1e9, acc)
        })
        .collect()
}

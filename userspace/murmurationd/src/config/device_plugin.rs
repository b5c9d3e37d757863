//! `[device_plugin]` and `[[device_plugin.pool]]`: murmurationd as a kubelet
//! device plugin, one resource `<resource_prefix>/<pool name>` per pool.

use std::collections::HashSet;
use std::ops::RangeInclusive;
use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, Seconds, secs};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DevicePluginConfig {
    pub enabled: bool,
    /// The resources' vendor domain: `<resource_prefix>/<pool name>`.
    pub resource_prefix: String,
    /// Where `kubelet.sock` is and where the pools' sockets are created.
    pub kubelet_dir: PathBuf,
    /// Where the NPWG device-info file of every allocated VF is written.
    pub devinfo_dir: PathBuf,
    /// Where `class/net` and `bus/pci/devices` are read.
    pub sysfs_root: PathBuf,
    /// Where the `vfio/` character devices are.
    pub dev_dir: PathBuf,
    /// Full sysfs re-scan even without link events (driver rebinds send none).
    pub rescan_seconds: Seconds,
    /// How often `kubelet.sock` is checked for having been recreated.
    pub kubelet_poll_seconds: Seconds,
    #[serde(rename = "pool")]
    pub pools: Vec<PoolConfig>,
}

impl Default for DevicePluginConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            resource_prefix: "murmuration.io".into(),
            kubelet_dir: PathBuf::from("/var/lib/kubelet/device-plugins"),
            devinfo_dir: PathBuf::from("/var/run/k8s.cni.cncf.io/devinfo/dp"),
            sysfs_root: PathBuf::from("/sys"),
            dev_dir: PathBuf::from("/dev"),
            rescan_seconds: secs(5.0),
            kubelet_poll_seconds: secs(0.5),
            pools: Vec::new(),
        }
    }
}

/// One `[[device_plugin.pool]]`. A VF belongs to the first pool all of whose
/// non-empty selectors match it; `drivers` decides health, not membership.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    pub name: PoolName,
    /// `eth0` (all its VFs) or `eth0#0-3`, `eth0#0,2,4-5` (those VF indices).
    #[serde(default)]
    pub pf_names: Vec<PfSelector>,
    /// PCI vendor ids of the VFs, hex (`8086`).
    #[serde(default)]
    pub vendors: Vec<HexId>,
    /// PCI device ids of the VFs, hex (`10ca`).
    #[serde(default)]
    pub devices: Vec<HexId>,
    /// NUMA nodes the VFs sit on (a VF without one matches no entry).
    #[serde(default)]
    pub numa_nodes: Vec<i64>,
    /// Drivers a healthy VF is bound to (`igbvf`, `vfio-pci`); empty: any driver.
    #[serde(default)]
    pub drivers: Vec<String>,
}

/// A pool's name: 1-63 of `[A-Za-z0-9_.-]`, starting with an alphanumeric.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct PoolName(String);

impl PoolName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PoolName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
        let first = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        if first && s.len() <= 63 && s.chars().all(ok) {
            Ok(Self(s))
        } else {
            Err(format!("pool name {s:?}: expected 1-63 of [A-Za-z0-9_.-], alphanumeric first"))
        }
    }
}

/// A 16-bit PCI id written in hex (`8086`, `0x10ca`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct HexId(pub u16);

impl TryFrom<String> for HexId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let digits = s.strip_prefix("0x").unwrap_or(&s);
        u16::from_str_radix(digits, 16)
            .ok()
            .filter(|_| (1..=4).contains(&digits.len()))
            .map(Self)
            .ok_or_else(|| format!("PCI id {s:?}: expected 1-4 hex digits"))
    }
}

/// `pf` or `pf#ranges`: a PF by netdev name and, optionally, VF indices.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct PfSelector {
    pub pf: String,
    /// `None`: every VF of the PF.
    pub indices: Option<Vec<RangeInclusive<u32>>>,
}

impl PfSelector {
    pub fn matches(&self, pf: &str, index: u32) -> bool {
        self.pf == pf && self.indices.as_ref().is_none_or(|r| r.iter().any(|r| r.contains(&index)))
    }
}

fn parse_range(part: &str) -> Option<RangeInclusive<u32>> {
    let (lo, hi) = part.split_once('-').unwrap_or((part, part));
    let (lo, hi) = (lo.trim().parse().ok()?, hi.trim().parse().ok()?);
    (lo <= hi).then_some(lo..=hi)
}

impl TryFrom<String> for PfSelector {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let bad = |why: &str| format!("PF selector {s:?}: {why} (expected `pf` or `pf#0-3,5`)");
        let (pf, ranges) = match s.split_once('#') {
            Some((pf, ranges)) => (pf, Some(ranges)),
            None => (s.as_str(), None),
        };
        if pf.is_empty() || pf.len() > 15 || pf.contains(['/', ' ']) {
            return Err(bad("not an interface name"));
        }
        let indices = match ranges {
            None => None,
            Some(r) => Some(
                r.split(',')
                    .map(parse_range)
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| bad("VF indices must be numbers or ascending ranges"))?,
            ),
        };
        Ok(Self { pf: pf.to_owned(), indices })
    }
}

fn valid_prefix(p: &str) -> bool {
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    !p.is_empty() && p.len() <= 253 && p.split('.').all(label)
}

impl DevicePluginConfig {
    /// `<resource_prefix>/<pool>`.
    pub fn resource_name(&self, pool: &PoolConfig) -> String {
        format!("{}/{}", self.resource_prefix, pool.name.as_str())
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if !valid_prefix(&self.resource_prefix) {
            return Err(ConfigError::Invalid(format!(
                "device_plugin.resource_prefix {:?}: expected a DNS subdomain (murmuration.io)",
                self.resource_prefix
            )));
        }
        let mut names = HashSet::new();
        for p in &self.pools {
            if !names.insert(p.name.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "device_plugin.pool name {:?} used twice",
                    p.name.as_str()
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "device_plugin_tests.rs"]
mod tests;

//! `[[sriov.pf]]` (PF provisioning) and `[drift]` (attachment drift detection).

use std::collections::BTreeMap;

use murmuration_core::cni::config::LinkState;
use murmuration_core::cni::types::PciAddress;
use serde::Deserialize;

use super::{ConfigError, Seconds, secs};

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SriovConfig {
    /// `[[sriov.pf]]` entries: PFs the daemon provisions.
    pub pf: Vec<PfConfig>,
}

/// A VF range `N` or `N-M` (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct VfRange {
    pub first: u32,
    pub last: u32,
}

impl TryFrom<String> for VfRange {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let bad = || format!("VF range {s:?}: expected N or N-M");
        let (a, b) = s.split_once('-').unwrap_or((&s, &s));
        let first: u32 = a.trim().parse().map_err(|_| bad())?;
        let last: u32 = b.trim().parse().map_err(|_| bad())?;
        if first > last {
            return Err(bad());
        }
        Ok(Self { first, last })
    }
}

impl VfRange {
    pub fn contains(self, vf: u32) -> bool {
        (self.first..=self.last).contains(&vf)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriverRange {
    pub vfs: VfRange,
    /// The kernel VF driver (`igbvf`, `iavf`, ...) or a userspace one (`vfio-pci`).
    pub driver: String,
}

/// Settings every VF of the PF gets (where the driver allows them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VfDefaults {
    pub spoofchk: Option<bool>,
    pub trust: Option<bool>,
    pub link_state: Option<LinkStateName>,
}

/// `auto`, `enable` or `disable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct LinkStateName(pub LinkState);

impl TryFrom<String> for LinkStateName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "auto" => Ok(Self(LinkState::Auto)),
            "enable" => Ok(Self(LinkState::Enable)),
            "disable" => Ok(Self(LinkState::Disable)),
            _ => Err(format!("link_state {s:?}: expected auto, enable or disable")),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PfConfig {
    /// The PF by netdev name...
    pub name: Option<String>,
    /// ...or by PCI address (exactly one of the two).
    pub address: Option<String>,
    pub numvfs: Option<u32>,
    /// The driver per VF range; VFs in no range keep theirs.
    pub drivers: Vec<DriverRange>,
    pub mtu: Option<u32>,
    /// Bring the PF up (default) or leave its state alone (`false`).
    pub up: Option<bool>,
    /// Turn hardware timestamping on (as `[phc] hw_timestamping = "required"`).
    pub hw_timestamping: bool,
    pub vf_defaults: VfDefaults,
    /// Change numvfs even while VFs have live attachments.
    pub force: bool,
}

impl PfConfig {
    /// The PF's name in logs and labels: its netdev name, else its address.
    pub fn label(&self) -> &str {
        self.name.as_deref().or(self.address.as_deref()).unwrap_or("")
    }

    /// The driver configured for VF `vf`, if any (the first range wins).
    pub fn driver_for(&self, vf: u32) -> Option<&str> {
        self.drivers.iter().find(|d| d.vfs.contains(vf)).map(|d| d.driver.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DriftConfig {
    pub enabled: bool,
    /// How often every sriov attachment's VF is compared with its record.
    pub interval_seconds: Seconds,
    /// Re-apply the recorded value when a field drifted.
    pub repair: bool,
}

impl Default for DriftConfig {
    fn default() -> Self {
        Self { enabled: true, interval_seconds: secs(30.0), repair: false }
    }
}

pub fn validate(cfg: &SriovConfig) -> Result<(), ConfigError> {
    let bad = |m: String| Err(ConfigError::Invalid(m));
    let mut seen = BTreeMap::new();
    for (i, pf) in cfg.pf.iter().enumerate() {
        match (&pf.name, &pf.address) {
            (Some(_), None) => {}
            (None, Some(a)) => {
                if let Err(e) = PciAddress::parse(a) {
                    return bad(format!("sriov.pf[{i}].address: {e}"));
                }
            }
            _ => return bad(format!("sriov.pf[{i}]: exactly one of name and address")),
        }
        if seen.insert(pf.label().to_owned(), i).is_some() {
            return bad(format!("sriov.pf[{i}]: {} listed twice", pf.label()));
        }
        if let Some(d) = pf.drivers.iter().find(|d| d.driver.is_empty() || d.driver.contains('/')) {
            return bad(format!("sriov.pf[{i}]: driver {:?} is not a driver name", d.driver));
        }
        if let Some(n) = pf.numvfs
            && let Some(d) = pf.drivers.iter().find(|d| d.vfs.last >= n)
        {
            return bad(format!("sriov.pf[{i}]: VF {} is beyond numvfs {n}", d.vfs.last));
        }
        if pf.mtu.is_some_and(|m| !(68..=65535).contains(&m)) {
            return bad(format!("sriov.pf[{i}].mtu must be 68-65535"));
        }
    }
    Ok(())
}

//! SR-IOV topology from sysfs: a VF's PF, its index and its driver.
//!
//! The root is passed in (`/sys` in production, a fake tree in unit tests).
//! Names under `class/net` and `bus/pci/devices/*/net` are those of the
//! namespace that mounted sysfs: the host's, for the plugin.

use std::io;
use std::path::{Path, PathBuf};

use crate::cni::types::PciAddress;

#[derive(Debug, thiserror::Error)]
pub enum SysfsError {
    #[error("PCI device {pci} not found under {root}")]
    NoDevice { pci: String, root: PathBuf },
    #[error("PCI device {pci} is not an SR-IOV VF (no physfn)")]
    NotVf { pci: String },
    #[error("VF {pci} is not listed among its PF {pf}'s virtfn links")]
    NoIndex { pci: String, pf: String },
    #[error("PF {pf} has no network interface in this namespace")]
    NoPfNetdev { pf: String },
    #[error("reading {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Drivers that hand a VF to userspace (DPDK and friends): no netdev.
pub const USERSPACE_DRIVERS: &[&str] = &["vfio-pci", "uio_pci_generic", "igb_uio"];

/// What sysfs says about one VF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VfDevice {
    pub pci: String,
    pub pf_pci: String,
    pub pf_netdev: String,
    pub index: u32,
    /// The bound driver (`igbvf`, `vfio-pci`, ...), if any.
    pub driver: Option<String>,
    /// The VF's netdev in this namespace, if it has one here.
    pub netdev: Option<String>,
}

impl VfDevice {
    pub fn is_userspace(&self) -> bool {
        self.driver.as_deref().is_some_and(|d| USERSPACE_DRIVERS.contains(&d))
    }
}

#[derive(Debug, Clone)]
pub struct Sysfs {
    root: PathBuf,
}

impl Default for Sysfs {
    fn default() -> Self {
        Self::new("/sys")
    }
}

fn link_name(path: &Path) -> Option<String> {
    let target = std::fs::read_link(path).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

fn first_entry(dir: &Path) -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.into_iter().next()
}

impl Sysfs {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn device(&self, pci: &str) -> PathBuf {
        self.root.join("bus/pci/devices").join(pci)
    }

    /// Resolves a VF: its PF (PCI address and netdev), index, driver and netdev.
    pub fn vf(&self, pci: &PciAddress) -> Result<VfDevice, SysfsError> {
        let pci = pci.as_ref().to_owned();
        let dev = self.device(&pci);
        if !dev.exists() {
            return Err(SysfsError::NoDevice { pci, root: self.root.clone() });
        }
        let pf_pci =
            link_name(&dev.join("physfn")).ok_or(SysfsError::NotVf { pci: pci.clone() })?;
        let index = self.vf_index(&pf_pci, &pci)?;
        let pf_netdev = first_entry(&self.device(&pf_pci).join("net"))
            .ok_or_else(|| SysfsError::NoPfNetdev { pf: pf_pci.clone() })?;
        Ok(VfDevice {
            driver: link_name(&dev.join("driver")),
            netdev: self.netdev(&pci),
            pci,
            pf_pci,
            pf_netdev,
            index,
        })
    }

    /// The netdev of PCI function `pci` in this namespace, if any.
    pub fn netdev(&self, pci: &str) -> Option<String> {
        first_entry(&self.device(pci).join("net"))
    }

    fn vf_index(&self, pf: &str, vf: &str) -> Result<u32, SysfsError> {
        let dir = self.device(pf);
        let entries = std::fs::read_dir(&dir)
            .map_err(|source| SysfsError::Io { path: dir.clone(), source })?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(n) = name.to_str().and_then(|n| n.strip_prefix("virtfn")) else { continue };
            if link_name(&entry.path()).as_deref() == Some(vf)
                && let Ok(index) = n.parse()
            {
                return Ok(index);
            }
        }
        Err(SysfsError::NoIndex { pci: vf.to_owned(), pf: pf.to_owned() })
    }
}

#[cfg(test)]
#[path = "sysfs_tests.rs"]
mod tests;

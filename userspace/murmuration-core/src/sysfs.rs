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

    /// The PCI address of netdev `name` in this namespace (`class/net/<name>/device`).
    pub fn pci_of_netdev(&self, name: &str) -> Option<String> {
        link_name(&self.root.join("class/net").join(name).join("device"))
    }

    fn read_trimmed(&self, path: PathBuf) -> Result<String, SysfsError> {
        std::fs::read_to_string(&path)
            .map(|s| s.trim().to_owned())
            .map_err(|source| SysfsError::Io { path, source })
    }

    fn write(&self, path: PathBuf, value: &str) -> Result<(), SysfsError> {
        std::fs::write(&path, value).map_err(|source| SysfsError::Io { path, source })
    }

    fn read_u32(&self, path: PathBuf) -> Result<u32, SysfsError> {
        let text = self.read_trimmed(path.clone())?;
        text.parse().map_err(|_| SysfsError::Io {
            path,
            source: io::Error::new(io::ErrorKind::InvalidData, format!("not a number: {text:?}")),
        })
    }

    /// The PF's current VF count (`sriov_numvfs`).
    pub fn numvfs(&self, pf: &str) -> Result<u32, SysfsError> {
        self.read_u32(self.device(pf).join("sriov_numvfs"))
    }

    /// The most VFs the PF supports (`sriov_totalvfs`).
    pub fn totalvfs(&self, pf: &str) -> Result<u32, SysfsError> {
        self.read_u32(self.device(pf).join("sriov_totalvfs"))
    }

    /// Sets the PF's VF count. The kernel refuses to change a non-zero
    /// count directly, so a change between two non-zero counts goes
    /// through 0 (every VF is destroyed and recreated).
    pub fn set_numvfs(&self, pf: &str, n: u32) -> Result<(), SysfsError> {
        let path = self.device(pf).join("sriov_numvfs");
        if n != 0 && self.numvfs(pf)? != 0 {
            self.write(path.clone(), "0")?;
        }
        self.write(path, &n.to_string())
    }

    /// Whether new VFs of `pf` are bound to a driver by the kernel (`sriov_drivers_autoprobe`).
    pub fn drivers_autoprobe(&self, pf: &str) -> bool {
        self.read_trimmed(self.device(pf).join("sriov_drivers_autoprobe")).is_ok_and(|v| v == "1")
    }

    /// The PCI address of VF `index` of PF `pf` (`virtfn<index>`).
    pub fn virtfn(&self, pf: &str, index: u32) -> Option<String> {
        link_name(&self.device(pf).join(format!("virtfn{index}")))
    }

    /// The driver bound to PCI function `pci`, if any.
    pub fn driver(&self, pci: &str) -> Option<String> {
        link_name(&self.device(pci).join("driver"))
    }

    /// The NUMA node of PCI function `pci` (`None` when the platform has none: -1).
    pub fn numa_node(&self, pci: &str) -> Option<u32> {
        self.read_trimmed(self.device(pci).join("numa_node")).ok()?.parse().ok()
    }

    /// Binds `pci` to `driver`: unbind from the current driver, set
    /// `driver_override` (so the PCI core matches only that driver), bind.
    pub fn bind(&self, pci: &str, driver: &str) -> Result<(), SysfsError> {
        if let Some(current) = self.driver(pci) {
            if current == driver {
                return Ok(());
            }
            self.write(self.root.join("bus/pci/drivers").join(&current).join("unbind"), pci)?;
        }
        self.write(self.device(pci).join("driver_override"), driver)?;
        self.write(self.root.join("bus/pci/drivers").join(driver).join("bind"), pci)
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

//! The node's VFs as sysfs shows them, sorted into pools, with health.
//!
//! A PF is any netdev under `class/net` with `device/sriov_numvfs`; its VFs
//! are its `device/virtfnN` links, resolved with the core's [`Sysfs`].

use std::fs;
use std::path::Path;

use murmuration_core::cni::types::PciAddress;
use murmuration_core::sysfs::{Sysfs, VfDevice};

use crate::config::PoolConfig;

pub const HEALTHY: &str = "Healthy";
pub const UNHEALTHY: &str = "Unhealthy";

/// One VF of a pool, as announced to the kubelet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vf {
    pub dev: VfDevice,
    pub vendor: Option<u16>,
    pub device: Option<u16>,
    /// `None` when the platform has no NUMA information (`numa_node` -1).
    pub numa: Option<i64>,
    pub iommu_group: Option<String>,
    /// Whether its PF is up (administratively and operationally).
    pub pf_up: bool,
    pub healthy: bool,
}

impl Vf {
    pub fn id(&self) -> &str {
        &self.dev.pci
    }
}

fn read_trim(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

fn read_hex(path: &Path) -> Option<u64> {
    let s = read_trim(path)?;
    u64::from_str_radix(s.trim_start_matches("0x"), 16).ok()
}

fn link_name(path: &Path) -> Option<String> {
    Some(fs::read_link(path).ok()?.file_name()?.to_string_lossy().into_owned())
}

/// Up means IFF_UP set and an operational state of `up` (or `unknown`,
/// which drivers without carrier reporting show).
fn pf_up(root: &Path, pf: &str) -> bool {
    let dir = root.join("class/net").join(pf);
    let admin = read_hex(&dir.join("flags")).is_some_and(|f| f & 1 == 1);
    let oper = read_trim(&dir.join("operstate"));
    admin && matches!(oper.as_deref(), Some("up" | "unknown"))
}

/// The PCI addresses of every VF of every SR-IOV PF, in PF then index order.
fn vf_addresses(root: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(root.join("class/net")) else { return Vec::new() };
    let mut pfs: Vec<_> = entries
        .flatten()
        .map(|e| e.path().join("device"))
        .filter(|d| d.join("sriov_numvfs").exists())
        .collect();
    pfs.sort();
    let mut out = Vec::new();
    for pf in pfs {
        let Ok(entries) = fs::read_dir(&pf) else { continue };
        let mut vfs: Vec<(u32, String)> = entries
            .flatten()
            .filter_map(|e| {
                let n = e.file_name().to_str()?.strip_prefix("virtfn")?.parse().ok()?;
                Some((n, link_name(&e.path())?))
            })
            .collect();
        vfs.sort();
        out.extend(vfs.into_iter().map(|(_, pci)| pci));
    }
    out
}

fn describe(root: &Path, sysfs: &Sysfs, pci: &str) -> Option<Vf> {
    let dev = sysfs.vf(&PciAddress::parse(pci).ok()?).ok()?;
    let dir = root.join("bus/pci/devices").join(pci);
    let numa = sysfs.numa_node(pci).map(i64::from);
    Some(Vf {
        vendor: read_hex(&dir.join("vendor")).and_then(|v| u16::try_from(v).ok()),
        device: read_hex(&dir.join("device")).and_then(|v| u16::try_from(v).ok()),
        numa,
        iommu_group: link_name(&dir.join("iommu_group")),
        pf_up: pf_up(root, &dev.pf_netdev),
        healthy: false,
        dev,
    })
}

/// Every VF on the node (health not yet judged: that is per pool).
pub fn scan(root: &Path) -> Vec<Vf> {
    let sysfs = Sysfs::new(root);
    vf_addresses(root).iter().filter_map(|pci| describe(root, &sysfs, pci)).collect()
}

/// Whether `vf` belongs to `pool` (every non-empty selector matches).
pub fn selects(pool: &PoolConfig, vf: &Vf) -> bool {
    let pf_ok = pool.pf_names.is_empty()
        || pool.pf_names.iter().any(|s| s.matches(&vf.dev.pf_netdev, vf.dev.index));
    let vendor_ok = pool.vendors.is_empty() || pool.vendors.iter().any(|v| Some(v.0) == vf.vendor);
    let device_ok = pool.devices.is_empty() || pool.devices.iter().any(|d| Some(d.0) == vf.device);
    let numa_ok =
        pool.numa_nodes.is_empty() || vf.numa.is_some_and(|n| pool.numa_nodes.contains(&n));
    pf_ok && vendor_ok && device_ok && numa_ok
}

/// Healthy: PF up and bound to one of the pool's drivers (any driver when
/// the pool names none; an unbound VF is never healthy).
fn judge(pool: &PoolConfig, mut vf: Vf) -> Vf {
    let driver_ok = match vf.dev.driver.as_deref() {
        None => false,
        Some(d) => pool.drivers.is_empty() || pool.drivers.iter().any(|p| p == d),
    };
    vf.healthy = vf.pf_up && driver_ok;
    vf
}

/// Sorts VFs into pools: each VF goes to the first pool that selects it.
pub fn assign(pools: &[PoolConfig], vfs: Vec<Vf>) -> Vec<Vec<Vf>> {
    let mut out = vec![Vec::new(); pools.len()];
    for vf in vfs {
        if let Some(i) = pools.iter().position(|p| selects(p, &vf)) {
            out[i].push(judge(&pools[i], vf));
        }
    }
    out
}

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;

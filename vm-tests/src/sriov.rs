//! The SR-IOV fixture: the PF under test (QEMU NIC `52:54:00:4d:00:01`) with
//! fresh VFs, and the "wire" NIC on the same QEMU hub.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::cmd::{ip, ip_json};
use crate::wait_for;

pub const PF_MAC: &str = "52:54:00:4d:00:01";
pub const WIRE_MAC: &str = "52:54:00:4d:00:02";
pub const NUM_VFS: u32 = 7;

#[derive(Debug, Clone)]
pub struct Vf {
    pub index: u32,
    pub pci: String,
    /// The netdev name the VF got when it was created.
    pub netdev: String,
}

#[derive(Debug)]
pub struct Sriov {
    pub pf: String,
    pub pf_pci: String,
    pub wire: String,
    pub vfs: Vec<Vf>,
}

fn netdev_by_mac(mac: &str) -> String {
    for entry in fs::read_dir("/sys/class/net").expect("/sys/class/net").flatten() {
        let addr = fs::read_to_string(entry.path().join("address")).unwrap_or_default();
        if addr.trim() == mac {
            return entry.file_name().to_string_lossy().into_owned();
        }
    }
    panic!("no netdev with MAC {mac}: is this the VM guest?");
}

fn pci_dev(pci: &str) -> PathBuf {
    Path::new("/sys/bus/pci/devices").join(pci)
}

/// The netdev currently bound to PCI function `pci` in this namespace, if any.
pub fn netdev_of(pci: &str) -> Option<String> {
    let entries = fs::read_dir(pci_dev(pci).join("net")).ok()?;
    entries.flatten().next().map(|e| e.file_name().to_string_lossy().into_owned())
}

fn link_target(path: &Path) -> String {
    let target = fs::read_link(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    target.file_name().expect("link target").to_string_lossy().into_owned()
}

/// The driver bound to PCI function `pci`, if any.
pub fn driver_of(pci: &str) -> Option<String> {
    fs::read_link(pci_dev(pci).join("driver"))
        .ok()
        .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()))
}

/// Rebinds VF `pci` to vfio-pci (no-IOMMU mode, set by the guest's module
/// parameters): unbind from its driver, `driver_override`, bind.
pub fn bind_vfio(pci: &str) {
    if let Some(driver) = driver_of(pci) {
        let unbind = Path::new("/sys/bus/pci/drivers").join(driver).join("unbind");
        fs::write(&unbind, pci).unwrap_or_else(|e| panic!("{}: {e}", unbind.display()));
    }
    fs::write(pci_dev(pci).join("driver_override"), "vfio-pci").expect("driver_override");
    fs::write("/sys/bus/pci/drivers/vfio-pci/bind", pci).expect("binding to vfio-pci");
    let bound = driver_of(pci);
    assert_eq!(bound.as_deref(), Some("vfio-pci"), "VF {pci} bound to vfio-pci");
    assert!(netdev_of(pci).is_none(), "a vfio-pci VF has no netdev");
}

impl Sriov {
    /// Recreates the PF's VFs (0, then [`NUM_VFS`]) so every test starts from
    /// pristine VFs whatever an earlier test left, and brings both NICs up.
    pub fn fresh() -> Self {
        let pf = netdev_by_mac(PF_MAC);
        let wire = netdev_by_mac(WIRE_MAC);
        let pf_pci = link_target(&Path::new("/sys/class/net").join(&pf).join("device"));
        // VFs created under a PF that is up get their MAC from it.
        ip(&["link", "set", &pf, "up"]);
        let numvfs = pci_dev(&pf_pci).join("sriov_numvfs");
        fs::write(&numvfs, "0").expect("sriov_numvfs=0");
        fs::write(&numvfs, NUM_VFS.to_string()).expect("sriov_numvfs=7");
        let vfs = (0..NUM_VFS)
            .map(|index| {
                let pci = link_target(&pci_dev(&pf_pci).join(format!("virtfn{index}")));
                let netdev =
                    wait_for(&format!("VF {index} netdev"), Duration::from_secs(30), || {
                        netdev_of(&pci)
                    });
                Vf { index, pci, netdev }
            })
            .collect();
        ip(&["link", "set", &pf, "up"]);
        ip(&["link", "set", &wire, "up"]);
        let s = Self { pf, pf_pci, wire, vfs };
        s.wait_for_carrier();
        s
    }

    /// Waits until the PF has its carrier again: changing the VF count resets the
    /// NIC, and igb refuses a VF rate (`EINVAL`) while the PF's link is down.
    pub fn wait_for_carrier(&self) {
        wait_for(&format!("{} to get its carrier", self.pf), Duration::from_secs(30), || {
            let carrier =
                fs::read_to_string(Path::new("/sys/class/net").join(&self.pf).join("carrier"));
            (carrier.ok()?.trim() == "1").then_some(())
        });
    }

    /// The PF with no VFs (a plain igb NIC, e.g. as a fast-path uplink) and the wire, both up.
    pub fn without_vfs() -> Self {
        let pf = netdev_by_mac(PF_MAC);
        let wire = netdev_by_mac(WIRE_MAC);
        let pf_pci = link_target(&Path::new("/sys/class/net").join(&pf).join("device"));
        fs::write(pci_dev(&pf_pci).join("sriov_numvfs"), "0").expect("sriov_numvfs=0");
        ip(&["link", "set", &pf, "up"]);
        ip(&["link", "set", &wire, "up"]);
        Self { pf, pf_pci, wire, vfs: Vec::new() }
    }

    /// The PF's VF table entry for VF `index` (`ip -j -d link show`'s `vfinfo_list`).
    pub fn vf_info(&self, index: u32) -> Value {
        let links = ip_json(&["link", "show", "dev", &self.pf]);
        let list = links[0]["vfinfo_list"].as_array().expect("vfinfo_list").clone();
        list.into_iter()
            .find(|v| v["vf"] == index)
            .unwrap_or_else(|| panic!("VF {index} missing from the PF's VF table"))
    }
}

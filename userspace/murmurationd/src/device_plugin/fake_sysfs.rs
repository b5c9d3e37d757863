//! A fake sysfs tree for the device plugin's tests, shaped like the
//! kernel's: devices under `devices/pci0000:00/`, linked from
//! `bus/pci/devices/` and (PF netdevs) `class/net/`.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct FakeVf<'a> {
    pub pci: &'a str,
    pub driver: &'a str,
    pub numa: i64,
    pub group: u32,
}

fn device(root: &Path, pci: &str) -> PathBuf {
    let real = root.join("devices/pci0000:00").join(pci);
    fs::create_dir_all(&real).expect("device dir");
    let bus = root.join("bus/pci/devices");
    fs::create_dir_all(&bus).expect("bus dir");
    let _ = symlink(format!("../../../devices/pci0000:00/{pci}"), bus.join(pci));
    real
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// A PF `netdev` at `pci` (up) with `vfs` as virtfn0.., Intel 82576 VF ids.
pub fn pf(root: &Path, netdev: &str, pci: &str, vfs: &[FakeVf<'_>]) {
    let pf = device(root, pci);
    fs::create_dir_all(pf.join("net").join(netdev)).expect("pf net");
    write(&pf.join("sriov_numvfs"), &vfs.len().to_string());
    fs::create_dir_all(root.join("class/net")).expect("class/net");
    let class = root.join("class/net").join(netdev);
    fs::create_dir_all(&class).expect("class dir");
    symlink(format!("../../../devices/pci0000:00/{pci}"), class.join("device")).expect("device");
    set_link(root, netdev, true);
    for (i, vf) in vfs.iter().enumerate() {
        let dir = device(root, vf.pci);
        symlink(format!("../{pci}"), dir.join("physfn")).expect("physfn");
        symlink(format!("../{}", vf.pci), pf.join(format!("virtfn{i}"))).expect("virtfn");
        write(&dir.join("vendor"), "0x8086\n");
        write(&dir.join("device"), "0x10ca\n");
        write(&dir.join("numa_node"), &format!("{}\n", vf.numa));
        let group = root.join("kernel/iommu_groups").join(vf.group.to_string());
        fs::create_dir_all(&group).expect("group");
        symlink(&group, dir.join("iommu_group")).expect("iommu_group");
        bind(root, vf.pci, vf.driver);
    }
}

/// Binds `pci` to `driver` (or unbinds it when `driver` is empty).
pub fn bind(root: &Path, pci: &str, driver: &str) {
    let link = root.join("bus/pci/devices").join(pci).join("driver");
    let _ = fs::remove_file(&link);
    if !driver.is_empty() {
        let d = root.join("bus/pci/drivers").join(driver);
        fs::create_dir_all(&d).expect("driver dir");
        symlink(&d, &link).expect("driver link");
    }
}

/// PF link up (IFF_UP, operstate up) or down.
pub fn set_link(root: &Path, netdev: &str, up: bool) {
    let class = root.join("class/net").join(netdev);
    write(&class.join("flags"), if up { "0x1003\n" } else { "0x1002\n" });
    write(&class.join("operstate"), if up { "up\n" } else { "down\n" });
}

/// Removes the PF's last VF (as lowering `sriov_numvfs` does).
pub fn remove_last_vf(root: &Path, pf_pci: &str, index: usize) {
    let pf = root.join("bus/pci/devices").join(pf_pci);
    let link = pf.join(format!("virtfn{index}"));
    let vf = fs::read_link(&link).expect("virtfn");
    let name = vf.file_name().expect("name").to_owned();
    fs::remove_file(&link).expect("remove virtfn");
    fs::remove_file(root.join("bus/pci/devices").join(&name)).expect("remove bus link");
    write(&pf.join("sriov_numvfs"), &index.to_string());
}

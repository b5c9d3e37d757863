//! A fake sysfs tree shaped like the kernel's: devices under
//! `devices/pci0000:00/`, symlinked from `bus/pci/devices/`.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use super::*;

const PF: &str = "0000:01:00.0";
const VF0: &str = "0000:01:10.0";
const VF1: &str = "0000:01:10.2";

fn device(root: &Path, pci: &str) -> std::path::PathBuf {
    let real = root.join("devices/pci0000:00").join(pci);
    fs::create_dir_all(&real).expect("device dir");
    let bus = root.join("bus/pci/devices");
    fs::create_dir_all(&bus).expect("bus dir");
    symlink(format!("../../../devices/pci0000:00/{pci}"), bus.join(pci)).expect("bus link");
    real
}

fn fake_tree(root: &Path) {
    let pf = device(root, PF);
    fs::create_dir_all(pf.join("net/eth0")).expect("pf net");
    fs::create_dir_all(root.join("bus/pci/drivers/igbvf")).expect("driver");
    fs::create_dir_all(root.join("bus/pci/drivers/vfio-pci")).expect("driver");
    for (i, (vf, driver, netdev)) in
        [(VF0, "igbvf", Some("eth2")), (VF1, "vfio-pci", None)].into_iter().enumerate()
    {
        let dir = device(root, vf);
        symlink(format!("../{PF}"), dir.join("physfn")).expect("physfn");
        symlink(format!("../{vf}"), pf.join(format!("virtfn{i}"))).expect("virtfn");
        symlink(format!("../../../bus/pci/drivers/{driver}"), dir.join("driver")).expect("drv");
        if let Some(n) = netdev {
            fs::create_dir_all(dir.join("net").join(n)).expect("vf net");
        }
    }
}

fn pci(s: &str) -> PciAddress {
    PciAddress::parse(s).expect("pci")
}

#[test]
fn resolves_a_kernel_driver_vf() {
    let tmp = tempfile::tempdir().expect("tempdir");
    fake_tree(tmp.path());
    let vf = Sysfs::new(tmp.path()).vf(&pci(VF0)).expect("vf");
    assert_eq!(
        vf,
        VfDevice {
            pci: VF0.into(),
            pf_pci: PF.into(),
            pf_netdev: "eth0".into(),
            index: 0,
            driver: Some("igbvf".into()),
            netdev: Some("eth2".into()),
        }
    );
    assert!(!vf.is_userspace());
}

#[test]
fn resolves_a_userspace_vf_without_netdev() {
    let tmp = tempfile::tempdir().expect("tempdir");
    fake_tree(tmp.path());
    let vf = Sysfs::new(tmp.path()).vf(&pci(VF1)).expect("vf");
    assert_eq!(vf.index, 1);
    assert_eq!(vf.netdev, None);
    assert!(vf.is_userspace());
}

#[test]
fn refuses_missing_devices_and_non_vfs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    fake_tree(tmp.path());
    let sys = Sysfs::new(tmp.path());
    assert!(matches!(sys.vf(&pci("0000:09:00.0")), Err(SysfsError::NoDevice { .. })));
    assert!(matches!(sys.vf(&pci(PF)), Err(SysfsError::NotVf { .. })));
    fs::remove_dir_all(tmp.path().join("devices/pci0000:00").join(PF).join("net")).expect("rm");
    assert!(matches!(sys.vf(&pci(VF0)), Err(SysfsError::NoPfNetdev { .. })));
}

#[test]
fn reads_numvfs_driver_numa_and_virtfn() {
    let tmp = tempfile::tempdir().expect("tempdir");
    fake_tree(tmp.path());
    let pf = tmp.path().join("bus/pci/devices").join(PF);
    fs::write(pf.join("sriov_numvfs"), "2\n").expect("numvfs");
    fs::write(pf.join("sriov_totalvfs"), "7\n").expect("totalvfs");
    fs::write(pf.join("numa_node"), "-1\n").expect("numa");
    let vf0 = tmp.path().join("bus/pci/devices").join(VF0);
    fs::write(vf0.join("numa_node"), "1\n").expect("numa");
    let s = Sysfs::new(tmp.path());
    assert_eq!(s.numvfs(PF).expect("numvfs"), 2);
    assert_eq!(s.totalvfs(PF).expect("totalvfs"), 7);
    assert_eq!(s.virtfn(PF, 1).as_deref(), Some(VF1));
    assert_eq!(s.virtfn(PF, 2), None);
    assert_eq!(s.driver(VF1).as_deref(), Some("vfio-pci"));
    assert_eq!(s.numa_node(VF0), Some(1));
    assert_eq!(s.numa_node(PF), None, "-1 is no NUMA node");
}

#[test]
fn set_numvfs_goes_through_zero_between_counts() {
    let tmp = tempfile::tempdir().expect("tempdir");
    fake_tree(tmp.path());
    let file = tmp.path().join("bus/pci/devices").join(PF).join("sriov_numvfs");
    fs::write(&file, "2").expect("numvfs");
    Sysfs::new(tmp.path()).set_numvfs(PF, 5).expect("set");
    assert_eq!(fs::read_to_string(&file).expect("read"), "5");
}

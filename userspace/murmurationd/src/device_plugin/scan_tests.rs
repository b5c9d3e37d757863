use super::super::fake_sysfs::{self, FakeVf};
use super::*;
use crate::config::{HexId, PfSelector, PoolName};

const PF: &str = "0000:01:00.0";

fn tree(root: &Path) {
    let vfs = [
        FakeVf { pci: "0000:01:10.0", driver: "igbvf", numa: 0, group: 10 },
        FakeVf { pci: "0000:01:10.2", driver: "igbvf", numa: 0, group: 11 },
        FakeVf { pci: "0000:01:10.4", driver: "vfio-pci", numa: 1, group: 12 },
        FakeVf { pci: "0000:01:10.6", driver: "igbvf", numa: -1, group: 13 },
    ];
    fake_sysfs::pf(root, "eth0", PF, &vfs);
}

fn pool(name: &str, pf: &[&str], drivers: &[&str]) -> PoolConfig {
    PoolConfig {
        name: PoolName::try_from(name.to_owned()).expect("name"),
        pf_names: pf.iter().map(|s| PfSelector::try_from((*s).to_owned()).expect("sel")).collect(),
        vendors: vec![HexId(0x8086)],
        devices: Vec::new(),
        numa_nodes: Vec::new(),
        drivers: drivers.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn ids(vfs: &[Vf]) -> Vec<&str> {
    vfs.iter().map(Vf::id).collect()
}

#[test]
fn scan_reads_every_vf_with_its_properties() {
    let tmp = tempfile::tempdir().expect("tempdir");
    tree(tmp.path());
    let vfs = scan(tmp.path());
    assert_eq!(ids(&vfs), ["0000:01:10.0", "0000:01:10.2", "0000:01:10.4", "0000:01:10.6"]);
    let v = &vfs[2];
    assert_eq!((v.dev.index, v.dev.pf_netdev.as_str()), (2, "eth0"));
    assert_eq!((v.vendor, v.device, v.numa), (Some(0x8086), Some(0x10ca), Some(1)));
    assert_eq!(v.iommu_group.as_deref(), Some("12"));
    assert_eq!(vfs[3].numa, None, "numa_node -1 is no NUMA node");
    assert!(vfs.iter().all(|v| v.pf_up));
}

#[test]
fn pools_take_their_ranges_first_match_wins() {
    let tmp = tempfile::tempdir().expect("tempdir");
    tree(tmp.path());
    let pools =
        [pool("a", &["eth0#0-1"], &[]), pool("b", &["eth0"], &[]), pool("c", &["eth0"], &[])];
    let got = assign(&pools, scan(tmp.path()));
    assert_eq!(ids(&got[0]), ["0000:01:10.0", "0000:01:10.2"]);
    assert_eq!(ids(&got[1]), ["0000:01:10.4", "0000:01:10.6"]);
    assert!(got[2].is_empty(), "a VF is in one pool only");
}

#[test]
fn selectors_filter_on_vendor_device_and_numa() {
    let tmp = tempfile::tempdir().expect("tempdir");
    tree(tmp.path());
    let mut p = pool("a", &[], &[]);
    p.numa_nodes = vec![0];
    assert_eq!(ids(&assign(&[p.clone()], scan(tmp.path()))[0]), ["0000:01:10.0", "0000:01:10.2"]);
    p.numa_nodes.clear();
    p.devices = vec![HexId(0x1520)];
    assert!(assign(&[p.clone()], scan(tmp.path()))[0].is_empty());
    p.devices.clear();
    p.vendors = vec![HexId(0x15b3)];
    assert!(assign(&[p], scan(tmp.path()))[0].is_empty());
}

#[test]
fn health_follows_pf_link_and_driver() {
    let tmp = tempfile::tempdir().expect("tempdir");
    tree(tmp.path());
    let pools = [pool("k", &["eth0"], &["igbvf"])];
    let health =
        || -> Vec<bool> { assign(&pools, scan(tmp.path()))[0].iter().map(|v| v.healthy).collect() };
    assert_eq!(health(), [true, true, false, true], "the vfio-pci VF has the wrong driver");
    fake_sysfs::set_link(tmp.path(), "eth0", false);
    assert_eq!(health(), [false; 4], "PF down: every VF unhealthy");
    fake_sysfs::set_link(tmp.path(), "eth0", true);
    fake_sysfs::bind(tmp.path(), "0000:01:10.0", "");
    assert_eq!(health(), [false, true, false, true], "an unbound VF is unhealthy");
}

#[test]
fn a_removed_vf_leaves_the_list() {
    let tmp = tempfile::tempdir().expect("tempdir");
    tree(tmp.path());
    fake_sysfs::remove_last_vf(tmp.path(), PF, 3);
    assert_eq!(scan(tmp.path()).len(), 3);
}

#[test]
fn no_sriov_on_the_node_is_an_empty_scan() {
    let tmp = tempfile::tempdir().expect("tempdir");
    assert!(scan(tmp.path()).is_empty());
}

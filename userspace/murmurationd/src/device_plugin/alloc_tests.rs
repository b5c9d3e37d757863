use murmuration_core::sysfs::VfDevice;

use super::*;

fn vf(pci: &str, pf: &str, index: u32, numa: Option<i64>) -> Vf {
    Vf {
        dev: VfDevice {
            pci: pci.into(),
            pf_pci: "0000:01:00.0".into(),
            pf_netdev: pf.into(),
            index,
            driver: Some("igbvf".into()),
            netdev: None,
        },
        vendor: Some(0x8086),
        device: Some(0x10ca),
        numa,
        iommu_group: Some(format!("{index}")),
        pf_up: true,
        healthy: true,
    }
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| (*s).to_owned()).collect()
}

fn pool() -> Vec<Vf> {
    vec![
        vf("a3", "eth0", 3, Some(1)),
        vf("a0", "eth0", 0, Some(0)),
        vf("a1", "eth0", 1, Some(1)),
        vf("a2", "eth0", 2, Some(1)),
        vf("b0", "eth1", 0, Some(0)),
    ]
}

#[test]
fn env_name_is_upper_case_with_underscores() {
    assert_eq!(env_name("murmuration.io/fronthaul"), "PCIDEVICE_MURMURATION_IO_FRONTHAUL");
    assert_eq!(env_name("intel.com/sriov-net_a1"), "PCIDEVICE_INTEL_COM_SRIOV_NET_A1");
}

#[test]
fn devinfo_path_names_resource_and_device() {
    let p = devinfo_path(Path::new("/d"), "murmuration.io/fh", "0000:01:10.0");
    assert_eq!(p, Path::new("/d/murmuration.io-fh-0000:01:10.0-device.json"));
}

#[test]
fn preferred_stays_on_the_fullest_numa_node_then_lowest_index() {
    let all = strings(&["a0", "a1", "a2", "a3", "b0"]);
    assert_eq!(preferred(&pool(), &all, &[], 2), ["a1", "a2"], "node 1 has three VFs");
    assert_eq!(preferred(&pool(), &all, &[], 4), ["a1", "a2", "a3", "a0"]);
}

#[test]
fn preferred_follows_the_must_include_devices_node() {
    let all = strings(&["a0", "a1", "a2", "a3", "b0"]);
    assert_eq!(preferred(&pool(), &all, &strings(&["b0"]), 2), ["b0", "a0"]);
}

#[test]
fn preferred_without_numa_is_lowest_index_and_unknown_ids_last() {
    let pool: Vec<Vf> =
        vec![vf("a2", "eth0", 2, None), vf("a0", "eth0", 0, None), vf("a1", "eth0", 1, None)];
    let avail = strings(&["zz", "a2", "a0", "a1"]);
    assert_eq!(preferred(&pool, &avail, &[], 4), ["a0", "a1", "a2", "zz"]);
    assert_eq!(preferred(&pool, &avail, &[], 1), ["a0"]);
}

#[test]
fn vfio_nodes_only_for_vfio_pci_and_prefer_noiommu() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut v = vf("a0", "eth0", 0, None);
    assert!(vfio_nodes(&v, tmp.path()).is_empty(), "a kernel-driver VF needs no nodes");
    v.dev.driver = Some("vfio-pci".into());
    v.iommu_group = Some("7".into());
    let hosts = |v: &Vf| -> Vec<PathBuf> {
        vfio_nodes(v, tmp.path()).into_iter().map(|n| n.host).collect()
    };
    assert_eq!(hosts(&v), [tmp.path().join("vfio/vfio"), tmp.path().join("vfio/7")]);
    std::fs::create_dir_all(tmp.path().join("vfio")).expect("dir");
    std::fs::write(tmp.path().join("vfio/noiommu-7"), "").expect("node");
    let nodes = vfio_nodes(&v, tmp.path());
    assert_eq!(nodes[1].host, tmp.path().join("vfio/noiommu-7"));
    assert_eq!(nodes[1].container, Path::new("/dev/vfio/noiommu-7"));
    assert_eq!(nodes[0].container, Path::new("/dev/vfio/vfio"));
}

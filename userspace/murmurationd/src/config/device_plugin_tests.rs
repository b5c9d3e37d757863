use std::path::Path;

use super::super::Config;
use super::*;

fn sel(s: &str) -> Result<PfSelector, String> {
    PfSelector::try_from(s.to_owned())
}

#[test]
fn pf_selector_without_ranges_takes_every_vf() {
    let s = sel("eth0").expect("valid");
    assert_eq!(s.pf, "eth0");
    assert!(s.indices.is_none());
    assert!(s.matches("eth0", 0) && s.matches("eth0", 63));
    assert!(!s.matches("eth1", 0));
}

#[test]
fn pf_selector_ranges_and_single_indices() {
    let s = sel("ens1f0#0-3,5,7-8").expect("valid");
    assert_eq!(s.pf, "ens1f0");
    assert_eq!(s.indices, Some(vec![0..=3, 5..=5, 7..=8]));
    let picked: Vec<u32> = (0..10).filter(|&i| s.matches("ens1f0", i)).collect();
    assert_eq!(picked, [0, 1, 2, 3, 5, 7, 8]);
}

#[test]
fn pf_selector_refuses_bad_input() {
    for bad in ["", "#0-3", "eth0#", "eth0#3-1", "eth0#a", "eth0#0-", "a/b", "sixteen-chars-xx"] {
        assert!(sel(bad).is_err(), "{bad:?} must be refused");
    }
}

#[test]
fn hex_ids_parse() {
    assert_eq!(HexId::try_from("8086".to_owned()), Ok(HexId(0x8086)));
    assert_eq!(HexId::try_from("0x10ca".to_owned()), Ok(HexId(0x10ca)));
    for bad in ["", "12345", "xyz", "0x"] {
        assert!(HexId::try_from(bad.to_owned()).is_err(), "{bad:?}");
    }
}

fn parse(text: &str) -> Result<Config, crate::config::ConfigError> {
    Config::parse(text, Path::new("test.toml"))
}

#[test]
fn section_parses_with_pools() {
    let c = parse(
        r#"
        [device_plugin]
        enabled = true
        resource_prefix = "example.com"
        kubelet_dir = "/tmp/dp"
        [[device_plugin.pool]]
        name = "fronthaul"
        pf_names = ["ens1f0#0-3"]
        vendors = ["8086"]
        devices = ["10ca"]
        numa_nodes = [0]
        drivers = ["igbvf"]
        [[device_plugin.pool]]
        name = "dpdk"
        pf_names = ["ens1f0#4-7"]
        drivers = ["vfio-pci"]
        "#,
    )
    .expect("valid");
    let dp = &c.device_plugin;
    assert!(dp.enabled);
    assert_eq!(dp.pools.len(), 2);
    assert_eq!(dp.resource_name(&dp.pools[0]), "example.com/fronthaul");
    assert_eq!(dp.pools[0].vendors, [HexId(0x8086)]);
    assert_eq!(dp.pools[1].drivers, ["vfio-pci"]);
    assert_eq!(dp.kubelet_dir, Path::new("/tmp/dp"));
}

#[test]
fn defaults_are_the_kubelets() {
    let c = parse("").expect("defaults");
    assert!(!c.device_plugin.enabled);
    assert_eq!(c.device_plugin.kubelet_dir, Path::new("/var/lib/kubelet/device-plugins"));
    assert_eq!(c.device_plugin.resource_prefix, "murmuration.io");
}

#[test]
fn bad_sections_are_refused() {
    for bad in [
        "[device_plugin]\nresource_prefix = \"Bad_Prefix\"",
        "[device_plugin]\nresource_prefix = \"a/b\"",
        "[[device_plugin.pool]]\nname = \"a\"\n[[device_plugin.pool]]\nname = \"a\"",
        "[[device_plugin.pool]]\nname = \"-a\"",
        "[[device_plugin.pool]]\nname = \"a\"\npf_names = [\"eth0#x\"]",
        "[[device_plugin.pool]]\nname = \"a\"\nselector = 1",
        "[device_plugin]\npool_typo = 1",
    ] {
        assert!(parse(bad).is_err(), "{bad:?} must be refused");
    }
}

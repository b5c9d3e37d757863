//! The NetworkAttachmentDefinitions under `deploy/examples/` go through the
//! plugin's own config parser, so an example can never drift from what the
//! plugin accepts. Each file is one NAD whose `spec.config` is a YAML
//! literal block (`config: |`) holding the JSON network configuration.

use std::path::{Path, PathBuf};

use murmuration_core::cni::config::{Mode, NetConf};

/// The examples and what each one must parse to.
const EXPECTED: &[(&str, Mode)] = &[
    ("sriov.yaml", Mode::Sriov),
    ("sriov-device-plugin.yaml", Mode::Sriov),
    ("vlan.yaml", Mode::Vlan),
    ("veth-fastpath-vlan.yaml", Mode::Veth),
    ("veth-fastpath-trunk.yaml", Mode::Veth),
    ("dual-stack.yaml", Mode::Veth),
];

const RESOURCE_NAME: &str = "k8s.v1.cni.cncf.io/resourceName:";

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/examples")
}

/// The text of the `config: |` literal block, dedented.
fn embedded_config(yaml: &str) -> Result<String, String> {
    let mut lines = yaml.lines();
    let key = lines
        .by_ref()
        .find(|l| l.trim_end().trim_start() == "config: |")
        .ok_or("no `config: |` literal block")?;
    let key_indent = key.len() - key.trim_start().len();
    let body: Vec<&str> = lines
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > key_indent)
        .collect();
    let indent = body
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .ok_or("empty config block")?;
    Ok(body.iter().map(|l| l.get(indent..).unwrap_or("")).collect::<Vec<_>>().join("\n"))
}

fn parse_example(name: &str) -> (String, NetConf) {
    let path = examples_dir().join(name);
    let yaml =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let config = embedded_config(&yaml).unwrap_or_else(|e| panic!("{name}: {e}"));
    let conf = NetConf::parse(config.as_bytes())
        .unwrap_or_else(|e| panic!("{name}: the plugin refuses its config: {e:?}"));
    (yaml, conf)
}

#[test]
fn every_example_is_listed() {
    let mut found: Vec<String> = std::fs::read_dir(examples_dir())
        .expect("deploy/examples")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut listed: Vec<String> = EXPECTED.iter().map(|(n, _)| (*n).to_owned()).collect();
    listed.sort();
    assert_eq!(found, listed, "deploy/examples and this test's list differ");
}

#[test]
fn every_example_parses_in_its_mode_and_passes_add_validation() {
    for &(name, mode) in EXPECTED {
        let (_, conf) = parse_example(name);
        assert_eq!(conf.mode, mode, "{name}");
        if mode == Mode::Sriov {
            // Multus adds the allocated VF's PCI address before calling the plugin.
            assert!(conf.device.is_none(), "{name}: the device plugin chooses the VF");
            assert!(conf.validate_for_add().is_err(), "{name}: ADD needs the injected deviceID");
        } else {
            conf.validate_for_add().unwrap_or_else(|e| panic!("{name}: ADD refuses it: {e:?}"));
        }
    }
}

#[test]
fn the_sriov_examples_name_their_resource_and_take_the_injected_device() {
    for name in ["sriov.yaml", "sriov-device-plugin.yaml"] {
        sriov_example(name);
    }
}

fn sriov_example(name: &str) {
    let (yaml, conf) = parse_example(name);
    let resource = yaml
        .lines()
        .find_map(|l| l.trim().strip_prefix(RESOURCE_NAME))
        .map(str::trim)
        .expect("the resourceName annotation");
    assert!(resource.contains('/'), "resourceName {resource:?} is <prefix>/<name>");
    // What Multus sends: the same config with the allocated VF's address.
    let mut with_device: serde_json::Value = serde_json::from_slice(&conf.raw).expect("json");
    with_device["deviceID"] = "0000:3b:02.1".into();
    let injected = NetConf::parse(&serde_json::to_vec(&with_device).expect("json")).expect("parse");
    assert_eq!(injected.mode, Mode::Sriov);
    injected.validate_for_add().expect("ADD accepts it");
    assert_eq!(injected.device.expect("device").as_ref(), "0000:3b:02.1");
}

#[test]
fn the_fastpath_examples_get_their_port() {
    let (_, access) = parse_example("veth-fastpath-vlan.yaml");
    let fast = access.fastpath.expect("fast path on");
    assert!(fast.trunk.is_empty());
    assert_eq!(access.props.vlan.map(|v| v.get()), Some(400));

    let (_, trunk) = parse_example("veth-fastpath-trunk.yaml");
    let fast = trunk.fastpath.expect("fast path on");
    let expected: Vec<u16> = [100, 200].into_iter().chain(500..=510).collect();
    assert_eq!(fast.trunk, expected);
    assert_eq!(trunk.props.vlan.map(|v| v.get()), Some(10));

    let (_, dual) = parse_example("dual-stack.yaml");
    assert!(dual.fastpath.expect("fast path on").ip_spoofchk);
    assert_eq!(dual.ipam.expect("ipam").kind, "host-local");
}

#[test]
fn the_block_reader_stops_at_the_next_key() {
    let yaml = "spec:\n  config: |\n    {\"a\": 1,\n     \"b\": 2}\n  other: x\n";
    assert_eq!(embedded_config(yaml).expect("block"), "{\"a\": 1,\n \"b\": 2}");
    assert!(embedded_config("spec:\n  config: '{}'\n").is_err());
}

//! Micro-benchmarks of the plugin's per-invocation CPU work: parsing the
//! network config (Multus-shaped) and rendering the result for each version.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use murmuration_core::cni::args::CniArgs;
use murmuration_core::cni::config::NetConf;
use murmuration_core::cni::result::CniResult;
use murmuration_core::cni::version::CniVersion;

const CONFIG: &str = r#"{
  "cniVersion": "1.1.0", "name": "sriov-net-a", "type": "murmuration",
  "deviceID": "0000:03:02.1", "vlan": 100, "vlanQoS": 3, "spoofchk": "on", "trust": "off",
  "mtu": 9000, "logLevel": "info",
  "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.56.217.0/24"}], [{"subnet": "fd56::/64"}]],
           "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]},
  "runtimeConfig": {"mac": "02:00:00:aa:bb:cc", "CNIDeviceInfoFile": "/var/run/k8s.cni.cncf.io/devinfo/cni/ns-net-c1_net1"},
  "capabilities": {"mac": true, "deviceID": true, "CNIDeviceInfoFile": true}
}"#;

const RESULT: &str = r#"{
  "cniVersion": "1.1.0",
  "interfaces": [{"name": "mm0123456789abc", "mac": "0e:2a:92:3a:76:f4", "mtu": 9000},
                 {"name": "net1", "mac": "02:00:00:aa:bb:cc", "mtu": 9000, "sandbox": "/var/run/netns/pod"}],
  "ips": [{"address": "10.56.217.2/24", "gateway": "10.56.217.1", "interface": 1},
          {"address": "fd56::2/64", "gateway": "fd56::1", "interface": 1}],
  "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}],
  "dns": {"nameservers": ["10.56.217.53"]}
}"#;

const MULTUS_ARGS: &str = "IgnoreUnknown=true;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=pod-0;\
K8S_POD_INFRA_CONTAINER_ID=0123456789abcdef;K8S_POD_UID=5b2f;IgnoreUnknown=1;K8S_POD_NAMESPACE=ns";

fn parse(c: &mut Criterion) {
    c.bench_function("config_parse", |b| {
        b.iter(|| NetConf::parse(black_box(CONFIG.as_bytes())).expect("valid config"))
    });
    c.bench_function("cni_args_parse", |b| {
        b.iter(|| CniArgs::parse(black_box(MULTUS_ARGS)).expect("valid args"))
    });
}

fn render(c: &mut Criterion) {
    let value: serde_json::Value = serde_json::from_str(RESULT).expect("json");
    let result = CniResult::from_value(&value).expect("result");
    for version in [CniVersion::V0_4_0, CniVersion::V1_0_0, CniVersion::V1_1_0] {
        c.bench_function(&format!("result_serialize_{version}"), |b| {
            b.iter(|| serde_json::to_vec(&black_box(&result).to_value(version)).expect("json"))
        });
    }
}

criterion_group!(benches, parse, render);
criterion_main!(benches);

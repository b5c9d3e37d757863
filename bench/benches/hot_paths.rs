//! Micro-benchmarks of the plugin's per-invocation work: parsing the network
//! config (Multus-shaped) and CNI_ARGS, rendering the result for each version,
//! building the netlink batch of an ADD, writing the attachment record, and
//! the daemon prober's decoding of SO_TIMESTAMPING control messages.

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

/// Builds and serializes what an ADD sends to the kernel for one attachment:
/// link up, an IPv4 and an IPv6 address, two routes.
fn netlink_build(c: &mut Criterion) {
    use murmuration_core::netlink::{address_request, link_up_request, route_request};
    use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload};
    let value: serde_json::Value = serde_json::from_str(RESULT).expect("json");
    let result = CniResult::from_value(&value).expect("result");
    c.bench_function("netlink_add_batch_build", |b| {
        b.iter(|| {
            let mut reqs = vec![link_up_request(7)];
            reqs.extend(result.ips.iter().map(|ip| address_request(7, ip.address)));
            reqs.extend(result.routes.iter().map(|r| route_request(7, r, None)));
            let mut out = Vec::with_capacity(1024);
            for r in reqs {
                let mut m = NetlinkMessage::new(
                    NetlinkHeader::default(),
                    NetlinkPayload::InnerMessage(r.msg),
                );
                m.finalize();
                let start = out.len();
                out.resize(start + m.buffer_len(), 0);
                m.serialize(&mut out[start..]);
            }
            black_box(out)
        })
    });
}

/// Writes one attachment record (serialize, temp file, rename), as ADD does.
fn state_write(c: &mut Criterion) {
    use murmuration_core::state::{PodRef, Record, Store};
    let dir = std::env::temp_dir().join(format!("mm-bench-state-{}", std::process::id()));
    let store = Store::new(&dir);
    let value: serde_json::Value = serde_json::from_str(RESULT).expect("json");
    let rec: Record = serde_json::from_value(serde_json::json!({
        "format": Record::FORMAT, "network": "sriov-net-a", "container_id": "0123456789abcdef",
        "ifname": "net1", "netns": "/var/run/netns/pod", "mode": "veth",
        "host_ifname": "mm0123456789abc", "pod": PodRef::default(), "ipam_allocated": true,
        "config": serde_json::from_str::<serde_json::Value>(CONFIG).expect("json"),
        "result": value, "created_unix": 0
    }))
    .expect("record");
    c.bench_function("state_record_write", |b| {
        b.iter(|| store.save(black_box(&rec)).expect("save"))
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// The prober's per-packet decode: an RX reply's software stamp, and an
/// error-queue entry with a hardware TX stamp and its key.
fn timestamp_cmsg(c: &mut Criterion) {
    use murmuration_core::ptp::cmsg::{encode, parse};
    let mut rx = Vec::new();
    encode::timestamping_new(&mut rx, 1_700_000_000_123_456_789, 0);
    let mut tx = Vec::new();
    encode::timestamping_new(&mut tx, 0, 1_700_000_000_000_000_042);
    encode::tx_error(&mut tx, 7);
    c.bench_function("timestamp_cmsg_parse_rx", |b| b.iter(|| parse(black_box(&rx))));
    c.bench_function("timestamp_cmsg_parse_tx", |b| b.iter(|| parse(black_box(&tx))));
}

criterion_group!(benches, parse, render, netlink_build, state_write, timestamp_cmsg);
criterion_main!(benches);

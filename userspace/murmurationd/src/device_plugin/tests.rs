//! The plugin driven as the kubelet drives it, over real unix sockets and
//! gRPC, on a fake sysfs tree (the host has no SR-IOV; the VM tier runs the
//! same flow on real VFs).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tonic::Streaming;

use super::api::{
    AllocateRequest, ContainerAllocateRequest, ContainerPreferredAllocationRequest, Empty,
    ListAndWatchResponse, PreferredAllocationRequest, RegisterRequest,
};
use super::fake_sysfs::{self, FakeVf};
use super::testing::TestKubelet;
use crate::Shared;
use crate::config::Config;

const LIMIT: Duration = Duration::from_secs(20);

fn config(root: &Path, sysfs: &Path) -> Config {
    let text = format!(
        r#"
        [device_plugin]
        enabled = true
        resource_prefix = "murmuration.io"
        kubelet_dir = "{root}/kubelet"
        devinfo_dir = "{root}/devinfo"
        dev_dir = "{root}/dev"
        sysfs_root = "{sysfs}"
        rescan_seconds = 3600
        kubelet_poll_seconds = 0.02
        [[device_plugin.pool]]
        name = "fh"
        pf_names = ["eth0#0-2"]
        drivers = ["igbvf", "vfio-pci"]
        "#,
        root = root.display(),
        sysfs = sysfs.display()
    );
    Config::parse(&text, Path::new("t.toml")).expect("config")
}

fn tree(sysfs: &Path) {
    let vfs = [
        FakeVf { pci: "0000:01:10.0", driver: "igbvf", numa: 0, group: 20 },
        FakeVf { pci: "0000:01:10.2", driver: "vfio-pci", numa: 0, group: 21 },
        FakeVf { pci: "0000:01:10.4", driver: "igbvf", numa: 0, group: 22 },
        FakeVf { pci: "0000:01:10.6", driver: "igbvf", numa: 0, group: 23 },
    ];
    fake_sysfs::pf(sysfs, "eth0", "0000:01:00.0", &vfs);
}

async fn registration(k: &mut TestKubelet) -> RegisterRequest {
    tokio::time::timeout(LIMIT, k.registrations.recv())
        .await
        .expect("a registration within the deadline")
        .expect("kubelet channel open")
}

async fn next(s: &mut Streaming<ListAndWatchResponse>) -> Vec<(String, String)> {
    let msg = tokio::time::timeout(LIMIT, s.message()).await.expect("an update in time");
    let msg = msg.expect("stream ok").expect("stream open");
    msg.devices.into_iter().map(|d| (d.id, d.health)).collect()
}

fn health(list: &[(String, String)]) -> Vec<&str> {
    list.iter().map(|(_, h)| h.as_str()).collect()
}

struct Fixture {
    tmp: tempfile::TempDir,
    shared: Arc<Shared>,
    kubelet: TestKubelet,
    events: Arc<Notify>,
    cancel: CancellationToken,
    plugin: tokio::task::JoinHandle<()>,
}

async fn start() -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sysfs = tmp.path().join("sys");
    tree(&sysfs);
    std::fs::create_dir_all(tmp.path().join("kubelet")).expect("kubelet dir");
    let kubelet = TestKubelet::start(&tmp.path().join("kubelet")).expect("test kubelet");
    let (events, cancel) = (Arc::new(Notify::new()), CancellationToken::new());
    let shared = Arc::new(Shared::new(config(tmp.path(), &sysfs)));
    let (cfg, metrics) =
        (shared.config.device_plugin.clone(), shared.metrics.device_plugin.clone());
    let plugin = tokio::spawn(super::run(cfg, metrics, events.clone(), cancel.clone()));
    Fixture { tmp, shared, kubelet, events, cancel, plugin }
}

#[tokio::test]
async fn registers_lists_and_follows_health_and_vf_count() {
    let mut f = start().await;
    let reg = registration(&mut f.kubelet).await;
    assert_eq!(reg.version, "v1beta1");
    assert_eq!(reg.resource_name, "murmuration.io/fh");
    assert_eq!(reg.endpoint, "murmuration-fh.sock");
    assert!(reg.options.expect("options").get_preferred_allocation_available);
    let mut client = f.kubelet.plugin(&reg.endpoint).await.expect("plugin client");
    let mut stream = client.list_and_watch(Empty {}).await.expect("ListAndWatch").into_inner();
    let first = next(&mut stream).await;
    let ids: Vec<&str> = first.iter().map(|(i, _)| i.as_str()).collect();
    assert_eq!(ids, ["0000:01:10.0", "0000:01:10.2", "0000:01:10.4"], "VFs 0-2 only");
    assert_eq!(health(&first), ["Healthy"; 3]);

    let sysfs = f.tmp.path().join("sys");
    fake_sysfs::set_link(&sysfs, "eth0", false);
    f.events.notify_one();
    assert_eq!(health(&next(&mut stream).await), ["Unhealthy"; 3], "PF down");
    fake_sysfs::set_link(&sysfs, "eth0", true);
    f.events.notify_one();
    assert_eq!(health(&next(&mut stream).await), ["Healthy"; 3], "PF up again");
    fake_sysfs::remove_last_vf(&sysfs, "0000:01:00.0", 3);
    fake_sysfs::remove_last_vf(&sysfs, "0000:01:00.0", 2);
    f.events.notify_one();
    assert_eq!(next(&mut stream).await.len(), 2, "numvfs 2: VF 2 left the pool");
    f.cancel.cancel();
    f.plugin.await.expect("plugin task");
    assert!(!f.tmp.path().join("kubelet/murmuration-fh.sock").exists(), "socket removed");
}

#[tokio::test]
async fn allocates_with_env_devinfo_and_vfio_nodes() {
    let mut f = start().await;
    let reg = registration(&mut f.kubelet).await;
    let mut client = f.kubelet.plugin(&reg.endpoint).await.expect("plugin client");
    let pref = client
        .get_preferred_allocation(PreferredAllocationRequest {
            container_requests: vec![ContainerPreferredAllocationRequest {
                available_device_ids: vec!["0000:01:10.4".into(), "0000:01:10.2".into()],
                must_include_device_ids: vec![],
                allocation_size: 1,
            }],
        })
        .await
        .expect("GetPreferredAllocation")
        .into_inner();
    assert_eq!(pref.container_responses[0].device_ids, ["0000:01:10.2"], "lowest index");
    let ids = vec!["0000:01:10.0".to_owned(), "0000:01:10.2".to_owned()];
    let req =
        AllocateRequest { container_requests: vec![ContainerAllocateRequest { devices_ids: ids }] };
    let resp = client.allocate(req).await.expect("Allocate").into_inner();
    let c = &resp.container_responses[0];
    let env = c.envs.get("PCIDEVICE_MURMURATION_IO_FH").map(String::as_str);
    assert_eq!(env, Some("0000:01:10.0,0000:01:10.2"));
    let dev = f.tmp.path().join("dev/vfio");
    let specs: Vec<(&str, &str)> =
        c.devices.iter().map(|d| (d.host_path.as_str(), d.container_path.as_str())).collect();
    let (vfio, group) = (dev.join("vfio"), dev.join("21"));
    assert_eq!(
        specs,
        [
            (vfio.to_str().expect("utf-8"), "/dev/vfio/vfio"),
            (group.to_str().expect("utf-8"), "/dev/vfio/21")
        ]
    );
    let info = f.tmp.path().join("devinfo/murmuration.io-fh-0000:01:10.2-device.json");
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&info).expect("device-info file")).expect("json");
    assert_eq!(doc["type"], "pci");
    assert_eq!(doc["pci"]["pci-address"], "0000:01:10.2");
    assert_eq!(doc["pci"]["pf-pci-address"], "0000:01:00.0");

    let bad = AllocateRequest {
        container_requests: vec![ContainerAllocateRequest {
            devices_ids: vec!["0000:01:10.4".into(), "0000:01:10.6".into()],
        }],
    };
    let err = client.allocate(bad).await.expect_err("a VF outside the pool");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let other = f.tmp.path().join("devinfo/murmuration.io-fh-0000:01:10.4-device.json");
    assert!(!other.exists(), "a refused Allocate writes nothing");
    f.cancel.cancel();
    f.plugin.await.expect("plugin task");
}

#[tokio::test]
async fn registers_again_after_the_kubelet_restarts() {
    let mut f = start().await;
    let first = registration(&mut f.kubelet).await;
    f.kubelet.restart().await.expect("restart");
    let again = registration(&mut f.kubelet).await;
    assert_eq!(again.resource_name, first.resource_name);
    let mut client = f.kubelet.plugin(&again.endpoint).await.expect("new plugin socket");
    let mut stream = client.list_and_watch(Empty {}).await.expect("ListAndWatch").into_inner();
    assert_eq!(next(&mut stream).await.len(), 3);
    f.cancel.cancel();
    f.plugin.await.expect("plugin task");
}

/// `GET /metrics` from the daemon's HTTP server on `addr`.
async fn scrape(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").await.expect("request");
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.expect("response");
    let (head, body) = buf.split_once("\r\n\r\n").expect("HTTP response");
    assert!(head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

/// The value of the sample `series` (name and labels as exposed).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Scrapes until `series` has `want` (the registration is counted after the
/// kubelet answered it), failing after the deadline with the last scrape.
async fn until(addr: std::net::SocketAddr, series: &str, want: f64) -> String {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let text = scrape(addr).await;
        if sample(&text, series) == Some(want) {
            return text;
        }
        assert!(tokio::time::Instant::now() < deadline, "{series} never {want}:\n{text}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn metrics_follow_pool_health_allocations_and_registrations() {
    let mut f = start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("listen");
    let addr = listener.local_addr().expect("address");
    let stop = CancellationToken::new();
    let http = tokio::spawn(crate::http::serve(listener, f.shared.clone(), stop.clone()));
    let pool = r#"{resource="murmuration.io/fh"}"#;
    let series = |name: &str| format!("murmuration_device_plugin_{name}{pool}");
    let reg = registration(&mut f.kubelet).await;
    let text = until(addr, &series("registered"), 1.0).await;
    assert_eq!(sample(&text, &series("registrations_total")), Some(1.0), "{text}");
    assert_eq!(sample(&text, &series("devices")), Some(3.0), "{text}");
    assert_eq!(sample(&text, &series("healthy_devices")), Some(3.0), "{text}");

    let mut client = f.kubelet.plugin(&reg.endpoint).await.expect("plugin client");
    let mut stream = client.list_and_watch(Empty {}).await.expect("ListAndWatch").into_inner();
    next(&mut stream).await;
    fake_sysfs::set_link(&f.tmp.path().join("sys"), "eth0", false);
    f.events.notify_one();
    next(&mut stream).await;
    let text = scrape(addr).await;
    assert_eq!(sample(&text, &series("healthy_devices")), Some(0.0), "PF down:\n{text}");
    assert_eq!(sample(&text, &series("devices")), Some(3.0), "{text}");

    let alloc = |ids: &[&str]| AllocateRequest {
        container_requests: vec![ContainerAllocateRequest {
            devices_ids: ids.iter().map(|&i| i.to_owned()).collect(),
        }],
    };
    client.allocate(alloc(&["0000:01:10.0", "0000:01:10.4"])).await.expect("Allocate");
    client.allocate(alloc(&["0000:01:10.6"])).await.expect_err("VF 3 is outside the pool");
    let text = scrape(addr).await;
    assert_eq!(sample(&text, &series("allocations_total")), Some(2.0), "{text}");
    let refused = r#"murmuration_device_plugin_allocate_errors_total{resource="murmuration.io/fh",reason="unknown_device"}"#;
    assert_eq!(sample(&text, refused), Some(1.0), "{text}");

    f.kubelet.restart().await.expect("restart");
    registration(&mut f.kubelet).await;
    let text = until(addr, &series("registrations_total"), 2.0).await;
    assert!(text.contains("# TYPE murmuration_device_plugin_registered gauge"), "{text}");
    f.cancel.cancel();
    f.plugin.await.expect("plugin task");
    let text = scrape(addr).await;
    assert_eq!(sample(&text, &series("registered")), Some(0.0), "stopped:\n{text}");
    stop.cancel();
    http.await.expect("http task").expect("http server");
}

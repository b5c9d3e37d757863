//! `murmurationd` as the kubelet's device plugin on the igb PF's real VFs,
//! driven by a test kubelet (murmurationd's `device_plugin::testing`): two
//! pools register; ListAndWatch follows a vfio-pci rebind, PF link down/up
//! and a numvfs change; GetPreferredAllocation and Allocate (env, vfio
//! device specs, device-info files); re-registration after the kubelet's
//! socket is recreated; the allocated VF fed to the plugin's ADD as Multus
//! does. Reports Allocate latency and link-change-to-update time.
#![cfg(target_env = "musl")]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use murmuration_vm_tests::cmd::{ip, link_names};
use murmuration_vm_tests::cni::Cni;
use murmuration_vm_tests::daemon::Daemon;
use murmuration_vm_tests::pod::Pod;
use murmuration_vm_tests::report;
use murmuration_vm_tests::sriov::{Sriov, bind_vfio};
use murmurationd::device_plugin::api::device_plugin_client::DevicePluginClient;
use murmurationd::device_plugin::api::{
    AllocateRequest, ContainerAllocateRequest, ContainerAllocateResponse,
    ContainerPreferredAllocationRequest, Empty, ListAndWatchResponse, PreferredAllocationRequest,
    RegisterRequest,
};
use murmurationd::device_plugin::testing::TestKubelet;
use serde_json::json;
use tokio::runtime::Runtime;
use tonic::Streaming;
use tonic::transport::Channel;

const LIMIT: Duration = Duration::from_secs(30);
type Client = DevicePluginClient<Channel>;
type Devices = Vec<(String, String)>;

struct Kubelet {
    rt: Runtime,
    k: TestKubelet,
}

impl Kubelet {
    fn registrations(&mut self, n: usize) -> Vec<RegisterRequest> {
        let mut out: Vec<RegisterRequest> = (0..n)
            .map(|_| {
                let next = self.k.registrations.recv();
                let r = self.rt.block_on(async { tokio::time::timeout(LIMIT, next).await });
                r.expect("a registration in time").expect("kubelet open")
            })
            .collect();
        out.sort_by(|a, b| a.resource_name.cmp(&b.resource_name));
        out
    }

    fn client(&self, endpoint: &str) -> Client {
        self.rt.block_on(self.k.plugin(endpoint)).expect("plugin socket")
    }

    fn watch(&self, c: &mut Client) -> Streaming<ListAndWatchResponse> {
        self.rt.block_on(c.list_and_watch(Empty {})).expect("ListAndWatch").into_inner()
    }

    /// Reads updates until one satisfies `want`; returns it and when it came.
    fn until(
        &self,
        s: &mut Streaming<ListAndWatchResponse>,
        what: &str,
        want: impl Fn(&Devices) -> bool,
    ) -> (Devices, Instant) {
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            let next = s.message();
            let msg = self.rt.block_on(async { tokio::time::timeout_at(deadline, next).await });
            let msg = msg.unwrap_or_else(|_| panic!("timed out waiting for {what}"));
            let msg = msg.expect("stream ok").expect("stream open");
            let list: Devices = msg.devices.into_iter().map(|d| (d.id, d.health)).collect();
            if want(&list) {
                return (list, Instant::now());
            }
        }
    }

    fn allocate(&self, c: &mut Client, ids: &[&str]) -> ContainerAllocateResponse {
        let devices_ids = ids.iter().map(|s| (*s).to_owned()).collect();
        let req =
            AllocateRequest { container_requests: vec![ContainerAllocateRequest { devices_ids }] };
        let r = self.rt.block_on(c.allocate(req)).expect("Allocate").into_inner();
        r.container_responses.into_iter().next().expect("one container")
    }
}

fn all(list: &Devices, health: &str) -> bool {
    list.iter().all(|(_, h)| h == health)
}

fn ids(list: &Devices) -> Vec<&str> {
    list.iter().map(|(i, _)| i.as_str()).collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn config(s: &Sriov, cni: &Cni, kubelet: &Path, devinfo: &Path) -> String {
    format!(
        "[state]\ndata_dir = \"{}\"\ncni_path = [\"{}\"]\n\
         [device_plugin]\nenabled = true\nresource_prefix = \"murmuration.io\"\n\
         kubelet_dir = \"{}\"\ndevinfo_dir = \"{}\"\nrescan_seconds = 1\nkubelet_poll_seconds = 0.05\n\
         [[device_plugin.pool]]\nname = \"kern\"\npf_names = [\"{pf}#0-3\"]\nvendors = [\"8086\"]\n\
         drivers = [\"igbvf\"]\n\
         [[device_plugin.pool]]\nname = \"dpdk\"\npf_names = [\"{pf}#4-5\"]\ndrivers = [\"vfio-pci\"]\n",
        cni.data_dir.display(),
        cni.cni_path,
        kubelet.display(),
        devinfo.display(),
        pf = s.pf,
    )
}

/// Link change to ListAndWatch update, down and up.
fn link_flips(
    k: &Kubelet,
    s: &Sriov,
    stream: &mut Streaming<ListAndWatchResponse>,
) -> [Duration; 2] {
    let t0 = Instant::now();
    ip(&["link", "set", &s.pf, "down"]);
    let (_, t1) = k.until(stream, "every kern VF Unhealthy", |l| all(l, "Unhealthy"));
    let t2 = Instant::now();
    ip(&["link", "set", &s.pf, "up"]);
    let (_, t3) = k.until(stream, "every kern VF Healthy again", |l| all(l, "Healthy"));
    s.wait_for_carrier();
    [t1 - t0, t3 - t2]
}

#[test]
fn device_plugin_serves_vf_pools_to_the_kubelet() {
    let s = Sriov::fresh();
    let dir = std::env::temp_dir().join(format!("mmd-dp-{}", std::process::id()));
    let (kdir, devinfo) = (dir.join("kubelet"), dir.join("devinfo"));
    std::fs::create_dir_all(&kdir).expect("mkdir");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build();
    let rt = rt.expect("runtime");
    let k = rt.block_on(async { TestKubelet::start(&kdir) }).expect("test kubelet");
    let mut k = Kubelet { rt, k };
    let cni = Cni::new("dp");
    let mut daemon = Daemon::start(&dir, &config(&s, &cni, &kdir, &devinfo));

    let regs = k.registrations(2);
    let names: Vec<&str> = regs.iter().map(|r| r.resource_name.as_str()).collect();
    assert_eq!(names, ["murmuration.io/dpdk", "murmuration.io/kern"]);
    let (mut dpdk, mut kern) = (k.client(&regs[0].endpoint), k.client(&regs[1].endpoint));
    let mut kern_s = k.watch(&mut kern);
    let mut dpdk_s = k.watch(&mut dpdk);
    let pcis: Vec<&str> = s.vfs.iter().map(|v| v.pci.as_str()).collect();
    let (first, _) = k.until(&mut kern_s, "kern's VFs", |l| l.len() == 4);
    assert_eq!(ids(&first), pcis[..4], "VFs 0-3 by PCI address");
    assert!(all(&first, "Healthy"), "{first:?}");
    let (d, _) = k.until(&mut dpdk_s, "dpdk's VFs", |l| l.len() == 2);
    assert!(all(&d, "Unhealthy"), "igbvf is the wrong driver for dpdk: {d:?}");
    bind_vfio(&s.vfs[4].pci);
    let (d, _) =
        k.until(&mut dpdk_s, "VF 4 healthy on vfio-pci", |l| l.len() == 2 && l[0].1 == "Healthy");
    assert_eq!(d[1].1, "Unhealthy", "VF 5 still on igbvf");

    let flips = link_flips(&k, &s, &mut kern_s);

    let pref = PreferredAllocationRequest {
        container_requests: vec![ContainerPreferredAllocationRequest {
            available_device_ids: pcis[..4].iter().rev().map(|p| (*p).to_owned()).collect(),
            must_include_device_ids: vec![],
            allocation_size: 2,
        }],
    };
    let pref = k.rt.block_on(kern.get_preferred_allocation(pref)).expect("preferred");
    assert_eq!(pref.into_inner().container_responses[0].device_ids, pcis[..2], "lowest index");

    let v = k.allocate(&mut dpdk, &[pcis[4]]);
    let group =
        std::fs::read_link(Path::new("/sys/bus/pci/devices").join(pcis[4]).join("iommu_group"))
            .expect("iommu_group");
    // The guest has a virtual IOMMU (`/dev/vfio/<group>`); without one
    // vfio names the group `noiommu-<group>`.
    let group = group.file_name().expect("group").to_string_lossy().into_owned();
    let noiommu = format!("/dev/vfio/noiommu-{group}");
    let node = if Path::new(&noiommu).exists() { noiommu } else { format!("/dev/vfio/{group}") };
    let specs: Vec<&str> = v.devices.iter().map(|d| d.host_path.as_str()).collect();
    assert_eq!(specs, ["/dev/vfio/vfio", node.as_str()]);
    assert!(specs.iter().all(|p| Path::new(p).exists()), "{specs:?}");
    assert!(v.devices.iter().all(|d| d.host_path == d.container_path));
    assert_eq!(v.envs["PCIDEVICE_MURMURATION_IO_DPDK"], pcis[4]);

    let mut times: Vec<Duration> = (0..300)
        .map(|_| {
            let t = Instant::now();
            k.allocate(&mut kern, &[pcis[1]]);
            t.elapsed()
        })
        .collect();
    times.sort();
    let a = k.allocate(&mut kern, &[pcis[1]]);
    let chosen = a.envs["PCIDEVICE_MURMURATION_IO_KERN"].clone();
    assert_eq!(chosen, pcis[1]);
    let info = devinfo.join(format!("murmuration.io-kern-{chosen}-device.json"));
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&info).expect("device-info file")).expect("json");
    assert_eq!(
        doc,
        json!({"type": "pci", "version": "1.1.0",
        "pci": {"pci-address": chosen, "pf-pci-address": s.pf_pci}})
    );

    add_allocated_vf(&cni, &chosen);

    k.rt.block_on(k.k.restart()).expect("kubelet restart");
    let again = k.registrations(2);
    assert_eq!(again.iter().map(|r| r.resource_name.as_str()).collect::<Vec<_>>(), names);
    let mut kern = k.client(&again[1].endpoint);
    let mut kern_s = k.watch(&mut kern);
    k.until(&mut kern_s, "kern's VFs after re-registration", |l| l.len() == 4);

    let numvfs = Path::new("/sys/bus/pci/devices").join(&s.pf_pci).join("sriov_numvfs");
    std::fs::write(&numvfs, "0").expect("numvfs 0");
    std::fs::write(&numvfs, "3").expect("numvfs 3");
    let (l, _) = k.until(&mut kern_s, "kern shrunk to VFs 0-2", |l| l.len() == 3);
    assert!(ids(&l).iter().all(|i| i.starts_with(&s.pf_pci[..8])), "{l:?}");

    daemon.stop();
    let left: Vec<PathBuf> =
        std::fs::read_dir(&kdir).expect("dir").flatten().map(|e| e.path()).collect();
    assert_eq!(left, [kdir.join("kubelet.sock")], "the plugin removed its sockets");
    k.rt.block_on(k.k.shutdown());
    report_numbers(&times, flips);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The deviceID the kubelet got, given to the plugin's ADD as Multus does.
fn add_allocated_vf(cni: &Cni, pci: &str) {
    let pod = Pod::new("dp");
    let mut conf = cni.conf("sriov");
    conf["deviceID"] = json!(pci);
    conf["pciBusID"] = json!(pci);
    conf["ipam"] = json!({"type": "static", "addresses": [{"address": "10.69.0.2/24"}]});
    let r = cni.call("ADD", Some(&pod.path()), "c-dp", "net1", &conf).result();
    assert_eq!(r["interfaces"][0]["pciID"], pci, "{r}");
    assert_eq!(link_names(Some(&pod.name)), ["lo", "net1"]);
    cni.call("DEL", Some(&pod.path()), "c-dp", "net1", &conf).result();
    assert_eq!(link_names(Some(&pod.name)), ["lo"]);
}

fn report_numbers(times: &[Duration], flips: [Duration; 2]) {
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let text = format!(
        "device plugin (test kubelet over unix sockets, TCG guest)\n\
         Allocate (1 VF, device-info file written), {} calls: p50 {:.0} us, p99 {:.0} us, max {:.0} us\n\
         PF link down -> ListAndWatch update: {:.1} ms\n\
         PF link up -> ListAndWatch update: {:.1} ms\n",
        times.len(),
        us(percentile(times, 0.5)),
        us(percentile(times, 0.99)),
        us(times[times.len() - 1]),
        us(flips[0]) / 1000.0,
        us(flips[1]) / 1000.0,
    );
    print!("{text}");
    report("device-plugin.txt", &text);
}

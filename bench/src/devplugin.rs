//! `devplugin`: what the kubelet waits for when it asks murmurationd's device
//! plugin for a VF. The release `murmurationd` runs with `[device_plugin]` in
//! a namespace of its own, on a fake SR-IOV sysfs tree (the daemon's test
//! tree, `device_plugin::fake_sysfs`: this host has no SR-IOV); this program
//! is the kubelet: it serves `kubelet.sock`, takes the registration and
//! calls the plugin over real unix-socket gRPC, one call at a time.
//!
//! - Allocate of one VF (which writes the VF's device-info file), against
//!   GetDevicePluginOptions over the same channel (the baseline: a gRPC
//!   round trip that does nothing), interleaved.
//! - ListAndWatch reaction: the PF's link flipped in the tree, then a link
//!   event in the daemon's namespace (what wakes its scanner), until the
//!   stream's next list; it includes running `ip` for the event.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use murmurationd::device_plugin::api::{AllocateRequest, ContainerAllocateRequest, Empty};
use murmurationd::device_plugin::fake_sysfs::{self, FakeVf};
use murmurationd::device_plugin::testing::TestKubelet;
use serde::Serialize;

use crate::daemon::Daemon;
use crate::stats::{Summary, ms, ms_header, ms_row, summarize};
use crate::topo::{Netns, ip_in};

const VFS: usize = 8;
const PF: &str = "eth0";
const PF_PCI: &str = "0000:01:00.0";
const RESOURCE: &str = "murmuration.io/bench";
/// The target for Allocate.
const ALLOCATE_P99_TARGET_MS: f64 = 5.0;
const DEADLINE: Duration = Duration::from_secs(60);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Timed calls of each kind (default 1000, 100 with --quick).
    #[arg(long)]
    calls: Option<usize>,
    /// PF link flips timed through ListAndWatch (default 50, 10 with --quick).
    #[arg(long)]
    flips: Option<usize>,
    /// The daemon binary (default: `murmurationd` next to this binary).
    #[arg(long)]
    daemon: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct Results {
    allocate: Summary,
    options: Summary,
    list_and_watch_reaction: Summary,
    devinfo_dir_filesystem: String,
}

pub fn run(args: &Args, quick: bool, out: &Path) -> anyhow::Result<()> {
    let calls = args.calls.unwrap_or(if quick { 100 } else { 1000 });
    let flips = args.flips.unwrap_or(if quick { 10 } else { 50 });
    let bin = crate::binary_path(args.daemon.as_deref(), "murmurationd")?;
    let node = Node::create()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut kubelet = rt.block_on(async { TestKubelet::start(&node.kubelet_dir()) })?;
    let cfg = node.config()?.display().to_string();
    let mut daemon =
        Daemon::spawn(&node.netns.name, &bin, &["--config", &cfg], node.dir.join("log"))?;
    let measured = rt.block_on(measure(&mut kubelet, &node, calls, flips));
    // The client's connections to the plugin close only while the runtime
    // runs: the daemon's gRPC server waits for them to drain on SIGTERM.
    rt.block_on(kubelet.shutdown());
    drop(rt);
    daemon.stop();
    let results = measured.with_context(|| format!("daemon log:\n{}", daemon.log()))?;
    report(&results, out)
}

/// The daemon's namespace (with a veth pair whose changes are the link
/// events) and its directory: the sysfs tree, the kubelet's directory, the
/// device-info directory. Removed on drop.
struct Node {
    netns: Netns,
    dir: PathBuf,
}

impl Node {
    fn create() -> anyhow::Result<Self> {
        let netns = Netns::create("dplugin")?;
        ip_in(&netns.name, &["link", "add", "ev0", "type", "veth", "peer", "name", "ev1"])?;
        let dir = std::env::temp_dir().join(format!("mmb-devplugin-{}", std::process::id()));
        let node = Self { netns, dir };
        let vfs: Vec<(String, u32)> =
            (0..VFS).map(|i| (format!("0000:01:10.{i}"), 20 + i as u32)).collect();
        let fake: Vec<FakeVf<'_>> = vfs
            .iter()
            .map(|(pci, group)| FakeVf { pci, driver: "igbvf", numa: 0, group: *group })
            .collect();
        fake_sysfs::pf(&node.sysfs(), PF, PF_PCI, &fake);
        std::fs::create_dir_all(node.kubelet_dir())?;
        Ok(node)
    }

    fn sysfs(&self) -> PathBuf {
        self.dir.join("sys")
    }

    fn kubelet_dir(&self) -> PathBuf {
        self.dir.join("kubelet")
    }

    fn config(&self) -> anyhow::Result<PathBuf> {
        let d = self.dir.display();
        let text = format!(
            "[log]\nlevel = \"warn\"\n[http]\nlisten = \"127.0.0.1:9480\"\n\
             [state]\ndata_dir = \"{d}/state\"\n\
             [device_plugin]\nenabled = true\nkubelet_dir = \"{d}/kubelet\"\n\
             devinfo_dir = \"{d}/devinfo\"\ndev_dir = \"{d}/dev\"\nsysfs_root = \"{d}/sys\"\n\
             rescan_seconds = 3600\n\
             [[device_plugin.pool]]\nname = \"bench\"\npf_names = [\"{PF}\"]\n"
        );
        let path = self.dir.join("murmurationd.toml");
        std::fs::write(&path, text)?;
        Ok(path)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn measure(
    kubelet: &mut TestKubelet,
    node: &Node,
    calls: usize,
    flips: usize,
) -> anyhow::Result<Results> {
    let reg = tokio::time::timeout(DEADLINE, kubelet.registrations.recv())
        .await
        .context("no registration within 60 s")?
        .context("test kubelet closed")?;
    if reg.resource_name != RESOURCE {
        bail!("registered {}, expected {RESOURCE}", reg.resource_name);
    }
    let mut client = kubelet.plugin(&reg.endpoint).await?;
    let (mut allocate, mut options) = (Vec::new(), Vec::new());
    // The first calls of each kind warm the channel and the daemon up.
    for i in 0..calls + calls / 10 {
        let t = Instant::now();
        client.get_device_plugin_options(Empty {}).await?;
        let o = t.elapsed();
        let id = format!("0000:01:10.{}", i % VFS);
        let req = AllocateRequest {
            container_requests: vec![ContainerAllocateRequest { devices_ids: vec![id] }],
        };
        let t = Instant::now();
        client.allocate(req).await?;
        let a = t.elapsed();
        if i >= calls / 10 {
            options.push(o);
            allocate.push(a);
        }
    }
    let reaction = reactions(&mut client, node, flips).await?;
    Ok(Results {
        allocate: summarize(&allocate),
        options: summarize(&options),
        list_and_watch_reaction: summarize(&reaction),
        devinfo_dir_filesystem: filesystem(&node.dir)?,
    })
}

type Client = murmurationd::device_plugin::api::device_plugin_client::DevicePluginClient<
    tonic::transport::Channel,
>;

/// Flips the PF down and up `flips` times: each flip is timed from the link
/// event to the ListAndWatch list that shows it.
async fn reactions(
    client: &mut Client,
    node: &Node,
    flips: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut stream = client.list_and_watch(Empty {}).await?.into_inner();
    next_health(&mut stream).await?;
    let mut out = Vec::with_capacity(flips);
    for i in 0..flips {
        let up = i % 2 == 1;
        fake_sysfs::set_link(&node.sysfs(), PF, up);
        let t = Instant::now();
        ip_in(&node.netns.name, &["link", "set", "ev0", if up { "down" } else { "up" }])?;
        let want = if up { "Healthy" } else { "Unhealthy" };
        if next_health(&mut stream).await? != want {
            bail!("flip {i}: the list does not show the PF {}", if up { "up" } else { "down" });
        }
        out.push(t.elapsed());
    }
    Ok(out)
}

/// The next list's health (all VFs share the PF's).
async fn next_health(
    s: &mut tonic::Streaming<murmurationd::device_plugin::api::ListAndWatchResponse>,
) -> anyhow::Result<String> {
    let msg = tokio::time::timeout(DEADLINE, s.message())
        .await
        .context("no ListAndWatch update within 60 s")??
        .context("ListAndWatch ended")?;
    if msg.devices.len() != VFS {
        bail!("{} devices listed, expected {VFS}", msg.devices.len());
    }
    Ok(msg.devices[0].health.clone())
}

/// The filesystem the device-info files were written to (`stat -f`).
fn filesystem(dir: &Path) -> anyhow::Result<String> {
    let out = std::process::Command::new("stat").args(["-f", "-c", "%T"]).arg(dir).output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn report(r: &Results, out: &Path) -> anyhow::Result<()> {
    let mut md = ms_header("call");
    for (name, s) in [
        ("Allocate (1 VF, device-info file written)", &r.allocate),
        ("GetDevicePluginOptions (baseline)", &r.options),
        ("ListAndWatch reaction to a PF link flip", &r.list_and_watch_reaction),
    ] {
        md += &ms_row(name, s);
    }
    let ratio = |f: fn(&Summary) -> f64| f(&r.allocate) / f(&r.options);
    md += &format!(
        "\nAllocate / baseline: p50 {:.2}x, p99 {:.2}x. Allocate p99 {:.3} ms \
         (target < {ALLOCATE_P99_TARGET_MS} ms). Device-info files on {}.\n",
        ratio(|s| s.p50_us),
        ratio(|s| s.p99_us),
        ms(r.allocate.p99_us),
        r.devinfo_dir_filesystem
    );
    println!("{md}");
    std::fs::write(out.join("devplugin.md"), &md)?;
    let json = serde_json::json!({
        "benchmark": "devplugin", "machine": crate::report::machine(), "results": r,
        "allocate_over_options": {"p50": ratio(|s| s.p50_us), "p99": ratio(|s| s.p99_us)},
        "targets": {"allocate_p99_ms": ALLOCATE_P99_TARGET_MS},
    });
    std::fs::write(out.join("devplugin.json"), serde_json::to_vec_pretty(&json)?)?;
    eprintln!("wrote {}/devplugin.{{md,json}}", out.display());
    Ok(())
}

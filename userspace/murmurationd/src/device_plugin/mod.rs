//! murmurationd as a kubelet device plugin (API v1beta1, gRPC over unix
//! sockets): each `[[device_plugin.pool]]` is one extended resource
//! `<resource_prefix>/<name>` whose devices are SR-IOV VFs, named by PCI
//! address.
//!
//! - `scan`: the VFs in sysfs, sorted into pools, with health.
//! - `server`: the DevicePlugin service of one pool.
//! - `kubelet`: the pool's socket, registration, re-registration.
//! - `alloc`: preferred allocation, `PCIDEVICE_*`, vfio nodes, device-info path.
//! - `testing`: a kubelet stand-in (Registration server, plugin client) for tests.
//!
//! The scanner re-reads sysfs on every netlink link event (PF up/down, VFs
//! created or removed, netdevs bound or unbound) and every `rescan_seconds`,
//! and publishes each pool's list on a watch channel that ListAndWatch
//! streams follow.

pub mod alloc;
#[cfg(any(test, feature = "testing"))]
pub mod fake_sysfs;
pub mod kubelet;
pub mod scan;
pub mod server;
pub mod testing;

#[allow(missing_debug_implementations, clippy::all)]
pub mod api {
    tonic::include_proto!("v1beta1");
}

use std::sync::Arc;

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::DevicePluginConfig;
use crate::metrics::DevicePluginMetrics;

/// Publishes one pool's list to its ListAndWatch streams (when it differs)
/// and to the metrics.
fn publish(
    tx: &watch::Sender<Vec<scan::Vf>>,
    list: Vec<scan::Vf>,
    m: &DevicePluginMetrics,
    resource: &str,
) {
    m.devices(resource, list.len(), list.iter().filter(|v| v.healthy).count());
    tx.send_if_modified(|cur| {
        let differs = *cur != list;
        if differs {
            *cur = list;
        }
        differs
    });
}

/// Re-scans sysfs on `changed` or every `rescan_seconds`, publishing each
/// pool's VF list when it differs.
async fn scanner(
    config: DevicePluginConfig,
    pools: Vec<(String, watch::Sender<Vec<scan::Vf>>)>,
    metrics: DevicePluginMetrics,
    changed: Arc<Notify>,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = changed.notified() => {}
            () = tokio::time::sleep(config.rescan_seconds.get()) => {}
        }
        let vfs = scan::scan(&config.sysfs_root);
        for ((resource, tx), list) in pools.iter().zip(scan::assign(&config.pools, vfs)) {
            publish(tx, list, &metrics, resource);
        }
    }
}

/// Serves every pool until `cancel` fires. `link_events` wakes the scanner
/// (the daemon feeds it from its netlink subscription).
pub async fn run(
    config: DevicePluginConfig,
    metrics: DevicePluginMetrics,
    link_events: Arc<Notify>,
    cancel: CancellationToken,
) {
    let tasks = TaskTracker::new();
    let mut senders = Vec::new();
    let initial = scan::assign(&config.pools, scan::scan(&config.sysfs_root));
    for (pool, list) in config.pools.iter().zip(initial) {
        let resource = config.resource_name(pool);
        let healthy = list.iter().filter(|v| v.healthy).count();
        metrics.devices(&resource, list.len(), healthy);
        let (tx, rx) = watch::channel(list);
        senders.push((resource.clone(), tx));
        let service = server::PoolService {
            resource,
            metrics: metrics.clone(),
            vfs: rx,
            devinfo_dir: config.devinfo_dir.clone(),
            dev_dir: config.dev_dir.clone(),
            cancel: cancel.clone(),
        };
        let p = kubelet::Pool {
            service,
            kubelet_dir: config.kubelet_dir.clone(),
            endpoint: format!("murmuration-{}.sock", pool.name.as_str()),
            poll: config.kubelet_poll_seconds.get(),
        };
        tasks.spawn(p.run(cancel.clone()));
    }
    tasks.spawn(scanner(config, senders, metrics, link_events, cancel.clone()));
    tasks.close();
    tasks.wait().await;
}

#[cfg(test)]
mod tests;

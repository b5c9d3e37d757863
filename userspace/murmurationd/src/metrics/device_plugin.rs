//! The kubelet device plugin's metrics, one series per pool (label
//! `resource`, the extended resource name `<prefix>/<pool>`).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::Labels;
use super::label::Lv;

#[derive(Debug, Clone, Default)]
pub struct DevicePluginMetrics {
    devices: Family<Labels, Gauge>,
    healthy: Family<Labels, Gauge>,
    allocations: Family<Labels, Counter>,
    allocate_errors: Family<Labels, Counter>,
    registered: Family<Labels, Gauge>,
    registrations: Family<Labels, Counter>,
}

fn pool(resource: &str) -> Labels {
    vec![("resource", Lv::from(resource))]
}

impl DevicePluginMetrics {
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "murmuration_device_plugin_devices",
            "VFs in the pool, as announced in ListAndWatch",
            self.devices.clone(),
        );
        r.register(
            "murmuration_device_plugin_healthy_devices",
            "VFs of the pool announced Healthy",
            self.healthy.clone(),
        );
        r.register(
            "murmuration_device_plugin_allocations",
            "VFs handed out by successful Allocate calls",
            self.allocations.clone(),
        );
        r.register(
            "murmuration_device_plugin_allocate_errors",
            "Allocate calls refused, by reason (unknown_device, devinfo_write)",
            self.allocate_errors.clone(),
        );
        r.register(
            "murmuration_device_plugin_registered",
            "1 while the pool is registered with the kubelet",
            self.registered.clone(),
        );
        r.register(
            "murmuration_device_plugin_registrations",
            "Successful registrations with the kubelet (the first, then one per kubelet restart)",
            self.registrations.clone(),
        );
    }

    /// The pool's announced list: its size and how many are healthy.
    pub fn devices(&self, resource: &str, total: usize, healthy: usize) {
        let l = pool(resource);
        self.devices.get_or_create(&l).set(i64::try_from(total).unwrap_or(i64::MAX));
        self.healthy.get_or_create(&l).set(i64::try_from(healthy).unwrap_or(i64::MAX));
    }

    pub fn allocated(&self, resource: &str, vfs: usize) {
        self.allocations.get_or_create(&pool(resource)).inc_by(vfs as u64);
    }

    pub fn allocate_error(&self, resource: &str, reason: &'static str) {
        let mut l = pool(resource);
        l.push(("reason", Lv::from(reason)));
        self.allocate_errors.get_or_create(&l).inc();
    }

    /// Registered (or not) with the kubelet; a registration also counts.
    pub fn registered(&self, resource: &str, yes: bool) {
        let l = pool(resource);
        if yes {
            self.registrations.get_or_create(&l).inc();
        }
        self.registered.get_or_create(&l).set(i64::from(yes));
    }
}

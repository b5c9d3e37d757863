//! The O-RAN O-Cloud Notification API (REST v2) for this node's timing
//! state: subscriptions, CurrentState and CloudEvents pushed on change.
//!
//! [`Hub`] holds the latest [`Snapshot`] (fed by the PTP task after every
//! poll), the persisted subscriptions and one delivery queue per
//! subscription. [`api`] is the HTTP side; [`deliver`] the push side.

pub mod api;
pub mod deliver;
pub mod event;
pub mod store;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use tokio_util::sync::CancellationToken;

use crate::config::NotificationsConfig;
use crate::metrics::Labels;
use crate::metrics::label::Lv;
pub use event::{Resource, Snapshot};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use store::{Store, StoreError, Subscription};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug)]
pub struct Hub {
    cfg: NotificationsConfig,
    /// `/cluster/node/<node>`: the part of every resource address before the resource path.
    pub node_prefix: String,
    /// `http://<listen>`: where `UriLocation` points.
    pub base_url: String,
    snapshot: Mutex<Snapshot>,
    store: Mutex<Store>,
    queues: Mutex<HashMap<String, Arc<deliver::Queue>>>,
    metrics: HubMetrics,
    cancel: CancellationToken,
}

/// The daemon's notification metrics (handles into its registry).
#[derive(Debug, Clone)]
pub struct HubMetrics {
    pub notify_subscriptions: Gauge,
    pub notify_events: Family<Labels, Counter>,
}

impl From<&crate::metrics::Metrics> for HubMetrics {
    fn from(m: &crate::metrics::Metrics) -> Self {
        Self {
            notify_subscriptions: m.notify_subscriptions.clone(),
            notify_events: m.notify_events.clone(),
        }
    }
}

impl Hub {
    /// Loads the persisted subscriptions and starts their delivery tasks.
    pub fn start(
        cfg: NotificationsConfig,
        base_url: String,
        metrics: HubMetrics,
        cancel: CancellationToken,
    ) -> Result<Arc<Self>, StoreError> {
        let node_prefix = cfg.node_prefix();
        let store = Store::load(&cfg.store, cfg.max_subscriptions.get(), &node_prefix)?;
        let subs = store.list().to_vec();
        let hub = Arc::new(Self {
            cfg,
            node_prefix,
            base_url,
            snapshot: Mutex::new(Snapshot::default()),
            store: Mutex::new(store),
            queues: Mutex::new(HashMap::new()),
            metrics,
            cancel,
        });
        for s in &subs {
            hub.spawn_queue(s);
        }
        hub.metrics.notify_subscriptions.set(subs.len() as i64);
        tracing::info!(subscriptions = subs.len(), node = %hub.node_prefix, "notifications on");
        Ok(hub)
    }

    pub fn snapshot(&self) -> Snapshot {
        lock(&self.snapshot).clone()
    }

    /// The full address of `r` on this node.
    pub fn address(&self, r: Resource) -> String {
        format!("{}{}", self.node_prefix, r.path())
    }

    /// `r`'s current event, or `None` when it has no value (absent resource).
    pub fn current(&self, r: Resource) -> Option<serde_json::Value> {
        event::cloud_event(r, &self.address(r), &self.snapshot(), SystemTime::now())
    }

    /// Takes a new snapshot and queues an event for every subscriber of
    /// every resource whose value changed.
    pub fn update(&self, next: Snapshot) {
        let now = SystemTime::now();
        let changed = {
            let mut cur = lock(&self.snapshot);
            let changed = cur.changed(&next);
            *cur = next.clone();
            changed
        };
        if changed.is_empty() {
            return;
        }
        let subs = lock(&self.store).list().to_vec();
        let queues = lock(&self.queues);
        for r in changed {
            let Some(ev) = event::cloud_event(r, &self.address(r), &next, now) else { continue };
            let body = ev.to_string().into_bytes();
            for s in subs.iter().filter(|s| self.covers(s, r)) {
                if let Some(q) = queues.get(&s.id)
                    && q.push(body.clone(), self.cfg.queue_capacity.get())
                {
                    self.count(deliver::Outcome::Dropped);
                }
            }
        }
    }

    fn covers(&self, s: &Subscription, r: Resource) -> bool {
        store::resolve(&self.node_prefix, &s.address).is_some_and(|rs| rs.contains(&r))
    }

    fn policy(&self) -> deliver::Policy {
        deliver::Policy {
            capacity: self.cfg.queue_capacity.get(),
            timeout: self.cfg.delivery_timeout_seconds.get(),
            attempts: self.cfg.delivery_attempts,
            first_backoff: self.cfg.retry_backoff_seconds.get(),
            max_backoff: self.cfg.retry_backoff_seconds.get() * 32,
        }
    }

    fn count(&self, o: deliver::Outcome) {
        let result = match o {
            deliver::Outcome::Delivered => "delivered",
            deliver::Outcome::Failed => "failed",
            deliver::Outcome::Dropped => "dropped",
        };
        self.metrics.notify_events.get_or_create(&vec![("result", Lv::from(result))]).inc();
    }

    fn spawn_queue(self: &Arc<Self>, s: &Subscription) {
        let q = Arc::new(deliver::Queue::new(self.cancel.child_token()));
        lock(&self.queues).insert(s.id.clone(), q.clone());
        let (hub, uri, policy) = (self.clone(), s.endpoint.clone(), self.policy());
        tokio::spawn(async move {
            deliver::drain(&q, &uri, policy, |o| hub.count(o)).await;
        });
    }

    pub fn subscriptions(&self) -> Vec<Subscription> {
        lock(&self.store).list().to_vec()
    }

    pub fn subscription(&self, id: &str) -> Option<Subscription> {
        lock(&self.store).get(id).cloned()
    }

    /// Checks a new subscription against the bound and the existing ones.
    pub fn check(&self, endpoint: &str, resources: &[Resource]) -> Result<(), StoreError> {
        lock(&self.store).check(endpoint, resources)
    }

    /// Commits and persists `s`, and starts its delivery.
    pub fn add(self: &Arc<Self>, s: Subscription) -> Result<(), StoreError> {
        let n = {
            let mut st = lock(&self.store);
            st.add(s.clone())?;
            st.list().len()
        };
        self.spawn_queue(&s);
        self.metrics.notify_subscriptions.set(n as i64);
        Ok(())
    }

    /// Removes `id` (and stops its delivery); whether it existed.
    pub fn remove(&self, id: &str) -> Result<bool, StoreError> {
        let (found, n) = {
            let mut st = lock(&self.store);
            (st.remove(id)?, st.list().len())
        };
        if let Some(q) = lock(&self.queues).remove(id) {
            q.cancel.cancel();
        }
        self.metrics.notify_subscriptions.set(n as i64);
        Ok(found)
    }

    pub fn remove_all(&self) -> Result<(), StoreError> {
        let gone = lock(&self.store).clear()?;
        let mut queues = lock(&self.queues);
        for s in gone {
            if let Some(q) = queues.remove(&s.id) {
                q.cancel.cancel();
            }
        }
        self.metrics.notify_subscriptions.set(0);
        Ok(())
    }

    pub fn timeout(&self) -> std::time::Duration {
        self.cfg.delivery_timeout_seconds.get()
    }
}

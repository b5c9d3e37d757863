//! `[notifications]`: the O-RAN O-Cloud Notification API (see docs/timing.md).

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, Seconds, secs};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsConfig {
    pub enabled: bool,
    /// Its own listener; none: served on `[http] listen` beside `/metrics`.
    pub listen: Option<SocketAddr>,
    /// Resource addresses are `<cluster_prefix>/<node_name><resource path>`.
    pub cluster_prefix: String,
    /// This node's name in resource addresses; empty: the host name.
    pub node_name: String,
    /// Where subscriptions persist (a 0600 JSON file).
    pub store: PathBuf,
    pub max_subscriptions: NonZeroUsize,
    /// Events waiting per subscriber; past it the oldest is dropped.
    pub queue_capacity: NonZeroUsize,
    /// Bounds one POST to a consumer: connect, send, status line.
    pub delivery_timeout_seconds: Seconds,
    /// Tries per event before it is dropped.
    pub delivery_attempts: u32,
    /// The first retry's wait; doubles per retry, up to 32 times this.
    pub retry_backoff_seconds: Seconds,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: None,
            cluster_prefix: "/cluster/node".into(),
            node_name: String::new(),
            store: PathBuf::from("/var/lib/murmurationd/subscriptions.json"),
            max_subscriptions: NonZeroUsize::new(256).unwrap_or(NonZeroUsize::MIN),
            queue_capacity: NonZeroUsize::new(64).unwrap_or(NonZeroUsize::MIN),
            delivery_timeout_seconds: secs(2.0),
            delivery_attempts: 5,
            retry_backoff_seconds: secs(0.1),
        }
    }
}

impl NotificationsConfig {
    /// `/cluster/node/<name>`, the host name when no name is configured.
    pub fn node_prefix(&self) -> String {
        let name = if self.node_name.is_empty() {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "localhost".into())
        } else {
            self.node_name.clone()
        };
        format!("{}/{name}", self.cluster_prefix.trim_end_matches('/'))
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let bad_segment = |s: &str| s.is_empty() || s == "." || s == "*";
        let prefix_ok = self.cluster_prefix.starts_with('/')
            && self.cluster_prefix.trim_end_matches('/')[1..].split('/').all(|s| !bad_segment(s));
        if !prefix_ok {
            return Err(ConfigError::Invalid(format!(
                "notifications.cluster_prefix {:?}: expected /segment[/segment...]",
                self.cluster_prefix
            )));
        }
        if self.node_name.contains('/') || self.node_name == "." || self.node_name == "*" {
            return Err(ConfigError::Invalid(format!(
                "notifications.node_name {:?}: one path segment",
                self.node_name
            )));
        }
        if self.delivery_attempts == 0 {
            return Err(ConfigError::Invalid("notifications.delivery_attempts is 0".into()));
        }
        Ok(())
    }
}

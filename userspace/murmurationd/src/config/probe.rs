//! `[[prober]]` and `[[responder]]`: the latency prober's endpoints.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, Seconds, secs};

/// A name used as a metric label: 1-64 of `[A-Za-z0-9_.-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct ProbeName(String);

impl ProbeName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ProbeName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
        if !s.is_empty() && s.len() <= 64 && s.chars().all(ok) {
            Ok(Self(s))
        } else {
            Err(format!("name {s:?}: expected 1-64 characters of [A-Za-z0-9_.-]"))
        }
    }
}

impl std::fmt::Display for ProbeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One `[[prober]]`: UDP requests from `netns` to `target`, every `interval_seconds`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProberConfig {
    /// The `probe` label of its metrics; unique among probers.
    pub name: ProbeName,
    /// Network namespace to send from (e.g. `/var/run/netns/x`); the daemon's own when absent.
    #[serde(default)]
    pub netns: Option<PathBuf>,
    /// A UDP echo responder (`[[responder]]` or any echo service).
    pub target: SocketAddr,
    /// Local address to bind (port 0 picks one); the wildcard of the target's family by default.
    #[serde(default)]
    pub source: Option<SocketAddr>,
    #[serde(default = "default_interval")]
    pub interval_seconds: Seconds,
    /// A request without a reply by then counts as a timeout; at most `interval_seconds`.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: Seconds,
    /// UDP payload size in bytes (16-1400).
    #[serde(default = "default_payload")]
    pub payload_bytes: usize,
}

fn default_interval() -> Seconds {
    secs(1.0)
}

fn default_timeout() -> Seconds {
    secs(0.5)
}

fn default_payload() -> usize {
    64
}

/// One `[[responder]]`: a UDP echo bound to `listen` inside `netns`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponderConfig {
    /// The `responder` label of its metrics; unique among responders.
    pub name: ProbeName,
    /// Network namespace to listen in; the daemon's own when absent.
    #[serde(default)]
    pub netns: Option<PathBuf>,
    pub listen: SocketAddr,
}

fn invalid(msg: String) -> ConfigError {
    ConfigError::Invalid(msg)
}

fn unique_names<'a>(
    what: &str,
    names: impl Iterator<Item = &'a ProbeName>,
) -> Result<(), ConfigError> {
    let mut seen = HashSet::new();
    for n in names {
        if !seen.insert(n) {
            return Err(invalid(format!("{what} name {n:?} used twice")));
        }
    }
    Ok(())
}

pub(super) fn validate(
    probers: &[ProberConfig],
    responders: &[ResponderConfig],
) -> Result<(), ConfigError> {
    unique_names("prober", probers.iter().map(|p| &p.name))?;
    unique_names("responder", responders.iter().map(|r| &r.name))?;
    for p in probers {
        let n = &p.name;
        if p.target.port() == 0 || p.target.ip().is_unspecified() {
            return Err(invalid(format!("prober {n}: target {} is not a destination", p.target)));
        }
        if p.source.is_some_and(|s| s.is_ipv4() != p.target.is_ipv4()) {
            return Err(invalid(format!("prober {n}: source and target families differ")));
        }
        if p.timeout_seconds.get() > p.interval_seconds.get() {
            return Err(invalid(format!("prober {n}: timeout_seconds exceeds interval_seconds")));
        }
        if !(16..=1400).contains(&p.payload_bytes) {
            return Err(invalid(format!(
                "prober {n}: payload_bytes {} not in 16..=1400",
                p.payload_bytes
            )));
        }
    }
    for r in responders {
        if r.listen.port() == 0 {
            return Err(invalid(format!("responder {}: listen needs a port", r.name)));
        }
    }
    Ok(())
}

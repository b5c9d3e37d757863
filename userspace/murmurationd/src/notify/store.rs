//! Subscriptions: resource addresses resolved against this node, a bounded
//! set, persisted as JSON in a 0600 file replaced atomically (write, fsync,
//! rename) on every change so they survive a restart.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::event::Resource;

/// A subscription as the API shows it (the O-RAN field names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    #[serde(rename = "SubscriptionId")]
    pub id: String,
    #[serde(rename = "EndpointUri")]
    pub endpoint: String,
    #[serde(rename = "ResourceAddress")]
    pub address: String,
    #[serde(rename = "UriLocation")]
    pub uri_location: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a subscription list")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("EndpointUri {endpoint} already subscribes to {address}")]
    Duplicate { endpoint: String, address: String },
    #[error("at most {0} subscriptions")]
    Full(usize),
}

/// Which resources `address` names on the node whose prefix is `node`
/// (`/cluster/node/<name>`): `<node><resource path>` for one resource,
/// `<node>/sync` for all this node serves. A prefix segment of `.` or `*`
/// matches any (StarlingX's "this cluster/node" and "all" wildcards).
/// `None` when the address names another node or an unknown resource.
pub fn resolve(node: &str, address: &str) -> Option<Vec<Resource>> {
    let (prefix, resources) = if let Some(p) = address.strip_suffix("/sync") {
        (p, Resource::SERVED.to_vec())
    } else {
        let r = Resource::ALL.into_iter().find(|r| address.ends_with(r.path()))?;
        (&address[..address.len() - r.path().len()], vec![r])
    };
    let want: Vec<&str> = node.split('/').collect();
    let got: Vec<&str> = prefix.split('/').collect();
    let same = want.len() == got.len()
        && want
            .iter()
            .zip(&got)
            .all(|(w, g)| w == g || (!w.is_empty() && (*g == "." || *g == "*")));
    same.then_some(resources)
}

#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    max: usize,
    node: String,
    subs: Vec<Subscription>,
}

impl Store {
    /// Loads `path` (none yet: empty). Entries that no longer resolve on
    /// `node` are kept: the node name is configuration and may come back.
    pub fn load(path: &Path, max: usize, node: &str) -> Result<Self, StoreError> {
        let subs = match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|source| StoreError::Parse { path: path.to_owned(), source })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(StoreError::Read { path: path.to_owned(), source }),
        };
        Ok(Self { path: path.to_owned(), max, node: node.to_owned(), subs })
    }

    pub fn list(&self) -> &[Subscription] {
        &self.subs
    }

    pub fn get(&self, id: &str) -> Option<&Subscription> {
        self.subs.iter().find(|s| s.id == id)
    }

    /// Whether a new subscription of `endpoint` to `resources` would
    /// duplicate one (same endpoint, a resource in common) or exceed the bound.
    pub fn check(&self, endpoint: &str, resources: &[Resource]) -> Result<(), StoreError> {
        let dup = self.subs.iter().find(|s| {
            s.endpoint == endpoint
                && resolve(&self.node, &s.address)
                    .is_some_and(|rs| rs.iter().any(|r| resources.contains(r)))
        });
        if let Some(s) = dup {
            return Err(StoreError::Duplicate {
                endpoint: s.endpoint.clone(),
                address: s.address.clone(),
            });
        }
        if self.subs.len() >= self.max {
            return Err(StoreError::Full(self.max));
        }
        Ok(())
    }

    pub fn add(&mut self, s: Subscription) -> Result<(), StoreError> {
        let resources = resolve(&self.node, &s.address).unwrap_or_default();
        self.check(&s.endpoint, &resources)?;
        self.subs.push(s);
        self.save().inspect_err(|_| {
            self.subs.pop();
        })
    }

    /// Removes `id`; whether it was there.
    pub fn remove(&mut self, id: &str) -> Result<bool, StoreError> {
        let before = self.subs.len();
        self.subs.retain(|s| s.id != id);
        if self.subs.len() == before {
            return Ok(false);
        }
        self.save().map(|()| true)
    }

    pub fn clear(&mut self) -> Result<Vec<Subscription>, StoreError> {
        let gone = std::mem::take(&mut self.subs);
        self.save().map(|()| gone)
    }

    fn save(&self) -> Result<(), StoreError> {
        let err = |source| StoreError::Write { path: self.path.clone(), source };
        let tmp = self.path.with_extension("tmp");
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let body = serde_json::to_vec_pretty(&self.subs).unwrap_or_default();
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(err)?;
        f.write_all(&body).and_then(|()| f.sync_all()).map_err(err)?;
        std::fs::rename(&tmp, &self.path).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const NODE: &str = "/cluster/node/n1";

    fn sub(id: &str, endpoint: &str, address: &str) -> Subscription {
        Subscription {
            id: id.into(),
            endpoint: endpoint.into(),
            address: address.into(),
            uri_location: format!("http://x/{id}"),
        }
    }

    #[test]
    fn addresses_resolve_on_this_node_only() {
        let lock = vec![Resource::LockState];
        for (addr, want) in [
            ("/cluster/node/n1/sync/ptp-status/lock-state", Some(lock.clone())),
            ("/./n1/sync/ptp-status/lock-state", None),
            ("/cluster/./n1/sync/ptp-status/lock-state", Some(lock.clone())),
            ("/cluster/node/*/sync/ptp-status/lock-state", Some(lock.clone())),
            ("/cluster/node/./sync/ptp-status/lock-state", Some(lock)),
            ("/cluster/node/n2/sync/ptp-status/lock-state", None),
            ("/cluster/node/n1/sync/ptp-status/bogus", None),
            ("/cluster/node/n1/sync", Some(Resource::SERVED.to_vec())),
            (
                "/cluster/node/n1/sync/gnss-status/gnss-sync-status",
                Some(vec![Resource::GnssSyncStatus]),
            ),
            ("", None),
        ] {
            assert_eq!(resolve(NODE, addr), want, "{addr}");
        }
    }

    #[test]
    fn duplicates_and_the_bound_are_refused_and_the_file_is_private() {
        let t = tempfile::tempdir().expect("tempdir");
        let path = t.path().join("sub/subscriptions.json");
        let mut s = Store::load(&path, 2, NODE).expect("empty");
        let lock = "/cluster/node/n1/sync/ptp-status/lock-state";
        s.add(sub("a", "http://h/e", lock)).expect("first");
        let dup = s.add(sub("b", "http://h/e", "/cluster/node/n1/sync"));
        assert!(matches!(dup, Err(StoreError::Duplicate { .. })), "{dup:?}");
        s.add(sub("b", "http://h/other", lock)).expect("another endpoint");
        let full = s.add(sub("c", "http://h/third", lock));
        assert!(matches!(full, Err(StoreError::Full(2))), "{full:?}");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        let again = Store::load(&path, 2, NODE).expect("reload");
        assert_eq!(again.list(), s.list());
        assert!(s.remove("a").expect("remove"));
        assert!(!s.remove("a").expect("gone is fine"));
        assert_eq!(Store::load(&path, 2, NODE).expect("reload").list().len(), 1);
        std::fs::write(&path, "not json").expect("corrupt");
        assert!(matches!(Store::load(&path, 2, NODE), Err(StoreError::Parse { .. })));
    }
}

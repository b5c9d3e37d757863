//! IP address management behind one interface.
//!
//! By default IPAM is delegated: the plugin named by `ipam.type` is executed
//! from `CNI_PATH` as the spec describes ([`Delegated`]). With
//! `"ipamInProcess": true` a `static` IPAM is served in-process
//! ([`StaticIpam`]), which saves an exec per ADD. Another in-process
//! implementation only has to implement [`Ipam`] and be chosen in [`for_conf`].

mod child;
mod delegate;
mod static_ipam;
mod versions;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cni::config::NetConf;
use crate::cni::env::Command;
use crate::cni::error::CniError;
use crate::cni::result::CniResult;

pub use delegate::Delegated;
pub use static_ipam::StaticIpam;

/// One call into IPAM: the verb, the network config bytes and the environment.
#[derive(Debug, Clone)]
pub struct Invocation<'a> {
    pub command: Command,
    /// The whole network configuration, as the runtime sent it (or as ADD recorded it).
    pub config: &'a [u8],
    /// The plugin's own environment; `CNI_COMMAND` is replaced per call.
    pub env: &'a HashMap<String, String>,
    /// Extra variables, e.g. another attachment's `CNI_CONTAINERID` during GC.
    pub overrides: Vec<(&'static str, String)>,
}

pub trait Ipam {
    /// Fails when this IPAM cannot run at all (a delegate missing from
    /// `CNI_PATH`): ADD asks before it records or allocates anything.
    fn ready(&self) -> Result<(), CniError> {
        Ok(())
    }
    /// Allocates addresses. The returned IPs carry no interface index yet.
    fn add(&self, inv: &Invocation<'_>) -> Result<CniResult, CniError>;
    /// Releases what ADD allocated; succeeds when nothing is held.
    fn del(&self, inv: &Invocation<'_>) -> Result<(), CniError>;
    fn check(&self, inv: &Invocation<'_>) -> Result<(), CniError>;
    fn status(&self, inv: &Invocation<'_>) -> Result<(), CniError>;
    fn gc(&self, inv: &Invocation<'_>) -> Result<(), CniError>;
}

/// Where delegated plugins are found and where negotiated versions are cached.
#[derive(Debug, Clone)]
pub struct IpamEnv {
    pub cni_path: Vec<PathBuf>,
    pub cache_dir: PathBuf,
    /// Each exec of the plugin is killed after this long (`ipamTimeoutSeconds`).
    pub timeout: Duration,
}

/// Picks the IPAM for a network, or `None` when the config has no `ipam`.
pub fn for_conf(conf: &NetConf, cni_path: &[PathBuf]) -> Option<Box<dyn Ipam>> {
    let ipam = conf.ipam.as_ref()?;
    if ipam.in_process {
        return Some(Box::new(StaticIpam));
    }
    let env = IpamEnv {
        cni_path: cni_path.to_vec(),
        cache_dir: cache_dir(&conf.data_dir),
        timeout: conf.ipam_timeout,
    };
    Some(Box::new(Delegated::new(&ipam.kind, env)))
}

fn cache_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("ipam-versions")
}

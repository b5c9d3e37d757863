//! The verbs. Each takes a validated [`Call`] (and ADD, CHECK and DEL their
//! typed environment, [`PodEnv`] or [`DelEnv`]) and works through the shared
//! pieces: [`crate::state`], [`crate::ipam`], [`crate::attach`], [`crate::netlink`].
//!
//! `release` is the one teardown path: DEL, GC, ADD's rollback and the node
//! daemon's cleanup all go through it.

mod add;
mod check;
mod del;
mod gc;
mod ptplock;
mod status;

use std::collections::HashMap;

pub use add::add;
pub use check::check;
pub use del::del;
pub use gc::gc;
pub use status::status;

use crate::attach;
use crate::cni::config::NetConf;
use crate::cni::env::{CniPath, Command};
#[cfg(doc)]
use crate::cni::env::{DelEnv, PodEnv};
use crate::cni::error::CniError;
use crate::ipam::{self, Invocation, Ipam};
use crate::netlink::{Netlink, Transport};
use crate::netns::NetNs;
use crate::state::{Record, Store};

/// One plugin invocation: the raw environment (handed on to delegated
/// plugins), `CNI_PATH` and the config.
#[derive(Debug)]
pub struct Call<'a> {
    pub vars: &'a HashMap<String, String>,
    pub path: CniPath,
    pub conf: NetConf,
}

impl Call<'_> {
    fn store(&self) -> Store {
        Store::new(&self.conf.data_dir).with_lock_timeout(self.conf.lock_timeout)
    }

    fn ipam(&self) -> Option<Box<dyn Ipam>> {
        ipam::for_conf(&self.conf, self.path.dirs())
    }

    /// An IPAM call with this invocation's config and environment.
    fn invocation(&self, command: Command) -> Invocation<'_> {
        let overrides = if command == Command::Del { teardown_args(self.vars) } else { Vec::new() };
        Invocation { command, config: &self.conf.raw, env: self.vars, overrides }
    }
}

fn open_host_netlink() -> Result<Netlink, CniError> {
    Ok(Netlink::open()?)
}

fn open_pod_netlink(ns: &NetNs) -> Result<Netlink, CniError> {
    Ok(ns.run(Netlink::open)??)
}

/// Tears an attachment down from its record: interfaces, then IPAM, then the
/// record itself. Keeps going past failures; the record stays when anything
/// failed, so a repeated DEL can finish the job.
///
/// The IPAM is the one the record's config names, looked up in `path`;
/// `fallback` (a DEL's or GC's own) is used only when that config is no
/// longer usable. `vars` is the environment handed to a delegated plugin
/// (the node daemon has none: an empty map); the attachment's identity and
/// `CNI_PATH` are set from the record and `path`.
pub fn release<T: Transport>(
    rec: &Record,
    store: &Store,
    host: &mut Netlink<T>,
    path: &CniPath,
    fallback: Option<&dyn Ipam>,
    vars: &HashMap<String, String>,
) -> Vec<CniError> {
    let mut errors = Vec::new();
    if rec.from_earlier_boot() {
        // Its namespaces, links, VF settings and pins died with that boot;
        // whatever now has the same names or numbers belongs to someone else.
        tracing::info!(container = %rec.container_id, ifname = %rec.ifname,
            "record from an earlier boot: releasing only its lease and record");
    } else if let Err(e) = attach::teardown(rec, store, host) {
        errors.push(e.context(format!("tearing down {}", rec.ifname)));
    }
    crate::fault::point(crate::fault::DEL_AFTER_LINK);
    // The IPAM that allocated is the one in the recorded config; the caller's
    // (from a DEL or GC config that may lack `ipam`) is only a fallback.
    let recorded = recorded_ipam(rec, path);
    match (rec.ipam_allocated, recorded.as_deref().or(fallback)) {
        (true, Some(ipam)) => {
            let inv = Invocation {
                command: Command::Del,
                config: rec.config.get().as_bytes(),
                env: vars,
                overrides: record_env(rec, path, vars),
            };
            if let Err(e) = ipam.del(&inv) {
                errors.push(e.context("releasing IPAM lease"));
            }
        }
        // A lease was taken but neither the record's config nor the caller
        // names a usable IPAM (its `ipam` section itself no longer parses):
        // nothing can release it. DEL must not fail for ever on that.
        (true, None) => tracing::warn!(container = %rec.container_id, ifname = %rec.ifname,
            "recorded IPAM unusable and none given: its lease cannot be released"),
        _ => {}
    }
    crate::fault::point(crate::fault::DEL_AFTER_IPAM);
    crate::test_hooks::pause(crate::test_hooks::RELEASE_BEFORE_REMOVE);
    if errors.is_empty()
        && let Err(e) = store.remove(&rec.id())
    {
        errors.push(e.into());
    }
    errors
}

/// The IPAM of the record's config, read as DEL reads a config: keys that no
/// longer validate (after an upgrade) are dropped before `ipam` is given up.
fn recorded_ipam(rec: &Record, path: &CniPath) -> Option<Box<dyn Ipam>> {
    let (conf, _) = NetConf::parse_for_del(rec.config.get().as_bytes()).ok()?;
    ipam::for_conf(&conf, path.dirs())
}

/// The attachment's own identity for a delegated call made on its behalf.
fn record_env(
    rec: &Record,
    path: &CniPath,
    vars: &HashMap<String, String>,
) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("CNI_CONTAINERID", rec.container_id.to_string()),
        ("CNI_IFNAME", rec.ifname.to_string()),
        ("CNI_NETNS", rec.netns.as_ref().map(|p| p.display().to_string()).unwrap_or_default()),
        ("CNI_PATH", path.to_string()),
    ];
    env.extend(teardown_args(vars));
    env
}

/// A teardown must not fail on malformed `CNI_ARGS` (the reference IPAM
/// plugins refuse them): a delegated DEL gets the pairs that parse plus
/// `IgnoreUnknown=1`, or the runtime's value unchanged when all of it parses.
fn teardown_args(vars: &HashMap<String, String>) -> Vec<(&'static str, String)> {
    let Some(raw) = vars.get("CNI_ARGS") else { return Vec::new() };
    if crate::cni::args::CniArgs::parse(raw).is_ok() {
        return Vec::new();
    }
    let mut kept = crate::cni::args::CniArgs::parse_lenient(raw).all;
    // What is left is passed on for information only; tell the delegate so.
    kept.insert("IgnoreUnknown".into(), "1".into());
    vec![("CNI_ARGS", kept.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(";"))]
}

/// Folds several failures into one error: the first one's code, all messages.
fn combine(mut errors: Vec<CniError>) -> Result<(), CniError> {
    if errors.is_empty() {
        return Ok(());
    }
    let mut first = errors.remove(0);
    if !errors.is_empty() {
        let rest: Vec<String> = errors.iter().map(ToString::to_string).collect();
        first.details = [first.details.clone(), format!("also: {}", rest.join("; "))]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
    }
    Err(first)
}

#[cfg(test)]
mod release_tests;

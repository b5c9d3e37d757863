//! Delegated IPAM: exec the plugin named by `ipam.type` from `CNI_PATH`.
//!
//! Per the spec the delegate gets our environment with `CNI_COMMAND` set and
//! the whole network configuration on stdin; its stderr is forwarded. If the
//! delegate does not speak the config's `cniVersion` (Debian's 1.1.1 plugins
//! stop at 1.0.0), the config is sent with the newest version both sides
//! know, and verbs the delegate cannot have (CHECK before 0.4.0, STATUS and GC
//! before 1.1.0) are not sent.
//!
//! Every exec is bounded by `ipamTimeoutSeconds` ([`IpamEnv::timeout`]): a
//! plugin that has not answered by then is killed by PID and reaped, and the
//! call fails with code 11 (try again later); see [`super::child`].

use std::path::PathBuf;
use std::process::Command as Process;

use serde_json::Value;

use super::child::{self, ChildError};
use super::versions::negotiate;
use super::{Invocation, Ipam, IpamEnv};
use crate::cni::env::Command;
use crate::cni::error::{CniError, ErrorCode};
use crate::cni::result::CniResult;
use crate::cni::version::CniVersion;

#[derive(Debug)]
pub struct Delegated {
    kind: String,
    env: IpamEnv,
}

impl Delegated {
    pub fn new(kind: &str, env: IpamEnv) -> Self {
        Self { kind: kind.to_owned(), env }
    }

    fn binary(&self) -> Result<PathBuf, CniError> {
        self.env.cni_path.iter().map(|d| d.join(&self.kind)).find(|p| p.is_file()).ok_or_else(
            || {
                CniError::new(ErrorCode::IpamExec, format!("IPAM plugin {:?} not found", self.kind))
                    .with_details(format!("CNI_PATH: {:?}", self.env.cni_path))
            },
        )
    }

    /// Runs the delegate; `Ok(None)` when the verb is skipped for its version.
    fn call(&self, inv: &Invocation<'_>) -> Result<Option<Vec<u8>>, CniError> {
        let bin = self.binary()?;
        let ours = config_version(inv.config)?;
        let version = negotiate(&bin, ours, &self.env.cache_dir, |b| self.query_versions(b, ours))?;
        if !verb_allowed(inv.command, version) {
            tracing::debug!(ipam = %self.kind, %version, verb = inv.command.as_str(), "not forwarded");
            return Ok(None);
        }
        let config =
            if version == ours { inv.config.to_vec() } else { with_version(inv, version)? };
        let mut env: Vec<(&str, &str)> =
            inv.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        env.retain(|(k, _)| *k != "CNI_COMMAND" && !inv.overrides.iter().any(|(o, _)| o == k));
        env.push(("CNI_COMMAND", inv.command.as_str()));
        env.extend(inv.overrides.iter().map(|(k, v)| (*k, v.as_str())));
        self.exec(&bin, &env, &config).map(Some)
    }

    fn query_versions(
        &self,
        bin: &std::path::Path,
        ours: CniVersion,
    ) -> Result<Vec<String>, CniError> {
        let stdin = format!(r#"{{"cniVersion":"{ours}"}}"#);
        let out = self.exec(bin, &[("CNI_COMMAND", "VERSION")], stdin.as_bytes())?;
        let info: crate::cni::version::VersionInfo = serde_json::from_slice(&out).map_err(|e| {
            CniError::new(ErrorCode::IpamExec, format!("IPAM {} VERSION reply", self.kind))
                .with_details(e.to_string())
        })?;
        Ok(info.supported_versions)
    }

    fn exec(
        &self,
        bin: &std::path::Path,
        env: &[(&str, &str)],
        stdin: &[u8],
    ) -> Result<Vec<u8>, CniError> {
        let mut cmd = Process::new(bin);
        cmd.env_clear().envs(env.iter().copied());
        let out = child::run(cmd, stdin, self.env.timeout).map_err(|e| self.exec_error(bin, &e))?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        Err(delegate_error(&self.kind, &out.stdout))
    }

    /// A hung plugin is "try again later" (11); one that cannot run is 104.
    fn exec_error(&self, bin: &std::path::Path, e: &ChildError) -> CniError {
        match e {
            ChildError::TimedOut { .. } => {
                CniError::new(ErrorCode::TryAgainLater, format!("IPAM plugin {}: {e}", self.kind))
                    .with_details("the plugin hung; raise ipamTimeoutSeconds if it is only slow")
            }
            _ => CniError::new(
                ErrorCode::IpamExec,
                format!("cannot run IPAM plugin {}", bin.display()),
            )
            .with_details(crate::cni::error::chain(e)),
        }
    }
}

/// The delegate's own error object, passed through with its code.
fn delegate_error(kind: &str, stdout: &[u8]) -> CniError {
    match serde_json::from_slice::<CniError>(stdout) {
        Ok(e) => e.context(format!("IPAM {kind}")),
        Err(_) => CniError::new(ErrorCode::IpamExec, format!("IPAM {kind} failed"))
            .with_details(String::from_utf8_lossy(stdout).into_owned()),
    }
}

fn verb_allowed(cmd: Command, v: CniVersion) -> bool {
    match cmd {
        Command::Check => v.has_check(),
        Command::Status | Command::Gc => v.is_1_1(),
        _ => true,
    }
}

fn config_version(config: &[u8]) -> Result<CniVersion, CniError> {
    let v = crate::cni::config::peek_version(config)
        .ok_or_else(|| CniError::new(ErrorCode::Decode, "network config has no cniVersion"))?;
    CniVersion::parse(&v)
}

fn with_version(inv: &Invocation<'_>, v: CniVersion) -> Result<Vec<u8>, CniError> {
    let mut conf: Value = serde_json::from_slice(inv.config)?;
    conf["cniVersion"] = Value::String(v.as_str().to_owned());
    if let Some(prev) = conf.get("prevResult").and_then(|p| CniResult::from_value(p).ok()) {
        conf["prevResult"] = prev.to_value(v);
    }
    Ok(serde_json::to_vec(&conf)?)
}

impl Ipam for Delegated {
    fn ready(&self) -> Result<(), CniError> {
        self.binary().map(drop)
    }

    fn add(&self, inv: &Invocation<'_>) -> Result<CniResult, CniError> {
        let out = self.call(inv)?.unwrap_or_default();
        let v: Value = serde_json::from_slice(&out).map_err(|e| {
            CniError::new(ErrorCode::IpamExec, format!("IPAM {} returned no result", self.kind))
                .with_details(e.to_string())
        })?;
        CniResult::from_value(&v)
    }

    fn del(&self, inv: &Invocation<'_>) -> Result<(), CniError> {
        self.call(inv).map(drop)
    }

    fn check(&self, inv: &Invocation<'_>) -> Result<(), CniError> {
        self.call(inv).map(drop)
    }

    fn status(&self, inv: &Invocation<'_>) -> Result<(), CniError> {
        self.binary().map_err(|e| CniError::new(ErrorCode::NotAvailable, e.msg))?;
        self.call(inv).map(drop)
    }

    fn gc(&self, inv: &Invocation<'_>) -> Result<(), CniError> {
        self.call(inv).map(drop)
    }
}

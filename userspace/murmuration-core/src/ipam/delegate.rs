//! Delegated IPAM: exec the plugin named by `ipam.type` from `CNI_PATH`.
//!
//! Per the spec the delegate gets our environment with `CNI_COMMAND` set and
//! the whole network configuration on stdin; its stderr is forwarded. If the
//! delegate does not speak the config's `cniVersion` (Debian's 1.1.1 plugins
//! stop at 1.0.0), the config is sent with the newest version both sides
//! know, and verbs the delegate cannot have (CHECK before 0.4.0, STATUS and GC
//! before 1.1.0) are not sent.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command as Process, Stdio};

use serde_json::Value;

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
        let exec_err = |e: std::io::Error| {
            CniError::new(ErrorCode::IpamExec, format!("cannot run IPAM plugin {}", bin.display()))
                .with_details(e.to_string())
        };
        let mut child = Process::new(bin)
            .env_clear()
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(exec_err)?;
        if let Some(mut pipe) = child.stdin.take() {
            // A delegate may answer without reading stdin (Go plugins do for
            // VERSION) and exit first; its exit status and stdout decide.
            match pipe.write_all(stdin) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(exec_err(e)),
                _ => {}
            }
        }
        let out = child.wait_with_output().map_err(exec_err)?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        Err(delegate_error(&self.kind, &out.stdout))
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
    let mut conf: Value =
        serde_json::from_slice(inv.config).map_err(|e| crate::cni::config::decode_error(&e))?;
    conf["cniVersion"] = Value::String(v.as_str().to_owned());
    if let Some(prev) = conf.get("prevResult").and_then(|p| CniResult::from_value(p).ok()) {
        conf["prevResult"] = prev.to_value(v);
    }
    serde_json::to_vec(&conf).map_err(|e| crate::cni::config::decode_error(&e))
}

impl Ipam for Delegated {
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

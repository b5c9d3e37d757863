//! The `CNI_*` environment, validated per verb.

use std::collections::HashMap;
use std::path::PathBuf;

use super::args::CniArgs;
use super::error::{CniError, ErrorCode};
use super::types::{ContainerId, IfName};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Add,
    Del,
    Check,
    Status,
    Gc,
    Version,
}

impl Command {
    fn parse(s: &str) -> Result<Self, CniError> {
        Ok(match s {
            "ADD" => Self::Add,
            "DEL" => Self::Del,
            "CHECK" => Self::Check,
            "STATUS" => Self::Status,
            "GC" => Self::Gc,
            "VERSION" => Self::Version,
            other => {
                return Err(CniError::new(
                    ErrorCode::InvalidEnv,
                    format!("unknown CNI_COMMAND {other:?}"),
                ));
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Add => "ADD",
            Self::Del => "DEL",
            Self::Check => "CHECK",
            Self::Status => "STATUS",
            Self::Gc => "GC",
            Self::Version => "VERSION",
        }
    }

    /// ADD, DEL and CHECK act on one attachment and need its identity.
    fn needs_attachment(self) -> bool {
        matches!(self, Self::Add | Self::Del | Self::Check)
    }
}

/// The identity of one attachment: what the spec keys it by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttachmentId {
    pub container_id: ContainerId,
    pub ifname: IfName,
}

#[derive(Debug, Clone)]
pub struct CniEnv {
    pub command: Command,
    /// Present for ADD, DEL and CHECK.
    pub attachment: Option<AttachmentId>,
    /// Required for ADD and CHECK; may be empty (None) on DEL.
    pub netns: Option<PathBuf>,
    pub args: CniArgs,
    pub path: Vec<PathBuf>,
}

impl CniEnv {
    /// Reads the verb alone, so VERSION can answer even with an otherwise broken env.
    pub fn command(vars: &HashMap<String, String>) -> Result<Command, CniError> {
        let raw = vars
            .get("CNI_COMMAND")
            .ok_or_else(|| CniError::new(ErrorCode::InvalidEnv, "CNI_COMMAND is not set"))?;
        Command::parse(raw)
    }

    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, CniError> {
        let command = Self::command(vars)?;
        let get = |k: &str| vars.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let require = |k: &str| {
            get(k).ok_or_else(|| CniError::new(ErrorCode::InvalidEnv, format!("{k} is not set")))
        };
        let env_err = |k: &str, e: super::types::InvalidValue| {
            CniError::new(ErrorCode::InvalidEnv, format!("{k}: {e}"))
        };
        let attachment = if command.needs_attachment() {
            Some(AttachmentId {
                container_id: ContainerId::parse(require("CNI_CONTAINERID")?)
                    .map_err(|e| env_err("CNI_CONTAINERID", e))?,
                ifname: IfName::parse(require("CNI_IFNAME")?)
                    .map_err(|e| env_err("CNI_IFNAME", e))?,
            })
        } else {
            None
        };
        let netns = match command {
            Command::Add | Command::Check => Some(require("CNI_NETNS")?),
            Command::Del => get("CNI_NETNS"),
            _ => None,
        }
        .map(validate_netns)
        .transpose()?;
        let path = match command {
            Command::Version => Vec::new(),
            _ => split_path(require("CNI_PATH")?),
        };
        let raw_args = get("CNI_ARGS").unwrap_or("");
        let args = match command {
            // DEL must be able to succeed: malformed CNI_ARGS cannot block a teardown.
            Command::Del => CniArgs::parse_lenient(raw_args),
            Command::Add | Command::Check => CniArgs::parse(raw_args)?,
            _ => CniArgs::default(),
        };
        Ok(Self { command, attachment, netns, args, path })
    }

    /// The attachment identity; only absent for verbs that never call this.
    pub fn attachment(&self) -> Result<&AttachmentId, CniError> {
        self.attachment.as_ref().ok_or_else(|| {
            CniError::new(ErrorCode::InvalidEnv, "CNI_CONTAINERID and CNI_IFNAME are required")
        })
    }
}

fn validate_netns(p: &str) -> Result<PathBuf, CniError> {
    if !p.starts_with('/') || p.contains('\0') {
        return Err(CniError::new(
            ErrorCode::InvalidEnv,
            format!("CNI_NETNS {p:?} is not an absolute path"),
        ));
    }
    Ok(PathBuf::from(p))
}

fn split_path(raw: &str) -> Vec<PathBuf> {
    raw.split(':').filter(|d| !d.is_empty()).map(PathBuf::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    const ADD: [(&str, &str); 5] = [
        ("CNI_COMMAND", "ADD"),
        ("CNI_CONTAINERID", "c1"),
        ("CNI_NETNS", "/var/run/netns/x"),
        ("CNI_IFNAME", "net1"),
        ("CNI_PATH", "/opt/cni/bin:/usr/lib/cni"),
    ];

    #[test]
    fn full_add_env() {
        let e = CniEnv::from_vars(&vars(&ADD)).expect("valid");
        assert_eq!(e.command, Command::Add);
        assert_eq!(e.path.len(), 2);
        assert_eq!(e.attachment().expect("present").ifname.as_ref(), "net1");
    }

    #[test]
    fn missing_or_bad_values_are_code_4() {
        for drop in ["CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"] {
            let v: Vec<_> = ADD.iter().copied().filter(|(k, _)| *k != drop).collect();
            assert_eq!(CniEnv::from_vars(&vars(&v)).unwrap_err().code, 4, "without {drop}");
        }
        for (k, bad) in [
            ("CNI_COMMAND", "FOO"),
            ("CNI_CONTAINERID", "-x"),
            ("CNI_IFNAME", "a/b"),
            ("CNI_NETNS", "relative/ns"),
        ] {
            let mut v = vars(&ADD);
            v.insert(k.to_owned(), bad.to_owned());
            assert_eq!(CniEnv::from_vars(&v).unwrap_err().code, 4, "{k}={bad}");
        }
    }

    #[test]
    fn del_accepts_empty_netns_and_status_needs_only_path() {
        let mut v = vars(&ADD);
        v.insert("CNI_COMMAND".into(), "DEL".into());
        v.insert("CNI_NETNS".into(), String::new());
        assert!(CniEnv::from_vars(&v).expect("valid DEL").netns.is_none());
        let s = CniEnv::from_vars(&vars(&[("CNI_COMMAND", "STATUS"), ("CNI_PATH", "/x")]));
        assert!(s.expect("valid STATUS").attachment.is_none());
    }
}

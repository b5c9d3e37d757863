//! The `CNI_*` environment, validated per verb.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

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

    /// Reads the verb alone, so VERSION can answer even with an otherwise broken env.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, CniError> {
        let raw = vars
            .get("CNI_COMMAND")
            .ok_or_else(|| CniError::new(ErrorCode::InvalidEnv, "CNI_COMMAND is not set"))?;
        Self::parse(raw)
    }
}

/// The identity of one attachment: what the spec keys it by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttachmentId {
    pub container_id: ContainerId,
    pub ifname: IfName,
}

/// `CNI_NETNS`: an absolute path without NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetnsPath(PathBuf);

impl NetnsPath {
    pub fn parse(p: &str) -> Result<Self, CniError> {
        if !p.starts_with('/') || p.contains('\0') {
            return Err(CniError::new(
                ErrorCode::InvalidEnv,
                format!("CNI_NETNS {p:?} is not an absolute path"),
            ));
        }
        Ok(Self(PathBuf::from(p)))
    }

    pub fn as_path(&self) -> &Path {
        &self.0
    }
}

/// `CNI_PATH`: the directories delegated plugins are looked up in, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CniPath(Vec<PathBuf>);

impl CniPath {
    /// Splits the variable's value; empty entries are dropped.
    pub fn parse(raw: &str) -> Self {
        Self(raw.split(':').filter(|d| !d.is_empty()).map(PathBuf::from).collect())
    }

    pub fn dirs(&self) -> &[PathBuf] {
        &self.0
    }
}

impl From<Vec<PathBuf>> for CniPath {
    fn from(dirs: Vec<PathBuf>) -> Self {
        Self(dirs)
    }
}

/// The value as a `CNI_PATH` variable again, for a delegated plugin.
impl std::fmt::Display for CniPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dirs: Vec<String> = self.0.iter().map(|d| d.display().to_string()).collect();
        f.write_str(&dirs.join(":"))
    }
}

/// ADD's and CHECK's environment: the attachment and its pod's namespace.
#[derive(Debug, Clone)]
pub struct PodEnv {
    pub id: AttachmentId,
    pub netns: NetnsPath,
    pub args: CniArgs,
}

/// DEL's environment: the namespace may already be gone (`CNI_NETNS`
/// empty), and malformed `CNI_ARGS` cannot block a teardown.
#[derive(Debug, Clone)]
pub struct DelEnv {
    pub id: AttachmentId,
    pub netns: Option<NetnsPath>,
    pub args: CniArgs,
}

/// The verb with what it acts on, each part parsed once.
#[derive(Debug, Clone)]
pub enum Verb {
    Add(PodEnv),
    Check(PodEnv),
    Del(DelEnv),
    Status,
    Gc,
    Version,
}

#[derive(Debug, Clone)]
pub struct CniEnv {
    pub verb: Verb,
    /// Empty for VERSION, required otherwise.
    pub path: CniPath,
}

/// Reads the variables of one invocation; empty counts as unset.
struct Vars<'a>(&'a HashMap<String, String>);

impl Vars<'_> {
    fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str).filter(|v| !v.is_empty())
    }

    fn require(&self, k: &str) -> Result<&str, CniError> {
        self.get(k).ok_or_else(|| CniError::new(ErrorCode::InvalidEnv, format!("{k} is not set")))
    }

    fn attachment(&self) -> Result<AttachmentId, CniError> {
        let env_err = |k: &str, e: super::types::InvalidValue| {
            CniError::new(ErrorCode::InvalidEnv, format!("{k}: {e}"))
        };
        Ok(AttachmentId {
            container_id: ContainerId::parse(self.require("CNI_CONTAINERID")?)
                .map_err(|e| env_err("CNI_CONTAINERID", e))?,
            ifname: IfName::parse(self.require("CNI_IFNAME")?)
                .map_err(|e| env_err("CNI_IFNAME", e))?,
        })
    }

    fn args(&self) -> &str {
        self.get("CNI_ARGS").unwrap_or("")
    }

    fn pod(&self) -> Result<(PodEnv, CniPath), CniError> {
        let id = self.attachment()?;
        let netns = NetnsPath::parse(self.require("CNI_NETNS")?)?;
        let path = CniPath::parse(self.require("CNI_PATH")?);
        Ok((PodEnv { id, netns, args: CniArgs::parse(self.args())? }, path))
    }

    fn del(&self) -> Result<(DelEnv, CniPath), CniError> {
        let id = self.attachment()?;
        let netns = self.get("CNI_NETNS").map(NetnsPath::parse).transpose()?;
        let path = CniPath::parse(self.require("CNI_PATH")?);
        Ok((DelEnv { id, netns, args: CniArgs::parse_lenient(self.args()) }, path))
    }
}

impl CniEnv {
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, CniError> {
        let v = Vars(vars);
        let path = || v.require("CNI_PATH").map(CniPath::parse);
        let (verb, path) = match Command::from_vars(vars)? {
            Command::Add => v.pod().map(|(e, p)| (Verb::Add(e), p))?,
            Command::Check => v.pod().map(|(e, p)| (Verb::Check(e), p))?,
            Command::Del => v.del().map(|(e, p)| (Verb::Del(e), p))?,
            Command::Status => (Verb::Status, path()?),
            Command::Gc => (Verb::Gc, path()?),
            Command::Version => (Verb::Version, CniPath::default()),
        };
        Ok(Self { verb, path })
    }

    pub fn command(&self) -> Command {
        match self.verb {
            Verb::Add(_) => Command::Add,
            Verb::Check(_) => Command::Check,
            Verb::Del(_) => Command::Del,
            Verb::Status => Command::Status,
            Verb::Gc => Command::Gc,
            Verb::Version => Command::Version,
        }
    }

    /// The attachment ADD, CHECK and DEL act on.
    pub fn attachment(&self) -> Option<&AttachmentId> {
        match &self.verb {
            Verb::Add(e) | Verb::Check(e) => Some(&e.id),
            Verb::Del(e) => Some(&e.id),
            Verb::Status | Verb::Gc | Verb::Version => None,
        }
    }
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
        assert_eq!(e.command(), Command::Add);
        assert_eq!(e.path.dirs().len(), 2);
        assert_eq!(e.path.to_string(), "/opt/cni/bin:/usr/lib/cni");
        let Verb::Add(pod) = &e.verb else { panic!("not ADD: {e:?}") };
        assert_eq!(pod.id.ifname.as_ref(), "net1");
        assert_eq!(pod.netns.as_path(), Path::new("/var/run/netns/x"));
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
        let del = CniEnv::from_vars(&v).expect("valid DEL");
        assert!(matches!(&del.verb, Verb::Del(d) if d.netns.is_none()), "{del:?}");
        let s = CniEnv::from_vars(&vars(&[("CNI_COMMAND", "STATUS"), ("CNI_PATH", "/x")]));
        assert!(s.expect("valid STATUS").attachment().is_none());
    }
}

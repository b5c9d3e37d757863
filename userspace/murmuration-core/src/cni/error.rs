//! The CNI error object and its codes (spec section "Error").

use std::fmt;

use serde::{Deserialize, Serialize};

/// Well-known error codes of the spec (1-99) and this plugin's own codes (100+).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ErrorCode {
    IncompatibleVersion = 1,
    UnsupportedField = 2,
    ContainerUnknown = 3,
    InvalidEnv = 4,
    Io = 5,
    Decode = 6,
    InvalidConfig = 7,
    TryAgainLater = 11,
    /// STATUS: the plugin cannot serve ADD right now.
    NotAvailable = 50,
    /// STATUS: the plugin cannot serve ADD because no addresses are left.
    NoAddresses = 51,
    /// The kernel refused a netlink request.
    Netlink = 100,
    /// ADD: the requested interface name already exists in the pod namespace.
    InterfaceExists = 101,
    /// CHECK: the attachment differs from what ADD made.
    CheckMismatch = 102,
    /// The attachment state under `dataDir` could not be read or written.
    State = 103,
    /// The IPAM plugin could not be found or executed.
    IpamExec = 104,
    /// The requested attachment mode or feature is not available on this node.
    Unsupported = 105,
    /// SR-IOV: the VF named by `deviceID` is missing, not a VF, or held by a live pod.
    Device = 106,
    /// ADD: the pod's MAC is already used on the same VLAN of the same
    /// uplink by another live attachment (fast path).
    MacInUse = 107,
}

impl ErrorCode {
    pub fn as_u32(self) -> u32 {
        self as u32
    }
}

/// The error object a CNI plugin prints on stdout.
///
/// `code` is a plain integer because a delegated plugin (IPAM) may return
/// codes we do not know; those are passed through unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniError {
    pub code: u32,
    pub msg: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub details: String,
}

impl CniError {
    pub fn new(code: ErrorCode, msg: impl Into<String>) -> Self {
        Self { code: code.as_u32(), msg: msg.into(), details: String::new() }
    }

    pub fn with_details(mut self, details: impl Into<String>) -> Self {
        self.details = details.into();
        self
    }

    /// Prefixes the message with what was being done, keeping the code.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.msg = format!("{what}: {}", self.msg);
        self
    }
}

impl fmt::Display for CniError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.code, self.msg)?;
        if !self.details.is_empty() {
            write!(f, " ({})", self.details)?;
        }
        Ok(())
    }
}

impl std::error::Error for CniError {}

/// A serde error in the network configuration: syntax is 6, a well-formed
/// but wrong value is 7.
impl From<serde_json::Error> for CniError {
    fn from(e: serde_json::Error) -> Self {
        use serde_json::error::Category;
        let code = match e.classify() {
            Category::Syntax | Category::Eof => ErrorCode::Decode,
            Category::Data => ErrorCode::InvalidConfig,
            Category::Io => ErrorCode::Io,
        };
        Self::new(code, "cannot parse network configuration").with_details(e.to_string())
    }
}

/// Renders any error with its `source()` chain as one line for `details`.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_without_empty_details() {
        let e = CniError::new(ErrorCode::InvalidConfig, "bad vlan");
        assert_eq!(serde_json::to_string(&e).expect("json"), r#"{"code":7,"msg":"bad vlan"}"#);
        let e = e.with_details("vlan 5000");
        assert!(serde_json::to_string(&e).expect("json").contains(r#""details":"vlan 5000""#));
    }

    #[test]
    fn codes_match_the_spec() {
        assert_eq!(ErrorCode::IncompatibleVersion.as_u32(), 1);
        assert_eq!(ErrorCode::InvalidEnv.as_u32(), 4);
        assert_eq!(ErrorCode::Decode.as_u32(), 6);
        assert_eq!(ErrorCode::InvalidConfig.as_u32(), 7);
        assert_eq!(ErrorCode::NotAvailable.as_u32(), 50);
        assert_eq!(ErrorCode::NoAddresses.as_u32(), 51);
    }
}

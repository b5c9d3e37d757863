//! The CNI code of each of the core's errors: `From` impls, so that `?`
//! turns a [`StateError`], [`NetlinkError`], [`NetNsError`] or
//! [`DatapathError`] into a [`CniError`] carrying the right code. (A serde
//! error's code is in [`crate::cni::error`], beside the protocol.)
//!
//! This module sits above the layers whose errors it maps and below
//! [`crate::attach`] and [`crate::ops`], which use the impls. Where the code
//! depends on what was being done, not on the error (STATUS answers 50 for
//! everything, a missing SR-IOV VF is 106, CHECK's differences are 102), the
//! caller maps explicitly and says so.

use crate::cni::error::{CniError, ErrorCode, chain};
use crate::datapath::DatapathError;
use crate::netlink::NetlinkError;
use crate::netns::NetNsError;
use crate::state::StateError;

/// A lock that stayed busy is "try again later" (11); anything else is 103.
impl From<StateError> for CniError {
    fn from(e: StateError) -> Self {
        let code = if e.is_lock_timeout() { ErrorCode::TryAgainLater } else { ErrorCode::State };
        Self::new(code, chain(&e))
    }
}

/// The kernel refused a request, or the socket failed: 100.
impl From<NetlinkError> for CniError {
    fn from(e: NetlinkError) -> Self {
        Self::new(ErrorCode::Netlink, chain(&e))
    }
}

/// A missing namespace is an unknown container (3), a path that is not a
/// namespace a bad CNI_NETNS (4), anything else I/O (5).
impl From<NetNsError> for CniError {
    fn from(e: NetNsError) -> Self {
        let code = if e.is_not_found() {
            ErrorCode::ContainerUnknown
        } else if e.is_not_namespace() {
            ErrorCode::InvalidEnv
        } else {
            ErrorCode::Io
        };
        Self::new(code, chain(&e))
    }
}

/// A kernel that refuses the programs is "unsupported here" (105), a config
/// the fast path cannot serve 7, a full table or busy lock 11, a MAC taken
/// on the VLAN 107, everything else I/O (5).
impl From<DatapathError> for CniError {
    fn from(e: DatapathError) -> Self {
        let code = match &e {
            e if e.is_kernel_unsupported() => ErrorCode::Unsupported,
            DatapathError::NotBpffs { .. }
            | DatapathError::NoInterface { .. }
            | DatapathError::InvalidPort { .. }
            | DatapathError::RxVlanOffload { .. }
            | DatapathError::UplinkConflict { .. } => ErrorCode::InvalidConfig,
            DatapathError::Full { .. }
            | DatapathError::VlanFull { .. }
            | DatapathError::TableFull { .. }
            | DatapathError::LockTimeout(_) => ErrorCode::TryAgainLater,
            DatapathError::MacInUse { .. } => ErrorCode::MacInUse,
            _ => ErrorCode::Io,
        };
        Self::new(code, chain(&e)).context("eBPF fast path")
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::state::LockTimeout;

    fn code(e: impl Into<CniError>) -> u32 {
        e.into().code
    }

    fn io(kind: io::ErrorKind) -> io::Error {
        io::Error::new(kind, "x")
    }

    #[test]
    fn state_is_103_and_a_busy_lock_11() {
        let path = PathBuf::from("/d/r.json");
        assert_eq!(
            code(StateError::Io { path: path.clone(), source: io(io::ErrorKind::Other) }),
            103
        );
        let busy = LockTimeout { path, waited: Duration::from_secs(1), holders: vec![7] };
        let e = CniError::from(StateError::LockTimeout(busy));
        assert_eq!(e.code, 11);
        assert!(e.msg.contains("/d/r.json"), "{e}");
    }

    #[test]
    fn netns_by_kind_and_netlink_100() {
        let open = |kind| NetNsError::Open { path: "/n".into(), source: io(kind) };
        assert_eq!(code(open(io::ErrorKind::NotFound)), 3);
        assert_eq!(code(NetNsError::NotNamespace { path: "/n".into() }), 4);
        assert_eq!(code(open(io::ErrorKind::PermissionDenied)), 5);
        assert_eq!(code(NetlinkError::Socket(io(io::ErrorKind::Other))), 100);
    }

    #[test]
    fn a_serde_error_is_6_for_syntax_and_7_for_a_wrong_value() {
        let syntax = serde_json::from_str::<u8>("nope").expect_err("syntax");
        let value = serde_json::from_str::<u8>("300").expect_err("range");
        assert_eq!(code(syntax), 6);
        assert_eq!(code(value), 7);
    }
}

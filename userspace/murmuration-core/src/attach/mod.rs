//! Attachment modes: how a pod gets its interface, and how it is torn down.
//!
//! Each mode's `setup` gets an [`AddContext`] and returns the result's
//! interfaces; its `teardown` works from the [`Record`] alone, because DEL may
//! arrive without the pod namespace or the original config.

pub mod fastpath;
pub mod ip;
pub mod veth;

use crate::cni::config::{Mode, NetConf};
use crate::cni::env::AttachmentId;
use crate::cni::error::{CniError, ErrorCode};
use crate::cni::result::{CniResult, Interface};
use crate::cni::types::MacAddr;
use crate::netlink::Netlink;
use crate::netns::NetNs;
use crate::state::{DatapathRecord, Record};

/// What an ADD has at hand once validation and IPAM are done.
#[derive(Debug)]
pub struct AddContext<'a> {
    pub conf: &'a NetConf,
    pub id: &'a AttachmentId,
    pub netns: &'a NetNs,
    pub host: &'a mut Netlink,
    pub pod: &'a mut Netlink,
    pub mac: Option<MacAddr>,
    pub ipam: &'a CniResult,
}

/// What setup made: the result's interfaces and which one is in the pod.
#[derive(Debug)]
pub struct Attached {
    pub interfaces: Vec<Interface>,
    pub pod_interface: usize,
    /// The fast-path port made for the attachment, if any.
    pub datapath: Option<DatapathRecord>,
}

fn not_yet(mode: Mode) -> CniError {
    CniError::new(
        ErrorCode::Unsupported,
        format!("mode {} is not available in this build", mode.as_str()),
    )
}

/// Fails before anything is allocated when this build cannot serve `mode`.
pub fn ensure_available(mode: Mode) -> Result<(), CniError> {
    match mode {
        Mode::Veth => Ok(()),
        m @ (Mode::Sriov | Mode::Vlan) => Err(not_yet(m)),
    }
}

/// The host-side names an attachment will use, checked before anything is made.
pub fn host_ifname(mode: Mode, id: &AttachmentId) -> Option<String> {
    match mode {
        Mode::Veth => Some(veth::host_ifname(id)),
        Mode::Sriov | Mode::Vlan => None,
    }
}

/// Whether ADD must record the attachment before touching anything: modes
/// that change pre-existing devices need the original state on disk first.
/// A veth attachment is found again by its deterministic host-end name, so
/// it is recorded once, after setup.
pub fn needs_intent_record(mode: Mode) -> bool {
    matches!(mode, Mode::Sriov)
}

pub fn setup(ctx: &mut AddContext<'_>) -> Result<Attached, CniError> {
    match ctx.conf.mode {
        Mode::Veth => veth::setup(ctx),
        m @ (Mode::Sriov | Mode::Vlan) => Err(not_yet(m)),
    }
}

/// Undoes `setup`; already-gone interfaces count as done.
pub fn teardown(rec: &Record, host: &mut Netlink) -> Result<(), CniError> {
    match rec.mode {
        Mode::Veth => veth::teardown(rec, host),
        // Nothing of these modes can have been made by this build.
        Mode::Sriov | Mode::Vlan => Ok(()),
    }
}

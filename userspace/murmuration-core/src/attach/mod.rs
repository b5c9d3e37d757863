//! Attachment modes: how a pod gets its interface, and how it is torn down.
//!
//! Each mode's `setup` gets an [`AddContext`] and returns the result's
//! interfaces; its `teardown` works from the [`Record`] alone, because DEL may
//! arrive without the pod namespace or the original config.

pub mod devinfo;
pub mod fastpath;
pub mod ip;
pub mod restore;
pub mod sriov;
pub mod veth;
pub mod vlan;

use crate::cni::config::{Mode, NetConf};
use crate::cni::env::AttachmentId;
use crate::cni::error::CniError;
use crate::cni::result::{CniResult, Interface};
use crate::cni::types::MacAddr;
use crate::netlink::{Netlink, Transport};
use crate::netns::NetNs;
use crate::state::{DatapathRecord, Record, Store};

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
    pub store: &'a Store,
    /// The attachment's record, already on disk as an intent record; modes
    /// that change existing devices save their original state into it
    /// before changing anything.
    pub record: &'a mut Record,
}

/// What setup made: the result's interfaces and which one is in the pod.
#[derive(Debug)]
pub struct Attached {
    pub interfaces: Vec<Interface>,
    pub pod_interface: usize,
    /// The fast-path port made for the attachment, if any.
    pub datapath: Option<DatapathRecord>,
}

/// Fails before anything is allocated when this build cannot serve `mode`.
pub fn ensure_available(mode: Mode) -> Result<(), CniError> {
    match mode {
        Mode::Veth | Mode::Sriov | Mode::Vlan => Ok(()),
    }
}

/// Checks the device a mode needs (an SR-IOV VF must exist), before IPAM runs.
pub fn check_device(conf: &NetConf) -> Result<(), CniError> {
    match conf.mode {
        Mode::Sriov => sriov::check_device(conf),
        Mode::Veth | Mode::Vlan => Ok(()),
    }
}

/// The host-side names an attachment will use, checked before anything is made.
pub fn host_ifname(mode: Mode, id: &AttachmentId) -> Option<String> {
    match mode {
        Mode::Veth => Some(veth::host_ifname(id)),
        Mode::Sriov | Mode::Vlan => None,
    }
}

pub fn setup(ctx: &mut AddContext<'_>) -> Result<Attached, CniError> {
    match ctx.conf.mode {
        Mode::Veth => veth::setup(ctx),
        Mode::Sriov => sriov::setup(ctx),
        Mode::Vlan => vlan::setup(ctx),
    }
}

/// Undoes `setup`; already-gone interfaces count as done. `rec` may be an
/// intent record of an ADD that never finished (no `result`): any step of
/// `setup` may or may not have happened.
pub fn teardown<T: Transport>(
    rec: &Record,
    store: &Store,
    host: &mut Netlink<T>,
) -> Result<(), CniError> {
    match rec.mode {
        Mode::Veth => veth::teardown(rec, host),
        Mode::Sriov => restore::teardown(rec, store, host),
        Mode::Vlan => vlan::teardown(rec),
    }
}

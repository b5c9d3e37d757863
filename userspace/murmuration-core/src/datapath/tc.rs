//! Idempotent attach/detach of a tc classifier on one interface: a TCX link
//! pinned on bpffs where the kernel has TCX (6.6+), a netlink clsact filter
//! otherwise.
//!
//! Netlink filters are found again by a fixed (priority, handle) owned by
//! murmuration, so a later process replaces them without touching other tc
//! users' filters on the same device.

use std::path::Path;

use aya::programs::links::{FdLink, LinkError, PinnedLink};
use aya::programs::tc::{
    self, NlOptions, SchedClassifierLink, SchedClassifierLinkId, TcAttachOptions, TcHandle,
};
use aya::programs::{Link as _, LinkOrder, ProgramError, SchedClassifier, TcAttachType};

use super::error::DatapathError;

/// tc priority of murmuration's netlink filters ("MR").
pub const NL_PRIORITY: u16 = 0x4d52;
/// tc handle of murmuration's netlink filters.
pub const NL_HANDLE: TcHandle = TcHandle::new(0, 0x4d52);

use crate::cni::config::fastpath::AttachMode;

/// What an attach did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attached {
    TcxNew,
    TcxUpdated,
    NetlinkNew,
    NetlinkReplaced,
}

/// Attaches `prog` (named `name`) at `iface`'s ingress so that exactly one
/// murmuration program runs there, whatever was attached before.
pub fn attach(
    prog: &mut SchedClassifier,
    name: &'static str,
    iface: &str,
    link_pin: &Path,
    mode: AttachMode,
) -> Result<Attached, DatapathError> {
    let err = |source| DatapathError::Attach { prog: name, iface: iface.to_owned(), source };
    if mode != AttachMode::Netlink && update_pinned_link(prog, link_pin)? {
        return Ok(Attached::TcxUpdated);
    }
    if mode != AttachMode::Tcx && replace_netlink(prog, iface).is_ok() {
        return Ok(Attached::NetlinkReplaced);
    }
    if mode != AttachMode::Netlink {
        match attach_tcx(prog, iface, link_pin) {
            Ok(()) => return Ok(Attached::TcxNew),
            Err(e) if mode == AttachMode::Tcx => return Err(e),
            Err(e) => tracing::info!(iface, error = %e, "TCX attach failed; using netlink clsact"),
        }
    }
    attach_netlink(prog, iface).map_err(|e| err(Box::new(e)))?;
    Ok(Attached::NetlinkNew)
}

/// Detaches murmuration's program from `iface` (both flavours). Missing
/// links, filters or devices count as done.
pub fn detach(iface: Option<&str>, link_pin: &Path) -> Result<(), DatapathError> {
    match PinnedLink::from_pin(link_pin) {
        // The pin is the last reference: unpinning (and closing) detaches.
        Ok(link) => drop(link.unpin().map_err(DatapathError::io("unpinning", link_pin))?),
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(link_error(link_pin, e)),
    }
    if let Some(iface) = iface
        && let Ok(link) = SchedClassifierLink::attached(
            iface,
            TcAttachType::Ingress,
            NL_PRIORITY,
            NL_HANDLE,
            None,
        )
    {
        // No filter there, or no clsact qdisc: nothing to do.
        let _ = link.detach();
    }
    Ok(())
}

/// Names of the TCX programs at `iface`'s ingress, in run order (empty on
/// kernels without TCX). Netlink filters cannot be listed through aya.
pub fn tcx_programs(iface: &str) -> Vec<String> {
    match SchedClassifier::query_tcx(iface, TcAttachType::Ingress) {
        Ok((_, progs)) => progs.iter().map(|p| p.name_as_str().unwrap_or("?").to_owned()).collect(),
        Err(_) => Vec::new(),
    }
}

fn link_error(path: &Path, source: LinkError) -> DatapathError {
    DatapathError::Link { path: path.to_owned(), source: Box::new(source) }
}

/// Points an existing pinned TCX link at `prog` (BPF_LINK_UPDATE, atomic).
/// False if there is no usable pinned link; a stale pin is removed.
fn update_pinned_link(prog: &mut SchedClassifier, pin: &Path) -> Result<bool, DatapathError> {
    let pinned = match PinnedLink::from_pin(pin) {
        Ok(p) => p,
        Err(e) if is_not_found(&e) => return Ok(false),
        Err(e) => return Err(link_error(pin, e)),
    };
    let Ok(link) = SchedClassifierLink::try_from(FdLink::from(pinned)) else {
        let _ = std::fs::remove_file(pin);
        return Ok(false);
    };
    match prog.attach_to_link(link) {
        Ok(id) => {
            // Still pinned: drop only our handle (closes our fd).
            forget_link(prog, id);
            Ok(true)
        }
        Err(e) => {
            tracing::info!(pin = %pin.display(), error = %e, "pinned link unusable; recreating");
            let _ = std::fs::remove_file(pin);
            Ok(false)
        }
    }
}

fn attach_tcx(prog: &mut SchedClassifier, iface: &str, pin: &Path) -> Result<(), DatapathError> {
    let opts = TcAttachOptions::TcxOrder(LinkOrder::default());
    let id = prog.attach_with_options(iface, TcAttachType::Ingress, opts).map_err(|e| {
        DatapathError::Attach { prog: "tcx", iface: iface.to_owned(), source: Box::new(e) }
    })?;
    let link = prog.take_link(id).map_err(DatapathError::program("take_link"))?;
    let fd = FdLink::try_from(link).map_err(|e| link_error(pin, e))?;
    fd.pin(pin).map_err(|e| DatapathError::Pin { path: pin.to_owned(), source: Box::new(e) })?;
    Ok(())
}

fn replace_netlink(prog: &mut SchedClassifier, iface: &str) -> Result<(), ProgramError> {
    let existing =
        SchedClassifierLink::attached(iface, TcAttachType::Ingress, NL_PRIORITY, NL_HANDLE, None)
            .map_err(|e| ProgramError::IOError(std::io::Error::other(e.to_string())))?;
    let id = prog.attach_to_link(existing)?;
    keep_netlink_filter(prog, id)
}

fn attach_netlink(prog: &mut SchedClassifier, iface: &str) -> Result<(), ProgramError> {
    match tc::qdisc_add_clsact(iface) {
        // Another tc user (or an earlier call) already added clsact.
        Err(tc::TcError::NetlinkError(e)) if e.raw_os_error() == Some(libc::EEXIST) => {}
        Err(e) => return Err(e.into()),
        Ok(()) => {}
    }
    let opts = NlOptions { priority: NL_PRIORITY, handle: NL_HANDLE, classid: None };
    let id =
        prog.attach_with_options(iface, TcAttachType::Ingress, TcAttachOptions::Netlink(opts))?;
    keep_netlink_filter(prog, id)
}

/// A netlink filter lives in the kernel on its own; dropping aya's link
/// object would delete it, so the (fd-less) link object is leaked on purpose.
fn keep_netlink_filter(
    prog: &mut SchedClassifier,
    id: SchedClassifierLinkId,
) -> Result<(), ProgramError> {
    let link = prog.take_link(id)?;
    std::mem::forget(link);
    Ok(())
}

fn forget_link(prog: &mut SchedClassifier, id: SchedClassifierLinkId) {
    if let Ok(link) = prog.take_link(id)
        && let Ok(fd) = FdLink::try_from(link)
    {
        drop(fd);
    }
}

fn is_not_found(e: &LinkError) -> bool {
    matches!(e, LinkError::SyscallError(s) if s.io_error.kind() == std::io::ErrorKind::NotFound)
}

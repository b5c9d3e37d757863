//! Makes the host end of a pod veth refuse classic traffic control.
//!
//! The fast path moves the pod's frames with redirects that skip the host
//! end's qdiscs, so a `tbf` or an `ingress` qdisc another tool (e.g. a
//! chained `bandwidth` plugin) adds there would silently shape nothing.
//! Explicit qdiscs in both slots make such an add fail loudly instead: a
//! root `noqueue` (sends exactly as the device's default) and `clsact` (no
//! filters of its own with TCX). Both go with the veth.

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage};

use super::error::DatapathError;
use super::sys;
use crate::netlink::{Netlink, NetlinkError, Request};

/// murmuration's root qdisc handle, `4d52:`.
const ROOT_HANDLE: TcHandle = TcHandle { major: 0x4d52, minor: 0 };
const CLSACT_HANDLE: TcHandle = TcHandle { major: 0xffff, minor: 0 };

fn qdisc(index: u32, kind: &str, handle: TcHandle, parent: TcHandle) -> Request {
    let mut m = TcMessage::with_index(i32::try_from(index).unwrap_or(i32::MAX));
    m.header.handle = handle;
    m.header.parent = parent;
    m.attributes.push(TcAttribute::Kind(kind.to_owned()));
    Request {
        op: "add qdisc",
        msg: RouteNetlinkMessage::NewQueueDiscipline(m),
        flags: NLM_F_CREATE | NLM_F_EXCL,
    }
}

/// Puts `noqueue` at the root and `clsact` on `iface` (both already there
/// is fine: an ADD that is repeated, or netlink attach mode's clsact).
pub fn occupy(iface: &str) -> Result<(), DatapathError> {
    let index = sys::ifindex(iface)?;
    let io =
        |e: NetlinkError| DatapathError::io("adding qdiscs to", iface)(std::io::Error::other(e));
    let mut nl = Netlink::open().map_err(io)?;
    for req in [
        qdisc(index, "noqueue", ROOT_HANDLE, TcHandle::ROOT),
        qdisc(index, "clsact", CLSACT_HANDLE, TcHandle::CLSACT),
    ] {
        match nl.execute(req) {
            Err(e) if e.is_exists() => {}
            other => other.map_err(io)?,
        }
    }
    Ok(())
}

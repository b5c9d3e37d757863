//! Netlink notifications that make the inventory stale: link changes
//! (`RTNLGRP_LINK`: up/down, VF changes, a veth end vanishing with its
//! namespace) and namespace ID changes (`RTNLGRP_NSID`: a peer namespace
//! being destroyed). Messages are not decoded: any of them triggers a
//! re-read, and bursts are coalesced by the caller.

use std::io;

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::sys::NetlinkFd as Fd;

const RTNLGRP_LINK: u32 = 1;
const RTNLGRP_NSID: u32 = 28;

/// Subscribes in the calling thread's namespace.
pub fn subscribe() -> io::Result<AsyncFd<Fd>> {
    let mut sock = Socket::new(NETLINK_ROUTE)?;
    sock.bind(&SocketAddr::new(0, 0))?;
    sock.add_membership(RTNLGRP_LINK)?;
    sock.add_membership(RTNLGRP_NSID)?;
    sock.set_non_blocking(true)?;
    crate::sys::register_netlink(sock)
}

/// Wakes `changed` for every batch of notifications until cancelled.
/// `ENOBUFS` (events lost in a burst) also wakes it: a full re-read recovers.
pub async fn watch(
    fd: AsyncFd<Fd>,
    changed: &Notify,
    on_event: impl Fn(),
    cancel: CancellationToken,
) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let mut guard = tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            g = fd.readable() => g?,
        };
        loop {
            match guard.try_io(|s| s.get_ref().0.recv(&mut &mut buf[..], 0)) {
                Ok(Ok(_)) => on_event(),

                Ok(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => on_event(),
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => break,
            }
        }
        changed.notify_one();
    }
}

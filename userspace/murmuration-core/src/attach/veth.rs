//! `veth` mode: a veth pair per attachment; the pod end is created directly in
//! the pod namespace under `CNI_IFNAME`, the host end gets a name derived from
//! the attachment so DEL and GC can find it without any other state.

use sha2::{Digest, Sha256};

use super::fastpath;
use super::ip::apply;
use super::{AddContext, Attached};
use crate::cni::config::NetConf;
use crate::cni::env::AttachmentId;
use crate::cni::error::{CniError, ErrorCode};
use crate::cni::result::Interface;
use crate::fault;
use crate::netlink::{Netlink, Transport, VethSpec};
use crate::state::Record;

/// Host-end prefix; the rest is 13 hex digits of SHA-256(containerID, ifname).
pub const PREFIX: &str = "mm";

pub fn host_ifname(id: &AttachmentId) -> String {
    let mut h = Sha256::new();
    h.update(id.container_id.as_ref().as_bytes());
    h.update([0]);
    h.update(id.ifname.as_ref().as_bytes());
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("{PREFIX}{}", &hex[..13])
}

pub fn setup(ctx: &mut AddContext<'_>) -> Result<Attached, CniError> {
    let host_name = host_ifname(ctx.id);
    let spec = VethSpec {
        host_name: &host_name,
        peer_name: ctx.id.ifname.as_ref(),
        peer_ns: std::os::fd::AsFd::as_fd(ctx.netns),
        peer_mac: ctx.mac,
        mtu: ctx.conf.mtu,
    };
    ctx.host.create_veth(&spec).map_err(|e| {
        let code = if e.is_exists() { ErrorCode::InterfaceExists } else { ErrorCode::Netlink };
        CniError::new(code, crate::cni::error::chain(&e)).context("creating veth pair")
    })?;
    fault::point(fault::ADD_AFTER_LINK);
    let lookup = |nl: &mut Netlink, name: &str| {
        nl.link_by_name(name).map_err(CniError::from).and_then(|l| {
            l.ok_or_else(|| {
                CniError::new(ErrorCode::Netlink, format!("{name} vanished after creation"))
            })
        })
    };
    let pod_link = lookup(ctx.pod, ctx.id.ifname.as_ref())?;
    apply(ctx.pod, pod_link.index, ctx.ipam)?;
    fault::point(fault::ADD_AFTER_POD_CONFIG);
    let host_link = lookup(ctx.host, &host_name)?;
    // Last step: a failure here leaves nothing of the port behind, and the
    // caller's rollback deletes the veth.
    let datapath = match (&ctx.conf.fastpath, pod_link.mac) {
        (Some(fp), Some(mac)) => {
            let pod_if = ctx.id.ifname.as_ref();
            ctx.netns.run(|| fastpath::prepare_pod_end(fp, pod_if)).map_err(|e| {
                CniError::new(ErrorCode::Io, crate::cni::error::chain(&e)).context("pod namespace")
            })??;
            let port = fastpath::setup(ctx.conf, fp, &host_name, mac, ctx.ipam)?;
            fault::point(fault::ADD_AFTER_FASTPATH);
            Some(port)
        }
        (Some(_), None) => {
            return Err(CniError::new(ErrorCode::Netlink, "the pod interface reported no MAC"));
        }
        (None, _) => None,
    };
    Ok(Attached {
        interfaces: vec![
            Interface {
                name: host_name,
                mac: host_link.mac,
                mtu: host_link.mtu,
                ..Default::default()
            },
            Interface {
                name: pod_link.name,
                mac: pod_link.mac,
                mtu: pod_link.mtu,
                sandbox: Some(ctx.netns.path().display().to_string()),
                ..Default::default()
            },
        ],
        pod_interface: 1,
        datapath,
    })
}

/// Removes the fast-path port (while the host end still exists), then the
/// host end, which removes the pair wherever the pod end is. Keeps going
/// past a fast-path failure and reports it.
///
/// An ADD that stopped before its final record may have made a port it did
/// not record; once the host end is gone, that port is an orphan of the
/// uplink, and the uplink's garbage collection (from the recorded config)
/// drops it and the uplink's programs when no port is left.
pub fn teardown<T: Transport>(rec: &Record, host: &mut Netlink<T>) -> Result<(), CniError> {
    let fast = rec.datapath.as_ref().map(fastpath::teardown).unwrap_or(Ok(()));
    fault::point(fault::DEL_AFTER_FASTPATH);
    let name = rec.host_ifname.clone().unwrap_or_else(|| host_ifname(&rec.id()));
    let existed = host.delete_link(&name)?;
    tracing::debug!(host_ifname = %name, existed, "veth teardown");
    let unrecorded = match (&rec.datapath, &rec.result) {
        (None, None) => unrecorded_port(rec),
        _ => Ok(()),
    };
    fast.and(unrecorded)
}

/// The port an unfinished ADD may have made: its uplink's orphans go.
fn unrecorded_port(rec: &Record) -> Result<(), CniError> {
    match NetConf::parse(rec.config.get().as_bytes()) {
        Ok(conf) => fastpath::collect_garbage(&conf),
        // The ADD that wrote it parsed this config: nothing can be done otherwise.
        Err(e) => {
            tracing::warn!(error = %e, "recorded config unreadable; no fast-path cleanup");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cni::types::{ContainerId, IfName};

    fn id(c: &str, i: &str) -> AttachmentId {
        AttachmentId {
            container_id: ContainerId::parse(c).expect("cid"),
            ifname: IfName::parse(i).expect("ifname"),
        }
    }

    #[test]
    fn host_names_are_deterministic_short_and_distinct() {
        let a = host_ifname(&id("c1", "net1"));
        assert_eq!(a, host_ifname(&id("c1", "net1")));
        assert_eq!(a.len(), 15);
        assert!(IfName::parse(&a).is_ok());
        assert_ne!(a, host_ifname(&id("c1", "net2")));
        assert_ne!(host_ifname(&id("c1n", "et1")), host_ifname(&id("c1", "net1")));
    }
}

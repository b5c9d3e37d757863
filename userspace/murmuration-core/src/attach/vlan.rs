//! `vlan` mode: an 802.1Q (or 802.1ad) subinterface of `master`, created
//! directly in the pod namespace under `CNI_IFNAME` (it never exists in the
//! host namespace), addressed there, deleted on DEL.

use std::os::fd::AsFd;

use super::ip::apply;
use super::{AddContext, Attached};
use crate::cni::error::{CniError, ErrorCode};
use crate::cni::result::Interface;
use crate::cni::types::VlanProto;
use crate::netlink::{Netlink, VlanSpec};
use crate::netns::NetNs;
use crate::state::Record;

fn config_error(msg: String) -> CniError {
    CniError::new(ErrorCode::InvalidConfig, msg)
}

pub fn setup(ctx: &mut AddContext<'_>) -> Result<Attached, CniError> {
    let (Some(master), Some(vlan)) = (&ctx.conf.master, ctx.conf.props.vlan) else {
        return Err(config_error("mode vlan needs \"master\" and \"vlan\"".into()));
    };
    let link = ctx.host.link_by_name(master.as_ref())?;
    let link = link.ok_or_else(|| config_error(format!("master {master} does not exist")))?;
    if let (Some(want), Some(have)) = (ctx.conf.mtu, link.mtu)
        && want > have
    {
        return Err(config_error(format!("mtu {want} exceeds master {master}'s MTU {have}")));
    }
    let spec = VlanSpec {
        name: ctx.id.ifname.as_ref(),
        master: link.index,
        vlan: vlan.get(),
        proto: ctx.conf.props.proto.unwrap_or(VlanProto::Dot1Q),
        netns: ctx.netns.as_fd(),
        mtu: ctx.conf.mtu,
        mac: ctx.mac,
    };
    ctx.host.create_vlan(&spec).map_err(|e| {
        let code = if e.is_exists() { ErrorCode::InterfaceExists } else { ErrorCode::Netlink };
        CniError::new(code, crate::cni::error::chain(&e)).context("creating the VLAN link")
    })?;
    let pod_link = ctx.pod.link_by_name(ctx.id.ifname.as_ref())?;
    let pod_link =
        pod_link.ok_or_else(|| CniError::new(ErrorCode::Netlink, "VLAN link vanished"))?;
    apply(ctx.pod, pod_link.index, ctx.ipam)?;
    Ok(Attached {
        interfaces: vec![Interface {
            name: pod_link.name,
            mac: pod_link.mac,
            mtu: pod_link.mtu,
            sandbox: Some(ctx.netns.path().display().to_string()),
            ..Default::default()
        }],
        pod_interface: 0,
        datapath: None,
    })
}

/// Deletes the subinterface if the pod namespace still exists; a deleted
/// namespace took its virtual links with it.
pub fn teardown(rec: &Record) -> Result<(), CniError> {
    let Some(path) = &rec.netns else { return Ok(()) };
    let Ok(ns) = NetNs::open(path) else { return Ok(()) };
    let Ok(Ok(mut pod)) = ns.run(Netlink::open) else { return Ok(()) };
    Ok(pod.delete_link(rec.ifname.as_ref()).map(drop)?)
}

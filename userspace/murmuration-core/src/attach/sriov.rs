//! `sriov` mode: an SR-IOV VF (found by `deviceID` through sysfs) configured
//! through its PF and, for a kernel-driver VF, moved into the pod.
//!
//! Under the VF's lock, ADD refuses a VF that another attachment holds in a
//! live namespace, takes it over from a dead one (under that attachment's
//! lock, tried without waiting), records the VF's original state (PF side
//! and netdev) on disk, and only then changes anything. The netdev moves and is renamed in
//! one request (`IFLA_NET_NS_FD` + `IFLA_IFNAME`), so its name never clashes
//! in either namespace and no temporary namespace is needed.

use std::os::fd::AsFd;

use super::restore;
use super::{AddContext, Attached, devinfo};
use crate::cni::config::{LinkProps, NetConf};
use crate::cni::env::AttachmentId;
use crate::cni::error::{CniError, ErrorCode, chain};
use crate::cni::result::Interface;
use crate::cni::types::{MacAddr, PciAddress};
use crate::netlink::{Netlink, VfChange, VfState};
use crate::state::{NetdevState, Record, Store, VfRecord};
use crate::sysfs::{Sysfs, VfDevice};

/// A VF that is missing, not a VF, or held is 106 here: a sysfs error's code
/// depends on it being the VF `deviceID` named, so it is mapped explicitly.
fn device_error(msg: impl Into<String>) -> CniError {
    CniError::new(ErrorCode::Device, msg)
}

/// Resolves `deviceID` through sysfs; fails before anything is allocated.
pub fn resolve(sysfs: &Sysfs, pci: &PciAddress) -> Result<VfDevice, CniError> {
    sysfs.vf(pci).map_err(|e| device_error(chain(&e)).context(format!("deviceID {pci}")))
}

pub fn setup(ctx: &mut AddContext<'_>) -> Result<Attached, CniError> {
    let pci = ctx.conf.device.as_ref().ok_or_else(|| device_error("no deviceID"))?;
    let sysfs = Sysfs::default();
    let _lock = ctx.store.lock_device(pci.as_ref())?;
    let mut dev = resolve(&sysfs, pci)?;
    if refuse_if_held(ctx.store, ctx.record, &dev)? {
        // The takeover brought the netdev home under its original name.
        dev = resolve(&sysfs, pci)?;
    }
    let pf = pf_index(ctx.host, &dev)?;
    let vf = capture(ctx.host, pf, &dev)?;
    ctx.record.vf = Some(vf.clone());
    ctx.store.save(ctx.record)?;
    ctx.host.set_vf(pf, dev.index, &changes(&ctx.conf.props, ctx.mac, &vf.original)).map_err(
        |e| CniError::from(e).context(format!("configuring VF {} on {}", dev.index, dev.pf_netdev)),
    )?;
    let pod_iface = match &vf.netdev {
        Some(nd) => attach_netdev(ctx, nd)?,
        None => userspace_interface(ctx, &dev),
    };
    if let Some(path) = &ctx.conf.runtime.device_info_file {
        devinfo::write(path, &dev).map_err(|e| CniError::new(ErrorCode::Io, chain(&e)))?;
        if let Some(v) = ctx.record.vf.as_mut() {
            v.device_info_file = Some(path.clone());
        }
        ctx.store.save(ctx.record)?;
    }
    Ok(Attached { interfaces: vec![pod_iface], pod_interface: 0, datapath: None })
}

/// Another attachment's record naming this VF: refused while its namespace
/// lives; otherwise its VF is restored and taken over (its record keeps the
/// IPAM lease for its own DEL or GC). True when a VF was taken over.
fn refuse_if_held(store: &Store, ours: &Record, dev: &VfDevice) -> Result<bool, CniError> {
    let mut took_over = false;
    let (records, _) = store.list();
    for other in records.into_iter().filter(|r| r.id() != ours.id() && holds(r, dev)) {
        refuse_if_live(&other, dev)?;
        crate::test_hooks::pause(crate::test_hooks::SRIOV_TAKEOVER);
        took_over |= take_over(store, &other.id(), dev)?;
    }
    Ok(took_over)
}

/// Whether `rec` holds the VF: a record from before a reboot holds nothing
/// (the reboot reset the VF; its namespace path may name a new namespace).
fn holds(rec: &Record, dev: &VfDevice) -> bool {
    !rec.from_earlier_boot() && rec.vf.as_ref().is_some_and(|v| v.pci == dev.pci)
}

fn refuse_if_live(holder: &Record, dev: &VfDevice) -> Result<(), CniError> {
    let Some(netns) = &holder.netns else { return Ok(()) };
    if std::fs::File::open(netns).is_err() {
        return Ok(());
    }
    Err(device_error(format!(
        "VF {} is held by attachment {}/{} in live namespace {}",
        dev.pci,
        holder.container_id,
        holder.ifname,
        netns.display()
    )))
}

/// Takes the VF from the dead holder `id`, under the holder's lock and from
/// its record as it is then: a record its DEL removed stays removed.
///
/// The holder's DEL or ADD takes its attachment lock before the device lock
/// held here, so waiting for that lock could deadlock: it is only tried, and
/// a busy holder is answered with "try again later" (its DEL is likely
/// releasing the VF right now).
fn take_over(store: &Store, id: &AttachmentId, dev: &VfDevice) -> Result<bool, CniError> {
    let Some(_holder_lock) = store.try_lock_attachment(id)? else {
        return Err(CniError::new(
            ErrorCode::TryAgainLater,
            format!(
                "VF {} is held by attachment {}/{} of a dead pod, which another operation \
                 is changing; try again later",
                dev.pci, id.container_id, id.ifname
            ),
        ));
    };
    let Some(mut holder) = store.load(id)?.filter(|r| holds(r, dev)) else {
        return Ok(false);
    };
    refuse_if_live(&holder, dev)?;
    tracing::warn!(vf = %dev.pci, holder = %holder.container_id, "taking over a VF from a dead pod");
    let mut host = Netlink::open()?;
    restore::restore_vf(&holder, &mut host)?;
    holder.vf = None;
    store.save(&holder)?;
    Ok(true)
}

fn pf_index(host: &mut Netlink, dev: &VfDevice) -> Result<u32, CniError> {
    let pf = host.link_by_name(&dev.pf_netdev)?;
    pf.map(|l| l.index).ok_or_else(|| device_error(format!("PF {} vanished", dev.pf_netdev)))
}

/// The VF's state before any change: PF side and, for a kernel VF, its netdev.
fn capture(host: &mut Netlink, pf: u32, dev: &VfDevice) -> Result<VfRecord, CniError> {
    let original = host.vf_state(pf, dev.index)?.ok_or_else(|| {
        device_error(format!("PF {} does not report VF {}", dev.pf_netdev, dev.index))
    })?;
    let netdev = match (&dev.netdev, dev.is_userspace()) {
        (Some(name), false) => {
            let l = host.link_by_name(name)?;
            let l = l.ok_or_else(|| device_error(format!("VF netdev {name} vanished")))?;
            Some(NetdevState {
                name: l.name,
                mac: l.mac,
                mtu: l.mtu,
                up: l.up,
                altnames: l.altnames,
            })
        }
        (None, false) => {
            return Err(device_error(format!(
                "VF {} has no netdev in this namespace and no userspace driver (driver {:?})",
                dev.pci, dev.driver
            )));
        }
        (_, true) => None,
    };
    Ok(VfRecord {
        pci: dev.pci.clone(),
        pf_pci: dev.pf_pci.clone(),
        pf_netdev: dev.pf_netdev.clone(),
        index: dev.index,
        driver: dev.driver.clone(),
        userspace: dev.is_userspace(),
        original,
        netdev,
        device_info_file: None,
    })
}

/// The PF-side changes the config asks for, in sriov-cni's order.
pub fn changes(p: &LinkProps, mac: Option<MacAddr>, orig: &VfState) -> Vec<VfChange> {
    let mut out = Vec::new();
    out.extend(mac.map(VfChange::Mac));
    if let Some(vlan) = p.vlan {
        let qos = p.qos.map_or(0, |q| q.get());
        out.push(VfChange::Vlan { vlan: vlan.get(), qos, proto: p.proto });
    }
    out.extend(p.spoofchk.map(VfChange::SpoofCheck));
    out.extend(p.trust.map(VfChange::Trust));
    out.extend(p.link_state.map(VfChange::LinkState));
    if p.min_tx_rate.is_some() || p.max_tx_rate.is_some() {
        out.push(VfChange::Rate {
            min: p.min_tx_rate.unwrap_or(orig.min_tx_rate),
            max: p.max_tx_rate.unwrap_or(orig.max_tx_rate),
        });
    }
    out
}

/// Kernel-driver VF: MAC and MTU set in the host, then moved into the pod
/// under `CNI_IFNAME`, old name dropped from its altnames, addressed, up.
fn attach_netdev(ctx: &mut AddContext<'_>, nd: &NetdevState) -> Result<Interface, CniError> {
    let link = ctx.host.link_by_name(&nd.name)?;
    let index = link.ok_or_else(|| device_error(format!("VF netdev {} vanished", nd.name)))?.index;
    if nd.up {
        ctx.host.set_up(index, false)?;
    }
    if let Some(mac) = ctx.mac {
        ctx.host
            .set_vf_netdev_mac(index, mac)
            .map_err(|e| CniError::from(e).context("setting the VF netdev MAC"))?;
    }
    if let Some(mtu) = ctx.conf.mtu {
        ctx.host
            .set_mtu(index, mtu)
            .map_err(|e| CniError::from(e).context("setting the VF MTU"))?;
    }
    ctx.host
        .move_link(index, ctx.netns.as_fd(), Some(ctx.id.ifname.as_ref()))
        .map_err(|e| CniError::from(e).context("moving the VF into the pod"))?;
    let pod_link = ctx.pod.link_by_name(ctx.id.ifname.as_ref())?;
    let pod_link = pod_link.ok_or_else(|| device_error("the VF vanished after the move"))?;
    if pod_link.altnames.contains(&nd.name) {
        ctx.pod.del_altname(pod_link.index, &nd.name)?;
    }
    super::ip::announce(ctx.netns, ctx.id.ifname.as_ref());
    super::ip::apply_then_up(ctx.pod, pod_link.index, ctx.ipam)?;
    let now = ctx.pod.link_by_index(pod_link.index)?.unwrap_or(pod_link);
    Ok(Interface {
        name: now.name,
        mac: now.mac,
        mtu: now.mtu,
        sandbox: Some(ctx.netns.path().display().to_string()),
        pci_id: Some(ctx.record.vf.as_ref().map(|v| v.pci.clone()).unwrap_or_default()),
        ..Default::default()
    })
}

/// Userspace-driver VF: nothing to move; the result names the device.
fn userspace_interface(ctx: &AddContext<'_>, dev: &VfDevice) -> Interface {
    Interface {
        name: ctx.id.ifname.to_string(),
        mac: ctx.mac,
        sandbox: Some(ctx.netns.path().display().to_string()),
        pci_id: Some(dev.pci.clone()),
        ..Default::default()
    }
}

/// Whether `conf` names a VF that exists (checked before IPAM runs).
pub fn check_device(conf: &NetConf) -> Result<(), CniError> {
    match &conf.device {
        Some(pci) => resolve(&Sysfs::default(), pci).map(drop),
        None => Err(device_error("mode sriov needs deviceID")),
    }
}

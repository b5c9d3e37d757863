//! `sriov` teardown: bring the VF netdev home and put back everything ADD changed.
//!
//! The netdev is found wherever it is: still in the pod namespace (moved back
//! and renamed to its original name in one request), already in the host
//! (a deleted namespace returns physical devices to the host, asynchronously:
//! polled with a deadline), or nowhere for a userspace-driver VF.

use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::cni::error::{CniError, ErrorCode, chain};
use crate::cni::types::MacAddr;
use crate::netlink::{Netlink, NetlinkError, Transport, VfChange, VfState};
use crate::netns::NetNs;
use crate::state::{NetdevState, Record, Store, VfRecord};
use crate::sysfs::Sysfs;

/// How long a VF from a deleted namespace may take to reappear in the host.
const RETURN_DEADLINE: Duration = Duration::from_secs(10);

/// Undoes an SR-IOV attachment under the VF's lock, from the freshest record
/// (another ADD may have taken the VF over from a dead pod meanwhile).
pub fn teardown<T: Transport>(
    rec: &Record,
    store: &Store,
    host: &mut Netlink<T>,
) -> Result<(), CniError> {
    let Some(vf) = &rec.vf else { return Ok(()) };
    let _lock = store.lock_device(&vf.pci)?;
    let fresh = match store.load(&rec.id()) {
        Ok(Some(r)) => r,
        _ => rec.clone(),
    };
    if fresh.vf.is_none() {
        return Ok(());
    }
    restore_vf(&fresh, host)
}

/// Restores the VF of `rec` (caller holds the VF lock).
pub fn restore_vf<T: Transport>(rec: &Record, host: &mut Netlink<T>) -> Result<(), CniError> {
    restore_vf_in(&Sysfs::default(), rec, host)
}

/// [`restore_vf`] with the VF's netdev looked up in `sysfs`.
fn restore_vf_in<T: Transport>(
    sysfs: &Sysfs,
    rec: &Record,
    host: &mut Netlink<T>,
) -> Result<(), CniError> {
    let Some(vf) = &rec.vf else { return Ok(()) };
    let mut errors = Vec::new();
    let index = match &vf.netdev {
        Some(nd) => bring_home(sysfs, rec, vf, nd, host).map_err(|e| errors.push(e)).ok(),
        None => None,
    };
    if let Some(index) = index {
        let _ = host.set_up(index, false);
    }
    if let Err(e) = restore_pf_side(vf, host) {
        errors.push(e);
    }
    if let (Some(index), Some(nd)) = (index, &vf.netdev) {
        errors.extend(restore_netdev(host, index, nd, vf));
    }
    if let Some(path) = &vf.device_info_file {
        let _ = std::fs::remove_file(path);
    }
    match errors.into_iter().next() {
        Some(e) => Err(e.context(format!("restoring VF {}", vf.pci))),
        None => Ok(()),
    }
}

/// Returns the VF netdev's index in the host namespace, moving it there if needed.
fn bring_home<T: Transport>(
    sysfs: &Sysfs,
    rec: &Record,
    vf: &VfRecord,
    nd: &NetdevState,
    host: &mut Netlink<T>,
) -> Result<u32, CniError> {
    if let Some(name) = sysfs.netdev(&vf.pci) {
        return index_of(host, &name);
    }
    if let Some(index) = pull_from_pod(sysfs, rec, vf, nd, host)? {
        return Ok(index);
    }
    // The pod namespace is gone: the kernel hands the netdev back to the host.
    let deadline = Instant::now() + RETURN_DEADLINE;
    loop {
        if let Some(name) = sysfs.netdev(&vf.pci) {
            return index_of(host, &name);
        }
        if Instant::now() >= deadline {
            return Err(CniError::new(
                ErrorCode::TryAgainLater,
                format!("VF {} netdev is neither in the pod nor back in the host yet", vf.pci),
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn index_of<T: Transport>(host: &mut Netlink<T>, name: &str) -> Result<u32, CniError> {
    let link = host.link_by_name(name)?;
    link.map(|l| l.index)
        .ok_or_else(|| CniError::new(ErrorCode::Netlink, format!("{name} vanished")))
}

/// Moves the VF from the pod back to the host under its original name.
/// `None` when the pod namespace cannot be opened or lacks the VF.
fn pull_from_pod<T: Transport>(
    sysfs: &Sysfs,
    rec: &Record,
    vf: &VfRecord,
    nd: &NetdevState,
    host: &mut Netlink<T>,
) -> Result<Option<u32>, CniError> {
    let Some(path) = &rec.netns else { return Ok(None) };
    let Ok(ns) = NetNs::open(path) else { return Ok(None) };
    let mut pod = match ns.run(Netlink::open) {
        Ok(Ok(nl)) => nl,
        _ => return Ok(None),
    };
    let links = pod.links()?;
    let Some(link) = links.into_iter().find(|l| l.parent_dev.as_deref() == Some(vf.pci.as_str()))
    else {
        return Ok(None);
    };
    let _ = pod.set_up(link.index, false);
    let home = NetNs::open(Path::new("/proc/self/ns/net"))
        .map_err(|e| CniError::new(ErrorCode::Io, chain(&e)))?;
    if let Err(e) = pod.move_link(link.index, home.as_fd(), Some(&nd.name)) {
        if !e.is_exists() {
            return Err(CniError::from(e).context("moving the VF back to the host"));
        }
        // Its original name is taken in the host: come back under a free one.
        let temp = format!("mmvf{}", vf.index);
        pod.move_link(link.index, home.as_fd(), Some(&temp))
            .map_err(|e| CniError::from(e).context("moving the VF back to the host"))?;
    }
    sysfs_index(sysfs, host, &vf.pci).map(Some)
}

fn sysfs_index<T: Transport>(
    sysfs: &Sysfs,
    host: &mut Netlink<T>,
    pci: &str,
) -> Result<u32, CniError> {
    match sysfs.netdev(pci) {
        Some(name) => index_of(host, &name),
        None => {
            Err(CniError::new(ErrorCode::Netlink, format!("VF {pci} not visible after the move")))
        }
    }
}

/// Puts back every PF-side property that differs from the recorded original.
fn restore_pf_side<T: Transport>(vf: &VfRecord, host: &mut Netlink<T>) -> Result<(), CniError> {
    let pf = index_of(host, &vf.pf_netdev)?;
    let now = host.vf_state(pf, vf.index)?.unwrap_or_default();
    let changes = differences(&now, &vf.original);
    Ok(host.set_vf(pf, vf.index, &changes)?)
}

/// The changes that turn `now` back into `orig` (MAC first: a driver may
/// refuse the VF's own MAC change while another admin MAC is set).
pub fn differences(now: &VfState, orig: &VfState) -> Vec<VfChange> {
    let mut out = Vec::new();
    if now.mac != orig.mac
        && let Some(mac) = orig.mac
    {
        out.push(VfChange::Mac(mac));
    }
    if (now.vlan, now.qos, now.proto) != (orig.vlan, orig.qos, orig.proto) {
        out.push(VfChange::Vlan { vlan: orig.vlan, qos: orig.qos, proto: orig.proto });
    }
    if now.spoofchk != orig.spoofchk
        && let Some(on) = orig.spoofchk
    {
        out.push(VfChange::SpoofCheck(on));
    }
    if now.trust != orig.trust
        && let Some(on) = orig.trust
    {
        out.push(VfChange::Trust(on));
    }
    if now.link_state != orig.link_state
        && let Some(s) = orig.link_state
    {
        out.push(VfChange::LinkState(s));
    }
    if (now.min_tx_rate, now.max_tx_rate) != (orig.min_tx_rate, orig.max_tx_rate) {
        out.push(VfChange::Rate { min: orig.min_tx_rate, max: orig.max_tx_rate });
    }
    out
}

/// Name, MAC, MTU, altnames and up/down of the VF netdev, each attempted.
fn restore_netdev<T: Transport>(
    host: &mut Netlink<T>,
    index: u32,
    nd: &NetdevState,
    vf: &VfRecord,
) -> Vec<CniError> {
    let mut errors = Vec::new();
    let mut note = |r: Result<(), crate::netlink::NetlinkError>, what: &str| {
        if let Err(e) = r {
            errors.push(CniError::from(e).context(what.to_owned()));
        }
    };
    let Ok(Some(now)) = host.link_by_index(index) else {
        return vec![CniError::new(ErrorCode::Netlink, "VF netdev vanished during restore")];
    };
    if now.name != nd.name {
        note(host.rename(index, &nd.name), "renaming the VF back");
    }
    if let Some(mac) = nd.mac.filter(|m| now.mac != Some(*m)) {
        note(set_netdev_mac(host, index, mac, vf), "restoring the VF MAC");
    }
    if let Some(mtu) = nd.mtu.filter(|m| now.mtu != Some(*m)) {
        note(host.set_mtu(index, mtu), "restoring the VF MTU");
    }
    for extra in now.altnames.iter().filter(|a| !nd.altnames.contains(a)) {
        note(host.del_altname(index, extra), "removing an altname");
    }
    for missing in nd.altnames.iter().filter(|a| !now.altnames.contains(a)) {
        note(host.add_altname(index, missing), "restoring an altname");
    }
    if nd.up {
        note(host.set_up(index, true), "bringing the VF up");
    }
    errors
}

/// Sets the VF netdev's own MAC. A PF-set (admin) VF MAC makes the PF refuse
/// the VF any other MAC (`EADDRNOTAVAIL`), yet the recorded netdev MAC may
/// predate that admin MAC: the netdev takes an admin MAC only when the VF
/// resets. Clearing the admin MAC (all zeroes) lifts the refusal; the
/// original admin MAC is then put back.
fn set_netdev_mac<T: Transport>(
    host: &mut Netlink<T>,
    index: u32,
    mac: MacAddr,
    vf: &VfRecord,
) -> Result<(), NetlinkError> {
    let refused = match host.set_vf_netdev_mac(index, mac) {
        Err(e) if e.is_addr_not_avail() => e,
        done => return done,
    };
    let Some(admin) = vf.original.mac.filter(|m| *m != mac && m.0 != [0; 6]) else {
        return Err(refused);
    };
    let Some(pf) = host.link_by_name(&vf.pf_netdev)?.map(|l| l.index) else {
        return Err(refused);
    };
    host.set_vf(pf, vf.index, &[VfChange::Mac(MacAddr([0; 6]))])?;
    let set = host.set_vf_netdev_mac(index, mac);
    host.set_vf(pf, vf.index, &[VfChange::Mac(admin)])?;
    set
}

#[cfg(test)]
#[path = "restore_tests.rs"]
mod tests;

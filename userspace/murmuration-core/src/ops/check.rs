//! CHECK: the interface is in the pod namespace with the recorded MAC, MTU and
//! addresses, the host side still exists, and IPAM agrees.

use super::{Call, open_host_netlink, open_pod_netlink};
use crate::cni::env::{Command, PodEnv};
use crate::cni::error::{CniError, ErrorCode};
use crate::cni::result::CniResult;
use crate::cni::types::{MacAddr, PciAddress};
use crate::netlink::Netlink;
use crate::netns::NetNs;
use crate::state::{Record, VfRecord};
use crate::sysfs::Sysfs;

fn mismatch(msg: impl Into<String>) -> CniError {
    CniError::new(ErrorCode::CheckMismatch, msg)
}

pub fn check(call: &Call<'_>, env: &PodEnv) -> Result<(), CniError> {
    if !call.conf.version.has_check() {
        return Err(CniError::new(
            ErrorCode::IncompatibleVersion,
            format!("CHECK needs cniVersion 0.4.0 or later, not {}", call.conf.version),
        ));
    }
    let id = &env.id;
    let netns = NetNs::open(env.netns.as_path())?;
    let store = call.store();
    let _store_lock = store.lock_store(false)?;
    let _lock = store.lock_attachment(id)?;
    let rec = store.load(id)?.ok_or_else(|| {
        mismatch(format!("no attachment {}/{} was recorded", id.container_id, id.ifname))
    })?;
    let recorded = rec.result.clone().ok_or_else(|| mismatch("ADD did not complete"))?;
    let asked = Asked {
        // The fast path keys the port on the MAC: a changed MAC is a broken port.
        mac: call.conf.effective_mac(&env.args).is_some() || rec.datapath.is_some(),
        mtu: call.conf.mtu.is_some(),
    };
    if let Some(prev) = &call.conf.prev_result {
        check_prev_result(prev, &rec, asked)?;
    }
    match rec.vf.as_ref().filter(|vf| vf.userspace) {
        Some(vf) => check_userspace_vf(vf)?,
        None => check_pod(&mut open_pod_netlink(&netns)?, &rec, &recorded, asked)?,
    }
    check_host(&mut open_host_netlink()?, &rec)?;
    if let (Some(dp), Some(mac)) = (&rec.datapath, rec.mac) {
        crate::attach::fastpath::check(dp, mac)?;
    }
    super::ptplock::require(call.conf.ptp_lock.as_ref(), "CHECK")?;
    let Some(ipam) = call.ipam() else { return Ok(()) };
    if call.conf.prev_result.is_some() {
        return ipam.check(&call.invocation(Command::Check));
    }
    // The spec gives a delegate's CHECK the prevResult; a runtime that sent
    // none gets ours (what ADD returned), not the delegate's refusal.
    let config = with_prev_result(&call.conf.raw, &recorded, call.conf.version)?;
    let mut inv = call.invocation(Command::Check);
    inv.config = &config;
    ipam.check(&inv)
}

/// `raw` with `prevResult` set to `result` rendered for `version`.
fn with_prev_result(
    raw: &[u8],
    result: &CniResult,
    version: crate::cni::version::CniVersion,
) -> Result<Vec<u8>, CniError> {
    let mut conf: serde_json::Value = serde_json::from_slice(raw)?;
    if let Some(obj) = conf.as_object_mut() {
        obj.insert("prevResult".into(), result.to_value(version));
    }
    Ok(serde_json::to_vec(&conf)?)
}

/// What the config asked this plugin to set: only that is compared (a
/// later plugin in the chain may change the rest, e.g. `tuning`'s MTU).
#[derive(Debug, Clone, Copy)]
struct Asked {
    mac: bool,
    mtu: bool,
}

/// The runtime's `prevResult` must describe the interface we made.
fn check_prev_result(prev: &CniResult, rec: &Record, asked: Asked) -> Result<(), CniError> {
    let ours =
        prev.interfaces.iter().find(|i| i.name == rec.ifname.as_ref() && i.sandbox.is_some());
    let Some(iface) = ours else {
        return Err(mismatch(format!("prevResult has no interface {} in a sandbox", rec.ifname)));
    };
    if asked.mac && iface.mac.is_some() && iface.mac != rec.mac {
        let plain = format!("prevResult MAC {} differs from {}", shown(iface.mac), shown(rec.mac));
        return Err(mac_changed(rec, plain, "prevResult MAC", iface.mac));
    }
    Ok(())
}

/// The interface's MAC is not the recorded one. On a fast-path port that
/// is a port whose frames the source MAC check drops: say so, and how to
/// set a MAC that works.
fn mac_changed(rec: &Record, plain: String, what: &str, has: Option<MacAddr>) -> CniError {
    if rec.datapath.is_none() {
        return mismatch(plain);
    }
    let (has, want) = (shown(has), shown(rec.mac));
    mismatch(format!(
        "{what} {has} differs from {want}, the MAC the eBPF fast path locked this port to: \
         frames from {has} are dropped (drop reason spoof). A later plugin in the chain \
         (e.g. tuning's \"mac\") must not change it: set the MAC with murmuration's \"mac\", \
         runtimeConfig.mac or MAC= in CNI_ARGS, which tuning then repeats"
    ))
}

/// An optional value for a message: the value, or "none".
fn shown<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "none".to_owned(), |v| v.to_string())
}

fn check_pod(
    pod: &mut Netlink,
    rec: &Record,
    recorded: &CniResult,
    asked: Asked,
) -> Result<(), CniError> {
    let link = pod
        .link_by_name(rec.ifname.as_ref())?
        .ok_or_else(|| mismatch(format!("interface {} is missing from the pod", rec.ifname)))?;
    if asked.mac && link.mac != rec.mac {
        let (has, want) = (shown(link.mac), shown(rec.mac));
        let plain = format!("{} has MAC {has}, expected {want}", rec.ifname);
        return Err(mac_changed(rec, plain, &format!("{} has MAC", rec.ifname), link.mac));
    }
    if asked.mtu && rec.mtu.is_some() && link.mtu != rec.mtu {
        let (has, want) = (shown(link.mtu), shown(rec.mtu));
        return Err(mismatch(format!("{} has MTU {has}, expected {want}", rec.ifname)));
    }
    if !link.up {
        return Err(mismatch(format!("{} is down", rec.ifname)));
    }
    let present = pod.addresses(link.index)?;
    for ip in &recorded.ips {
        if !present.contains(&ip.address) {
            return Err(mismatch(format!("{} lacks address {}", rec.ifname, ip.address)));
        }
    }
    Ok(())
}

/// A userspace-driver VF has no netdev in the pod: it must still exist and
/// still be bound to a userspace driver.
fn check_userspace_vf(vf: &VfRecord) -> Result<(), CniError> {
    let pci = PciAddress::parse(&vf.pci).map_err(|e| mismatch(e.to_string()))?;
    let dev =
        Sysfs::default().vf(&pci).map_err(|e| mismatch(format!("VF {} is gone: {e}", vf.pci)))?;
    if dev.is_userspace() {
        Ok(())
    } else {
        Err(mismatch(format!("VF {} is bound to {:?}, not a userspace driver", vf.pci, dev.driver)))
    }
}

fn check_host(host: &mut Netlink, rec: &Record) -> Result<(), CniError> {
    let Some(name) = &rec.host_ifname else {
        return Ok(());
    };
    let link = host.link_by_name(name)?;
    match link {
        Some(l) if l.up => Ok(()),
        Some(_) => Err(mismatch(format!("host interface {name} is down"))),
        None => Err(mismatch(format!("host interface {name} is missing"))),
    }
}

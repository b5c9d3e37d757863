//! ADD: validate, check for clashes, allocate, record, attach, answer.
//!
//! Nothing is changed until every check that can fail without side effects
//! has passed. Then an intent record is written, before IPAM is called, so
//! that an ADD killed at any later step is still found and undone by DEL, GC
//! or the node daemon. Any failure after that runs [`super::release`], which
//! undoes the interfaces, releases the lease and removes the record.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::value::RawValue;

use super::{Call, open_host_netlink, release};
use crate::attach::{self, AddContext, Attached};
use crate::cni::config::NetConf;
use crate::cni::env::{AttachmentId, Command, PodEnv};
use crate::cni::error::{CniError, ErrorCode};
use crate::cni::result::CniResult;
use crate::fault;
use crate::netlink::Netlink;
use crate::netns::NetNs;
use crate::state::{PodRef, Record, Store};

pub fn add(call: &Call<'_>, env: &PodEnv) -> Result<CniResult, CniError> {
    let conf = &call.conf;
    conf.validate_for_add()?;
    attach::ensure_available(conf.mode)?;
    attach::check_device(conf)?;
    super::ptplock::require(conf.ptp_lock.as_ref(), "ADD")?;
    let id = &env.id;
    let netns = NetNs::open(env.netns.as_path())?;
    // Opening the pod's socket runs on its own thread while we take the locks.
    let pod = netns.spawn(Netlink::open)?;
    let store = call.store();
    let _store_lock = store.lock_store(false)?;
    let _lock = store.lock_attachment(id)?;
    if store.load(id)?.is_some() {
        return Err(CniError::new(
            ErrorCode::InterfaceExists,
            format!("attachment {}/{} already exists; DEL it first", id.container_id, id.ifname),
        ));
    }
    let mut host = open_host_netlink()?;
    let mut pod = pod.join()??;
    preflight(conf, id, &mut host, &mut pod)?;

    let ipam = call.ipam();
    if let Some(i) = &ipam {
        i.ready()?;
    }
    // The intent record goes first: from here on, whatever happens to this
    // process (an error, a crash, SIGKILL), DEL, GC and the daemon find the
    // attachment and undo what was made, the lease included.
    let mut rec = new_record(call, env, ipam.is_some())?;
    store.save(&rec)?;
    fault::point(fault::ADD_BEFORE_IPAM);
    let allocated = match &ipam {
        Some(i) => i.add(&call.invocation(Command::Add)),
        None => Ok(CniResult::default()),
    };
    fault::point(fault::ADD_AFTER_IPAM);
    let attached = allocated.and_then(|ipam_result| {
        let mac = conf.effective_mac(&env.args);
        let mut ctx = AddContext {
            conf,
            id,
            netns: &netns,
            host: &mut host,
            pod: &mut pod,
            mac,
            ipam: &ipam_result,
            store: &store,
            record: &mut rec,
        };
        attach::setup(&mut ctx).map(|a| (a, ipam_result))
    });
    let result =
        attached.and_then(|(a, ipam_result)| finish(&mut rec, &store, a, ipam_result, conf));
    match result {
        Ok(r) => {
            tracing::info!(container = %id.container_id, ifname = %id.ifname, "attached");
            Ok(r)
        }
        Err(e) => {
            for undo in release(&rec, &store, &mut host, &call.path, ipam.as_deref(), call.vars) {
                tracing::warn!(error = %undo, "rollback after failed ADD");
            }
            Err(e)
        }
    }
}

/// Refuses an ADD whose interface names are taken, before anything is allocated.
fn preflight(
    conf: &NetConf,
    id: &AttachmentId,
    host: &mut Netlink,
    pod: &mut Netlink,
) -> Result<(), CniError> {
    if pod.link_by_name(id.ifname.as_ref())?.is_some() {
        return Err(CniError::new(
            ErrorCode::InterfaceExists,
            format!("interface {} already exists in the pod namespace", id.ifname),
        ));
    }
    if let Some(name) = attach::host_ifname(conf.mode, id)
        && host.link_by_name(&name)?.is_some()
    {
        return Err(CniError::new(
            ErrorCode::InterfaceExists,
            format!("host interface {name} for this attachment already exists"),
        ));
    }
    Ok(())
}

fn new_record(call: &Call<'_>, env: &PodEnv, ipam_allocated: bool) -> Result<Record, CniError> {
    let id = &env.id;
    let text = String::from_utf8(call.conf.raw.clone())
        .map_err(|_| CniError::new(ErrorCode::Decode, "network config is not UTF-8"))?;
    let config = RawValue::from_string(text)?;
    Ok(Record {
        format: Record::FORMAT,
        network: call.conf.name.clone(),
        container_id: id.container_id.clone(),
        ifname: id.ifname.clone(),
        netns: Some(env.netns.as_path().to_owned()),
        mode: call.conf.mode,
        host_ifname: attach::host_ifname(call.conf.mode, id),
        mac: None,
        mtu: None,
        pod: PodRef::from(&env.args),
        ipam_allocated,
        config,
        datapath: None,
        result: None,
        created_unix: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        boot_id: crate::state::current_boot_id().map(str::to_owned),
        vf: None,
    })
}

/// Builds the result from what was attached and records it.
fn finish(
    rec: &mut Record,
    store: &Store,
    attached: Attached,
    ipam: CniResult,
    conf: &NetConf,
) -> Result<CniResult, CniError> {
    let pod = &attached.interfaces[attached.pod_interface];
    (rec.mac, rec.mtu) = (pod.mac, pod.mtu);
    rec.datapath = attached.datapath.clone();
    let mut ours = CniResult {
        interfaces: attached.interfaces,
        ips: ipam.ips,
        routes: ipam.routes,
        dns: if conf.dns.is_empty() { ipam.dns } else { conf.dns.clone() },
    };
    for ip in &mut ours.ips {
        ip.interface = Some(attached.pod_interface);
    }
    rec.result = Some(ours.clone());
    fault::point(fault::ADD_BEFORE_RECORD);
    store.save(rec)?;
    Ok(match conf.prev_result.clone() {
        Some(mut prev) => {
            prev.append(ours);
            prev
        }
        None => ours,
    })
}

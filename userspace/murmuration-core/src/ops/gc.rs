//! GC: release every attachment of this network that the runtime no longer lists.

use super::{Call, combine, open_host_netlink, release};
use crate::cni::env::Command;
use crate::cni::error::CniError;
use crate::state::Record;

fn is_valid(call: &Call<'_>, rec: &Record) -> bool {
    call.conf
        .valid_attachments
        .iter()
        .any(|a| a.container_id == rec.container_id.as_ref() && a.ifname == rec.ifname.as_ref())
}

pub fn gc(call: &Call<'_>) -> Result<(), CniError> {
    let store = call.store();
    let store_lock = store.lock_store(true)?;
    let (records, unreadable) = store.list();
    store.drop_unreadable(&unreadable, &store_lock);
    let mut errors: Vec<CniError> = Vec::new();
    let mut host = open_host_netlink()?;
    let ipam = call.ipam();
    for rec in records.iter().filter(|r| r.network == call.conf.name && !is_valid(call, r)) {
        tracing::info!(container = %rec.container_id, ifname = %rec.ifname, "GC releases");
        errors.extend(release(rec, &store, &mut host, &call.path, ipam.as_deref(), call.vars));
    }
    if let Err(e) = crate::attach::fastpath::collect_garbage(&call.conf) {
        errors.push(e);
    }
    if let Some(ipam) = &ipam
        && let Err(e) = ipam.gc(&call.invocation(Command::Gc))
    {
        errors.push(e.context("IPAM GC"));
    }
    store.sweep_locks(&store_lock);
    combine(errors)
}

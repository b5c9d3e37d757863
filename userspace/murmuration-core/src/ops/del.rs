//! DEL: idempotent, works from the record alone, keeps going past failures.

use super::{Call, combine, open_host_netlink, release};
use crate::cni::env::{Command, DelEnv};
use crate::cni::error::{CniError, chain};
use crate::state::StateError;

pub fn del(call: &Call<'_>, env: &DelEnv) -> Result<(), CniError> {
    let id = &env.id;
    let store = call.store();
    let _store_lock = store.lock_store(false)?;
    let _lock = store.lock_attachment(id)?;
    let mut host = open_host_netlink()?;
    let ipam = call.ipam();
    let record = match store.load(id) {
        Ok(r) => r,
        Err(e @ StateError::Corrupt { .. }) => {
            tracing::warn!(error = %chain(&e), "unreadable record; cleaning up by name");
            None
        }
        Err(e) => return Err(e.into()),
    };
    match record {
        Some(rec) => {
            let errors = release(&rec, &store, &mut host, &call.path, ipam.as_deref(), call.vars);
            if errors.is_empty() {
                tracing::info!(container = %id.container_id, ifname = %id.ifname, "released");
            }
            combine(errors)
        }
        None => {
            // No record: ADD never finished, or DEL already ran. Remove what
            // this attachment's deterministic names would have made, and let
            // IPAM release anything it still holds.
            let mut errors = Vec::new();
            if let Some(name) = crate::attach::host_ifname(call.conf.mode, id)
                && let Err(e) = host.delete_link(&name)
            {
                errors.push(e.into());
            }
            if let Some(ipam) = ipam
                && let Err(e) = ipam.del(&call.invocation(Command::Del))
            {
                errors.push(e.context("releasing IPAM lease"));
            }
            if errors.is_empty()
                && let Err(e) = store.remove(id)
            {
                errors.push(e.into());
            }
            combine(errors)
        }
    }
}

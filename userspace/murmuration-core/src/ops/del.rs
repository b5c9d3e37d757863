//! DEL: idempotent, works from the record alone, keeps going past failures.

use super::{Call, combine, open_host_netlink, release, state_error};
use crate::cni::config::Mode;
use crate::cni::env::Command;
use crate::cni::error::{CniError, chain};
use crate::state::StateError;

pub fn del(call: &Call<'_>) -> Result<(), CniError> {
    let id = call.env.attachment()?;
    let store = call.store();
    let _store_lock = store.lock_store(false).map_err(|e| state_error(&e))?;
    let _lock = store.lock_attachment(id).map_err(|e| state_error(&e))?;
    let mut host = open_host_netlink()?;
    let ipam = call.ipam();
    let record = match store.load(id) {
        Ok(r) => r,
        Err(e @ StateError::Corrupt { .. }) => {
            tracing::warn!(error = %chain(&e), "unreadable record; cleaning up by name");
            None
        }
        Err(e) => return Err(state_error(&e)),
    };
    match record {
        Some(rec) => {
            let errors = release(&rec, &store, &mut host, ipam.as_deref(), call.vars);
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
            if call.conf.mode == Mode::Veth {
                let name = crate::attach::veth::host_ifname(id);
                if let Err(e) = host.delete_link(&name) {
                    errors.push(crate::attach::ip::netlink_error(&e));
                }
            }
            if let Some(ipam) = ipam
                && let Err(e) = ipam.del(&call.invocation(Command::Del))
            {
                errors.push(e.context("releasing IPAM lease"));
            }
            if errors.is_empty()
                && let Err(e) = store.remove(id)
            {
                errors.push(state_error(&e));
            }
            combine(errors)
        }
    }
}

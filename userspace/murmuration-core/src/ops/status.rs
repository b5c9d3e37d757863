//! STATUS: can an ADD be served right now?

use super::{Call, open_host_netlink};
use crate::cni::config::Mode;
use crate::cni::env::Command;
use crate::cni::error::{CniError, ErrorCode};

fn unavailable(msg: impl Into<String>) -> CniError {
    CniError::new(ErrorCode::NotAvailable, msg)
}

pub fn status(call: &Call<'_>) -> Result<(), CniError> {
    let conf = &call.conf;
    crate::attach::ensure_available(conf.mode).map_err(|e| unavailable(e.msg))?;
    if conf.mode == Mode::Sriov && conf.device.is_some() {
        crate::attach::check_device(conf).map_err(|e| unavailable(e.msg))?;
    }
    if let Some(master) = &conf.master {
        let mut host = open_host_netlink().map_err(|e| unavailable(e.msg))?;
        let link = host.link_by_name(master.as_ref()).map_err(|e| unavailable(e.to_string()))?;
        if link.is_none() {
            return Err(unavailable(format!("master interface {master} does not exist")));
        }
    }
    crate::attach::fastpath::status(conf)?;
    let store = call.store();
    // Every failure here means "cannot serve ADD now": 50, whatever the cause.
    store.lock_store(false).map_err(|e| unavailable(CniError::from(e).msg))?;
    if let Some(ipam) = call.ipam() {
        ipam.status(&call.invocation(Command::Status)).map_err(|e| match e.code {
            50 | 51 => e,
            _ => unavailable(e.msg).with_details(e.details),
        })?;
    }
    Ok(())
}

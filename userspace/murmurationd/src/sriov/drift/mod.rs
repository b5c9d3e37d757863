//! Drift detection: every `[drift] interval_seconds`, each sriov
//! attachment's PF-side VF state is compared with what the plugin set (the
//! record's network config, replayed through the plugin's own
//! `attach::sriov::changes`). A drifted field is exported as
//! `murmuration_attachment_drift{...,field}` = 1, logged once when it
//! starts and once when it ends, and with `repair = true` set back under
//! the attachment's lock. `vlan` attachments are compared in the pod's
//! namespace (see [`vlan`]), never repaired.

use std::collections::BTreeSet;
use std::sync::Arc;

use murmuration_core::attach::sriov::changes;
use murmuration_core::cni::config::{Mode, NetConf};
use murmuration_core::netlink::{Netlink, VfChange, VfState};
use murmuration_core::state::{Record, Store};
use tokio_util::sync::CancellationToken;

mod vlan;

use crate::Shared;
use crate::metrics::label::Lv;

/// (network, pod_namespace, pod_name, ifname, field).
pub type DriftKey = (String, String, String, String, &'static str);

/// The fields of `want` (one change) that `now` does not have.
pub fn drifted(want: &VfChange, now: &VfState) -> Vec<&'static str> {
    let mut out = Vec::new();
    match want {
        VfChange::Mac(m) => {
            if now.mac != Some(*m) {
                out.push("mac");
            }
        }
        VfChange::Vlan { vlan, qos, .. } => {
            if now.vlan != *vlan {
                out.push("vlan");
            }
            if now.qos != *qos {
                out.push("qos");
            }
        }
        VfChange::SpoofCheck(on) => {
            if now.spoofchk.is_some_and(|v| v != *on) {
                out.push("spoofchk");
            }
        }
        VfChange::Trust(on) => {
            if now.trust.is_some_and(|v| v != *on) {
                out.push("trust");
            }
        }
        VfChange::LinkState(s) => {
            if now.link_state.is_some_and(|v| v != *s) {
                out.push("link_state");
            }
        }
        VfChange::Rate { min, max } => {
            if now.min_tx_rate != *min {
                out.push("min_tx_rate");
            }
            if now.max_tx_rate != *max {
                out.push("max_tx_rate");
            }
        }
    }
    out
}

/// What the plugin set on the record's VF (PF side); `None` when the record
/// is not a completed kernel or userspace sriov attachment of this boot.
pub fn wanted(rec: &Record) -> Option<Vec<VfChange>> {
    if rec.mode != Mode::Sriov || rec.result.is_none() || rec.from_earlier_boot() {
        return None;
    }
    let vf = rec.vf.as_ref()?;
    let conf = NetConf::parse(rec.config.get().as_bytes()).ok()?;
    let mac = conf.runtime.mac.or(conf.mac);
    Some(changes(&conf.props, mac, &vf.original))
}

pub(super) fn key(rec: &Record, field: &'static str) -> DriftKey {
    (
        rec.network.clone(),
        rec.pod.namespace.clone().unwrap_or_default(),
        rec.pod.name.clone().unwrap_or_default(),
        rec.ifname.to_string(),
        field,
    )
}

/// Checks one record; repairs under its lock when asked. Returns its drifted fields.
fn check(nl: &mut Netlink, store: &Store, rec: &Record, repair: bool) -> Vec<DriftKey> {
    let (Some(want), Some(vf)) = (wanted(rec), rec.vf.as_ref()) else { return Vec::new() };
    let Ok(Some(pf)) = nl.link_by_name(&vf.pf_netdev) else { return Vec::new() };
    let Ok(Some(now)) = nl.vf_state(pf.index, vf.index) else { return Vec::new() };
    let bad: Vec<&VfChange> = want.iter().filter(|c| !drifted(c, &now).is_empty()).collect();
    let keys = bad.iter().flat_map(|c| drifted(c, &now)).map(|f| key(rec, f)).collect();
    if repair && !bad.is_empty() {
        let fix: Vec<VfChange> = bad.into_iter().cloned().collect();
        match repair_under_lock(nl, store, rec, pf.index, &fix) {
            Ok(true) => {
                tracing::info!(attachment = %crate::inventory::attachments::key(rec), changes = ?fix, "drift repaired");
                return Vec::new();
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(attachment = %crate::inventory::attachments::key(rec), error = %e, "drift repair failed")
            }
        }
    }
    keys
}

/// Re-applies `fix` if the record is still there under its lock.
fn repair_under_lock(
    nl: &mut Netlink,
    store: &Store,
    rec: &Record,
    pf: u32,
    fix: &[VfChange],
) -> Result<bool, String> {
    let _shared = store.lock_store(false).map_err(|e| crate::chain(&e))?;
    let Some(_lock) = store.try_lock_attachment(&rec.id()).map_err(|e| crate::chain(&e))? else {
        return Ok(false); // a verb is working on it: next round
    };
    if store.load(&rec.id()).map_err(|e| crate::chain(&e))?.is_none() {
        return Ok(false);
    }
    let index = rec.vf.as_ref().map_or(0, |v| v.index);
    nl.set_vf(pf, index, fix).map_err(|e| crate::chain(&e))?;
    Ok(true)
}

/// One round over every record; updates the metric and logs changes.
fn round(shared: &Shared, store: &Store, before: &BTreeSet<DriftKey>) -> BTreeSet<DriftKey> {
    let mut nl = match Netlink::open() {
        Ok(nl) => nl,
        Err(e) => {
            tracing::warn!(error = %crate::chain(&e), "drift: no netlink socket");
            shared.metrics.task_error("drift");
            return before.clone();
        }
    };
    let (records, _) = store.list();
    let repair = shared.config.drift.repair;
    let mut now: BTreeSet<DriftKey> =
        records.iter().flat_map(|r| check(&mut nl, store, r, repair)).collect();
    now.extend(vlan::check_all(&mut nl, &records));
    let labels = |k: &DriftKey| {
        vec![
            ("network", Lv::from(k.0.clone())),
            ("pod_namespace", Lv::from(k.1.clone())),
            ("pod_name", Lv::from(k.2.clone())),
            ("ifname", Lv::from(k.3.clone())),
            ("field", Lv::from(k.4)),
        ]
    };
    for k in now.difference(before) {
        tracing::warn!(network = %k.0, pod_namespace = %k.1, pod_name = %k.2, ifname = %k.3, field = k.4, "attachment drifted from its record");
        shared.metrics.attachment_drift.get_or_create(&labels(k)).set(1);
    }
    for k in before.difference(&now) {
        tracing::info!(network = %k.0, pod_namespace = %k.1, pod_name = %k.2, ifname = %k.3, field = k.4, "attachment drift ended");
        shared.metrics.attachment_drift.remove(&labels(k));
    }
    now
}

pub async fn run(shared: Arc<Shared>, cancel: CancellationToken) {
    let store = Store::new(&shared.config.state.data_dir)
        .with_lock_timeout(shared.config.cleanup.lock_timeout_seconds.get());
    let mut tick = tokio::time::interval(shared.config.drift.interval_seconds.get());
    let mut seen = BTreeSet::new();
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let (s, st, before) = (shared.clone(), store.clone(), std::mem::take(&mut seen));
        match tokio::task::spawn_blocking(move || round(&s, &st, &before)).await {
            Ok(now) => seen = now,
            Err(_) => shared.metrics.task_error("drift"),
        }
    }
}

#[cfg(test)]
mod tests {
    use murmuration_core::cni::types::MacAddr;

    use super::*;

    fn sriov_record(config: &str, result: bool) -> Record {
        let mut r = serde_json::json!({
            "format": 1, "network": "ran", "container_id": "c1", "ifname": "net1",
            "netns": "/var/run/netns/x", "mode": "sriov", "ipam_allocated": false,
            "config": serde_json::from_str::<serde_json::Value>(config).expect("config"),
            "created_unix": 1,
            "vf": {"pci": "0000:01:10.2", "pf_pci": "0000:01:00.0", "pf_netdev": "eth1",
                   "index": 1, "original": {"mac": null, "vlan": 0, "qos": 0, "spoofchk": true,
                   "trust": false, "link_state": null, "min_tx_rate": 0, "max_tx_rate": 50}}
        });
        if result {
            r["result"] = serde_json::json!({});
        }
        serde_json::from_value(r).expect("record")
    }

    #[test]
    fn the_wanted_state_is_what_the_plugin_set_from_the_recorded_config() {
        let conf = r#"{"cniVersion":"1.1.0","name":"ran","type":"murmuration","mode":"sriov",
            "deviceID":"0000:01:10.2","vlan":100,"vlanQoS":3,"spoofchk":"off",
            "mac":"02:00:00:00:00:07","min_tx_rate":10}"#;
        let want = wanted(&sriov_record(conf, true)).expect("a completed sriov record");
        let mac = MacAddr::from_slice(&[2, 0, 0, 0, 0, 7]).expect("mac");
        assert_eq!(
            want,
            [
                VfChange::Mac(mac),
                VfChange::Vlan { vlan: 100, qos: 3, proto: None },
                VfChange::SpoofCheck(false),
                VfChange::Rate { min: 10, max: 50 },
            ]
        );
        assert_eq!(wanted(&sriov_record(conf, false)), None, "an intent record is not judged");
    }

    #[test]
    fn each_field_that_differs_is_named() {
        let now = VfState { vlan: 5, qos: 0, spoofchk: Some(true), ..VfState::default() };
        let vlan = VfChange::Vlan { vlan: 100, qos: 0, proto: None };
        assert_eq!(drifted(&vlan, &now), ["vlan"]);
        let vlan_qos = VfChange::Vlan { vlan: 5, qos: 3, proto: None };
        assert_eq!(drifted(&vlan_qos, &now), ["qos"]);
        assert!(drifted(&VfChange::SpoofCheck(true), &now).is_empty());
        assert_eq!(drifted(&VfChange::SpoofCheck(false), &now), ["spoofchk"]);
        assert!(drifted(&VfChange::Trust(true), &now).is_empty(), "not reported: not judged");
        let mac = MacAddr::from_slice(&[2, 0, 0, 0, 0, 1]).expect("mac");
        assert_eq!(drifted(&VfChange::Mac(mac), &now), ["mac"]);
        assert_eq!(drifted(&VfChange::Rate { min: 0, max: 100 }, &now), ["max_tx_rate"]);
    }
}

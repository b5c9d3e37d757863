//! The eBPF fast path of a `veth` attachment, seen from the CNI verbs: the
//! config and record on one side, [`crate::datapath`] on the other.

use crate::cni::config::{FastPathConf, NetConf};
use crate::cni::error::{CniError, ErrorCode, chain};
use crate::cni::result::CniResult;
use crate::cni::types::MacAddr;
use crate::cni::types::VlanProto;
use crate::datapath::common::Policer;
use crate::datapath::{self, DatapathError, Port, PortSpec, UplinkConfig, common};
use crate::state::DatapathRecord;

fn uplink(uplink: &str, pin_root: &std::path::Path, fp: Option<&FastPathConf>) -> UplinkConfig {
    UplinkConfig {
        uplink: uplink.to_owned(),
        pin_root: pin_root.to_owned(),
        mode: fp.map(|f| f.attach_mode).unwrap_or_default(),
        xdp: fp.map(|f| f.uplink_xdp).unwrap_or_default(),
    }
}

/// The port of an attachment, from the config, the pod end's MAC and the
/// addresses IPAM gave it.
pub fn port_spec(
    conf: &NetConf,
    fp: &FastPathConf,
    host_if: &str,
    mac: MacAddr,
    ipam: &CniResult,
) -> PortSpec {
    let props = &conf.props;
    PortSpec {
        host_if: host_if.to_owned(),
        mac: mac.0,
        vlan: props.vlan.map_or(0, |v| v.get()),
        trunk: fp.trunk.clone(),
        tpid: match props.proto {
            Some(VlanProto::Dot1Ad) => common::ETH_P_8021AD,
            _ => common::ETH_P_8021Q,
        },
        pcp: props.qos.map_or(0, |q| q.get()),
        spoofchk: props.spoofchk.unwrap_or(true),
        ptp_to_host: fp.ptp_to_host,
        ptp_priority: fp.ptp_priority,
        ip_spoofchk: fp.ip_spoofchk,
        ips: ipam.ips.iter().map(|ip| ip.address.ip()).collect(),
        rates: [fp.bandwidth.ingress, fp.bandwidth.egress]
            .map(|l| l.map_or_else(Default::default, |l| Policer::new(l.rate_bps, l.burst_bits))),
    }
}

/// ADD, before [`setup`], in the pod namespace: an XDP redirect into the
/// host end of a veth reaches the pod end only through the pod end's NAPI
/// receive path, which GRO turns on (docs/datapath.md, "XDP").
pub fn prepare_pod_end(fp: &FastPathConf, pod_if: &str) -> Result<(), CniError> {
    if fp.uplink_xdp == datapath::UplinkXdp::Off {
        return Ok(());
    }
    datapath::enable_gro(pod_if)
        .map_err(|e| CniError::from(e).context("enabling GRO on the pod end"))
}

/// ADD: inserts the port's entries and attaches the pod program to the host end.
pub fn setup(
    conf: &NetConf,
    fp: &FastPathConf,
    host_if: &str,
    mac: MacAddr,
    ipam: &CniResult,
) -> Result<DatapathRecord, CniError> {
    let master = conf
        .master
        .as_ref()
        .ok_or_else(|| CniError::new(ErrorCode::InvalidConfig, "the fast path needs \"master\""))?;
    let cfg = uplink(master.as_ref(), &fp.pin_root, Some(fp));
    let port = datapath::attach_port(&cfg, &port_spec(conf, fp, host_if, mac, ipam))?;
    Ok(DatapathRecord {
        uplink: cfg.uplink,
        pin_root: cfg.pin_root,
        host_ifindex: port.host_ifindex,
        attach_id: port.attach_id,
        cookie: port.cookie,
    })
}

fn port(rec: &DatapathRecord) -> Port {
    Port { host_ifindex: rec.host_ifindex, attach_id: rec.attach_id, cookie: rec.cookie }
}

/// DEL: removes exactly the recorded port; the uplink's programs go with the last one.
pub fn teardown(rec: &DatapathRecord) -> Result<(), CniError> {
    Ok(datapath::detach_port(&uplink(&rec.uplink, &rec.pin_root, None), port(rec))?)
}

/// CHECK: the recorded port's entries are in the maps. Reports, never
/// repairs or removes: a damaged fast path is a mismatch.
pub fn check(rec: &DatapathRecord, mac: MacAddr) -> Result<(), CniError> {
    let mismatch = |m: String| CniError::new(ErrorCode::CheckMismatch, m);
    let cfg = uplink(&rec.uplink, &rec.pin_root, None);
    // A damaged fast path is a difference CHECK reports (102), not a failure.
    let dp = datapath::Datapath::open_existing(&cfg, false)
        .map_err(|e| match e {
            DatapathError::Damaged { .. } => mismatch(chain(&e)),
            e => CniError::from(e),
        })?
        .ok_or_else(|| mismatch(format!("no fast path on uplink {}", rec.uplink)))?;
    dp.verify_port(port(rec), mac.0).map_err(mismatch)
}

/// GC: drops ports whose host veth is gone (and the fast path when empty).
pub fn collect_garbage(conf: &NetConf) -> Result<(), CniError> {
    let (Some(fp), Some(master)) = (&conf.fastpath, &conf.master) else {
        return Ok(());
    };
    let dropped = datapath::collect_garbage(&uplink(master.as_ref(), &fp.pin_root, Some(fp)))?;
    if dropped > 0 {
        tracing::info!(dropped, "GC dropped orphaned fast-path ports");
    }
    Ok(())
}

/// STATUS: whether this kernel accepts the programs (nothing is attached).
pub fn status(conf: &NetConf) -> Result<(), CniError> {
    if conf.fastpath.is_none() {
        return Ok(());
    }
    datapath::probe().map_err(|e| {
        CniError::new(ErrorCode::NotAvailable, "this kernel cannot run the eBPF fast path")
            .with_details(chain(&e))
    })
}

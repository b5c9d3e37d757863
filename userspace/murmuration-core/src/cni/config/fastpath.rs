//! The fast-path keys of the network config: `fastpath`, `trunk`,
//! `bpfPinRoot`, `bpfAttachMode`, `uplinkXdp`, `ptpToHost`, `ptpPriority`, `ipSpoofchk` and
//! `bandwidth` (with `runtimeConfig.bandwidth`; the VLAN keys are sriov-cni's, in
//! [`super::LinkProps`]).

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

use super::bandwidth::{self, Bandwidth};
use super::{Mode, bad_msg};
use crate::cni::error::CniError;
use crate::cni::types::VlanId;

/// Where the fast path's maps, programs and links are pinned by default.
pub const DEFAULT_PIN_ROOT: &str = "/sys/fs/bpf/murmuration";

/// `bpfAttachMode`: how programs are attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttachMode {
    /// Keep whatever flavour is attached; new attachments prefer TCX and
    /// fall back to netlink clsact.
    #[default]
    Auto,
    Tcx,
    Netlink,
}

/// `uplinkXdp` in the network config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UplinkXdp {
    /// tc only (the default).
    #[default]
    Off,
    /// Native XDP when the uplink's driver has it and rx-vlan-offload is
    /// off; tc only otherwise.
    Auto,
    /// Native XDP or an error.
    Native,
    /// Generic (skb) XDP: works on any device, mostly for testing.
    Generic,
}

/// The fast-path keys as they appear in the config.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawFastPath {
    trunk: Option<Vec<Value>>,
    fastpath: Option<bool>,
    bpf_pin_root: Option<PathBuf>,
    bpf_attach_mode: Option<String>,
    uplink_xdp: Option<String>,
    ptp_to_host: Option<bool>,
    ptp_priority: Option<bool>,
    ip_spoofchk: Option<bool>,
    bandwidth: Option<Value>,
}

/// The eBPF fast path of a `veth` attachment (see `crate::datapath`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastPathConf {
    /// bpffs directory for the pins (`bpfPinRoot`).
    pub pin_root: PathBuf,
    /// `bpfAttachMode`: "auto" (TCX where available, else netlink clsact),
    /// "tcx" or "netlink".
    pub attach_mode: AttachMode,
    /// `trunk`: the VLANs a trunk attachment passes tagged (sorted, unique).
    pub trunk: Vec<u16>,
    /// `uplinkXdp`: "off" (default), "auto", "native" or "generic".
    pub uplink_xdp: UplinkXdp,
    /// `ptpToHost`: PTP from the uplink goes to the node's stack, not the pod.
    pub ptp_to_host: bool,
    /// `ptpPriority`: PTP the pod sends gets the PTP skb priority (7);
    /// without it a pod's UDP 319/320 is ordinary traffic.
    pub ptp_priority: bool,
    /// `ipSpoofchk`: the pod may send IP, ARP and ND only from the addresses
    /// IPAM gave it; no router advertisements or redirects.
    pub ip_spoofchk: bool,
    /// `runtimeConfig.bandwidth`, else `bandwidth`: the port's policers.
    pub bandwidth: Bandwidth,
}

pub(super) fn parse_fastpath(
    raw: &RawFastPath,
    runtime_bandwidth: Option<&Value>,
    mode: Mode,
    has_master: bool,
) -> Result<Option<FastPathConf>, CniError> {
    let enabled = mode == Mode::Veth && raw.fastpath.unwrap_or(has_master);
    let bandwidth = bandwidth::parse(runtime_bandwidth.or(raw.bandwidth.as_ref()))?;
    if !enabled {
        if bandwidth.is_limited() {
            return Err(bad_msg(
                "bandwidth needs the veth fast path (mode veth with \"master\"); \
                 chain the bandwidth plugin instead",
            ));
        }
        if raw.fastpath == Some(true) {
            return Err(bad_msg("fastpath needs mode veth"));
        }
        if raw.trunk.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(bad_msg("trunk needs the veth fast path (mode veth with \"master\")"));
        }
        return Ok(None);
    }
    let attach_mode = match raw.bpf_attach_mode.as_deref() {
        None | Some("") | Some("auto") => AttachMode::Auto,
        Some("tcx") => AttachMode::Tcx,
        Some("netlink") => AttachMode::Netlink,
        Some(m) => {
            return Err(bad_msg(format!("bpfAttachMode {m:?}: expected auto, tcx or netlink")));
        }
    };
    let uplink_xdp = match raw.uplink_xdp.as_deref() {
        None | Some("") | Some("off") => UplinkXdp::Off,
        Some("auto") => UplinkXdp::Auto,
        Some("native") => UplinkXdp::Native,
        Some("generic") => UplinkXdp::Generic,
        Some(m) => {
            return Err(bad_msg(format!("uplinkXdp {m:?}: expected off, auto, native or generic")));
        }
    };
    let trunk = raw.trunk.as_deref().map(parse_trunk).transpose()?.unwrap_or_default();
    Ok(Some(FastPathConf {
        pin_root: raw.bpf_pin_root.clone().unwrap_or_else(|| DEFAULT_PIN_ROOT.into()),
        attach_mode,
        trunk,
        uplink_xdp,
        ptp_to_host: raw.ptp_to_host.unwrap_or(false),
        ptp_priority: raw.ptp_priority.unwrap_or(false),
        ip_spoofchk: raw.ip_spoofchk.unwrap_or(false),
        bandwidth,
    }))
}

/// `trunk`: VLAN ids (numbers) and ranges (`"200-210"`), each 1-4094.
/// Every entry is validated first; the union of the ranges is expanded
/// once, so the result is at most 4094 ids whatever the input's size.
pub fn parse_trunk(items: &[Value]) -> Result<Vec<u16>, CniError> {
    let mut ranges = items.iter().map(trunk_range).collect::<Result<Vec<_>, _>>()?;
    ranges.sort_unstable();
    let mut out: Vec<u16> = Vec::new();
    for (a, b) in ranges {
        let from = out.last().map_or(a, |&last| a.max(last.saturating_add(1)));
        out.extend(from..=b);
    }
    Ok(out)
}

/// One `trunk` entry as an inclusive, validated range.
fn trunk_range(item: &Value) -> Result<(u16, u16), CniError> {
    let vid = |v: i64| -> Result<u16, CniError> {
        u16::try_from(v)
            .ok()
            .filter(|v| (1..=VlanId::MAX).contains(v))
            .ok_or_else(|| bad_msg(format!("trunk VLAN {v}: must be 1-4094")))
    };
    match item {
        Value::Number(n) => vid(n.as_i64().unwrap_or(-1)).map(|v| (v, v)),
        Value::String(s) => {
            let range = s.split_once('-').and_then(|(a, b)| {
                Some((a.trim().parse::<i64>().ok()?, b.trim().parse::<i64>().ok()?))
            });
            let single = s.trim().parse::<i64>().ok().map(|v| (v, v));
            let shown: String = s.chars().take(32).collect();
            let (a, b) = range.or(single).ok_or_else(|| {
                bad_msg(format!("trunk entry {shown:?}: expected a VLAN id or \"a-b\""))
            })?;
            let (a, b) = (vid(a)?, vid(b)?);
            if a > b {
                return Err(bad_msg(format!("trunk range {shown:?} is reversed")));
            }
            Ok((a, b))
        }
        _ => Err(bad_msg("trunk entry: expected a number or a string")),
    }
}

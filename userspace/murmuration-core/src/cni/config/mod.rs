//! The network configuration on stdin: parsed once, validated into typed fields.
//!
//! Key names follow the spec, Multus (`deviceID`, `pciBusID`) and sriov-cni
//! (`vlanQoS`, `link_state`, `min_tx_rate`, ...), so an existing
//! NetworkAttachmentDefinition works unchanged. Unknown keys are ignored: CNI
//! configs are shared between plugins in a chain and runtimes add their own.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

pub mod bandwidth;
pub mod fastpath;
pub mod ptplock;

use super::args::CniArgs;
use super::error::{CniError, ErrorCode};
use super::result::{CniResult, Dns};
/// `vlanProto` is parsed here; the type is the protocol's, in [`super::types`].
pub use super::types::VlanProto;
use super::types::{ContainerId, IfName, InvalidValue, MacAddr, PciAddress, VlanId, VlanQos};
use super::version::CniVersion;
pub use fastpath::FastPathConf;
use fastpath::{RawFastPath, parse_fastpath};
pub use ptplock::PtpLockConf;
use ptplock::{RawPtpLock, parse_ptp_lock};

pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/murmuration";
/// How long a delegated IPAM plugin may run before it is killed.
pub const DEFAULT_IPAM_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest `ipamTimeoutSeconds` / `lockTimeoutSeconds` accepted.
const MAX_TIMEOUT_SECONDS: f64 = 3600.0;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawConf {
    cni_version: String,
    name: Option<String>,
    mode: Option<String>,
    master: Option<String>,
    #[serde(rename = "deviceID")]
    device_id: Option<String>,
    #[serde(rename = "pciBusID")]
    pci_bus_id: Option<String>,
    vlan: Option<i64>,
    #[serde(rename = "vlanQoS")]
    vlan_qos: Option<i64>,
    vlan_proto: Option<String>,
    mac: Option<String>,
    spoofchk: Option<String>,
    trust: Option<String>,
    #[serde(rename = "link_state")]
    link_state: Option<String>,
    #[serde(rename = "min_tx_rate")]
    min_tx_rate: Option<u32>,
    #[serde(rename = "max_tx_rate")]
    max_tx_rate: Option<u32>,
    mtu: Option<u32>,
    #[serde(flatten)]
    fast: RawFastPath,
    #[serde(flatten)]
    ptp_lock: RawPtpLock,
    data_dir: Option<PathBuf>,
    log_level: Option<String>,
    log_file: Option<PathBuf>,
    ipam: Option<Map<String, Value>>,
    #[serde(default)]
    ipam_in_process: bool,
    ipam_timeout_seconds: Option<f64>,
    lock_timeout_seconds: Option<f64>,
    dns: Option<Dns>,
    #[serde(default)]
    runtime_config: RawRuntimeConfig,
    #[serde(default)]
    capabilities: BTreeMap<String, bool>,
    prev_result: Option<Value>,
    #[serde(rename = "cni.dev/valid-attachments")]
    valid_attachments: Option<Vec<GcAttachment>>,
    #[serde(rename = "cni.dev/attachments")]
    legacy_attachments: Option<Vec<GcAttachment>>,
}

#[derive(Debug, Default, Deserialize)]
struct RawRuntimeConfig {
    mac: Option<String>,
    #[serde(default)]
    ips: Vec<String>,
    #[serde(rename = "deviceID")]
    device_id: Option<String>,
    #[serde(rename = "CNIDeviceInfoFile")]
    device_info_file: Option<PathBuf>,
    bandwidth: Option<Value>,
}

/// One entry of GC's `cni.dev/valid-attachments`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GcAttachment {
    #[serde(rename = "containerID")]
    pub container_id: String,
    pub ifname: String,
}

/// How the pod gets its interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// An SR-IOV virtual function moved into the pod.
    Sriov,
    /// A kernel 802.1Q/802.1ad subinterface of `master` moved into the pod.
    Vlan,
    /// A veth pair whose host end the eBPF fast path serves.
    Veth,
}

impl Mode {
    /// The name as configured (`"mode": "sriov"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sriov => "sriov",
            Self::Vlan => "vlan",
            Self::Veth => "veth",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    Auto,
    Enable,
    Disable,
}

/// VLAN and VF properties, by sriov-cni's names. `None` = leave untouched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkProps {
    pub vlan: Option<VlanId>,
    pub qos: Option<VlanQos>,
    pub proto: Option<VlanProto>,
    pub spoofchk: Option<bool>,
    pub trust: Option<bool>,
    pub link_state: Option<LinkState>,
    pub min_tx_rate: Option<u32>,
    pub max_tx_rate: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeConfig {
    pub mac: Option<MacAddr>,
    pub ips: Vec<String>,
    pub device_info_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpamConf {
    /// The IPAM plugin's binary name, looked up on `CNI_PATH`.
    pub kind: String,
    /// `ipamInProcess`: serve this IPAM type inside the plugin instead of
    /// executing it (only `static`, which keeps no state).
    pub in_process: bool,
}

/// A validated network configuration.
#[derive(Debug, Clone)]
pub struct NetConf {
    pub version: CniVersion,
    pub name: String,
    pub mode: Mode,
    pub master: Option<IfName>,
    /// The VF's PCI address: top-level `deviceID`, `pciBusID` or `runtimeConfig.deviceID`.
    pub device: Option<PciAddress>,
    pub props: LinkProps,
    /// Set when `veth` mode uses the fast path (`fastpath`, default on with `master`).
    pub fastpath: Option<FastPathConf>,
    /// Set by `requirePtpLock`: ADD waits for a fresh LOCKED node.
    pub ptp_lock: Option<PtpLockConf>,
    pub mac: Option<MacAddr>,
    pub mtu: Option<u32>,
    pub data_dir: PathBuf,
    pub log_level: Option<String>,
    pub log_file: Option<PathBuf>,
    pub ipam: Option<IpamConf>,
    /// `ipamTimeoutSeconds`: a delegated IPAM call is killed after this long.
    pub ipam_timeout: Duration,
    /// `lockTimeoutSeconds`: the longest wait for any state lock (default:
    /// three IPAM timeouts, since a holder may be running an IPAM ADD and
    /// then its rollback's IPAM DEL).
    pub lock_timeout: Duration,
    pub dns: Dns,
    pub runtime: RuntimeConfig,
    pub capabilities: BTreeMap<String, bool>,
    pub prev_result: Option<CniResult>,
    /// GC's list of attachments to keep (`cni.dev/valid-attachments`, or the legacy key).
    pub valid_attachments: Vec<GcAttachment>,
    /// The exact bytes received, handed unchanged to delegated plugins.
    pub raw: Vec<u8>,
}

pub(super) fn bad(e: InvalidValue) -> CniError {
    CniError::new(ErrorCode::InvalidConfig, e.to_string())
}

pub(super) fn bad_msg(msg: impl Into<String>) -> CniError {
    CniError::new(ErrorCode::InvalidConfig, msg)
}

/// Reads only `cniVersion`, for VERSION and for error replies.
pub fn peek_version(stdin: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct V {
        #[serde(rename = "cniVersion")]
        v: String,
    }
    serde_json::from_slice::<V>(stdin).ok().map(|v| v.v)
}

impl NetConf {
    pub fn parse(stdin: &[u8]) -> Result<Self, CniError> {
        let raw: RawConf = serde_json::from_slice(stdin)?;
        let version = CniVersion::parse(&raw.cni_version)?;
        let name = raw.name.as_deref().ok_or_else(|| bad_msg("missing network \"name\""))?;
        ContainerId::parse(name).map_err(|e| bad_msg(format!("network name: {}", e.reason)))?;
        let device = parse_device(&raw)?;
        let mode = match raw.mode.as_deref() {
            None | Some("") if device.is_some() => Mode::Sriov,
            None | Some("") => Mode::Veth,
            Some(m) => serde_json::from_value(Value::String(m.to_owned()))
                .map_err(|_| bad_msg(format!("mode {m:?}: expected sriov, vlan or veth")))?,
        };
        let prev_result = raw.prev_result.as_ref().map(CniResult::from_value).transpose()?;
        let ipam_timeout = raw
            .ipam_timeout_seconds
            .map(|s| timeout("ipamTimeoutSeconds", s))
            .transpose()?
            .unwrap_or(DEFAULT_IPAM_TIMEOUT);
        let lock_timeout = raw
            .lock_timeout_seconds
            .map(|s| timeout("lockTimeoutSeconds", s))
            .transpose()?
            .unwrap_or(ipam_timeout * 3);
        Ok(Self {
            version,
            name: name.to_owned(),
            mode,
            master: raw.master.as_deref().map(IfName::parse).transpose().map_err(bad)?,
            device,
            props: parse_props(&raw)?,
            fastpath: parse_fastpath(
                &raw.fast,
                raw.runtime_config.bandwidth.as_ref(),
                mode,
                raw.master.is_some(),
            )?,
            ptp_lock: parse_ptp_lock(&raw.ptp_lock)?,
            mac: raw.mac.as_deref().filter(|m| !m.is_empty()).map(parse_unicast_mac).transpose()?,
            mtu: raw.mtu.map(validate_mtu).transpose()?,
            data_dir: raw.data_dir.clone().unwrap_or_else(|| DEFAULT_DATA_DIR.into()),
            log_level: raw.log_level.clone(),
            log_file: raw.log_file.clone(),
            ipam: raw.ipam.as_ref().map(|m| parse_ipam(m, raw.ipam_in_process)).transpose()?,
            ipam_timeout,
            lock_timeout,
            dns: raw.dns.clone().unwrap_or_default(),
            runtime: parse_runtime(&raw.runtime_config)?,
            capabilities: raw.capabilities.clone(),
            prev_result,
            valid_attachments: raw.valid_attachments.or(raw.legacy_attachments).unwrap_or_default(),
            raw: stdin.to_vec(),
        })
    }

    /// For DEL: a config with an invalid value must not block a teardown, so
    /// on a validation error (code 7) the config is reduced to the keys DEL
    /// can use and parsed again. Undecodable JSON (6) and an unsupported
    /// version (1) still fail. Returns the validation error that was set aside,
    /// for the caller to log once logging is set up.
    pub fn parse_for_del(stdin: &[u8]) -> Result<(Self, Option<CniError>), CniError> {
        let first = match Self::parse(stdin) {
            Err(e) if e.code == ErrorCode::InvalidConfig.as_u32() => e,
            other => return other.map(|c| (c, None)),
        };
        let Ok(Value::Object(full)) = serde_json::from_slice::<Value>(stdin) else {
            return Err(first);
        };
        const IDENTITY: [&str; 4] = ["cniVersion", "name", "type", "dataDir"];
        const BOUNDS: [&str; 2] = ["ipamTimeoutSeconds", "lockTimeoutSeconds"];
        let with_ipam: Vec<&str> =
            IDENTITY.iter().copied().chain(["ipam", "ipamInProcess"]).chain(BOUNDS).collect();
        let with_pins: Vec<&str> = with_ipam.iter().copied().chain(["bpfPinRoot"]).collect();
        for keys in [with_pins, with_ipam, IDENTITY.to_vec()] {
            let reduced: Map<String, Value> = full
                .iter()
                .filter(|(k, _)| keys.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let bytes = serde_json::to_vec(&Value::Object(reduced)).unwrap_or_default();
            if let Ok(mut conf) = Self::parse(&bytes) {
                conf.raw = stdin.to_vec();
                return Ok((conf, Some(first)));
            }
        }
        Err(first)
    }

    /// The MAC for the pod interface: `runtimeConfig.mac`, then `MAC=` in
    /// `CNI_ARGS`, then the config's `mac`.
    pub fn effective_mac(&self, args: &CniArgs) -> Option<MacAddr> {
        self.runtime.mac.or(args.mac).or(self.mac)
    }

    /// Checks what ADD needs beyond what every verb needs. DEL and GC
    /// must work from state alone, so they do not call this.
    pub fn validate_for_add(&self) -> Result<(), CniError> {
        match self.mode {
            Mode::Sriov if self.device.is_none() => {
                Err(bad_msg("mode sriov needs \"deviceID\" (or pciBusID / runtimeConfig.deviceID)"))
            }
            Mode::Vlan if self.master.is_none() => Err(bad_msg("mode vlan needs \"master\"")),
            Mode::Vlan if self.props.vlan.is_none_or(|v| v.get() == 0) => {
                Err(bad_msg("mode vlan needs \"vlan\" between 1 and 4094"))
            }
            Mode::Veth if self.fastpath.is_some() && self.master.is_none() => {
                Err(bad_msg("the veth fast path needs \"master\" (or set \"fastpath\": false)"))
            }
            Mode::Veth if self.fastpath.is_none() && self.props.vlan.is_some() => {
                Err(bad_msg("vlan in mode veth needs the fast path (\"master\")"))
            }
            _ => Ok(()),
        }
    }
}

fn parse_device(raw: &RawConf) -> Result<Option<PciAddress>, CniError> {
    // Every address given must be valid; the first non-empty one wins.
    let candidates = [&raw.runtime_config.device_id, &raw.device_id, &raw.pci_bus_id];
    let parsed: Vec<PciAddress> = candidates
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .map(|s| PciAddress::parse(s))
        .collect::<Result<_, _>>()
        .map_err(bad)?;
    Ok(parsed.into_iter().next())
}

/// A positive number of seconds, at most an hour.
pub(super) fn timeout(key: &str, secs: f64) -> Result<Duration, CniError> {
    if secs.is_finite() && secs > 0.0 && secs <= MAX_TIMEOUT_SECONDS {
        Ok(Duration::from_secs_f64(secs))
    } else {
        Err(bad_msg(format!("{key} {secs}: must be more than 0 and at most {MAX_TIMEOUT_SECONDS}")))
    }
}

fn parse_unicast_mac(s: &str) -> Result<MacAddr, CniError> {
    let mac = MacAddr::parse(s).map_err(bad)?;
    if mac.is_multicast() || mac.0 == [0; 6] {
        return Err(bad_msg(format!("mac {s}: must be a unicast address")));
    }
    Ok(mac)
}

fn validate_mtu(mtu: u32) -> Result<u32, CniError> {
    if !(68..=65535).contains(&mtu) {
        return Err(bad_msg(format!("mtu {mtu}: must be 68-65535")));
    }
    Ok(mtu)
}

fn parse_on_off(key: &str, v: &Option<String>) -> Result<Option<bool>, CniError> {
    match v.as_deref() {
        None | Some("") => Ok(None),
        Some("on") => Ok(Some(true)),
        Some("off") => Ok(Some(false)),
        Some(other) => Err(bad_msg(format!("{key} {other:?}: expected \"on\" or \"off\""))),
    }
}

fn parse_props(raw: &RawConf) -> Result<LinkProps, CniError> {
    let vlan = raw
        .vlan
        .map(|v| u16::try_from(v).map_err(|_| bad_msg(format!("vlan {v}: must be 0-4094"))))
        .transpose()?
        .map(VlanId::new)
        .transpose()
        .map_err(bad)?;
    let qos = raw
        .vlan_qos
        .map(|v| u8::try_from(v).map_err(|_| bad_msg(format!("vlanQoS {v}: must be 0-7"))))
        .transpose()?
        .map(VlanQos::new)
        .transpose()
        .map_err(bad)?;
    let proto = match raw.vlan_proto.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("") => None,
        Some("802.1q") => Some(VlanProto::Dot1Q),
        Some("802.1ad") => Some(VlanProto::Dot1Ad),
        Some(p) => {
            return Err(bad_msg(format!("vlanProto {p:?}: expected 802.1q or 802.1ad")));
        }
    };
    if vlan.is_none() && (qos.is_some() || proto.is_some()) {
        return Err(bad_msg("vlanQoS and vlanProto need \"vlan\""));
    }
    let link_state =
        match raw.link_state.as_deref() {
            None | Some("") => None,
            Some(s) => Some(serde_json::from_value(Value::String(s.to_owned())).map_err(|_| {
                bad_msg(format!("link_state {s:?}: expected auto, enable or disable"))
            })?),
        };
    if let (Some(min), Some(max)) = (raw.min_tx_rate, raw.max_tx_rate)
        && max != 0
        && min > max
    {
        return Err(bad_msg(format!("min_tx_rate {min} exceeds max_tx_rate {max}")));
    }
    Ok(LinkProps {
        vlan,
        qos,
        proto,
        spoofchk: parse_on_off("spoofchk", &raw.spoofchk)?,
        trust: parse_on_off("trust", &raw.trust)?,
        link_state,
        min_tx_rate: raw.min_tx_rate,
        max_tx_rate: raw.max_tx_rate,
    })
}

fn parse_ipam(m: &Map<String, Value>, in_process: bool) -> Result<IpamConf, CniError> {
    let kind = m.get("type").and_then(Value::as_str).unwrap_or_default();
    if kind.is_empty() {
        return Err(bad_msg("ipam needs a \"type\""));
    }
    if kind.contains('/') || kind == "." || kind == ".." {
        return Err(bad_msg(format!("ipam type {kind:?} must be a plain binary name")));
    }
    if in_process && kind != "static" {
        return Err(bad_msg(format!("ipamInProcess supports ipam type \"static\", not {kind:?}")));
    }
    Ok(IpamConf { kind: kind.to_owned(), in_process })
}

fn parse_runtime(rc: &RawRuntimeConfig) -> Result<RuntimeConfig, CniError> {
    Ok(RuntimeConfig {
        mac: rc.mac.as_deref().filter(|m| !m.is_empty()).map(parse_unicast_mac).transpose()?,
        ips: rc.ips.clone(),
        device_info_file: rc.device_info_file.clone(),
    })
}

#[cfg(test)]
mod tests;

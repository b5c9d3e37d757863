//! The CNI Result, held in its 1.1.0 shape and converted to the caller's version.
//!
//! Parsing accepts every supported version (IPAM plugins and `prevResult` may
//! be older); rendering drops fields the target version does not know and adds
//! the per-IP `"version"` that 0.3.x/0.4.0 require.

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use super::error::{CniError, ErrorCode};
use super::types::MacAddr;
use super::version::CniVersion;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniResult {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    #[serde(default, skip_serializing_if = "Dns::is_empty")]
    pub dns: Dns,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Interface {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    /// 1.1.0 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    /// 1.1.0 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_path: Option<String>,
    /// 1.1.0 only.
    #[serde(default, rename = "pciID", skip_serializing_if = "Option::is_none")]
    pub pci_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpConfig {
    /// Only in 0.3.x/0.4.0 results: `"4"` or `"6"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub address: IpNetwork,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// Index into `interfaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub dst: IpNetwork,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
    /// 1.1.0 only, as are the fields below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advmss: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<u8>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dns {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl Dns {
    pub fn is_empty(&self) -> bool {
        self.nameservers.is_empty()
            && self.domain.is_empty()
            && self.search.is_empty()
            && self.options.is_empty()
    }
}

impl CniResult {
    /// Parses a result of any supported version (the `cniVersion` key is ignored).
    pub fn from_value(v: &serde_json::Value) -> Result<Self, CniError> {
        let mut r: CniResult = serde_json::from_value(v.clone()).map_err(|e| {
            CniError::new(ErrorCode::Decode, "cannot decode CNI result").with_details(e.to_string())
        })?;
        for ip in &mut r.ips {
            ip.version = None;
        }
        Ok(r)
    }

    /// Renders the result for a caller speaking `version`.
    pub fn to_value(&self, version: CniVersion) -> serde_json::Value {
        let mut r = self.clone();
        r.downgrade(version);
        let mut v = serde_json::to_value(&r).unwrap_or_default();
        if let Some(obj) = v.as_object_mut() {
            obj.insert("cniVersion".into(), version.as_str().into());
        }
        v
    }

    fn downgrade(&mut self, version: CniVersion) {
        if !version.is_1_1() {
            for i in &mut self.interfaces {
                (i.mtu, i.socket_path, i.pci_id) = (None, None, None);
            }
            for r in &mut self.routes {
                (r.mtu, r.advmss, r.priority, r.table, r.scope) = (None, None, None, None, None);
            }
        }
        for ip in &mut self.ips {
            ip.version = version
                .ips_carry_version()
                .then(|| if ip.address.is_ipv4() { "4" } else { "6" }.to_owned());
        }
    }

    /// Appends `other`'s interfaces, IPs and routes, shifting its interface indices.
    pub fn append(&mut self, other: CniResult) {
        let offset = self.interfaces.len();
        self.interfaces.extend(other.interfaces);
        self.ips.extend(other.ips.into_iter().map(|mut ip| {
            ip.interface = ip.interface.map(|i| i + offset);
            ip
        }));
        self.routes.extend(other.routes);
        if self.dns.is_empty() {
            self.dns = other.dns;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sample() -> CniResult {
        CniResult::from_value(&json!({
            "cniVersion": "1.1.0",
            "interfaces": [{"name": "net1", "mac": "02:00:00:00:00:01", "mtu": 1400,
                            "sandbox": "/var/run/netns/p"}],
            "ips": [{"address": "10.1.0.5/24", "gateway": "10.1.0.1", "interface": 0},
                    {"address": "fd00::5/64", "interface": 0}],
            "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1", "mtu": 1300, "table": 100}],
            "dns": {"nameservers": ["10.1.0.53"]}
        }))
        .expect("valid result")
    }

    #[test]
    fn renders_1_1_fields_only_for_1_1() {
        let r = sample();
        let v11 = r.to_value(CniVersion::V1_1_0);
        assert_eq!(v11["routes"][0]["mtu"], 1300);
        assert_eq!(v11["interfaces"][0]["mtu"], 1400);
        assert!(v11["ips"][0].get("version").is_none());
        let v10 = r.to_value(CniVersion::V1_0_0);
        assert_eq!(v10["cniVersion"], "1.0.0");
        assert!(v10["routes"][0].get("mtu").is_none());
        assert!(v10["routes"][0].get("table").is_none());
        assert!(v10["interfaces"][0].get("mtu").is_none());
    }

    #[test]
    fn old_versions_carry_ip_version() {
        let v = sample().to_value(CniVersion::V0_4_0);
        assert_eq!(v["ips"][0]["version"], "4");
        assert_eq!(v["ips"][1]["version"], "6");
        assert_eq!(v["ips"][0]["interface"], 0);
    }

    #[test]
    fn parses_old_results() {
        let r = CniResult::from_value(&json!({
            "cniVersion": "0.4.0",
            "ips": [{"version": "4", "address": "10.1.0.5/24", "gateway": "10.1.0.1"}]
        }))
        .expect("0.4.0 result");
        assert_eq!(r.ips[0].version, None);
        assert_eq!(r.to_value(CniVersion::V1_1_0)["ips"][0]["address"], "10.1.0.5/24");
    }

    #[test]
    fn append_shifts_interface_indices() {
        let mut a = sample();
        a.append(sample());
        assert_eq!(a.interfaces.len(), 2);
        assert_eq!(a.ips[2].interface, Some(1));
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(CniResult::from_value(&json!({"ips": [{"address": "x"}]})).unwrap_err().code, 6);
    }
}

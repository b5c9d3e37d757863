//! `CNI_ARGS`: `K=V;K=V`, parsed leniently as Multus and podman send it.
//!
//! Keys may repeat (Multus duplicates them); the last one wins. Unknown keys
//! are ignored whether or not `IgnoreUnknown` is set, because every real
//! caller adds keys of its own. A segment without `=` is an error (code 4).

use std::collections::BTreeMap;

use super::error::{CniError, ErrorCode};
use super::types::MacAddr;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CniArgs {
    /// Every key and its last value, for logging and state.
    pub all: BTreeMap<String, String>,
    pub pod_namespace: Option<String>,
    pub pod_name: Option<String>,
    pub pod_uid: Option<String>,
    pub infra_container_id: Option<String>,
    /// `MAC=`: the MAC the caller wants on the pod interface.
    pub mac: Option<MacAddr>,
    /// `IP=`: comma-separated addresses for IPAM plugins that read them.
    pub ips: Vec<String>,
}

impl CniArgs {
    pub fn parse(raw: &str) -> Result<Self, CniError> {
        let mut all = BTreeMap::new();
        for pair in raw.split(';').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                CniError::new(ErrorCode::InvalidEnv, format!("CNI_ARGS: {pair:?} is not K=V"))
            })?;
            if k.is_empty() {
                return Err(CniError::new(ErrorCode::InvalidEnv, "CNI_ARGS: empty key"));
            }
            all.insert(k.to_owned(), v.to_owned());
        }
        let mac = all.get("MAC").filter(|v| !v.is_empty()).map(|m| parse_mac(m)).transpose()?;
        let get = |k: &str| all.get(k).filter(|v| !v.is_empty()).cloned();
        Ok(Self {
            pod_namespace: get("K8S_POD_NAMESPACE"),
            pod_name: get("K8S_POD_NAME"),
            pod_uid: get("K8S_POD_UID"),
            infra_container_id: get("K8S_POD_INFRA_CONTAINER_ID"),
            mac,
            ips: get("IP").map(|v| v.split(',').map(str::to_owned).collect()).unwrap_or_default(),
            all,
        })
    }
}

impl CniArgs {
    /// Like [`CniArgs::parse`], but drops what it cannot parse (for DEL).
    /// An empty `MAC=` is kept: it unsets an earlier one, as in the strict parse.
    pub fn parse_lenient(raw: &str) -> Self {
        let kept: Vec<&str> = raw
            .split(';')
            .filter(|p| {
                p.split_once('=').is_some_and(|(k, v)| {
                    !k.is_empty() && (k != "MAC" || v.is_empty() || parse_mac(v).is_ok())
                })
            })
            .collect();
        Self::parse(&kept.join(";")).unwrap_or_default()
    }
}

/// `MAC=` must be a unicast, non-zero address, like the config's `mac`.
fn parse_mac(m: &str) -> Result<MacAddr, CniError> {
    let env_err = |msg: String| CniError::new(ErrorCode::InvalidEnv, format!("CNI_ARGS: {msg}"));
    let mac = MacAddr::parse(m).map_err(|e| env_err(e.to_string()))?;
    if mac.is_multicast() || mac.0 == [0; 6] {
        return Err(env_err(format!("MAC {m} must be a unicast address")));
    }
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn multus_duplicates_last_wins() {
        let a = CniArgs::parse(
            "IgnoreUnknown=true;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=p;K8S_POD_INFRA_CONTAINER_ID=id;\
             K8S_POD_UID=u;IgnoreUnknown=1;K8S_POD_NAMESPACE=ns2;MAC=02:00:00:00:00:09;IP=10.0.0.2/24",
        )
        .expect("valid");
        assert_eq!(a.pod_namespace.as_deref(), Some("ns2"));
        assert_eq!(a.pod_name.as_deref(), Some("p"));
        assert_eq!(a.all["IgnoreUnknown"], "1");
        assert_eq!(a.mac.map(|m| m.to_string()).as_deref(), Some("02:00:00:00:00:09"));
        assert_eq!(a.ips, vec!["10.0.0.2/24".to_owned()]);
    }

    #[test]
    fn lenient_parse_drops_only_the_bad_parts() {
        let a = CniArgs::parse_lenient("garbage;K8S_POD_NAME=p;MAC=zz;=x;IP=10.0.0.2/24");
        assert_eq!(a.pod_name.as_deref(), Some("p"));
        assert_eq!(a.mac, None);
        assert_eq!(a.ips, ["10.0.0.2/24"]);
    }

    #[test]
    fn lenient_parse_reads_what_the_strict_one_accepts_the_same() {
        // The last MAC wins in both, also when it is empty (no MAC).
        for raw in ["MAC=02:00:00:00:00:09;MAC=", "MAC=zz;MAC=02:00:00:00:00:09", "MAC="] {
            let strict = CniArgs::parse(raw).expect("valid");
            assert_eq!(CniArgs::parse_lenient(raw).mac, strict.mac, "{raw}");
        }
    }

    #[test]
    fn empty_and_trailing_separators() {
        assert_eq!(CniArgs::parse("").expect("empty"), CniArgs::default());
        assert!(CniArgs::parse("A=1;;B=2;").is_ok());
    }

    #[test]
    fn bad_pairs_are_invalid_env() {
        assert_eq!(CniArgs::parse("novalue").unwrap_err().code, 4);
        assert_eq!(CniArgs::parse("=x").unwrap_err().code, 4);
        assert_eq!(CniArgs::parse("MAC=zz").unwrap_err().code, 4);
        assert_eq!(CniArgs::parse("MAC=01:00:5e:00:00:01").unwrap_err().code, 4);
        assert_eq!(CniArgs::parse("MAC=00:00:00:00:00:00").unwrap_err().code, 4);
    }

    proptest! {
        #[test]
        fn never_panics(s in ".*") {
            let _ = CniArgs::parse(&s);
        }

        #[test]
        fn well_formed_pairs_last_wins(
            // Keys never start with 'M', so no generated key is the validated `MAC`.
            pairs in proptest::collection::vec(("[A-LN-Z_][A-Za-z0-9_]{0,12}", "[^;=]{0,12}"), 0..8)
        ) {
            let raw = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(";");
            let expected: BTreeMap<String, String> = pairs.into_iter().collect();
            prop_assert_eq!(CniArgs::parse(&raw).expect("well-formed").all, expected);
        }
    }
}

//! CNI spec versions this plugin speaks, and what each allows.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::{CniError, ErrorCode};

/// A spec version we support. Ordered oldest to newest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CniVersion {
    V0_3_0,
    V0_3_1,
    V0_4_0,
    V1_0_0,
    V1_1_0,
}

impl CniVersion {
    pub const ALL: [CniVersion; 5] =
        [Self::V0_3_0, Self::V0_3_1, Self::V0_4_0, Self::V1_0_0, Self::V1_1_0];
    pub const LATEST: CniVersion = Self::V1_1_0;

    pub fn as_str(self) -> &'static str {
        match self {
            Self::V0_3_0 => "0.3.0",
            Self::V0_3_1 => "0.3.1",
            Self::V0_4_0 => "0.4.0",
            Self::V1_0_0 => "1.0.0",
            Self::V1_1_0 => "1.1.0",
        }
    }

    pub fn parse(s: &str) -> Result<Self, CniError> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| {
            CniError::new(ErrorCode::IncompatibleVersion, format!("unsupported cniVersion {s:?}"))
                .with_details(format!("supported: {}", supported_list()))
        })
    }

    /// Results of 0.3.x/0.4.0 carry `"version"` on each IP; 1.x dropped it.
    pub fn ips_carry_version(self) -> bool {
        self < Self::V1_0_0
    }

    /// CHECK exists from 0.4.0 on.
    pub fn has_check(self) -> bool {
        self >= Self::V0_4_0
    }

    /// STATUS and GC exist from 1.1.0 on, as do route `mtu`/`table`/... fields.
    pub fn is_1_1(self) -> bool {
        self >= Self::V1_1_0
    }
}

fn supported_list() -> String {
    CniVersion::ALL.map(CniVersion::as_str).join(", ")
}

impl fmt::Display for CniVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CniVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CniVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(|e| serde::de::Error::custom(e.msg))
    }
}

/// The VERSION verb's answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct VersionInfo {
    #[serde(rename = "cniVersion")]
    pub cni_version: String,
    #[serde(rename = "supportedVersions")]
    pub supported_versions: Vec<String>,
}

impl VersionInfo {
    pub fn ours(reply_version: &str) -> Self {
        Self {
            cni_version: reply_version.to_owned(),
            supported_versions: CniVersion::ALL.map(|v| v.as_str().to_owned()).to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_and_rejects_unknown() {
        assert_eq!(CniVersion::parse("1.1.0").expect("known"), CniVersion::V1_1_0);
        assert_eq!(CniVersion::parse("0.3.1").expect("known"), CniVersion::V0_3_1);
        let e = CniVersion::parse("0.2.0").expect_err("unknown");
        assert_eq!(e.code, 1);
        assert!(CniVersion::parse("2.0.0").is_err());
    }

    #[test]
    fn ordering_gates_features() {
        assert!(!CniVersion::V0_3_1.has_check());
        assert!(CniVersion::V0_4_0.has_check());
        assert!(CniVersion::V0_4_0.ips_carry_version());
        assert!(!CniVersion::V1_0_0.ips_carry_version());
        assert!(!CniVersion::V1_0_0.is_1_1());
    }
}

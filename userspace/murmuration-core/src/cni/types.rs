//! Validated newtypes for the values a CNI caller hands us.
//!
//! Each type can only be built through its parser, so code holding one never
//! re-checks it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a value was rejected. The caller decides the CNI error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: {reason}")]
pub struct InvalidValue {
    pub what: &'static str,
    pub value: String,
    pub reason: &'static str,
}

fn invalid(what: &'static str, value: &str, reason: &'static str) -> InvalidValue {
    // Messages quote at most 64 characters of what they refuse.
    let value = match value.char_indices().nth(64) {
        Some((cut, _)) => format!("{}...", &value[..cut]),
        None => value.to_owned(),
    };
    InvalidValue { what, value, reason }
}

/// Implements `Display`, `FromStr` and string serde for a newtype over `String`.
macro_rules! string_newtype {
    ($ty:ident) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl FromStr for $ty {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, InvalidValue> {
                Self::parse(s)
            }
        }
        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// `CNI_CONTAINERID`: starts with an alphanumeric, then alphanumerics, `_`,
/// `.`, `-`; at most [`ContainerId::MAX_LEN`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerId(String);

impl ContainerId {
    /// Runtimes use 64 hex digits; the bound keeps every state file name
    /// (`<id>@<ifname>.json`, `.lock`) far below NAME_MAX.
    pub const MAX_LEN: usize = 128;

    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        if s.len() > Self::MAX_LEN {
            return Err(invalid("container ID", s, "longer than 128 bytes"));
        }
        let mut chars = s.chars();
        match chars.next() {
            None => return Err(invalid("container ID", s, "empty")),
            Some(c) if !c.is_ascii_alphanumeric() => {
                return Err(invalid("container ID", s, "must start with a letter or digit"));
            }
            Some(_) => {}
        }
        if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
            return Err(invalid("container ID", s, "only letters, digits, '_', '.' and '-'"));
        }
        Ok(Self(s.to_owned()))
    }
}
string_newtype!(ContainerId);

/// A Linux interface name: 1-15 bytes, no `/`, `:` or whitespace, not `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfName(String);

impl IfName {
    /// Longest name the kernel accepts (IFNAMSIZ - 1).
    pub const MAX_LEN: usize = 15;

    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        if s.is_empty() {
            return Err(invalid("interface name", s, "empty"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(invalid("interface name", s, "longer than 15 bytes"));
        }
        if s == "." || s == ".." {
            return Err(invalid("interface name", s, "'.' and '..' are reserved"));
        }
        if s.chars().any(|c| c == '/' || c == ':' || c.is_whitespace() || c == '\0') {
            return Err(invalid("interface name", s, "contains '/', ':' or whitespace"));
        }
        Ok(Self(s.to_owned()))
    }
}
string_newtype!(IfName);

/// An 802.1Q VLAN ID, 0-4094 (0 means untagged / priority-only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct VlanId(u16);

impl VlanId {
    pub const MAX: u16 = 4094;

    pub fn new(v: u16) -> Result<Self, InvalidValue> {
        if v > Self::MAX {
            return Err(invalid("vlan", &v.to_string(), "must be 0-4094"));
        }
        Ok(Self(v))
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

/// The VLAN protocol (`vlanProto`): 802.1Q or 802.1ad (QinQ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum VlanProto {
    #[serde(rename = "802.1q")]
    Dot1Q,
    #[serde(rename = "802.1ad")]
    Dot1Ad,
}

/// An 802.1p priority (PCP), 0-7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct VlanQos(u8);

impl VlanQos {
    pub fn new(v: u8) -> Result<Self, InvalidValue> {
        if v > 7 {
            return Err(invalid("vlanQoS", &v.to_string(), "must be 0-7"));
        }
        Ok(Self(v))
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// A unicast-or-not Ethernet address, written `aa:bb:cc:dd:ee:ff`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in &mut out {
            let part = parts.next().ok_or_else(|| invalid("MAC", s, "needs six octets"))?;
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid("MAC", s, "each octet is two hex digits"));
            }
            *byte = u8::from_str_radix(part, 16)
                .map_err(|_| invalid("MAC", s, "octets must be hexadecimal"))?;
        }
        if parts.next().is_some() {
            return Err(invalid("MAC", s, "needs six octets"));
        }
        Ok(Self(out))
    }

    /// A pod interface must not get a multicast (group) address.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    pub fn from_slice(b: &[u8]) -> Option<Self> {
        <[u8; 6]>::try_from(b).ok().map(Self)
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for MacAddr {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, InvalidValue> {
        Self::parse(s)
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A PCI address in the kernel's sysfs form, `dddd:bb:dd.f` (domain optional on input).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PciAddress(String);

impl PciAddress {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let full = match s.matches(':').count() {
            1 => format!("0000:{s}"),
            2 => s.to_owned(),
            _ => return Err(invalid("PCI address", s, "expected dddd:bb:dd.f")),
        };
        let bad = || invalid("PCI address", s, "expected dddd:bb:dd.f");
        let (rest, func) = full.rsplit_once('.').ok_or_else(bad)?;
        let mut fields = rest.split(':');
        let widths = [4usize, 2, 2];
        let maxima = [0xffffu32, 0xff, 0x1f];
        for (width, max) in widths.into_iter().zip(maxima) {
            let f = fields.next().ok_or_else(bad)?;
            let v = u32::from_str_radix(f, 16).map_err(|_| bad())?;
            if f.len() != width || v > max || !f.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
        }
        if func.len() != 1 || !matches!(func.as_bytes()[0], b'0'..=b'7') {
            return Err(invalid("PCI address", s, "function must be 0-7"));
        }
        Ok(Self(full.to_ascii_lowercase()))
    }
}
string_newtype!(PciAddress);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids() {
        assert!(ContainerId::parse("abc-1.2_3").is_ok());
        for bad in ["", "-abc", "_x", "a/b", "a b", "ä"] {
            assert!(ContainerId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn interface_names() {
        assert!(IfName::parse("net1").is_ok());
        assert!(IfName::parse("a23456789012345").is_ok());
        for bad in ["", ".", "..", "a234567890123456", "a/b", "a:b", "a b", "a\tb"] {
            assert!(IfName::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn vlan_and_qos_ranges() {
        assert!(VlanId::new(0).is_ok());
        assert!(VlanId::new(4094).is_ok());
        assert!(VlanId::new(4095).is_err());
        assert!(VlanQos::new(7).is_ok());
        assert!(VlanQos::new(8).is_err());
    }

    #[test]
    fn macs_round_trip() {
        let m = MacAddr::parse("02:AB:cd:00:11:ff").expect("valid");
        assert_eq!(m.to_string(), "02:ab:cd:00:11:ff");
        assert!(!m.is_multicast());
        assert!(MacAddr::parse("01:00:5e:00:00:01").expect("valid").is_multicast());
        for bad in [
            "",
            "02:ab:cd:00:11",
            "02:ab:cd:00:11:ff:00",
            "0g:00:00:00:00:00",
            "2:0:0:0:0:0",
            "+2:00:00:00:00:01",
        ] {
            assert!(MacAddr::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn pci_addresses() {
        assert_eq!(PciAddress::parse("0000:03:00.1").expect("valid").as_ref(), "0000:03:00.1");
        assert_eq!(PciAddress::parse("03:10.7").expect("valid").as_ref(), "0000:03:10.7");
        for bad in
            ["", "03:00", "0000:03:00.8", "0000:03:20.0", "000:03:00.0", "zz:00.0", "0000:+3:00.1"]
        {
            assert!(PciAddress::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}

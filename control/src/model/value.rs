//! Values that are text or numbers on the outside and typed inside: a VLAN
//! id is an integer in TOML and JSON, a MAC the string
//! `aa:bb:cc:dd:ee:ff`, a VLAN list the range string `10,20,100-199`.
//! Each wraps the engine's type, parses (and range-checks) once when it is
//! deserialized or read from the command line, and writes back the same
//! text, so a saved file reads back identically.
//!
//! The engine has no serde (its crate edge is hard), hence the wrappers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use vswitch_dataplane::{Mac, VlanId, VlanSet};

/// A VLAN id, 1..=4094; an integer outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u16")]
pub struct Vlan(pub VlanId);

impl Vlan {
    /// The engine's VLAN id.
    pub fn id(self) -> VlanId {
        self.0
    }
}

impl TryFrom<i64> for Vlan {
    type Error = String;
    fn try_from(v: i64) -> Result<Vlan, String> {
        VlanId::try_from(v).map(Vlan).map_err(|e| e.to_string())
    }
}

impl From<Vlan> for u16 {
    fn from(v: Vlan) -> u16 {
        v.0.get()
    }
}

impl From<VlanId> for Vlan {
    fn from(v: VlanId) -> Vlan {
        Vlan(v)
    }
}

impl FromStr for Vlan {
    type Err = String;
    fn from_str(s: &str) -> Result<Vlan, String> {
        let n: i64 = s
            .trim()
            .parse()
            .map_err(|_| format!("invalid VLAN {s:?}: expected a number 1-4094"))?;
        Vlan::try_from(n)
    }
}

impl fmt::Display for Vlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A MAC address; the string `aa:bb:cc:dd:ee:ff` outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MacAddr(pub Mac);

impl MacAddr {
    /// The engine's MAC.
    pub fn mac(self) -> Mac {
        self.0
    }
}

impl TryFrom<String> for MacAddr {
    type Error = String;
    fn try_from(s: String) -> Result<MacAddr, String> {
        s.parse()
    }
}

impl From<MacAddr> for String {
    fn from(m: MacAddr) -> String {
        m.0.to_string()
    }
}

impl From<Mac> for MacAddr {
    fn from(m: Mac) -> MacAddr {
        MacAddr(m)
    }
}

impl FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<MacAddr, String> {
        s.parse::<Mac>().map(MacAddr).map_err(|e| e.to_string())
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A set of VLANs; the range string `10,20,100-199` outside (written back
/// in canonical form: ascending, runs merged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VlanList(pub VlanSet);

impl VlanList {
    /// The engine's VLAN set.
    pub fn set(&self) -> &VlanSet {
        &self.0
    }
}

impl TryFrom<String> for VlanList {
    type Error = String;
    fn try_from(s: String) -> Result<VlanList, String> {
        s.parse()
    }
}

impl From<VlanList> for String {
    fn from(l: VlanList) -> String {
        l.0.to_string()
    }
}

impl FromStr for VlanList {
    type Err = String;
    fn from_str(s: &str) -> Result<VlanList, String> {
        s.parse::<VlanSet>()
            .map(VlanList)
            .map_err(|e| e.to_string())
    }
}

impl fmt::Display for VlanList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A port's MTU: the largest payload behind the Ethernet header (and its
/// 802.1Q tag), [`Mtu::MIN`]..=[`Mtu::MAX`]; an integer outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u32")]
pub struct Mtu(u32);

impl Mtu {
    /// Smallest MTU: IPv4's minimum (RFC 791), also the kernel's
    /// `ETH_MIN_MTU`; below it no IP host works.
    pub const MIN: u32 = 68;
    /// Largest MTU: the usual jumbo limit of hardware switches (9216).
    pub const MAX: u32 = 9216;

    /// The value in bytes.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<i64> for Mtu {
    type Error = String;
    fn try_from(v: i64) -> Result<Mtu, String> {
        u32::try_from(v)
            .ok()
            .filter(|m| (Mtu::MIN..=Mtu::MAX).contains(m))
            .map(Mtu)
            .ok_or_else(|| {
                format!(
                    "MTU {v} is out of range ({}-{} bytes of payload)",
                    Mtu::MIN,
                    Mtu::MAX
                )
            })
    }
}

impl From<Mtu> for u32 {
    fn from(m: Mtu) -> u32 {
        m.0
    }
}

impl FromStr for Mtu {
    type Err = String;
    fn from_str(s: &str) -> Result<Mtu, String> {
        let n: i64 = s.trim().parse().map_err(|_| {
            format!(
                "invalid MTU {s:?}: expected a number {}-{}",
                Mtu::MIN,
                Mtu::MAX
            )
        })?;
        Mtu::try_from(n)
    }
}

impl fmt::Display for Mtu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A change to a setting that may be unset: `Set(value)` or `Clear`.
/// JSON: the value, or `null`; command line: the value, or `none`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<T> {
    /// Give the setting this value.
    Set(T),
    /// Unset it (back to its default).
    Clear,
}

impl<T> Change<T> {
    /// The setting's new value: `None` for `Clear`.
    pub fn into_option(self) -> Option<T> {
        match self {
            Change::Set(v) => Some(v),
            Change::Clear => None,
        }
    }
}

impl<T: Serialize> Serialize for Change<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Change::Set(v) => v.serialize(s),
            Change::Clear => s.serialize_none(),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Change<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Change<T>, D::Error> {
        Option::<T>::deserialize(d).map(|v| v.map_or(Change::Clear, Change::Set))
    }
}

impl<T: FromStr<Err = String>> FromStr for Change<T> {
    type Err = String;
    fn from_str(s: &str) -> Result<Change<T>, String> {
        if s.eq_ignore_ascii_case("none") {
            Ok(Change::Clear)
        } else {
            s.parse().map(Change::Set)
        }
    }
}

/// For `Option<Change<T>>` fields: a present key (even `null`) is
/// `Some`, an absent one (with `#[serde(default)]`) is `None`.
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Change<T>>, D::Error> {
    Change::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_and_write_the_same_text() {
        let v: Vlan = serde_json::from_str("10").unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), "10");
        let e = serde_json::from_str::<Vlan>("0").unwrap_err().to_string();
        assert!(e.contains("VLAN 0 is out of range"), "{e}");
        let e = serde_json::from_str::<Vlan>("\"ten\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid type"), "{e}");
        let m: MacAddr = serde_json::from_str("\"02:00:00:00:00:0A\"").unwrap();
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"02:00:00:00:00:0a\"");
        assert!(serde_json::from_str::<MacAddr>("\"xx\"")
            .unwrap_err()
            .to_string()
            .contains("invalid MAC"));
        let l: VlanList = serde_json::from_str("\"10,20,100-199\"").unwrap();
        assert_eq!(serde_json::to_string(&l).unwrap(), "\"10,20,100-199\"");
        assert!(serde_json::from_str::<VlanList>("\"10-5\"")
            .unwrap_err()
            .to_string()
            .contains("range runs backwards"));
    }

    #[test]
    fn mtus_are_checked_once() {
        let m: Mtu = serde_json::from_str("9000").unwrap();
        assert_eq!(
            (m.get(), serde_json::to_string(&m).unwrap()),
            (9000, "9000".into())
        );
        for bad in ["67", "9217", "-1"] {
            let e = serde_json::from_str::<Mtu>(bad).unwrap_err().to_string();
            assert!(e.contains("out of range (68-9216"), "{bad}: {e}");
        }
        assert_eq!("68".parse::<Mtu>().map(Mtu::get), Ok(68));
        assert!("jumbo".parse::<Mtu>().unwrap_err().contains("invalid MTU"));
        assert_eq!("none".parse::<Change<Mtu>>(), Ok(Change::Clear));
    }

    #[test]
    fn changes_tell_null_from_a_value() {
        assert_eq!("none".parse::<Change<Vlan>>(), Ok(Change::Clear));
        assert_eq!(
            "20".parse::<Change<Vlan>>(),
            Ok(Change::Set(Vlan(VlanId::new(20).unwrap())))
        );
        assert!("4095".parse::<Change<Vlan>>().unwrap_err().contains("4095"));
        let c: Change<Vlan> = serde_json::from_str("null").unwrap();
        assert_eq!(c, Change::Clear);
        assert_eq!(serde_json::to_string(&c).unwrap(), "null");
    }
}

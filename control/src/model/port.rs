//! A port's settings: the `[[port]]` table of the file, the params of
//! `port.add`, what the controller keeps for a running port and what
//! `port.list` / `port.show` answer. [`PortPatch`] is `port.set`: every
//! field optional, and the ones that may be unset take `null` (`none` on
//! the command line). vswitchctl's port flags are derived from it too.

use serde::{Deserialize, Serialize};
use vswitch_dataplane::{PortConfig, VlanMode, VlanSet};

use super::value::{present, Change, Vlan, VlanList};

/// `vlan_mode`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum VlanModeName {
    /// Untagged in one VLAN.
    #[default]
    Access,
    /// Tagged VLANs plus an optional native one.
    Trunk,
    /// Every VLAN tagged (ESXi VGT).
    Guest,
}

impl std::fmt::Display for VlanModeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VlanModeName::Access => "access",
            VlanModeName::Trunk => "trunk",
            VlanModeName::Guest => "guest",
        })
    }
}

/// One port's settings (`[[port]]`). Field names are the TOML keys, the
/// JSON keys and, with `-`, vswitchctl's flags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortSettings {
    /// Switch-side name used by vswitchctl.
    pub name: String,
    /// Kernel interface.
    pub iface: String,
    /// access | trunk | guest
    #[serde(default)]
    pub vlan_mode: VlanModeName,
    /// Access VLAN, or the trunk/guest native VLAN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<Vlan>,
    /// Trunk only: allowed VLANs (default 1-4094).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trunk_vlans: Option<VlanList>,
    /// Receive a copy of everything forwarded in its VLANs.
    #[serde(default)]
    pub promiscuous: bool,
    /// Learn source MACs.
    #[serde(default = "yes")]
    pub learning: bool,
    /// Receive unknown-unicast floods.
    #[serde(default = "yes")]
    pub flood_unknown_unicast: bool,
}

fn yes() -> bool {
    true
}

/// A setting that cannot hold with the others: which key, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    /// The key, e.g. `vlan`.
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for SettingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

fn refuse(key: &'static str, message: impl Into<String>) -> SettingError {
    SettingError {
        key,
        message: message.into(),
    }
}

impl PortSettings {
    /// A port with every default: access mode, no VLAN yet.
    pub fn new(name: impl Into<String>, iface: impl Into<String>) -> PortSettings {
        PortSettings {
            name: name.into(),
            iface: iface.into(),
            vlan_mode: VlanModeName::default(),
            vlan: None,
            trunk_vlans: None,
            promiscuous: false,
            learning: true,
            flood_unknown_unicast: true,
        }
    }

    /// The engine's configuration for these settings, or the key whose
    /// value does not fit the others (values themselves are already valid).
    pub fn engine_config(&self) -> Result<PortConfig, SettingError> {
        let vlan = self.vlan.map(Vlan::id);
        let mode = match self.vlan_mode {
            VlanModeName::Access => {
                if self.trunk_vlans.is_some() {
                    return Err(refuse("trunk_vlans", "only trunk ports take trunk_vlans"));
                }
                VlanMode::Access(vlan.ok_or_else(|| refuse("vlan", "access ports need a vlan"))?)
            }
            VlanModeName::Trunk => VlanMode::Trunk {
                allowed: self
                    .trunk_vlans
                    .as_ref()
                    .map_or_else(VlanSet::all, |l| l.set().clone()),
                native: vlan,
            },
            VlanModeName::Guest => {
                if self.trunk_vlans.is_some() {
                    return Err(refuse(
                        "trunk_vlans",
                        "guest ports carry every VLAN; use vlan_mode = \"trunk\" to restrict",
                    ));
                }
                VlanMode::Guest { native: vlan }
            }
        };
        let mut c = PortConfig::new(mode);
        c.promiscuous = self.promiscuous;
        c.learning = self.learning;
        c.flood_unknown_unicast = self.flood_unknown_unicast;
        Ok(c)
    }

    /// The settings for vswitchctl's tables, in order: (key, column
    /// header, cell); booleans as yes/no, unset values as `-`.
    pub fn cells(&self) -> Vec<(&'static str, &'static str, String)> {
        let yn = |b: bool| if b { "yes" } else { "no" }.to_string();
        let trunk = match (&self.trunk_vlans, self.vlan_mode) {
            (Some(l), _) => l.to_string(),
            (None, VlanModeName::Trunk) => VlanSet::all().to_string(),
            (None, _) => "-".into(),
        };
        vec![
            ("name", "PORT", self.name.clone()),
            ("iface", "IFACE", self.iface.clone()),
            ("vlan_mode", "VLAN_MODE", self.vlan_mode.to_string()),
            (
                "vlan",
                "VLAN",
                self.vlan.map_or("-".into(), |v| v.to_string()),
            ),
            ("trunk_vlans", "TRUNK_VLANS", trunk),
            ("promiscuous", "PROMISC", yn(self.promiscuous)),
            ("learning", "LEARN", yn(self.learning)),
            (
                "flood_unknown_unicast",
                "UU_FLOOD",
                yn(self.flood_unknown_unicast),
            ),
        ]
    }
}

/// `port.set`: the port to change and what to change; an absent field
/// stays as it is. `vlan` and `trunk_vlans` take `null` to unset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct PortPatch {
    /// The port.
    #[arg(skip)]
    pub name: String,
    /// access | trunk | guest
    #[arg(long, value_name = "MODE")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan_mode: Option<VlanModeName>,
    /// Access VLAN, or native VLAN of a trunk/guest port ("none" to unset).
    #[arg(long, value_name = "VLAN")]
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub vlan: Option<Change<Vlan>>,
    /// Trunk VLANs, e.g. "10,20,100-199" ("none" for the default 1-4094).
    #[arg(long, value_name = "LIST")]
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub trunk_vlans: Option<Change<VlanList>>,
    /// Receive a copy of everything forwarded in the port's VLANs.
    #[arg(long, value_name = "BOOL")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promiscuous: Option<bool>,
    /// Learn source MACs.
    #[arg(long, value_name = "BOOL")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning: Option<bool>,
    /// Receive unknown-unicast floods.
    #[arg(long, value_name = "BOOL")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flood_unknown_unicast: Option<bool>,
}

impl PortPatch {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        *self
            == PortPatch {
                name: self.name.clone(),
                ..PortPatch::default()
            }
    }

    /// Applies the changes to `s`. Leaving trunk mode drops the trunk's
    /// VLAN list unless the patch sets one.
    pub fn apply(&self, s: &mut PortSettings) {
        if let Some(m) = self.vlan_mode {
            s.vlan_mode = m;
            if m != VlanModeName::Trunk && self.trunk_vlans.is_none() {
                s.trunk_vlans = None;
            }
        }
        if let Some(v) = &self.vlan {
            s.vlan = v.clone().into_option();
        }
        if let Some(t) = &self.trunk_vlans {
            s.trunk_vlans = t.clone().into_option();
        }
        if let Some(b) = self.promiscuous {
            s.promiscuous = b;
        }
        if let Some(b) = self.learning {
            s.learning = b;
        }
        if let Some(b) = self.flood_unknown_unicast {
            s.flood_unknown_unicast = b;
        }
    }
}

/// Checks a port name: what vswitchctl and JSON use to name it.
pub fn check_port_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid port name {name:?}: use 1-32 letters, digits, '-', '_' or '.'"
        ))
    }
}

/// Checks an interface name the way the kernel does (IFNAMSIZ).
pub fn check_iface(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() < 16
        && !name.contains(['/', ' ', '\0', ':'])
        && name != "."
        && name != "..";
    if ok {
        Ok(())
    } else {
        Err(format!("invalid interface name {name:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(v: serde_json::Value) -> PortPatch {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn patches_set_clear_or_keep() {
        let mut s: PortSettings = serde_json::from_value(json!({
            "name": "up", "iface": "x", "vlan_mode": "trunk", "vlan": 99, "trunk_vlans": "10,20"
        }))
        .unwrap();
        patch(json!({"name": "up", "vlan": null})).apply(&mut s);
        assert_eq!((s.vlan, s.trunk_vlans.is_some()), (None, true));
        patch(json!({"name": "up", "vlan_mode": "access", "vlan": 10, "learning": false}))
            .apply(&mut s);
        assert_eq!(s.vlan.map(u16::from), Some(10));
        assert!(s.trunk_vlans.is_none(), "leaving trunk drops the list");
        assert!(!s.learning && s.flood_unknown_unicast);
        assert!(s.engine_config().is_ok());
        assert!(patch(json!({"name": "up"})).is_empty());
        assert!(!patch(json!({"name": "up", "vlan": null})).is_empty());
        let e = serde_json::from_value::<PortPatch>(json!({"name": "up", "iface": "y"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `iface`"), "{e}");
    }

    #[test]
    fn settings_that_do_not_fit_name_their_key() {
        let mut s = PortSettings::new("a", "x");
        assert_eq!(s.engine_config().unwrap_err().key, "vlan");
        s.vlan_mode = VlanModeName::Guest;
        s.trunk_vlans = Some("10".parse().unwrap());
        assert_eq!(s.engine_config().unwrap_err().key, "trunk_vlans");
    }
}

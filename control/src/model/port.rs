//! A port's settings: the `[[port]]` table of the file, the params of
//! `port.add`, what the controller keeps for a running port and what
//! `port.list` / `port.show` answer. [`PortPatch`] is `port.set`: every
//! field optional, and the ones that may be unset take `null` (`none` on
//! the command line). vswitchctl's port flags are derived from it too.

use serde::{Deserialize, Serialize};
use vswitch_dataplane::port::{Driver, DriverChoice};
use vswitch_dataplane::{PortConfig, VlanMode, VlanSet};

use super::policy::{LimitPolicyName, MaxMacs};
use super::shaping::{Shaping, ShapingPatch};
use super::value::{present, Change, MacAddr, Mtu, Vlan, VlanList};

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

/// `driver`: the runtime's [`DriverChoice`], mirrored here for serde and
/// clap (the dataplane has neither). Written as the runtime's own names;
/// read through [`FromStr`](std::str::FromStr), so that a bad value names
/// the key in an API error too (serde's own message would not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum DriverName {
    /// A fixed rule per kind of interface: a NIC gets AF_XDP, a virtual
    /// interface (veth, tap) the packet driver.
    #[default]
    Auto,
    /// AF_XDP sockets.
    #[value(name = "afxdp")]
    AfXdp,
    /// A packet socket with virtio-net headers.
    Packet,
}

impl DriverName {
    /// The runtime's choice.
    pub fn choice(self) -> DriverChoice {
        match self {
            DriverName::Auto => DriverChoice::Auto,
            DriverName::AfXdp => DriverChoice::AfXdp,
            DriverName::Packet => DriverChoice::Packet,
        }
    }
}

impl std::str::FromStr for DriverName {
    type Err = String;
    fn from_str(s: &str) -> Result<DriverName, String> {
        match s {
            "auto" => Ok(DriverName::Auto),
            "afxdp" => Ok(DriverName::AfXdp),
            "packet" => Ok(DriverName::Packet),
            _ => Err(format!(
                "invalid driver {s:?}: expected auto, afxdp or packet"
            )),
        }
    }
}

impl TryFrom<String> for DriverName {
    type Error = String;
    fn try_from(s: String) -> Result<DriverName, String> {
        s.parse()
    }
}

impl From<DriverChoice> for DriverName {
    fn from(c: DriverChoice) -> DriverName {
        match c {
            DriverChoice::Auto => DriverName::Auto,
            DriverChoice::AfXdp => DriverName::AfXdp,
            DriverChoice::Packet => DriverName::Packet,
        }
    }
}

impl std::fmt::Display for DriverName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.choice().fmt(f)
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
    /// auto | afxdp | packet: how the interface is opened.
    #[serde(default)]
    pub driver: DriverName,
    /// The port's MTU (68-9216): vswitchd sets the interface's MTU to it
    /// and enforces it. Unset: the port follows the interface's MTU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<Mtu>,
    /// `tap`: vswitchd makes the interface (a persistent tap for a VM)
    /// and removes it with the port. Set only when the port is added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<CreateKind>,
    /// With `create`: the user (name or uid) who may open the tap.
    /// Set only when the port is added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// Traffic shaping per direction (`[port.shaping.egress]`,
    /// model/shaping.rs); unset: none.
    #[serde(default, skip_serializing_if = "Shaping::is_off")]
    pub shaping: Shaping,
    /// The port's own MAC (its VM's NIC), for the security policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    /// Deliver unicast for MACs other than `mac` to the port (ESXi "MAC
    /// address changes"); false needs `mac`.
    #[serde(default = "yes")]
    pub mac_changes: bool,
    /// Accept frames whose source is not `mac` (ESXi "forged
    /// transmits"); false needs `mac`.
    #[serde(default = "yes")]
    pub forged_transmits: bool,
    /// Most MACs the port may have learned (default: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_macs: Option<MaxMacs>,
    /// drop | allow: frames from new sources past `max_macs`.
    #[serde(default)]
    pub limit_policy: LimitPolicyName,
}

/// `create`: the kind of interface vswitchd makes for a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum CreateKind {
    /// A persistent tap with virtio-net headers, for a VM's NIC
    /// (dataplane/runtime/src/port/tap.rs).
    Tap,
}

impl TryFrom<String> for CreateKind {
    type Error = String;
    fn try_from(s: String) -> Result<CreateKind, String> {
        match s.as_str() {
            "tap" => Ok(CreateKind::Tap),
            _ => Err(format!("invalid create {s:?}: expected tap")),
        }
    }
}

impl std::fmt::Display for CreateKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CreateKind::Tap => "tap",
        })
    }
}

/// `owner`: a user, by name (a string) or uid (an integer), written back
/// as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A numeric uid.
    Uid(u32),
    /// A user name, looked up on the host when the port is added.
    Name(String),
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Uid(u) => u.fmt(f),
            Owner::Name(n) => f.write_str(n),
        }
    }
}

impl Serialize for Owner {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Owner::Uid(u) => s.serialize_u32(*u),
            Owner::Name(n) => s.serialize_str(n),
        }
    }
}

impl<'de> Deserialize<'de> for Owner {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Owner, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Owner;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a user name or a uid")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Owner, E> {
                u32::try_from(v)
                    .ok()
                    .filter(|&u| u != u32::MAX)
                    .map(Owner::Uid)
                    .ok_or_else(|| E::custom(format!("invalid owner {v}: not a uid")))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Owner, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(-1))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Owner, E> {
                let ok = !v.is_empty()
                    && v.len() <= 32
                    && v.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '$'));
                if ok {
                    Ok(Owner::Name(v.to_string()))
                } else {
                    Err(E::custom(format!("invalid owner {v:?}: not a user name")))
                }
            }
        }
        d.deserialize_any(V)
    }
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
            driver: DriverName::default(),
            create: None,
            owner: None,
            mtu: None,
            shaping: Shaping::default(),
            mac: None,
            mac_changes: true,
            forged_transmits: true,
            max_macs: None,
            limit_policy: LimitPolicyName::default(),
        }
    }

    /// Whether `create` and `owner` fit the rest: an `owner` belongs to a
    /// created tap, and a created tap is switched by the packet driver
    /// (the VM holds the tap's own fd; vswitchd reaches it through a
    /// packet socket, dataplane/runtime/src/port/tap.rs).
    fn check_create(&self) -> Result<(), SettingError> {
        if self.owner.is_some() && self.create.is_none() {
            return Err(refuse(
                "owner",
                "only a port with create = \"tap\" takes an owner (of the tap it makes)",
            ));
        }
        if self.create.is_some() && self.driver == DriverName::AfXdp {
            return Err(refuse(
                "driver",
                "a created tap is switched by the packet driver (the VM holds the tap's \
                 own fd, and AF_XDP on a tap gets no offload metadata): use driver = \
                 \"packet\" or \"auto\"",
            ));
        }
        Ok(())
    }

    /// The engine's configuration for these settings, or the key whose
    /// value does not fit the others (values themselves are already valid).
    pub fn engine_config(&self) -> Result<PortConfig, SettingError> {
        self.check_create()?;
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
        c.shaping = self.shaping.engine()?;
        c.policy = super::policy::engine_policy(self)?;
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
            (
                "create",
                "CREATE",
                match (&self.create, &self.owner) {
                    (None, _) => "-".into(),
                    (Some(c), None) => c.to_string(),
                    (Some(c), Some(o)) => format!("{c} ({o})"),
                },
            ),
            ("shaping", "SHAPING", self.shaping.cell()),
            ("driver", "DRIVER", self.driver.to_string()),
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
    /// Port driver: auto, afxdp or packet (a change re-binds the port).
    #[arg(long, value_name = "DRIVER")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<DriverName>,
    /// Taken only to refuse a change clearly: `create` is set when the
    /// port is added ([`PortPatch::fixed_change`]).
    #[arg(skip)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<CreateKind>,
    /// Taken only to refuse a change clearly, as `create`.
    #[arg(skip)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// MTU, 68-9216: also set on the interface ("none": follow the
    /// interface's MTU again).
    #[arg(long, value_name = "MTU")]
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub mtu: Option<Change<Mtu>>,
    /// Traffic shaping: nested in JSON as in the file, flat flags
    /// (`--shaping-egress-average-bps`) on the command line.
    #[command(flatten)]
    #[serde(default, skip_serializing_if = "ShapingPatch::is_empty")]
    pub shaping: ShapingPatch,
    /// The port's own MAC ("none" to unset).
    #[arg(long, value_name = "MAC")]
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub mac: Option<Change<MacAddr>>,
    /// Accept unicast for MACs other than `mac`.
    #[arg(long, value_name = "BOOL")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_changes: Option<bool>,
    /// Accept frames whose source is not `mac`.
    #[arg(long, value_name = "BOOL")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forged_transmits: Option<bool>,
    /// Most MACs the port may learn ("none": no limit).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_macs: Option<Change<MaxMacs>>,
    /// drop or allow: frames from new sources past max_macs.
    #[arg(long, value_name = "POLICY")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_policy: Option<LimitPolicyName>,
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

    /// The message refusing a change of a setting that is fixed once the
    /// port is added (`create`, `owner`), if the patch asks for one; a
    /// value equal to the port's is no change.
    pub fn fixed_change(&self, s: &PortSettings) -> Option<String> {
        let create = self
            .create
            .filter(|c| s.create != Some(*c))
            .map(|_| "create");
        let owner = self
            .owner
            .as_ref()
            .filter(|o| s.owner.as_ref() != Some(*o))
            .map(|_| "owner");
        create.or(owner).map(|key| {
            format!(
                "{key} is set only when a port is added and cannot change: \
                 port.del then port.add the port with the new value (deleting a \
                 port with create = \"tap\" removes its tap)"
            )
        })
    }

    /// Applies the changes to `s` (all but `create` and `owner`, which
    /// [`PortPatch::fixed_change`] refuses). Leaving trunk mode drops the trunk's
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
        if let Some(d) = self.driver {
            s.driver = d;
        }
        if let Some(m) = &self.mtu {
            s.mtu = m.clone().into_option();
        }
        self.shaping.apply(&mut s.shaping);
        if let Some(m) = &self.mac {
            s.mac = m.clone().into_option();
        }
        if let Some(b) = self.mac_changes {
            s.mac_changes = b;
        }
        if let Some(b) = self.forged_transmits {
            s.forged_transmits = b;
        }
        if let Some(m) = &self.max_macs {
            s.max_macs = m.clone().into_option();
        }
        if let Some(p) = self.limit_policy {
            s.limit_policy = p;
        }
    }
}

/// Bytes a tagged frame carries besides its MTU's payload: the Ethernet
/// header and the 802.1Q tag (FCS not counted). A port's
/// `max_frame_len` is its MTU plus this; the engine takes 4 bytes less of
/// an untagged frame (dataplane/engine/src/pipeline/mod.rs,
/// `untagged_allowance`).
pub const MTU_OVERHEAD: usize =
    vswitch_dataplane::wire::HEADER_LEN + vswitch_dataplane::limits::VLAN_TAG_LEN;

/// Refuses an MTU whose frames (MTU + [`MTU_OVERHEAD`]) are longer than
/// `capacity`, what the port's `driver` carries: the message says why
/// and what to do instead.
pub fn check_mtu_carried(driver: Driver, capacity: usize, mtu: u32) -> Result<(), String> {
    let need = mtu as usize + MTU_OVERHEAD;
    if need <= capacity {
        return Ok(());
    }
    let why = match driver {
        Driver::AfXdp => " (a frame must fit one UMEM chunk)",
        Driver::Packet => "",
    };
    Err(format!(
        "MTU {mtu} needs frames of up to {need} bytes, but driver {driver} carries at most \
         {capacity}{why}: use driver = \"packet\", or an MTU of at most {}",
        capacity.saturating_sub(MTU_OVERHEAD)
    ))
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
    fn driver_reads_and_writes_the_runtime_names() {
        let s: PortSettings = serde_json::from_value(json!({"name": "a", "iface": "x"})).unwrap();
        assert_eq!(s.driver, DriverName::Auto, "default");
        assert_eq!(serde_json::to_value(&s).unwrap()["driver"], "auto");
        for (text, choice) in [
            ("auto", DriverChoice::Auto),
            ("afxdp", DriverChoice::AfXdp),
            ("packet", DriverChoice::Packet),
        ] {
            let s: PortSettings =
                serde_json::from_value(json!({"name": "a", "iface": "x", "driver": text})).unwrap();
            assert_eq!(s.driver.choice(), choice);
            assert_eq!(DriverName::from(choice), s.driver);
            // The text the runtime logs is the text the file takes.
            assert_eq!(
                (s.driver.to_string(), choice.to_string()),
                (text.into(), text.into())
            );
            assert_eq!(serde_json::to_value(&s).unwrap()["driver"], text);
            let v = <DriverName as clap::ValueEnum>::from_str(text, false).unwrap();
            assert_eq!(v, s.driver, "vswitchctl --driver {text}");
        }
        let e = serde_json::from_value::<PortSettings>(
            json!({"name": "a", "iface": "x", "driver": "af_xdp"}),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("invalid driver \"af_xdp\": expected auto, afxdp or packet"),
            "{e}"
        );
    }

    #[test]
    fn patches_change_the_driver() {
        let mut s = PortSettings::new("a", "x");
        let p = patch(json!({"name": "a", "driver": "packet"}));
        assert!(!p.is_empty());
        p.apply(&mut s);
        assert_eq!(s.driver, DriverName::Packet);
        patch(json!({"name": "a", "vlan": 5})).apply(&mut s);
        assert_eq!(s.driver, DriverName::Packet, "absent: kept");
        assert_eq!(
            serde_json::to_value(patch(json!({"name": "a", "driver": "afxdp"}))).unwrap(),
            json!({"name": "a", "driver": "afxdp"})
        );
        let e = serde_json::from_value::<PortPatch>(json!({"name": "a", "driver": "xdp"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid driver \"xdp\""), "{e}");

        // vswitchctl's flags are the patch's fields.
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            flags: PortPatch,
        }
        let cli = <Cli as clap::Parser>::try_parse_from(["x", "--driver", "afxdp"]).unwrap();
        assert_eq!(cli.flags.driver, Some(DriverName::AfXdp));
        let e = <Cli as clap::Parser>::try_parse_from(["x", "--driver", "xdp"])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("auto, afxdp, packet"), "{e}");
    }

    #[test]
    fn an_mtu_the_driver_cannot_carry_is_refused_with_what_to_do() {
        assert!(check_mtu_carried(Driver::AfXdp, 3840, 3822).is_ok());
        let e = check_mtu_carried(Driver::AfXdp, 3840, 3823).unwrap_err();
        assert!(
            e.contains(
                "MTU 3823 needs frames of up to 3841 bytes, but driver afxdp carries at most 3840"
            ) && e.contains("use driver = \"packet\", or an MTU of at most 3822"),
            "{e}"
        );
        assert!(check_mtu_carried(Driver::Packet, Driver::Packet.frame_capacity(), 9216).is_ok());
    }

    #[test]
    fn mtu_is_set_cleared_or_kept() {
        let mut s: PortSettings =
            serde_json::from_value(json!({"name": "a", "iface": "x", "mtu": 9000})).unwrap();
        assert_eq!(s.mtu.map(Mtu::get), Some(9000));
        assert_eq!(serde_json::to_value(&s).unwrap()["mtu"], 9000);
        patch(json!({"name": "a", "vlan": 5})).apply(&mut s);
        assert_eq!(s.mtu.map(Mtu::get), Some(9000), "absent: kept");
        patch(json!({"name": "a", "mtu": 1500})).apply(&mut s);
        assert_eq!(s.mtu.map(Mtu::get), Some(1500));
        patch(json!({"name": "a", "mtu": null})).apply(&mut s);
        assert_eq!(s.mtu, None, "null: follow the interface");
        assert!(serde_json::to_value(&s).unwrap().get("mtu").is_none());
        let e = serde_json::from_value::<PortPatch>(json!({"name": "a", "mtu": 9217}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("MTU 9217 is out of range"), "{e}");
    }

    #[test]
    fn settings_that_do_not_fit_name_their_key() {
        let mut s = PortSettings::new("a", "x");
        assert_eq!(s.engine_config().unwrap_err().key, "vlan");
        s.vlan_mode = VlanModeName::Guest;
        s.trunk_vlans = Some("10".parse().unwrap());
        assert_eq!(s.engine_config().unwrap_err().key, "trunk_vlans");
    }

    #[test]
    fn create_and_owner_read_write_and_fit_the_rest() {
        let s: PortSettings = serde_json::from_value(
            json!({"name": "vm", "iface": "tap0", "vlan": 1, "create": "tap", "owner": "qemu"}),
        )
        .unwrap();
        assert_eq!(s.create, Some(CreateKind::Tap));
        assert_eq!(s.owner, Some(Owner::Name("qemu".into())));
        assert!(s.engine_config().is_ok());
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!((&v["create"], &v["owner"]), (&json!("tap"), &json!("qemu")));
        let s: PortSettings = toml::from_str(
            "name = \"vm\"\niface = \"tap0\"\nvlan = 1\ncreate = \"tap\"\nowner = 107\n",
        )
        .unwrap();
        assert_eq!(s.owner, Some(Owner::Uid(107)));
        assert!(toml::to_string(&s).unwrap().contains("owner = 107"));
        // Unset: not written at all (a plain port's table is unchanged).
        let plain = serde_json::to_value(PortSettings::new("a", "x")).unwrap();
        assert!(plain.get("create").is_none() && plain.get("owner").is_none());

        for (v, msg) in [
            (
                json!({"create": "tun"}),
                "invalid create \"tun\": expected tap",
            ),
            (json!({"create": "tap", "owner": -1}), "invalid owner -1"),
            (json!({"create": "tap", "owner": "a b"}), "not a user name"),
            (
                json!({"create": "tap", "owner": true}),
                "a user name or a uid",
            ),
        ] {
            let mut o = json!({"name": "vm", "iface": "t", "vlan": 1});
            o.as_object_mut()
                .unwrap()
                .extend(v.as_object().unwrap().clone());
            let e = serde_json::from_value::<PortSettings>(o)
                .unwrap_err()
                .to_string();
            assert!(e.contains(msg), "{e}");
        }
        let mut s = PortSettings::new("vm", "t");
        s.vlan = Some(Vlan::try_from(1).unwrap());
        s.owner = Some(Owner::Uid(1));
        assert_eq!(s.engine_config().unwrap_err().key, "owner");
        s.create = Some(CreateKind::Tap);
        s.driver = DriverName::AfXdp;
        let e = s.engine_config().unwrap_err();
        assert_eq!(e.key, "driver");
        assert!(e.message.contains("packet driver"), "{e}");
        s.driver = DriverName::Packet;
        assert!(s.engine_config().is_ok());
    }

    #[test]
    fn create_and_owner_cannot_change_by_patch() {
        let mut s = PortSettings::new("vm", "t");
        s.create = Some(CreateKind::Tap);
        s.owner = Some(Owner::Name("qemu".into()));
        let same = patch(json!({"name": "vm", "create": "tap", "owner": "qemu"}));
        assert_eq!(same.fixed_change(&s), None, "the same values are no change");
        for p in [
            json!({"name": "vm", "owner": "root"}),
            json!({"name": "vm", "owner": 0}),
        ] {
            let m = patch(p.clone()).fixed_change(&s).expect("refused");
            assert!(
                m.starts_with("owner is set only when a port is added"),
                "{p}: {m}"
            );
        }
        let plain = PortSettings::new("a", "x");
        let m = patch(json!({"name": "a", "create": "tap"}))
            .fixed_change(&plain)
            .expect("refused");
        assert!(m.starts_with("create is set only"), "{m}");
        assert_eq!(
            patch(json!({"name": "a", "vlan": 3})).fixed_change(&plain),
            None
        );
    }
}

//! Port policies beyond switching: ESXi's security policy (`mac`,
//! `mac_changes`, `forged_transmits`) and the VDS MAC-learning limit
//! (`max_macs`, `limit_policy`), as keys of `[[port]]`; and the MAC move
//! guard of `[fdb.move_guard]` with the params of `fdb.set`.
//!
//! The port keys live in [`PortSettings`](super::port::PortSettings)
//! (serde's `deny_unknown_fields` cannot flatten); their types, checks and
//! conversion into the engine's [`PortPolicy`] live here.

use serde::{Deserialize, Serialize};
use vswitch_dataplane::{LimitPolicy, PortPolicy};

use super::port::{PortSettings, SettingError};

/// `limit_policy`: what a port at its `max_macs` does with frames from a
/// new source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum LimitPolicyName {
    /// Drop them (counted as `mac_limit`).
    #[default]
    Drop,
    /// Forward them without learning the source.
    Allow,
}

impl std::str::FromStr for LimitPolicyName {
    type Err = String;
    fn from_str(s: &str) -> Result<LimitPolicyName, String> {
        match s {
            "drop" => Ok(LimitPolicyName::Drop),
            "allow" => Ok(LimitPolicyName::Allow),
            _ => Err(format!(
                "invalid limit_policy {s:?}: expected drop or allow"
            )),
        }
    }
}

impl TryFrom<String> for LimitPolicyName {
    type Error = String;
    fn try_from(s: String) -> Result<LimitPolicyName, String> {
        s.parse()
    }
}

impl std::fmt::Display for LimitPolicyName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LimitPolicyName::Drop => "drop",
            LimitPolicyName::Allow => "allow",
        })
    }
}

/// `max_macs`: 1 or more (whether it fits the table's capacity is
/// checked with the `[fdb]` settings, [`check_max_macs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u32")]
pub struct MaxMacs(u32);

impl MaxMacs {
    /// The limit.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<i64> for MaxMacs {
    type Error = String;
    fn try_from(v: i64) -> Result<MaxMacs, String> {
        u32::try_from(v)
            .ok()
            .filter(|&n| n >= 1)
            .map(MaxMacs)
            .ok_or_else(|| {
                format!(
                    "max_macs {v} is out of range (at least 1, at most the fdb capacity; \
                     for no learning at all use learning = false)"
                )
            })
    }
}

impl From<MaxMacs> for u32 {
    fn from(m: MaxMacs) -> u32 {
        m.0
    }
}

impl std::str::FromStr for MaxMacs {
    type Err = String;
    fn from_str(s: &str) -> Result<MaxMacs, String> {
        let n: i64 = s
            .trim()
            .parse()
            .map_err(|_| format!("invalid max_macs {s:?}: expected a number"))?;
        MaxMacs::try_from(n)
    }
}

impl std::fmt::Display for MaxMacs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The engine's policy for a port's settings; refuses `mac_changes` or
/// `forged_transmits` rejected without a `mac` to compare with.
pub fn engine_policy(s: &PortSettings) -> Result<PortPolicy, SettingError> {
    for (key, accepted) in [
        ("mac_changes", s.mac_changes),
        ("forged_transmits", s.forged_transmits),
    ] {
        if !accepted && s.mac.is_none() {
            return Err(SettingError {
                key,
                message: format!(
                    "{key} = false needs the port's mac (the MAC of the VM's NIC) to compare with"
                ),
            });
        }
    }
    if let Some(m) = s.mac {
        if !m.mac().is_learnable() {
            return Err(SettingError {
                key: "mac",
                message: format!("{m} is a group or zero address; a port's mac is unicast"),
            });
        }
    }
    Ok(PortPolicy {
        mac: s.mac.map(|m| m.mac()),
        mac_changes: s.mac_changes,
        forged_transmits: s.forged_transmits,
        max_macs: s.max_macs.map(MaxMacs::get),
        limit_policy: match s.limit_policy {
            LimitPolicyName::Drop => LimitPolicy::Drop,
            LimitPolicyName::Allow => LimitPolicy::Allow,
        },
    })
}

/// Refuses a `max_macs` above the table's capacity (it could never bind).
pub fn check_max_macs(s: &PortSettings, capacity: usize) -> Result<(), SettingError> {
    match s.max_macs {
        Some(m) if m.get() as usize > capacity => Err(SettingError {
            key: "max_macs",
            message: format!(
                "max_macs {m} is above the fdb capacity {capacity}: it could never bind"
            ),
        }),
        _ => Ok(()),
    }
}

/// The policy settings for vswitchctl's `port show`: (key, cell).
pub fn policy_cells(s: &PortSettings) -> Vec<(&'static str, String)> {
    let yn = |b: bool| if b { "accept" } else { "reject" }.to_string();
    vec![
        ("mac", s.mac.map_or("-".into(), |m| m.to_string())),
        ("mac_changes", yn(s.mac_changes)),
        ("forged_transmits", yn(s.forged_transmits)),
        ("max_macs", s.max_macs.map_or("-".into(), |m| m.to_string())),
        ("limit_policy", s.limit_policy.to_string()),
    ]
}

/// `[fdb.move_guard]`: a MAC that moves between ports more than `moves`
/// times within `window_secs` is flapping; with `holddown_secs` > 0 the
/// port it last moved to stops learning new and moving sources for that
/// long (frames are still forwarded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveGuardSettings {
    /// Moves of one MAC tolerated within the window.
    #[serde(default = "default_moves")]
    pub moves: i64,
    /// The window, seconds.
    #[serde(default = "default_window")]
    pub window_secs: i64,
    /// Seconds learning stops on the offending port; 0: only log and count.
    #[serde(default)]
    pub holddown_secs: i64,
}

impl Default for MoveGuardSettings {
    fn default() -> Self {
        MoveGuardSettings {
            moves: default_moves(),
            window_secs: default_window(),
            holddown_secs: 0,
        }
    }
}

fn default_moves() -> i64 {
    5
}

fn default_window() -> i64 {
    180
}

/// Longest move-guard window or hold-down, seconds (a day).
pub const MAX_GUARD_SECS: i64 = 86_400;
/// Most moves a move guard may tolerate in its window.
pub const MAX_GUARD_MOVES: i64 = 1_000_000;

impl MoveGuardSettings {
    /// The first key whose value is out of range, and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !(1..=MAX_GUARD_MOVES).contains(&self.moves) {
            return Err((
                "moves",
                format!("{} is out of range (1-{MAX_GUARD_MOVES})", self.moves),
            ));
        }
        if !(1..=MAX_GUARD_SECS).contains(&self.window_secs) {
            return Err((
                "window_secs",
                format!("{} is out of range (1-{MAX_GUARD_SECS})", self.window_secs),
            ));
        }
        if !(0..=MAX_GUARD_SECS).contains(&self.holddown_secs) {
            return Err((
                "holddown_secs",
                format!(
                    "{} is out of range (0-{MAX_GUARD_SECS}; 0: no hold-down)",
                    self.holddown_secs
                ),
            ));
        }
        Ok(())
    }
}

/// Params of `fdb.set`: the `[fdb]` settings that change live (absent:
/// unchanged). `capacity` is taken only to refuse it clearly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct FdbPatch {
    /// Seconds an idle entry lives (0: never ages).
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aging_secs: Option<i64>,
    /// Move guard: moves of one MAC tolerated within the window.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub move_guard_moves: Option<i64>,
    /// Move guard: the window, seconds.
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub move_guard_window_secs: Option<i64>,
    /// Move guard: seconds learning stops on the offending port (0: none).
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub move_guard_holddown_secs: Option<i64>,
    /// Refused: the table's size is fixed at start.
    #[arg(skip)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<i64>,
}

impl FdbPatch {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == FdbPatch::default()
    }

    /// The move guard with the patch applied, checked.
    pub fn move_guard(&self, g: &MoveGuardSettings) -> Result<MoveGuardSettings, String> {
        let mut next = *g;
        if let Some(n) = self.move_guard_moves {
            next.moves = n;
        }
        if let Some(n) = self.move_guard_window_secs {
            next.window_secs = n;
        }
        if let Some(n) = self.move_guard_holddown_secs {
            next.holddown_secs = n;
        }
        next.check()
            .map_err(|(key, m)| format!("move_guard_{key}: {m}"))?;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn policy_keys_read_check_and_convert() {
        let s: PortSettings = serde_json::from_value(json!({
            "name": "vm", "iface": "x", "vlan": 1, "mac": "02:00:00:00:00:01",
            "forged_transmits": false, "mac_changes": false, "max_macs": 4,
            "limit_policy": "allow"
        }))
        .unwrap();
        let p = engine_policy(&s).unwrap();
        assert_eq!(
            p.source_lock().map(|m| m.to_string()),
            Some("02:00:00:00:00:01".into())
        );
        assert!(p.locks_destination());
        assert_eq!((p.max_macs, p.limit_policy), (Some(4), LimitPolicy::Allow));
        assert!(check_max_macs(&s, 4).is_ok());
        let e = check_max_macs(&s, 3).unwrap_err();
        assert_eq!(e.key, "max_macs");
        assert!(e.message.contains("above the fdb capacity 3"), "{e}");
        // Defaults: ESXi's.
        let d: PortSettings = serde_json::from_value(json!({"name": "a", "iface": "x"})).unwrap();
        assert!(d.mac_changes && d.forged_transmits && !d.promiscuous);
        assert_eq!(engine_policy(&d).unwrap(), PortPolicy::default());
        let v = serde_json::to_value(&d).unwrap();
        assert!(v.get("mac").is_none() && v.get("max_macs").is_none());
    }

    #[test]
    fn bad_policy_values_name_their_key() {
        let mut s = PortSettings::new("a", "x");
        s.forged_transmits = false;
        assert_eq!(engine_policy(&s).unwrap_err().key, "forged_transmits");
        s.forged_transmits = true;
        s.mac_changes = false;
        let e = engine_policy(&s).unwrap_err();
        assert_eq!(e.key, "mac_changes");
        assert!(e.message.contains("needs the port's mac"), "{e}");
        s.mac = Some("01:00:5e:00:00:01".parse().unwrap());
        assert_eq!(engine_policy(&s).unwrap_err().key, "mac");
        for (v, msg) in [
            (json!({"max_macs": 0}), "max_macs 0 is out of range"),
            (json!({"max_macs": -3}), "max_macs -3 is out of range"),
            (
                json!({"limit_policy": "block"}),
                "invalid limit_policy \"block\"",
            ),
        ] {
            let mut o = json!({"name": "a", "iface": "x"});
            o.as_object_mut()
                .unwrap()
                .extend(v.as_object().unwrap().clone());
            let e = serde_json::from_value::<PortSettings>(o)
                .unwrap_err()
                .to_string();
            assert!(e.contains(msg), "{e}");
        }
    }

    #[test]
    fn move_guard_patches_are_checked_whole() {
        let g = MoveGuardSettings::default();
        assert_eq!((g.moves, g.window_secs, g.holddown_secs), (5, 180, 0));
        let p = FdbPatch {
            move_guard_holddown_secs: Some(30),
            ..FdbPatch::default()
        };
        assert_eq!(p.move_guard(&g).unwrap().holddown_secs, 30);
        for (p, key) in [
            (
                FdbPatch {
                    move_guard_moves: Some(0),
                    ..FdbPatch::default()
                },
                "move_guard_moves: 0 is out of range",
            ),
            (
                FdbPatch {
                    move_guard_window_secs: Some(-1),
                    ..FdbPatch::default()
                },
                "move_guard_window_secs: -1",
            ),
            (
                FdbPatch {
                    move_guard_holddown_secs: Some(-5),
                    ..FdbPatch::default()
                },
                "move_guard_holddown_secs: -5",
            ),
        ] {
            let e = p.move_guard(&g).unwrap_err();
            assert!(e.starts_with(key), "{e}");
        }
    }
}

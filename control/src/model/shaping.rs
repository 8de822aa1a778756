//! A port's traffic shaping settings: the `[port.shaping.ingress]` and
//! `[port.shaping.egress]` tables of a `[[port]]`, the `shaping` object of
//! the API (nested as in the file), and `port.set`'s change to it, whose
//! command-line flags are flat (`--shaping-egress-average-bps`).
//!
//! ESXi semantics (dataplane/engine/src/shaping.rs): `average_bps`
//! sustained; after a quiet spell `burst_bytes` more may pass, at up to
//! `peak_bps`. Rates in bits per second, the burst in bytes.

use serde::{Deserialize, Serialize};
use vswitch_dataplane::shaping::{PortShaping, ShapingParams};

use super::port::SettingError;
use super::value::{present, Change};

/// A positive integer (a rate in bits/s or a size in bytes); zero and
/// negative numbers are refused when read. Ranges beyond that are the
/// engine's (`ShapingParams::new`), checked with the other settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u64")]
pub struct Positive(u64);

impl Positive {
    /// The value.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl TryFrom<i64> for Positive {
    type Error = String;
    fn try_from(v: i64) -> Result<Positive, String> {
        u64::try_from(v)
            .ok()
            .filter(|&n| n > 0)
            .map(Positive)
            .ok_or_else(|| format!("{v} is not a positive number"))
    }
}

impl From<Positive> for u64 {
    fn from(p: Positive) -> u64 {
        p.0
    }
}

impl std::str::FromStr for Positive {
    type Err = String;
    fn from_str(s: &str) -> Result<Positive, String> {
        let n: i64 = s
            .trim()
            .replace('_', "")
            .parse()
            .map_err(|_| format!("invalid number {s:?}: expected a positive integer"))?;
        Positive::try_from(n)
    }
}

impl std::fmt::Display for Positive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// One direction's limits (`[port.shaping.egress]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShaperSettings {
    /// Sustained rate, bits/s (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_bps: Option<Positive>,
    /// Rate of a burst, bits/s, at least `average_bps`; unset: a burst
    /// goes at line rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_bps: Option<Positive>,
    /// Bytes that may pass above the average after a quiet spell; unset:
    /// 100 ms at `average_bps` (at least 1518).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst_bytes: Option<Positive>,
}

/// `shaping`: per direction, `None` is not shaped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shaping {
    /// Frames the port receives (into the switch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<ShaperSettings>,
    /// Frames the port transmits (out of the switch), flood copies too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<ShaperSettings>,
}

/// The key of `field` in direction `dir`, as the file names it.
fn key(dir: &str, field: &str) -> &'static str {
    match (dir, field) {
        ("ingress", "average_bps") => "shaping.ingress.average_bps",
        ("ingress", "peak_bps") => "shaping.ingress.peak_bps",
        ("ingress", "burst_bytes") => "shaping.ingress.burst_bytes",
        ("ingress", _) => "shaping.ingress",
        ("egress", "average_bps") => "shaping.egress.average_bps",
        ("egress", "peak_bps") => "shaping.egress.peak_bps",
        ("egress", "burst_bytes") => "shaping.egress.burst_bytes",
        _ => "shaping.egress",
    }
}

impl ShaperSettings {
    fn params(&self, dir: &str) -> Result<ShapingParams, SettingError> {
        let average = self.average_bps.ok_or_else(|| SettingError {
            key: key(dir, "average_bps"),
            message: "required: the rate to sustain, in bits/s".into(),
        })?;
        ShapingParams::new(
            average.get(),
            self.peak_bps.map(Positive::get),
            self.burst_bytes.map(Positive::get),
        )
        .map_err(|e| SettingError {
            key: key(dir, e.key()),
            message: e.to_string(),
        })
    }

    /// `20M/40M:250000B`: average[/peak] and burst (the default one too).
    fn summary(&self) -> String {
        let rate = |b: u64| match b {
            b if b % 1_000_000_000 == 0 => format!("{}G", b / 1_000_000_000),
            b if b % 1_000_000 == 0 => format!("{}M", b / 1_000_000),
            b if b % 1_000 == 0 => format!("{}k", b / 1_000),
            b => b.to_string(),
        };
        let avg = self.average_bps.map_or(0, Positive::get);
        let burst = self
            .burst_bytes
            .map_or_else(|| ShapingParams::default_burst(avg), Positive::get);
        match self.peak_bps {
            Some(p) => format!("{}/{}:{burst}B", rate(avg), rate(p.get())),
            None => format!("{}:{burst}B", rate(avg)),
        }
    }
}

impl Shaping {
    /// Neither direction shaped.
    pub fn is_off(&self) -> bool {
        self.ingress.is_none() && self.egress.is_none()
    }

    /// The engine's shapers, or the key whose value is refused and why.
    pub fn engine(&self) -> Result<PortShaping, SettingError> {
        let ingress = self.ingress.map(|s| s.params("ingress")).transpose()?;
        let egress = self.egress.map(|s| s.params("egress")).transpose()?;
        Ok(PortShaping::new(ingress, egress))
    }

    /// vswitchctl's SHAPING cell, one word: `in=20M:2500000B,out=...`
    /// (the directions shaped), or `-`.
    pub fn cell(&self) -> String {
        let dirs: Vec<String> = [("in", &self.ingress), ("out", &self.egress)]
            .into_iter()
            .filter_map(|(d, s)| s.map(|s| format!("{d}={}", s.summary())))
            .collect();
        if dirs.is_empty() {
            "-".into()
        } else {
            dirs.join(",")
        }
    }
}

/// A change to one direction as the API gives it: absent keys stay,
/// `peak_bps` and `burst_bytes` take `null` to go back to their default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectionWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    average_bps: Option<Positive>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    peak_bps: Option<Change<Positive>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    burst_bytes: Option<Change<Positive>>,
}

/// `shaping` in `port.set` as the API gives it: per direction, absent
/// stays, `null` turns shaping off, an object changes the keys it has.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShapingWire {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    ingress: Option<Change<DirectionWire>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    egress: Option<Change<DirectionWire>>,
}

/// `port.set`'s change to `shaping`. JSON nests it as the file does
/// (`{"shaping": {"egress": {"average_bps": 20000000}}}`, `{"egress":
/// null}` for off); vswitchctl's flags are flat. Absent: unchanged; keys
/// a direction's object lacks stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args, Serialize, Deserialize)]
#[serde(from = "ShapingWire", into = "ShapingWire")]
pub struct ShapingPatch {
    /// Ingress shaping: sustained rate, bits/s.
    #[arg(long = "shaping-ingress-average-bps", value_name = "BPS")]
    pub ingress_average_bps: Option<Positive>,
    /// Ingress shaping: rate of a burst, bits/s ("none": line rate).
    #[arg(long = "shaping-ingress-peak-bps", value_name = "BPS")]
    pub ingress_peak_bps: Option<Change<Positive>>,
    /// Ingress shaping: bytes a burst may pass above the average ("none":
    /// 100 ms of the average).
    #[arg(long = "shaping-ingress-burst-bytes", value_name = "BYTES")]
    pub ingress_burst_bytes: Option<Change<Positive>>,
    /// Turns ingress shaping off.
    #[arg(long = "shaping-ingress-off", conflicts_with_all = [
        "ingress_average_bps", "ingress_peak_bps", "ingress_burst_bytes"])]
    pub ingress_off: bool,
    /// Egress shaping: sustained rate, bits/s.
    #[arg(long = "shaping-egress-average-bps", value_name = "BPS")]
    pub egress_average_bps: Option<Positive>,
    /// Egress shaping: rate of a burst, bits/s ("none": line rate).
    #[arg(long = "shaping-egress-peak-bps", value_name = "BPS")]
    pub egress_peak_bps: Option<Change<Positive>>,
    /// Egress shaping: bytes a burst may pass above the average ("none":
    /// 100 ms of the average).
    #[arg(long = "shaping-egress-burst-bytes", value_name = "BYTES")]
    pub egress_burst_bytes: Option<Change<Positive>>,
    /// Turns egress shaping off.
    #[arg(long = "shaping-egress-off", conflicts_with_all = [
        "egress_average_bps", "egress_peak_bps", "egress_burst_bytes"])]
    pub egress_off: bool,
}

/// One direction of a [`ShapingPatch`].
type Direction = Option<Change<DirectionWire>>;

fn direction(
    off: bool,
    average_bps: Option<Positive>,
    peak_bps: &Option<Change<Positive>>,
    burst_bytes: &Option<Change<Positive>>,
) -> Direction {
    if off {
        return Some(Change::Clear);
    }
    let d = DirectionWire {
        average_bps,
        peak_bps: peak_bps.clone(),
        burst_bytes: burst_bytes.clone(),
    };
    (d != DirectionWire::default()).then_some(Change::Set(d))
}

impl From<ShapingWire> for ShapingPatch {
    fn from(w: ShapingWire) -> ShapingPatch {
        let mut p = ShapingPatch::default();
        match w.ingress {
            Some(Change::Clear) => p.ingress_off = true,
            Some(Change::Set(d)) => {
                p.ingress_average_bps = d.average_bps;
                p.ingress_peak_bps = d.peak_bps;
                p.ingress_burst_bytes = d.burst_bytes;
            }
            None => {}
        }
        match w.egress {
            Some(Change::Clear) => p.egress_off = true,
            Some(Change::Set(d)) => {
                p.egress_average_bps = d.average_bps;
                p.egress_peak_bps = d.peak_bps;
                p.egress_burst_bytes = d.burst_bytes;
            }
            None => {}
        }
        p
    }
}

impl From<ShapingPatch> for ShapingWire {
    fn from(p: ShapingPatch) -> ShapingWire {
        ShapingWire {
            ingress: p.ingress(),
            egress: p.egress(),
        }
    }
}

fn apply_direction(d: &Direction, s: &mut Option<ShaperSettings>) {
    match d {
        None => {}
        Some(Change::Clear) => *s = None,
        Some(Change::Set(d)) => {
            let s = s.get_or_insert_with(ShaperSettings::default);
            if let Some(a) = d.average_bps {
                s.average_bps = Some(a);
            }
            if let Some(p) = &d.peak_bps {
                s.peak_bps = p.clone().into_option();
            }
            if let Some(b) = &d.burst_bytes {
                s.burst_bytes = b.clone().into_option();
            }
        }
    }
}

impl ShapingPatch {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == ShapingPatch::default()
    }

    fn ingress(&self) -> Direction {
        direction(
            self.ingress_off,
            self.ingress_average_bps,
            &self.ingress_peak_bps,
            &self.ingress_burst_bytes,
        )
    }

    fn egress(&self) -> Direction {
        direction(
            self.egress_off,
            self.egress_average_bps,
            &self.egress_peak_bps,
            &self.egress_burst_bytes,
        )
    }

    /// Applies the change; whether the result holds is
    /// [`Shaping::engine`]'s to say (a direction turned on without
    /// `average_bps` is refused there).
    pub fn apply(&self, s: &mut Shaping) {
        apply_direction(&self.ingress(), &mut s.ingress);
        apply_direction(&self.egress(), &mut s.egress);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(v: serde_json::Value) -> ShapingPatch {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn settings_read_check_and_write_back() {
        let s: Shaping = toml::from_str(
            "[egress]\naverage_bps = 20_000_000\npeak_bps = 40_000_000\nburst_bytes = 250_000\n",
        )
        .unwrap();
        let e = s.egress.unwrap();
        assert_eq!(e.average_bps.unwrap().get(), 20_000_000);
        let engine = s.engine().unwrap();
        assert!(engine.ingress.is_none());
        let p = *engine.egress.unwrap().params();
        assert_eq!(
            (p.average_bps(), p.peak_bps(), p.burst_bytes()),
            (20_000_000, Some(40_000_000), 250_000)
        );
        assert_eq!(
            serde_json::to_value(s).unwrap(),
            json!({"egress": {"average_bps": 20_000_000, "peak_bps": 40_000_000, "burst_bytes": 250_000}})
        );
        assert_eq!(s.cell(), "out=20M/40M:250000B");
        assert_eq!(Shaping::default().cell(), "-");
    }

    #[test]
    fn bad_values_name_their_key_and_reason() {
        for (text, msg) in [
            ("average_bps = 0", "0 is not a positive number"),
            ("average_bps = -5", "-5 is not a positive number"),
            ("average_bps = 1000\nrate = 5", "unknown field `rate`"),
        ] {
            let e = toml::from_str::<Shaping>(&format!("[egress]\n{text}\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(msg), "{text}: {e}");
        }
        for (v, key, msg) in [
            (
                json!({"egress": {"average_bps": 2_000_000, "peak_bps": 1_000_000}}),
                "shaping.egress.peak_bps",
                "below the average",
            ),
            (
                json!({"ingress": {"peak_bps": 1_000_000}}),
                "shaping.ingress.average_bps",
                "required",
            ),
            (
                json!({"ingress": {"average_bps": 10}}),
                "shaping.ingress.average_bps",
                "out of range",
            ),
            (
                json!({"egress": {"average_bps": 1_000_000, "burst_bytes": 2_000_000_000}}),
                "shaping.egress.burst_bytes",
                "out of range",
            ),
        ] {
            let s: Shaping = serde_json::from_value(v.clone()).unwrap();
            let e = s.engine().unwrap_err();
            assert_eq!(e.key, key, "{v}");
            assert!(e.message.contains(msg), "{v}: {e}");
        }
    }

    #[test]
    fn patches_nest_in_json_and_merge() {
        let mut s = Shaping::default();
        patch(json!({"egress": {"average_bps": 20_000_000, "burst_bytes": 1000}})).apply(&mut s);
        assert_eq!(s.egress.unwrap().burst_bytes.unwrap().get(), 1000);
        assert!(s.ingress.is_none());
        // Absent keys stay; null goes back to the default.
        patch(json!({"egress": {"peak_bps": 30_000_000}})).apply(&mut s);
        let e = s.egress.unwrap();
        assert_eq!(
            (e.average_bps.unwrap().get(), e.peak_bps.unwrap().get()),
            (20_000_000, 30_000_000)
        );
        patch(json!({"egress": {"burst_bytes": null}})).apply(&mut s);
        assert!(s.egress.unwrap().burst_bytes.is_none());
        patch(json!({"egress": null})).apply(&mut s);
        assert!(s.is_off());
        assert!(patch(json!({})).is_empty());
        let p = patch(json!({"ingress": null, "egress": {"average_bps": 1000}}));
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({"ingress": null, "egress": {"average_bps": 1000}})
        );
        let e = serde_json::from_value::<ShapingPatch>(json!({"egress": {"avg": 1}}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `avg`"), "{e}");
    }

    #[test]
    fn flags_are_flat() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            flags: ShapingPatch,
        }
        let cli = <Cli as clap::Parser>::try_parse_from([
            "x",
            "--shaping-egress-average-bps",
            "20000000",
            "--shaping-egress-burst-bytes",
            "none",
            "--shaping-ingress-off",
        ])
        .unwrap();
        assert_eq!(
            serde_json::to_value(&cli.flags).unwrap(),
            json!({"ingress": null, "egress": {"average_bps": 20_000_000, "burst_bytes": null}})
        );
        let e = <Cli as clap::Parser>::try_parse_from([
            "x",
            "--shaping-egress-off",
            "--shaping-egress-average-bps",
            "1000",
        ])
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("cannot be used with"), "{e}");
        let e = <Cli as clap::Parser>::try_parse_from(["x", "--shaping-ingress-average-bps", "0"])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("0 is not a positive number"), "{e}");
    }
}

//! `trace`: where would this frame go? Builds the frame (given as hex, or
//! from addresses, tag and EtherType), runs it through the workers' own
//! pipeline on the controller's thread with learning off and nothing sent
//! (dataplane/engine/src/trace.rs), and says in the API's terms what each
//! step decided: the VLAN and why, what learning would do with the source,
//! the FDB's answer, the disposition, per output port the encoding and
//! per other port why it gets nothing, and for a drop the setting that
//! caused it. vswitchctl prints `steps`; tools read the fields.

use serde::{Deserialize, Serialize};
use vswitch_dataplane::pipeline::Disposition;
use vswitch_dataplane::trace::{
    self as engine_trace, Destination, Encoding, Excluded, SourceCheck, Trace,
};
use vswitch_dataplane::wire::{L2Header, TagKind};
use vswitch_dataplane::{DropReason, Mac, PortId, Tci, VlanMode};

use super::rpc::RpcError;
use crate::controller::{Controller, PortEntry};
use crate::link::LinkState;
use crate::model::value::MacAddr;

/// The EtherType of a frame built from fields when none is given: IEEE
/// local experimental, which no host stack answers.
pub const DEFAULT_ETHERTYPE: u16 = 0x88b5;
/// Frames built from fields are padded to this length (without FCS), the
/// shortest a NIC sends.
const MIN_FRAME_LEN: usize = 60;
/// Shortest frame given as hex: an Ethernet header.
const MIN_HEX_LEN: usize = 14;

/// `trace` params: the ingress port and the frame, either `frame` (hex)
/// or `dst` and `src` with optional `vlan`, `pcp` and `ethertype`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceParams {
    /// The port the frame arrives on.
    pub port: String,
    /// The whole frame as hex digits (spaces and colons ignored), without FCS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame: Option<String>,
    /// Destination MAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst: Option<MacAddr>,
    /// Source MAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<MacAddr>,
    /// An 802.1Q tag with this VID (0-4095; 0 is a priority tag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<i64>,
    /// The tag's PCP (0-7; needs `vlan`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcp: Option<i64>,
    /// EtherType (0-65535; default 0x88b5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ethertype: Option<i64>,
}

/// An 802.1Q tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagInfo {
    /// VLAN ID (0: a priority tag).
    pub vid: u16,
    /// Priority code point.
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
}

impl From<Tci> for TagInfo {
    fn from(t: Tci) -> TagInfo {
        TagInfo {
            vid: t.vid(),
            pcp: t.pcp(),
            dei: t.dei(),
        }
    }
}

/// The traced frame as it arrived.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FrameInfo {
    /// Bytes.
    pub len: usize,
    /// Destination MAC (null if the frame is too short to have one).
    pub dst: Option<MacAddr>,
    /// Source MAC.
    pub src: Option<MacAddr>,
    /// Its 802.1Q tag, if any.
    pub tag: Option<TagInfo>,
}

/// What learning would do with the source.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceInfo {
    /// learning_off, not_learnable, new, table_full, known, move or
    /// static_conflict.
    pub action: String,
    /// The port the source is known on now (known, move, static_conflict).
    pub port: Option<String>,
}

/// The FDB's answer for the destination.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DestinationInfo {
    /// broadcast, multicast, hit or miss.
    pub lookup: String,
    /// hit: where the destination is known.
    pub port: Option<String>,
}

/// Why the frame goes nowhere.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DropInfo {
    /// The drop counter that goes up (`stats.show` `drops`).
    pub reason: String,
    /// The setting that caused it, as `port NAME key = value`, if one did.
    pub setting: Option<String>,
}

/// A port that gets the frame.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutputInfo {
    /// Port name.
    pub port: String,
    /// untagged, push, pop, keep or retag.
    pub encoding: String,
    /// The tag it leaves with (null when untagged).
    pub tag: Option<TagInfo>,
    /// Bytes it leaves with.
    pub len: usize,
}

/// A port that gets nothing, and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExcludedInfo {
    /// Port name.
    pub port: String,
    /// ingress, not_in_vlan, not_destination, no_unknown_unicast,
    /// link_down, frame_dropped, or a drop counter's name (too_large).
    pub reason: String,
    /// The same in words, with the setting behind it.
    pub detail: String,
}

/// `trace`'s result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TraceResult {
    /// The ingress port.
    pub port: String,
    /// Its mode: access, trunk or guest.
    pub vlan_mode: String,
    /// The frame as it arrived.
    pub frame: FrameInfo,
    /// The VLAN it was classified into (null: dropped on receipt).
    pub vlan: Option<u16>,
    /// What learning would do with its source (null: dropped on receipt).
    pub source: Option<SourceInfo>,
    /// The destination's answer (null: dropped on receipt).
    pub destination: Option<DestinationInfo>,
    /// forward, flood or drop.
    pub disposition: String,
    /// For a drop: why.
    pub drop: Option<DropInfo>,
    /// Ports that get it, with their encoding.
    pub outputs: Vec<OutputInfo>,
    /// Every other port and why it gets nothing.
    pub excluded: Vec<ExcludedInfo>,
    /// Each step in words (what `vswitchctl trace` prints).
    pub steps: Vec<String>,
}

/// Builds the frame `p` describes, or says which param is wrong.
pub fn build_frame(p: &TraceParams) -> Result<Vec<u8>, String> {
    let fields = p.dst.is_some()
        || p.src.is_some()
        || p.vlan.is_some()
        || p.pcp.is_some()
        || p.ethertype.is_some();
    if let Some(hex) = &p.frame {
        if fields {
            return Err(
                "trace: give either frame (hex) or dst/src/vlan/pcp/ethertype, not both".into(),
            );
        }
        let bytes = parse_hex(hex)?;
        if bytes.len() < MIN_HEX_LEN {
            return Err(format!(
                "trace: frame is {} bytes; an Ethernet frame has at least {MIN_HEX_LEN} (dst, src, EtherType)",
                bytes.len()
            ));
        }
        return Ok(bytes);
    }
    let (Some(dst), Some(src)) = (p.dst, p.src) else {
        return Err("trace: give frame (hex), or dst and src".into());
    };
    let mut f = dst.mac().octets().to_vec();
    f.extend_from_slice(&src.mac().octets());
    match (p.vlan, p.pcp) {
        (Some(vid), pcp) => {
            let vid = u16::try_from(vid)
                .ok()
                .filter(|v| *v <= 4095)
                .ok_or_else(|| {
                    format!("trace: invalid vlan {vid}: a tag's VID is 0-4095 (0: priority tag)")
                })?;
            let pcp = pcp.unwrap_or(0);
            let pcp = u8::try_from(pcp)
                .ok()
                .filter(|p| *p <= 7)
                .ok_or_else(|| format!("trace: invalid pcp {pcp}: PCP is 0-7"))?;
            f.extend_from_slice(&[0x81, 0x00]);
            f.extend_from_slice(&Tci::new(pcp, false, vid).0.to_be_bytes());
        }
        (None, Some(_)) => {
            return Err("trace: pcp needs vlan (vlan 0 for a priority tag)".into());
        }
        (None, None) => {}
    }
    let ethertype = match p.ethertype {
        None => DEFAULT_ETHERTYPE,
        Some(t) => u16::try_from(t)
            .map_err(|_| format!("trace: invalid ethertype {t}: it is 16 bits (0-65535)"))?,
    };
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.resize(MIN_FRAME_LEN, 0);
    Ok(f)
}

/// Reads an EtherType as vswitchctl takes it: `0x0800` or decimal.
pub fn parse_ethertype(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let n = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u16::from_str_radix(h, 16),
        None => t.parse::<u16>(),
    };
    n.map(i64::from)
        .map_err(|_| format!("invalid ethertype {s:?}: expected e.g. 0x0800 (16 bits)"))
}

/// The steps of a `trace` result, one per line (what vswitchctl prints).
pub fn human(r: &TraceResult) -> String {
    let mut out = String::new();
    for s in &r.steps {
        out += s;
        out.push('\n');
    }
    out
}

fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b':')
        .collect();
    if let Some(bad) = digits.iter().find(|b| !b.is_ascii_hexdigit()) {
        return Err(format!(
            "trace: frame is not hex: {:?} is not a hex digit",
            char::from(*bad)
        ));
    }
    if digits.len() % 2 != 0 {
        return Err(format!(
            "trace: frame has an odd number of hex digits ({})",
            digits.len()
        ));
    }
    Ok(digits
        .chunks(2)
        .map(|d| {
            let n = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            n(d[0]) << 4 | n(d[1])
        })
        .collect())
}

/// Runs `trace` against the running switch.
pub fn run(c: &Controller, p: &TraceParams) -> Result<TraceResult, RpcError> {
    let entry = c
        .port(&p.port)
        .ok_or_else(|| RpcError::not_found(format!("trace: no port named {:?}", p.port)))?;
    let bytes = build_frame(p).map_err(RpcError::params)?;
    let sw = c.switch();
    let t = engine_trace::trace(&sw.snapshot(), sw.fdb(), entry.id, &bytes, sw.now_secs())
        .map_err(|e| match e {
            engine_trace::TraceError::TooLong(_) => RpcError::params(format!("trace: {e}")),
            _ => RpcError::failed(format!("trace: {e}")),
        })?;
    Ok(describe(c, entry, &t))
}

fn name(c: &Controller, id: PortId) -> String {
    c.port_name(id)
        .map_or_else(|| format!("#{id}"), str::to_string)
}

fn mode_name(m: &VlanMode) -> &'static str {
    match m {
        VlanMode::Access(_) => "access",
        VlanMode::Trunk { .. } => "trunk",
        VlanMode::Guest { .. } => "guest",
    }
}

/// A port's VLAN settings in words: `access VLAN 10`, `trunk of 10,20,
/// native VLAN 99`, `guest (every VLAN), no native VLAN`.
fn mode_words(m: &VlanMode) -> String {
    let native = |n: &Option<vswitch_dataplane::VlanId>| match n {
        Some(v) => format!("native VLAN {v}"),
        None => "no native VLAN".to_string(),
    };
    match m {
        VlanMode::Access(v) => format!("access VLAN {v}"),
        VlanMode::Trunk { allowed, native: n } => {
            format!("trunk of {}, {}", allowed, native(n))
        }
        VlanMode::Guest { native: n } => format!("guest (every VLAN tagged), {}", native(n)),
    }
}

/// `port P trunk_vlans = "10,20"` as configured (the default spelled out).
fn trunk_vlans_setting(e: &PortEntry) -> String {
    let list = e
        .settings
        .trunk_vlans
        .as_ref()
        .map_or_else(|| "1-4094".to_string(), |l| l.to_string());
    format!("port {} trunk_vlans = \"{list}\"", e.settings.name)
}

fn tag_words(t: Tci) -> String {
    if t.vid() == 0 {
        format!("priority tag (PCP {})", t.pcp())
    } else {
        format!("tag VID {} PCP {}", t.vid(), t.pcp())
    }
}

/// The setting behind a drop on receipt, if a setting caused it.
fn drop_setting(e: &PortEntry, reason: DropReason) -> Option<String> {
    let n = &e.settings.name;
    match reason {
        DropReason::VlanNotAllowed => Some(trunk_vlans_setting(e)),
        DropReason::TaggedOnAccess => Some(format!("port {n} vlan_mode = \"access\"")),
        DropReason::UntaggedNoNative => Some(format!(
            "port {n} vlan_mode = \"{}\" without vlan (no native VLAN)",
            e.settings.vlan_mode
        )),
        DropReason::TooLarge => Some(match e.settings.mtu {
            Some(m) => format!("port {n} mtu = {m}"),
            None => format!(
                "port {n} follows its interface's MTU {} (set mtu to change it)",
                e.iface_mtu()
            ),
        }),
        _ => None,
    }
}

fn describe(c: &Controller, entry: &PortEntry, t: &Trace) -> TraceResult {
    let mut steps = Vec::new();
    let port = entry.settings.name.clone();
    let (dst, src, tag) = match t.header {
        Ok(L2Header { dst, src, tag }) => (
            Some(dst),
            Some(src),
            match tag {
                TagKind::Untagged => None,
                TagKind::Priority(t) | TagKind::Tagged(t) => Some(t),
            },
        ),
        Err(_) => (None, None, None),
    };
    let show = |m: Option<Mac>| m.map_or_else(|| "?".to_string(), |m| m.to_string());
    steps.push(format!(
        "received on {port} ({}): {} bytes, {} -> {}, {}",
        mode_words(&t.port.vlan),
        t.len,
        show(src),
        show(dst),
        tag.map_or_else(|| "untagged".to_string(), tag_words),
    ));
    if entry.link.state != LinkState::Up {
        steps.push(format!(
            "note: {port}'s link is {}: the switch receives nothing on it now",
            entry.link.state
        ));
    }
    let mut drop = None;
    let vlan = match t.classified {
        Ok(cl) => {
            let why = match (&t.port.vlan, tag) {
                (VlanMode::Access(_), None) => "untagged on an access port".to_string(),
                (VlanMode::Access(_), Some(_)) => {
                    "priority tag on an access port (PCP kept)".to_string()
                }
                (m, None) => format!("untagged on a {} port: native VLAN", mode_name(m)),
                (m, Some(t)) if t.vid() == 0 => format!(
                    "priority tag on a {} port: native VLAN, PCP {} kept",
                    mode_name(m),
                    t.pcp()
                ),
                (VlanMode::Trunk { native, .. }, Some(t)) if *native == Some(cl.vlan) => {
                    format!("tagged {} on a trunk: its native VLAN, allowed", t.vid())
                }
                (VlanMode::Trunk { allowed, .. }, Some(t)) => format!(
                    "tagged {} on a trunk, {} in trunk_vlans {allowed}",
                    t.vid(),
                    t.vid()
                ),
                (_, Some(t)) => format!("tagged {} on a guest port (every VLAN)", t.vid()),
            };
            steps.push(format!("classify: {why} -> VLAN {}", cl.vlan));
            Some(cl.vlan.get())
        }
        Err(reason) => {
            let why = match (reason, &t.port.vlan, tag) {
                (DropReason::VlanNotAllowed, VlanMode::Trunk { allowed, .. }, Some(tg)) => {
                    format!("tag {} not in trunk_vlans {allowed}", tg.vid())
                }
                (DropReason::TaggedOnAccess, VlanMode::Access(v), Some(tg)) => format!(
                    "tagged {} on an access port (VLAN {v}): access ports take untagged frames only",
                    tg.vid()
                ),
                (DropReason::UntaggedNoNative, m, _) => format!(
                    "{} on a {} port without a native VLAN",
                    if tag.is_some() {
                        "priority-tagged"
                    } else {
                        "untagged"
                    },
                    mode_name(m)
                ),
                (DropReason::VlanReserved, _, _) => "VID 4095 is reserved".to_string(),
                (DropReason::TooLarge, _, _) => format!(
                    "{} bytes is more than {port} takes (max_frame_len {} for a tagged frame, 4 less untagged)",
                    t.len, t.port.max_frame_len
                ),
                (DropReason::Runt, _, _) => "shorter than an Ethernet header".to_string(),
                (DropReason::TruncatedVlanTag, _, _) => {
                    "EtherType 0x8100 but no room for the tag".to_string()
                }
                (DropReason::QinQ, _, _) => {
                    "802.1ad (QinQ) outer tag: not switched".to_string()
                }
                (r, _, _) => r.name().to_string(),
            };
            let setting = drop_setting(entry, reason);
            steps.push(format!(
                "classify: {why} -> drop {}{}",
                reason.name(),
                setting
                    .as_ref()
                    .map_or_else(String::new, |s| format!(" (setting: {s})"))
            ));
            drop = Some(DropInfo {
                reason: reason.name().to_string(),
                setting,
            });
            None
        }
    };
    let source = t.source.map(|s| {
        let srcm = show(src);
        let (action, at, words) = match s {
            SourceCheck::LearningOff => (
                "learning_off",
                None,
                format!("not learned: port {port} learning = false"),
            ),
            SourceCheck::NotLearnable => (
                "not_learnable",
                None,
                "not learned: a group or zero address".to_string(),
            ),
            SourceCheck::New => (
                "new",
                None,
                format!(
                    "new in VLAN {}: would be learned on {port}",
                    vlan.unwrap_or(0)
                ),
            ),
            SourceCheck::NewButFull => (
                "table_full",
                None,
                "new, but the FDB is full: learning would be refused (fdb_full)".to_string(),
            ),
            SourceCheck::Known { is_static } => (
                "known",
                Some(entry.id),
                format!(
                    "known on {port}{}",
                    if is_static {
                        " (static)"
                    } else {
                        ": its age would be refreshed"
                    }
                ),
            ),
            SourceCheck::Moves { from } => (
                "move",
                Some(from),
                format!("known on {}: would move to {port}", name(c, from)),
            ),
            SourceCheck::StaticElsewhere { port: p } => (
                "static_conflict",
                Some(p),
                format!(
                    "static on {}: learning would be refused (fdb_static_conflict)",
                    name(c, p)
                ),
            ),
        };
        steps.push(format!("source {srcm}: {words} (trace learns nothing)"));
        SourceInfo {
            action: action.to_string(),
            port: at.map(|p| name(c, p)),
        }
    });
    let destination = t.destination.map(|d| {
        let dstm = show(dst);
        let (lookup, at, words) = match d {
            Destination::Broadcast => ("broadcast", None, "broadcast -> flood".to_string()),
            Destination::Multicast => ("multicast", None, "multicast -> flood".to_string()),
            Destination::Hit {
                port: p,
                in_vlan: true,
            } => ("hit", Some(p), format!("FDB hit on {}", name(c, p))),
            Destination::Hit { port: p, .. } => (
                "hit",
                Some(p),
                format!(
                    "FDB entry on {}, which does not carry VLAN {} -> flood as unknown",
                    name(c, p),
                    vlan.unwrap_or(0)
                ),
            ),
            Destination::Miss => (
                "miss",
                None,
                "FDB miss -> flood (unknown unicast)".to_string(),
            ),
        };
        steps.push(format!("destination {dstm}: {words}"));
        DestinationInfo {
            lookup: lookup.to_string(),
            port: at.map(|p| name(c, p)),
        }
    });
    let disposition = match t.disposition {
        Disposition::Forward(_) => "forward",
        Disposition::Flood(_) => "flood",
        Disposition::Drop(_) => "drop",
    };
    match t.disposition {
        Disposition::Forward(p) => steps.push(format!("disposition: forward to {}", name(c, p))),
        Disposition::Flood(ps) => steps.push(format!(
            "disposition: flood to {}",
            ps.iter().map(|p| name(c, p)).collect::<Vec<_>>().join(", ")
        )),
        Disposition::Drop(reason) => {
            if drop.is_none() {
                let why = match reason {
                    DropReason::SamePort => {
                        format!("the destination is on {port}, where the frame came from")
                    }
                    DropReason::NoOutput => "no other port may receive it".to_string(),
                    r => r.name().to_string(),
                };
                steps.push(format!("disposition: drop {} ({why})", reason.name()));
                drop = Some(DropInfo {
                    reason: reason.name().to_string(),
                    setting: None,
                });
            }
        }
    }
    let mut outputs = Vec::new();
    let mut excluded = Vec::new();
    for o in &t.outputs {
        let e = c.ports().iter().find(|e| e.id == o.port);
        let pname = name(c, o.port);
        if let Some(e) = e.filter(|e| e.link.state != LinkState::Up) {
            let detail = format!(
                "link {} ({}): the worker drops it (link_down)",
                e.link.state, e.settings.iface
            );
            steps.push(format!("  x {pname}: {detail}"));
            excluded.push(ExcludedInfo {
                port: pname,
                reason: "link_down".into(),
                detail,
            });
            continue;
        }
        let (enc, tag, words) = match o.encoding {
            Encoding::Untagged => ("untagged", None, "untagged".to_string()),
            Encoding::Push(t) => ("push", Some(t), format!("push {}", tag_words(t))),
            Encoding::Pop(t) => ("pop", None, format!("pop {}", tag_words(t))),
            Encoding::Keep(t) => ("keep", Some(t), format!("keep {}", tag_words(t))),
            Encoding::Retag { from, to } => (
                "retag",
                Some(to),
                format!("{} -> {}", tag_words(from), tag_words(to)),
            ),
        };
        steps.push(format!("  -> {pname}: {words}, {} bytes", o.len));
        outputs.push(OutputInfo {
            port: pname,
            encoding: enc.to_string(),
            tag: tag.map(TagInfo::from),
            len: o.len,
        });
    }
    for &(q, why) in &t.excluded {
        let pname = name(c, q);
        let e = c.ports().iter().find(|e| e.id == q);
        let mode = e.map_or_else(String::new, |e| mode_words(&e.config.vlan));
        let (reason, detail) = match why {
            Excluded::Ingress => ("ingress", "the port it came from".to_string()),
            Excluded::NotInVlan => (
                "not_in_vlan",
                format!("does not carry VLAN {} ({mode})", vlan.unwrap_or(0)),
            ),
            Excluded::NotDestination => (
                "not_destination",
                "the destination is known elsewhere (not promiscuous)".to_string(),
            ),
            Excluded::NoUnknownUnicast => (
                "no_unknown_unicast",
                format!("unknown unicast: port {pname} flood_unknown_unicast = false"),
            ),
            Excluded::Dropped(r) => (
                r.name(),
                match (r, e) {
                    (DropReason::TooLarge, Some(e)) => format!(
                        "too large for it after encoding (max_frame_len {}, mtu {})",
                        e.max_frame_len(),
                        e.mtu()
                    ),
                    _ => format!("dropped at output ({})", r.name()),
                },
            ),
            Excluded::FrameDropped => ("frame_dropped", "the frame was dropped".to_string()),
        };
        steps.push(format!("  x {pname}: {detail}"));
        excluded.push(ExcludedInfo {
            port: pname,
            reason: reason.to_string(),
            detail,
        });
    }
    TraceResult {
        port,
        vlan_mode: mode_name(&t.port.vlan).to_string(),
        frame: FrameInfo {
            len: t.len,
            dst: dst.map(MacAddr),
            src: src.map(MacAddr),
            tag: tag.map(TagInfo::from),
        },
        vlan,
        source,
        destination,
        disposition: disposition.to_string(),
        drop,
        outputs,
        excluded,
        steps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> TraceParams {
        TraceParams {
            port: "p1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn frames_from_fields_and_hex() {
        let mut q = p();
        q.dst = Some("ff:ff:ff:ff:ff:ff".parse().unwrap());
        q.src = Some("02:00:00:00:00:01".parse().unwrap());
        q.vlan = Some(20);
        q.pcp = Some(5);
        let f = build_frame(&q).unwrap();
        assert_eq!(f.len(), 60);
        assert_eq!(&f[12..18], &[0x81, 0x00, 0xa0, 0x14, 0x88, 0xb5]);
        let mut h = p();
        h.frame = Some("ffffffffffff 02:00:00:00:00:01 0800".into());
        assert_eq!(build_frame(&h).unwrap().len(), 14);
    }

    #[test]
    fn bad_input_names_the_field() {
        let err = |q: TraceParams| build_frame(&q).unwrap_err();
        let mut q = p();
        q.frame = Some("ffzz".into());
        assert!(err(q.clone()).contains("not hex"), "{}", err(q));
        q.frame = Some("fff".into());
        assert!(err(q).contains("odd number"));
        let mut q = p();
        q.frame = Some("ffffffffffff".into());
        assert!(err(q).contains("at least 14"));
        assert!(err(p()).contains("dst and src"));
        let mut q = p();
        q.dst = Some("02:00:00:00:00:02".parse().unwrap());
        q.src = Some("02:00:00:00:00:01".parse().unwrap());
        q.pcp = Some(3);
        assert!(err(q.clone()).contains("pcp needs vlan"));
        q.vlan = Some(4096);
        assert!(err(q.clone()).contains("invalid vlan 4096"));
        q.vlan = Some(1);
        q.pcp = Some(8);
        assert!(err(q.clone()).contains("invalid pcp 8"));
        q.frame = Some("00".into());
        assert!(err(q).contains("not both"));
    }
}

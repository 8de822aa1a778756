//! Fuzzes the frame parsers and the whole switching pipeline.
//!
//! Input layout (every byte after the header is an "op" stream; running out
//! of bytes just ends the run):
//!
//! - byte 0: FDB options (capacity 16 or 1024, aging) and whether port 3 is
//!   `PortId` 63;
//! - bytes 1..9: two bytes per port for 4 ports (mode, VLANs, flags,
//!   `max_frame_len`);
//! - then ops: raw frame on one port, templated frame (MACs from a small
//!   table so learning and lookups hit), a batch of frames, clock and FDB
//!   control, reconfiguration.
//!
//! Every frame is also read through `EthernetFrame` (`new_checked`, then
//! `l2_header` as the pipeline does, and every accessor), whose answers
//! must agree with the raw bytes.
//!
//! Checked after every `receive`: one disposition per frame; nothing is
//! transmitted for dropped frames, on the ingress port, or on ports the
//! disposition does not name; every transmitted frame is 12..=3844 bytes
//! and fits its port; single frames come out with the same addresses and
//! body, tagged exactly when the egress port tags the frame's VLAN.
#![no_main]

use libfuzzer_sys::fuzz_target;

use vswitch_engine::fdb::{FdbConfig, FlushScope};
use vswitch_engine::limits::MAX_PORTS;
use vswitch_engine::mem::MAX_RX_LEN;
use vswitch_engine::mem::MemSwitch;
use vswitch_engine::wire::{EthernetFrame, L2Header, TagKind};
use vswitch_engine::{Disposition, DropReason, Mac, PortConfig, PortId, PortSet, Snapshot};
use vswitch_engine::{VlanId, VlanMode, VlanSet};

/// Largest frame any port may transmit: a full buffer plus a pushed tag.
const MAX_TX_LEN: usize = MAX_RX_LEN + 4;

/// VLANs the configuration picks from (few, so ports share them).
const VLANS: [u16; 4] = [1, 2, 3, 4094];
/// Trunk allowed lists.
const ALLOWED: [&str; 8] = ["1-4", "1,3", "2-4094", "4094", "1-10,20", "3", "", "1-4094"];
/// Per-port frame limits (above MAX_RX_LEN included on purpose).
const MAX_LEN: [usize; 8] = [MAX_RX_LEN, 1500, 1518, 64, 18, MAX_TX_LEN, 9000, 14];
/// MACs of templated frames: unicast hosts, zero, multicast, broadcast.
const MACS: [[u8; 6]; 8] = [
    [0x02, 0, 0, 0, 0, 1],
    [0x02, 0, 0, 0, 0, 2],
    [0x02, 0, 0, 0, 0, 3],
    [0x02, 0, 0, 0, 0, 4],
    [0x00, 0x11, 0x22, 0x33, 0x44, 0x55],
    [0; 6],
    [0x01, 0x00, 0x5e, 0, 0, 1],
    [0xff; 6],
];

struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.byte()?, self.byte()?]))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes([self.byte()?, self.byte()?, self.byte()?, self.byte()?]))
    }

    /// Up to `n` bytes (fewer at the end of the input).
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }

    /// A length: one byte below 0xf0, else the next two bytes.
    fn len(&mut self) -> Option<usize> {
        let b = self.byte()?;
        if b < 0xf0 {
            Some(b as usize)
        } else {
            Some(self.u16()? as usize % (MAX_RX_LEN + 64))
        }
    }
}

fn vlan(b: u8) -> VlanId {
    VlanId::new(VLANS[b as usize % VLANS.len()]).unwrap()
}

fn native(b: u8) -> Option<VlanId> {
    (b & 4 == 0).then(|| vlan(b))
}

fn port_config(mode: u8, param: u8) -> PortConfig {
    let vlan_mode = match mode & 3 {
        0 | 3 => VlanMode::Access(vlan(param)),
        1 => VlanMode::Trunk {
            allowed: ALLOWED[(param >> 3) as usize % ALLOWED.len()]
                .parse::<VlanSet>()
                .unwrap(),
            native: native(param),
        },
        _ => VlanMode::Guest {
            native: native(param),
        },
    };
    let mut cfg = PortConfig::new(vlan_mode);
    cfg.learning = mode & 4 == 0;
    cfg.flood_unknown_unicast = mode & 8 == 0;
    cfg.promiscuous = mode & 16 != 0;
    cfg.max_frame_len = MAX_LEN[(mode >> 5) as usize];
    cfg
}

fn ports(ids: &[PortId; 4], input: &mut Input<'_>) -> Option<Vec<(PortId, PortConfig)>> {
    let mut v = Vec::new();
    for &id in ids {
        v.push((id, port_config(input.byte()?, input.byte()?)));
    }
    Some(v)
}

/// Ingress ports: the four configured ones, and unconfigured ones.
fn ingress(ids: &[PortId; 4], b: u8) -> PortId {
    match b % 6 {
        i @ 0..=3 => ids[i as usize],
        4 => PortId::new(5).unwrap(),
        _ => PortId::new(62).unwrap(),
    }
}

/// The header the pipeline reads must agree with the view's accessors and
/// the raw bytes, and nothing may panic.
fn parse_checks(data: &[u8]) -> Result<L2Header, DropReason> {
    let checked = EthernetFrame::new_checked(data);
    let parsed = checked.as_ref().map_err(|e| *e).and_then(|f| f.l2_header());
    match (&parsed, &checked) {
        (Ok(h), Ok(f)) => {
            let (dst, src, ethertype) = (f.dst(), f.src(), f.ethertype());
            let (tci, inner, payload, hl) =
                (f.tci(), f.inner_ethertype(), f.payload(), f.header_len());
            assert_eq!(h.dst, dst);
            assert_eq!(h.src, src);
            assert_eq!(dst.octets(), data[..6]);
            assert_eq!(src.octets(), data[6..12]);
            assert_eq!(u16::from(ethertype), u16::from_be_bytes([data[12], data[13]]));
            assert_eq!(hl + payload.len(), data.len());
            match h.tag {
                TagKind::Untagged => {
                    assert_eq!((tci, hl, inner), (None, 14, ethertype));
                    assert!(!f.is_tagged());
                }
                TagKind::Priority(t) | TagKind::Tagged(t) => {
                    assert_eq!((tci, hl), (Some(t), 18));
                    assert_eq!((t.vid() == 0), matches!(h.tag, TagKind::Priority(_)));
                    assert_eq!(u16::from(inner), u16::from_be_bytes([data[16], data[17]]));
                }
            }
        }
        (Err(DropReason::QinQ), Ok(f)) => {
            assert_eq!(u16::from(f.ethertype()), 0x88a8);
            let _ = (f.dst(), f.src(), f.tci(), f.inner_ethertype(), f.payload(), f.header_len());
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        (p, c) => panic!("parsers disagree: parse={p:?} new_checked={:?}", c.as_ref().err()),
    }
    parsed
}

/// The ports a disposition sends to.
fn targets(d: &Disposition) -> PortSet {
    match *d {
        Disposition::Forward(q) => PortSet::one(q),
        Disposition::Flood(s) => s,
        Disposition::Drop(_) => PortSet::EMPTY,
    }
}

fn max_len(snap: &Snapshot, p: PortId) -> usize {
    snap.port(p).map_or(0, |c| c.max_frame_len)
}

/// Feeds `frames` on `ingress` and checks everything that came out.
fn receive(sw: &mut MemSwitch, ingress: PortId, frames: &[&[u8]]) {
    let headers: Vec<_> = frames.iter().map(|f| parse_checks(f)).collect();
    let d = sw.receive(ingress, frames);
    assert_eq!(d.len(), frames.len(), "one disposition per frame");
    let tx: Vec<(PortId, Vec<Vec<u8>>)> = (0..MAX_PORTS)
        .map(|i| PortId::new(i).unwrap())
        .map(|p| (p, sw.take_tx(p)))
        .filter(|(_, out)| !out.is_empty())
        .collect();
    let snap = &*sw.snapshot();
    let ing_cfg = snap.port(ingress);

    let mut allowed = [0usize; MAX_PORTS];
    for ((disp, frame), header) in d.iter().zip(frames).zip(&headers) {
        let set = targets(disp);
        assert!(!set.contains(ingress), "{disp:?} includes ingress {ingress:?}");
        assert!(!matches!(disp, Disposition::Flood(s) if s.is_empty()), "empty flood");
        if frame.len() > MAX_RX_LEN {
            assert_eq!(*disp, Disposition::Drop(DropReason::TooLarge));
            continue;
        }
        let Some(cfg) = ing_cfg else {
            assert_eq!(*disp, Disposition::Drop(DropReason::PortUnknown));
            continue;
        };
        match (*header, cfg.vlan.classify(header.map_or(TagKind::Untagged, |h| h.tag))) {
            (Err(r), _) | (Ok(_), Err(r)) => {
                assert_eq!(*disp, Disposition::Drop(r), "frame {frame:02x?}");
            }
            (Ok(_), Ok(ing)) => {
                if let Disposition::Drop(r) = disp {
                    // TooLarge: over the ingress port's max_frame_len.
                    assert!(
                        matches!(r, DropReason::SamePort | DropReason::NoOutput | DropReason::TooLarge),
                        "{r:?}"
                    );
                }
                for p in set.iter() {
                    let c = snap.port(p).expect("output to an unconfigured port");
                    assert!(c.vlan.carries(ing.vlan), "{p:?} not in {:?}", ing.vlan);
                }
            }
        }
        for p in set.iter() {
            allowed[p.index()] += 1;
        }
    }

    for (p, out) in &tx {
        assert!(
            out.len() <= allowed[p.index()],
            "{p:?} sent {} frames, dispositions allow {}",
            out.len(),
            allowed[p.index()]
        );
        for f in out {
            assert!(f.len() >= 12 && f.len() <= MAX_TX_LEN, "tx of {} bytes", f.len());
            assert!(f.len() <= max_len(snap, *p), "tx of {} bytes on {p:?}", f.len());
        }
    }

    // A single frame: check every copy byte for byte.
    if let ([disp], [frame], [Ok(h)], Some(cfg)) = (&d[..], frames, &headers[..], ing_cfg) {
        let Ok(ing) = cfg.vlan.classify(h.tag) else {
            return;
        };
        let set = targets(disp);
        let in_tagged = !matches!(h.tag, TagKind::Untagged);
        let body = &frame[if in_tagged { 16 } else { 12 }..];
        for (p, out) in &tx {
            assert_eq!(out.len(), 1);
            let out = &out[0];
            assert_eq!(out[..12], frame[..12], "addresses changed");
            let mode = &snap.port(*p).unwrap().vlan;
            if mode.tags(ing.vlan) {
                assert_eq!(out[12..14], [0x81, 0x00], "{p:?} should get a tag");
                assert_eq!(out[14..16], ing.tci.0.to_be_bytes(), "wrong TCI on {p:?}");
                assert_eq!(out[16..], *body, "body changed");
            } else {
                assert_eq!(out[12..], *body, "{p:?}: body changed / not untagged");
            }
        }
        for p in set.iter() {
            if !tx.iter().any(|(q, _)| *q == p) {
                // Only a size limit may keep a port named in the disposition
                // from getting the frame.
                let tags = snap.port(p).unwrap().vlan.tags(ing.vlan);
                let len = 12 + body.len() + if tags { 4 } else { 0 };
                assert!(
                    len > max_len(snap, p),
                    "{p:?} in {disp:?} got nothing ({len} bytes, max {})",
                    max_len(snap, p)
                );
            }
        }
    }
}

/// A frame built from the MAC table, with an optional tag.
fn template(input: &mut Input<'_>) -> Option<Vec<u8>> {
    let a = input.byte()?;
    let b = input.byte()?;
    let mut f = Vec::with_capacity(64);
    f.extend_from_slice(&MACS[(a & 7) as usize]);
    f.extend_from_slice(&MACS[((a >> 3) & 7) as usize]);
    match b & 3 {
        0 => {}
        1 => {
            // 802.1Q with PCP from the input and a VID from the table
            // (or 0 / 4095 / anything).
            let vid = match (b >> 2) & 7 {
                0 => 0,
                1 => 4095,
                2 => input.u16()? & 0xfff,
                v => VLANS[v as usize % VLANS.len()],
            };
            f.extend_from_slice(&[0x81, 0x00]);
            f.extend_from_slice(&((((b >> 5) as u16) << 13) | vid).to_be_bytes());
        }
        2 => f.extend_from_slice(&[0x88, 0xa8, 0x00, 0x0a]),
        _ => f.extend_from_slice(&[0x81, 0x00, 0x00, VLANS[(b >> 2) as usize % 4] as u8]),
    }
    f.extend_from_slice(&[0x08, 0x00]);
    let pad = input.len()?;
    f.resize(f.len() + pad, 0x5a);
    Some(f)
}

fn run(data: &[u8]) -> Option<()> {
    // The raw input is a frame too.
    let _ = parse_checks(data);

    let mut input = Input(data);
    let opts = input.byte()?;
    // Default settings except a smaller table: building the default
    // 65536-entry one is a third of an iteration, and a 16-entry one
    // reaches `Learn::Full`.
    let mut fdb = FdbConfig::default();
    fdb.capacity = if opts & 1 != 0 { 16 } else { 1024 };
    fdb.aging_secs = [300, 0, 1, 10][((opts >> 1) & 3) as usize];
    let last = if opts & 8 != 0 { 63 } else { 3 };
    let ids = [0, 1, 2, last].map(|i| PortId::new(i).unwrap());
    let mut sw = MemSwitch::new(fdb, ports(&ids, &mut input)?).unwrap();

    while !input.0.is_empty() {
        let op = input.byte()?;
        let port = ingress(&ids, op >> 3);
        match op & 7 {
            // One raw frame.
            0 | 1 => {
                let n = input.len()?;
                let f = input.take(n);
                receive(&mut sw, port, &[f]);
            }
            // One templated frame.
            2 | 3 => {
                let f = template(&mut input)?;
                receive(&mut sw, port, &[&f]);
            }
            // A batch (may span two pipeline batches), raw or templated.
            4 => {
                let count = input.byte()? as usize % 72 + 1;
                let mut owned = Vec::new();
                for _ in 0..count {
                    let Some(kind) = input.byte() else { break };
                    if kind & 1 == 0 {
                        let n = input.len().unwrap_or(0);
                        owned.push(input.take(n).to_vec());
                    } else if let Some(f) = template(&mut input) {
                        owned.push(f);
                    }
                }
                let frames: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
                receive(&mut sw, port, &frames);
            }
            // Clock.
            5 => {
                let b = input.byte()?;
                let now = match b & 3 {
                    0 => sw.now().wrapping_add(1),
                    1 => sw.now().wrapping_add(b as u32 * 8),
                    2 => input.u32()?,
                    _ => sw.now().wrapping_add(1 << 24),
                };
                sw.set_now(now);
                if b & 4 != 0 {
                    sw.fdb().sweep(now);
                }
            }
            // FDB control.
            6 => {
                let b = input.byte()?;
                let fdb = sw.fdb().clone();
                let now = sw.now();
                match b & 7 {
                    0 => fdb.flush(FlushScope::All, true),
                    1 => fdb.flush(FlushScope::All, false),
                    2 => fdb.flush(FlushScope::Port(port), b & 8 != 0),
                    3 => fdb.flush(FlushScope::Vlan(vlan(b >> 4)), b & 8 != 0),
                    4 | 5 => {
                        let mac = Mac::new(MACS[(b >> 3) as usize & 7]);
                        let _ = fdb.add_static(vlan(b >> 6), mac, port);
                    }
                    6 => {
                        let mac = Mac::new(MACS[(b >> 3) as usize & 7]);
                        let _ = fdb.remove(vlan(b >> 6), mac, now);
                    }
                    _ => {
                        let _ = fdb.sweep(now);
                        for e in fdb.entries(now) {
                            assert!(e.port.index() < MAX_PORTS);
                        }
                    }
                }
            }
            // New port configuration, through the engine's rules.
            _ => {
                let p = ports(&ids, &mut input)?;
                sw.set_ports(p).expect("no static entries to strand");
            }
        }
    }
    Some(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});

//! Model-based test: random port configurations and random sequences of
//! frames, flushes, static entries, reconfigurations, clock steps and
//! sweeps go through the engine (two in-memory workers sharing one FDB,
//! each batch on a randomly chosen one, as ports on two cores would) and
//! through the reference switch below. Every batch must produce identical dispositions
//! and identical bytes on every port, and the FDBs must agree.
//!
//! The reference imports nothing from the engine's FDB, VLAN or pipeline
//! modules: it parses frames, keeps its table in a `HashMap`, encodes
//! egress frames on its own, straight from the VLAN semantics in docs/ARCHITECTURE.md, and
//! states its decisions in its own type ([`Out`]). Engine types appear
//! only on the engine's side: to configure it and to translate its
//! answers into `Out` for comparison.

use std::collections::{BTreeSet, HashMap};

use proptest::prelude::*;
use vswitch_engine::fdb::{FdbConfig, FlushScope};
use vswitch_engine::mem::MemSwitch;
use vswitch_engine::{Disposition, Mac, PortConfig, PortId, VlanId, VlanMode, VlanSet};

const PORTS: usize = 5;
const VLANS: [u16; 4] = [1, 2, 3, 4];

// ---------- test-side description of a port ----------

#[derive(Debug, Clone, PartialEq)]
enum Mode {
    Access(u16),
    Trunk {
        allowed: Vec<u16>,
        native: Option<u16>,
    },
    Guest {
        native: Option<u16>,
    },
}

#[derive(Debug, Clone, PartialEq)]
struct Port {
    mode: Mode,
    learning: bool,
    flood_unknown: bool,
    promiscuous: bool,
    max_frame: usize,
}

impl Port {
    fn carries(&self, vlan: u16) -> bool {
        match &self.mode {
            Mode::Access(v) => *v == vlan,
            Mode::Trunk { allowed, native } => allowed.contains(&vlan) || *native == Some(vlan),
            Mode::Guest { .. } => (1..=4094).contains(&vlan),
        }
    }
    fn native(&self) -> Option<u16> {
        match &self.mode {
            Mode::Access(v) => Some(*v),
            Mode::Trunk { native, .. } | Mode::Guest { native } => *native,
        }
    }
    fn untagged_out(&self, vlan: u16) -> bool {
        self.native() == Some(vlan)
    }
    /// The engine's configuration for this port (the only conversion).
    fn engine(&self) -> PortConfig {
        let vid = |v: u16| VlanId::new(v).unwrap();
        let mode = match &self.mode {
            Mode::Access(v) => VlanMode::Access(vid(*v)),
            Mode::Trunk { allowed, native } => VlanMode::Trunk {
                allowed: allowed.iter().map(|&v| vid(v)).collect::<VlanSet>(),
                native: native.map(vid),
            },
            Mode::Guest { native } => VlanMode::Guest {
                native: native.map(vid),
            },
        };
        let mut c = PortConfig::new(mode);
        c.learning = self.learning;
        c.flood_unknown_unicast = self.flood_unknown;
        c.promiscuous = self.promiscuous;
        c.max_frame_len = self.max_frame;
        c
    }
}

// ---------- the reference switch ----------

/// A decision, in the reference's own terms: ports as a bitmap, drop
/// reasons by their counter names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Out {
    Forward(usize),
    Flood(u64),
    Drop(&'static str),
}

/// The engine's decision in reference terms (engine side only).
fn from_engine(d: &Disposition) -> Out {
    match d {
        Disposition::Forward(p) => Out::Forward(p.index()),
        Disposition::Flood(s) => Out::Flood(s.0),
        Disposition::Drop(r) => Out::Drop(r.name()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Entry {
    port: usize,
    is_static: bool,
    seen: u64,
}

struct Reference {
    ports: Vec<Option<Port>>,
    fdb: HashMap<(u16, [u8; 6]), Entry>,
    aging: u64,
    now: u64,
}

enum Parsed {
    Drop(&'static str),
    Ok {
        dst: [u8; 6],
        src: [u8; 6],
        /// (pcp/dei bits, vid) of the 802.1Q tag, if any.
        tag: Option<(u16, u16)>,
    },
}

fn parse(f: &[u8]) -> Parsed {
    if f.len() < 14 {
        return Parsed::Drop("runt");
    }
    let mut dst = [0; 6];
    let mut src = [0; 6];
    dst.copy_from_slice(&f[0..6]);
    src.copy_from_slice(&f[6..12]);
    match u16::from_be_bytes([f[12], f[13]]) {
        0x88a8 => Parsed::Drop("qinq_unsupported"),
        0x8100 if f.len() < 18 => Parsed::Drop("truncated_vlan_tag"),
        0x8100 => {
            let tci = u16::from_be_bytes([f[14], f[15]]);
            Parsed::Ok {
                dst,
                src,
                tag: Some((tci & 0xf000, tci & 0x0fff)),
            }
        }
        _ => Parsed::Ok {
            dst,
            src,
            tag: None,
        },
    }
}

fn is_group(m: &[u8; 6]) -> bool {
    m[0] & 1 == 1
}

/// `f` re-encoded untagged, or tagged with `tci`.
fn encode(f: &[u8], had_tag: bool, out_tci: Option<u16>) -> Vec<u8> {
    let body = if had_tag { &f[16..] } else { &f[12..] };
    let mut o = f[..12].to_vec();
    if let Some(tci) = out_tci {
        o.extend_from_slice(&[0x81, 0x00]);
        o.extend_from_slice(&tci.to_be_bytes());
    }
    o.extend_from_slice(body);
    o
}

/// (VLAN, PCP/DEI bits, dst, src, arrived with a tag)
type Classified = (u16, u16, [u8; 6], [u8; 6], bool);

impl Reference {
    fn visible(&self, key: &(u16, [u8; 6])) -> Option<Entry> {
        let e = *self.fdb.get(key)?;
        let fresh = e.is_static || self.aging == 0 || self.now - e.seen <= self.aging;
        fresh.then_some(e)
    }

    /// One batch from `ingress`: classify all, learn all, then forward all.
    fn batch(&mut self, ingress: usize, frames: &[Vec<u8>]) -> (Vec<Out>, Vec<Vec<Vec<u8>>>) {
        let mut tx = vec![Vec::new(); PORTS];
        let Some(inp) = self.ports[ingress].clone() else {
            return (
                frames.iter().map(|_| Out::Drop("port_unknown")).collect(),
                tx,
            );
        };
        // Classify.
        let classified: Vec<Result<Classified, &'static str>> = frames
            .iter()
            .map(|f| match parse(f) {
                Parsed::Drop(r) => Err(r),
                Parsed::Ok { dst, src, tag } => {
                    let (prio, vid) = tag.unwrap_or((0, 0));
                    let vlan = if vid == 0 {
                        inp.native().ok_or("untagged_no_native")?
                    } else if matches!(inp.mode, Mode::Access(_)) {
                        return Err("tagged_on_access");
                    } else if vid == 4095 {
                        return Err("vlan_reserved");
                    } else if !inp.carries(vid) {
                        return Err("vlan_not_allowed");
                    } else {
                        vid
                    };
                    // Longer than the ingress port takes (an untagged
                    // frame counted with the tag it lacks): dropped on receipt.
                    if f.len() + if tag.is_some() { 0 } else { 4 } > inp.max_frame {
                        return Err("too_large");
                    }
                    Ok((vlan, prio, dst, src, tag.is_some()))
                }
            })
            .collect();
        // Learn every source first.
        if inp.learning {
            for &(vlan, _, _, src, _) in classified.iter().flatten() {
                if is_group(&src) || src == [0; 6] {
                    continue;
                }
                match self.visible(&(vlan, src)) {
                    Some(e) if e.is_static => {}
                    _ => {
                        self.fdb.insert(
                            (vlan, src),
                            Entry {
                                port: ingress,
                                is_static: false,
                                seen: self.now,
                            },
                        );
                    }
                }
            }
        }
        // Then decide every frame.
        let mut out = Vec::new();
        for (f, c) in frames.iter().zip(&classified) {
            let (vlan, prio, dst, _, had_tag) = match c {
                Err(r) => {
                    out.push(Out::Drop(r));
                    continue;
                }
                Ok(x) => *x,
            };
            let member =
                |q: usize| q != ingress && self.ports[q].as_ref().is_some_and(|p| p.carries(vlan));
            let promisc: BTreeSet<usize> = (0..PORTS)
                .filter(|&q| member(q) && self.ports[q].as_ref().unwrap().promiscuous)
                .collect();
            let (targets, unicast): (BTreeSet<usize>, bool) = if is_group(&dst) {
                ((0..PORTS).filter(|&q| member(q)).collect(), false)
            } else {
                match self.visible(&(vlan, dst)) {
                    Some(e) if e.port == ingress => {
                        out.push(Out::Drop("same_port"));
                        continue;
                    }
                    Some(e) if member(e.port) => {
                        let mut t = promisc.clone();
                        t.insert(e.port);
                        (t, true)
                    }
                    _ => {
                        let mut t: BTreeSet<usize> = (0..PORTS)
                            .filter(|&q| member(q) && self.ports[q].as_ref().unwrap().flood_unknown)
                            .collect();
                        t.extend(&promisc);
                        (t, false)
                    }
                }
            };
            if targets.is_empty() {
                out.push(Out::Drop("no_output"));
                continue;
            }
            let set: u64 = targets.iter().map(|&q| 1u64 << q).sum();
            out.push(if unicast && targets.len() == 1 {
                Out::Forward(*targets.iter().next().unwrap())
            } else {
                Out::Flood(set)
            });
            for &q in &targets {
                let port = self.ports[q].as_ref().unwrap();
                let tci = (!port.untagged_out(vlan)).then_some(prio | vlan);
                let bytes = encode(f, had_tag, tci);
                if bytes.len() + if tci.is_some() { 0 } else { 4 } <= port.max_frame {
                    tx[q].push(bytes);
                }
            }
        }
        (out, tx)
    }

    fn flush(&mut self, scope: &Scope, include_static: bool) {
        self.fdb.retain(|(vlan, _), e| {
            let hit = match scope {
                Scope::All => true,
                Scope::Port(p) => e.port == *p,
                Scope::Vlan(v) => vlan == v,
            };
            !(hit && (!e.is_static || include_static))
        });
    }

    fn entries(&self) -> BTreeSet<(u16, [u8; 6], usize, bool)> {
        self.fdb
            .keys()
            .filter_map(|k| self.visible(k).map(|e| (k.0, k.1, e.port, e.is_static)))
            .collect()
    }
}

// ---------- random operations ----------

#[derive(Debug, Clone)]
enum Scope {
    All,
    Port(usize),
    Vlan(u16),
}

#[derive(Debug, Clone)]
enum Op {
    /// (worker, ingress port, frames)
    Batch(bool, usize, Vec<Vec<u8>>),
    Flush(Scope, bool),
    AddStatic(u16, usize, usize),
    Remove(u16, usize),
    Reconfigure(usize, Option<Port>),
    Tick(u64),
    Sweep,
}

const MACS: [[u8; 6]; 8] = [
    [2, 0, 0, 0, 0, 1],
    [2, 0, 0, 0, 0, 2],
    [2, 0, 0, 0, 0, 3],
    [2, 0, 0, 0, 0, 4],
    [0xff; 6],
    [1, 0, 0x5e, 0, 0, 1],
    [0; 6],
    [2, 0, 0, 0, 0, 5],
];

fn vlan() -> impl Strategy<Value = u16> {
    prop::sample::select(VLANS.to_vec())
}

fn port_cfg() -> impl Strategy<Value = Port> {
    let mode = prop_oneof![
        vlan().prop_map(Mode::Access),
        (
            prop::collection::vec(vlan(), 0..4),
            prop::option::of(vlan())
        )
            .prop_map(|(allowed, native)| Mode::Trunk { allowed, native }),
        prop::option::of(vlan()).prop_map(|native| Mode::Guest { native }),
    ];
    (
        mode,
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.8),
        prop::bool::weighted(0.2),
        prop_oneof![9 => Just(3840usize), 1 => Just(64usize)],
    )
        .prop_map(
            |(mode, learning, flood_unknown, promiscuous, max_frame)| Port {
                mode,
                learning,
                flood_unknown,
                promiscuous,
                max_frame,
            },
        )
}

fn frame() -> impl Strategy<Value = Vec<u8>> {
    let tag = prop_oneof![
        4 => Just(None),
        1 => (0u16..8).prop_map(|pcp| Some((pcp << 13, 0u16))),
        4 => (0u16..16, prop_oneof![8 => 1u16..6, 1 => Just(4095u16)])
            .prop_map(|(pd, vid)| Some((pd << 12, vid))),
    ];
    (0..MACS.len(), 0..MACS.len(), tag, 0usize..60, 0u8..20).prop_map(
        |(d, s, tag, payload, odd)| {
            let mut f = MACS[d].to_vec();
            f.extend_from_slice(&MACS[s]);
            if let Some((bits, vid)) = tag {
                f.extend_from_slice(&[0x81, 0x00]);
                f.extend_from_slice(&(bits | vid).to_be_bytes());
            }
            f.extend_from_slice(&[0x08, 0x00]);
            f.extend((0..payload).map(|i| i as u8));
            match odd {
                0 => f.truncate(10),                           // runt
                1 => f[12..14].copy_from_slice(&[0x88, 0xa8]), // QinQ
                2 if tag.is_some() => f.truncate(16),          // truncated tag
                _ => {}
            }
            f
        },
    )
}

fn op() -> impl Strategy<Value = Op> {
    let scope = prop_oneof![
        Just(Scope::All),
        (0..PORTS).prop_map(Scope::Port),
        vlan().prop_map(Scope::Vlan),
    ];
    prop_oneof![
        12 => (any::<bool>(), 0..PORTS, prop::collection::vec(frame(), 1..10))
            .prop_map(|(w, p, f)| Op::Batch(w, p, f)),
        1 => (scope, any::<bool>()).prop_map(|(s, i)| Op::Flush(s, i)),
        1 => (vlan(), 0..4usize, 0..PORTS).prop_map(|(v, m, p)| Op::AddStatic(v, m, p)),
        1 => (vlan(), 0..4usize).prop_map(|(v, m)| Op::Remove(v, m)),
        1 => (0..PORTS, prop::option::weighted(0.85, port_cfg())).prop_map(|(p, c)| Op::Reconfigure(p, c)),
        2 => prop_oneof![Just(0u64), 1u64..5, 25u64..40].prop_map(Op::Tick),
        1 => Just(Op::Sweep),
    ]
}

fn engine_ports(ports: &[Option<Port>]) -> Vec<(PortId, PortConfig)> {
    ports
        .iter()
        .enumerate()
        .filter_map(|(i, p)| Some((PortId::new(i).unwrap(), p.as_ref()?.engine())))
        .collect()
}

fn run(ports: Vec<Option<Port>>, aging: u32, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let cfg = FdbConfig {
        capacity: 1024,
        aging_secs: aging,
        seed: 99,
    };
    let mut engine = MemSwitch::new(cfg, engine_ports(&ports)).unwrap();
    let mut second = MemSwitch::with_fdb(engine.fdb(), engine_ports(&ports)).unwrap();
    let mut model = Reference {
        ports,
        fdb: HashMap::new(),
        aging: aging as u64,
        now: 0,
    };
    engine.set_now(0);
    second.set_now(0);
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Batch(on_second, ingress, frames) => {
                let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
                let worker = if on_second { &mut second } else { &mut engine };
                let got: Vec<Out> = worker
                    .receive(PortId::new(ingress).unwrap(), &refs)
                    .iter()
                    .map(from_engine)
                    .collect();
                let (want, want_tx) = model.batch(ingress, &frames);
                prop_assert_eq!(got, want, "step {}: dispositions", step);
                for (q, want_frames) in want_tx.into_iter().enumerate() {
                    let got_frames = worker.take_tx(PortId::new(q).unwrap());
                    prop_assert_eq!(
                        got_frames,
                        want_frames,
                        "step {}: bytes on port {}",
                        step,
                        q
                    );
                }
            }
            Op::Flush(scope, include_static) => {
                let s = match scope {
                    Scope::All => FlushScope::All,
                    Scope::Port(p) => FlushScope::Port(PortId::new(p).unwrap()),
                    Scope::Vlan(v) => FlushScope::Vlan(VlanId::new(v).unwrap()),
                };
                engine.fdb().flush(s, include_static);
                model.flush(&scope, include_static);
            }
            Op::AddStatic(v, m, p) => {
                engine
                    .fdb()
                    .add_static(
                        VlanId::new(v).unwrap(),
                        Mac::new(MACS[m]),
                        PortId::new(p).unwrap(),
                    )
                    .unwrap();
                model.fdb.insert(
                    (v, MACS[m]),
                    Entry {
                        port: p,
                        is_static: true,
                        seen: model.now,
                    },
                );
            }
            Op::Remove(v, m) => {
                let got =
                    engine
                        .fdb()
                        .remove(VlanId::new(v).unwrap(), Mac::new(MACS[m]), engine.now());
                let want = model.visible(&(v, MACS[m])).is_some();
                model.fdb.remove(&(v, MACS[m]));
                prop_assert_eq!(got, want, "step {}: remove", step);
            }
            Op::Reconfigure(p, cfg) => {
                // The engine's rules (src/engine.rs): a change of VLAN
                // settings flushes the port's learned entries; a removed
                // port loses every entry on it.
                match (&model.ports[p], &cfg) {
                    (Some(old), Some(new)) if old.engine().vlan != new.engine().vlan => {
                        model.flush(&Scope::Port(p), false)
                    }
                    (Some(_), None) => model.flush(&Scope::Port(p), true),
                    _ => {}
                }
                model.ports[p] = cfg;
                engine.set_ports(engine_ports(&model.ports)).unwrap();
                second.set_ports(engine_ports(&model.ports)).unwrap();
            }
            Op::Tick(secs) => {
                model.now += secs;
                engine.set_now(model.now as u32);
                second.set_now(model.now as u32);
            }
            Op::Sweep => {
                engine.fdb().sweep(engine.now());
            }
        }
        let got: BTreeSet<_> = engine
            .fdb()
            .entries(engine.now())
            .into_iter()
            .map(|e| (e.vlan.get(), e.mac.octets(), e.port.index(), e.is_static))
            .collect();
        prop_assert_eq!(got, model.entries(), "step {}: fdb contents", step);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_reference(
        ports in prop::collection::vec(prop::option::weighted(0.9, port_cfg()), PORTS),
        aging in prop_oneof![Just(0u32), Just(30u32)],
        ops in prop::collection::vec(op(), 1..60),
    ) {
        run(ports, aging, ops)?;
    }
}

/// The reference is only worth something if it can disagree: a fixed case
/// where it must see a tag pushed, popped and a MAC learned.
#[test]
fn reference_sanity() {
    let access = Port {
        mode: Mode::Access(1),
        learning: true,
        flood_unknown: true,
        promiscuous: false,
        max_frame: 3840,
    };
    let trunk = Port {
        mode: Mode::Trunk {
            allowed: vec![1],
            native: None,
        },
        ..access.clone()
    };
    let mut r = Reference {
        ports: vec![Some(access), Some(trunk), None, None, None],
        fdb: HashMap::new(),
        aging: 0,
        now: 0,
    };
    let mut f = MACS[4].to_vec();
    f.extend_from_slice(&MACS[0]);
    f.extend_from_slice(&[0x08, 0x00, 0xaa]);
    let (d, tx) = r.batch(0, &[f.clone()]);
    assert_eq!(d, vec![Out::Flood(1 << 1)]);
    assert_eq!(
        tx[1],
        vec![vec![
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x81, 0, 0, 1, 8, 0, 0xaa
        ]]
    );
    assert_eq!(r.entries().len(), 1);
    let (_, tx) = r.batch(1, &[tx[1][0].clone()]);
    assert_eq!(tx[0], vec![f]);
}

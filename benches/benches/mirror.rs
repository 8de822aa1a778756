//! What a mirror session costs the engine per copied frame, against the
//! same batches without one, in the same run. Every frame of a batch is
//! copied, so (ns/packet with) - (ns/packet without) is the cost of one
//! copy. `cargo bench -p vswitch-benches --bench mirror`
//!
//! - access/{none,ingress,egress}: learned unicast between access ports
//!   (1k hosts each side, port 0 to port 1); the copy goes to port 4 in
//!   the same encoding, so it shares the frame's buffer: the cost is the
//!   session lookup and one more output port.
//! - push/{none,ingress}: port 0 (access) to port 1 (trunk: a tag push);
//!   an ingress copy must stay untagged, so each copied frame also costs
//!   a spare frame and a 64-byte copy.
//!
//! The driver's side (a descriptor or `sendmmsg` slot per copy) is not
//! counted here: `CountingTx` only counts outputs.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use vswitch_benches::{frame64, host, Rig};
use vswitch_engine::limits::BATCH_SIZE;
use vswitch_engine::mirror::{MirrorDirection, MirrorSession};
use vswitch_engine::{PortConfig, PortId, PortSet, VlanId, VlanMode};

fn p(n: usize) -> PortId {
    PortId::new(n).unwrap()
}
fn v10() -> VlanId {
    VlanId::new(10).unwrap()
}
fn access() -> PortConfig {
    PortConfig::new(VlanMode::Access(v10()))
}
fn trunk() -> PortConfig {
    PortConfig::new(VlanMode::Trunk {
        allowed: "10".parse().unwrap(),
        native: None,
    })
}

/// Port 0 sends learned unicast to port 1 (`to` its config); ports 2-4
/// are access ports, 4 the mirror output when there is a session.
fn rig(to: PortConfig, session: Option<MirrorDirection>) -> Rig {
    let ports = vec![
        (p(0), access()),
        (p(1), to),
        (p(2), access()),
        (p(3), access()),
        (p(4), access()),
    ];
    let mut rig = Rig::new(4096, ports);
    let a = |i: u64| host(i << 8);
    let b = |i: u64| host((i << 8) | 1);
    for i in 0..1000 {
        rig.learn(v10(), a(i), p(0));
        rig.learn(v10(), b(i), p(1));
    }
    let frames: Vec<Vec<u8>> = (0..BATCH_SIZE as u64)
        .map(|i| frame64(b(i * 13 % 1000), a(i * 7 % 1000), None))
        .collect();
    rig.load(&frames);
    if let Some(direction) = session {
        let (sources, now) = match direction {
            MirrorDirection::Egress => (PortSet::one(p(1)), rig.now),
            _ => (PortSet::one(p(0)), rig.now),
        };
        rig.engine_mut()
            .set_mirrors(
                vec![MirrorSession {
                    sources,
                    direction,
                    vlans: None,
                    output: p(4),
                }],
                now,
            )
            .expect("valid session");
    }
    rig
}

/// Runs a batch from port 0; the frames go back to how they were loaded
/// (a push moves them: undone by the next load).
fn case(c: &mut Criterion, group: &str, name: &str, to: PortConfig, s: Option<MirrorDirection>) {
    let mut rig = rig(to, s);
    let frames: Vec<Vec<u8>> = (0..BATCH_SIZE).map(|i| rig.frame_mut(i).to_vec()).collect();
    rig.run(p(0));
    let copied = rig
        .out()
        .outputs()
        .iter()
        .filter(|o| o.ports.contains(p(4)))
        .count();
    let want = if s.is_some() { BATCH_SIZE } else { 0 };
    assert_eq!(
        copied, want,
        "{group}/{name}: every frame copied once, or none"
    );
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(BATCH_SIZE as u64));
    g.bench_function(name, |b| {
        b.iter(|| {
            rig.load(&frames);
            black_box(rig.run(p(0)))
        })
    });
    g.finish();
}

fn mirror(c: &mut Criterion) {
    case(c, "access", "none", access(), None);
    case(
        c,
        "access",
        "ingress",
        access(),
        Some(MirrorDirection::Ingress),
    );
    case(
        c,
        "access",
        "egress",
        access(),
        Some(MirrorDirection::Egress),
    );
    case(c, "push", "none", trunk(), None);
    case(
        c,
        "push",
        "ingress",
        trunk(),
        Some(MirrorDirection::Ingress),
    );
}

criterion_group!(benches, mirror);
criterion_main!(benches);

//! Batches of 64-byte frames through the whole pipeline (parse, classify,
//! learn, look up, decide, encode). Criterion's `Melem/s` is Mpps; ns per
//! packet is 1000 / Mpps. `cargo bench -p vswitch-benches --bench pipeline`
//!
//! - unicast/{1k,64k,1M}: learned unicast between access ports of one VLAN
//!   with that many MACs in the table; every frame gets a random known
//!   source and destination, written into the frame before its batch.
//! - rewrite_only/1M: just those writes, to subtract.
//! - bare_{1k,64k,1M}: the floor (issue 20) on the same frames and pairs:
//!   [`Bare`], a bare learn+lookup loop over an atomic open-addressing
//!   table. `benches/ratio.sh` prints pipeline / bare from criterion's
//!   estimates of one run.
//! - hot4k_1M, bare_hot4k_1M: the 1M table, but frames only come from
//!   1k hot senders to 3k hot receivers (a few busy hosts, many quiet).
//! - flood_mix: half broadcast, a quarter unknown unicast, a quarter known,
//!   into access, trunk and guest ports (copies for two encodings).
//! - vlan_push_pop: learned unicast access→trunk (push) then trunk→access
//!   (pop), 1k hosts a side.
//! - capture/{none,input_all,output_all,input_none,output_none}: unicast/1k
//!   with no capture, then one capture (engine/src/capture.rs) at input or
//!   output that takes every frame or, by its MAC filter, none. Only the
//!   batch is timed; the capture's reader drains between batches, untimed
//!   (it runs on another thread in the daemon).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vswitch_benches::{flood_mix_rig, frame64, host, Bare, Rig, Rng};
use vswitch_engine::capture::{Capture, CaptureFilter, Point};
use vswitch_engine::limits::BATCH_SIZE;
use vswitch_engine::{Disposition, PortConfig, PortId, VlanId, VlanMode};

const PAIRS: usize = 1 << 20;

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

/// A rig with `macs` hosts learned: a quarter behind port 0 (the sources),
/// the rest spread over ports 1-3, and the bare loop's table with the
/// same hosts on the same ports. Returns them with a sequence of
/// (dst||src) address pairs to write into frames.
fn unicast_rig(macs: usize) -> (Rig, Bare, Vec<[u8; 12]>) {
    let ports = (0..4).map(|i| (p(i), access())).collect();
    let mut rig = Rig::new(macs.max(1024), ports);
    let mut bare = Bare::new(macs.max(1024));
    let senders = macs / 4;
    for i in 0..macs {
        let port = if i < senders { 0 } else { 1 + i % 3 };
        rig.learn(v10(), host(i as u64), p(port));
        bare.learn(host(i as u64), port as u64);
    }
    assert_eq!(rig.fdb.len(rig.now), macs, "every host learned");
    let pairs = random_pairs(0..senders as u64, senders as u64..macs as u64);
    let template: Vec<Vec<u8>> = (0..BATCH_SIZE)
        .map(|_| frame64(host(0), host(0), None))
        .collect();
    rig.load(&template);
    for (i, t) in template.iter().enumerate() {
        bare.frame_mut(i).copy_from_slice(t);
    }
    (rig, bare, pairs)
}

/// (dst||src) pairs, sources and destinations drawn uniformly from hosts
/// with these indices.
fn random_pairs(src: std::ops::Range<u64>, dst: std::ops::Range<u64>) -> Vec<[u8; 12]> {
    let mut rng = Rng::new(7);
    (0..PAIRS)
        .map(|_| {
            let s = host(rng.range(src.start, src.end));
            let d = host(rng.range(dst.start, dst.end));
            let mut pair = [0u8; 12];
            pair[..6].copy_from_slice(&d.octets());
            pair[6..].copy_from_slice(&s.octets());
            pair
        })
        .collect()
}

fn write_pairs(rig: &mut Rig, pairs: &[[u8; 12]], cursor: &mut usize) {
    for i in 0..BATCH_SIZE {
        rig.frame_mut(i)[..12].copy_from_slice(&pairs[*cursor]);
        *cursor = (*cursor + 1) % pairs.len();
    }
}

fn write_pairs_bare(bare: &mut Bare, pairs: &[[u8; 12]], cursor: &mut usize) {
    for i in 0..BATCH_SIZE {
        bare.frame_mut(i)[..12].copy_from_slice(&pairs[*cursor]);
        *cursor = (*cursor + 1) % pairs.len();
    }
}

/// Pipeline and bare loop, one after the other, on the same pairs.
fn unicast_pair(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    rig: &mut Rig,
    bare: &mut Bare,
    pairs: &[[u8; 12]],
) {
    let mut cursor = 0;
    // The frames really are learned unicast: every one forwarded to one port.
    write_pairs(rig, pairs, &mut cursor);
    rig.run(p(0));
    assert!(rig
        .out()
        .dispositions()
        .iter()
        .all(|d| matches!(d, Disposition::Forward(_))));
    g.bench_function(name, |b| {
        b.iter(|| {
            write_pairs(rig, pairs, &mut cursor);
            black_box(rig.run(p(0)))
        })
    });
    let mut cursor = 0;
    write_pairs_bare(bare, pairs, &mut cursor);
    // Every destination found on port 1, 2 or 3 (a miss adds 0xff).
    let sum = bare.run();
    assert!(
        (BATCH_SIZE as u64..=3 * BATCH_SIZE as u64).contains(&sum),
        "{sum}"
    );
    g.bench_function(format!("bare_{name}"), |b| {
        b.iter(|| {
            write_pairs_bare(bare, pairs, &mut cursor);
            black_box(bare.run())
        })
    });
}

fn unicast(c: &mut Criterion) {
    let mut g = c.benchmark_group("unicast");
    g.throughput(Throughput::Elements(BATCH_SIZE as u64));
    for (name, macs) in [("1k", 1_000), ("64k", 65_536), ("1M", 1_000_000)] {
        let (mut rig, mut bare, pairs) = unicast_rig(macs);
        unicast_pair(&mut g, name, &mut rig, &mut bare, &pairs);
        if macs == 1_000_000 {
            // 1k busy senders to 3k busy receivers among the million.
            let senders = macs as u64 / 4;
            let hot = random_pairs(0..1024, senders..senders + 3072);
            unicast_pair(&mut g, "hot4k_1M", &mut rig, &mut bare, &hot);
            let mut cursor = 0;
            g.bench_function("rewrite_only_1M", |b| {
                b.iter(|| {
                    write_pairs(&mut rig, &pairs, &mut cursor);
                    black_box(rig.frame_mut(0)[0])
                })
            });
        }
    }
    g.finish();
}

fn flood_mix(c: &mut Criterion) {
    let mut rig = flood_mix_rig();
    let mut g = c.benchmark_group("flood_mix");
    g.throughput(Throughput::Elements(BATCH_SIZE as u64));
    g.bench_function("64B", |b| b.iter(|| black_box(rig.run(p(0)))));
    g.finish();
}

fn vlan_push_pop(c: &mut Criterion) {
    let mut rig = Rig::new(4096, vec![(p(0), access()), (p(1), trunk())]);
    // Host i lives behind port 0 as ...:i:00 and behind port 1 as ...:i:01:
    // flipping the last bit of both addresses turns a frame around.
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
    let flip = |rig: &mut Rig| {
        for i in 0..BATCH_SIZE {
            let f = rig.frame_mut(i);
            f[5] ^= 1;
            f[11] ^= 1;
        }
    };
    rig.run(p(0));
    assert!(rig.frame_mut(0).len() == 68, "pushed");
    flip(&mut rig);
    rig.run(p(1));
    assert!(rig.frame_mut(0).len() == 64, "popped");
    flip(&mut rig);
    let mut g = c.benchmark_group("vlan_push_pop");
    g.throughput(Throughput::Elements(2 * BATCH_SIZE as u64));
    g.bench_function("access_trunk_round_trip", |bench| {
        bench.iter_batched(
            || (),
            |_| {
                rig.run(p(0));
                flip(&mut rig);
                rig.run(p(1));
                flip(&mut rig);
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn capture(c: &mut Criterion) {
    let mut g = c.benchmark_group("capture");
    g.throughput(Throughput::Elements(BATCH_SIZE as u64));
    let never = CaptureFilter {
        mac: Some(vswitch_engine::Mac::new([2, 0xff, 0, 0, 0, 1])),
        ..CaptureFilter::default()
    };
    let cases: [(&str, Option<(Point, CaptureFilter)>); 5] = [
        ("none", None),
        ("input_all", Some((Point::Input, CaptureFilter::default()))),
        (
            "output_all",
            Some((Point::Output, CaptureFilter::default())),
        ),
        ("input_none", Some((Point::Input, never))),
        ("output_none", Some((Point::Output, never))),
    ];
    for (id, (name, case)) in cases.into_iter().enumerate() {
        let (mut rig, _, pairs) = unicast_rig(1_000);
        let cap = case.map(|(point, filter)| {
            let cap = Arc::new(Capture::new(id as u64, point, filter, 128));
            rig.engine_mut()
                .add_capture(Arc::clone(&cap))
                .expect("one capture");
            cap
        });
        let mut cursor = 0;
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    write_pairs(&mut rig, &pairs, &mut cursor);
                    let t = Instant::now();
                    black_box(rig.run(p(0)));
                    timed += t.elapsed();
                    if let Some(c) = &cap {
                        c.drain(usize::MAX, |r| {
                            black_box(r.bytes().len());
                        });
                    }
                }
                timed
            })
        });
        if let Some(c) = &cap {
            assert_eq!(c.lost(), 0, "{name}: the reader kept up");
        }
    }
    g.finish();
}

criterion_group!(benches, unicast, flood_mix, vlan_push_pop, capture);
criterion_main!(benches);

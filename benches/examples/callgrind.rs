//! Runs one pipeline scenario for a given number of batches, for
//! instruction counts under callgrind (not a timing): the difference
//! between two runs of N1 and N2 batches, divided by N2 - N1, is the
//! instructions per batch without the setup.
//!
//! ```sh
//! cargo build --release -p vswitch-benches --example callgrind
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/callgrind unicast_1k 2000
//! ```
//!
//! Scenarios: `unicast_1k`, `flood_mix` and `push_pop` as in
//! benches/benches/pipeline.rs; `access_ingress` and `push_ingress`:
//! `unicast_1k` and `push_pop`'s first half with a mirror session copying
//! every frame (benches/benches/mirror.rs).

use std::hint::black_box;
use vswitch_benches::{flood_mix_rig, frame64, host, Rig, Rng};
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

fn mirror_to_4(rig: &mut Rig) {
    let now = rig.now;
    rig.engine_mut()
        .set_mirrors(
            vec![MirrorSession {
                sources: PortSet::one(p(0)),
                direction: MirrorDirection::Ingress,
                vlans: None,
                output: p(4),
            }],
            now,
        )
        .expect("valid session");
}

fn unicast_1k(batches: usize, mirror: bool) {
    let macs = 1000;
    let mut ports: Vec<_> = (0..4).map(|i| (p(i), access())).collect();
    if mirror {
        ports.push((p(4), access()));
    }
    let mut rig = Rig::new(1024, ports);
    let senders = macs / 4;
    for i in 0..macs {
        let port = if i < senders { 0 } else { 1 + i % 3 };
        rig.learn(v10(), host(i as u64), p(port));
    }
    if mirror {
        mirror_to_4(&mut rig);
    }
    let mut rng = Rng::new(7);
    let pairs: Vec<[u8; 12]> = (0..4096)
        .map(|_| {
            let src = host(rng.range(0, senders as u64));
            let dst = host(rng.range(senders as u64, macs as u64));
            let mut pair = [0u8; 12];
            pair[..6].copy_from_slice(&dst.octets());
            pair[6..].copy_from_slice(&src.octets());
            pair
        })
        .collect();
    let template: Vec<Vec<u8>> = (0..BATCH_SIZE)
        .map(|_| frame64(host(0), host(0), None))
        .collect();
    rig.load(&template);
    let mut cursor = 0;
    for _ in 0..batches {
        for i in 0..BATCH_SIZE {
            rig.frame_mut(i)[..12].copy_from_slice(&pairs[cursor]);
            cursor = (cursor + 1) % pairs.len();
        }
        black_box(rig.run(p(0)));
    }
}

fn flood_mix(batches: usize) {
    let mut rig = flood_mix_rig();
    for _ in 0..batches {
        black_box(rig.run(p(0)));
    }
}

fn push(batches: usize, pop_too: bool, mirror: bool) {
    let mut ports = vec![(p(0), access()), (p(1), trunk())];
    if mirror {
        ports.push((p(4), access()));
    }
    let mut rig = Rig::new(4096, ports);
    let a = |i: u64| host(i << 8);
    let b = |i: u64| host((i << 8) | 1);
    for i in 0..1000 {
        rig.learn(v10(), a(i), p(0));
        rig.learn(v10(), b(i), p(1));
    }
    if mirror {
        mirror_to_4(&mut rig);
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
    for _ in 0..batches {
        if pop_too {
            rig.run(p(0));
            flip(&mut rig);
            rig.run(p(1));
            flip(&mut rig);
        } else {
            rig.load(&frames);
            black_box(rig.run(p(0)));
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(scenario), Some(batches)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: callgrind SCENARIO BATCHES");
        std::process::exit(2);
    };
    let batches: usize = batches.parse().expect("a number of batches");
    match scenario.as_str() {
        "unicast_1k" => unicast_1k(batches, false),
        "access_ingress" => unicast_1k(batches, true),
        "flood_mix" => flood_mix(batches),
        "push_pop" => push(batches, true, false),
        "push_only" => push(batches, false, false),
        "push_ingress" => push(batches, false, true),
        s => {
            eprintln!("unknown scenario {s}");
            std::process::exit(2);
        }
    }
}

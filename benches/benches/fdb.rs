//! FDB lookups on one thread while another thread keeps learning (moving
//! MACs between ports, so it really writes). Criterion's `Melem/s` is
//! million lookups per second. `cargo bench -p vswitch-benches --bench fdb`

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use vswitch_benches::{host, Rng};
use vswitch_engine::fdb::{Fdb, FdbConfig};
use vswitch_engine::{PortId, VlanId};

const MACS: u64 = 65_536;
const LOOKUPS: usize = 64;

fn lookups(c: &mut Criterion) {
    let vlan = VlanId::new(1).unwrap();
    let fdb = Arc::new(
        Fdb::new(FdbConfig {
            capacity: MACS as usize * 2,
            aging_secs: 0,
            seed: 9,
        })
        .unwrap(),
    );
    {
        let mut r = fdb.reader().unwrap();
        let pin = r.pin();
        for i in 0..MACS {
            pin.learn(
                &pin.hash(vlan, host(i)),
                PortId::new((i % 8) as usize).unwrap(),
                0,
            );
        }
    }
    let mut rng = Rng::new(3);
    let keys: Vec<_> = (0..1 << 16)
        .map(|_| fdb.hash(vlan, host(rng.range(0, MACS))))
        .collect();
    let mut g = c.benchmark_group("fdb_lookup");
    g.throughput(Throughput::Elements(LOOKUPS as u64));
    for concurrent in [false, true] {
        let stop = Arc::new(AtomicBool::new(false));
        let learner = concurrent.then(|| {
            let (fdb, stop) = (Arc::clone(&fdb), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut r = fdb.reader().unwrap();
                let mut rng = Rng::new(11);
                let mut moves = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let pin = r.pin();
                    for _ in 0..64 {
                        let i = rng.range(0, MACS);
                        let port = PortId::new(rng.range(0, 8) as usize).unwrap();
                        moves += (pin.learn(&pin.hash(vlan, host(i)), port, 0)
                            == vswitch_engine::Learn::Moved)
                            as u64;
                    }
                }
                moves
            })
        });
        let mut reader = fdb.reader().unwrap();
        let mut cursor = 0;
        let name = if concurrent {
            "64k_with_learner"
        } else {
            "64k_alone"
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                let pin = reader.pin();
                let batch = &keys[cursor..cursor + LOOKUPS];
                cursor = (cursor + LOOKUPS) % keys.len();
                for h in batch {
                    pin.prefetch(h);
                }
                let mut found = 0;
                for h in batch {
                    found += pin.lookup(h, 0).is_some() as usize;
                }
                black_box(found)
            })
        });
        stop.store(true, Ordering::Relaxed);
        if let Some(t) = learner {
            let moves = t.join().unwrap();
            assert!(moves > 0, "the learner really wrote");
        }
    }
    g.finish();
}

criterion_group!(benches, lookups);
criterion_main!(benches);

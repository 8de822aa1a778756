//! Unit tests of the FDB's single-threaded semantics, its sweep and epoch
//! wrap-around, plus a multi-threaded smoke test of the slot invariants.
//! The interleaving proofs are the loom tests in `tests/loom_fdb.rs`.

use super::*;
use crate::vocab::PortSet;

fn v(n: u16) -> VlanId {
    VlanId::new(n).unwrap()
}
fn p(n: usize) -> PortId {
    PortId::new(n).unwrap()
}
fn mac(n: u64) -> Mac {
    Mac::from_u64(0x0200_0000_0000 | n)
}

fn fdb(capacity: usize, aging_secs: u32) -> Arc<Fdb> {
    Arc::new(
        Fdb::new(FdbConfig {
            capacity,
            aging_secs,
            seed: 1,
        })
        .unwrap(),
    )
}

fn learn(r: &mut FdbReader, vlan: u16, m: u64, port: usize, now: u32) -> Learn {
    let pin = r.pin();
    let h = pin.hash(v(vlan), mac(m));
    pin.learn(&h, p(port), now)
}

fn lookup(r: &mut FdbReader, vlan: u16, m: u64, now: u32) -> Option<PortId> {
    let pin = r.pin();
    let h = pin.hash(v(vlan), mac(m));
    pin.lookup(&h, now)
}

/// Slots holding `key` in a visible-or-dead state: never more than one.
fn copies(f: &Fdb, vlan: u16, m: u64) -> usize {
    let k = key(v(vlan), mac(m));
    f.table
        .slots()
        .filter(|(_, s)| {
            s.key.load(Ordering::Acquire) == k
                && matches!(
                    Value(s.val.load(Ordering::Acquire)).state(),
                    State::Live | State::Dead
                )
        })
        .count()
}

#[test]
fn config_is_checked() {
    let bad = |capacity, aging_secs| {
        Fdb::new(FdbConfig {
            capacity,
            aging_secs,
            seed: 0,
        })
        .unwrap_err()
    };
    assert_eq!(bad(0, 0), FdbError::Capacity(0));
    assert_eq!(bad(1 << 30, 0), FdbError::Capacity(1 << 30));
    assert_eq!(
        bad(64, MAX_AGING_SECS + 1),
        FdbError::Aging(MAX_AGING_SECS + 1)
    );
    assert!(bad(64, MAX_AGING_SECS + 1).to_string().contains("too long"));
}

#[test]
fn learn_refresh_move() {
    let f = fdb(64, 300);
    let mut r = f.reader().unwrap();
    assert_eq!(lookup(&mut r, 10, 1, 0), None);
    assert_eq!(learn(&mut r, 10, 1, 3, 0), Learn::Learned);
    assert_eq!(lookup(&mut r, 10, 1, 0), Some(p(3)));
    // Same VLAN-MAC, other VLAN: a different key.
    assert_eq!(lookup(&mut r, 11, 1, 0), None);
    assert_eq!(learn(&mut r, 10, 1, 3, 0), Learn::Unchanged);
    assert_eq!(learn(&mut r, 10, 1, 3, 1), Learn::Refreshed);
    assert_eq!(learn(&mut r, 10, 1, 4, 1), Learn::Moved);
    assert_eq!(lookup(&mut r, 10, 1, 1), Some(p(4)));
    assert_eq!(copies(&f, 10, 1), 1);
    assert_eq!(f.used(), 1);
}

#[test]
fn unchanged_learn_writes_nothing() {
    let f = fdb(64, 300);
    let mut r = f.reader().unwrap();
    learn(&mut r, 1, 1, 0, 5);
    let before: Vec<u64> = f
        .table
        .slots()
        .map(|(_, s)| s.val.load(Ordering::Relaxed))
        .collect();
    assert_eq!(learn(&mut r, 1, 1, 0, 5), Learn::Unchanged);
    let after: Vec<u64> = f
        .table
        .slots()
        .map(|(_, s)| s.val.load(Ordering::Relaxed))
        .collect();
    assert_eq!(before, after);
}

#[test]
fn aging_hides_then_sweep_reclaims() {
    let f = fdb(64, 10);
    let mut r = f.reader().unwrap();
    learn(&mut r, 1, 1, 0, 100);
    learn(&mut r, 1, 2, 0, 105);
    assert_eq!(
        lookup(&mut r, 1, 1, 110),
        Some(p(0)),
        "exactly aging_secs old is kept"
    );
    assert_eq!(lookup(&mut r, 1, 1, 111), None);
    assert_eq!(lookup(&mut r, 1, 2, 111), Some(p(0)));
    let rep = f.sweep(111);
    assert_eq!((rep.aged, rep.reclaimed, rep.pending), (1, 1, 0));
    assert_eq!(f.used(), 1);
    assert_eq!(f.entries(111).len(), 1);
    // Aging off: nothing expires.
    f.set_aging_secs(0).unwrap();
    assert_eq!(lookup(&mut r, 1, 2, 1_000_000), Some(p(0)));
}

#[test]
fn statics_survive_learning_aging_and_plain_flushes() {
    let f = fdb(64, 10);
    let mut r = f.reader().unwrap();
    f.add_static(v(5), mac(9), p(2)).unwrap();
    assert_eq!(learn(&mut r, 5, 9, 7, 0), Learn::StaticConflict);
    assert_eq!(learn(&mut r, 5, 9, 2, 0), Learn::Unchanged);
    assert_eq!(lookup(&mut r, 5, 9, 1_000), Some(p(2)));
    f.flush(FlushScope::All, false);
    f.flush(FlushScope::Port(p(2)), false);
    f.flush(FlushScope::Vlan(v(5)), false);
    assert_eq!(lookup(&mut r, 5, 9, 1_000), Some(p(2)));
    let e = f.get(v(5), mac(9), 1_000).unwrap();
    assert!(e.is_static && e.age_secs == 0);
    f.flush(FlushScope::Port(p(2)), true);
    assert_eq!(lookup(&mut r, 5, 9, 1_000), None);
    // A flushed static slot is taken over by learning.
    assert_eq!(learn(&mut r, 5, 9, 7, 1_000), Learn::Learned);
    assert_eq!(copies(&f, 5, 9), 1);
}

#[test]
fn static_overrides_dynamic_in_place() {
    let f = fdb(64, 300);
    let mut r = f.reader().unwrap();
    learn(&mut r, 1, 1, 0, 0);
    f.add_static(v(1), mac(1), p(1)).unwrap();
    assert_eq!(lookup(&mut r, 1, 1, 0), Some(p(1)));
    assert_eq!(copies(&f, 1, 1), 1);
    assert!(f.remove(v(1), mac(1), 0));
    assert!(!f.remove(v(1), mac(1), 0));
    assert_eq!(lookup(&mut r, 1, 1, 0), None);
    assert_eq!(
        learn(&mut r, 1, 1, 0, 0),
        Learn::Learned,
        "a deleted entry can be learned again"
    );
}

#[test]
fn flush_scopes() {
    let f = fdb(256, 0);
    let mut r = f.reader().unwrap();
    for m in 0..8 {
        learn(&mut r, 1 + (m % 2) as u16, m, (m % 4) as usize, 0);
    }
    f.flush(FlushScope::Port(p(1)), false); // m = 1, 5
    let left: Vec<u64> = (0..8)
        .filter(|&m| lookup(&mut r, 1 + (m % 2) as u16, m, 0).is_some())
        .collect();
    assert_eq!(left, vec![0, 2, 3, 4, 6, 7]);
    f.flush(FlushScope::Vlan(v(1)), false); // even m
    let left: Vec<u64> = (0..8)
        .filter(|&m| lookup(&mut r, 1 + (m % 2) as u16, m, 0).is_some())
        .collect();
    assert_eq!(left, vec![3, 7]);
    // Learned after a flush: visible.
    learn(&mut r, 1, 0, 0, 0);
    assert_eq!(lookup(&mut r, 1, 0, 0), Some(p(0)));
    f.flush(FlushScope::All, false);
    assert!(f.entries(0).is_empty());
    assert_eq!(f.sweep(0).retired, 8, "every claimed slot is flushed");
    assert_eq!(f.used(), 0);
}

#[test]
fn full_table_evicts_the_learners_own_entries_until_swept() {
    let f = fdb(16, 0);
    let mut r = f.reader().unwrap();
    for m in 0..16 {
        assert_eq!(learn(&mut r, 1, m, 0, 0), Learn::Learned, "mac {m}");
    }
    assert_eq!(f.port_macs(p(0)), 16);
    // Port 0 holds every entry: it makes room from its own.
    assert_eq!(learn(&mut r, 1, 99, 0, 0), Learn::Evicted);
    // The evicted entry counts for its port until the sweep reclaims it.
    assert_eq!((f.len(0), f.port_macs(p(0))), (15, 16));
    // Known MACs still move and refresh when full.
    let known = (0..16)
        .find(|&m| lookup(&mut r, 1, m, 0).is_some())
        .unwrap();
    assert_eq!(learn(&mut r, 1, known, 1, 0), Learn::Moved);
    assert_eq!((f.port_macs(p(0)), f.port_macs(p(1))), (15, 1));
    f.flush(FlushScope::All, false);
    assert_ne!(
        learn(&mut r, 1, 99, 0, 0),
        Learn::Learned,
        "flushed slots count until swept"
    );
    f.sweep(0);
    assert_eq!((f.port_macs(p(0)), f.port_macs(p(1))), (0, 0));
    assert_eq!(learn(&mut r, 1, 99, 0, 0), Learn::Learned);
    assert_eq!(f.add_static(v(2), mac(1), p(0)), Ok(()));
    assert_eq!(f.port_macs(p(0)), 1, "static entries are not counted");
}

#[test]
fn a_newcomer_never_evicts_a_port_that_would_end_up_smaller() {
    let f = fdb(16, 0);
    let mut r = f.reader().unwrap();
    // Sixteen ports with one host each fill the table.
    for n in 0..16usize {
        assert_eq!(learn(&mut r, 1, n as u64, n, 0), Learn::Learned);
    }
    // A port with none may not take any of them: each would drop to 0.
    assert_eq!(learn(&mut r, 1, 99, 20, 0), Learn::Full);
    for n in 0..16usize {
        assert_eq!(lookup(&mut r, 1, n as u64, 0), Some(p(n)), "host {n}");
    }
}

#[test]
fn eviction_spares_smaller_ports_and_static_entries() {
    let f = fdb(64, 0);
    let mut r = f.reader().unwrap();
    // Port 1's two hosts and a static entry on port 2, then a storm of
    // sources on port 0 far past capacity, swept now and then.
    assert_eq!(learn(&mut r, 1, 1_000_001, 1, 0), Learn::Learned);
    assert_eq!(learn(&mut r, 1, 1_000_002, 1, 0), Learn::Learned);
    f.add_static(v(1), mac(1_000_003), p(2)).unwrap();
    let mut evicted = 0;
    for m in 0..5_000 {
        match learn(&mut r, 1, m, 0, m as u32 / 100) {
            Learn::Evicted => evicted += 1,
            Learn::Learned | Learn::Full | Learn::Race => {}
            other => panic!("{other:?}"),
        }
        if m % 500 == 0 {
            f.sweep(m as u32 / 100);
        }
    }
    assert!(evicted > 100, "{evicted}");
    for m in [1_000_001, 1_000_002] {
        assert_eq!(lookup(&mut r, 1, m, 50), Some(p(1)), "mac {m}");
    }
    assert_eq!(lookup(&mut r, 1, 1_000_003, 50), Some(p(2)));
    assert_eq!(f.port_macs(p(1)), 2);
    // The small port makes room at the big one's expense.
    let mut got = 0;
    for m in 2_000_000..2_000_040 {
        if learn(&mut r, 1, m, 1, 60) == Learn::Evicted {
            got += 1;
        }
    }
    assert!(got > 0);
    assert!(f.port_macs(p(1)) >= 2);
}

#[test]
fn limits_refuse_new_sources_only() {
    let f = fdb(64, 0);
    let mut r = f.reader().unwrap();
    let lim = |r: &mut FdbReader, m: u64, port: usize| {
        let pin = r.pin();
        let h = pin.hash(v(1), mac(m));
        pin.learn_limited(&h, p(port), 0, 2)
    };
    assert_eq!(lim(&mut r, 1, 0), Learn::Learned);
    assert_eq!(lim(&mut r, 2, 0), Learn::Learned);
    assert_eq!(lim(&mut r, 3, 0), Learn::Limit);
    assert_eq!(lim(&mut r, 1, 0), Learn::Unchanged, "known sources refresh");
    // A MAC moving in is new to the port too.
    assert_eq!(learn(&mut r, 1, 4, 1, 0), Learn::Learned);
    assert_eq!(lim(&mut r, 4, 0), Learn::Limit);
    // One leaving makes room.
    assert_eq!(learn(&mut r, 1, 2, 1, 0), Learn::Moved);
    assert_eq!(lim(&mut r, 3, 0), Learn::Learned);
    assert!(f.remove(v(1), mac(3), 0));
    assert_eq!(f.port_macs(p(0)), 1);
    // Held down: no new or moving source, refreshes still go.
    f.set_learning_held(p(0), true);
    assert_eq!(lim(&mut r, 5, 0), Learn::HeldDown);
    assert_eq!(learn(&mut r, 1, 4, 0, 0), Learn::HeldDown);
    assert_eq!(learn(&mut r, 1, 1, 0, 1), Learn::Refreshed);
    assert_eq!(f.learning_held(), PortSet::one(p(0)));
    f.set_learning_held(p(0), false);
    assert_eq!(learn(&mut r, 1, 4, 0, 1), Learn::Moved);
    let mut moves = Vec::new();
    let mut cursor = 0;
    assert_eq!(f.drain_moves(&mut cursor, |m| moves.push(m)), 0);
    let got: Vec<_> = moves
        .iter()
        .map(|m| (Mac::from_u64(m.key), m.from, m.to))
        .collect();
    assert_eq!(got, vec![(mac(2), p(0), p(1)), (mac(4), p(1), p(0))]);
}

#[test]
fn grace_period_waits_for_pinned_readers() {
    let f = fdb(64, 0);
    let mut r = f.reader().unwrap();
    let mut other = f.reader().unwrap();
    learn(&mut r, 1, 1, 0, 0);
    f.flush(FlushScope::All, false);
    let pin = other.pin();
    let rep = f.sweep(0);
    assert_eq!((rep.retired, rep.reclaimed, rep.pending), (1, 0, 1));
    // Still pinned: the next sweep cannot reclaim either.
    assert_eq!(f.sweep(0).pending, 1);
    assert_eq!(f.used(), 1);
    drop(pin);
    assert_eq!(f.sweep(0).reclaimed, 1);
    assert_eq!(f.used(), 0);
}

#[test]
fn readers_are_limited_and_recycled() {
    let f = fdb(64, 0);
    let readers: Vec<_> = (0..sync::READER_SLOTS)
        .map(|_| f.reader().unwrap())
        .collect();
    assert_eq!(f.reader().unwrap_err(), FdbError::TooManyReaders);
    drop(readers);
    assert!(f.reader().is_ok());
}

#[test]
fn epochs_wrap_around() {
    let f = fdb(64, 0);
    let mut r = f.reader().unwrap();
    // Start just below the wrap; a sweep brings the thresholds along, as
    // the once-a-second sweep does in the daemon.
    f.epoch
        .store(entry::EPOCH_MASK as u64 - 2, Ordering::SeqCst);
    f.sweep(0);
    learn(&mut r, 1, 1, 0, 0);
    for round in 0..6 {
        learn(&mut r, 1, 2, 1, 0);
        assert_eq!(lookup(&mut r, 1, 2, 0), Some(p(1)), "round {round}");
        f.flush(FlushScope::Port(p(1)), false);
        assert_eq!(lookup(&mut r, 1, 2, 0), None, "round {round}");
        f.sweep(0);
    }
    // Port 0's entry predates every flush of port 1 and survives the wrap.
    assert_eq!(lookup(&mut r, 1, 1, 0), Some(p(0)));
}

#[test]
fn sweep_renormalizes_old_epochs() {
    let f = fdb(64, 0);
    let mut r = f.reader().unwrap();
    learn(&mut r, 1, 1, 0, 0);
    f.flush(FlushScope::Port(p(5)), false);
    // Pretend 2^29 + 10 flushes happened elsewhere since.
    let far = f.epoch.load(Ordering::SeqCst) + EPOCH_RENORMALIZE_LAG as u64 + 10;
    f.epoch.store(far, Ordering::SeqCst);
    f.sweep(0);
    assert_eq!(lookup(&mut r, 1, 1, 0), Some(p(0)));
    // A further 2^30 flushes later the entry must still be ordered correctly.
    f.epoch.store(far + (1 << 29), Ordering::SeqCst);
    f.sweep(0);
    f.flush(FlushScope::Port(p(5)), false);
    assert_eq!(lookup(&mut r, 1, 1, 0), Some(p(0)));
    f.flush(FlushScope::Port(p(0)), false);
    assert_eq!(lookup(&mut r, 1, 1, 0), None);
}

#[test]
fn racing_learners_keep_one_copy_per_key() {
    let f = fdb(4096, 0);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..3)
        .map(|t| {
            let f = Arc::clone(&f);
            std::thread::spawn(move || {
                let mut r = f.reader().unwrap();
                for round in 0..200u32 {
                    for m in 0..64 {
                        learn(&mut r, 1, m, (t + m as usize + round as usize) % 4, round);
                    }
                }
            })
        })
        .collect();
    let control = {
        let (f, stop) = (Arc::clone(&f), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                f.flush(FlushScope::Port(p(i % 4)), false);
                f.sweep(0);
                i += 1;
            }
        })
    };
    for w in workers {
        w.join().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    control.join().unwrap();
    for m in 0..64 {
        assert!(
            copies(&f, 1, m) <= 1,
            "mac {m} has {} copies",
            copies(&f, 1, m)
        );
    }
    f.flush(FlushScope::All, true);
    f.sweep(0);
    f.sweep(0);
    assert_eq!(f.used(), 0, "every claimed slot was accounted for");
}

#[test]
fn a_full_capacity_of_lab_macs_fits() {
    // Sequential lab MACs in two VLANs, exactly `capacity` of them: the
    // table is sized so none is refused.
    for capacity in [1000, 65_536] {
        let f = fdb(capacity, 0);
        let mut r = f.reader().unwrap();
        let refused = (0..capacity as u64)
            .filter(|&m| learn(&mut r, 1 + (m % 2) as u16, m, 0, 0) != Learn::Learned)
            .count();
        assert_eq!(refused, 0, "capacity {capacity}");
        assert_eq!(learn(&mut r, 3, 0, 0, 0), Learn::Evicted);
    }
}

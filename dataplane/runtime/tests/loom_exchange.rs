//! Exhaustive interleaving checks of the hand-off exchange
//! (`vswitch_dataplane::exchange`) with loom. Run with:
//! RUSTFLAGS='--cfg loom' CARGO_TARGET_DIR=target/loom cargo test -p vswitch-dataplane --test loom_exchange --release
//!
//! The chunks are loom `UnsafeCell`s: loom reports any two accesses to a
//! chunk that no happens-before orders, so a peer's write racing the
//! owner's (or the kernel's, on the owner's behalf) reuse of the chunk
//! after a rebuild fails the model.
//!
//! Properties:
//! 1. A peer writing a lent chunk never races the owner reusing it after a
//!    rebuild: the owner reuses only once `settle` says so.
//! 2. A claim that cannot be sent goes back, and a donation made before a
//!    rebuild never re-enters use: no claim after the rebuild settles
//!    gets an old word.
//! 3. Parcels are delivered exactly once, with the bytes written, and the
//!    owner never touches a stale parcel's chunk.
//! 4. The model is sensitive: an owner that skips `settle` after a rebuild
//!    fails it.
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use vswitch_dataplane::exchange::{Delivery, Exchange};

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(3);
    }
    b.check(f);
}

/// A worker's UMEM in miniature: chunks a peer and the owner write.
struct Area {
    ex: Exchange<u8>,
    chunks: Vec<UnsafeCell<u8>>,
}

fn area(chunks: usize, donations: usize, inbox: usize) -> Arc<Area> {
    Arc::new(Area {
        ex: Exchange::new(donations, inbox),
        chunks: (0..chunks).map(|_| UnsafeCell::new(0)).collect(),
    })
}

/// What a peer's hand-off does: claim, write, send (or give back).
fn peer_handoff(a: &Area, value: u8) -> bool {
    let Ok(claim) = a.ex.claim() else {
        return false;
    };
    // SAFETY (of the model): the claim is what makes this write exclusive;
    // loom checks that it is.
    a.chunks[claim.chunk() as usize].with_mut(|p| unsafe { *p = value });
    claim.send(value).is_ok()
}

/// The owner's use of a chunk it holds (a fill ring post, a spare).
fn owner_uses(a: &Area, chunk: usize) {
    a.chunks[chunk].with_mut(|p| unsafe { *p = 0xee });
}

/// The owner's rebuild as the worker does it: bump, then spin its loop
/// until settled, then every chunk is free again.
fn owner_rebuild(a: &Area) {
    if !a.ex.rebuild() {
        while !a.ex.settle() {
            thread::yield_now();
        }
    }
}

#[test]
fn a_lent_chunk_is_never_written_while_the_rebuilt_owner_uses_it() {
    model(|| {
        let a = area(2, 4, 4);
        a.ex.donate(0).unwrap();
        a.ex.donate(1).unwrap();
        let a2 = Arc::clone(&a);
        let peer = thread::spawn(move || {
            peer_handoff(&a2, 1);
            peer_handoff(&a2, 2);
        });
        owner_rebuild(&a);
        // Every chunk is the owner's again: the kernel fills them.
        owner_uses(&a, 0);
        owner_uses(&a, 1);
        // Parcels of the old generation are stale: their chunks untouched.
        while let Some(d) = a.ex.receive() {
            assert!(
                matches!(d, Delivery::Stale(_)),
                "a parcel from before the rebuild was accepted"
            );
        }
        peer.join().unwrap();
        while let Some(d) = a.ex.receive() {
            assert!(matches!(d, Delivery::Stale(_)));
        }
    });
}

#[test]
fn given_back_donations_never_outlive_a_rebuild() {
    model(|| {
        // An inbox of one: the peer's second hand-off cannot be sent and
        // its chunk goes back to the blank queue, maybe after the rebuild.
        let a = area(2, 4, 1);
        a.ex.donate(0).unwrap();
        a.ex.donate(1).unwrap();
        let a2 = Arc::clone(&a);
        let peer = thread::spawn(move || {
            peer_handoff(&a2, 1);
            peer_handoff(&a2, 2);
        });
        owner_rebuild(&a);
        owner_uses(&a, 0);
        owner_uses(&a, 1);
        // New generation: the owner lends chunk 1 again.
        a.ex.donate(1).unwrap();
        let a3 = Arc::clone(&a);
        let late = thread::spawn(move || {
            if let Ok(c) = a3.ex.claim() {
                assert_eq!(
                    c.chunk(),
                    1,
                    "a donation from before the rebuild re-entered use"
                );
                a3.chunks[1].with_mut(|p| unsafe { *p = 3 });
                drop(c);
            }
        });
        peer.join().unwrap();
        late.join().unwrap();
    });
}

#[test]
fn parcels_arrive_once_with_their_bytes() {
    model(|| {
        let a = area(2, 4, 4);
        a.ex.donate(0).unwrap();
        a.ex.donate(1).unwrap();
        let a2 = Arc::clone(&a);
        let peer = thread::spawn(move || [peer_handoff(&a2, 7), peer_handoff(&a2, 8)]);
        let mut seen = Vec::new();
        let check = |a: &Area, seen: &mut Vec<u32>| {
            while let Some(d) = a.ex.receive() {
                let Delivery::Parcel(p) = d else {
                    panic!("no rebuild, yet a stale parcel");
                };
                let byte = a.chunks[p.chunk as usize].with(|b| unsafe { *b });
                assert_eq!(byte, p.meta, "a parcel arrived before its bytes");
                seen.push(p.chunk);
            }
        };
        // While the peer runs, then after it is done.
        check(&a, &mut seen);
        thread::yield_now();
        check(&a, &mut seen);
        let sent = peer.join().unwrap();
        check(&a, &mut seen);
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), sent.iter().filter(|s| **s).count());
    });
}

/// Without the wait for claims in flight, the owner's reuse races the
/// peer's write, and loom says so.
#[test]
#[should_panic]
fn an_owner_that_does_not_wait_races_the_peer() {
    model(|| {
        let a = area(1, 4, 4);
        a.ex.donate(0).unwrap();
        let a2 = Arc::clone(&a);
        let peer = thread::spawn(move || {
            peer_handoff(&a2, 1);
        });
        let _ = a.ex.rebuild();
        // The key step skipped: no settle before reuse.
        owner_uses(&a, 0);
        peer.join().unwrap();
    });
}

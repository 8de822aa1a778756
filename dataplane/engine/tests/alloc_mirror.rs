//! A batch with a mirror session allocates nothing either: ingress and
//! egress copies, one of them in a second encoding (a spare copy).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use vswitch_engine::fdb::FdbConfig;
use vswitch_engine::limits::BATCH_SIZE;
use vswitch_engine::mem::{BUFFER_SIZE, HEADROOM};
use vswitch_engine::mirror::{MirrorDirection, MirrorSession};
use vswitch_engine::{
    Engine, Frame, Output, PortConfig, PortId, PortSet, Transmit, VlanId, VlanMode,
};

/// Counts, per port, the outputs handed over.
struct CountingTx([usize; 4]);

impl Transmit for CountingTx {
    fn transmit(&mut self, output: &Output, _frame: &Frame<'_>) {
        for p in output.ports.iter() {
            self.0[p.index()] += 1;
        }
    }
}

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static WATCHING: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: defers to the system allocator; only counts calls.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if WATCHING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if WATCHING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn frame(dst: u64, src: u64) -> Vec<u8> {
    let mut f = dst.to_be_bytes()[2..].to_vec();
    f.extend_from_slice(&src.to_be_bytes()[2..]);
    f.extend_from_slice(&[0x08, 0x00]);
    f.resize(64, 0x5a);
    f
}

#[test]
fn mirrored_batches_allocate_nothing() {
    let p = |n| PortId::new(n).unwrap();
    let v10 = VlanId::new(10).unwrap();
    let mut engine = Engine::new(FdbConfig {
        capacity: 1 << 16,
        aging_secs: 0,
        seed: 1,
    })
    .unwrap();
    let access = || PortConfig::new(VlanMode::Access(v10));
    let trunk = VlanMode::Trunk {
        allowed: "10".parse().unwrap(),
        native: None,
    };
    engine.add_port(p(0), access(), 0).unwrap();
    engine.add_port(p(1), PortConfig::new(trunk), 0).unwrap();
    engine.add_port(p(2), access(), 0).unwrap();
    engine.add_port(p(3), access(), 0).unwrap();
    engine
        .set_mirrors(
            vec![MirrorSession {
                sources: PortSet::one(p(0)),
                direction: MirrorDirection::Both,
                vlans: Some("10".parse().unwrap()),
                output: p(3),
            }],
            7,
        )
        .unwrap();
    let mut worker = engine.worker(Default::default()).unwrap();
    let mut tx = CountingTx([0; 4]);
    let mut rx_mem = vec![0u8; BATCH_SIZE * BUFFER_SIZE];
    let mut spare_mem = vec![0u8; BATCH_SIZE * BUFFER_SIZE];
    let mut run = |ingress: PortId, frames: &[Vec<u8>]| {
        let mut rx: arrayvec::ArrayVec<Frame<'_>, BATCH_SIZE> = arrayvec::ArrayVec::new();
        for (buf, f) in rx_mem.chunks_mut(BUFFER_SIZE).zip(frames) {
            buf[HEADROOM..HEADROOM + f.len()].copy_from_slice(f);
            rx.push(Frame::new(buf, HEADROOM, f.len()).unwrap());
        }
        let mut spares: arrayvec::ArrayVec<Frame<'_>, BATCH_SIZE> = spare_mem
            .chunks_mut(BUFFER_SIZE)
            .map(|b| Frame::new(b, HEADROOM, 0).unwrap())
            .collect();
        let snap = worker.load();
        worker.process(&snap, ingress, 7, &mut rx, &mut spares[..], &mut tx);
    };
    const A: u64 = 0x0200_0000_0001;
    const B: u64 = 0x0200_0000_0002;
    // B is never learned (the trunk drops untagged frames: no native
    // VLAN), so port 0's frames flood to the trunk (push) and port 2: the
    // ingress copy stays untagged, the tagged forward takes a spare copy.
    // Port 2's frames go to port 0 (egress copy, same buffer).
    let from_a = vec![frame(B, A); 4];
    let from_c = vec![frame(A, 0x0200_0000_0003); 4];
    run(p(0), &from_a);
    run(p(2), &from_c);
    WATCHING.with(|w| w.set(true));
    for _ in 0..200 {
        run(p(0), &from_a);
        run(p(2), &from_c);
    }
    WATCHING.with(|w| w.set(false));
    // 201 rounds (warm-up included) of 4 frames each way, each copied once.
    assert_eq!(
        tx.0,
        [804, 804, 804, 1608],
        "forwards and one copy of each frame"
    );
    assert_eq!(
        ALLOCATIONS.load(Ordering::Relaxed),
        0,
        "the packet path allocated"
    );
}

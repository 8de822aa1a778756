//! A steady-state batch allocates nothing: a counting global allocator
//! watches batches that learn new MACs, move a MAC, flood, push tags, pop
//! tags and copy frames into a second encoding.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use vswitch_engine::fdb::FdbConfig;
use vswitch_engine::limits::BATCH_SIZE;
use vswitch_engine::mem::{BUFFER_SIZE, HEADROOM};
use vswitch_engine::{
    Engine, Event, Frame, Output, PortConfig, PortId, Transmit, VlanId, VlanMode,
};

/// A driver's transmit side that only counts (a real one moves descriptors).
struct CountingTx(usize);

impl Transmit for CountingTx {
    fn transmit(&mut self, output: &Output, _frame: &Frame<'_>) {
        self.0 += output.ports.len();
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

fn frame(dst: u64, src: u64, vid: Option<u16>) -> Vec<u8> {
    let mut f = dst.to_be_bytes()[2..].to_vec();
    f.extend_from_slice(&src.to_be_bytes()[2..]);
    if let Some(vid) = vid {
        f.extend_from_slice(&[0x81, 0x00, 0x20, 0x00]);
        f[14..16].copy_from_slice(&(0x2000 | vid).to_be_bytes());
    }
    f.extend_from_slice(&[0x08, 0x00]);
    f.resize(64, 0x5a);
    f
}

#[test]
fn steady_state_batches_allocate_nothing() {
    let p = |n| PortId::new(n).unwrap();
    let v10 = VlanId::new(10).unwrap();
    let mut engine = Engine::new(FdbConfig {
        capacity: 1 << 20,
        aging_secs: 0,
        seed: 1,
    })
    .unwrap();
    engine
        .add_port(p(0), PortConfig::new(VlanMode::Access(v10)), 0)
        .unwrap();
    engine
        .add_port(p(1), PortConfig::new(VlanMode::Access(v10)), 0)
        .unwrap();
    let trunk = VlanMode::Trunk {
        allowed: "10".parse().unwrap(),
        native: None,
    };
    engine.add_port(p(2), PortConfig::new(trunk), 0).unwrap();
    let mut worker = engine.worker(Default::default()).unwrap();
    let mut tx = CountingTx(0);
    let mut rx_mem = vec![0u8; BATCH_SIZE * BUFFER_SIZE];
    let mut spare_mem = vec![0u8; BATCH_SIZE * BUFFER_SIZE];

    const HOST_ON_TRUNK: u64 = 0x0200_0000_0002;
    const MOVER: u64 = 0x0200_0000_0003;
    const BCAST: u64 = 0xffff_ffff_ffff;
    // Batch A from access port 0; batch B from the trunk.
    let batch_a = |fresh: u64| {
        vec![
            frame(BCAST, 0x0200_0001_0000 + fresh, None), // learn new, flood (push + copy)
            frame(HOST_ON_TRUNK, MOVER, None),            // move MOVER 1->0, push tag in place
            frame(BCAST, MOVER, None),
        ]
    };
    let batch_b = || vec![frame(MOVER, HOST_ON_TRUNK, Some(10))]; // pop tag
    let batch_c = || vec![frame(BCAST, MOVER, None)]; // MOVER back to port 1

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
        worker.last_batch().clone()
    };

    // Prebuilt inputs: building them allocates, switching them must not.
    let inputs: Vec<(PortId, Vec<Vec<u8>>)> = (0..200u64)
        .flat_map(|i| [(p(0), batch_a(i)), (p(2), batch_b()), (p(1), batch_c())])
        .collect();
    // Warm-up: first learns of the fixed hosts, lazy statics, etc.
    run(p(2), &batch_b());
    run(p(1), &batch_c());

    let mut learned = 0;
    let mut moved = 0;
    let mut copies = 0;
    WATCHING.with(|w| w.set(true));
    for (ingress, frames) in &inputs {
        let c = run(*ingress, frames);
        learned += c.events(Event::FdbLearned);
        moved += c.events(Event::FdbMoved);
        copies += c.events(Event::EgressCopies);
    }
    WATCHING.with(|w| w.set(false));

    // The batches did what they claim.
    assert_eq!(learned, 200, "a new MAC learned per batch A");
    assert!(moved >= 400, "MOVER moved twice per round: {moved}");
    assert!(copies >= 200, "floods needed a second encoding: {copies}");
    assert!(tx.0 >= 200 * 5, "outputs reached the driver: {}", tx.0);
    assert_eq!(
        ALLOCATIONS.load(Ordering::Relaxed),
        0,
        "the packet path allocated"
    );
}

/// With captures running at every point, a batch still allocates nothing:
/// matching frames are copied into records allocated when the capture
/// started (engine/src/capture.rs).
#[test]
fn batches_under_captures_allocate_nothing() {
    use std::sync::Arc;
    use vswitch_engine::capture::{Capture, CaptureFilter, Point};
    let p = |n| PortId::new(n).unwrap();
    let v10 = VlanId::new(10).unwrap();
    let mut engine = Engine::new(FdbConfig::default()).unwrap();
    engine
        .add_port(p(0), PortConfig::new(VlanMode::Access(v10)), 0)
        .unwrap();
    let trunk = VlanMode::Trunk {
        allowed: "10".parse().unwrap(),
        native: None,
    };
    engine.add_port(p(1), PortConfig::new(trunk), 0).unwrap();
    let caps: Vec<Arc<Capture>> = Point::ALL
        .iter()
        .enumerate()
        .map(|(i, &point)| Arc::new(Capture::new(i as u64, point, CaptureFilter::default(), 256)))
        .collect();
    for c in &caps {
        engine.add_capture(Arc::clone(c)).unwrap();
    }
    let mut worker = engine.worker(Default::default()).unwrap();
    let mut tx = CountingTx(0);
    let mut rx_mem = vec![0u8; BATCH_SIZE * BUFFER_SIZE];
    let frames = [
        frame(0xffff_ffff_ffff, 0x0200_0000_0001, None), // flood, tag pushed
        frame(0xffff_ffff_ffff, 0x0200_0000_0001, Some(10)), // tagged_on_access
    ];
    let mut run = || {
        let mut rx: arrayvec::ArrayVec<Frame<'_>, BATCH_SIZE> = arrayvec::ArrayVec::new();
        for (buf, f) in rx_mem.chunks_mut(BUFFER_SIZE).zip(&frames) {
            buf[HEADROOM..HEADROOM + f.len()].copy_from_slice(f);
            rx.push(Frame::new(buf, HEADROOM, f.len()).unwrap());
        }
        let mut spares: [Frame<'_>; 0] = [];
        let snap = worker.load();
        worker.process(&snap, p(0), 7, &mut rx, &mut spares[..], &mut tx);
    };
    run();
    let mut recorded = 0;
    for _ in 0..100 {
        WATCHING.with(|w| w.set(true));
        run();
        WATCHING.with(|w| w.set(false));
        for c in &caps {
            recorded += c.drain(usize::MAX, |_| {});
        }
    }
    assert!(recorded >= 300, "every point recorded: {recorded}");
    assert_eq!(
        ALLOCATIONS.load(Ordering::Relaxed),
        0,
        "the packet path allocated"
    );
}

/// Shaping (dataplane/engine/src/shaping.rs) on both ends of a flood,
/// passing and dropping, allocates nothing either.
#[test]
fn shaped_batches_allocate_nothing() {
    use vswitch_engine::shaping::{PortShaping, ShapingParams};
    use vswitch_engine::DropReason;
    let p = |n| PortId::new(n).unwrap();
    let v10 = VlanId::new(10).unwrap();
    let mut engine = Engine::new(FdbConfig::default()).unwrap();
    let limits = ShapingParams::new(1_000_000, Some(2_000_000), Some(10_000)).unwrap();
    let mut shaped_in = PortConfig::new(VlanMode::Access(v10));
    shaped_in.shaping = PortShaping::new(Some(limits), None);
    let mut shaped_out = PortConfig::new(VlanMode::Access(v10));
    shaped_out.shaping = PortShaping::new(None, Some(limits));
    engine.add_port(p(0), shaped_in, 0).unwrap();
    engine.add_port(p(1), shaped_out, 0).unwrap();
    engine
        .add_port(p(2), PortConfig::new(VlanMode::Access(v10)), 0)
        .unwrap();
    let mut worker = engine.worker(Default::default()).unwrap();
    let mut tx = CountingTx(0);
    let mut rx_mem = vec![0u8; BATCH_SIZE * BUFFER_SIZE];
    let mut spare_mem = vec![0u8; BATCH_SIZE * BUFFER_SIZE];
    let frames: Vec<Vec<u8>> = (0..BATCH_SIZE as u64)
        .map(|i| frame(0xffff_ffff_ffff, 0x0200_0000_0100 + i % 4, None))
        .collect();
    let mut run = |ingress: PortId| {
        let mut rx: arrayvec::ArrayVec<Frame<'_>, BATCH_SIZE> = arrayvec::ArrayVec::new();
        for (buf, f) in rx_mem.chunks_mut(BUFFER_SIZE).zip(&frames) {
            buf[HEADROOM..HEADROOM + f.len()].copy_from_slice(f);
            rx.push(Frame::new(buf, HEADROOM, f.len()).unwrap());
        }
        let mut spares: arrayvec::ArrayVec<Frame<'_>, BATCH_SIZE> = spare_mem
            .chunks_mut(BUFFER_SIZE)
            .map(|b| Frame::new(b, HEADROOM, 0).unwrap())
            .collect();
        let snap = worker.load();
        worker.process(&snap, ingress, 7, &mut rx, &mut spares[..], &mut tx);
        worker.last_batch().drops(DropReason::Shaped)
    };
    run(p(0));
    run(p(2));
    let mut shaped = 0;
    WATCHING.with(|w| w.set(true));
    for _ in 0..200 {
        shaped += run(p(0)) + run(p(2));
    }
    WATCHING.with(|w| w.set(false));
    assert!(
        shaped > 200 * BATCH_SIZE as u64,
        "both shapers dropped: {shaped}"
    );
    assert_eq!(
        ALLOCATIONS.load(Ordering::Relaxed),
        0,
        "the packet path allocated"
    );
}

/// Counts, per port, the outputs handed over (the mirror test checks where
/// copies went).
struct PerPortTx([usize; 4]);

impl Transmit for PerPortTx {
    fn transmit(&mut self, output: &Output, _frame: &Frame<'_>) {
        for p in output.ports.iter() {
            self.0[p.index()] += 1;
        }
    }
}

/// A batch with a mirror session allocates nothing either: ingress and
/// egress copies, one of them in a second encoding (a spare copy).
#[test]
fn mirrored_batches_allocate_nothing() {
    use vswitch_engine::mirror::{MirrorDirection, MirrorSession};
    use vswitch_engine::PortSet;
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
    let mut tx = PerPortTx([0; 4]);
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
    let from_a = vec![frame(B, A, None); 4];
    let from_c = vec![frame(A, 0x0200_0000_0003, None); 4];
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

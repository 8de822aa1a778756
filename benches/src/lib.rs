//! Shared rigging for the vswitch benchmarks: a pipeline with its buffers,
//! frame builders and a deterministic random MAC sequence.

#![deny(missing_docs)]

use std::sync::Arc;

use arrayvec::ArrayVec;
use vswitch_engine::fdb::{Fdb, FdbConfig, FdbReader};
use vswitch_engine::frame::{SparePool, Spares};
use vswitch_engine::limits::BATCH_SIZE;
use vswitch_engine::mem::{BUFFER_SIZE as FRAME_SIZE, HEADROOM};
use vswitch_engine::pipeline::{BatchOutput, Output};
use vswitch_engine::{
    Disposition, Engine, EngineWorker, Frame, Mac, PortConfig, PortId, Transmit, VlanId, VlanMode,
};

/// A 64-byte Ethernet frame (no FCS): dst, src, optional 802.1Q VID, IPv4
/// EtherType, padding.
pub fn frame64(dst: Mac, src: Mac, vid: Option<u16>) -> Vec<u8> {
    let mut f = dst.octets().to_vec();
    f.extend_from_slice(&src.octets());
    if let Some(vid) = vid {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&vid.to_be_bytes());
    }
    f.extend_from_slice(&[0x08, 0x00]);
    f.resize(64, 0);
    f
}

/// Host `i` of a lab: 02:00:hh:hh:hh:hh.
pub fn host(i: u64) -> Mac {
    Mac::from_u64(0x0200_0000_0000 | (i & 0xffff_ffff))
}

/// xorshift64*: deterministic, fast, good enough to scatter FDB accesses.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a non-zero seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// Next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }
}

/// A driver's transmit side that only counts what it is handed (a real
/// one moves descriptors).
#[derive(Debug, Default)]
pub struct CountingTx {
    /// Outputs handed over.
    pub outputs: usize,
}

impl Transmit for CountingTx {
    #[inline]
    fn transmit(&mut self, _output: &Output, _frame: &Frame<'_>) {
        self.outputs += 1;
    }

    /// Counting needs no buffers: what the engine costs is measured, not
    /// a driver's moving of bytes.
    #[inline]
    fn transmit_batch<'b, S: Spares<'b> + ?Sized>(
        &mut self,
        outputs: &[Output],
        _frames: &[Frame<'_>],
        _spares: &S,
    ) {
        self.outputs += outputs.len();
    }
}

/// One worker's side of the engine with its frame buffers, driven batch
/// by batch through the same API as the port runtime's workers.
pub struct Rig {
    /// The shared table.
    pub fdb: Arc<Fdb>,
    reader: FdbReader,
    engine: Engine,
    worker: EngineWorker,
    tx: CountingTx,
    rx_mem: Vec<u8>,
    spare_mem: Vec<u8>,
    windows: [(usize, usize); BATCH_SIZE],
    count: usize,
    /// Clock passed to batches.
    pub now: u32,
}

impl Rig {
    /// A rig with an FDB of `capacity` entries (no aging) and these ports.
    pub fn new(capacity: usize, ports: Vec<(PortId, PortConfig)>) -> Rig {
        let fdb = Arc::new(
            Fdb::new(FdbConfig {
                capacity,
                aging_secs: 0,
                seed: 42,
            })
            .expect("valid FDB config"),
        );
        let mut engine = Engine::with_fdb(Arc::clone(&fdb));
        for (id, cfg) in ports {
            engine.add_port(id, cfg, 0).expect("valid port");
        }
        Rig {
            reader: fdb.reader().expect("a reader slot"),
            worker: engine.worker(Default::default()).expect("a reader slot"),
            engine,
            tx: CountingTx::default(),
            fdb,
            rx_mem: vec![0; BATCH_SIZE * FRAME_SIZE],
            spare_mem: vec![0; BATCH_SIZE * FRAME_SIZE],
            windows: [(HEADROOM, 0); BATCH_SIZE],
            count: 0,
            now: 1,
        }
    }

    /// Puts `frames` (at most a batch) into the receive buffers.
    pub fn load(&mut self, frames: &[Vec<u8>]) {
        assert!(frames.len() <= BATCH_SIZE);
        for (i, f) in frames.iter().enumerate() {
            let base = i * FRAME_SIZE + HEADROOM;
            self.rx_mem[base..base + f.len()].copy_from_slice(f);
            self.windows[i] = (HEADROOM, f.len());
        }
        self.count = frames.len();
    }

    /// The data of received frame `i` as it is now (after earlier rewrites).
    #[inline]
    pub fn frame_mut(&mut self, i: usize) -> &mut [u8] {
        let (start, len) = self.windows[i];
        let base = i * FRAME_SIZE + start;
        &mut self.rx_mem[base..base + len]
    }

    /// Learns `mac` in `vlan` on `port`, as if a frame had come from there.
    pub fn learn(&mut self, vlan: VlanId, mac: Mac, port: PortId) {
        let pin = self.reader.pin();
        let h = pin.hash(vlan, mac);
        pin.learn(&h, port, self.now);
    }

    /// Switches the loaded frames as received on `ingress`; frames keep
    /// whatever in-place rewrite the pipeline made. Returns the number of
    /// outputs.
    #[inline]
    pub fn run(&mut self, ingress: PortId) -> usize {
        let mut rx: ArrayVec<Frame<'_>, BATCH_SIZE> = ArrayVec::new();
        for (buf, &(start, len)) in self
            .rx_mem
            .chunks_mut(FRAME_SIZE)
            .zip(&self.windows[..self.count])
        {
            rx.push(Frame::new(buf, start, len).expect("window fits"));
        }
        let mut spares = SparePool::new(&mut self.spare_mem, FRAME_SIZE, HEADROOM);
        let snapshot = self.worker.load();
        let before = self.tx.outputs;
        self.worker.process(
            &snapshot,
            ingress,
            self.now,
            &mut rx,
            &mut spares,
            &mut self.tx,
        );
        for (w, f) in self.windows.iter_mut().zip(&rx) {
            *w = (f.start(), f.len());
        }
        self.tx.outputs - before
    }

    /// The last batch's result.
    pub fn out(&self) -> &BatchOutput {
        self.worker.last_output()
    }

    /// The engine the rig's ports live in.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The engine, to change (start a capture, say): batches after the
    /// change run under what it publishes.
    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }
}

/// The floor the pipeline is judged against (issue 20): per batch, read
/// destination and source MACs from each frame, learn every source and
/// look up every destination in an atomic open-addressing table with the
/// whole batch's slots prefetched first. Nothing else: no VLAN
/// classification, no flush epochs, no aging, no egress encoding.
///
/// The table is linear probing over 16-byte (key, value) slots, a power
/// of two of them at most half full, so a lookup almost always reads one
/// cache line. Frames live in buffers laid out like the [`Rig`]'s.
pub struct Bare {
    slots: Box<[[std::sync::atomic::AtomicU64; 2]]>,
    mask: usize,
    mem: Vec<u8>,
    hashes: [(u64, usize, u64, usize); BATCH_SIZE],
    /// Clock stored with learned entries.
    pub now: u32,
}

/// murmur3's 64-bit finalizer (as the FDB uses).
#[inline]
fn bare_mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[inline(always)]
fn bare_prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint with no architectural effect; the
    // address comes from a live reference.
    unsafe {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p as *const T as *const i8)
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Reads 6 bytes at `at` as a MAC key (big-endian, in the low 48 bits),
/// with a fixed VID 10 on top, as the FDB packs (VLAN, MAC).
#[inline(always)]
fn bare_key(frame: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b[2..].copy_from_slice(&frame[at..at + 6]);
    (10u64 << 48) | u64::from_be_bytes(b)
}

impl Bare {
    /// A table for `capacity` entries and a batch of empty 64-byte frames.
    pub fn new(capacity: usize) -> Bare {
        use std::sync::atomic::AtomicU64;
        let n = (2 * capacity).next_power_of_two();
        Bare {
            slots: (0..n)
                .map(|_| [AtomicU64::new(0), AtomicU64::new(0)])
                .collect(),
            mask: n - 1,
            mem: vec![0; BATCH_SIZE * FRAME_SIZE],
            hashes: [(0, 0, 0, 0); BATCH_SIZE],
            now: 1,
        }
    }

    /// Receive buffer `i`'s 64 bytes of frame data.
    #[inline]
    pub fn frame_mut(&mut self, i: usize) -> &mut [u8] {
        let base = i * FRAME_SIZE + HEADROOM;
        &mut self.mem[base..base + 64]
    }

    #[inline(always)]
    fn home(&self, key: u64) -> usize {
        bare_mix(key) as usize & self.mask
    }

    /// Records `key` on `port`: writes only when the value changes.
    #[inline(always)]
    fn learn_at(&self, key: u64, mut i: usize, port: u64) {
        use std::sync::atomic::Ordering;
        let val = port | (self.now as u64) << 8;
        loop {
            let [k, v] = &self.slots[i];
            let cur = k.load(Ordering::Acquire);
            if cur == key {
                if v.load(Ordering::Relaxed) != val {
                    v.store(val, Ordering::Release);
                }
                return;
            }
            if cur == 0 {
                if k.compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    v.store(val, Ordering::Release);
                    return;
                }
                continue;
            }
            i = (i + 1) & self.mask;
        }
    }

    #[inline(always)]
    fn lookup_at(&self, key: u64, mut i: usize) -> Option<u64> {
        use std::sync::atomic::Ordering;
        loop {
            let [k, v] = &self.slots[i];
            match k.load(Ordering::Acquire) {
                0 => return None,
                cur if cur == key => return Some(v.load(Ordering::Acquire) & 0xff),
                _ => i = (i + 1) & self.mask,
            }
        }
    }

    /// Learns `mac` on `port` (VID 10, as the pipeline benches use).
    pub fn learn(&mut self, mac: Mac, port: u64) {
        let key = (10u64 << 48) | mac.to_u64();
        self.learn_at(key, self.home(key), port);
    }

    /// One batch received on port 0: returns the sum of the destination
    /// ports found (so nothing is optimized away).
    #[inline(never)]
    pub fn run(&mut self) -> u64 {
        for i in 0..BATCH_SIZE {
            let base = i * FRAME_SIZE + HEADROOM;
            let f = &self.mem[base..base + 12];
            let (dst, src) = (bare_key(f, 0), bare_key(f, 6));
            let (hd, hs) = (self.home(dst), self.home(src));
            bare_prefetch(&self.slots[hd]);
            bare_prefetch(&self.slots[hs]);
            self.hashes[i] = (dst, hd, src, hs);
        }
        for &(_, _, src, hs) in &self.hashes {
            self.learn_at(src, hs, 0);
        }
        let mut sum = 0;
        for &(dst, hd, _, _) in &self.hashes {
            sum += self.lookup_at(dst, hd).unwrap_or(0xff);
        }
        sum
    }
}

/// The `flood_mix` scenario (benches/benches/pipeline.rs and
/// benches/examples/callgrind.rs): five ports in VLAN 10 (three access, a
/// trunk, a guest port); from port 0 a batch of broadcasts, unknown
/// unicast and known unicast, loaded and checked to switch every frame.
pub fn flood_mix_rig() -> Rig {
    let p = |n: usize| PortId::new(n).expect("port id");
    let v10 = VlanId::new(10).expect("VID 10");
    let access = || PortConfig::new(VlanMode::Access(v10));
    let trunk = PortConfig::new(VlanMode::Trunk {
        allowed: "10".parse().expect("VLAN set"),
        native: None,
    });
    let ports = vec![
        (p(0), access()),
        (p(1), access()),
        (p(2), trunk),
        (p(3), access()),
        (p(4), PortConfig::new(VlanMode::Guest { native: None })),
    ];
    let mut rig = Rig::new(4096, ports);
    for i in 0..64 {
        rig.learn(v10, host(i), p(0));
        // Known unicast goes to untagged access ports: a frame rewritten
        // in place (a tag pushed for the trunk) would arrive tagged on the
        // access ingress in the next batch and be dropped, and the bench
        // would measure drops.
        let untagged_home = if (i / 4) % 2 == 0 { p(1) } else { p(3) };
        rig.learn(v10, host(1000 + i), untagged_home);
    }
    let frames: Vec<Vec<u8>> = (0..BATCH_SIZE as u64)
        .map(|i| match i % 4 {
            0 | 1 => frame64(Mac::BROADCAST, host(i), None),
            2 => frame64(host(5000 + i), host(i), None), // never learned
            _ => frame64(host(1000 + i), host(i), None),
        })
        .collect();
    rig.load(&frames);
    // Steady state switches every frame (see the learning above).
    for _ in 0..2 {
        rig.run(p(0));
    }
    assert!(
        rig.out()
            .dispositions()
            .iter()
            .all(|d| !matches!(d, Disposition::Drop(_))),
        "flood_mix drops frames: it would not measure what it says"
    );
    rig
}

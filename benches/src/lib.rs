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
use vswitch_engine::{Engine, EngineWorker, Frame, Mac, PortConfig, PortId, Transmit, VlanId};

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

    /// The engine, to reconfigure (mirror sessions, ...): published to the
    /// rig's worker at its next batch.
    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }
}

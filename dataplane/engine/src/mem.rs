//! An in-memory switch for tests and examples: push frames into a port,
//! run the real engine over them, and read, byte for byte, what each port
//! would transmit. It drives the engine exactly as the port runtime's
//! workers do ([`Engine`], [`EngineWorker::process`], [`Transmit`]); its
//! buffers are laid out like AF_XDP UMEM chunks ([`BUFFER_SIZE`] bytes,
//! data after [`HEADROOM`]), so tag pushes use real headroom.

use std::sync::Arc;

use arrayvec::ArrayVec;

use crate::engine::{Engine, EngineError, EngineWorker, Transmit};
use crate::fdb::{Fdb, FdbConfig};
use crate::frame::{Frame, SparePool};
use crate::limits::{BATCH_SIZE, MAX_PORTS};
use crate::pipeline::{Disposition, FrameRef, Output};
use crate::port::PortConfig;
use crate::snapshot::Snapshot;
use crate::stats::{BatchCounters, WorkerStats};
use crate::vocab::{DropReason, PortId, PortSet};

/// Bytes per buffer of the in-memory ports (an AF_XDP UMEM chunk's size).
pub const BUFFER_SIZE: usize = 4096;
/// Headroom in front of received data (the kernel's XDP headroom).
pub const HEADROOM: usize = 256;
/// Largest frame an in-memory port receives: what a buffer holds.
pub const MAX_RX_LEN: usize = BUFFER_SIZE - HEADROOM;

/// A switch whose ports are queues in memory.
pub struct MemSwitch {
    engine: Engine,
    worker: EngineWorker,
    pool: Vec<u8>,
    tx: Queues,
    now: u32,
    oversized: BatchCounters,
}

/// What each port transmitted, oldest first.
struct Queues(Vec<Vec<Vec<u8>>>);

impl Transmit for Queues {
    fn transmit(&mut self, output: &Output, frame: &Frame<'_>) {
        for p in output.ports.iter() {
            let mut bytes = frame.data().to_vec();
            for f in frame.frags() {
                bytes.extend_from_slice(f);
            }
            self.0[p.index()].push(bytes);
        }
    }
}

impl MemSwitch {
    /// A switch with a fresh FDB built from `fdb` and the given ports.
    pub fn new(
        fdb: FdbConfig,
        ports: impl IntoIterator<Item = (PortId, PortConfig)>,
    ) -> Result<MemSwitch, EngineError> {
        MemSwitch::build(Engine::new(fdb)?, ports)
    }

    /// A switch sharing an existing FDB (e.g. with another `MemSwitch`, as
    /// two workers would).
    pub fn with_fdb(
        fdb: &Arc<Fdb>,
        ports: impl IntoIterator<Item = (PortId, PortConfig)>,
    ) -> Result<MemSwitch, EngineError> {
        MemSwitch::build(Engine::with_fdb(Arc::clone(fdb)), ports)
    }

    fn build(
        mut engine: Engine,
        ports: impl IntoIterator<Item = (PortId, PortConfig)>,
    ) -> Result<MemSwitch, EngineError> {
        for (id, cfg) in ports {
            engine.add_port(id, cfg, 0)?;
        }
        let worker = engine.worker(Default::default())?;
        Ok(MemSwitch {
            engine,
            worker,
            pool: vec![0; 2 * BATCH_SIZE * BUFFER_SIZE],
            tx: Queues(vec![Vec::new(); MAX_PORTS]),
            now: 0,
            oversized: BatchCounters::default(),
        })
    }

    /// The shared FDB.
    pub fn fdb(&self) -> &Arc<Fdb> {
        self.engine.fdb()
    }

    /// The engine, for reconfiguration under its rules.
    pub fn engine(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// Makes `ports` the port table, through the engine's rules: ports
    /// not listed are removed, listed ones added or changed.
    pub fn set_ports(
        &mut self,
        ports: impl IntoIterator<Item = (PortId, PortConfig)>,
    ) -> Result<(), EngineError> {
        let mut wanted: Vec<Option<PortConfig>> = vec![None; MAX_PORTS];
        for (id, cfg) in ports {
            wanted[id.index()] = Some(cfg);
        }
        for (i, want) in wanted.into_iter().enumerate() {
            let Some(id) = PortId::new(i) else { continue };
            match (self.engine.port(id).is_some(), want) {
                (true, Some(cfg)) => {
                    self.engine.set_port(id, cfg, self.now)?;
                }
                (false, Some(cfg)) => self.engine.add_port(id, cfg, 0)?,
                (true, None) => {
                    self.engine.remove_port(id, self.now)?;
                }
                (false, None) => {}
            }
        }
        Ok(())
    }

    /// The current configuration.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.engine.snapshot()
    }

    /// Current time in seconds.
    pub fn now(&self) -> u32 {
        self.now
    }

    /// Sets the clock used for learning and aging.
    pub fn set_now(&mut self, now: u32) {
        self.now = now;
    }

    /// Sets the shapers' clock (nanoseconds; crate::shaping).
    pub fn set_clock(&mut self, clock: fn() -> u64) {
        self.worker.set_clock(clock);
    }

    /// Counters of this switch's worker.
    pub fn stats(&self) -> &WorkerStats {
        self.worker.stats()
    }

    /// Receives `frames` on `ingress` (in batches of [`BATCH_SIZE`]) and
    /// queues what each port transmits. Returns one disposition per frame.
    /// Frames longer than a buffer holds are dropped as `too_large`.
    pub fn receive(&mut self, ingress: PortId, frames: &[&[u8]]) -> Vec<Disposition> {
        let mut result = Vec::with_capacity(frames.len());
        for chunk in frames.chunks(BATCH_SIZE) {
            self.receive_batch(ingress, chunk, &mut result);
        }
        result
    }

    fn receive_batch(&mut self, ingress: PortId, chunk: &[&[u8]], result: &mut Vec<Disposition>) {
        let (rx_mem, spare_mem) = self.pool.split_at_mut(BATCH_SIZE * BUFFER_SIZE);
        let mut rx: ArrayVec<Frame<'_>, BATCH_SIZE> = ArrayVec::new();
        // Where each accepted frame sits in `chunk`; oversized ones never
        // reach the pipeline, as a NIC would not deliver them.
        let mut index: ArrayVec<usize, BATCH_SIZE> = ArrayVec::new();
        self.oversized.clear();
        for ((i, data), buf) in chunk.iter().enumerate().zip(rx_mem.chunks_mut(BUFFER_SIZE)) {
            if data.len() > MAX_RX_LEN {
                self.oversized.rx(ingress, data.len());
                self.oversized.rx_drop(ingress, DropReason::TooLarge);
                continue;
            }
            buf[HEADROOM..HEADROOM + data.len()].copy_from_slice(data);
            rx.push(Frame::new(buf, HEADROOM, data.len()).expect("fits: checked above"));
            index.push(i);
        }
        self.worker.stats().publish(&self.oversized);
        let mut spares = SparePool::new(spare_mem, BUFFER_SIZE, HEADROOM);
        let snapshot = self.worker.load();
        let out = self.worker.process(
            &snapshot,
            ingress,
            self.now,
            &mut rx,
            &mut spares,
            &mut self.tx,
        );
        check_outputs(out.outputs(), rx.len());
        let mut decided = out.dispositions().iter();
        for (i, _) in chunk.iter().enumerate() {
            result.push(if index.contains(&i) {
                *decided.next().expect("one disposition per accepted frame")
            } else {
                Disposition::Drop(DropReason::TooLarge)
            });
        }
    }

    /// Takes the frames queued for transmission on `port`, oldest first.
    pub fn take_tx(&mut self, port: PortId) -> Vec<Vec<u8>> {
        core::mem::take(&mut self.tx.0[port.index()])
    }

    /// Forgets every queued transmission.
    pub fn clear_tx(&mut self) {
        self.tx.0.iter_mut().for_each(Vec::clear);
    }
}

/// The shape the pipeline promises (and the C ABI relies on): outputs in
/// frame order, each received frame with at most one output of its own
/// buffer and at most one spare copy, no port twice for one frame.
fn check_outputs(outputs: &[Output], frames: usize) {
    let mut last = 0;
    let mut own = [0u8; BATCH_SIZE];
    let mut copies = [0u8; BATCH_SIZE];
    let mut ports = [PortSet::EMPTY; BATCH_SIZE];
    for o in outputs {
        let i = o.origin as usize;
        assert!(
            i < frames && i >= last,
            "output origins in frame order: {outputs:?}"
        );
        last = i;
        match o.frame {
            FrameRef::Rx(k) => {
                assert_eq!(k as usize, i, "a frame's own buffer names it");
                own[i] += 1;
            }
            FrameRef::Spare(_) => copies[i] += 1,
        }
        assert!(own[i] <= 1 && copies[i] <= 1, "frame {i}: {outputs:?}");
        assert!(
            ports[i].intersection(o.ports).is_empty(),
            "a port twice for frame {i}"
        );
        ports[i] = ports[i].union(o.ports);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vlan::VlanMode;
    use crate::wire::VlanId;

    #[test]
    fn oversized_frames_are_counted_drops() {
        let p0 = PortId::new(0).unwrap();
        let p1 = PortId::new(1).unwrap();
        let access = PortConfig::new(VlanMode::Access(VlanId::new(1).unwrap()));
        let mut sw =
            MemSwitch::new(FdbConfig::default(), [(p0, access.clone()), (p1, access)]).unwrap();
        let mut big = vec![0u8; MAX_RX_LEN + 1];
        big[..6].copy_from_slice(&[0xff; 6]);
        big[6] = 2;
        let small = &big[..60];
        let d = sw.receive(p0, &[&big, small]);
        assert_eq!(d[0], Disposition::Drop(DropReason::TooLarge));
        assert_eq!(d[1], Disposition::Flood(PortSet::one(p1)));
        assert_eq!(sw.take_tx(p1).len(), 1);
        assert_eq!(sw.stats().drops(DropReason::TooLarge), 1);
    }
}

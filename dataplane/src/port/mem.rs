//! An in-memory switch for tests and examples: push frames into a port,
//! run the real pipeline over them, and read, byte for byte, what each
//! port would transmit. Frame buffers are laid out like UMEM chunks
//! (`FRAME_SIZE` bytes, data after `HEADROOM`), so tag pushes use real
//! headroom exactly as on an AF_XDP port.

use std::sync::Arc;

use arrayvec::ArrayVec;
use crossbeam_utils::CachePadded;

use crate::fdb::{Fdb, FdbConfig, FdbError, FdbReader};
use crate::frame::{Frame, SparePool};
use crate::limits::{BATCH_SIZE, FRAME_SIZE, HEADROOM, MAX_FRAME_LEN, MAX_PORTS};
use crate::pipeline::{BatchContext, BatchOutput, Disposition, FrameRef, Pipeline};
use crate::port::{PortConfig, PortId};
use crate::snapshot::Snapshot;
use crate::stats::{BatchCounters, DropReason, WorkerStats};

/// A switch whose ports are queues in memory.
pub struct MemSwitch {
    reader: FdbReader,
    snapshot: Snapshot,
    pipeline: Pipeline,
    out: BatchOutput,
    pool: Vec<u8>,
    tx: Vec<Vec<Vec<u8>>>,
    now: u32,
    oversized: BatchCounters,
}

impl MemSwitch {
    /// A switch with a fresh FDB built from `fdb` and the given ports.
    pub fn new(
        fdb: FdbConfig,
        ports: impl IntoIterator<Item = (PortId, PortConfig)>,
    ) -> Result<MemSwitch, FdbError> {
        let fdb = Arc::new(Fdb::new(fdb)?);
        MemSwitch::with_fdb(&fdb, ports)
    }

    /// A switch sharing an existing FDB (e.g. with another `MemSwitch`, as
    /// two workers would).
    pub fn with_fdb(
        fdb: &Arc<Fdb>,
        ports: impl IntoIterator<Item = (PortId, PortConfig)>,
    ) -> Result<MemSwitch, FdbError> {
        Ok(MemSwitch {
            reader: fdb.reader()?,
            snapshot: Snapshot::new(ports),
            pipeline: Pipeline::new(Arc::new(CachePadded::new(WorkerStats::default()))),
            out: BatchOutput::default(),
            pool: vec![0; 2 * BATCH_SIZE * FRAME_SIZE],
            tx: vec![Vec::new(); MAX_PORTS],
            now: 0,
            oversized: BatchCounters::default(),
        })
    }

    /// The shared FDB.
    pub fn fdb(&self) -> &Arc<Fdb> {
        self.reader.fdb()
    }

    /// Replaces the port configuration (as a control thread would).
    pub fn set_ports(&mut self, ports: impl IntoIterator<Item = (PortId, PortConfig)>) {
        self.snapshot = Snapshot::new(ports);
    }

    /// The current configuration.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Current time in seconds.
    pub fn now(&self) -> u32 {
        self.now
    }

    /// Sets the clock used for learning and aging.
    pub fn set_now(&mut self, now: u32) {
        self.now = now;
    }

    /// Counters of this switch's worker.
    pub fn stats(&self) -> &WorkerStats {
        self.pipeline.stats()
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
        let (rx_mem, spare_mem) = self.pool.split_at_mut(BATCH_SIZE * FRAME_SIZE);
        let mut rx: ArrayVec<Frame<'_>, BATCH_SIZE> = ArrayVec::new();
        // Where each accepted frame sits in `chunk`; oversized ones never
        // reach the pipeline, as a NIC would not deliver them.
        let mut index: ArrayVec<usize, BATCH_SIZE> = ArrayVec::new();
        self.oversized.clear();
        for ((i, data), buf) in chunk.iter().enumerate().zip(rx_mem.chunks_mut(FRAME_SIZE)) {
            if data.len() > MAX_FRAME_LEN {
                self.oversized.rx(ingress, data.len());
                self.oversized.rx_drop(ingress, DropReason::TooLarge);
                continue;
            }
            buf[HEADROOM..HEADROOM + data.len()].copy_from_slice(data);
            rx.push(Frame::new(buf, HEADROOM, data.len()).expect("fits: checked above"));
            index.push(i);
        }
        self.pipeline.stats().publish(&self.oversized);
        let mut spares = SparePool::new(spare_mem, FRAME_SIZE, HEADROOM);
        let pinned = self.reader.pin();
        let ctx = BatchContext {
            snapshot: &self.snapshot,
            fdb: &pinned,
            now: self.now,
            ingress,
        };
        self.pipeline
            .process(&ctx, &mut rx, &mut spares, &mut self.out);
        drop(pinned);
        check_outputs(self.out.outputs(), rx.len());
        for o in self.out.outputs() {
            let data = match o.frame {
                FrameRef::Rx(i) => rx[i as usize].data(),
                FrameRef::Spare(j) => spares.frames()[j as usize].data(),
            };
            for p in o.ports.iter() {
                self.tx[p.index()].push(data.to_vec());
            }
        }
        let mut decided = self.out.dispositions().iter();
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
        core::mem::take(&mut self.tx[port.index()])
    }

    /// Forgets every queued transmission.
    pub fn clear_tx(&mut self) {
        self.tx.iter_mut().for_each(Vec::clear);
    }
}

/// The shape the pipeline promises (and the C ABI relies on): outputs in
/// frame order, each received frame with at most one output of its own
/// buffer and at most one spare copy, no port twice for one frame.
fn check_outputs(outputs: &[crate::pipeline::Output], frames: usize) {
    let mut last = 0;
    let mut own = [0u8; BATCH_SIZE];
    let mut copies = [0u8; BATCH_SIZE];
    let mut ports = [crate::port::PortSet::EMPTY; BATCH_SIZE];
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
        let mut big = vec![0u8; MAX_FRAME_LEN + 1];
        big[..6].copy_from_slice(&[0xff; 6]);
        big[6] = 2;
        let small = &big[..60];
        let d = sw.receive(p0, &[&big, small]);
        assert_eq!(d[0], Disposition::Drop(DropReason::TooLarge));
        assert_eq!(d[1], Disposition::Flood(crate::port::PortSet::one(p1)));
        assert_eq!(sw.take_tx(p1).len(), 1);
        assert_eq!(sw.stats().drops(DropReason::TooLarge), 1);
    }
}

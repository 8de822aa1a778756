//! Where a worker's outputs go once the engine has decided them: its own
//! AF_XDP ports (a descriptor move when the frame is a UMEM chunk), its
//! own packet ports (one `sendmmsg` per port per batch, with each frame's
//! virtio-net header), or another worker (one copy into a chunk it
//! donated). Frames that carry offload metadata reach ports without it
//! (AF_XDP, other workers' chunks) through software segmentation and
//! checksum completion, counted.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use arrayvec::ArrayVec;
use vswitch_engine::offload::{Offload, Segmenter};
use vswitch_engine::pipeline::{FrameRef, Output};
use vswitch_engine::stats::BatchCounters;
use vswitch_engine::{DropReason, Event, Frame, PortSet, Snapshot, Transmit};

use super::{tx_fail_reason, WorkerShared};
use crate::limits::{BATCH_SIZE, MAX_PORTS};
use crate::port::chunks::FramePool;
use crate::port::packet_socket::{TxFrame, VNET_HDR_LEN};
use crate::port::xsk::{
    Desc, Umem, Written, FRAME_SIZE, HEADROOM, MAX_CHUNK_FRAME_LEN, MAX_FRAME_BUFFERS,
};
use crate::port::OpenPort;

/// A frame in one buffer, as a packet socket sends it: its bytes and
/// offload metadata.
type Plain<'a> = (&'a [u8], Option<Offload>);

/// An output that could not be handed over while the engine ran: the
/// buffer and the ports still to serve.
pub(super) type Deferred = (FrameRef, PortSet);

/// A worker's [`Transmit`]: queues outputs of UMEM frames on the
/// transmit queues of the worker's own AF_XDP ports and hands them to the
/// workers that own other ports; defers everything else (packet ports,
/// frames that are not UMEM chunks) to [`Deliver`], which runs once the
/// engine is done with the batch.
pub(super) struct Router<'w> {
    /// The worker's UMEM when the batch's frames are its chunks; `None`
    /// for a batch from a packet socket.
    pub(super) umem: Option<&'w Umem>,
    pub(super) snap: &'w Snapshot,
    pub(super) me: &'w Arc<WorkerShared>,
    pub(super) peers: &'w Arc<[Arc<WorkerShared>]>,
    pub(super) local: &'w [Option<u8>; MAX_PORTS],
    pub(super) packet_ports: PortSet,
    pub(super) pending: &'w mut Vec<Vec<Desc>>,
    /// UMEM addresses queued for transmit, one entry per reference (the
    /// pool is lent to the batch's spares meanwhile).
    pub(super) held: &'w mut Vec<u64>,
    pub(super) deferred: &'w mut Vec<Deferred>,
    pub(super) counters: &'w mut BatchCounters,
}

impl Transmit for Router<'_> {
    fn transmit(&mut self, o: &Output, frame: &Frame<'_>) {
        // Every frame of an AF_XDP batch lies in the UMEM: received chunks
        // and spares alike.
        let addr = self.umem.and_then(|u| u.addr_of(frame.data()));
        let Some(addr) = addr else {
            self.deferred.push((o.frame, o.ports));
            return;
        };
        let to_packet = o.ports.intersection(self.packet_ports);
        if !to_packet.is_empty() {
            self.deferred.push((o.frame, to_packet));
        }
        let len = frame.head_len() as u32;
        // A multi-buffer frame (received in several chunks) leaves as a
        // chain of descriptors: each chunk is where it was received.
        let mut chain: ArrayVec<Desc, MAX_FRAME_BUFFERS> = ArrayVec::new();
        chain.push(Desc::last(addr, len));
        for f in frame.frags() {
            let Some(at) = self.umem.and_then(|u| u.addr_of(f)) else {
                // Every buffer of an AF_XDP frame is a UMEM chunk.
                for p in o.ports.iter() {
                    self.counters.tx_drop(p, DropReason::Truncated);
                }
                return;
            };
            if let Some(prev) = chain.last_mut() {
                prev.more = true;
            }
            if chain.try_push(Desc::last(at, f.len() as u32)).is_err() {
                // Never: rx_batch builds frames of at most that many.
                for p in o.ports.iter() {
                    self.counters.tx_drop(p, DropReason::TooLarge);
                }
                return;
            }
        }
        let owners = Owners {
            local: self.local,
            snap: self.snap,
            me: self.me.index,
            workers: self.peers.len(),
            down: self.me.links_down(),
        };
        let (pending, held) = (&mut *self.pending, &mut *self.held);
        let remote = owners.split(o.ports.difference(self.packet_ports), self.counters, |li| {
            for d in &chain {
                pending[li].push(*d);
                held.push(d.addr);
            }
        });
        for (w, set) in remote {
            if chain.len() > 1 {
                // A hand-off is one chunk of the target's UMEM
                // (crate::exchange): a frame longer than a chunk cannot
                // cross to another worker's port.
                for p in set.iter() {
                    self.counters.tx_drop(p, DropReason::TooLarge);
                }
                continue;
            }
            handoff(&self.peers[w], frame.data(), set, self.counters);
        }
    }
}

/// Who owns each output port: this worker (a local port index) or another
/// worker.
struct Owners<'w> {
    local: &'w [Option<u8>; MAX_PORTS],
    snap: &'w Snapshot,
    me: usize,
    workers: usize,
    /// This worker's ports marked down: a closed one (its interface went
    /// away) is a `link_down` drop, not an unknown port.
    down: PortSet,
}

impl Owners<'_> {
    /// Calls `mine` with the local index of each of `ports` this worker
    /// owns and returns the others grouped by owning worker; a port nobody
    /// owns (or beyond the hand-off fan-out) is a counted drop.
    fn split(
        &self,
        ports: PortSet,
        counters: &mut BatchCounters,
        mut mine: impl FnMut(usize),
    ) -> ArrayVec<(usize, PortSet), 8> {
        let mut remote: ArrayVec<(usize, PortSet), 8> = ArrayVec::new();
        for p in ports.iter() {
            if let Some(li) = self.local[p.index()] {
                mine(li as usize);
                continue;
            }
            match self.snap.worker_of(p) {
                Some(w) if w != self.me && w < self.workers => {
                    match remote.iter_mut().find(|(rw, _)| *rw == w) {
                        Some((_, set)) => set.insert(p),
                        None => {
                            if remote.try_push((w, PortSet::one(p))).is_err() {
                                counters.tx_drop(p, DropReason::HandoffFull);
                            }
                        }
                    }
                }
                Some(w) if w == self.me && self.down.contains(p) => {
                    counters.tx_drop(p, DropReason::LinkDown)
                }
                _ => counters.tx_drop(p, DropReason::PortUnknown),
            }
        }
        remote
    }
}

/// Sends what the [`Router`] deferred, after the engine is done with the
/// batch (so the worker's pool and ports are free again).
pub(super) struct Deliver<'w> {
    pub(super) umem: &'w Umem,
    pub(super) pool: &'w mut FramePool,
    pub(super) pending: &'w mut Vec<Vec<Desc>>,
    pub(super) local: &'w [Option<u8>; MAX_PORTS],
    pub(super) packet_ports: PortSet,
    pub(super) snap: &'w Snapshot,
    pub(super) me: &'w Arc<WorkerShared>,
    pub(super) peers: &'w Arc<[Arc<WorkerShared>]>,
    pub(super) counters: &'w mut BatchCounters,
}

/// The virtio-net header bytes a frame leaves a packet socket with.
/// (All zero, "no offloads", for a plain frame.)
fn vnet_of(offload: Option<Offload>) -> [u8; VNET_HDR_LEN] {
    let mut out = [0u8; VNET_HDR_LEN];
    if let Some(o) = offload {
        o.to_vnet().write(&mut out);
    }
    out
}

impl Deliver<'_> {
    /// Sends every deferred output; `rx` and `spares` are the batch's
    /// frames and spare copies that [`FrameRef`]s name.
    pub(super) fn send(
        &mut self,
        ports: &mut [OpenPort],
        deferred: &[Deferred],
        rx: &[Frame<'_>],
        spares: &[Frame<'_>],
    ) {
        // What sending needs of a frame: its bytes and its offload
        // metadata. A multi-buffer AF_XDP frame (several chunks) is not
        // sent to packet ports: counted as too large for them.
        let frame_of = |r: FrameRef| -> Option<Result<Plain<'_>, ()>> {
            let plain = |f: &Frame<'_>| f.frags().is_empty();
            let f = match r {
                FrameRef::Rx(i) => rx
                    .get(i as usize)
                    .map(|f| (plain(f), f.data(), f.offload())),
                FrameRef::Spare(j) => spares
                    .get(j as usize)
                    .map(|f| (plain(f), f.data(), f.offload())),
            }?;
            Some(match f {
                (true, data, offload) => Ok((data, offload)),
                (false, ..) => Err(()),
            })
        };
        // Packet ports: one sendmmsg per port, frames as they are (a
        // super-frame goes whole, with its header).
        let mut targets = PortSet::EMPTY;
        for (_, ports) in deferred {
            targets = targets.union(ports.intersection(self.packet_ports));
        }
        let down = self.me.links_down();
        for p in targets.iter() {
            let port = self.local[p.index()].and_then(|li| ports.get_mut(li as usize));
            let mut batch: ArrayVec<TxFrame<'_>, { 2 * BATCH_SIZE }> = ArrayVec::new();
            for (r, ports) in deferred {
                match (ports.contains(p), frame_of(*r)) {
                    (true, Some(Ok((data, offload)))) => batch.push(TxFrame {
                        vnet: vnet_of(offload),
                        data,
                    }),
                    (true, Some(Err(()))) => self.counters.tx_drop(p, DropReason::TooLarge),
                    _ => {}
                }
            }
            let (sent, reason) = match port {
                _ if down.contains(p) => (0, DropReason::LinkDown),
                Some(OpenPort::Packet(port)) => {
                    let rep = port.socket.send_batch(&batch);
                    (rep.sent, tx_fail_reason(rep.link_down()))
                }
                _ => (0, DropReason::TxRingFull),
            };
            for _ in sent..batch.len() {
                self.counters.tx_drop(p, reason);
            }
        }
        // The rest: frames from a packet socket to AF_XDP ports and other
        // workers.
        for (r, ports) in deferred {
            let rest = ports.difference(self.packet_ports);
            if rest.is_empty() {
                continue;
            }
            match frame_of(*r) {
                Some(Ok((data, offload))) => self.segment_out(data, offload, rest),
                Some(Err(())) => {
                    for p in rest.iter() {
                        self.counters.tx_drop(p, DropReason::TooLarge);
                    }
                }
                None => {
                    for p in rest.iter() {
                        self.counters.tx_drop(p, DropReason::PortUnknown);
                    }
                }
            }
        }
    }

    /// Sends a frame that is not a UMEM chunk to AF_XDP ports of this
    /// worker and to other workers: each segment (the frame itself when it
    /// needs no segmentation) is written once into a chunk, checksum
    /// completed.
    fn segment_out(&mut self, data: &[u8], off: Option<Offload>, ports: PortSet) {
        let drop_all = |counters: &mut BatchCounters, reason| {
            for p in ports.iter() {
                counters.tx_drop(p, reason);
            }
        };
        // A plain frame (ARP, ICMP, a complete checksum) is one copy as it
        // is; only offload metadata needs the segmenter's parsing.
        let seg = match &off {
            None => None,
            Some(o) => match Segmenter::new(data, o) {
                Ok(seg) => Some(seg),
                Err(_) => return drop_all(self.counters, DropReason::BadOffload),
            },
        };
        let (count, max_len) = match &seg {
            Some(seg) => (seg.count(), seg.max_len()),
            None => (1, data.len()),
        };
        if max_len > MAX_CHUNK_FRAME_LEN {
            return drop_all(self.counters, DropReason::TooLarge);
        }
        let write = |i: usize, buf: &mut [u8]| match &seg {
            Some(seg) => seg.write(i, buf),
            None => {
                let out = buf.get_mut(..data.len())?;
                out.copy_from_slice(data);
                Some(data.len())
            }
        };
        let mut mine: ArrayVec<usize, MAX_PORTS> = ArrayVec::new();
        let owners = Owners {
            local: self.local,
            snap: self.snap,
            me: self.me.index,
            workers: self.peers.len(),
            down: self.me.links_down(),
        };
        let remote = owners.split(ports, self.counters, |li| mine.push(li));
        if let Some(off) = off {
            if off.csum.is_some() {
                self.counters.event(Event::ChecksumCompleted, count as u64);
            }
            if off.gso.is_some() {
                self.counters.event(Event::SoftwareSegments, count as u64);
            }
        }
        let mut scratch = [0u8; FRAME_SIZE];
        for i in 0..count {
            if !mine.is_empty() {
                let Some(mut chunk) = self.pool.take() else {
                    for p in ports.iter() {
                        self.counters.tx_drop(p, DropReason::NoSpareFrame);
                    }
                    return;
                };
                let Some(len) = write(i, &mut self.umem.chunk_mut(&mut chunk)[HEADROOM..]) else {
                    self.pool.put(chunk);
                    continue;
                };
                let addr = chunk.base() + HEADROOM as u64;
                for &li in &mine {
                    self.pending[li].push(Desc::last(addr, len as u32));
                    self.pool.hold(addr, 1);
                }
                // Out until the last of those transmits completes.
                self.pool.put(chunk);
            }
            if !remote.is_empty() {
                let Some(len) = write(i, &mut scratch) else {
                    continue;
                };
                for &(w, set) in &remote {
                    handoff(&self.peers[w], &scratch[..len], set, self.counters);
                }
            }
        }
    }
}

/// Copies `data` into a chunk the target worker donated and queues it on
/// the target's inbox; counts a drop per port when that is not possible
/// (nothing donated, a donation from before the target's last UMEM
/// rebuild, a full inbox).
pub(super) fn handoff(
    target: &WorkerShared,
    data: &[u8],
    ports: PortSet,
    counters: &mut BatchCounters,
) {
    let drop_all = |counters: &mut BatchCounters| {
        for p in ports.iter() {
            counters.tx_drop(p, DropReason::HandoffFull);
        }
    };
    let Ok(claim) = target.area.claim() else {
        drop_all(counters);
        return;
    };
    // Dropping the claim unsent (a frame too long, a full inbox) gives
    // the chunk back to the target's donations.
    if !target.area.write_claimed(&claim, HEADROOM, data) {
        drop_all(counters);
        return;
    }
    let written = Written {
        len: data.len() as u32,
        ports,
    };
    match claim.send(written) {
        Ok(()) => {
            counters.event(Event::Handoff, 1);
            if target.asleep.load(Ordering::SeqCst) {
                target.wake();
            }
        }
        Err(_) => drop_all(counters),
    }
}

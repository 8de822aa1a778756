//! The batch pipeline: frames of one ingress port in, a [`Disposition`] per
//! frame and a list of (ports, frame) outputs out, with VLAN tags pushed
//! and popped in place.
//!
//! Per batch (VPP l2-learn / l2-fwd style):
//! 1. parse and classify every frame, hash its source and destination and
//!    prefetch their FDB buckets;
//! 2. learn every source;
//! 3. look up every destination and decide: `Forward`, `Flood` or `Drop`;
//! 4. encode for egress: a frame whose output ports all want one encoding
//!    is rewritten in place in its headroom; when they want two (tagged and
//!    untagged), the frame keeps the encoding closest to how it arrived and
//!    one copy is made into a spare frame reserved by the caller.
//!
//! Nothing here allocates, locks or returns an error.

use arrayvec::ArrayVec;

use crate::fdb::{Hashed, Learn, Pinned};
use crate::frame::{Encoding, Frame};
use crate::limits::BATCH_SIZE;
use crate::port::{PortId, PortSet};
use crate::snapshot::Snapshot;
use crate::stats::{BatchCounters, DropReason, Event, WorkerStats};
use crate::vlan::Ingress;
use crate::wire::{L2Header, Mac, TagKind, Tci, VlanId};

/// What happened to one received frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Sent to exactly one learned port.
    Forward(PortId),
    /// Sent to several ports (flood, or known unicast plus promiscuous
    /// ports, which is counted as unicast).
    Flood(PortSet),
    /// Not sent anywhere.
    Drop(DropReason),
}

/// Which buffer an [`Output`] transmits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameRef {
    /// The received frame with this index in the batch (rewritten in place).
    Rx(u8),
    /// The spare frame with this index.
    Spare(u8),
}

/// One buffer to transmit on a set of ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    /// Ports that get this buffer.
    pub ports: PortSet,
    /// The buffer.
    pub frame: FrameRef,
}

/// The result of one batch.
#[derive(Debug, Default)]
pub struct BatchOutput {
    /// One per processed frame, in order.
    pub dispositions: ArrayVec<Disposition, BATCH_SIZE>,
    /// What to transmit, in frame order. A port appears at most once per
    /// received frame.
    pub outputs: ArrayVec<Output, { 2 * BATCH_SIZE }>,
    /// Spare frames written (the first `spares_used` of those passed in).
    pub spares_used: usize,
}

impl BatchOutput {
    fn clear(&mut self) {
        self.dispositions.clear();
        self.outputs.clear();
        self.spares_used = 0;
    }
}

/// Everything a batch is decided under.
pub struct BatchContext<'a, 'f> {
    /// The configuration.
    pub snapshot: &'a Snapshot,
    /// The FDB, pinned for this batch.
    pub fdb: &'a Pinned<'f>,
    /// Current time in seconds (any epoch; only differences matter).
    pub now: u32,
    /// Port every frame of the batch came from.
    pub ingress: PortId,
}

#[derive(Clone, Copy, Default)]
struct Meta {
    drop: Option<DropReason>,
    vlan: Option<VlanId>,
    tci: Tci,
    tagged: bool,
    dst: Mac,
    src: Mac,
    h_src: Hashed,
    h_dst: Hashed,
}

/// One worker's pipeline: scratch space and counters, reused every batch.
pub struct Pipeline {
    meta: [Meta; BATCH_SIZE],
    counters: BatchCounters,
    stats: std::sync::Arc<crossbeam_utils::CachePadded<WorkerStats>>,
}

impl Default for Pipeline {
    fn default() -> Self {
        Pipeline::new(Default::default())
    }
}

impl Pipeline {
    /// A pipeline publishing into `stats`.
    pub fn new(stats: std::sync::Arc<crossbeam_utils::CachePadded<WorkerStats>>) -> Pipeline {
        Pipeline {
            meta: [Meta::default(); BATCH_SIZE],
            counters: BatchCounters::default(),
            stats,
        }
    }

    /// Counters this pipeline publishes into.
    pub fn stats(&self) -> &std::sync::Arc<crossbeam_utils::CachePadded<WorkerStats>> {
        &self.stats
    }

    /// Counts of the last batch (already published to [`Pipeline::stats`]).
    pub fn last_batch(&self) -> &BatchCounters {
        &self.counters
    }

    /// Switches up to [`BATCH_SIZE`] frames received on `ctx.ingress`
    /// (frames past that are left untouched and unreported). `spares` are
    /// empty frames with headroom for copies in a second encoding; pass
    /// as many as frames to never run short.
    pub fn process(
        &mut self,
        ctx: &BatchContext<'_, '_>,
        frames: &mut [Frame<'_>],
        spares: &mut [Frame<'_>],
        out: &mut BatchOutput,
    ) {
        out.clear();
        self.counters.clear();
        let n = frames.len().min(BATCH_SIZE);
        let frames = &mut frames[..n];
        match ctx.snapshot.port(ctx.ingress) {
            Some(port) => {
                self.classify(ctx, &port.vlan, frames);
                if port.learning {
                    self.learn(ctx, n);
                }
                self.forward(ctx, frames, spares, out);
            }
            None => {
                for f in frames.iter() {
                    self.counters.rx(ctx.ingress, f.len());
                    self.counters.rx_drop(ctx.ingress, DropReason::PortUnknown);
                    out.dispositions
                        .push(Disposition::Drop(DropReason::PortUnknown));
                }
            }
        }
        self.stats.publish(&self.counters);
    }

    /// Phase 1: parse, classify into a VLAN, hash, prefetch.
    #[inline]
    fn classify(
        &mut self,
        ctx: &BatchContext<'_, '_>,
        mode: &crate::vlan::VlanMode,
        frames: &[Frame<'_>],
    ) {
        for (m, f) in self.meta.iter_mut().zip(frames) {
            self.counters.rx(ctx.ingress, f.len());
            let parsed = L2Header::parse(f.data())
                .and_then(|h| mode.classify(h.tag).map(|ing: Ingress| (h, ing)));
            *m = match parsed {
                Ok((h, ing)) => {
                    let mut meta = Meta {
                        drop: None,
                        vlan: Some(ing.vlan),
                        tci: ing.tci,
                        tagged: !matches!(h.tag, TagKind::Untagged),
                        dst: h.dst,
                        src: h.src,
                        h_src: ctx.fdb.hash(ing.vlan, h.src),
                        h_dst: Hashed::default(),
                    };
                    ctx.fdb.prefetch(&meta.h_src);
                    if h.dst.is_unicast() {
                        meta.h_dst = ctx.fdb.hash(ing.vlan, h.dst);
                        ctx.fdb.prefetch(&meta.h_dst);
                    }
                    meta
                }
                Err(reason) => Meta {
                    drop: Some(reason),
                    ..Meta::default()
                },
            };
        }
    }

    /// Phase 2: learn every learnable source of the batch.
    #[inline]
    fn learn(&mut self, ctx: &BatchContext<'_, '_>, n: usize) {
        let mut last: Option<Hashed> = None;
        for m in &self.meta[..n] {
            if m.drop.is_some() || !m.src.is_learnable() {
                continue;
            }
            // A burst from one host repeats its source: learn it once.
            if last == Some(m.h_src) {
                continue;
            }
            last = Some(m.h_src);
            let event = match ctx.fdb.learn(&m.h_src, ctx.ingress, ctx.now) {
                Learn::Unchanged | Learn::Refreshed => continue,
                Learn::Learned => Event::FdbLearned,
                Learn::Moved => Event::FdbMoved,
                Learn::Full => Event::FdbFull,
                Learn::Race => Event::FdbRace,
                Learn::StaticConflict => Event::FdbStaticConflict,
            };
            self.counters.event(event, 1);
        }
    }

    /// Phases 3 and 4: decide, encode, list outputs.
    #[inline]
    fn forward(
        &mut self,
        ctx: &BatchContext<'_, '_>,
        frames: &mut [Frame<'_>],
        spares: &mut [Frame<'_>],
        out: &mut BatchOutput,
    ) {
        let ingress = ctx.ingress;
        let snap = ctx.snapshot;
        let mut last_dst: Option<(Hashed, Option<PortId>)> = None;
        for (i, frame) in frames.iter_mut().enumerate() {
            let m = self.meta[i];
            let (Some(vlan), None) = (m.vlan, m.drop) else {
                let reason = m.drop.unwrap_or(DropReason::Runt);
                self.counters.rx_drop(ingress, reason);
                out.dispositions.push(Disposition::Drop(reason));
                continue;
            };
            let row = snap.vlan(vlan);
            let others = row.members.without(ingress);
            let promisc = snap.promiscuous().intersection(others);
            let (ports, unicast) = if m.dst.is_group() {
                (others, None)
            } else {
                let found = match last_dst {
                    Some((h, port)) if h == m.h_dst => port,
                    _ => {
                        let port = ctx.fdb.lookup(&m.h_dst, ctx.now);
                        last_dst = Some((m.h_dst, port));
                        port
                    }
                };
                match found {
                    Some(q) if q == ingress => {
                        self.counters.rx_drop(ingress, DropReason::SamePort);
                        out.dispositions
                            .push(Disposition::Drop(DropReason::SamePort));
                        continue;
                    }
                    Some(q) if row.members.contains(q) => (PortSet::one(q).union(promisc), Some(q)),
                    _ => (
                        others.intersection(snap.unknown_unicast()).union(promisc),
                        None,
                    ),
                }
            };
            if ports.is_empty() {
                self.counters.rx_drop(ingress, DropReason::NoOutput);
                out.dispositions
                    .push(Disposition::Drop(DropReason::NoOutput));
                continue;
            }
            match unicast {
                Some(q) => {
                    self.counters.event(Event::Unicast, 1);
                    out.dispositions.push(if ports.len() == 1 {
                        Disposition::Forward(q)
                    } else {
                        Disposition::Flood(ports)
                    });
                }
                None => {
                    self.counters.event(Event::Flood, 1);
                    if m.dst.is_unicast() {
                        self.counters.event(Event::UnknownUnicast, 1);
                    }
                    out.dispositions.push(Disposition::Flood(ports));
                }
            }
            let tagged_ports = ports.intersection(row.tagged);
            let untagged_ports = ports.difference(row.tagged);
            self.egress(
                snap,
                i as u8,
                &m,
                frame,
                spares,
                out,
                untagged_ports,
                tagged_ports,
            );
        }
    }

    /// Encodes frame `i` for its output ports and records the outputs.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn egress(
        &mut self,
        snap: &Snapshot,
        i: u8,
        m: &Meta,
        frame: &mut Frame<'_>,
        spares: &mut [Frame<'_>],
        out: &mut BatchOutput,
        untagged_ports: PortSet,
        tagged_ports: PortSet,
    ) {
        let tagged_enc = Encoding::Tagged(m.tci);
        // The received frame keeps the encoding it arrived closest to; the
        // other one, if also needed, goes into a spare copy. When nobody
        // wants the arrival encoding, the frame is rewritten in place.
        let (near, far) = if m.tagged {
            (
                (tagged_enc, tagged_ports),
                (Encoding::Untagged, untagged_ports),
            )
        } else {
            (
                (Encoding::Untagged, untagged_ports),
                (tagged_enc, tagged_ports),
            )
        };
        let ((primary_enc, primary_ports), (other_enc, other_ports)) = if near.1.is_empty() {
            (far, (Encoding::Untagged, PortSet::EMPTY))
        } else {
            (near, far)
        };
        let primary_len = (frame.len() as isize + primary_enc.len_delta(m.tagged)) as usize;
        let primary_ports = self.fit(snap, primary_ports, primary_len);
        if !other_ports.is_empty() {
            let other_len = (frame.len() as isize + other_enc.len_delta(m.tagged)) as usize;
            let other_ports = self.fit(snap, other_ports, other_len);
            if !other_ports.is_empty() {
                self.copy_out(frame, m.tagged, other_enc, other_ports, spares, out);
            }
        }
        if primary_ports.is_empty() {
            return;
        }
        if frame.encode(m.tagged, primary_enc) {
            self.tx(primary_ports, frame.len());
            out.outputs.push(Output {
                ports: primary_ports,
                frame: FrameRef::Rx(i),
            });
        } else {
            // No headroom to push the tag in place: fall back to a copy.
            self.copy_out(frame, m.tagged, primary_enc, primary_ports, spares, out);
        }
    }

    /// Drops (counted per port) the ports of `ports` that cannot take a
    /// frame of `len` bytes; returns the rest.
    #[inline]
    fn fit(&mut self, snap: &Snapshot, ports: PortSet, len: usize) -> PortSet {
        if len <= snap.smallest_max_frame() {
            return ports;
        }
        let mut ok = ports;
        for p in ports.iter() {
            let max = snap.port(p).map_or(0, |c| c.max_frame_len);
            if len > max {
                ok.remove(p);
                self.counters.tx_drop(p, DropReason::TooLarge);
            }
        }
        ok
    }

    /// Writes `frame` in encoding `enc` into the next spare and lists it
    /// for `ports`; counts a drop per port when no spare is left.
    #[inline]
    fn copy_out(
        &mut self,
        frame: &Frame<'_>,
        tagged: bool,
        enc: Encoding,
        ports: PortSet,
        spares: &mut [Frame<'_>],
        out: &mut BatchOutput,
    ) {
        let j = out.spares_used;
        let written = match spares.get_mut(j) {
            Some(spare) => spare
                .copy_encoded(frame.data(), tagged, enc)
                .then_some(spare.len()),
            None => None,
        };
        match written {
            Some(len) => {
                out.spares_used += 1;
                self.counters.event(Event::EgressCopies, 1);
                self.tx(ports, len);
                out.outputs.push(Output {
                    ports,
                    frame: FrameRef::Spare(j as u8),
                });
            }
            None => {
                for p in ports.iter() {
                    self.counters.tx_drop(p, DropReason::NoSpareFrame);
                }
            }
        }
    }

    #[inline]
    fn tx(&mut self, ports: PortSet, len: usize) {
        for p in ports.iter() {
            self.counters.tx(p, len);
        }
    }
}

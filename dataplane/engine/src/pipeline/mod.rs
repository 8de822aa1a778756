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

mod cache;
mod observe;
mod security;
mod shape;

use cache::FdbCache;
pub use observe::{Classified, NoObserver, Observer};

use crate::fdb::{key_of, Hashed, Learn, Pinned};
use crate::frame::{Encoding, Frame, Spares};
use crate::limits::BATCH_SIZE;
use crate::policy::{self, PortPolicy};
use crate::port::PortConfig;
use crate::snapshot::Snapshot;
use crate::stats::{BatchCounters, WorkerStats};
use crate::vocab::{DropReason, Event};
use crate::vocab::{PortId, PortSet};
use crate::wire::{EthernetFrame, TagKind, Tci, VlanId};

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
///
/// A received frame yields at most two outputs: its own buffer (possibly
/// rewritten) and at most one spare copy. A spare is needed either for a
/// second encoding (the buffer then keeps an encoding that needs no room:
/// its own tag state, or a pop) or, for a single encoding, when a tag must
/// be pushed and the buffer has no headroom. Never both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    /// Ports that get this buffer.
    pub ports: PortSet,
    /// The buffer.
    pub frame: FrameRef,
    /// Index of the received frame this output comes from.
    pub origin: u8,
}

/// The result of one batch.
///
/// Plain arrays with counts rather than `ArrayVec`s: every frame writes one
/// disposition and up to two outputs, and a push here is on the per-packet
/// path.
#[derive(Debug)]
pub struct BatchOutput {
    dispositions: [Disposition; BATCH_SIZE],
    n_dispositions: usize,
    outputs: [Output; 2 * BATCH_SIZE],
    n_outputs: usize,
    spares_used: usize,
}

impl Default for BatchOutput {
    fn default() -> Self {
        BatchOutput {
            dispositions: [Disposition::Drop(DropReason::Runt); BATCH_SIZE],
            n_dispositions: 0,
            outputs: [Output {
                ports: PortSet::EMPTY,
                frame: FrameRef::Rx(0),
                origin: 0,
            }; 2 * BATCH_SIZE],
            n_outputs: 0,
            spares_used: 0,
        }
    }
}

impl BatchOutput {
    /// One per processed frame, in order.
    pub fn dispositions(&self) -> &[Disposition] {
        &self.dispositions[..self.n_dispositions]
    }

    /// What to transmit, in frame order. A port appears at most once per
    /// received frame.
    pub fn outputs(&self) -> &[Output] {
        &self.outputs[..self.n_outputs]
    }

    /// Spare frames written (the first `spares_used` asked for).
    pub fn spares_used(&self) -> usize {
        self.spares_used
    }

    fn clear(&mut self) {
        self.n_dispositions = 0;
        self.n_outputs = 0;
        self.spares_used = 0;
    }

    #[inline(always)]
    fn decide(&mut self, d: Disposition) {
        // At most one per frame and at most BATCH_SIZE frames: never full.
        if let Some(slot) = self.dispositions.get_mut(self.n_dispositions) {
            *slot = d;
            self.n_dispositions += 1;
        }
    }

    #[inline(always)]
    fn emit(&mut self, o: Output) {
        // At most two per frame: never full.
        if let Some(slot) = self.outputs.get_mut(self.n_outputs) {
            *slot = o;
            self.n_outputs += 1;
        }
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

/// What phase 1 learned about one frame, kept compact.
#[derive(Clone, Copy, Default)]
struct Meta {
    /// (VLAN, MAC) keys of source and destination ([`key_of`]).
    src_key: u64,
    dst_key: u64,
    /// PCP and DEI of the received tag, VID = the frame's VLAN.
    tci: Tci,
    /// The frame's VLAN, or `None` when `drop` says why it dies.
    vlan: Option<VlanId>,
    drop: Option<DropReason>,
    /// Arrived with an 802.1Q tag (priority tags included).
    tagged: bool,
    dst_group: bool,
    /// The source must go through the FDB (not learnable sources and
    /// sources this worker learned this second skip it).
    learn: bool,
    /// The destination's FDB hash is in `Pipeline::hashes`.
    dst_hashed: bool,
    /// What the cache said of the destination in phase 1.
    dst_port: Option<u8>,
}

/// FDB hashes of one frame's source and destination, written only when the
/// cache could not answer (kept apart so `Meta` stays 32 bytes).
#[derive(Clone, Copy, Default)]
struct Hashes {
    src: Hashed,
    dst: Hashed,
}

/// One worker's pipeline: scratch space, FDB answer cache and counters,
/// reused every batch.
pub struct Pipeline {
    meta: [Meta; BATCH_SIZE],
    hashes: [Hashes; BATCH_SIZE],
    cache: FdbCache,
    counters: BatchCounters,
    stats: std::sync::Arc<crossbeam_utils::CachePadded<WorkerStats>>,
    /// Nanoseconds for the shapers, read at most once per batch and only
    /// when a shaped port is involved (crate::shaping).
    clock: fn() -> u64,
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
            hashes: [Hashes::default(); BATCH_SIZE],
            cache: FdbCache::default(),
            counters: BatchCounters::default(),
            stats,
            clock: crate::shaping::monotonic_ns,
        }
    }

    /// Replaces the shapers' clock (tests drive time by hand).
    pub fn set_clock(&mut self, clock: fn() -> u64) {
        self.clock = clock;
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
    /// (frames past that are left untouched and unreported). Copies for a
    /// second encoding go into `spares`, asked for one at a time.
    #[inline]
    pub fn process<'b, S: Spares<'b> + ?Sized>(
        &mut self,
        ctx: &BatchContext<'_, '_>,
        frames: &mut [Frame<'_>],
        spares: &mut S,
        out: &mut BatchOutput,
    ) {
        self.process_observed(ctx, frames, spares, out, &mut NoObserver);
    }

    /// [`Pipeline::process`] with `obs` told each decision (see
    /// [`Observer`]); learning only if [`Observer::LEARNS`].
    pub fn process_observed<'b, S: Spares<'b> + ?Sized, O: Observer>(
        &mut self,
        ctx: &BatchContext<'_, '_>,
        frames: &mut [Frame<'_>],
        spares: &mut S,
        out: &mut BatchOutput,
        obs: &mut O,
    ) {
        out.clear();
        self.counters.clear();
        let n = frames.len().min(BATCH_SIZE);
        let frames = &mut frames[..n];
        let rx_bytes: usize = frames.iter().map(Frame::len).sum();
        self.counters
            .rx_many(ctx.ingress, n as u64, rx_bytes as u64);
        match ctx.snapshot.port(ctx.ingress) {
            // A mirror output takes only copies (crate::mirror).
            Some(_) if crate::mirror::receives_nothing(ctx.snapshot, ctx.ingress) => {
                for _ in 0..n {
                    self.counters.rx_drop(ctx.ingress, DropReason::MirrorOutput);
                    out.decide(Disposition::Drop(DropReason::MirrorOutput));
                }
            }
            Some(port) => {
                self.cache.begin(ctx.now, ctx.fdb.changes());
                let learning = port.learning;
                classify(
                    ctx,
                    port,
                    frames,
                    &mut self.meta,
                    &mut self.hashes,
                    &self.cache,
                    obs,
                );
                if let Some(mac) = port.policy.source_lock() {
                    security::drop_forged(mac, frames, &mut self.meta[..n]);
                }
                if let (true, Some(shaper)) = (O::LEARNS, &port.shaping.ingress) {
                    shape::ingress(shaper, (self.clock)(), frames, &mut self.meta[..n]);
                }
                // Phase 1's cache answers stay good unless phase 2 learned.
                let mut learned = false;
                if learning && O::LEARNS {
                    learned = learn(
                        ctx,
                        &port.policy,
                        &mut self.meta[..n],
                        &self.hashes,
                        &mut self.cache,
                        &mut self.counters,
                    );
                }
                let mut egress = Egress {
                    snap: ctx.snapshot,
                    counters: &mut self.counters,
                    out,
                    spares,
                    clock: self.clock,
                    now_ns: None,
                    shapes: O::LEARNS,
                };
                forward(
                    ctx,
                    &mut self.meta[..n],
                    &mut self.hashes,
                    frames,
                    &mut self.cache,
                    learned,
                    &mut egress,
                    obs,
                );
            }
            None => {
                for _ in 0..n {
                    self.counters.rx_drop(ctx.ingress, DropReason::PortUnknown);
                    out.decide(Disposition::Drop(DropReason::PortUnknown));
                }
            }
        }
        self.stats.publish(&self.counters);
    }
}

/// What an untagged frame counts for more than its length against a
/// port's `max_frame_len`, which is a tagged frame's limit (MTU + header +
/// one tag): the tag it does not carry. So a port of MTU 1500 takes
/// tagged frames of up to 1518 bytes and untagged ones of up to 1514: the
/// payload behind the header and tag never exceeds the MTU.
#[inline(always)]
fn untagged_allowance(tagged: bool) -> usize {
    if tagged {
        0
    } else {
        crate::limits::VLAN_TAG_LEN
    }
}

/// Phase 1: parse, classify into a VLAN, and for what the cache cannot
/// answer, hash and prefetch. A frame longer than the ingress port's
/// `max_frame_len` (for a super-frame: one of its segments) dies here as
/// `too_large`, as a NIC drops what exceeds its MTU: it is neither learned
/// from nor forwarded.
// One function per phase: inlined together they spill registers.
#[inline(never)]
fn classify<O: Observer>(
    ctx: &BatchContext<'_, '_>,
    port: &PortConfig,
    frames: &[Frame<'_>],
    meta: &mut [Meta; BATCH_SIZE],
    hashes: &mut [Hashes; BATCH_SIZE],
    cache: &FdbCache,
    obs: &mut O,
) {
    let ingress = ctx.ingress.index() as u8;
    let (mode, learning, max_frame_len) = (&port.vlan, port.learning, port.max_frame_len);
    for (i, ((m, hs), f)) in meta
        .iter_mut()
        .zip(hashes.iter_mut())
        .zip(frames)
        .enumerate()
    {
        let parsed =
            EthernetFrame::read_l2_header(f.data()).and_then(|h| Ok((h, mode.classify(h.tag)?)));
        let parsed = match parsed {
            // Whole, or for a super-frame, by its largest segment; an
            // untagged frame as if it had its tag (see `untagged_allowance`).
            Ok((h, _))
                if {
                    let len = f.len() + untagged_allowance(!matches!(h.tag, TagKind::Untagged));
                    len > max_frame_len && f.wire_len() + (len - f.len()) > max_frame_len
                } =>
            {
                Err(DropReason::TooLarge)
            }
            p => p,
        };
        let (h, ing) = match parsed {
            Ok(ok) => ok,
            Err(reason) => {
                *m = Meta {
                    drop: Some(reason),
                    ..Meta::default()
                };
                obs.classified(i, Err(reason));
                continue;
            }
        };
        let src_key = key_of(ing.vlan, h.src);
        let dst_key = key_of(ing.vlan, h.dst);
        let dst_group = h.dst.is_group();
        let learn = learning && h.src.is_learnable() && !cache.learned_on(src_key, ingress);
        let dst_port = if dst_group { None } else { cache.port(dst_key) };
        let dst_hashed = !dst_group && dst_port.is_none();
        *m = Meta {
            src_key,
            dst_key,
            tci: ing.tci,
            vlan: Some(ing.vlan),
            drop: None,
            tagged: !matches!(h.tag, TagKind::Untagged),
            dst_group,
            learn,
            dst_hashed,
            dst_port,
        };
        obs.classified(
            i,
            Ok(Classified {
                vlan: ing.vlan,
                tci: ing.tci,
                tagged: m.tagged,
                learn,
            }),
        );
        if learn {
            hs.src = ctx.fdb.hash_key(src_key);
            ctx.fdb.prefetch(&hs.src);
        }
        if dst_hashed {
            hs.dst = ctx.fdb.hash_key(dst_key);
            ctx.fdb.prefetch(&hs.dst);
        }
    }
}

/// Phase 2: learn every source the cache could not vouch for. Returns
/// whether the cache changed.
// One function per phase: inlined together they spill registers.
#[inline(never)]
fn learn(
    ctx: &BatchContext<'_, '_>,
    policy: &PortPolicy,
    meta: &mut [Meta],
    hashes: &[Hashes; BATCH_SIZE],
    cache: &mut FdbCache,
    counters: &mut BatchCounters,
) -> bool {
    let ingress = ctx.ingress.index() as u8;
    let limit = policy.learn_limit();
    let mut changed = false;
    for (m, hs) in meta.iter_mut().zip(hashes) {
        // A burst from one host repeats its source: after its first learn
        // the cache vouches for it.
        if !m.learn || cache.learned_on(m.src_key, ingress) {
            continue;
        }
        let event = match ctx.fdb.learn_limited(&hs.src, ctx.ingress, ctx.now, limit) {
            Learn::Unchanged | Learn::Refreshed => None,
            Learn::Learned => Some(Event::FdbLearned),
            Learn::Moved => Some(Event::FdbMoved),
            Learn::Full => {
                counters.event(Event::FdbFull, 1);
                continue;
            }
            Learn::Race => {
                counters.event(Event::FdbRace, 1);
                continue;
            }
            Learn::StaticConflict => {
                counters.event(Event::FdbStaticConflict, 1);
                continue;
            }
            refused @ (Learn::Evicted | Learn::Limit | Learn::HeldDown) => {
                if let Some(reason) = policy::refused_learn(refused, policy, counters) {
                    m.vlan = None;
                    m.drop = Some(reason);
                }
                continue;
            }
        };
        cache.put(m.src_key, ingress, true);
        changed = true;
        if let Some(e) = event {
            counters.event(e, 1);
        }
    }
    changed
}

/// Phases 3 and 4: decide every frame ([`decide`]), then hand those that
/// go somewhere to egress ([`Egress::send_all`]). Two loops rather than
/// one: fused, the loop spilled registers on every frame.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn forward<'b, S: Spares<'b> + ?Sized, O: Observer>(
    ctx: &BatchContext<'_, '_>,
    meta: &mut [Meta],
    hashes: &mut [Hashes; BATCH_SIZE],
    frames: &mut [Frame<'_>],
    cache: &mut FdbCache,
    cache_changed: bool,
    eg: &mut Egress<'_, S>,
    obs: &mut O,
) {
    let mut dests = [Dest::default(); BATCH_SIZE];
    let n = meta.len();
    decide(
        ctx,
        meta,
        hashes,
        cache,
        cache_changed,
        eg.counters,
        &mut eg.out.dispositions[..n],
        &mut dests,
        obs,
    );
    eg.out.n_dispositions = n;
    eg.send_all(ctx.ingress, meta, frames, &dests);
}

/// Where [`decide`] sends one frame: its output ports (empty when it is
/// dropped) and those of them where its VLAN leaves tagged.
#[derive(Clone, Copy, Default)]
struct Dest {
    ports: PortSet,
    tagged: PortSet,
}

/// Counts a drop of a frame received on `ingress`; what its disposition is.
#[inline(always)]
fn dropped(counters: &mut BatchCounters, ingress: PortId, reason: DropReason) -> Disposition {
    counters.rx_drop(ingress, reason);
    Disposition::Drop(reason)
}

/// Phase 3: look up every destination and decide. Writes each frame's
/// disposition and the ports it goes to (empty when it is dropped).
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn decide<O: Observer>(
    ctx: &BatchContext<'_, '_>,
    meta: &mut [Meta],
    hashes: &mut [Hashes; BATCH_SIZE],
    cache: &mut FdbCache,
    cache_changed: bool,
    counters: &mut BatchCounters,
    dispositions: &mut [Disposition],
    dests: &mut [Dest; BATCH_SIZE],
    obs: &mut O,
) {
    let ingress = ctx.ingress;
    let snap = ctx.snapshot;
    let promiscuous = snap.promiscuous();
    let unknown_unicast = snap.unknown_unicast();
    let dst_locked = snap.dst_locked();
    if cache_changed {
        // Phase 2 learned: the cache may know more (or less) than phase 1 saw.
        for m in meta.iter_mut().filter(|m| m.vlan.is_some() && !m.dst_group) {
            m.dst_port = cache.port(m.dst_key);
        }
    }
    // Unicast, flood and unknown-unicast counts packed in one register
    // (21 bits each: a batch is at most BATCH_SIZE frames).
    let mut counts = 0u64;
    for (i, (((m, hs), disposition), dest)) in meta
        .iter_mut()
        .zip(hashes.iter_mut())
        .zip(dispositions.iter_mut())
        .zip(dests.iter_mut())
        .enumerate()
    {
        let Some(vlan) = m.vlan else {
            let reason = m.drop.unwrap_or(DropReason::Runt);
            *disposition = dropped(counters, ingress, reason);
            continue;
        };
        let row = snap.vlan(vlan);
        let others = row.members.without(ingress);
        let (ports, unicast) = if m.dst_group {
            (others, false)
        } else {
            let found = match m.dst_port {
                Some(port) => Some(PortId::from_bits(port)),
                None => {
                    if !m.dst_hashed {
                        // Phase 2 evicted the entry phase 1 relied on.
                        hs.dst = ctx.fdb.hash_key(m.dst_key);
                        m.dst_hashed = true;
                    }
                    let port = ctx.fdb.lookup(&hs.dst, ctx.now);
                    if let Some(q) = port {
                        cache.put(m.dst_key, q.index() as u8, false);
                    }
                    port
                }
            };
            obs.destination(i, found);
            match found {
                Some(q) if q == ingress => {
                    *disposition = dropped(counters, ingress, DropReason::SamePort);
                    continue;
                }
                Some(q) if row.members.contains(q) => (
                    PortSet::one(q).union(promiscuous.intersection(others)),
                    true,
                ),
                _ => (
                    others.intersection(unknown_unicast.union(promiscuous)),
                    false,
                ),
            }
        };
        let ports = if dst_locked.is_empty() || m.dst_group {
            ports
        } else {
            match security::keep_destinations(snap, counters, ports, m.dst_key) {
                Some(ports) => ports,
                None => {
                    *disposition = dropped(counters, ingress, DropReason::MacChange);
                    continue;
                }
            }
        };
        if ports.is_empty() {
            *disposition = dropped(counters, ingress, DropReason::NoOutput);
            continue;
        }
        *disposition = match (unicast, ports.single()) {
            (true, Some(q)) => Disposition::Forward(q),
            _ => Disposition::Flood(ports),
        };
        *dest = Dest {
            ports,
            tagged: row.tagged,
        };
        counts += if unicast {
            1
        } else {
            (1 << 21) | (((!m.dst_group) as u64) << 42)
        };
    }
    let field = |shift: u32| (counts >> shift) & ((1 << 21) - 1);
    counters.event(Event::Unicast, field(0));
    counters.event(Event::Flood, field(21));
    counters.event(Event::UnknownUnicast, field(42));
}

/// Phase 4: encoding, size checks, copies and the output list.
struct Egress<'o, S: ?Sized> {
    snap: &'o Snapshot,
    counters: &'o mut BatchCounters,
    out: &'o mut BatchOutput,
    spares: &'o mut S,
    clock: fn() -> u64,
    /// The clock, once read in this batch.
    now_ns: Option<u64>,
    /// Whether shapers are charged ([`Observer::LEARNS`]: a trace leaves
    /// their tokens alone).
    shapes: bool,
}

impl<'b, S: Spares<'b> + ?Sized> Egress<'_, S> {
    /// Sends every frame with somewhere to go ([`decide`]'s `dests`).
    #[inline(never)]
    fn send_all(
        &mut self,
        ingress: PortId,
        meta: &[Meta],
        frames: &mut [Frame<'_>],
        dests: &[Dest; BATCH_SIZE],
    ) {
        let mirrors = self.snap.mirrors();
        for (i, ((m, frame), d)) in meta.iter().zip(frames.iter_mut()).zip(dests).enumerate() {
            if d.ports.is_empty() {
                continue;
            }
            let (ports, tagged) = match (mirrors, m.vlan) {
                (Some(t), Some(vlan)) => t.apply(ingress, vlan, m.tagged, d.ports, d.tagged),
                _ => (d.ports, d.tagged),
            };
            self.send(i as u8, m, frame, ports, tagged);
        }
    }

    /// Sends frame `i` to `ports`; `tagged_in_vlan` are the ports where its
    /// VLAN leaves tagged.
    #[inline(always)]
    fn send(
        &mut self,
        i: u8,
        m: &Meta,
        frame: &mut Frame<'_>,
        ports: PortSet,
        tagged_in_vlan: PortSet,
    ) {
        let tagged_ports = ports.intersection(tagged_in_vlan);
        let untagged_ports = ports.difference(tagged_in_vlan);
        // Common case: untagged in, untagged out everywhere. Nothing to rewrite.
        if !m.tagged && tagged_ports.is_empty() {
            let ports = self.fit_frame(ports, frame, 0, false);
            self.emit(ports, FrameRef::Rx(i), i, frame.len());
            return;
        }
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
        let is_tagged = |e: Encoding| matches!(e, Encoding::Tagged(_));
        let primary_ports = self.fit_frame(
            primary_ports,
            frame,
            primary_enc.len_delta(m.tagged),
            is_tagged(primary_enc),
        );
        if !other_ports.is_empty() {
            let other_ports = self.fit_frame(
                other_ports,
                frame,
                other_enc.len_delta(m.tagged),
                is_tagged(other_enc),
            );
            if !other_ports.is_empty() {
                self.copy_out(i, frame, m.tagged, other_enc, other_ports);
            }
        }
        if primary_ports.is_empty() {
            return;
        }
        if frame.encode(m.tagged, primary_enc) {
            self.emit(primary_ports, FrameRef::Rx(i), i, frame.len());
        } else {
            // No headroom to push the tag in place: fall back to a copy.
            // (Only a push can fail, and a push is only primary when no
            // other encoding is needed: so at most one spare per frame.)
            self.copy_out(i, frame, m.tagged, primary_enc, primary_ports);
        }
    }

    /// [`Self::fit`] for `frame` re-encoded with `delta` more bytes, with
    /// (`tagged`) or without an 802.1Q tag ([`untagged_allowance`]). A
    /// frame never puts more on the wire than its whole length, so one
    /// that fits every port whole needs no look at its offload metadata.
    /// While any port's egress is shaped every frame takes the slow path,
    /// which also shapes ([`Snapshot::egress_fast_len`]).
    #[inline(always)]
    fn fit_frame(
        &mut self,
        ports: PortSet,
        frame: &Frame<'_>,
        delta: isize,
        tagged: bool,
    ) -> PortSet {
        let encoded = delta;
        let delta = delta + untagged_allowance(tagged) as isize;
        let whole = (frame.len() as isize + delta) as usize;
        if whole <= self.snap.egress_fast_len() {
            return ports;
        }
        let ports = self.fit(ports, (frame.wire_len() as isize + delta) as usize);
        // Shapers count what leaves: the frame in its output encoding.
        self.shape(ports, (frame.len() as isize + encoded) as usize)
    }

    /// Drops (counted per port) the ports of `ports` that cannot take a
    /// frame whose longest piece on the wire is `len` bytes; returns the
    /// rest.
    #[inline]
    fn fit(&mut self, ports: PortSet, len: usize) -> PortSet {
        if len <= self.snap.smallest_max_frame() {
            return ports;
        }
        let mut ok = ports;
        for p in ports.iter() {
            let max = self.snap.port(p).map_or(0, |c| c.max_frame_len);
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
        origin: u8,
        frame: &Frame<'_>,
        tagged: bool,
        enc: Encoding,
        ports: PortSet,
    ) {
        let j = self.out.spares_used;
        let written = match self.spares.spare(j) {
            Some(spare) => spare
                .copy_encoded(frame, tagged, enc)
                .then_some(spare.len()),
            None => None,
        };
        match written {
            Some(len) => {
                self.out.spares_used += 1;
                self.counters.event(Event::EgressCopies, 1);
                self.emit(ports, FrameRef::Spare(j as u8), origin, len);
            }
            None => {
                for p in ports.iter() {
                    self.counters.tx_drop(p, DropReason::NoSpareFrame);
                }
            }
        }
    }

    #[inline]
    fn emit(&mut self, ports: PortSet, frame: FrameRef, origin: u8, len: usize) {
        if ports.is_empty() {
            return;
        }
        self.counters.tx_set(ports, len);
        self.out.emit(Output {
            ports,
            frame,
            origin,
        });
    }
}

//! Frame capture at three points of the pipeline (pktcap-uw style):
//! `input` (as received, before classification), `output` (as handed to
//! the driver for one output port, after tag push or pop) and `drop` (a
//! received frame the pipeline dropped, with its [`DropReason`]).
//!
//! The control thread makes a [`Capture`] (a filter, a point, a snap
//! length and a bounded queue of preallocated records) and registers it
//! with the [`Engine`](crate::Engine), which publishes the set of running
//! captures in the next [`Snapshot`]. A worker that finds none there pays
//! one test of a pointer it already holds, twice a batch
//! ([`EngineWorker::process`](crate::EngineWorker::process)). With
//! captures running it matches every frame at each point in use against
//! each capture's filter and copies a matching one (up to the snap length)
//! into a free record: no allocation, no lock, no system call but one
//! clock read a batch. When a capture has no free record (its reader is
//! slower than the traffic) the frame is counted as lost, and the switch
//! does not wait.
//!
//! Concurrency: any number of workers offer records ([`CaptureSet`]'s
//! hooks); one reader at a time takes them ([`Capture::drain`]). Both
//! queues are lock-free (`crossbeam_queue::ArrayQueue`); every record is
//! always in exactly one of them or in the hands of one thread, and the
//! queues hold as many records as exist, so a push never fails.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use crossbeam_utils::CachePadded;

use crate::frame::{Frame, Spares};
use crate::limits::{
    BATCH_SIZE, CAPTURE_BUFFER_BYTES, CAPTURE_MAX_SLOTS, CAPTURE_MIN_SLOTS, MAX_CAPTURES,
    MAX_FRAME_LEN,
};
use crate::offload::Offload;
use crate::pipeline::{BatchOutput, Disposition, FrameRef};
use crate::port::PortConfig;
use crate::snapshot::Snapshot;
use crate::vocab::{DropReason, PortId, PortSet};
use crate::wire::{ethernet_field as field, EthernetFrame, Mac, TagKind, VlanId};

/// Where in the pipeline a capture records frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Point {
    /// Frames as received, before classification (inbound).
    Input,
    /// Frames as handed to the driver for one output port, after tag push
    /// or pop: a flood gives one record per matching port (outbound).
    Output,
    /// Received frames the pipeline dropped, with the reason (inbound).
    Drop,
}

impl Point {
    /// Every point.
    pub const ALL: [Point; 3] = [Point::Input, Point::Output, Point::Drop];

    /// Its name in the API: `input`, `output`, `drop`.
    pub const fn name(self) -> &'static str {
        match self {
            Point::Input => "input",
            Point::Output => "output",
            Point::Drop => "drop",
        }
    }

    /// Inverse of [`Point::name`].
    pub fn from_name(s: &str) -> Option<Point> {
        Point::ALL.into_iter().find(|p| p.name() == s)
    }

    /// Whether frames at this point are on their way out of the switch.
    pub const fn outbound(self) -> bool {
        matches!(self, Point::Output)
    }
}

/// Which frames a capture takes; every field given must match.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureFilter {
    /// The port the frame is on at the point (ingress for `input` and
    /// `drop`, the output port for `output`).
    pub port: Option<PortId>,
    /// The frame's VLAN on that port: its 802.1Q VID, or for an untagged
    /// (or priority-tagged) frame the port's access or native VLAN.
    pub vlan: Option<VlanId>,
    /// Source or destination address.
    pub mac: Option<Mac>,
    /// The EtherType after any 802.1Q tag.
    pub ethertype: Option<u16>,
}

impl CaptureFilter {
    /// Whether `bytes` (a frame's first buffer) on `port` matches.
    #[inline]
    fn matches(&self, port: PortId, cfg: Option<&PortConfig>, bytes: &[u8]) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        if self.vlan.is_none() && self.mac.is_none() && self.ethertype.is_none() {
            return true;
        }
        // A frame too short for its header matches only filters that do
        // not look into it.
        let Ok(h) = EthernetFrame::read_l2_header(bytes) else {
            return false;
        };
        if self.mac.is_some_and(|m| m != h.src && m != h.dst) {
            return false;
        }
        if let Some(v) = self.vlan {
            let vid = match h.tag {
                TagKind::Tagged(t) => Some(t.vid()),
                TagKind::Untagged | TagKind::Priority(_) => {
                    cfg.and_then(|c| c.vlan.native()).map(VlanId::get)
                }
            };
            if vid != Some(v.get()) {
                return false;
            }
        }
        if let Some(t) = self.ethertype {
            let at = match h.tag {
                TagKind::Untagged => field::ETHERTYPE,
                _ => field::INNER_ETHERTYPE,
            };
            match bytes.get(at) {
                Some(b) if u16::from_be_bytes([b[0], b[1]]) == t => {}
                _ => return false,
            }
        }
        true
    }
}

/// One captured frame.
#[derive(Debug)]
pub struct Record {
    /// The port it was on at the point.
    pub port: PortId,
    /// The point.
    pub point: Point,
    /// Why it was dropped (`drop` point only).
    pub reason: Option<DropReason>,
    /// When, in nanoseconds since the Unix epoch (one clock read a batch).
    pub timestamp_ns: u64,
    /// Its whole length (a super-frame: every byte of it, not one segment).
    pub orig_len: u32,
    /// Offload metadata it carried (a super-frame's segmentation, a
    /// partial checksum), offsets from its first byte as captured.
    pub offload: Option<Offload>,
    len: u32,
    data: Box<[u8]>,
}

impl Record {
    fn new(snaplen: usize) -> Box<Record> {
        Box::new(Record {
            port: PortId::from_bits(0),
            point: Point::Input,
            reason: None,
            timestamp_ns: 0,
            orig_len: 0,
            offload: None,
            len: 0,
            data: vec![0; snaplen].into_boxed_slice(),
        })
    }

    /// The captured bytes (the frame's first `snaplen` bytes).
    pub fn bytes(&self) -> &[u8] {
        &self.data[..self.len as usize]
    }

    /// Copies the frame's bytes, first buffer then the others, up to the
    /// record's size.
    #[inline]
    fn fill(&mut self, frame: &Frame<'_>) {
        let mut at = 0;
        for piece in core::iter::once(frame.data()).chain(frame.frags().iter().copied()) {
            let room = self.data.len() - at;
            if room == 0 {
                break;
            }
            let n = piece.len().min(room);
            self.data[at..at + n].copy_from_slice(&piece[..n]);
            at += n;
        }
        self.len = at as u32;
        self.orig_len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        self.offload = frame.offload();
    }
}

/// Why a capture could not be started. Nothing changed when one is
/// returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    /// [`MAX_CAPTURES`] are running.
    #[error("{0} captures are running, the most at once; end one first")]
    TooMany(usize),
    /// A capture with this id is registered already.
    #[error("capture {0} is running already")]
    Exists(u64),
}

/// One running capture: its filter and its queue of records. See the
/// module docs.
pub struct Capture {
    id: u64,
    point: Point,
    filter: CaptureFilter,
    free: ArrayQueue<Box<Record>>,
    ready: ArrayQueue<Box<Record>>,
    lost: CachePadded<AtomicU64>,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("id", &self.id)
            .field("point", &self.point)
            .field("filter", &self.filter)
            .field("slots", &self.free.capacity())
            .finish_non_exhaustive()
    }
}

impl Capture {
    /// A capture of frames at `point` that match `filter`, keeping their
    /// first `snaplen` bytes (clamped to 1..=[`MAX_FRAME_LEN`]). Its queue
    /// holds [`Capture::slots_for`] records, allocated here.
    pub fn new(id: u64, point: Point, filter: CaptureFilter, snaplen: usize) -> Capture {
        let snaplen = snaplen.clamp(1, MAX_FRAME_LEN);
        let slots = Capture::slots_for(snaplen);
        let free = ArrayQueue::new(slots);
        for _ in 0..slots {
            let _ = free.push(Record::new(snaplen));
        }
        Capture {
            id,
            point,
            filter,
            free,
            ready: ArrayQueue::new(slots),
            lost: CachePadded::new(AtomicU64::new(0)),
        }
    }

    /// Records a capture of `snaplen` bytes keeps: as many as fit
    /// [`CAPTURE_BUFFER_BYTES`], within [`CAPTURE_MIN_SLOTS`]..=[`CAPTURE_MAX_SLOTS`].
    pub fn slots_for(snaplen: usize) -> usize {
        (CAPTURE_BUFFER_BYTES / snaplen.max(1)).clamp(CAPTURE_MIN_SLOTS, CAPTURE_MAX_SLOTS)
    }

    /// Its id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Its point.
    pub fn point(&self) -> Point {
        self.point
    }

    /// Its filter.
    pub fn filter(&self) -> &CaptureFilter {
        &self.filter
    }

    /// Frames that matched but found no free record (the reader was too
    /// slow).
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// Hands up to `max` captured records, oldest first, to `f` and
    /// recycles them; returns how many. One reader at a time.
    pub fn drain(&self, max: usize, mut f: impl FnMut(&Record)) -> usize {
        let mut n = 0;
        while n < max {
            let Some(r) = self.ready.pop() else { break };
            f(&r);
            // As many records as slots: there is room.
            let _ = self.free.push(r);
            n += 1;
        }
        n
    }

    /// Offers `frame`, sent on `ports`, once per port it matches on.
    #[inline]
    fn output(&self, snap: &Snapshot, ports: PortSet, frame: &Frame<'_>, ts: u64) {
        for p in ports.iter() {
            if self.filter.matches(p, snap.port(p), frame.data()) {
                self.offer(p, None, frame, ts);
            }
        }
    }

    /// Copies `frame` into a free record, or counts it lost.
    #[inline]
    fn offer(
        &self,
        port: PortId,
        reason: Option<DropReason>,
        frame: &Frame<'_>,
        timestamp_ns: u64,
    ) {
        let Some(mut r) = self.free.pop() else {
            self.lost.fetch_add(1, Ordering::Relaxed);
            return;
        };
        r.fill(frame);
        r.port = port;
        r.point = self.point;
        r.reason = reason;
        r.timestamp_ns = timestamp_ns;
        // As many records as slots: there is room.
        let _ = self.ready.push(r);
    }
}

/// The captures running, as a [`Snapshot`] carries them to workers.
#[derive(Debug, Default)]
pub struct CaptureSet {
    all: Box<[Arc<Capture>]>,
    /// Whether any capture is at each point (indexed as [`Point::ALL`]).
    at: [bool; 3],
}

impl CaptureSet {
    /// The set of `captures`; `None` when there are none (so workers test
    /// one pointer).
    pub fn of(captures: &[Arc<Capture>]) -> Option<Arc<CaptureSet>> {
        if captures.is_empty() {
            return None;
        }
        let mut at = [false; 3];
        for c in captures {
            at[c.point as usize] = true;
        }
        Some(Arc::new(CaptureSet {
            all: captures.into(),
            at,
        }))
    }

    /// The captures.
    pub fn captures(&self) -> &[Arc<Capture>] {
        &self.all
    }

    #[inline]
    fn at(&self, p: Point) -> bool {
        self.at[p as usize]
    }

    /// The `input` point: the batch's frames as received on `ingress`.
    #[inline(never)]
    pub fn input(&self, snap: &Snapshot, ingress: PortId, frames: &[Frame<'_>]) {
        if !self.at(Point::Input) {
            return;
        }
        let ts = now_ns();
        let cfg = snap.port(ingress);
        for c in self.all.iter().filter(|c| c.point == Point::Input) {
            for f in frames.iter().take(BATCH_SIZE) {
                if c.filter.matches(ingress, cfg, f.data()) {
                    c.offer(ingress, None, f, ts);
                }
            }
        }
    }

    /// The `output` and `drop` points, once the pipeline decided `out`
    /// for `frames` (rewritten in place) with copies in `spares`.
    #[inline(never)]
    pub fn decided<'b, S: Spares<'b> + ?Sized>(
        &self,
        snap: &Snapshot,
        ingress: PortId,
        frames: &[Frame<'_>],
        spares: &S,
        out: &BatchOutput,
    ) {
        if !self.at(Point::Output) && !self.at(Point::Drop) {
            return;
        }
        let ts = now_ns();
        for c in self.all.iter() {
            match c.point {
                Point::Input => {}
                Point::Drop => {
                    let cfg = snap.port(ingress);
                    for (d, f) in out.dispositions().iter().zip(frames) {
                        if let Disposition::Drop(reason) = *d {
                            if c.filter.matches(ingress, cfg, f.data()) {
                                c.offer(ingress, Some(reason), f, ts);
                            }
                        }
                    }
                }
                Point::Output => {
                    for o in out.outputs() {
                        let ports = match c.filter.port {
                            Some(p) if o.ports.contains(p) => PortSet::one(p),
                            Some(_) => continue,
                            None => o.ports,
                        };
                        match o.frame {
                            FrameRef::Rx(i) => {
                                if let Some(f) = frames.get(i as usize) {
                                    c.output(snap, ports, f, ts);
                                }
                            }
                            FrameRef::Spare(j) => {
                                if let Some(f) = spares.written(j as usize) {
                                    c.output(snap, ports, f, ts);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Nanoseconds since the Unix epoch (a vDSO clock read, no system call).
fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The captures registered with an engine, in the order they started.
#[derive(Debug, Default)]
pub struct Captures {
    running: Vec<Arc<Capture>>,
}

impl Captures {
    /// Adds `c`; refused past [`MAX_CAPTURES`] or for an id in use.
    pub fn add(&mut self, c: Arc<Capture>) -> Result<(), CaptureError> {
        if self.running.iter().any(|r| r.id == c.id) {
            return Err(CaptureError::Exists(c.id));
        }
        if self.running.len() >= MAX_CAPTURES {
            return Err(CaptureError::TooMany(MAX_CAPTURES));
        }
        self.running.push(c);
        Ok(())
    }

    /// Removes capture `id`; `false` if it was not running.
    pub fn remove(&mut self, id: u64) -> bool {
        let before = self.running.len();
        self.running.retain(|c| c.id != id);
        before != self.running.len()
    }

    /// The running captures.
    pub fn running(&self) -> &[Arc<Capture>] {
        &self.running
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vlan::VlanMode;
    use crate::wire::Tci;

    fn p(i: usize) -> PortId {
        PortId::new(i).unwrap()
    }

    fn frame_bytes(tag: Option<u16>, ethertype: u16) -> Vec<u8> {
        let mut b = vec![0xff; 6];
        b.extend_from_slice(&[2, 0, 0, 0, 0, 1]);
        if let Some(t) = tag {
            b.extend_from_slice(&0x8100u16.to_be_bytes());
            b.extend_from_slice(&Tci::new(3, false, t).0.to_be_bytes());
        }
        b.extend_from_slice(&ethertype.to_be_bytes());
        b.extend_from_slice(&[0xab; 50]);
        b
    }

    #[test]
    fn filters_match_port_vlan_mac_and_ethertype() {
        let access = PortConfig::new(VlanMode::Access(VlanId::new(10).unwrap()));
        let untagged = frame_bytes(None, 0x0800);
        let tagged = frame_bytes(Some(20), 0x0806);
        let all = CaptureFilter::default();
        assert!(all.matches(p(1), None, &untagged));
        assert!(all.matches(p(1), None, &[1, 2, 3]), "no header needed");
        let f = CaptureFilter {
            port: Some(p(1)),
            ..all
        };
        assert!(f.matches(p(1), None, &untagged) && !f.matches(p(2), None, &untagged));
        let v10 = CaptureFilter {
            vlan: VlanId::new(10),
            ..all
        };
        assert!(v10.matches(p(1), Some(&access), &untagged), "access VLAN");
        assert!(!v10.matches(p(1), None, &untagged), "no VLAN known");
        assert!(!v10.matches(p(1), Some(&access), &tagged), "tag says 20");
        let v20 = CaptureFilter {
            vlan: VlanId::new(20),
            ..all
        };
        assert!(v20.matches(p(1), Some(&access), &tagged));
        let arp = CaptureFilter {
            ethertype: Some(0x0806),
            ..all
        };
        assert!(arp.matches(p(1), None, &tagged), "inner EtherType");
        assert!(!arp.matches(p(1), None, &untagged));
        assert!(!arp.matches(p(1), None, &[1, 2, 3]), "runt: no header");
        let mac = CaptureFilter {
            mac: Some(Mac::new([2, 0, 0, 0, 0, 1])),
            ..all
        };
        assert!(mac.matches(p(1), None, &untagged));
        let other = CaptureFilter {
            mac: Some(Mac::new([2, 0, 0, 0, 0, 2])),
            ..all
        };
        assert!(!other.matches(p(1), None, &untagged));
    }

    #[test]
    fn a_full_queue_counts_lost_frames_and_drains_in_order() {
        let c = Capture::new(1, Point::Input, CaptureFilter::default(), 1 << 20);
        let slots = Capture::slots_for(MAX_FRAME_LEN);
        assert_eq!(slots, CAPTURE_MIN_SLOTS);
        let mut buf = frame_bytes(None, 0x0800);
        let len = buf.len();
        let f = Frame::new(&mut buf, 0, len).unwrap();
        for i in 0..slots + 5 {
            c.offer(p(i % 4), None, &f, i as u64);
        }
        assert_eq!(c.lost(), 5);
        let mut seen = Vec::new();
        assert_eq!(c.drain(usize::MAX, |r| seen.push(r.timestamp_ns)), slots);
        assert_eq!(seen, (0..slots as u64).collect::<Vec<_>>());
        // Records come back: the next frames find room.
        c.offer(p(0), None, &f, 99);
        assert_eq!(c.lost(), 5);
        c.drain(1, |r| {
            assert_eq!(r.bytes(), &frame_bytes(None, 0x0800)[..]);
            assert_eq!(r.orig_len as usize, len);
        });
    }

    #[test]
    fn snaplen_cuts_and_frags_follow_the_first_buffer() {
        let c = Capture::new(1, Point::Input, CaptureFilter::default(), 20);
        let mut head = frame_bytes(None, 0x0800);
        head.truncate(16);
        let frag: &[u8] = &[7; 30];
        let frags = [frag];
        let mut ext = crate::frame::FrameExt::default();
        let f = Frame::new(&mut head, 0, 16)
            .unwrap()
            .with_frags(&frags, &mut ext);
        c.offer(p(0), None, &f, 0);
        c.drain(1, |r| {
            assert_eq!(r.bytes().len(), 20);
            assert_eq!(&r.bytes()[16..], &[7; 4]);
            assert_eq!(r.orig_len, 46);
        });
    }

    struct Sink;
    impl crate::engine::Transmit for Sink {
        fn transmit(&mut self, _: &crate::pipeline::Output, _: &Frame<'_>) {}
    }

    /// Through the engine: an output capture of a trunk sees the pushed
    /// tag, a drop capture the reason, an input capture the frame as it
    /// came; with the captures gone, nothing more is recorded.
    #[test]
    fn the_engine_records_at_each_point() {
        use crate::vlan::VlanSet;
        let v = |n| VlanId::new(n).unwrap();
        let mut e = crate::Engine::new(crate::FdbConfig::default()).unwrap();
        e.add_port(p(0), PortConfig::new(VlanMode::Access(v(10))), 0)
            .unwrap();
        let trunk = VlanMode::Trunk {
            allowed: "10,20".parse::<VlanSet>().unwrap(),
            native: None,
        };
        e.add_port(p(1), PortConfig::new(trunk), 0).unwrap();
        let all = CaptureFilter::default();
        let out = Arc::new(Capture::new(1, Point::Output, all, 128));
        let drop = Arc::new(Capture::new(2, Point::Drop, all, 128));
        let input = Arc::new(Capture::new(
            3,
            Point::Input,
            CaptureFilter {
                vlan: Some(v(20)),
                ..all
            },
            128,
        ));
        for c in [&out, &drop, &input] {
            e.add_capture(Arc::clone(c)).unwrap();
        }
        let mut w = e.worker(Default::default()).unwrap();
        let plain = frame_bytes(None, 0x0800);
        let bad = frame_bytes(Some(20), 0x0800);
        let (mut b0, mut b1) = (vec![0u8; 8 + plain.len()], vec![0u8; 8 + bad.len()]);
        b0[8..].copy_from_slice(&plain);
        b1[8..].copy_from_slice(&bad);
        let mut frames = [
            Frame::new(&mut b0, 8, plain.len()).unwrap(),
            Frame::new(&mut b1, 8, bad.len()).unwrap(),
        ];
        let mut spares: [Frame<'_>; 0] = [];
        let snap = w.load();
        w.process(&snap, p(0), 0, &mut frames, &mut spares[..], &mut Sink);
        let mut got = Vec::new();
        out.drain(9, |r| got.push((r.port, r.bytes().to_vec())));
        assert_eq!(got.len(), 1, "one output port");
        assert_eq!(got[0].0, p(1));
        assert_eq!(&got[0].1[12..16], &[0x81, 0x00, 0x00, 10], "tag pushed");
        let mut reasons = Vec::new();
        drop.drain(9, |r| reasons.push((r.reason, r.bytes().to_vec(), r.point)));
        assert_eq!(
            reasons,
            vec![(Some(DropReason::TaggedOnAccess), bad.clone(), Point::Drop)]
        );
        let mut inputs = Vec::new();
        input.drain(9, |r| inputs.push(r.bytes().to_vec()));
        assert_eq!(inputs, vec![bad.clone()], "only the VLAN 20 frame");
        // Ended: the next batch records nothing.
        for id in 1..=3 {
            assert!(e.remove_capture(id));
        }
        assert!(e.snapshot().captures().is_none());
        drop_batch(&mut w, &bad);
        assert_eq!(drop.drain(9, |_| {}), 0);
    }

    fn drop_batch(w: &mut crate::EngineWorker, bytes: &[u8]) {
        let mut b = bytes.to_vec();
        let mut frames = [Frame::new(&mut b, 0, bytes.len()).unwrap()];
        let mut spares: [Frame<'_>; 0] = [];
        let snap = w.load();
        w.process(&snap, p(0), 0, &mut frames, &mut spares[..], &mut Sink);
    }

    #[test]
    fn the_registry_is_bounded_and_ids_unique() {
        let mut r = Captures::default();
        let cap = |id| Arc::new(Capture::new(id, Point::Drop, CaptureFilter::default(), 64));
        r.add(cap(1)).unwrap();
        assert_eq!(r.add(cap(1)), Err(CaptureError::Exists(1)));
        for id in 2..=MAX_CAPTURES as u64 {
            r.add(cap(id)).unwrap();
        }
        assert_eq!(r.add(cap(99)), Err(CaptureError::TooMany(MAX_CAPTURES)));
        assert!(r.remove(1) && !r.remove(1));
        assert_eq!(r.running().len(), MAX_CAPTURES - 1);
        assert!(CaptureSet::of(&[]).is_none());
    }
}

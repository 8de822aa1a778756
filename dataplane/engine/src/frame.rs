//! A frame: a buffer with headroom holding the frame's first bytes (every
//! header the engine reads or rewrites), optionally more buffers holding
//! the rest, and the offload metadata it came with. A [`Frame`] borrows its
//! first buffer whole (headroom, data, tailroom) so a tag can be pushed by
//! moving the data start back 4 bytes instead of moving the payload; the
//! other buffers are only ever read.

use crate::offload::Offload;
use crate::wire::{ethernet_field as field, Tci, TPID_8021Q};

const ADDRS_LEN: usize = field::SRC.end; // destination + source MAC
const TAG_LEN: usize = crate::limits::VLAN_TAG_LEN;

/// How a frame leaves a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// No 802.1Q tag.
    Untagged,
    /// With an 802.1Q tag carrying this TCI.
    Tagged(Tci),
}

impl Encoding {
    /// Bytes this encoding adds to (+4) or removes from (-4) a frame whose
    /// current tag state is `tagged`.
    #[inline]
    pub fn len_delta(self, tagged: bool) -> isize {
        match (self, tagged) {
            (Encoding::Tagged(_), false) => TAG_LEN as isize,
            (Encoding::Untagged, true) => -(TAG_LEN as isize),
            _ => 0,
        }
    }
}

/// What a frame carries beyond its first buffer: further buffers and
/// offload metadata. Most frames have neither, so a [`Frame`] only points
/// to one of these, in storage its driver provides (one per frame of a
/// batch it may need it for).
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameExt<'a> {
    frags: &'a [&'a [u8]],
    /// Offsets from the end of the Ethernet header.
    offload: Option<Offload>,
}

/// One frame: a first buffer with the window `[start, start + head_len)`
/// holding data and, for the few frames that have them, further buffers
/// and offload metadata ([`FrameExt`]).
///
/// Laid out for the common case, a plain frame in one buffer: its length
/// is one load, and a tag push or pop moves two fields. Offload offsets
/// are kept from the end of the Ethernet header (tag included), so a push
/// or pop never touches them; [`Frame::offload`] gives them from the
/// frame's first byte, as virtio-net headers count.
#[derive(Debug)]
pub struct Frame<'a> {
    buf: &'a mut [u8],
    start: u32,
    /// Bytes in the first buffer.
    head_len: u32,
    /// The whole frame, every buffer.
    len: u32,
    ext: Option<&'a mut FrameExt<'a>>,
}

impl<'a> Frame<'a> {
    /// Wraps `buf` with data at `start..start + len`; `None` if that window
    /// does not fit the buffer.
    #[inline]
    pub fn new(buf: &'a mut [u8], start: usize, len: usize) -> Option<Frame<'a>> {
        let end = start.checked_add(len)?;
        // u32 offsets: no buffer is 4 GiB.
        if end > buf.len() || end > u32::MAX as usize {
            return None;
        }
        Some(Frame {
            buf,
            start: start as u32,
            head_len: len as u32,
            len: len as u32,
            ext: None,
        })
    }

    /// The same frame with `ext` as the storage for further buffers and
    /// offload metadata (cleared: the frame has neither yet). A frame
    /// without it can carry neither.
    #[inline]
    pub fn with_ext(mut self, ext: &'a mut FrameExt<'a>) -> Frame<'a> {
        *ext = FrameExt::default();
        self.ext = Some(ext);
        self
    }

    /// The same frame continued by `frags` (read-only buffers whose bytes
    /// follow the first buffer's data, in order), kept in `ext`. Headers
    /// must all lie in the first buffer: the engine never looks into the
    /// others.
    #[inline]
    pub fn with_frags(mut self, frags: &'a [&'a [u8]], ext: &'a mut FrameExt<'a>) -> Frame<'a> {
        let more: usize = frags.iter().map(|f| f.len()).sum();
        let more = u32::try_from(more).unwrap_or(u32::MAX);
        let offload = self.ext.take().and_then(|e| e.offload);
        *ext = FrameExt { frags, offload };
        self.len = self.head_len.saturating_add(more);
        self.ext = Some(ext);
        self
    }

    /// The same frame carrying `offload` (offsets from the frame's first
    /// byte), kept in `ext` unless the frame already has storage.
    #[inline]
    pub fn with_offload(mut self, offload: Offload, ext: &'a mut FrameExt<'a>) -> Frame<'a> {
        if self.ext.is_none() {
            self = self.with_ext(ext);
        }
        self.set_offload(offload);
        self
    }

    /// The data bytes of the first buffer: the whole frame unless it spans
    /// several buffers ([`Frame::frags`]).
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start as usize..(self.start + self.head_len) as usize]
    }

    /// The data bytes of the first buffer, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start as usize..(self.start + self.head_len) as usize]
    }

    /// The buffers after the first, in order.
    #[inline]
    pub fn frags(&self) -> &[&'a [u8]] {
        self.ext.as_ref().map_or(&[], |e| e.frags)
    }

    /// The offload metadata, if the frame carries any, its offsets counted
    /// from the frame's first byte as it is now (tag pushes and pops
    /// included).
    #[inline]
    pub fn offload(&self) -> Option<Offload> {
        let mut o = self.ext.as_ref()?.offload?;
        o.shift(self.l2_len() as isize);
        Some(o)
    }

    /// Replaces the offload metadata, offsets counted from the frame's
    /// first byte ([`Offload::NONE`] clears it). Returns `false`, changing
    /// nothing, when the frame has no [`FrameExt`] to keep it in.
    #[inline]
    pub fn set_offload(&mut self, mut offload: Offload) -> bool {
        let l2 = self.l2_len() as isize;
        match &mut self.ext {
            Some(e) => {
                e.offload = (offload != Offload::NONE).then(|| {
                    offload.shift(-l2);
                    offload
                });
                true
            }
            None => offload == Offload::NONE,
        }
    }

    /// Length of the Ethernet header now: 18 with an 802.1Q tag, else 14.
    #[inline]
    fn l2_len(&self) -> usize {
        match self.data().get(field::ETHERTYPE) {
            Some(t) if t == TPID_8021Q.to_be_bytes() => field::TAGGED_HEADER_LEN,
            _ => field::HEADER_LEN,
        }
    }

    /// Offset of the data inside the first buffer (= headroom).
    #[inline]
    pub fn start(&self) -> usize {
        self.start as usize
    }

    /// Length of the whole frame, every buffer included.
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Length of the data in the first buffer.
    #[inline]
    pub fn head_len(&self) -> usize {
        self.head_len as usize
    }

    /// No data.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The longest frame this one puts on the wire: itself, or for a
    /// super-frame still to be segmented, its largest segment.
    #[inline]
    pub fn wire_len(&self) -> usize {
        match self.ext.as_ref().and_then(|e| e.offload.as_ref()) {
            None => self.len(),
            Some(o) => (self.l2_len() + o.wire_len(self.len())).min(self.len()),
        }
    }

    /// Size of the whole first buffer.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Moves the data window of the first buffer and drops any further
    /// buffers and offload metadata (for reuse of a buffer); `false`, with
    /// nothing changed, if the window does not fit.
    #[inline]
    pub fn set_window(&mut self, start: usize, len: usize) -> bool {
        let fits = start
            .checked_add(len)
            .is_some_and(|end| end <= self.buf.len() && u32::try_from(end).is_ok());
        if fits {
            self.start = start as u32;
            self.head_len = len as u32;
            self.len = len as u32;
            if let Some(e) = &mut self.ext {
                **e = FrameExt::default();
            }
        }
        fits
    }

    /// Removes the 802.1Q tag of a tagged frame (data of at least 18 bytes)
    /// by sliding the addresses forward 4 bytes.
    #[inline]
    fn pop_tag(&mut self) {
        debug_assert!(self.head_len() >= ADDRS_LEN + TAG_LEN);
        let s = self.start as usize;
        self.buf.copy_within(s..s + ADDRS_LEN, s + TAG_LEN);
        self.start += TAG_LEN as u32;
        self.head_len -= TAG_LEN as u32;
        self.len -= TAG_LEN as u32;
    }

    /// Inserts an 802.1Q tag into the headroom; `false` (nothing changed)
    /// when there are fewer than 4 bytes of headroom.
    #[inline]
    fn push_tag(&mut self, tci: Tci) -> bool {
        if (self.start as usize) < TAG_LEN || self.head_len() < ADDRS_LEN {
            return false;
        }
        let s = self.start as usize - TAG_LEN;
        self.buf
            .copy_within(s + TAG_LEN..s + TAG_LEN + ADDRS_LEN, s);
        write_tag(&mut self.buf[s + ADDRS_LEN..s + ADDRS_LEN + TAG_LEN], tci);
        self.start = s as u32;
        self.head_len += TAG_LEN as u32;
        self.len += TAG_LEN as u32;
        true
    }

    /// Rewrites the frame, in place, into `enc`. `tagged` says whether it
    /// carries an 802.1Q tag now. Returns `false`, leaving the frame as it
    /// was, only when a tag must be pushed and the headroom is too small.
    /// Offload offsets follow the tag.
    #[inline]
    pub fn encode(&mut self, tagged: bool, enc: Encoding) -> bool {
        match (tagged, enc) {
            (false, Encoding::Untagged) => true,
            (true, Encoding::Untagged) => {
                self.pop_tag();
                true
            }
            (false, Encoding::Tagged(tci)) => self.push_tag(tci),
            (true, Encoding::Tagged(tci)) => {
                let at = self.start as usize + field::TCI.start;
                self.buf[at..at + 2].copy_from_slice(&tci.0.to_be_bytes());
                true
            }
        }
    }

    /// Writes `src` (a frame that carries a tag if `tagged`; every buffer of
    /// it, gathered) into this buffer in encoding `enc`, keeping the current
    /// data start, and takes its offload metadata (offsets moved with the
    /// tag). Returns `false`, writing nothing, if the result does not fit
    /// or the metadata has nowhere to go (this frame has no [`FrameExt`]).
    #[inline]
    pub fn copy_encoded(&mut self, src: &Frame<'_>, tagged: bool, enc: Encoding) -> bool {
        let head = src.data();
        let delta = enc.len_delta(tagged);
        let out_len = src.len() as isize + delta;
        let body = if tagged {
            ADDRS_LEN + TAG_LEN
        } else {
            ADDRS_LEN
        };
        let s = self.start as usize;
        if head.len() < body || out_len < 0 || s + out_len as usize > self.buf.len() {
            return false;
        }
        // A frame without storage is one plain buffer: no further buffers,
        // no offload metadata to carry over.
        let offload = match &src.ext {
            None => None,
            Some(e) if e.offload.is_some() && self.ext.is_none() => return false,
            Some(e) => e.offload,
        };
        let dst = &mut self.buf[s..s + out_len as usize];
        dst[..ADDRS_LEN].copy_from_slice(&head[..ADDRS_LEN]);
        let at = match enc {
            Encoding::Untagged => ADDRS_LEN,
            Encoding::Tagged(tci) => {
                write_tag(&mut dst[ADDRS_LEN..ADDRS_LEN + TAG_LEN], tci);
                ADDRS_LEN + TAG_LEN
            }
        };
        if src.len == src.head_len {
            // One buffer: the rest of the head fills the rest exactly.
            dst[at..].copy_from_slice(&head[body..]);
        } else {
            let mut at = at;
            for part in core::iter::once(&head[body..]).chain(src.frags().iter().copied()) {
                dst[at..at + part.len()].copy_from_slice(part);
                at += part.len();
            }
        }
        self.head_len = out_len as u32;
        self.len = out_len as u32;
        if let Some(e) = &mut self.ext {
            // Counted from the end of the Ethernet header: unchanged by
            // the encoding.
            **e = FrameExt {
                offload,
                ..FrameExt::default()
            };
        }
        true
    }
}

/// Writes an 802.1Q tag (TPID and TCI) into `out` (4 bytes).
#[inline]
fn write_tag(out: &mut [u8], tci: Tci) {
    out[..2].copy_from_slice(&TPID_8021Q.to_be_bytes());
    out[2..4].copy_from_slice(&tci.0.to_be_bytes());
}

/// Where the pipeline gets buffers for copies in a second encoding: spare
/// `j` is asked for only when the `j`-th copy of a batch is needed, so a
/// batch that copies nothing reserves nothing.
pub trait Spares<'b> {
    /// The `j`-th spare of this batch (`j` = 0, 1, 2, ... in order), empty
    /// with headroom; `None` when no more can be had.
    fn spare(&mut self, j: usize) -> Option<&mut Frame<'b>>;

    /// Spare `j` as written, if it was handed out.
    fn written(&self, j: usize) -> Option<&Frame<'b>>;
}

impl<'b> Spares<'b> for [Frame<'b>] {
    #[inline]
    fn spare(&mut self, j: usize) -> Option<&mut Frame<'b>> {
        self.get_mut(j)
    }

    #[inline]
    fn written(&self, j: usize) -> Option<&Frame<'b>> {
        self.get(j)
    }
}

/// Spares carved on demand from a region of `chunk`-byte buffers, data
/// starting at `headroom` (the in-memory port, the packet driver and the
/// benchmarks use it; AF_XDP ports hand out UMEM chunks instead).
pub struct SparePool<'b> {
    chunks: core::slice::ChunksMut<'b, u8>,
    exts: core::slice::IterMut<'b, FrameExt<'b>>,
    frames: arrayvec::ArrayVec<Frame<'b>, { crate::limits::BATCH_SIZE }>,
    headroom: usize,
}

impl<'b> SparePool<'b> {
    /// Spares from `mem`, one per `chunk` bytes.
    pub fn new(mem: &'b mut [u8], chunk: usize, headroom: usize) -> SparePool<'b> {
        SparePool {
            chunks: mem.chunks_mut(chunk),
            exts: [].iter_mut(),
            frames: arrayvec::ArrayVec::new(),
            headroom,
        }
    }

    /// The same pool whose spares keep further buffers' and offload
    /// metadata in `exts` (one each): spares for batches whose frames may
    /// carry offload metadata.
    pub fn with_exts(mut self, exts: &'b mut [FrameExt<'b>]) -> SparePool<'b> {
        self.exts = exts.iter_mut();
        self
    }

    /// Spares handed out so far.
    pub fn frames(&self) -> &[Frame<'b>] {
        &self.frames
    }
}

impl<'b> Spares<'b> for SparePool<'b> {
    #[inline]
    fn spare(&mut self, j: usize) -> Option<&mut Frame<'b>> {
        while self.frames.len() <= j {
            let chunk = self.chunks.next()?;
            let mut frame = Frame::new(chunk, self.headroom, 0)?;
            if let Some(ext) = self.exts.next() {
                frame = frame.with_ext(ext);
            }
            self.frames.try_push(frame).ok()?;
        }
        self.frames.get_mut(j)
    }

    #[inline]
    fn written(&self, j: usize) -> Option<&Frame<'b>> {
        self.frames.get(j)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNTAGGED: [u8; 16] = [1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 0x08, 0x00, 0xaa, 0xbb];
    const TAGGED: [u8; 20] = [
        1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 0x81, 0x00, 0xa0, 0x0a, 0x08, 0x00, 0xaa, 0xbb,
    ];

    /// A source frame over its own copy of `data`.
    fn src(data: &[u8]) -> Frame<'static> {
        let buf: &'static mut [u8] = Box::leak(data.to_vec().into_boxed_slice());
        let len = buf.len();
        Frame::new(buf, 0, len).unwrap()
    }

    fn framed(data: &[u8], headroom: usize, buf: &mut Vec<u8>) -> (usize, usize) {
        buf.clear();
        buf.resize(headroom, 0xee);
        buf.extend_from_slice(data);
        buf.resize(headroom + data.len() + 8, 0xee);
        (headroom, data.len())
    }

    #[test]
    fn push_then_pop_is_identity() {
        let mut buf = Vec::new();
        let (s, l) = framed(&UNTAGGED, 8, &mut buf);
        let mut f = Frame::new(&mut buf, s, l).unwrap();
        assert!(f.encode(false, Encoding::Tagged(Tci::new(5, false, 10))));
        assert_eq!(f.data(), &TAGGED);
        assert_eq!(f.start(), 4);
        assert!(f.encode(true, Encoding::Untagged));
        assert_eq!(f.data(), &UNTAGGED);
        assert_eq!(f.start(), 8);
    }

    #[test]
    fn push_needs_headroom() {
        let mut buf = Vec::new();
        let (s, l) = framed(&UNTAGGED, 3, &mut buf);
        let mut f = Frame::new(&mut buf, s, l).unwrap();
        assert!(!f.encode(false, Encoding::Tagged(Tci(10))));
        assert_eq!(f.data(), &UNTAGGED);
    }

    #[test]
    fn retag_rewrites_tci_only() {
        let mut buf = Vec::new();
        let (s, l) = framed(&TAGGED, 0, &mut buf);
        let mut f = Frame::new(&mut buf, s, l).unwrap();
        assert!(f.encode(true, Encoding::Tagged(Tci::new(5, false, 20))));
        assert_eq!(&f.data()[12..16], &[0x81, 0x00, 0xa0, 0x14]);
        assert_eq!(f.len(), TAGGED.len());
    }

    #[test]
    fn copies_in_every_encoding() {
        let mut buf = vec![0u8; 64];
        let mut f = Frame::new(&mut buf, 4, 0).unwrap();
        assert!(f.copy_encoded(&src(&TAGGED), true, Encoding::Untagged));
        assert_eq!(f.data(), &UNTAGGED);
        assert!(f.copy_encoded(
            &src(&UNTAGGED),
            false,
            Encoding::Tagged(Tci::new(5, false, 10))
        ));
        assert_eq!(f.data(), &TAGGED);
        assert!(f.copy_encoded(&src(&UNTAGGED), false, Encoding::Untagged));
        assert_eq!(f.data(), &UNTAGGED);
        let mut small = [0u8; 18];
        let mut g = Frame::new(&mut small, 0, 0).unwrap();
        assert!(!g.copy_encoded(&src(&UNTAGGED), false, Encoding::Tagged(Tci(1))));
        assert!(Frame::new(&mut small, 10, 9).is_none());
    }

    #[test]
    fn offload_offsets_follow_the_tag() {
        use crate::offload::{Gso, GsoKind, Offload, PartialCsum};
        let off = Offload {
            csum: Some(PartialCsum {
                start: 34,
                offset: 16,
            }),
            csum_valid: false,
            gso: Some(Gso {
                kind: GsoKind::TcpV4,
                size: 1448,
                hdr_len: 66,
                ecn: false,
            }),
        };
        let mut buf = Vec::new();
        let (s, l) = framed(&UNTAGGED, 8, &mut buf);
        let mut ext = FrameExt::default();
        let mut f = Frame::new(&mut buf, s, l)
            .unwrap()
            .with_offload(off, &mut ext);
        assert!(f.encode(false, Encoding::Tagged(Tci(10))));
        assert_eq!(f.offload().unwrap().csum.unwrap().start, 38);
        assert_eq!(f.offload().unwrap().gso.unwrap().hdr_len, 70);
        assert!(f.encode(true, Encoding::Untagged));
        assert_eq!(f.offload(), Some(off));
        let mut spare = vec![0u8; 64];
        let mut plain = vec![0u8; 64];
        let mut p = Frame::new(&mut plain, 4, 0).unwrap();
        assert!(
            !p.copy_encoded(&f, false, Encoding::Tagged(Tci(10))),
            "metadata needs somewhere to go"
        );
        let mut ext2 = FrameExt::default();
        let mut g = Frame::new(&mut spare, 4, 0).unwrap().with_ext(&mut ext2);
        assert!(g.copy_encoded(&f, false, Encoding::Tagged(Tci(10))));
        assert_eq!(g.offload().unwrap().csum.unwrap().start, 38);
    }

    #[test]
    fn a_frame_over_several_buffers() {
        let tail: &'static [u8] = &[0xcc; 10];
        let frags: &'static [&'static [u8]] = Box::leak(Box::new([tail, tail]));
        let mut buf = Vec::new();
        let (s, l) = framed(&UNTAGGED, 8, &mut buf);
        let mut ext = FrameExt::default();
        let mut f = Frame::new(&mut buf, s, l)
            .unwrap()
            .with_frags(frags, &mut ext);
        assert_eq!(f.len(), UNTAGGED.len() + 20);
        assert_eq!(f.head_len(), UNTAGGED.len());
        // A push rewrites only the first buffer.
        assert!(f.encode(false, Encoding::Tagged(Tci(7))));
        assert_eq!(f.len(), UNTAGGED.len() + 24);
        // A copy gathers every buffer into one.
        let mut spare = vec![0u8; 64];
        let mut g = Frame::new(&mut spare, 0, 0).unwrap();
        assert!(g.copy_encoded(&f, true, Encoding::Untagged));
        assert_eq!(g.len(), UNTAGGED.len() + 20);
        assert_eq!(&g.data()[..UNTAGGED.len()], &UNTAGGED);
        assert!(g.data()[UNTAGGED.len()..].iter().all(|&b| b == 0xcc));
        assert!(g.frags().is_empty());
        let mut small = vec![0u8; 30];
        let mut h = Frame::new(&mut small, 0, 0).unwrap();
        assert!(!h.copy_encoded(&f, true, Encoding::Untagged));
    }
}

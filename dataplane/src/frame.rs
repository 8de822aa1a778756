//! A frame buffer with headroom, and the in-place 802.1Q rewrites done on
//! it. A [`Frame`] borrows its whole buffer (headroom, data, tailroom) so a
//! tag can be pushed by moving the data start back 4 bytes instead of
//! moving the payload.

use crate::wire::Tci;

const ADDRS_LEN: usize = 12; // destination + source MAC
const TAG_LEN: usize = crate::limits::VLAN_TAG_LEN;
const TPID_8021Q: [u8; 2] = 0x8100u16.to_be_bytes();

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

/// One frame: a buffer and the window `[start, start + len)` holding data.
#[derive(Debug)]
pub struct Frame<'a> {
    buf: &'a mut [u8],
    start: usize,
    len: usize,
}

impl<'a> Frame<'a> {
    /// Wraps `buf` with data at `start..start + len`; `None` if that window
    /// does not fit the buffer.
    #[inline]
    pub fn new(buf: &'a mut [u8], start: usize, len: usize) -> Option<Frame<'a>> {
        (start.checked_add(len)? <= buf.len()).then_some(Frame { buf, start, len })
    }

    /// The data bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }

    /// The data bytes, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }

    /// Offset of the data inside the buffer (= headroom).
    #[inline]
    pub fn start(&self) -> usize {
        self.start
    }

    /// Length of the data.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// No data.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Size of the whole buffer.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Moves the data window (for reuse of a buffer); `false` if it does not fit.
    #[inline]
    pub fn set_window(&mut self, start: usize, len: usize) -> bool {
        let fits = start
            .checked_add(len)
            .is_some_and(|end| end <= self.buf.len());
        if fits {
            self.start = start;
            self.len = len;
        }
        fits
    }

    /// Removes the 802.1Q tag of a tagged frame (data of at least 18 bytes)
    /// by sliding the addresses forward 4 bytes.
    #[inline]
    fn pop_tag(&mut self) {
        debug_assert!(self.len >= ADDRS_LEN + TAG_LEN);
        let s = self.start;
        self.buf.copy_within(s..s + ADDRS_LEN, s + TAG_LEN);
        self.start += TAG_LEN;
        self.len -= TAG_LEN;
    }

    /// Inserts an 802.1Q tag into the headroom; `false` (nothing changed)
    /// when there are fewer than 4 bytes of headroom.
    #[inline]
    fn push_tag(&mut self, tci: Tci) -> bool {
        if self.start < TAG_LEN || self.len < ADDRS_LEN {
            return false;
        }
        let s = self.start - TAG_LEN;
        self.buf
            .copy_within(s + TAG_LEN..s + TAG_LEN + ADDRS_LEN, s);
        self.buf[s + ADDRS_LEN..s + ADDRS_LEN + 2].copy_from_slice(&TPID_8021Q);
        self.buf[s + ADDRS_LEN + 2..s + ADDRS_LEN + 4].copy_from_slice(&tci.0.to_be_bytes());
        self.start = s;
        self.len += TAG_LEN;
        true
    }

    /// Rewrites the frame, in place, into `enc`. `tagged` says whether it
    /// carries an 802.1Q tag now. Returns `false`, leaving the frame as it
    /// was, only when a tag must be pushed and the headroom is too small.
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
                let at = self.start + ADDRS_LEN + 2;
                self.buf[at..at + 2].copy_from_slice(&tci.0.to_be_bytes());
                true
            }
        }
    }

    /// Writes `src` (a frame that carries a tag if `tagged`) into this
    /// buffer in encoding `enc`, keeping the current data start. Returns
    /// `false`, writing nothing, if the result does not fit.
    #[inline]
    pub fn copy_encoded(&mut self, src: &[u8], tagged: bool, enc: Encoding) -> bool {
        let out_len = src.len() as isize + enc.len_delta(tagged);
        let s = self.start;
        if src.len() < ADDRS_LEN || out_len < 0 || s + out_len as usize > self.buf.len() {
            return false;
        }
        let body = if tagged {
            ADDRS_LEN + TAG_LEN
        } else {
            ADDRS_LEN
        };
        let dst = &mut self.buf[s..s + out_len as usize];
        dst[..ADDRS_LEN].copy_from_slice(&src[..ADDRS_LEN]);
        let rest = match enc {
            Encoding::Untagged => ADDRS_LEN,
            Encoding::Tagged(tci) => {
                dst[ADDRS_LEN..ADDRS_LEN + 2].copy_from_slice(&TPID_8021Q);
                dst[ADDRS_LEN + 2..ADDRS_LEN + 4].copy_from_slice(&tci.0.to_be_bytes());
                ADDRS_LEN + TAG_LEN
            }
        };
        dst[rest..].copy_from_slice(&src[body..]);
        self.len = out_len as usize;
        true
    }
}

/// Where the pipeline gets buffers for copies in a second encoding: spare
/// `j` is asked for only when the `j`-th copy of a batch is needed, so a
/// batch that copies nothing reserves nothing.
pub trait Spares<'b> {
    /// The `j`-th spare of this batch (`j` = 0, 1, 2, ... in order), empty
    /// with headroom; `None` when no more can be had.
    fn spare(&mut self, j: usize) -> Option<&mut Frame<'b>>;
}

impl<'b> Spares<'b> for [Frame<'b>] {
    #[inline]
    fn spare(&mut self, j: usize) -> Option<&mut Frame<'b>> {
        self.get_mut(j)
    }
}

/// Spares carved on demand from a region of `chunk`-byte buffers, data
/// starting at `headroom` (the in-memory port and the benchmarks use it;
/// AF_XDP ports hand out UMEM chunks instead).
pub struct SparePool<'b> {
    chunks: core::slice::ChunksMut<'b, u8>,
    frames: arrayvec::ArrayVec<Frame<'b>, { crate::limits::BATCH_SIZE }>,
    headroom: usize,
}

impl<'b> SparePool<'b> {
    /// Spares from `mem`, one per `chunk` bytes.
    pub fn new(mem: &'b mut [u8], chunk: usize, headroom: usize) -> SparePool<'b> {
        SparePool {
            chunks: mem.chunks_mut(chunk),
            frames: arrayvec::ArrayVec::new(),
            headroom,
        }
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
            let frame = Frame::new(chunk, self.headroom, 0)?;
            self.frames.try_push(frame).ok()?;
        }
        self.frames.get_mut(j)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNTAGGED: [u8; 16] = [1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 0x08, 0x00, 0xaa, 0xbb];
    const TAGGED: [u8; 20] = [
        1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 0x81, 0x00, 0xa0, 0x0a, 0x08, 0x00, 0xaa, 0xbb,
    ];

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
        assert!(f.copy_encoded(&TAGGED, true, Encoding::Untagged));
        assert_eq!(f.data(), &UNTAGGED);
        assert!(f.copy_encoded(&UNTAGGED, false, Encoding::Tagged(Tci::new(5, false, 10))));
        assert_eq!(f.data(), &TAGGED);
        assert!(f.copy_encoded(&UNTAGGED, false, Encoding::Untagged));
        assert_eq!(f.data(), &UNTAGGED);
        let mut small = [0u8; 18];
        let mut g = Frame::new(&mut small, 0, 0).unwrap();
        assert!(!g.copy_encoded(&UNTAGGED, false, Encoding::Tagged(Tci(1))));
        assert!(Frame::new(&mut small, 10, 9).is_none());
    }
}

//! A worker's UMEM chunks: who owns each one, and how many transmit
//! rings still hold it. A frame sent to three ports from one address is
//! freed by its third completion.

#![allow(unsafe_code)]

use arrayvec::ArrayVec;

use crate::frame::{Frame, Spares};
use crate::limits::BATCH_SIZE;
use crate::port::xsk::{Umem, HEADROOM};

/// Free chunks (a stack, so the most recently used, cache-warm chunk is
/// reused first) and per-chunk transmit references.
#[derive(Debug)]
pub(crate) struct FramePool {
    free: Vec<u64>,
    refs: Vec<u16>,
}

impl FramePool {
    pub(crate) fn new(frames: u32) -> FramePool {
        FramePool {
            free: (0..frames).rev().map(Umem::chunk_base).collect(),
            refs: vec![0; frames as usize],
        }
    }

    /// A pool of `frames` chunks none of which is free yet (a UMEM rebuild
    /// waiting for claims of the old generation to end).
    pub(crate) fn empty(frames: u32) -> FramePool {
        FramePool {
            free: Vec::with_capacity(frames as usize),
            refs: vec![0; frames as usize],
        }
    }

    /// Chunks in all.
    pub(crate) fn frames(&self) -> usize {
        self.refs.len()
    }

    /// Free chunks now.
    #[inline]
    pub(crate) fn available(&self) -> usize {
        self.free.len()
    }

    /// Takes a free chunk.
    #[inline]
    pub(crate) fn take(&mut self) -> Option<u64> {
        self.free.pop()
    }

    /// Takes `n` free chunks at once (fewer if fewer are free).
    #[inline]
    pub(crate) fn take_many(&mut self, n: usize) -> std::vec::Drain<'_, u64> {
        let from = self.free.len().saturating_sub(n);
        self.free.drain(from..)
    }

    /// Returns a chunk nobody references.
    #[inline]
    pub(crate) fn put(&mut self, base: u64) {
        debug_assert_eq!(self.refs[Umem::chunk_index(base) as usize], 0);
        self.free.push(base);
    }

    /// Adds `n` transmit references to the chunk holding `addr`.
    #[inline]
    pub(crate) fn hold(&mut self, addr: u64, n: u16) {
        self.refs[Umem::chunk_index(addr) as usize] += n;
    }

    /// Drops one reference (a completion, or a transmit that failed);
    /// frees the chunk when it was the last.
    #[inline]
    pub(crate) fn release(&mut self, addr: u64) {
        let i = Umem::chunk_index(addr) as usize;
        match self.refs[i] {
            0 => debug_assert!(false, "release of an unreferenced chunk"),
            1 => {
                self.refs[i] = 0;
                self.free.push(Umem::chunk_base(i as u32));
            }
            _ => self.refs[i] -= 1,
        }
    }

    /// Frees `base` unless a transmit still references it.
    #[inline]
    pub(crate) fn put_if_unreferenced(&mut self, base: u64) {
        if self.refs[Umem::chunk_index(base) as usize] == 0 {
            self.free.push(base);
        }
    }

    /// The free list, for carving spares.
    pub(crate) fn free_list(&mut self) -> &mut Vec<u64> {
        &mut self.free
    }
}

/// Spare frames for a batch's second-encoding copies, taken from the free
/// list only when the pipeline asks.
pub(crate) struct UmemSpares<'u, 'f> {
    umem: &'u Umem,
    free: &'f mut Vec<u64>,
    pub(crate) frames: ArrayVec<Frame<'u>, BATCH_SIZE>,
    pub(crate) bases: ArrayVec<u64, BATCH_SIZE>,
}

impl<'u, 'f> UmemSpares<'u, 'f> {
    pub(crate) fn new(umem: &'u Umem, free: &'f mut Vec<u64>) -> Self {
        UmemSpares {
            umem,
            free,
            frames: ArrayVec::new(),
            bases: ArrayVec::new(),
        }
    }
}

impl<'u> Spares<'u> for UmemSpares<'u, '_> {
    fn spare(&mut self, j: usize) -> Option<&mut Frame<'u>> {
        while self.frames.len() <= j {
            if self.frames.is_full() {
                return None;
            }
            let base = self.free.pop()?;
            // SAFETY: the chunk just left the free list, so this batch owns
            // it and nothing else holds a slice over it.
            let buf = unsafe { self.umem.chunk_mut(base) };
            let frame = Frame::new(buf, HEADROOM, 0)?;
            self.frames.push(frame);
            self.bases.push(base);
        }
        self.frames.get_mut(j)
    }

    fn written(&self, j: usize) -> Option<&Frame<'u>> {
        self.frames.get(j)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_release_frees() {
        let mut p = FramePool::new(4);
        assert_eq!(p.available(), 4);
        let a = p.take().unwrap();
        assert_eq!(a, 0, "lowest chunk first");
        p.hold(a + 300, 3);
        p.release(a + 256);
        p.release(a + 252);
        assert_eq!(p.available(), 3);
        p.release(a + 300);
        assert_eq!(p.available(), 4);
        let b = p.take().unwrap();
        p.put_if_unreferenced(b);
        assert_eq!(p.available(), 4);
        assert_eq!(p.take_many(3).count(), 3);
        assert_eq!(p.take_many(3).count(), 1, "only what is free");
        assert_eq!(p.available(), 0);
    }
}

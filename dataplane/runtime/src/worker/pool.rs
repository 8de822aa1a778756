//! Spare frames for a batch from an AF_XDP socket: UMEM chunks taken from
//! the worker's [`FramePool`] only when the pipeline asks for a second
//! encoding.

use arrayvec::ArrayVec;

use crate::frame::{Frame, Spares};
use crate::limits::BATCH_SIZE;
use crate::port::chunks::{Chunk, FramePool};
use crate::port::xsk::{Umem, HEADROOM};

/// Spare frames for a batch's second-encoding copies. Each spare's
/// [`Chunk`] is kept in a slot of the caller's `slots` (borrowed for as
/// long as the frames), so the caller gets every chunk back once the
/// frames are gone.
pub(crate) struct UmemSpares<'u, 'p> {
    umem: &'u Umem,
    pool: &'p mut FramePool,
    /// Slots not used yet.
    slots: &'u mut [Option<Chunk>],
    pub(crate) frames: ArrayVec<Frame<'u>, BATCH_SIZE>,
}

impl<'u, 'p> UmemSpares<'u, 'p> {
    pub(crate) fn new(
        umem: &'u Umem,
        pool: &'p mut FramePool,
        slots: &'u mut [Option<Chunk>],
    ) -> Self {
        UmemSpares {
            umem,
            pool,
            slots,
            frames: ArrayVec::new(),
        }
    }
}

impl<'u> Spares<'u> for UmemSpares<'u, '_> {
    fn spare(&mut self, j: usize) -> Option<&mut Frame<'u>> {
        while self.frames.len() <= j {
            if self.frames.is_full() || self.slots.is_empty() {
                return None;
            }
            let chunk = self.pool.take()?;
            let (slot, rest) = std::mem::take(&mut self.slots).split_first_mut()?;
            self.slots = rest;
            let buf = self.umem.chunk_mut(slot.insert(chunk));
            let frame = Frame::new(buf, HEADROOM, 0)?;
            self.frames.push(frame);
        }
        self.frames.get_mut(j)
    }

    fn written(&self, j: usize) -> Option<&Frame<'u>> {
        self.frames.get(j)
    }
}

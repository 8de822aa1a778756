//! Grace periods for slot reuse (quiescent-state-based reclamation).
//!
//! A reader *pins* before touching the table and *unpins* after, once per
//! batch. A slot that the maintainer wants to reuse is first marked
//! RECLAIMING; it may become empty only after every reader that was pinned
//! before the mark has unpinned. Then no in-flight lookup or learn can
//! still hold a value it read from that slot's previous owner.
//!
//! Announcements are a reader's copy of the global grace counter, or
//! `OFFLINE`. The store-then-fence in `pin` and the fence-then-load in
//! `elapsed` make the usual store-buffer argument work: either the
//! maintainer sees the reader's announcement, or the reader sees the
//! maintainer's RECLAIMING marks.

use crossbeam_utils::CachePadded;

use super::sync::{fence, AtomicBool, AtomicU64, Ordering, READER_SLOTS};

const OFFLINE: u64 = u64::MAX;

pub(super) struct Readers {
    counter: CachePadded<AtomicU64>,
    announce: Box<[CachePadded<AtomicU64>]>,
    claimed: Box<[AtomicBool]>,
}

impl Readers {
    pub(super) fn new() -> Readers {
        Readers {
            counter: CachePadded::new(AtomicU64::new(1)),
            announce: (0..READER_SLOTS)
                .map(|_| CachePadded::new(AtomicU64::new(OFFLINE)))
                .collect(),
            claimed: (0..READER_SLOTS).map(|_| AtomicBool::new(false)).collect(),
        }
    }

    /// Takes a free announcement slot; `None` when all are taken.
    pub(super) fn register(&self) -> Option<usize> {
        self.claimed.iter().position(|c| {
            c.compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })
    }

    /// Gives a slot back; the reader must be unpinned.
    pub(super) fn unregister(&self, idx: usize) {
        self.announce[idx].store(OFFLINE, Ordering::Release);
        self.claimed[idx].store(false, Ordering::Release);
    }

    #[inline]
    pub(super) fn pin(&self, idx: usize) {
        // Acquire pairs with the AcqRel increment in `start`: a reader that
        // sees the new count also sees the marks made before it.
        let now = self.counter.load(Ordering::Acquire);
        self.announce[idx].store(now, Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }

    #[inline]
    pub(super) fn unpin(&self, idx: usize) {
        // Release: everything this reader read happens before the
        // maintainer, having seen OFFLINE, empties a slot.
        self.announce[idx].store(OFFLINE, Ordering::Release);
    }

    /// Call after marking slots RECLAIMING; returns the token to wait for.
    pub(super) fn start(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Whether every reader pinned before `start` returned `token` has
    /// unpinned since.
    pub(super) fn elapsed(&self, token: u64) -> bool {
        fence(Ordering::SeqCst);
        self.announce.iter().all(|a| {
            let v = a.load(Ordering::Acquire);
            v == OFFLINE || v >= token
        })
    }
}

//! A worker's UMEM chunks as values: which ones it owns right now, which
//! the kernel or another worker has, and how many transmit rings still
//! hold each. A [`Chunk`] is the only way to a chunk's bytes
//! ([`Umem::chunk_mut`](super::xsk::Umem::chunk_mut), [`Umem::chunk`](super::xsk::Umem::chunk)); only a [`FramePool`] makes one,
//! and never two for the same chunk at once. This module has no unsafe
//! code: it is the bookkeeping that the one unsafe slice in
//! [`Umem::chunk_mut`](super::xsk::Umem::chunk_mut) relies on.
//!
//! Every chunk of the pool's [`UmemArea`] is in one state:
//!
//! | state | who has it | enters by | leaves by |
//! |---|---|---|---|
//! | free | the pool's free list | a [`Chunk`] put back unreferenced, the last transmit reference released, a closed socket's ring reclaimed, a rebuild settled | [`FramePool::take`] (held), [`FramePool::take_for_fill`] (out), [`FramePool::donate`] (lent) |
//! | held | the one live [`Chunk`] | [`FramePool::take`], [`FramePool::received`] (an rx descriptor), [`FramePool::receive`] (a parcel) | [`FramePool::put`] |
//! | out | the kernel (a fill or rx ring) or only transmit references | [`FramePool::take_for_fill`], a [`Chunk`] put back while referenced | [`FramePool::received`], the last [`FramePool::release`], [`FramePool::reclaim`] |
//! | lent | another worker, through the area's exchange (which may still be writing it) | [`FramePool::donate`]; every chunk not held, at a rebuild while claims are in flight (the fence) | a parcel ([`FramePool::receive`]) or a settled rebuild |
//!
//! Transmit references ([`FramePool::hold`], [`FramePool::release`]) are
//! counted apart from the state: a chunk queued on three tx rings is
//! freed by its third completion, and only once no [`Chunk`] names it.
//!
//! What this guarantees, whatever the calling code does: at most one
//! [`Chunk`] names a chunk at a time (every way to make one checks the
//! state and leaves it held, and only putting the value back ends that),
//! and none names a chunk that is lent (a peer may be writing it). What
//! it takes on trust is the kernel's side of the ring protocol: the
//! kernel writes only into chunks given to a fill ring, which only
//! [`FramePool::take_for_fill`] hands out ([`ForFill`]), and returns each
//! once.

use std::sync::Arc;

use super::xsk::{UmemArea, Written, FRAME_SIZE};
use crate::exchange::Delivery;

/// Base address (UMEM offset) of chunk `i`.
#[inline]
fn base_of(i: u32) -> u64 {
    i as u64 * FRAME_SIZE as u64
}

/// One UMEM chunk the worker owns now: the proof that nothing else (no
/// other `Chunk`, no peer, no ring the pool knows of) uses it. Not
/// `Clone`: `&mut Chunk` gives `&mut [u8]`
/// ([`Umem::chunk_mut`](super::xsk::Umem::chunk_mut)). Made only by a
/// [`FramePool`]; give it back with [`FramePool::put`] (dropping it
/// instead leaks the chunk for the pool's life, which is safe: no
/// rebuild takes back a held chunk).
#[derive(Debug)]
#[must_use = "give a chunk back with FramePool::put"]
pub struct Chunk {
    index: u32,
    area: u64,
}

impl Chunk {
    /// The chunk's index in its UMEM.
    #[inline]
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The chunk's base address (UMEM offset).
    #[inline]
    pub fn base(&self) -> u64 {
        base_of(self.index)
    }

    /// The [`UmemArea`] the chunk is of (its id).
    #[inline]
    pub(super) fn area(&self) -> u64 {
        self.area
    }
}

/// A chunk address the pool gave up to a fill ring: the only value a fill
/// ring takes ([`super::xsk::Socket::fill_reserve`]).
#[derive(Debug)]
pub struct ForFill(u64);

impl ForFill {
    /// The chunk's base address.
    #[inline]
    pub(super) fn base(&self) -> u64 {
        self.0
    }
}

/// What a worker finds in its inbox ([`FramePool::receive`]).
#[derive(Debug)]
pub enum Inbound {
    /// A chunk another worker wrote a frame into (at the headroom): the
    /// worker's again.
    Parcel(Chunk, Written),
    /// A chunk lent before the last rebuild, which the rebuilt pool has
    /// taken back: only its metadata remains (to count the drop).
    Stale(Written),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Free,
    Held,
    Out,
    Lent,
}

/// A worker's chunks: free ones (a stack, so the most recently used,
/// cache-warm chunk is reused first), each chunk's state (module docs)
/// and its transmit references; the owner's side of its area's exchange.
#[derive(Debug)]
pub struct FramePool {
    area: Arc<UmemArea>,
    free: Vec<u32>,
    refs: Vec<u16>,
    state: Vec<State>,
    /// Up after a rebuild until no claim of the old generation is in
    /// flight: the free list stays empty meanwhile.
    fenced: bool,
}

impl FramePool {
    /// A pool of every chunk of `area`, all free.
    pub fn new(area: Arc<UmemArea>) -> FramePool {
        let frames = area.frames() as usize;
        let mut pool = FramePool {
            area,
            free: Vec::with_capacity(frames),
            refs: vec![0; frames],
            state: vec![State::Free; frames],
            fenced: false,
        };
        pool.reset(State::Free);
        pool
    }

    /// Every chunk but held ones goes to `to` with no references; the
    /// free list holds exactly the free ones, lowest index on top.
    fn reset(&mut self, to: State) {
        self.free.clear();
        for i in (0..self.state.len()).rev() {
            self.refs[i] = 0;
            if self.state[i] != State::Held {
                self.state[i] = to;
                if to == State::Free {
                    self.free.push(i as u32);
                }
            }
        }
    }

    /// Chunks in all.
    pub fn frames(&self) -> usize {
        self.state.len()
    }

    /// Free chunks now.
    #[inline]
    pub fn available(&self) -> usize {
        self.free.len()
    }

    /// Whether the fence is up (module docs of [`crate::exchange`]).
    pub fn fenced(&self) -> bool {
        self.fenced
    }

    /// The one place a [`Chunk`] is made: chunk `i` is held from here.
    #[inline]
    fn mint(&mut self, i: u32) -> Chunk {
        self.state[i as usize] = State::Held;
        Chunk {
            index: i,
            area: self.area.id(),
        }
    }

    /// Pushes chunk `i`, neither free nor held, on the free list.
    #[inline]
    fn free(&mut self, i: usize) {
        debug_assert!(matches!(self.state[i], State::Out | State::Lent));
        self.state[i] = State::Free;
        self.free.push(i as u32);
    }

    /// Takes a free chunk.
    #[inline]
    pub fn take(&mut self) -> Option<Chunk> {
        let i = self.free.pop()?;
        debug_assert_eq!(self.state[i as usize], State::Free);
        Some(self.mint(i))
    }

    /// Takes up to `n` free chunks (fewer if fewer are free) for fill
    /// rings: they are the kernel's until [`FramePool::received`] (or
    /// [`FramePool::reclaim`]) takes them back.
    #[inline]
    pub fn take_for_fill(&mut self, n: usize) -> impl Iterator<Item = ForFill> + '_ {
        let from = self.free.len().saturating_sub(n);
        // Out before they are handed out: one not posted (the iterator
        // dropped early) is lost until the next rebuild, never named twice.
        for &i in &self.free[from..] {
            debug_assert_eq!(self.state[i as usize], State::Free);
            self.state[i as usize] = State::Out;
        }
        self.free.drain(from..).map(|i| ForFill(base_of(i)))
    }

    /// The chunk holding `addr`, which an rx ring returned: the
    /// worker's. `None` (and nothing changes) unless the chunk is out,
    /// which for a descriptor of the worker's own rx ring it always is:
    /// one state check per received frame.
    #[inline]
    pub fn received(&mut self, addr: u64) -> Option<Chunk> {
        let i = addr / FRAME_SIZE as u64;
        match self.state.get(i as usize) {
            Some(State::Out) => Some(self.mint(i as u32)),
            _ => None,
        }
    }

    /// Gives a chunk back: free when no transmit references it, else out
    /// until its last [`FramePool::release`].
    #[inline]
    pub fn put(&mut self, chunk: Chunk) {
        if chunk.area != self.area.id() {
            // Another pool's: its chunk stays held (leaked), never ours.
            debug_assert!(false, "a chunk of another pool");
            return;
        }
        let i = chunk.index as usize;
        debug_assert_eq!(self.state[i], State::Held);
        self.state[i] = State::Out;
        if self.refs[i] == 0 {
            self.free(i);
        }
    }

    /// Adds `n` transmit references to the chunk holding `addr`.
    #[inline]
    pub fn hold(&mut self, addr: u64, n: u16) {
        let r = &mut self.refs[(addr / FRAME_SIZE as u64) as usize];
        *r = r.saturating_add(n);
    }

    /// Drops one transmit reference (a completion, or a transmit that
    /// failed); frees the chunk when it was the last and no [`Chunk`]
    /// names it.
    #[inline]
    pub fn release(&mut self, addr: u64) {
        let i = (addr / FRAME_SIZE as u64) as usize;
        match self.refs[i] {
            0 => debug_assert!(false, "release of an unreferenced chunk"),
            1 => {
                self.refs[i] = 0;
                if self.state[i] == State::Out {
                    self.free(i);
                }
            }
            _ => self.refs[i] -= 1,
        }
    }

    /// Takes back the chunk holding `addr`, found in the fill or rx ring
    /// of a socket that is closing, unless a transmit still references it.
    pub fn reclaim(&mut self, addr: u64) {
        let i = (addr / FRAME_SIZE as u64) as usize;
        if self.state.get(i) == Some(&State::Out) && self.refs[i] == 0 {
            self.free(i);
        }
    }

    // ---- the owner's side of the area's exchange ----

    /// Lends a free chunk to other workers. `false` if none is free or
    /// the exchange holds all it can.
    pub fn donate(&mut self) -> bool {
        let Some(i) = self.free.pop() else {
            return false;
        };
        if self.area.exchange().donate(i).is_err() {
            self.free.push(i);
            return false;
        }
        self.state[i as usize] = State::Lent;
        true
    }

    /// Chunks lent now.
    pub fn donated(&self) -> usize {
        self.area.exchange().donated()
    }

    /// The next frame another worker handed over, if any.
    pub fn receive(&mut self) -> Option<Inbound> {
        match self.area.exchange().receive()? {
            Delivery::Parcel(p) => match self.state.get(p.chunk as usize) {
                Some(State::Lent) => Some(Inbound::Parcel(self.mint(p.chunk), p.meta)),
                _ => {
                    debug_assert!(false, "a parcel of a chunk not lent");
                    Some(Inbound::Stale(p.meta))
                }
            },
            Delivery::Stale(meta) => Some(Inbound::Stale(meta)),
        }
    }

    /// Takes every chunk but held ones back after the worker's sockets
    /// have closed (the UMEM is being rebuilt). Lent ones may still be
    /// being written, so unless no claim is in flight the fence goes up:
    /// every chunk not held counts as lent (nothing can name it) until
    /// [`FramePool::settle`] frees them. Returns whether the fence is up.
    pub fn rebuild(&mut self) -> bool {
        let settled = self.area.exchange().rebuild();
        self.fenced = !settled;
        self.reset(if settled { State::Free } else { State::Lent });
        self.fenced
    }

    /// Lowers the fence once no claim made before the last rebuild is in
    /// flight. Returns whether it is still up.
    pub fn settle(&mut self) -> bool {
        if self.fenced && self.area.exchange().settle() {
            self.reset(State::Free);
            self.fenced = false;
        }
        self.fenced
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(frames: u32) -> FramePool {
        FramePool::new(Arc::new(UmemArea::new(frames, 8, 8).unwrap()))
    }

    #[test]
    fn last_release_frees() {
        let mut p = pool(4);
        assert_eq!(p.available(), 4);
        let a = p.take().unwrap();
        assert_eq!(a.base(), 0, "lowest chunk first");
        let base = a.base();
        p.hold(base + 300, 3);
        p.put(a);
        p.release(base + 256);
        p.release(base + 252);
        assert_eq!(p.available(), 3);
        p.release(base + 300);
        assert_eq!(p.available(), 4);
        let b = p.take().unwrap();
        p.put(b);
        assert_eq!(p.available(), 4);
        assert_eq!(p.take_for_fill(3).count(), 3);
        assert_eq!(p.take_for_fill(3).count(), 1, "only what is free");
        assert_eq!(p.available(), 0);
    }

    #[test]
    fn a_chunk_is_named_once() {
        let mut p = pool(2);
        let fill: Vec<u64> = p.take_for_fill(2).map(|f| f.base()).collect();
        let c = p.received(fill[0] + 256).unwrap();
        assert!(p.received(fill[0] + 256).is_none(), "already held");
        // A transmit that outlives the batch: the chunk is out, then free.
        p.hold(c.base() + 256, 1);
        p.put(c);
        assert_eq!(p.available(), 0);
        p.release(fill[0]);
        assert_eq!(p.available(), 1);
        assert!(p.received(fill[0]).is_none(), "free, not received");
        p.reclaim(fill[1]);
        assert_eq!(p.available(), 2);
        p.reclaim(fill[1]);
        assert_eq!(p.available(), 2, "reclaimed once");
    }

    #[test]
    fn lent_chunks_come_back_by_parcel_only() {
        let mut p = pool(4);
        assert!(p.donate());
        assert_eq!(p.donated(), 1);
        // The lent chunk is not the rx ring's to return.
        assert!(p.received(0).is_none());
        p.reclaim(0);
        assert_eq!(p.available(), 3);
        let claim = p.area.exchange().claim().unwrap();
        let meta = Written {
            len: 60,
            ports: vswitch_engine::PortSet::EMPTY,
        };
        assert!(p.area.write_claimed(&claim, 256, &[1; 60]));
        claim.send(meta).unwrap();
        let Some(Inbound::Parcel(c, w)) = p.receive() else {
            panic!("a parcel")
        };
        assert_eq!((c.index(), w.len), (0, 60));
        p.put(c);
        assert_eq!(p.available(), 4);
    }

    #[test]
    fn a_rebuild_takes_back_all_but_held_chunks() {
        let mut p = pool(4);
        let held = p.take().unwrap();
        assert!(p.donate());
        let _ = p.take_for_fill(1).count();
        assert!(!p.rebuild(), "no claim in flight");
        assert_eq!(p.available(), 3);
        assert!(p.take().is_some_and(|c| c.index() != held.index()));
        p.put(held);
    }

    #[test]
    fn the_fence_names_nothing_until_claims_end() {
        let mut p = pool(4);
        let _ = p.take_for_fill(2).count();
        assert!(p.donate());
        let area = Arc::clone(&p.area);
        let claim = area.claim().unwrap();
        assert!(p.rebuild(), "a claim in flight");
        assert_eq!(p.available(), 0);
        // No chunk can be named while the fence is up, whatever asks.
        for i in 0..4 {
            assert!(p.received(base_of(i)).is_none());
            p.reclaim(base_of(i));
        }
        assert_eq!(p.available(), 0);
        assert!(p.settle(), "still in flight");
        drop(claim);
        assert!(!p.settle());
        assert_eq!(p.available(), 4);
    }
}

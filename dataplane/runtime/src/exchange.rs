//! The hand-off exchange: how a worker lends free chunks of its UMEM to
//! other workers and gets them back written, and why a chunk lent before
//! the worker rebuilt its UMEM can never be written while the rebuilt
//! UMEM (or the kernel behind it) uses the same memory.
//!
//! The exchange deals in chunk indices only; the memory itself is the
//! caller's ([`crate::port::xsk::UmemArea`] wraps this protocol around its
//! chunks and is the only code that writes a lent chunk).
//!
//! # Concurrency contract
//!
//! | operation | who may call it | progress |
//! |---|---|---|
//! | [`Exchange::claim`], [`Claim::chunk`], [`Claim::generation`], [`Claim::send`], dropping a [`Claim`] | any thread but the owner's, any number at once | lock-free: one queue pop, two RMWs on the gate word, one queue push |
//! | [`Exchange::donate`], [`Exchange::receive`], [`Exchange::rebuild`], [`Exchange::settle`], [`Exchange::generation`] | the owning worker's thread only | wait-free for the owner: [`Exchange::settle`] never waits, it says whether the fence is down yet and the owner asks again next loop iteration |
//! | [`Exchange::donated`], [`Exchange::inbox_is_empty`] | anyone | a snapshot, possibly stale |
//!
//! The gate is one atomic word: `generation << 32 | claims in flight`.
//!
//! | step | who | what | why |
//! |---|---|---|---|
//! | 1 | owner | [`Exchange::donate`]: push `generation << 32 \| chunk` on the blank queue | the chunk leaves the owner's free list; the queue's release/acquire hands the owner's last use of it to the claimer |
//! | 2 | peer | [`Exchange::claim`]: pop a word, then `fetch_add(1)` on the gate and compare the generation it returns with the word's | announce first, check second, in **one** RMW: either the announcement is ordered before the owner's next generation bump (and the owner waits for it, step 5) or the peer sees the bump and gives up without writing |
//! | 3 | peer | write the chunk, [`Claim::send`] it: push `(chunk, generation, meta)` on the inbox | the queue's release/acquire hands the written bytes to the owner |
//! | 4 | peer | drop the [`Claim`]: an unsent claim pushes its word back on the blank queue, then `fetch_sub(1)` (release) on the gate | the push-back happens while still announced, so the owner's drain at step 6 sees it; the release publishes the peer's writes to the owner's acquire at step 6 |
//! | 5 | owner | [`Exchange::rebuild`]: `fetch_add(1 << 32)` on the gate; the fence is up | from here no claim can pass step 2 with an older word; claims that passed before are counted in the gate |
//! | 6 | owner | [`Exchange::settle`] (each loop iteration while the fence is up): load the gate (acquire); once it counts no claim, drain the blank queue and lower the fence | only now may the owner hand any chunk of the old generation to a fill ring, a tx ring, a spare or a new donation |
//! | 7 | owner | [`Exchange::receive`]: pop a parcel; one of an older generation is returned as [`Delivery::Stale`] and its chunk is never touched | its chunk belongs to the rebuilt UMEM's free list now |
//!
//! Guarantees:
//! - A chunk is written by at most one claim at a time, and never while
//!   the owner (or the kernel, on the owner's behalf) uses it: the owner
//!   stops using a chunk when it donates it and starts again only after a
//!   parcel of the current generation returns it (step 7), or after a
//!   rebuild has settled (step 6).
//! - A donation made before a rebuild never re-enters use: it is drained
//!   at step 6, refused at step 2 if a peer pops it first, and pushed back
//!   (step 4) only before step 6 drains.
//! - The owner never blocks on a peer: while the fence is up the owner has
//!   no free chunks and so forwards nothing into its UMEM, but its loop
//!   runs on. A claim in flight lasts one copy of at most a chunk, unless
//!   the peer's thread is preempted in the middle.
//! - Generations are 32 bits: a claim would have to sleep across 2³²
//!   rebuilds to mistake an old word for a new one.

use std::fmt;

#[cfg(not(loom))]
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[cfg(loom)]
use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

/// A bounded multi-producer multi-consumer queue: crossbeam's normally,
/// a loom-visible mutex around a deque under `--cfg loom` (loom cannot
/// see crossbeam's atomics; the model checks the protocol around the
/// queue, and a linearizable queue is all the protocol asks of it).
#[cfg(not(loom))]
struct Queue<T>(crossbeam_queue::ArrayQueue<T>);

#[cfg(not(loom))]
impl<T> Queue<T> {
    fn new(cap: usize) -> Self {
        Queue(crossbeam_queue::ArrayQueue::new(cap))
    }
    fn push(&self, v: T) -> Result<(), T> {
        self.0.push(v)
    }
    fn pop(&self) -> Option<T> {
        self.0.pop()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(loom)]
struct Queue<T>(loom::sync::Mutex<std::collections::VecDeque<T>>, usize);

#[cfg(loom)]
impl<T> Queue<T> {
    fn new(cap: usize) -> Self {
        Queue(
            loom::sync::Mutex::new(std::collections::VecDeque::new()),
            cap,
        )
    }
    fn push(&self, v: T) -> Result<(), T> {
        let mut q = self.0.lock().unwrap();
        if q.len() >= self.1 {
            return Err(v);
        }
        q.push_back(v);
        Ok(())
    }
    fn pop(&self) -> Option<T> {
        self.0.lock().unwrap().pop_front()
    }
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

const CLAIMS: u64 = u32::MAX as u64;

fn word(generation: u32, chunk: u32) -> u64 {
    ((generation as u64) << 32) | chunk as u64
}

fn split(word: u64) -> (u32, u32) {
    ((word >> 32) as u32, word as u32)
}

/// A chunk written by a peer and queued for the owner.
#[derive(Debug, Clone, Copy)]
pub struct Parcel<M> {
    /// The chunk's index in the owner's UMEM.
    pub chunk: u32,
    /// What the sender says about it (length, output ports).
    pub meta: M,
    generation: u32,
}

/// What the owner finds in its inbox.
#[derive(Debug)]
pub enum Delivery<M> {
    /// A chunk of the current generation: the owner's again, written.
    Parcel(Parcel<M>),
    /// A chunk lent before the last rebuild: already back in the owner's
    /// free list, so it must not be touched; only its metadata remains
    /// (to count the drop).
    Stale(M),
}

/// Why [`Exchange::claim`] gave nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Nothing donated right now.
    Empty,
    /// The donation popped was made before the owner's last rebuild; it is
    /// dropped (the owner has taken the chunk back).
    Stale,
}

/// One worker's exchange: its donated chunks, its inbox and the gate.
pub struct Exchange<M> {
    gate: CachePadded<AtomicU64>,
    blank: Queue<u64>,
    inbox: Queue<Parcel<M>>,
    /// The owner's fence (owner-only state; atomic only to be `Sync`).
    fenced: AtomicBool,
}

impl<M> fmt::Debug for Exchange<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (generation, claims) = split(self.gate.load(Ordering::Relaxed));
        f.debug_struct("Exchange")
            .field("generation", &generation)
            .field("claims", &claims)
            .field("donated", &self.blank.len())
            .field("inbox", &self.inbox.len())
            .finish()
    }
}

impl<M> Exchange<M> {
    /// An exchange holding up to `donations` lent chunks and `inbox`
    /// parcels, at generation 0.
    pub fn new(donations: usize, inbox: usize) -> Self {
        Exchange {
            gate: CachePadded::new(AtomicU64::new(0)),
            blank: Queue::new(donations.max(1)),
            inbox: Queue::new(inbox.max(1)),
            fenced: AtomicBool::new(false),
        }
    }

    // ---- peers ----

    /// Takes a donated chunk to write into (steps 2–4 of the contract).
    pub fn claim(&self) -> Result<Claim<'_, M>, Refused> {
        let w = self.blank.pop().ok_or(Refused::Empty)?;
        let (generation, chunk) = split(w);
        // Announce and read the generation in one RMW (step 2).
        let gate = self.gate.fetch_add(1, Ordering::AcqRel);
        if split(gate).0 != generation {
            self.gate.fetch_sub(1, Ordering::Release);
            return Err(Refused::Stale);
        }
        Ok(Claim {
            ex: self,
            chunk,
            generation,
            sent: false,
        })
    }

    // ---- owner ----

    /// The current generation (owner only).
    pub fn generation(&self) -> u32 {
        split(self.gate.load(Ordering::Relaxed)).0
    }

    /// Lends `chunk` (step 1). Gives it back when the blank queue is full,
    /// or while the fence is up (a rebuild has not settled yet).
    pub fn donate(&self, chunk: u32) -> Result<(), u32> {
        if self.fenced.load(Ordering::Relaxed) {
            return Err(chunk);
        }
        self.blank
            .push(word(self.generation(), chunk))
            .map_err(|_| chunk)
    }

    /// Starts a new generation (step 5): every chunk lent so far is the
    /// owner's again, but not to be used before [`Exchange::settle`]
    /// says so. Returns whether it settled at once.
    pub fn rebuild(&self) -> bool {
        self.fenced.store(true, Ordering::Relaxed);
        self.gate.fetch_add(1 << 32, Ordering::AcqRel);
        self.settle()
    }

    /// Whether no claim made before the last rebuild is still in flight
    /// (step 6). Until it returns true the owner must not use any chunk
    /// it lent before the rebuild.
    pub fn settle(&self) -> bool {
        if !self.fenced.load(Ordering::Relaxed) {
            return true;
        }
        if self.gate.load(Ordering::Acquire) & CLAIMS != 0 {
            return false;
        }
        // Nothing was donated since the rebuild (the fence was up): every
        // word here is stale.
        while self.blank.pop().is_some() {}
        self.fenced.store(false, Ordering::Relaxed);
        true
    }

    /// Takes the next parcel from the inbox (step 7).
    pub fn receive(&self) -> Option<Delivery<M>> {
        let p = self.inbox.pop()?;
        Some(if p.generation == self.generation() {
            Delivery::Parcel(p)
        } else {
            Delivery::Stale(p.meta)
        })
    }

    // ---- anyone ----

    /// Chunks lent and not claimed yet.
    pub fn donated(&self) -> usize {
        self.blank.len()
    }

    /// Whether no parcel waits.
    pub fn inbox_is_empty(&self) -> bool {
        self.inbox.len() == 0
    }
}

/// A claimed chunk: while it lives the owner cannot reuse the chunk, even
/// across a rebuild. Dropped unsent, it goes back to the blank queue.
#[must_use = "a claim holds the owner's rebuild back until it is sent or dropped"]
pub struct Claim<'a, M> {
    ex: &'a Exchange<M>,
    chunk: u32,
    generation: u32,
    sent: bool,
}

impl<M> fmt::Debug for Claim<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claim")
            .field("chunk", &self.chunk)
            .field("generation", &self.generation)
            .finish()
    }
}

impl<'a, M> Claim<'a, M> {
    /// The claimed chunk's index.
    pub fn chunk(&self) -> u32 {
        self.chunk
    }

    /// The generation it was lent under.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// The exchange it came from.
    pub fn exchange(&self) -> &'a Exchange<M> {
        self.ex
    }

    /// Queues the written chunk for the owner (step 3). On a full inbox
    /// the claim is dropped (its chunk goes back to the blank queue) and
    /// `meta` comes back.
    pub fn send(mut self, meta: M) -> Result<(), M> {
        let p = Parcel {
            chunk: self.chunk,
            meta,
            generation: self.generation,
        };
        match self.ex.inbox.push(p) {
            Ok(()) => {
                self.sent = true;
                Ok(())
            }
            Err(p) => Err(p.meta),
        }
    }
}

impl<M> Drop for Claim<'_, M> {
    fn drop(&mut self) {
        if !self.sent {
            // Still announced: a rebuild cannot settle before this push,
            // so its drain sees the word (step 4).
            let _ = self.ex.blank.push(word(self.generation, self.chunk));
        }
        self.ex.gate.fetch_sub(1, Ordering::Release);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_claim_sent_reaches_the_owner() {
        let ex: Exchange<u8> = Exchange::new(4, 4);
        ex.donate(3).unwrap();
        let c = ex.claim().unwrap();
        assert_eq!(c.chunk(), 3);
        c.send(7).unwrap();
        match ex.receive() {
            Some(Delivery::Parcel(p)) => assert_eq!((p.chunk, p.meta), (3, 7)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(ex.claim(), Err(Refused::Empty)));
    }

    #[test]
    fn an_unsent_claim_goes_back() {
        let ex: Exchange<u8> = Exchange::new(4, 1);
        ex.donate(1).unwrap();
        ex.donate(2).unwrap();
        ex.claim().unwrap().send(0).unwrap();
        // The inbox holds one: the second send fails and its chunk returns.
        assert_eq!(ex.claim().unwrap().send(9), Err(9));
        assert_eq!(ex.donated(), 1);
    }

    #[test]
    fn a_rebuild_fences_until_claims_end_and_drops_stale_words() {
        let ex: Exchange<u8> = Exchange::new(4, 4);
        ex.donate(1).unwrap();
        ex.donate(2).unwrap();
        ex.donate(3).unwrap();
        let held = ex.claim().unwrap();
        ex.claim().unwrap().send(5).unwrap();
        assert!(!ex.rebuild(), "a claim of the old generation is in flight");
        assert_eq!(ex.donate(9), Err(9), "no donations while fenced");
        // A stale word popped after the bump is refused, not written.
        assert_eq!(ex.claim().unwrap_err(), Refused::Stale);
        assert!(!ex.settle());
        drop(held);
        assert!(ex.settle());
        assert_eq!(ex.donated(), 0, "the pushed-back stale word was drained");
        assert!(matches!(ex.receive(), Some(Delivery::Stale(5))));
        ex.donate(1).unwrap();
        assert_eq!(ex.claim().unwrap().generation(), 1);
    }
}

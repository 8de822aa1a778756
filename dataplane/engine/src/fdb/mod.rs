//! The forwarding database: (VLAN, MAC) → port, shared by every worker.
//!
//! # Concurrency contract
//!
//! | operation | who may call it | progress |
//! |---|---|---|
//! | [`Pinned::lookup`], [`Pinned::learn`], [`Pinned::prefetch`] | any number of threads at once, each through its own [`FdbReader`], between `pin` and the guard's drop | lock-free: no locks, no waiting; a learn that loses a race gives up and says so ([`Learn::Race`]) |
//! | [`Fdb::add_static`], [`Fdb::remove`], [`Fdb::flush`], [`Fdb::sweep`], [`Fdb::entries`], [`Fdb::entries_page`], [`Fdb::count`], [`Fdb::get`] | any thread (the control thread); serialized by an internal mutex that readers never touch | blocking among themselves only |
//!
//! Guarantees:
//! - A slot's (port, flags, last-seen, epoch) is one atomic word: a reader
//!   never sees a torn (port, stamp) pair.
//! - Flush is O(1): it bumps a global epoch and records it as the flush
//!   threshold of the port, the VLAN or everything; entries learned at or
//!   before a threshold are invisible. No entry whose learn returned before
//!   a flush began is returned by a lookup that begins after the flush
//!   returned. Static entries have their own thresholds, moved only when
//!   the flush includes them.
//! - A key is in at most one visible slot: an insert claims an empty slot,
//!   then checks the key's other slots and abandons its claim if it finds
//!   another one (two racing inserts may both abandon; the next frame
//!   learns again).
//! - Slots are reused only by [`Fdb::sweep`], after a grace period in which
//!   every reader pinned before the slot was retired has unpinned, so no
//!   reader can confuse an old owner's value with a new owner's.
//! - Expired entries (older than the aging time) are invisible to lookups
//!   at once; the sweep only reclaims their slots.
//! - Entries are written only when their port or one-second stamp changes.
//!
//! - Dynamic entries are counted per port on every value transition
//!   (`ports.rs`); `max_macs` and the move guard's hold-down are checked
//!   only for sources new to a port. A full table evicts fairly
//!   (`evict.rs`): an evicted entry is DEAD like a deleted one and does not
//!   bump [`Fdb::changes`].
//!
//! Capacity counts claimed slots, retired-but-not-yet-swept ones included,
//! so after a large flush new MACs are refused (and counted) until the next
//! sweep; the daemon sweeps right after a flush.

mod entry;
mod evict;
mod ports;
mod qsbr;
mod sync;
mod table;

use std::sync::Arc;

use entry::{age, epoch_after, key, key_vlan, pack_thresholds, threshold, State, Value, EMPTY_KEY};
use sync::{AtomicU64, AtomicUsize, Mutex, MutexGuard, Ordering, PORT_SLOTS, VLAN_SLOTS};
use table::{Slot, Table};

pub use ports::Move;
pub use table::Hashed;

/// The FDB key of (VLAN, MAC) as one word: VID << 48 | MAC. Never 0.
#[inline]
pub const fn key_of(vlan: VlanId, mac: Mac) -> u64 {
    key(vlan, mac)
}

use crate::limits::{FDB_CAPACITY_RANGE, MAX_AGING_SECS};
use crate::vocab::PortId;
use crate::wire::{Mac, VlanId};

/// How to build an [`Fdb`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdbConfig {
    /// Most entries held at once.
    pub capacity: usize,
    /// Seconds an unrefreshed dynamic entry lives; 0 = never ages.
    pub aging_secs: u32,
    /// Hash seed; vary it to make bucket collisions unpredictable.
    pub seed: u64,
}

impl Default for FdbConfig {
    fn default() -> Self {
        FdbConfig {
            capacity: 65536,
            aging_secs: 300,
            seed: 0x5eed_0fdb,
        }
    }
}

/// Errors of FDB setup and control operations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FdbError {
    /// Capacity outside the supported range.
    #[error("fdb capacity {0} is out of range ({min}-{max})", min = FDB_CAPACITY_RANGE.start(), max = FDB_CAPACITY_RANGE.end())]
    Capacity(usize),
    /// Aging time above the supported maximum.
    #[error("fdb aging time {0}s is too long (at most {MAX_AGING_SECS}s; 0 disables aging)")]
    Aging(u32),
    /// Every reader slot is taken.
    #[error("too many FDB readers (at most {})", sync::READER_SLOTS)]
    TooManyReaders,
    /// No room for a new entry.
    #[error("the FDB is full")]
    Full,
    /// Workers kept changing the entry; try again.
    #[error("the FDB entry kept changing under concurrent learning; try again")]
    Contended,
}

/// What a learn did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learn {
    /// Already known on this port within the same second: nothing written.
    Unchanged,
    /// Same port, newer last-seen stamp.
    Refreshed,
    /// A new entry (or a dead one brought back).
    Learned,
    /// The MAC was on another port and now is on this one.
    Moved,
    /// Refused: no room.
    Full,
    /// Gave up: another thread changed the entry or inserted the same MAC
    /// at the same moment.
    Race,
    /// Refused: the MAC is static on another port.
    StaticConflict,
    /// Refused for now: the table was full, and an entry of the port
    /// holding the most entries in the MAC's buckets was evicted; its slot
    /// is free after the next sweep.
    Evicted,
    /// Refused: the port holds its limit of entries.
    Limit,
    /// Refused: the port's learning is held down (MAC move guard).
    HeldDown,
}

/// Which entries a flush removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushScope {
    /// Every entry.
    All,
    /// Entries on one port.
    Port(PortId),
    /// Entries in one VLAN.
    Vlan(VlanId),
}

/// One visible entry, as `fdb show` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdbEntry {
    /// The entry's VLAN.
    pub vlan: VlanId,
    /// The MAC address.
    pub mac: Mac,
    /// Where frames for it go.
    pub port: PortId,
    /// Configured, never aged or moved by learning.
    pub is_static: bool,
    /// Seconds since last seen (0 for static entries).
    pub age_secs: u32,
}

/// What a sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Slots emptied (their grace period had passed).
    pub reclaimed: usize,
    /// Entries retired because they had aged out.
    pub aged: usize,
    /// Entries retired because they were flushed or deleted.
    pub retired: usize,
    /// Slots retired and still waiting for their grace period.
    pub pending: usize,
}

struct Maint {
    pending: Vec<usize>,
    token: u64,
}

/// The shared table. See the module docs for the concurrency contract.
pub struct Fdb {
    table: Table,
    capacity: usize,
    used: AtomicUsize,
    epoch: crossbeam_utils::CachePadded<AtomicU64>,
    aging_secs: AtomicU64,
    /// Thresholds of the most recent flush of any scope: an entry newer
    /// than these is newer than every scope's, so lookups check one word.
    flush_latest: AtomicU64,
    flush_all: AtomicU64,
    flush_port: Box<[AtomicU64]>,
    flush_vlan: Box<[AtomicU64]>,
    readers: qsbr::Readers,
    maint: Mutex<Maint>,
    /// Bumped whenever a visible mapping changes other than by a new entry
    /// appearing: a move, a flush, a static add, a delete, an aging change.
    /// Per-worker caches of FDB answers are valid while it stays put.
    changes: crossbeam_utils::CachePadded<AtomicU64>,
    /// Entries per port, learning hold-downs, the move log.
    book: ports::PortBook,
}

impl core::fmt::Debug for Fdb {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Fdb")
            .field("capacity", &self.capacity)
            .field("used", &self.used())
            .field("aging_secs", &self.aging_secs())
            .finish()
    }
}

/// Lag past which the sweep moves epochs and thresholds forward, well
/// inside the half-circle that [`epoch_after`] can order.
const EPOCH_RENORMALIZE_LAG: u32 = 1 << 29;
/// Same for last-seen stamps of entries that never age.
const STAMP_RENORMALIZE_AGE: u32 = 1 << 22;
/// Attempts a control operation makes against concurrent learners.
const CONTROL_RETRIES: usize = 1000;

impl Fdb {
    /// A table for `cfg.capacity` entries.
    pub fn new(cfg: FdbConfig) -> Result<Fdb, FdbError> {
        if !FDB_CAPACITY_RANGE.contains(&cfg.capacity) {
            return Err(FdbError::Capacity(cfg.capacity));
        }
        if cfg.aging_secs > MAX_AGING_SECS {
            return Err(FdbError::Aging(cfg.aging_secs));
        }
        Ok(Fdb {
            table: Table::new(cfg.capacity, cfg.seed),
            capacity: cfg.capacity,
            used: AtomicUsize::new(0),
            epoch: crossbeam_utils::CachePadded::new(AtomicU64::new(1)),
            aging_secs: AtomicU64::new(cfg.aging_secs as u64),
            flush_latest: AtomicU64::new(0),
            flush_all: AtomicU64::new(0),
            flush_port: sync::atomics(PORT_SLOTS, 0),
            flush_vlan: sync::atomics(VLAN_SLOTS, 0),
            readers: qsbr::Readers::new(),
            maint: Mutex::new(Maint {
                pending: Vec::new(),
                token: 0,
            }),
            changes: crossbeam_utils::CachePadded::new(AtomicU64::new(0)),
            book: ports::PortBook::new(),
        })
    }

    /// Most entries held at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Slots claimed now (visible entries plus retired ones awaiting a sweep).
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Aging time in seconds (0 = never).
    pub fn aging_secs(&self) -> u32 {
        self.aging_secs.load(Ordering::Relaxed) as u32
    }

    /// Changes the aging time; applies to lookups at once.
    pub fn set_aging_secs(&self, secs: u32) -> Result<(), FdbError> {
        if secs > MAX_AGING_SECS {
            return Err(FdbError::Aging(secs));
        }
        self.aging_secs.store(secs as u64, Ordering::Relaxed);
        self.changed();
        Ok(())
    }

    /// A counter that moves whenever an existing mapping changes (a MAC
    /// moved, a flush, a static add, a delete, the aging time). Between two
    /// equal readings, within one second of clock, every (key → port)
    /// answer seen stays true; new entries may appear.
    #[inline]
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    fn changed(&self) {
        self.changes.fetch_add(1, Ordering::AcqRel);
    }

    /// Hashes a key made by [`key_of`].
    #[inline]
    pub fn hash_key(&self, key: u64) -> Hashed {
        self.table.hash(key)
    }

    /// Hashes (VLAN, MAC) once; the result feeds prefetch, learn and lookup.
    #[inline]
    pub fn hash(&self, vlan: VlanId, mac: Mac) -> Hashed {
        self.table.hash(key(vlan, mac))
    }

    /// Registers a reader (one per thread that learns or looks up).
    pub fn reader(self: &Arc<Self>) -> Result<FdbReader, FdbError> {
        let idx = self.readers.register().ok_or(FdbError::TooManyReaders)?;
        Ok(FdbReader {
            fdb: Arc::clone(self),
            idx,
        })
    }

    #[inline]
    fn current_epoch(&self) -> u32 {
        (self.epoch.load(Ordering::Acquire) as u32) & entry::EPOCH_MASK
    }

    /// Whether a LIVE value of a key in `vid` is visible at `now`.
    #[inline(always)]
    fn visible(&self, v: Value, vid: u16, now: u32) -> bool {
        let st = v.is_static();
        let e = v.epoch();
        let port = v.port().index() % PORT_SLOTS;
        let vlan = vid as usize % VLAN_SLOTS;
        // Fast path: newer than the latest flush of any scope.
        let newer_than_any_flush =
            epoch_after(e, threshold(self.flush_latest.load(Ordering::Acquire), st));
        let survives_flushes = newer_than_any_flush || {
            let after = |w: &AtomicU64| epoch_after(e, threshold(w.load(Ordering::Acquire), st));
            after(&self.flush_all) && after(&self.flush_port[port]) && after(&self.flush_vlan[vlan])
        };
        if !survives_flushes {
            return false;
        }
        if st {
            return true;
        }
        let aging = self.aging_secs();
        aging == 0 || age(now, v.stamp()) <= aging
    }

    /// The slot holding a visible-or-dead entry of `h.key`, with its value.
    /// Skips slots being inserted or retired. The key is read again after
    /// the value: if it changed, the value belonged to the slot's next owner.
    #[inline(always)]
    fn find(&self, h: &Hashed) -> Option<(Slot<'_>, Value)> {
        for bucket in self.table.window(h) {
            let mut candidates = bucket.candidates(h.tag);
            while candidates != 0 {
                let slot = bucket.slot(table::first_candidate(candidates));
                candidates &= candidates - 1;
                // Relaxed key loads: the Acquire value load in between
                // orders them, and the second one rejects a value that
                // belonged to the slot's next owner.
                if slot.key.load(Ordering::Relaxed) != h.key {
                    continue;
                }
                let v = Value(slot.val.load(Ordering::Acquire));
                if v.is_live_or_dead() && slot.key.load(Ordering::Relaxed) == h.key {
                    return Some((slot, v));
                }
            }
        }
        None
    }

    /// Claims an empty slot for `h.key` and publishes `value` there, unless
    /// the key shows up elsewhere meanwhile. Returns `Learn::Learned`,
    /// `Full` or `Race`.
    fn insert(&self, h: &Hashed, value: Value) -> Learn {
        if self.used.load(Ordering::Relaxed) >= self.capacity {
            return self.evict(h, value);
        }
        // Balanced two-choice: the emptier bucket (ties to the first).
        let [b1, b2] = self.table.window(h);
        let target = if b2.occupied() < b1.occupied() {
            b2
        } else {
            b1
        };
        let Some(mine) = target
            .slots()
            .find(|s| s.key.load(Ordering::Acquire) == EMPTY_KEY)
        else {
            return self.evict(h, value);
        };
        if mine
            .key
            .compare_exchange(EMPTY_KEY, h.key, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Learn::Race;
        }
        self.used.fetch_add(1, Ordering::Relaxed);
        // Store-buffer pattern against a concurrent insert of the same key:
        // after both fences, at least one of the two sees the other's claim.
        sync::fence(Ordering::SeqCst);
        let conflict = self.table.window_slots(h).any(|s| {
            !s.is(&mine)
                && s.key.load(Ordering::Acquire) == h.key
                && Value(s.val.load(Ordering::Acquire)).state() != State::Reclaiming
        });
        if conflict {
            // Nobody else writes a slot in the claimed-but-unpublished state.
            mine.val.store(Value::RECLAIMING.0, Ordering::Release);
            return Learn::Race;
        }
        // The tag goes up before the value: a lookup that can see the entry
        // can also find it.
        target.set_tag(target.index_of(&mine), h.tag);
        mine.val.store(value.0, Ordering::Release);
        self.book.transition(Value::FREE, value);
        Learn::Learned
    }

    /// Whether some slot of `h` is mid-insert for this key.
    fn inserting(&self, h: &Hashed) -> bool {
        self.table.window_slots(h).any(|s| {
            s.key.load(Ordering::Acquire) == h.key
                && Value(s.val.load(Ordering::Acquire)).state() == State::Free
        })
    }

    #[inline(always)]
    fn learn(&self, h: &Hashed, port: PortId, now: u32, limit: u32) -> Learn {
        let stamp = now & entry::STAMP_MASK;
        let vid = key_vlan(h.key);
        match self.find(h) {
            Some((slot, v)) => {
                let visible = v.is_live() && self.visible(v, vid, now);
                let outcome = if visible {
                    if v.is_static() {
                        return if v.port() == port {
                            Learn::Unchanged
                        } else {
                            Learn::StaticConflict
                        };
                    }
                    if v.port() == port && v.stamp() == stamp {
                        return Learn::Unchanged;
                    }
                    if v.port() == port {
                        Learn::Refreshed
                    } else {
                        Learn::Moved
                    }
                } else {
                    Learn::Learned
                };
                if outcome != Learn::Refreshed {
                    if let Some(refused) = self.book.admit(port, limit) {
                        return refused;
                    }
                }
                let new = Value::live(port, false, stamp, self.current_epoch());
                match slot
                    .val
                    .compare_exchange(v.0, new.0, Ordering::AcqRel, Ordering::Relaxed)
                {
                    Ok(_) => {
                        self.book.transition(v, new);
                        if outcome == Learn::Moved {
                            self.book.record_move(h.key, v.port(), port);
                            self.changed();
                        }
                        outcome
                    }
                    Err(_) => Learn::Race,
                }
            }
            None if self.inserting(h) => Learn::Race,
            None => match self.book.admit(port, limit) {
                Some(refused) => refused,
                None => self.insert(h, Value::live(port, false, stamp, self.current_epoch())),
            },
        }
    }

    #[inline(always)]
    fn lookup_value(&self, h: &Hashed, now: u32) -> Option<Value> {
        let (_, v) = self.find(h)?;
        (v.is_live() && self.visible(v, key_vlan(h.key), now)).then_some(v)
    }

    // ----- control operations (serialized by `maint`) -----

    fn maint(&self) -> MutexGuard<'_, Maint> {
        // A panic while holding the lock cannot leave the table itself
        // inconsistent (it is all atomics), so a poisoned lock is usable.
        self.maint.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds or replaces a static entry: never aged, never moved by learning.
    pub fn add_static(&self, vlan: VlanId, mac: Mac, port: PortId) -> Result<(), FdbError> {
        let _guard = self.maint();
        let h = self.hash(vlan, mac);
        for _ in 0..CONTROL_RETRIES {
            let new = Value::live(port, true, 0, self.current_epoch());
            let done = match self.find(&h) {
                Some((slot, v)) => {
                    let ok = slot
                        .val
                        .compare_exchange(v.0, new.0, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok();
                    if ok {
                        self.book.transition(v, new);
                    }
                    ok
                }
                None => match self.insert(&h, new) {
                    Learn::Learned => true,
                    Learn::Full => return Err(FdbError::Full),
                    _ => false,
                },
            };
            if done {
                self.changed();
                return Ok(());
            }
            std::thread::yield_now();
        }
        Err(FdbError::Contended)
    }

    /// Deletes the entry of (VLAN, MAC), static or not. `true` if there
    /// was a visible one.
    pub fn remove(&self, vlan: VlanId, mac: Mac, now: u32) -> bool {
        let _guard = self.maint();
        let h = self.hash(vlan, mac);
        for _ in 0..CONTROL_RETRIES {
            let Some((slot, v)) = self.find(&h) else {
                return false;
            };
            if !(v.state() == State::Live && self.visible(v, vlan.get(), now)) {
                return false;
            }
            if slot
                .val
                .compare_exchange(v.0, Value::DEAD.0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                self.book.transition(v, Value::DEAD);
                self.changed();
                return true;
            }
        }
        false
    }

    /// Removes every entry in `scope` in O(1); static entries only if
    /// `include_static`.
    pub fn flush(&self, scope: FlushScope, include_static: bool) {
        let _guard = self.maint();
        let e = (self.epoch.fetch_add(1, Ordering::SeqCst) as u32) & entry::EPOCH_MASK;
        let word = match scope {
            FlushScope::All => &self.flush_all,
            FlushScope::Port(p) => &self.flush_port[p.index() % PORT_SLOTS],
            FlushScope::Vlan(v) => &self.flush_vlan[v.get() as usize % VLAN_SLOTS],
        };
        for word in [word, &self.flush_latest] {
            let old = word.load(Ordering::Relaxed);
            let stat = if include_static {
                e
            } else {
                threshold(old, true)
            };
            word.store(pack_thresholds(e, stat), Ordering::SeqCst);
        }
        self.changed();
    }

    /// Entry of (VLAN, MAC) if visible at `now`.
    pub fn get(&self, vlan: VlanId, mac: Mac, now: u32) -> Option<FdbEntry> {
        let h = self.hash(vlan, mac);
        let v = self.lookup_value(&h, now)?;
        Some(self.entry_of(h.key, v, now))
    }

    fn entry_of(&self, k: u64, v: Value, now: u32) -> FdbEntry {
        FdbEntry {
            vlan: VlanId::new(key_vlan(k)).unwrap_or(VlanId::MIN),
            mac: Mac::from_u64(k),
            port: v.port(),
            is_static: v.is_static(),
            age_secs: if v.is_static() {
                0
            } else {
                age(now, v.stamp())
            },
        }
    }

    /// The entry in slot `slot` if one is visible at `now`.
    fn visible_in(&self, slot: &Slot<'_>, now: u32) -> Option<FdbEntry> {
        let k = slot.key.load(Ordering::Acquire);
        if k == EMPTY_KEY {
            return None;
        }
        let v = Value(slot.val.load(Ordering::Acquire));
        (v.state() == State::Live
            && slot.key.load(Ordering::Acquire) == k
            && self.visible(v, key_vlan(k), now))
        .then(|| self.entry_of(k, v, now))
    }

    /// Every entry visible at `now`, in table order. Memory grows with
    /// the table: the control plane pages with [`Fdb::entries_page`].
    pub fn entries(&self, now: u32) -> Vec<FdbEntry> {
        let _guard = self.maint();
        self.table
            .slots()
            .filter_map(|(_, slot)| self.visible_in(&slot, now))
            .collect()
    }

    /// Number of slots, the end of the cursor range of
    /// [`Fdb::entries_page`].
    pub fn slot_count(&self) -> usize {
        self.table.slot_count()
    }

    /// One page of the table: the entries visible at `now` that `keep`
    /// accepts, in table order, from slot `start` on; stops after `limit`
    /// entries or `max_slots` slots looked at, whichever comes first.
    /// Returns them and the slot to go on from (`None`: the table's end).
    ///
    /// Entries never move between slots (an insert claims a slot and keeps
    /// it until the entry is retired, see [`Fdb::sweep`]), so paging
    /// through the whole table returns every entry that stays in it all the
    /// while exactly once; one added or removed meanwhile may or may not
    /// be returned.
    pub fn entries_page(
        &self,
        now: u32,
        start: usize,
        limit: usize,
        max_slots: usize,
        mut keep: impl FnMut(&FdbEntry) -> bool,
    ) -> (Vec<FdbEntry>, Option<usize>) {
        let _guard = self.maint();
        let end = self.table.slot_count();
        let mut out = Vec::new();
        let mut i = start.min(end);
        let stop = i.saturating_add(max_slots.max(1)).min(end);
        while i < stop && out.len() < limit {
            if let Some(e) = self.visible_in(&self.table.slot(i), now) {
                if keep(&e) {
                    out.push(e);
                }
            }
            i += 1;
        }
        (out, (i < end).then_some(i))
    }

    /// Number of entries visible at `now` that `keep` accepts (a full
    /// scan that allocates nothing).
    pub fn count(&self, now: u32, mut keep: impl FnMut(&FdbEntry) -> bool) -> usize {
        let _guard = self.maint();
        self.table
            .slots()
            .filter_map(|(_, slot)| self.visible_in(&slot, now))
            .filter(|e| keep(e))
            .count()
    }

    /// Number of entries visible at `now` (a full scan).
    pub fn len(&self, now: u32) -> usize {
        self.count(now, |_| true)
    }

    /// Whether no entry is visible at `now`.
    pub fn is_empty(&self, now: u32) -> bool {
        self.len(now) == 0
    }

    /// Reclaims the slots retired by the previous sweep if their grace
    /// period has passed, then retires every entry that is dead, flushed or
    /// aged out at `now`. Call it about once a second from one thread.
    pub fn sweep(&self, now: u32) -> SweepReport {
        let mut maint = self.maint();
        let mut report = SweepReport::default();
        if !maint.pending.is_empty() {
            if !self.readers.elapsed(maint.token) {
                report.pending = maint.pending.len();
                return report;
            }
            report.reclaimed += self.reclaim(&mut maint.pending);
        }
        let cur = self.current_epoch();
        let aging = self.aging_secs();
        for (index, slot) in self.table.slots() {
            let k = slot.key.load(Ordering::Acquire);
            if k == EMPTY_KEY {
                continue;
            }
            let v = Value(slot.val.load(Ordering::Acquire));
            let retire = match v.state() {
                State::Free => continue, // an insert in flight
                State::Reclaiming => {
                    maint.pending.push(index); // abandoned by a racing insert
                    continue;
                }
                State::Dead => true,
                State::Live => !self.visible(v, key_vlan(k), now),
            };
            if retire {
                if slot
                    .val
                    .compare_exchange(
                        v.0,
                        Value::RECLAIMING.0,
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    )
                    .is_ok()
                {
                    self.book.transition(v, Value::RECLAIMING);
                    maint.pending.push(index);
                    let expired = v.state() == State::Live
                        && !v.is_static()
                        && aging != 0
                        && age(now, v.stamp()) > aging;
                    if expired {
                        report.aged += 1;
                    } else {
                        report.retired += 1;
                    }
                }
                continue;
            }
            self.renormalize_entry(slot, v, cur, now, aging);
        }
        // After the entries: a threshold may only move up past epochs that
        // no visible entry still carries.
        self.renormalize_thresholds();
        if !maint.pending.is_empty() {
            maint.token = self.readers.start();
            // Idle readers (the common case outside bursts) let the slots go now.
            if self.readers.elapsed(maint.token) {
                report.reclaimed += self.reclaim(&mut maint.pending);
            }
        }
        report.pending = maint.pending.len();
        report
    }

    fn reclaim(&self, pending: &mut Vec<usize>) -> usize {
        let n = pending.len();
        for index in pending.drain(..) {
            let slot = self.table.slot(index);
            // Value first: a claimer that wins the empty key must find FREE.
            slot.val.store(Value::FREE.0, Ordering::Release);
            slot.key.store(EMPTY_KEY, Ordering::Release);
            self.used.fetch_sub(1, Ordering::Relaxed);
        }
        n
    }

    fn renormalize_entry(&self, slot: Slot<'_>, v: Value, cur: u32, now: u32, aging: u32) {
        let old_epoch = cur.wrapping_sub(v.epoch()) & entry::EPOCH_MASK >= EPOCH_RENORMALIZE_LAG;
        let old_stamp =
            !v.is_static() && aging == 0 && age(now, v.stamp()) >= STAMP_RENORMALIZE_AGE;
        if old_epoch || old_stamp {
            let stamp = if old_stamp { now } else { v.stamp() };
            let new = Value::live(v.port(), v.is_static(), stamp, cur);
            // A concurrent learn writes a fresh value anyway; losing is fine.
            let _ = slot
                .val
                .compare_exchange(v.0, new.0, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    fn renormalize_thresholds(&self) {
        let cur = self.current_epoch();
        let floor = cur.wrapping_sub(EPOCH_RENORMALIZE_LAG) & entry::EPOCH_MASK;
        let fix = |t: u32| {
            if cur.wrapping_sub(t) & entry::EPOCH_MASK > EPOCH_RENORMALIZE_LAG {
                floor
            } else {
                t
            }
        };
        let words = [&self.flush_latest, &self.flush_all]
            .into_iter()
            .chain(self.flush_port.iter())
            .chain(self.flush_vlan.iter());
        for w in words {
            let old = w.load(Ordering::Relaxed);
            let new = pack_thresholds(fix(threshold(old, false)), fix(threshold(old, true)));
            if new != old {
                w.store(new, Ordering::SeqCst);
            }
        }
    }
}

/// A registered reader: one per worker thread (or embedder thread).
pub struct FdbReader {
    fdb: Arc<Fdb>,
    idx: usize,
}

impl core::fmt::Debug for FdbReader {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FdbReader").field("idx", &self.idx).finish()
    }
}

impl FdbReader {
    /// The table this reader reads.
    pub fn fdb(&self) -> &Arc<Fdb> {
        &self.fdb
    }

    /// Enters a read section (one per batch); leaves it when the guard drops.
    #[inline]
    pub fn pin(&mut self) -> Pinned<'_> {
        self.fdb.readers.pin(self.idx);
        Pinned {
            fdb: &self.fdb,
            idx: self.idx,
        }
    }
}

impl Drop for FdbReader {
    fn drop(&mut self) {
        self.fdb.readers.unregister(self.idx);
    }
}

/// A read section: lookups and learning happen through this guard.
pub struct Pinned<'a> {
    fdb: &'a Fdb,
    idx: usize,
}

impl Pinned<'_> {
    /// Hashes a key made by [`key_of`].
    #[inline]
    pub fn hash_key(&self, key: u64) -> Hashed {
        self.fdb.hash_key(key)
    }

    /// See [`Fdb::changes`].
    #[inline]
    pub fn changes(&self) -> u64 {
        self.fdb.changes()
    }

    /// Hashes (VLAN, MAC).
    #[inline]
    pub fn hash(&self, vlan: VlanId, mac: Mac) -> Hashed {
        self.fdb.hash(vlan, mac)
    }

    /// Starts loading the buckets of `h` into cache.
    #[inline]
    pub fn prefetch(&self, h: &Hashed) {
        self.fdb.table.prefetch(h);
    }

    /// The port of `h`'s entry, if one is visible at `now` (seconds).
    #[inline]
    pub fn lookup(&self, h: &Hashed, now: u32) -> Option<PortId> {
        self.fdb.lookup_value(h, now).map(Value::port)
    }

    /// Records that `h`'s MAC was seen on `port` at `now` (seconds).
    #[inline]
    pub fn learn(&self, h: &Hashed, port: PortId, now: u32) -> Learn {
        self.fdb.learn(h, port, now, crate::policy::NO_MAC_LIMIT)
    }

    /// [`Pinned::learn`] for a port that may hold at most `limit` dynamic
    /// entries ([`crate::policy::NO_MAC_LIMIT`]: any number): a source new
    /// to the port is refused ([`Learn::Limit`]) when it holds `limit`.
    #[inline]
    pub fn learn_limited(&self, h: &Hashed, port: PortId, now: u32, limit: u32) -> Learn {
        self.fdb.learn(h, port, now, limit)
    }
}

impl Drop for Pinned<'_> {
    #[inline]
    fn drop(&mut self) {
        self.fdb.readers.unpin(self.idx);
    }
}

#[cfg(all(test, not(loom)))]
mod tests;

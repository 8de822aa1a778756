//! A per-worker cache of FDB answers (OVS's exact-match cache, for MACs).
//!
//! An entry says "at second `s`, key K mapped to port P", and, if it came
//! from this worker's own learn, "and its last-seen stamp is `s`". While
//! the FDB's change counter ([`Fdb::changes`](crate::fdb::Fdb::changes))
//! and the clock second stay put, no existing mapping can change (moves,
//! flushes, static edits and aging changes all bump the counter, and
//! nothing expires within the second it was seen), so a hit is exactly
//! what the FDB would answer. A change of either starts a new cache epoch,
//! which invalidates every entry at once without touching them.
//!
//! Misses cost a few instructions; hits save the hash, the prefetch and
//! the bucket walk. Not-found answers are never cached: a MAC learned by
//! another worker must be found at once.

/// Entries: 4096 × 16 bytes = 64 KiB, an L2-resident table that holds the
/// working set of a typical lab (hundreds to a few thousand MACs).
const ENTRIES: usize = 4096;
const INDEX_SHIFT: u32 = 64 - ENTRIES.trailing_zeros();

#[derive(Clone, Copy, Default)]
struct Entry {
    key: u64,
    epoch: u32,
    port: u8,
    /// Set by this worker's learn: the FDB stamp is this second already.
    learned: bool,
}

/// The cache of one worker.
pub(super) struct FdbCache {
    entries: Box<[Entry; ENTRIES]>,
    epoch: u32,
    second: u32,
    changes: u64,
}

impl Default for FdbCache {
    fn default() -> Self {
        FdbCache {
            entries: Box::new([Entry::default(); ENTRIES]),
            // Entries start at epoch 0; the first batch moves to 1.
            epoch: 0,
            second: u32::MAX,
            changes: u64::MAX,
        }
    }
}

impl FdbCache {
    /// Called once per batch with the clock and the FDB's change counter.
    #[inline]
    pub(super) fn begin(&mut self, second: u32, changes: u64) {
        if second != self.second || changes != self.changes {
            self.second = second;
            self.changes = changes;
            self.epoch = self.epoch.wrapping_add(1);
            if self.epoch == 0 {
                // Wrapped: an entry 2^32 epochs old must not look current.
                self.entries.fill(Entry::default());
                self.epoch = 1;
            }
        }
    }

    #[inline]
    fn index(key: u64) -> usize {
        (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> INDEX_SHIFT) as usize
    }

    #[inline]
    fn get(&self, key: u64) -> Option<&Entry> {
        let e = &self.entries[Self::index(key)];
        (e.key == key && e.epoch == self.epoch).then_some(e)
    }

    /// The port `key` maps to, if known this epoch.
    #[inline]
    pub(super) fn port(&self, key: u64) -> Option<u8> {
        self.get(key).map(|e| e.port)
    }

    /// Whether this worker already learned `key` on `port` this second.
    #[inline]
    pub(super) fn learned_on(&self, key: u64, port: u8) -> bool {
        self.get(key).is_some_and(|e| e.learned && e.port == port)
    }

    /// Records a mapping; `learned` when it comes from this worker's learn.
    #[inline]
    pub(super) fn put(&mut self, key: u64, port: u8, learned: bool) {
        let epoch = self.epoch;
        let e = &mut self.entries[Self::index(key)];
        // A lookup must not erase the stronger "learned" fact about a key.
        if !learned && e.key == key && e.epoch == epoch && e.port == port {
            return;
        }
        *e = Entry {
            key,
            epoch,
            port,
            learned,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_invalidate() {
        let mut c = FdbCache::default();
        c.begin(10, 0);
        c.put(42, 3, true);
        assert_eq!(c.port(42), Some(3));
        assert!(c.learned_on(42, 3) && !c.learned_on(42, 4));
        c.put(42, 3, false);
        assert!(c.learned_on(42, 3), "a lookup keeps the learned fact");
        c.begin(10, 0);
        assert_eq!(c.port(42), Some(3), "same second, no change");
        c.begin(10, 1);
        assert_eq!(c.port(42), None, "the FDB changed");
        c.put(42, 5, false);
        c.begin(11, 1);
        assert_eq!(c.port(42), None, "a new second");
    }

    #[test]
    fn epoch_wrap_clears() {
        let mut c = FdbCache::default();
        c.begin(0, 0);
        c.put(7, 1, false);
        c.epoch = u32::MAX;
        c.put(8, 1, false);
        c.begin(1, 0);
        assert_eq!(c.epoch, 1);
        assert_eq!(c.port(8), None);
        assert_eq!(c.port(7), None);
    }
}

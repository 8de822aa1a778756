//! Slot storage: buckets of eight slots, keys in one cache line and
//! values in the next. A key may live in either of two buckets chosen by
//! its hash; an insert goes to the emptier one (balanced two-choice), which
//! keeps failures near zero up to 70 % fill. A lookup scans one line of
//! keys per bucket and reads one value.

use super::sync::AtomicU64;

pub(super) const SLOTS_PER_BUCKET: usize = 8;

/// Fill of the table when `capacity` entries are in it. Simulated with the
/// same placement rule: at 70 % a million inserts fail about once; at 80 %
/// thousands do.
const LOAD_FACTOR_PERCENT: usize = 70;

/// One slot: its key and value words, borrowed from a bucket.
#[derive(Clone, Copy)]
pub(super) struct Slot<'a> {
    pub(super) key: &'a AtomicU64,
    pub(super) val: &'a AtomicU64,
}

impl Slot<'_> {
    /// Same slot (compares addresses).
    #[inline]
    pub(super) fn is(&self, other: &Slot<'_>) -> bool {
        core::ptr::eq(self.key, other.key)
    }
}

#[repr(C, align(128))]
pub(super) struct Bucket {
    keys: [AtomicU64; SLOTS_PER_BUCKET],
    vals: [AtomicU64; SLOTS_PER_BUCKET],
}

impl Bucket {
    #[inline]
    pub(super) fn slots(&self) -> impl Iterator<Item = Slot<'_>> {
        self.keys
            .iter()
            .zip(self.vals.iter())
            .map(|(key, val)| Slot { key, val })
    }

    #[inline]
    pub(super) fn slot(&self, i: usize) -> Slot<'_> {
        Slot {
            key: &self.keys[i],
            val: &self.vals[i],
        }
    }

    /// Slots with a key (claimed), for choosing the emptier bucket.
    #[inline]
    pub(super) fn occupied(&self) -> usize {
        self.keys
            .iter()
            .filter(|k| k.load(super::sync::Ordering::Acquire) != super::entry::EMPTY_KEY)
            .count()
    }
}

/// Where a key may live, computed once per packet and reused for the
/// prefetch, the learn and the lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Hashed {
    pub(super) key: u64,
    pub(super) b1: u32,
    pub(super) b2: u32,
}

impl Hashed {
    /// The key's two candidate buckets (for diagnostics and tests).
    pub fn buckets(&self) -> (u32, u32) {
        (self.b1, self.b2)
    }
}

pub(super) struct Table {
    buckets: Box<[Bucket]>,
    seed: u64,
}

/// murmur3's 64-bit finalizer: every input bit affects every output bit,
/// so sequential lab MACs (02:00:00:00:00:01, ...) spread evenly.
#[inline]
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Maps a 32-bit hash onto `0..n` without a division (Lemire's fastrange).
#[inline]
fn reduce(h: u32, n: u32) -> u32 {
    ((h as u64 * n as u64) >> 32) as u32
}

impl Table {
    pub(super) fn new(capacity: usize, seed: u64) -> Table {
        let slots = capacity * 100 / LOAD_FACTOR_PERCENT;
        let n = slots.div_ceil(SLOTS_PER_BUCKET).max(2);
        let buckets = (0..n)
            .map(|_| Bucket {
                keys: core::array::from_fn(|_| AtomicU64::new(super::entry::EMPTY_KEY)),
                vals: core::array::from_fn(|_| AtomicU64::new(super::entry::Value::FREE.0)),
            })
            .collect();
        Table { buckets, seed }
    }

    #[cfg(test)]
    pub(super) fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    #[inline]
    pub(super) fn hash(&self, key: u64) -> Hashed {
        let h = mix(key ^ self.seed);
        let n = self.buckets.len() as u32;
        let b1 = reduce(h as u32, n);
        let mut b2 = reduce((h >> 32) as u32, n);
        if b2 == b1 {
            b2 = if b1 + 1 == n { 0 } else { b1 + 1 };
        }
        Hashed { key, b1, b2 }
    }

    #[inline]
    pub(super) fn bucket(&self, b: u32) -> &Bucket {
        &self.buckets[b as usize]
    }

    /// Both buckets of `h`, first choice first.
    #[inline]
    pub(super) fn window(&self, h: &Hashed) -> [&Bucket; 2] {
        [self.bucket(h.b1), self.bucket(h.b2)]
    }

    /// Every slot of both buckets of `h`.
    #[inline]
    pub(super) fn window_slots(&self, h: &Hashed) -> impl Iterator<Item = Slot<'_>> {
        let [a, b] = self.window(h);
        a.slots().chain(b.slots())
    }

    /// Every slot with its global index (for sweeps and dumps).
    pub(super) fn slots(&self) -> impl Iterator<Item = (usize, Slot<'_>)> {
        self.buckets.iter().flat_map(|b| b.slots()).enumerate()
    }

    pub(super) fn slot(&self, index: usize) -> Slot<'_> {
        self.buckets[index / SLOTS_PER_BUCKET].slot(index % SLOTS_PER_BUCKET)
    }

    /// Asks the CPU to start loading both buckets of `h` (keys and values).
    #[inline]
    pub(super) fn prefetch(&self, h: &Hashed) {
        for b in self.window(h) {
            prefetch_line(&b.keys);
            prefetch_line(&b.vals);
        }
    }
}

#[cfg(all(target_arch = "x86_64", not(loom)))]
#[inline(always)]
#[allow(unsafe_code)]
fn prefetch_line<T>(p: &T) {
    use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    // SAFETY: a prefetch is a hint with no architectural effect even on a
    // bad address; this one comes from a live reference anyway.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(p as *const T as *const i8) }
}

#[cfg(not(all(target_arch = "x86_64", not(loom))))]
#[inline(always)]
fn prefetch_line<T>(_p: &T) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_distinct_buckets_in_range() {
        let t = Table::new(1000, 7);
        let n = t.bucket_count() as u32;
        for k in 1..10_000u64 {
            let h = t.hash(k);
            assert!(h.b1 < n && h.b2 < n && h.b1 != h.b2);
        }
    }

    #[test]
    fn sequential_keys_spread() {
        let t = Table::new(4096, 0);
        let mut load = vec![0u32; t.bucket_count()];
        for k in 0..4096u64 {
            load[t.hash((10 << 48) | 0x0200_0000_0000 | k).b1 as usize] += 1;
        }
        // 4096 keys over 732 buckets (5.6 a bucket): a decent hash keeps
        // the worst bucket near the Poisson tail, not at dozens.
        assert!(*load.iter().max().unwrap() <= 16, "{:?}", load.iter().max());
    }
}

//! Slot storage: buckets of seven slots in two cache lines, a tag word and
//! the keys in the first, the values in the second. A key may live in
//! either of two buckets chosen by its hash; an insert goes to the emptier
//! one (balanced two-choice), which keeps failures at zero up to 60 %
//! fill. A lookup compares one byte of hash per slot (the tags, all in one
//! word) and reads the key and value of the matching slot only.

use super::sync::{AtomicU64, Ordering};

pub(super) const SLOTS_PER_BUCKET: usize = 7;

/// Fill of the table when `capacity` entries are in it. Simulated with the
/// same placement rule and 7-slot buckets, filling a million entries 40
/// times: at 60 % no insert ever failed; at 62 % one run saw one failure,
/// at 65 % seven runs did; at 80 % thousands fail. Capacity should mean
/// what it says, so 60 %.
const LOAD_FACTOR_PERCENT: usize = 60;

const BYTE_LOW: u64 = 0x0101_0101_0101_0101;
const BYTE_LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
/// High bit of the bytes that hold tags (bytes 0..7 of the tag word).
const TAG_HIGH_BITS: u64 = 0x0080_8080_8080_8080;

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
    /// Byte `i` is the tag of slot `i`: a hint that is set before the
    /// slot's value is published and left stale when the slot is freed.
    tags: AtomicU64,
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

    /// High bit set in byte `i` for each slot `i` whose tag is `tag`
    /// (exact zero-byte test on `tags ^ tag * 0x0101..`).
    #[inline]
    pub(super) fn candidates(&self, tag: u8) -> u64 {
        // Relaxed: tags are hints; the key and value loads that follow
        // decide.
        let x = self.tags.load(Ordering::Relaxed) ^ (BYTE_LOW * tag as u64);
        !(((x & BYTE_LOW7) + BYTE_LOW7) | x | BYTE_LOW7) & TAG_HIGH_BITS
    }

    /// Records `tag` for slot `i` (other slots' tags untouched).
    pub(super) fn set_tag(&self, i: usize, tag: u8) {
        let shift = 8 * i as u32;
        let mut old = self.tags.load(Ordering::Relaxed);
        loop {
            let new = (old & !(0xff << shift)) | ((tag as u64) << shift);
            match self
                .tags
                .compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) => old = now,
            }
        }
    }

    /// Index of a slot in this bucket.
    #[inline]
    pub(super) fn index_of(&self, slot: &Slot<'_>) -> usize {
        (slot.key as *const AtomicU64 as usize - self.keys.as_ptr() as usize)
            / core::mem::size_of::<AtomicU64>()
    }

    /// Slots with a key (claimed), for choosing the emptier bucket.
    #[inline]
    pub(super) fn occupied(&self) -> usize {
        self.keys
            .iter()
            .filter(|k| k.load(Ordering::Acquire) != super::entry::EMPTY_KEY)
            .count()
    }
}

/// Index of the slot named by the lowest candidate bit.
#[inline]
pub(super) fn first_candidate(mask: u64) -> usize {
    (mask.trailing_zeros() / 8) as usize
}

/// Where a key may live, computed once per packet and reused for the
/// prefetch, the learn and the lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Hashed {
    pub(super) key: u64,
    pub(super) b1: u32,
    pub(super) b2: u32,
    pub(super) tag: u8,
}

impl Hashed {
    /// The packed (VLAN, MAC) key; never 0.
    #[inline]
    pub fn key(&self) -> u64 {
        self.key
    }

    /// The MAC this key is for.
    #[inline]
    pub fn mac(&self) -> crate::wire::Mac {
        crate::wire::Mac::from_u64(self.key)
    }

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
                tags: AtomicU64::new(0),
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
        // Any bucket but b1: pick among n - 1 and skip over b1.
        let b2 = reduce((h >> 32) as u32, n - 1);
        let b2 = b2 + (b2 >= b1) as u32;
        // The low byte barely moves fastrange's result, so it is nearly
        // independent of the bucket choice; never 0, so fresh (zeroed) tag
        // bytes do not match.
        let tag = (h as u8) | 1;
        Hashed { key, b1, b2, tag }
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

    /// Number of slots (indices of [`Table::slot`] are below it).
    pub(super) fn slot_count(&self) -> usize {
        self.buckets.len() * SLOTS_PER_BUCKET
    }

    /// Asks the CPU to start loading both buckets of `h` (tags and keys,
    /// and values).
    #[inline]
    pub(super) fn prefetch(&self, h: &Hashed) {
        for b in self.window(h) {
            prefetch_line(&b.tags);
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
        // 4096 keys over ~900 buckets (4.5 a bucket): a decent hash keeps
        // the worst bucket near the Poisson tail, not at dozens.
        assert!(*load.iter().max().unwrap() <= 16, "{:?}", load.iter().max());
    }
}

#[cfg(test)]
mod tag_tests {
    use super::*;

    #[test]
    fn candidates_match_exact_bytes() {
        let b = Table::new(16, 0);
        let bucket = b.bucket(0);
        for (i, t) in [(0usize, 0x11u8), (3, 0x11), (6, 0x81), (2, 0x10)] {
            bucket.set_tag(i, t);
        }
        let m = bucket.candidates(0x11);
        assert_eq!(m, (1 << 7) | (1 << 31));
        assert_eq!(first_candidate(m), 0);
        assert_eq!(first_candidate(bucket.candidates(0x81)), 6);
        assert_eq!(bucket.candidates(0x13), 0);
        // Byte 7 of the word holds no slot and never matches.
        assert_eq!(bucket.candidates(0) & (0xff << 56), 0);
        assert_eq!(bucket.index_of(&bucket.slot(5)), 5);
    }
}

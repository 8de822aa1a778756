//! Traffic shaping of one port in one direction, with ESXi's semantics:
//! an `average` rate sustained, a `burst` of bytes that may go above it
//! after a quiet spell, at no more than a `peak` rate. Frames over the
//! limit are dropped (counted as `shaped`), never queued: a poll-mode
//! switch has nowhere to park them, and ESXi's shaper drops too.
//!
//! Two token buckets, each kept as GCRA (the "virtual scheduling" form of
//! a token bucket): one atomic word per bucket, the *theoretical arrival
//! time* (TAT) at which the bucket would be full again, in nanoseconds of
//! [`monotonic_ns`]. A frame of `len` bytes at time `now` conforms when
//! the bucket is not in debt (`TAT <= now + tolerance`) and then costs
//! `len * 8 / rate` seconds (`TAT = max(TAT, now) + cost`), so:
//!
//! - the **average** bucket (rate `average_bps`, tolerance `burst_bytes`
//!   worth of time at that rate): after a quiet spell, `burst_bytes` plus
//!   at most one frame pass at once; sustained, `average_bps`;
//! - the **peak** bucket (rate `peak_bps`, tolerance [`PEAK_WINDOW_NS`]):
//!   the burst leaves no faster than `peak_bps`, measured over a
//!   millisecond (a poll-mode switch sees frames in batches, so a
//!   tolerance of zero would pass one frame per batch). Without
//!   `peak_bps` there is no peak bucket: a burst goes at line rate.
//!
//! A frame passes only if both buckets conform; it is charged to both.
//! A frame is charged its whole length as switched (tag included), a
//! virtio-net super-frame too (all its bytes, not its segments); a frame
//! longer than the burst still passes a full bucket (it may take the
//! bucket into debt by less than one frame), so a small `burst_bytes`
//! never blocks large frames for good.
//!
//! The state is shared by every worker that sends to the port (egress) in
//! an `Arc`: a compare-and-swap per shaped frame and bucket, and only for
//! shaped ports; an unshaped port costs the packet path nothing (the
//! pipeline checks one port set per batch, dataplane/engine/src/pipeline/mod.rs).
//! Arithmetic is integer nanoseconds and bytes; a frame's cost is rounded
//! up, so the rate is never exceeded (by up to 1 ns per frame below it).

use core::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// Slowest rate accepted: 1 kbit/s.
pub const MIN_RATE_BPS: u64 = 1_000;
/// Fastest rate accepted: 1 Tbit/s (far above any port; keeps the
/// nanosecond arithmetic exact).
pub const MAX_RATE_BPS: u64 = 1_000_000_000_000;
/// Largest burst accepted: 1 GiB (its time at the slowest rate still fits
/// 64 bits of nanoseconds).
pub const MAX_BURST_BYTES: u64 = 1 << 30;
/// What the peak bucket measures its rate over: 1 ms.
pub const PEAK_WINDOW_NS: u64 = 1_000_000;
/// Default burst: 100 ms at the average rate ...
pub const DEFAULT_BURST_NS: u64 = 100_000_000;
/// ... and at least one 1500-byte-MTU frame with its tag.
pub const MIN_DEFAULT_BURST_BYTES: u64 = 1518;

const NS_PER_SEC: u64 = 1_000_000_000;

/// Why shaping parameters were refused; [`ShapingError::key`] names the
/// setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapingError {
    /// `average_bps` outside [`MIN_RATE_BPS`]..=[`MAX_RATE_BPS`].
    #[error("{0} bits/s is out of range ({MIN_RATE_BPS}-{MAX_RATE_BPS})")]
    Average(u64),
    /// `peak_bps` outside the range.
    #[error("{0} bits/s is out of range ({MIN_RATE_BPS}-{MAX_RATE_BPS})")]
    Peak(u64),
    /// `peak_bps` below `average_bps`.
    #[error("peak {peak} bits/s is below the average {average} bits/s")]
    PeakBelowAverage {
        /// The peak asked for.
        peak: u64,
        /// The average.
        average: u64,
    },
    /// `burst_bytes` outside 1..=[`MAX_BURST_BYTES`].
    #[error("{0} bytes is out of range (1-{MAX_BURST_BYTES})")]
    Burst(u64),
}

impl ShapingError {
    /// The setting at fault: `average_bps`, `peak_bps` or `burst_bytes`.
    pub fn key(&self) -> &'static str {
        match self {
            ShapingError::Average(_) => "average_bps",
            ShapingError::Peak(_) | ShapingError::PeakBelowAverage { .. } => "peak_bps",
            ShapingError::Burst(_) => "burst_bytes",
        }
    }
}

/// One direction's limits, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShapingParams {
    average_bps: u64,
    peak_bps: Option<u64>,
    burst_bytes: u64,
}

impl ShapingParams {
    /// Checks the limits: rates within [`MIN_RATE_BPS`]..=[`MAX_RATE_BPS`],
    /// peak not below average, burst 1..=[`MAX_BURST_BYTES`]. Without
    /// `peak_bps` a burst is not rate-limited; without `burst_bytes` it is
    /// [`ShapingParams::default_burst`].
    pub fn new(
        average_bps: u64,
        peak_bps: Option<u64>,
        burst_bytes: Option<u64>,
    ) -> Result<ShapingParams, ShapingError> {
        let rate_ok = |r: u64| (MIN_RATE_BPS..=MAX_RATE_BPS).contains(&r);
        if !rate_ok(average_bps) {
            return Err(ShapingError::Average(average_bps));
        }
        if let Some(p) = peak_bps {
            if !rate_ok(p) {
                return Err(ShapingError::Peak(p));
            }
            if p < average_bps {
                return Err(ShapingError::PeakBelowAverage {
                    peak: p,
                    average: average_bps,
                });
            }
        }
        let burst_bytes = burst_bytes.unwrap_or_else(|| Self::default_burst(average_bps));
        if !(1..=MAX_BURST_BYTES).contains(&burst_bytes) {
            return Err(ShapingError::Burst(burst_bytes));
        }
        Ok(ShapingParams {
            average_bps,
            peak_bps,
            burst_bytes,
        })
    }

    /// The burst when none is given: [`DEFAULT_BURST_NS`] at `average_bps`,
    /// at least [`MIN_DEFAULT_BURST_BYTES`].
    pub fn default_burst(average_bps: u64) -> u64 {
        let b = average_bps as u128 * DEFAULT_BURST_NS as u128 / (8 * NS_PER_SEC) as u128;
        (b as u64).clamp(MIN_DEFAULT_BURST_BYTES, MAX_BURST_BYTES)
    }

    /// Sustained rate, bits/s.
    pub fn average_bps(&self) -> u64 {
        self.average_bps
    }

    /// Rate limit of a burst, bits/s (`None`: line rate).
    pub fn peak_bps(&self) -> Option<u64> {
        self.peak_bps
    }

    /// Bytes that may pass above the average after a quiet spell.
    pub fn burst_bytes(&self) -> u64 {
        self.burst_bytes
    }
}

/// Nanoseconds since the first call in this process, from the monotonic
/// clock: the time base every shaper shares (their state is shared by
/// workers, so they must share the clock). The pipeline reads it at most
/// once per batch, and only when a shaped port is involved.
pub fn monotonic_ns() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    let base = BASE.get_or_init(Instant::now);
    u64::try_from(base.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// One GCRA bucket: its rate, its tolerance and its state.
#[derive(Debug)]
struct Bucket {
    bps: u64,
    tolerance_ns: u64,
    tat: AtomicU64,
}

impl Bucket {
    fn new(bps: u64, tolerance_ns: u64) -> Bucket {
        Bucket {
            bps,
            tolerance_ns,
            tat: AtomicU64::new(0),
        }
    }

    /// Nanoseconds `len` bytes take at this rate, rounded up.
    #[inline]
    fn cost(&self, len: usize) -> u64 {
        ((len as u64).saturating_mul(8 * NS_PER_SEC)).div_ceil(self.bps)
    }

    #[inline]
    fn conforms(&self, tat: u64, now: u64) -> bool {
        tat <= now.saturating_add(self.tolerance_ns)
    }

    /// Charges `len` bytes if the bucket conforms at `now`.
    #[inline]
    fn take(&self, now: u64, len: usize) -> bool {
        let cost = self.cost(len);
        self.tat
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |tat| {
                self.conforms(tat, now)
                    .then(|| tat.max(now).saturating_add(cost))
            })
            .is_ok()
    }

    /// Charges `len` bytes whatever the state.
    #[inline]
    fn charge(&self, now: u64, len: usize) {
        let cost = self.cost(len);
        let _ = self
            .tat
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |tat| {
                Some(tat.max(now).saturating_add(cost))
            });
    }
}

/// The shaper of one port and direction: its limits and bucket state,
/// shared by the workers that switch its frames.
#[derive(Debug)]
pub struct Shaper {
    params: ShapingParams,
    average: Bucket,
    peak: Option<Bucket>,
}

impl PartialEq for Shaper {
    /// Shapers are equal when their limits are: the state is not
    /// configuration.
    fn eq(&self, o: &Shaper) -> bool {
        self.params == o.params
    }
}

impl Eq for Shaper {}

impl Shaper {
    /// A shaper with full buckets.
    pub fn new(params: ShapingParams) -> Shaper {
        let tolerance =
            params.burst_bytes as u128 * (8 * NS_PER_SEC) as u128 / params.average_bps as u128;
        Shaper {
            params,
            average: Bucket::new(
                params.average_bps,
                u64::try_from(tolerance).unwrap_or(u64::MAX),
            ),
            peak: params.peak_bps.map(|p| Bucket::new(p, PEAK_WINDOW_NS)),
        }
    }

    /// Its limits.
    pub fn params(&self) -> &ShapingParams {
        &self.params
    }

    /// Whether a frame of `len` bytes may pass at `now` (ns of
    /// [`monotonic_ns`], or any clock every caller of this shaper shares);
    /// if so it is charged.
    #[inline]
    pub fn admit(&self, now: u64, len: usize) -> bool {
        if let Some(p) = &self.peak {
            if !p.conforms(p.tat.load(Ordering::Relaxed), now) {
                return false;
            }
        }
        if !self.average.take(now, len) {
            return false;
        }
        if let Some(p) = &self.peak {
            p.charge(now, len);
        }
        true
    }
}

/// A port's shapers, one per direction (`None`: not shaped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortShaping {
    /// Frames received on the port, before they are switched.
    pub ingress: Option<Arc<Shaper>>,
    /// Frames the port is to transmit, flood copies included.
    pub egress: Option<Arc<Shaper>>,
}

impl PortShaping {
    /// New shapers (full buckets) for the given limits.
    pub fn new(ingress: Option<ShapingParams>, egress: Option<ShapingParams>) -> PortShaping {
        let make = |p: Option<ShapingParams>| p.map(|p| Arc::new(Shaper::new(p)));
        PortShaping {
            ingress: make(ingress),
            egress: make(egress),
        }
    }

    /// Keeps `old`'s state for each direction whose limits did not change
    /// (a `port.set` of another setting does not refill the buckets).
    pub fn keep_state(&mut self, old: &PortShaping) {
        for (new, old) in [
            (&mut self.ingress, &old.ingress),
            (&mut self.egress, &old.egress),
        ] {
            if let (Some(n), Some(o)) = (new.as_ref(), old) {
                if n.params == o.params {
                    *new = Some(Arc::clone(o));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: u64 = 1_000_000;

    fn shaper(avg: u64, peak: Option<u64>, burst: u64) -> Shaper {
        Shaper::new(ShapingParams::new(avg, peak, Some(burst)).unwrap())
    }

    #[test]
    fn bad_limits_name_their_key() {
        let e = |a, p, b| ShapingParams::new(a, p, b).unwrap_err();
        assert_eq!(e(0, None, None).key(), "average_bps");
        assert_eq!(e(MAX_RATE_BPS + 1, None, None).key(), "average_bps");
        assert_eq!(e(1_000_000, Some(0), None).key(), "peak_bps");
        let below = e(2_000_000, Some(1_000_000), None);
        assert_eq!(below.key(), "peak_bps");
        assert_eq!(
            below.to_string(),
            "peak 1000000 bits/s is below the average 2000000 bits/s"
        );
        assert_eq!(e(1_000_000, None, Some(0)).key(), "burst_bytes");
        assert_eq!(
            e(1_000_000, None, Some(MAX_BURST_BYTES + 1)).key(),
            "burst_bytes"
        );
        assert!(ShapingParams::new(1_000_000, Some(1_000_000), Some(1)).is_ok());
    }

    #[test]
    fn default_burst_is_100ms_of_average() {
        let p = ShapingParams::new(80_000_000, None, None).unwrap();
        assert_eq!(p.burst_bytes(), 1_000_000);
        assert_eq!(
            ShapingParams::new(MIN_RATE_BPS, None, None)
                .unwrap()
                .burst_bytes(),
            MIN_DEFAULT_BURST_BYTES
        );
    }

    #[test]
    fn a_full_bucket_passes_the_burst_then_the_average() {
        // 8 Mbit/s = 1 byte/us; burst 10_000 bytes.
        let s = shaper(8_000_000, None, 10_000);
        let passed = (0..100).filter(|_| s.admit(0, 1000)).count();
        // 10_000 bytes of tolerance, plus the frame that goes into debt.
        assert_eq!(passed, 11);
        // 1000 bytes take 1 ms to earn back.
        assert!(!s.admit(MS / 2, 1000));
        assert!(s.admit(MS + MS / 2, 1000) || s.admit(2 * MS, 1000));
    }

    #[test]
    fn peak_limits_the_burst() {
        // Average 8 Mbit/s (1 B/us) with a 100 kB burst, peak 80 Mbit/s
        // (10 B/us): within one instant, the peak window (1 ms = 10 kB)
        // is what passes, not the whole burst.
        let s = shaper(8_000_000, Some(80_000_000), 100_000);
        let passed = (0..200).filter(|_| s.admit(0, 1000)).count();
        assert_eq!(passed, 11);
        // Over 10 ms at peak: ~100 kB more.
        let mut bytes = 0;
        for t in 1..=1000u64 {
            for _ in 0..4 {
                if s.admit(t * 10_000, 1000) {
                    bytes += 1000;
                }
            }
        }
        assert!((90_000..=111_000).contains(&bytes), "{bytes}");
    }

    #[test]
    fn state_is_kept_only_for_unchanged_limits() {
        let p = ShapingParams::new(1_000_000, None, Some(1000)).unwrap();
        let q = ShapingParams::new(2_000_000, None, Some(1000)).unwrap();
        let old = PortShaping::new(Some(p), Some(p));
        let mut new = PortShaping::new(Some(p), Some(q));
        new.keep_state(&old);
        assert!(Arc::ptr_eq(
            new.ingress.as_ref().unwrap(),
            old.ingress.as_ref().unwrap()
        ));
        assert!(!Arc::ptr_eq(
            new.egress.as_ref().unwrap(),
            old.egress.as_ref().unwrap()
        ));
    }

    proptest! {
        /// Whatever the frame sizes and arrival times, what passes in
        /// [0, T] is at most burst + one frame + T at the average rate
        /// (and with a peak, at most a window + one frame + T at peak);
        /// under a load far above the average, at least T at the
        /// average rate less one frame passes.
        #[test]
        fn passes_no_more_than_the_limits(
            avg_kbps in 1_000u64..1_000_000,
            peak_x in proptest::option::of(1u64..20),
            burst in 1u64..200_000,
            frames in proptest::collection::vec((0u64..2_000_000, 60usize..9000), 1..400),
        ) {
            let avg = avg_kbps * 1000;
            let peak = peak_x.map(|x| avg * x);
            let s = shaper(avg, peak, burst);
            let mut t = 0u64;
            let mut passed = 0u64;
            for (gap, len) in &frames {
                t += gap;
                if s.admit(t, *len) {
                    passed += *len as u64;
                }
            }
            let at = |bps: u64| t as u128 * bps as u128 / (8 * NS_PER_SEC) as u128;
            let bound = burst as u128 + 9000 + at(avg);
            prop_assert!(passed as u128 <= bound, "{} > {}", passed, bound);
            if let Some(p) = peak {
                let pbound = at(p) + (PEAK_WINDOW_NS as u128 * p as u128 / (8 * NS_PER_SEC) as u128) + 9000 + 1;
                prop_assert!(passed as u128 <= pbound, "{} > peak {}", passed, pbound);
            }
        }

        #[test]
        fn a_heavy_load_gets_the_average(
            avg_kbps in 1_000u64..100_000,
            len in 60usize..1600,
        ) {
            let avg = avg_kbps * 1000;
            // A burst of 1 ms: enough to ride out the 100 us steps (a
            // bucket that is full when a frame is due wastes the wait).
            let burst = (avg / 8 / 1000).max(len as u64);
            let s = shaper(avg, None, burst);
            // Offer 10x the average for 1 s, in 100 us steps.
            let per_step = (avg as u128 * 10 * 100_000 / (8 * NS_PER_SEC) as u128 / len as u128 + 1) as usize;
            let mut passed = 0u64;
            let mut t = 0;
            while t <= NS_PER_SEC {
                for _ in 0..per_step {
                    if s.admit(t, len) {
                        passed += len as u64;
                    }
                }
                t += 100_000;
            }
            let want = avg / 8;
            prop_assert!(passed + len as u64 >= want * 99 / 100, "{} < {}", passed, want);
            prop_assert!(passed <= want + burst + 2 * len as u64 + 1, "{} > {}", passed, want);
        }
    }
}

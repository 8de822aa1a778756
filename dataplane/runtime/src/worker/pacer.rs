//! When a worker spins, naps or sleeps: the polling policy, kept apart
//! from the loop so it can be tested without sockets.
//!
//! Adaptive polling trades a bounded delay for CPU. A loop iteration that
//! got a full batch from some socket spins on: the worker is behind. One
//! that got less, while the worker has nothing left to send, naps for at
//! most `max_sleep_us` (a timed wait that only a hand-off or a command
//! cuts short), so frames gather into bigger batches and a steady light
//! load costs a wake-up per nap rather than a core. After [`QUIET_NAPS`]
//! naps' worth of time without a frame the worker sleeps in `poll(2)` on
//! its sockets, which costs nothing until a frame arrives (and wakes it
//! some 20 µs after one does, within the bound of a nap).
//!
//! A timed wait lasts longer than asked: the timer fires late and a
//! sleeping CPU takes time to wake (tens of microseconds on a VM). The
//! pacer measures that overshoot and asks for `max_sleep_us` less it, so
//! a nap as taken stays near the bound, but never for less than a quarter
//! of it: on a CPU shared with other work a wake-up can wait milliseconds
//! for the CPU, and a pacer that then stopped napping would spin a core
//! for good (each sample counts at most `max_sleep_us`, so one slow
//! wake-up cannot dominate). With `max_sleep_us` 0 it never naps and polls
//! as before: spin under load, `poll(2)` when idle.

use std::time::Duration;

/// How workers poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollMode {
    /// Spin under load, nap when batches come back small, sleep when idle.
    Adaptive,
    /// Spin, never sleep: lowest latency, a whole core always.
    Busy,
}

/// The polling policy of every worker (changed live with
/// [`crate::switch::Switch::set_polling`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Polling {
    /// Adaptive or busy.
    pub mode: PollMode,
    /// Longest nap, in microseconds (adaptive only); 0: never nap.
    pub max_sleep_us: u32,
}

/// Default `max_sleep_us`.
pub const DEFAULT_MAX_SLEEP_US: u32 = 50;
/// Largest `max_sleep_us` accepted: beyond a millisecond a nap is a
/// latency no switch should add.
pub const MAX_SLEEP_US_LIMIT: u32 = 1000;

impl Default for Polling {
    fn default() -> Self {
        Polling {
            mode: PollMode::Adaptive,
            max_sleep_us: DEFAULT_MAX_SLEEP_US,
        }
    }
}

/// Empty iterations before a worker that does not nap sleeps in `poll(2)`
/// (each is well under a microsecond, so tens of microseconds of spinning).
pub(super) const IDLE_SPINS: u32 = 256;
/// Naps' worth of time (`max_sleep_us` each) without a frame after which
/// a napping worker sleeps in `poll(2)` instead: naps cost a wake-up each,
/// `poll(2)` nothing until a frame. A steady flow of a frame every few
/// naps keeps it napping; bursts with gaps between them sleep in the gaps.
pub(super) const QUIET_NAPS: u32 = 4;
/// Shortest nap worth a syscall.
const MIN_NAP: Duration = Duration::from_micros(1);

/// What the loop does after an iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pause {
    /// Runs the next iteration at once.
    Spin,
    /// Waits this long (or until woken by a hand-off or command).
    Nap(Duration),
    /// Sleeps until a socket has a frame, or woken.
    Sleep,
}

/// What the loop saw in an iteration.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Iteration {
    /// Frames received (sockets and hand-offs).
    pub received: usize,
    /// Some socket returned a whole batch: more may be waiting.
    pub full: bool,
    /// Nothing left to send or take over (inbox empty, tx rings drained,
    /// no fence up): waiting delays nothing already in hand.
    pub settled: bool,
    /// Empty iterations in a row, this one included.
    pub idle: u32,
    /// Time since a frame last arrived.
    pub quiet: Duration,
}

/// The adaptive poller's state: how much longer than asked a nap lasts.
#[derive(Debug, Default)]
pub(super) struct Pacer {
    /// Moving average of (nap taken − nap asked), in nanoseconds.
    overshoot_ns: u64,
}

impl Pacer {
    /// Decides what follows an iteration.
    pub fn next(&self, polling: Polling, it: Iteration) -> Pause {
        if polling.mode == PollMode::Busy || !it.settled || it.full {
            return Pause::Spin;
        }
        let quiet = Duration::from_micros(u64::from(polling.max_sleep_us) * u64::from(QUIET_NAPS));
        match Self::nap_len(self.overshoot_ns, polling.max_sleep_us) {
            Some(nap) if it.received > 0 || it.quiet < quiet => Pause::Nap(nap),
            Some(_) => Pause::Sleep,
            None if it.received == 0 && it.idle >= IDLE_SPINS => Pause::Sleep,
            None => Pause::Spin,
        }
    }

    /// How long to ask a nap to last so that it lasts about
    /// `max_sleep_us` (at least a quarter of it); `None`: never nap.
    fn nap_len(overshoot_ns: u64, max_sleep_us: u32) -> Option<Duration> {
        let max = u64::from(max_sleep_us) * 1000;
        let ns = max.saturating_sub(overshoot_ns).max(max / 4);
        let nap = Duration::from_nanos(ns);
        (nap >= MIN_NAP).then_some(nap)
    }

    /// Records a nap asked to last `asked` that lasted `took` under
    /// `max_sleep_us`.
    pub fn napped(&mut self, asked: Duration, took: Duration, max_sleep_us: u32) {
        // Cut short by a wake-up: says nothing about the timer.
        let Some(over) = took.checked_sub(asked) else {
            return;
        };
        let over = (over.as_nanos() as u64).min(u64::from(max_sleep_us) * 1000);
        // An average over about eight naps: one slow wake-up moves it
        // little, a CPU that wakes slower for good moves it in a few.
        self.overshoot_ns = (self.overshoot_ns * 7 + over) / 8;
    }

    /// Forgets the overshoot (after `max_sleep_us` changes: measure anew).
    pub fn reset(&mut self) {
        self.overshoot_ns = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADAPTIVE: Polling = Polling {
        mode: PollMode::Adaptive,
        max_sleep_us: 50,
    };

    fn it(received: usize, full: bool, idle: u32, quiet_us: u64) -> Iteration {
        Iteration {
            received,
            full,
            settled: true,
            idle,
            quiet: Duration::from_micros(quiet_us),
        }
    }

    #[test]
    fn busy_mode_always_spins() {
        let p = Pacer::default();
        let busy = Polling {
            mode: PollMode::Busy,
            max_sleep_us: 50,
        };
        for i in [it(0, false, 10_000, 1_000_000), it(3, false, 0, 0)] {
            assert_eq!(p.next(busy, i), Pause::Spin);
        }
    }

    #[test]
    fn full_batches_or_work_in_hand_spin() {
        let p = Pacer::default();
        assert_eq!(p.next(ADAPTIVE, it(64, true, 0, 0)), Pause::Spin);
        let mut unsettled = it(3, false, 0, 0);
        unsettled.settled = false;
        assert_eq!(p.next(ADAPTIVE, unsettled), Pause::Spin);
    }

    #[test]
    fn small_batches_nap_and_quiet_sleeps() {
        let p = Pacer::default();
        assert_eq!(
            p.next(ADAPTIVE, it(3, false, 0, 0)),
            Pause::Nap(Duration::from_micros(50))
        );
        assert_eq!(
            p.next(ADAPTIVE, it(0, false, 5, 150)),
            Pause::Nap(Duration::from_micros(50))
        );
        assert_eq!(p.next(ADAPTIVE, it(0, false, 50, 200)), Pause::Sleep);
    }

    #[test]
    fn naps_are_shortened_by_the_measured_overshoot() {
        let mut p = Pacer::default();
        for _ in 0..64 {
            p.napped(Duration::from_micros(30), Duration::from_micros(50), 50);
        }
        let Pause::Nap(d) = p.next(ADAPTIVE, it(3, false, 0, 0)) else {
            panic!("expected a nap");
        };
        assert!(
            d >= Duration::from_micros(29) && d <= Duration::from_micros(31),
            "{d:?}"
        );
        // Woken early: not a measure of the timer.
        p.napped(Duration::from_micros(30), Duration::from_micros(5), 50);
        assert_eq!(p.next(ADAPTIVE, it(3, false, 0, 0)), Pause::Nap(d));
    }

    #[test]
    fn slow_wake_ups_shorten_naps_to_a_quarter_never_to_none() {
        let mut p = Pacer::default();
        // Wake-ups milliseconds late (a CPU busy with other work).
        for _ in 0..64 {
            p.napped(Duration::from_micros(10), Duration::from_millis(3), 20);
        }
        let small = Polling {
            mode: PollMode::Adaptive,
            max_sleep_us: 20,
        };
        assert_eq!(
            p.next(small, it(3, false, 0, 0)),
            Pause::Nap(Duration::from_micros(5))
        );
        // The overshoot estimate is capped: back on a quiet CPU, naps
        // recover in a few samples.
        for _ in 0..16 {
            p.napped(Duration::from_micros(5), Duration::from_micros(7), 20);
        }
        let Pause::Nap(d) = p.next(small, it(3, false, 0, 0)) else {
            panic!("expected a nap");
        };
        assert!(d > Duration::from_micros(15), "{d:?}");
    }

    #[test]
    fn with_zero_it_polls_as_before() {
        let mut p = Pacer::default();
        let zero = Polling {
            mode: PollMode::Adaptive,
            max_sleep_us: 0,
        };
        p.reset();
        assert_eq!(p.next(zero, it(3, false, 0, 0)), Pause::Spin);
        assert_eq!(p.next(zero, it(0, false, IDLE_SPINS, 0)), Pause::Sleep);
    }
}

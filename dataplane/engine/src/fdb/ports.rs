//! Per-port bookkeeping of the table: how many dynamic entries each port
//! holds (for `max_macs` and fair eviction), which ports' learning is held
//! down by the MAC move guard, and a log of MAC moves for the control
//! thread to judge.
//!
//! The counts follow one rule: every successful write of a slot's value
//! calls [`PortBook::transition`] with the value it replaced, and a slot
//! counts for the port in its value while that value is LIVE and not
//! static. So a count includes entries that are flushed or aged out but not
//! yet retired by the sweep, and evicted ones not yet reclaimed (as
//! `Fdb::used` does), and converges at each sweep.
//!
//! These are plain `core` atomics even under loom: they are bookkeeping,
//! never used to order other memory, so loom need not explore them.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::entry::Value;
use crate::limits::MAX_PORTS;
use crate::policy::NO_MAC_LIMIT;
use crate::vocab::{PortId, PortSet};

use super::Learn;

/// Moves kept for the control thread between two reads. A reader that
/// falls further behind loses the oldest (and is told how many).
const MOVE_LOG_LEN: usize = 1024;

/// One move record: the key, then a word of sequence number (high 48
/// bits), the port the MAC left and the port it moved to (a byte each).
struct MoveRec {
    key: AtomicU64,
    meta: AtomicU64,
}

/// A record's `meta` while it is being written.
const WRITING: u64 = u64::MAX;

/// A MAC that moved between ports, as [`super::Fdb::drain_moves`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move {
    /// The packed (VLAN, MAC) key ([`super::key_of`]).
    pub key: u64,
    /// Where it was.
    pub from: PortId,
    /// Where it is now.
    pub to: PortId,
}

pub(super) struct PortBook {
    counts: Box<[AtomicU32]>,
    held: AtomicU64,
    head: AtomicU64,
    moves: Box<[MoveRec]>,
}

/// The port a value counts for: LIVE and dynamic, or evicted and not yet
/// reclaimed (so a port that evicts its own entries stays the biggest).
#[inline(always)]
fn counted(v: Value) -> Option<usize> {
    ((v.is_live() && !v.is_static()) || v.is_evicted()).then(|| v.port().index())
}

impl PortBook {
    pub(super) fn new() -> PortBook {
        PortBook {
            counts: (0..MAX_PORTS).map(|_| AtomicU32::new(0)).collect(),
            held: AtomicU64::new(0),
            head: AtomicU64::new(0),
            moves: (0..MOVE_LOG_LEN)
                .map(|_| MoveRec {
                    key: AtomicU64::new(0),
                    meta: AtomicU64::new(WRITING),
                })
                .collect(),
        }
    }

    /// A slot's value went from `old` to `new`.
    #[inline(always)]
    pub(super) fn transition(&self, old: Value, new: Value) {
        let (a, b) = (counted(old), counted(new));
        if a == b {
            return;
        }
        if let Some(p) = a {
            self.counts[p].fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(p) = b {
            self.counts[p].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Dynamic entries counted for `port`.
    #[inline]
    pub(super) fn count(&self, port: PortId) -> u32 {
        self.counts[port.index()].load(Ordering::Relaxed)
    }

    /// Whether `port` may learn a source new to it under `limit`; the
    /// refusal otherwise. Called only for new and moving sources.
    #[inline]
    pub(super) fn admit(&self, port: PortId, limit: u32) -> Option<Learn> {
        if self.held.load(Ordering::Relaxed) & (1 << port.index()) != 0 {
            return Some(Learn::HeldDown);
        }
        (limit != NO_MAC_LIMIT && self.count(port) >= limit).then_some(Learn::Limit)
    }

    pub(super) fn set_held(&self, port: PortId, held: bool) {
        let bit = 1u64 << port.index();
        if held {
            self.held.fetch_or(bit, Ordering::Relaxed);
        } else {
            self.held.fetch_and(!bit, Ordering::Relaxed);
        }
    }

    pub(super) fn held(&self) -> PortSet {
        PortSet(self.held.load(Ordering::Relaxed))
    }

    /// Records a move (a seqlock per record: lossy, never torn).
    pub(super) fn record_move(&self, key: u64, from: PortId, to: PortId) {
        let seq = self.head.fetch_add(1, Ordering::Relaxed);
        let rec = &self.moves[seq as usize % MOVE_LOG_LEN];
        rec.meta.store(WRITING, Ordering::Relaxed);
        core::sync::atomic::fence(Ordering::Release);
        rec.key.store(key, Ordering::Relaxed);
        let meta = (seq << 16) | ((from.index() as u64) << 8) | to.index() as u64;
        rec.meta.store(meta, Ordering::Release);
    }

    /// Hands every move recorded since `cursor` to `f` and moves the
    /// cursor on; returns how many were lost (overwritten before read).
    pub(super) fn drain_moves(&self, cursor: &mut u64, mut f: impl FnMut(Move)) -> u64 {
        let head = self.head.load(Ordering::Acquire);
        let mut lost = 0;
        if head.saturating_sub(*cursor) > MOVE_LOG_LEN as u64 {
            lost = head - *cursor - MOVE_LOG_LEN as u64;
            *cursor = head - MOVE_LOG_LEN as u64;
        }
        while *cursor < head {
            let i = *cursor;
            let rec = &self.moves[i as usize % MOVE_LOG_LEN];
            let m1 = rec.meta.load(Ordering::Acquire);
            let key = rec.key.load(Ordering::Relaxed);
            core::sync::atomic::fence(Ordering::Acquire);
            let m2 = rec.meta.load(Ordering::Relaxed);
            // Mid-write (a writer that lapped us): look again next time.
            if m1 != m2 || m1 == WRITING {
                break;
            }
            let (seq, want) = (m1 >> 16, i & (u64::MAX >> 16));
            if seq < want {
                break; // claimed but not written yet
            } else if seq == want {
                f(Move {
                    key,
                    from: PortId::from_bits((m1 >> 8) as u8),
                    to: PortId::from_bits(m1 as u8),
                });
            } else {
                lost += 1; // overwritten by a later lap
            }
            *cursor += 1;
        }
        lost
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn moves_are_drained_in_order_and_losses_counted() {
        let b = PortBook::new();
        let p = |n| PortId::new(n).unwrap();
        let mut cursor = 0;
        b.record_move(7, p(1), p(2));
        b.record_move(8, p(2), p(1));
        let mut seen = Vec::new();
        assert_eq!(b.drain_moves(&mut cursor, |m| seen.push(m)), 0);
        assert_eq!(seen.len(), 2);
        assert_eq!((seen[0].key, seen[0].from, seen[0].to), (7, p(1), p(2)));
        for k in 0..(MOVE_LOG_LEN as u64 + 10) {
            b.record_move(k, p(0), p(3));
        }
        seen.clear();
        assert_eq!(b.drain_moves(&mut cursor, |m| seen.push(m)), 10);
        assert_eq!(seen.len(), MOVE_LOG_LEN);
        assert_eq!(seen[0].key, 10);
    }
}

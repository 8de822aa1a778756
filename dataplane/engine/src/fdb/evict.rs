//! Fair eviction, and the per-port views of the table the control plane
//! uses (entries per port, learning hold-downs, the move log).
//!
//! When a new MAC finds no room (the table at capacity, or both of its
//! buckets full), the learner evicts, among the LIVE dynamic entries of
//! the MAC's two buckets, one of the port that holds the most entries in
//! the whole table, provided that port is the learner itself or holds at
//! least two more than the learner: a port never makes room at the expense
//! of a port that would then hold fewer than itself. So a storm of random sources on one port evicts
//! only that port's entries, and other ports' hosts stay. Static entries
//! are never evicted. Within the chosen port, the entry seen least
//! recently goes.
//!
//! The victim is marked DEAD (as a delete does): lookups miss it at once,
//! and its slot is reused after the next sweep's grace period, like every
//! slot (see the module docs of `fdb`). Until then it still counts for its
//! port ([`Value::evicted`]): a storm that evicts its own entries stays the
//! biggest port. The MAC that asked is refused this
//! time ([`Learn::Evicted`]) and learned from a later frame. An eviction
//! does not bump [`Fdb::changes`]: a worker's cached answer for the evicted
//! MAC was true when cached and is dropped within its second; the MAC
//! still lives where the cache says.

use super::entry::{age, Value};
use super::sync::Ordering;
use super::{Fdb, Hashed, Learn, Move};
use crate::vocab::{PortId, PortSet};

impl Fdb {
    /// No room for `value` (of `h`): evict fairly, or refuse.
    pub(super) fn evict(&self, h: &Hashed, value: Value) -> Learn {
        if value.is_static() {
            return Learn::Full;
        }
        let learner = value.port();
        let now = value.stamp();
        let floor = self.book.count(learner);
        // (slot, value, its port's count, its age)
        let mut best = None;
        for slot in self.table.window_slots(h) {
            let v = Value(slot.val.load(Ordering::Acquire));
            if !v.is_live() || v.is_static() {
                continue;
            }
            let q = v.port();
            let n = self.book.count(q);
            // Another port's entry only when that port would still hold
            // at least as many as the learner afterwards: a host learned
            // alone on its port never makes way for a newcomer.
            if q != learner && n <= floor.saturating_add(1) {
                continue;
            }
            let a = age(now, v.stamp());
            let better = match best {
                None => true,
                Some((_, _, bn, ba)) => n > bn || (n == bn && a > ba),
            };
            if better {
                best = Some((slot, v, n, a));
            }
        }
        let Some((slot, v, _, _)) = best else {
            return Learn::Full;
        };
        let dead = v.evicted();
        match slot
            .val
            .compare_exchange(v.0, dead.0, Ordering::AcqRel, Ordering::Relaxed)
        {
            Ok(_) => {
                self.book.transition(v, dead);
                Learn::Evicted
            }
            Err(_) => Learn::Race,
        }
    }

    /// Dynamic entries `port` holds, counting flushed and aged ones until
    /// the sweep retires them (what `max_macs` is checked against).
    pub fn port_macs(&self, port: PortId) -> usize {
        self.book.count(port) as usize
    }

    /// Stops (`true`) or resumes learning of new and moving sources on
    /// `port`; known sources still refresh. The MAC move guard's hold-down.
    pub fn set_learning_held(&self, port: PortId, held: bool) {
        self.book.set_held(port, held);
    }

    /// Ports whose learning is held down.
    pub fn learning_held(&self) -> PortSet {
        self.book.held()
    }

    /// Hands every MAC move recorded since `cursor` (start at 0) to `f`,
    /// moving the cursor on; returns how many moves were lost because the
    /// log (1024 records) wrapped before this read. For one reader (the
    /// control thread).
    pub fn drain_moves(&self, cursor: &mut u64, f: impl FnMut(Move)) -> u64 {
        self.book.drain_moves(cursor, f)
    }
}

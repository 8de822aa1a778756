//! Bit layout of an FDB slot. A slot is two words: a key and a value, each
//! read and written atomically, so (port, stamp) can never tear.
//!
//! key   = VID << 48 | MAC (0 = empty: VID 0 is never a key)
//! value = epoch:31 | stamp:24 | port:6 | static:1 | state:2   (high to low)
//!
//! `state` is the slot's life cycle:
//! FREE -(claim key)-> FREE+key -(publish)-> LIVE <-> DEAD
//! LIVE/DEAD -(maintainer)-> RECLAIMING -(grace period)-> FREE, key empty.
//! A learner that loses an insert race abandons its claim as RECLAIMING.

use crate::vocab::PortId;
use crate::wire::{Mac, VlanId};

/// Key of an empty slot.
pub(super) const EMPTY_KEY: u64 = 0;

/// The FDB key of (VLAN, MAC): never [`EMPTY_KEY`].
#[inline]
pub(super) const fn key(vlan: VlanId, mac: Mac) -> u64 {
    ((vlan.get() as u64) << 48) | mac.to_u64()
}

/// VID of a key.
#[inline]
pub(super) const fn key_vlan(key: u64) -> u16 {
    (key >> 48) as u16
}

/// Life-cycle state of a slot (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    Free = 0,
    Live = 1,
    Dead = 2,
    Reclaiming = 3,
}

const STATE_MASK: u64 = 0b11;
const STATIC_BIT: u64 = 1 << 2;
const PORT_SHIFT: u32 = 3;
const PORT_MASK: u64 = 0x3f;
const STAMP_SHIFT: u32 = 9;
pub(super) const STAMP_BITS: u32 = 24;
pub(super) const STAMP_MASK: u32 = (1 << STAMP_BITS) - 1;
const EPOCH_SHIFT: u32 = 33;
pub(super) const EPOCH_BITS: u32 = 31;
pub(super) const EPOCH_MASK: u32 = (1 << EPOCH_BITS) - 1;

const _: () = assert!(crate::limits::MAX_PORTS <= PORT_MASK as usize + 1);
const _: () = assert!(EPOCH_SHIFT + EPOCH_BITS == 64);
const _: () = assert!(STAMP_SHIFT + STAMP_BITS == EPOCH_SHIFT);
const _: () = assert!(crate::limits::MAX_AGING_SECS < 1 << (STAMP_BITS - 1));

/// A decoded view of a value word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Value(pub u64);

impl Value {
    pub(super) const FREE: Value = Value(State::Free as u64);
    pub(super) const DEAD: Value = Value(State::Dead as u64);
    pub(super) const RECLAIMING: Value = Value(State::Reclaiming as u64);

    /// A live entry.
    #[inline]
    pub(super) const fn live(port: PortId, is_static: bool, stamp: u32, epoch: u32) -> Value {
        Value(
            State::Live as u64
                | if is_static { STATIC_BIT } else { 0 }
                | ((port.index() as u64) << PORT_SHIFT)
                | (((stamp & STAMP_MASK) as u64) << STAMP_SHIFT)
                | (((epoch & EPOCH_MASK) as u64) << EPOCH_SHIFT),
        )
    }

    /// This dynamic entry, evicted: DEAD (lookups miss it, its key may
    /// learn it again in place, the sweep reclaims it) but keeping its
    /// port, and marked with the static bit, which no other DEAD value
    /// carries, so that it counts for its port until it is reclaimed
    /// (fdb/ports.rs).
    #[inline]
    pub(super) const fn evicted(self) -> Value {
        Value((self.0 & !STATE_MASK) | State::Dead as u64 | STATIC_BIT)
    }

    /// Made by [`Value::evicted`].
    #[inline]
    pub(super) const fn is_evicted(self) -> bool {
        self.0 & STATE_MASK == State::Dead as u64 && self.0 & STATIC_BIT != 0
    }

    #[inline]
    pub(super) const fn state(self) -> State {
        match self.0 & STATE_MASK {
            0 => State::Free,
            1 => State::Live,
            2 => State::Dead,
            _ => State::Reclaiming,
        }
    }

    /// A published entry (maybe flushed or aged: see `Fdb::visible`).
    #[inline(always)]
    pub(super) const fn is_live(self) -> bool {
        self.0 & STATE_MASK == State::Live as u64
    }

    /// Live or deleted: the slot belongs to its key (not mid-insert or
    /// being reclaimed).
    #[inline(always)]
    pub(super) const fn is_live_or_dead(self) -> bool {
        let s = self.0 & STATE_MASK;
        s == State::Live as u64 || s == State::Dead as u64
    }

    #[inline]
    pub(super) const fn is_static(self) -> bool {
        self.0 & STATIC_BIT != 0
    }

    #[inline]
    pub(super) fn port(self) -> PortId {
        // Six bits always name a port below MAX_PORTS (asserted above).
        PortId::from_bits(((self.0 >> PORT_SHIFT) & PORT_MASK) as u8)
    }

    #[inline]
    pub(super) const fn stamp(self) -> u32 {
        ((self.0 >> STAMP_SHIFT) as u32) & STAMP_MASK
    }

    #[inline]
    pub(super) const fn epoch(self) -> u32 {
        ((self.0 >> EPOCH_SHIFT) as u32) & EPOCH_MASK
    }
}

impl core::fmt::Debug for Value {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Value")
            .field("state", &self.state())
            .field("static", &self.is_static())
            .field("port", &self.port())
            .field("stamp", &self.stamp())
            .field("epoch", &self.epoch())
            .finish()
    }
}

/// Whether `epoch` was handed out after the flush whose threshold is
/// `threshold`, comparing modulo 2^31 (the sweep keeps both within 2^29 of
/// the current epoch, so half the circle is never reached).
#[inline]
pub(super) const fn epoch_after(epoch: u32, threshold: u32) -> bool {
    let d = epoch.wrapping_sub(threshold) & EPOCH_MASK;
    d != 0 && d < (1 << (EPOCH_BITS - 1))
}

/// Seconds from `stamp` to `now`, modulo 2^24.
#[inline]
pub(super) const fn age(now: u32, stamp: u32) -> u32 {
    now.wrapping_sub(stamp) & STAMP_MASK
}

/// A pair of flush thresholds packed in one word: dynamic entries (low
/// half) and static entries (high half).
#[inline]
pub(super) const fn threshold(packed: u64, is_static: bool) -> u32 {
    if is_static {
        (packed >> 32) as u32
    } else {
        packed as u32
    }
}

#[inline]
pub(super) const fn pack_thresholds(dynamic: u32, stat: u32) -> u64 {
    ((stat as u64) << 32) | dynamic as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_round_trip() {
        let p = PortId::new(63).unwrap();
        let v = Value::live(p, true, 0xabcdef, EPOCH_MASK);
        assert_eq!(v.state(), State::Live);
        assert!(v.is_static());
        assert_eq!(v.port(), p);
        assert_eq!(v.stamp(), 0xabcdef);
        assert_eq!(v.epoch(), EPOCH_MASK);
        assert_eq!(Value::FREE.state(), State::Free);
        assert_eq!(Value::RECLAIMING.state(), State::Reclaiming);
    }

    #[test]
    fn epoch_order_wraps() {
        assert!(epoch_after(1, 0));
        assert!(!epoch_after(5, 5));
        assert!(!epoch_after(4, 5));
        assert!(epoch_after(2, EPOCH_MASK - 1)); // across the wrap
        assert!(!epoch_after(EPOCH_MASK - 1, 2));
        assert_eq!(age(3, STAMP_MASK), 4);
    }

    #[test]
    fn keys_are_never_empty() {
        let k = key(VlanId::MIN, Mac::ZERO);
        assert_ne!(k, EMPTY_KEY);
        assert_eq!(key_vlan(key(VlanId::MAX, Mac::BROADCAST)), 4094);
    }
}

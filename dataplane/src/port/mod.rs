//! Ports as the engine sees them: identifiers, bitmaps of ports, and the
//! per-port switching configuration. Kernel-facing port drivers live in
//! submodules ([`mem`] for tests; AF_XDP later).

pub mod afxdp;
pub mod mem;
pub mod xsk;

use core::fmt;

use crate::limits::{MAX_FRAME_LEN, MAX_PORTS};
use crate::vlan::VlanMode;

/// Index of a port inside a switch, `0..MAX_PORTS`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortId(u8);

impl PortId {
    /// `Some` for `0..MAX_PORTS`.
    #[inline]
    pub const fn new(id: usize) -> Option<PortId> {
        if id < MAX_PORTS {
            Some(PortId(id as u8))
        } else {
            None
        }
    }

    /// The port named by the low six bits of `bits` (always valid:
    /// `MAX_PORTS` is 64).
    #[inline]
    pub const fn from_bits(bits: u8) -> PortId {
        PortId(bits & (MAX_PORTS as u8 - 1))
    }

    /// The index, `0..MAX_PORTS`.
    #[inline]
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Debug for PortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PortId({})", self.0)
    }
}

impl fmt::Display for PortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A set of ports as one `u64`: bit `i` is [`PortId`] `i`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PortSet(pub u64);

const _: () = assert!(
    MAX_PORTS == 64,
    "PortSet is a u64 bitmap; PortId::from_bits masks to 6 bits"
);

impl PortSet {
    /// No ports.
    pub const EMPTY: PortSet = PortSet(0);

    /// The set holding only `port`.
    #[inline]
    pub const fn one(port: PortId) -> PortSet {
        PortSet(1 << port.0)
    }

    /// Whether `port` is in the set.
    #[inline]
    pub const fn contains(self, port: PortId) -> bool {
        self.0 & (1 << port.0) != 0
    }

    /// Adds `port`.
    #[inline]
    pub fn insert(&mut self, port: PortId) {
        self.0 |= 1 << port.0;
    }

    /// Removes `port`.
    #[inline]
    pub fn remove(&mut self, port: PortId) {
        self.0 &= !(1 << port.0);
    }

    /// The set without `port`.
    #[inline]
    pub const fn without(self, port: PortId) -> PortSet {
        PortSet(self.0 & !(1 << port.0))
    }

    /// Union.
    #[inline]
    pub const fn union(self, o: PortSet) -> PortSet {
        PortSet(self.0 | o.0)
    }

    /// Intersection.
    #[inline]
    pub const fn intersection(self, o: PortSet) -> PortSet {
        PortSet(self.0 & o.0)
    }

    /// Ports of `self` not in `o`.
    #[inline]
    pub const fn difference(self, o: PortSet) -> PortSet {
        PortSet(self.0 & !o.0)
    }

    /// No ports.
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Number of ports.
    #[inline]
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The only port, when the set has exactly one.
    #[inline]
    pub const fn single(self) -> Option<PortId> {
        // Not is_power_of_two(): without POPCNT in the baseline target it
        // becomes a software popcount on the packet path.
        if self.0 != 0 && self.0 & (self.0 - 1) == 0 {
            Some(PortId(self.0.trailing_zeros() as u8))
        } else {
            None
        }
    }

    /// Ports in ascending order.
    #[inline]
    pub fn iter(self) -> PortSetIter {
        PortSetIter(self.0)
    }
}

impl FromIterator<PortId> for PortSet {
    fn from_iter<I: IntoIterator<Item = PortId>>(iter: I) -> PortSet {
        let mut s = PortSet::EMPTY;
        for p in iter {
            s.insert(p);
        }
        s
    }
}

impl fmt::Debug for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(|p| p.0)).finish()
    }
}

/// Iterator over a [`PortSet`], lowest port first.
#[derive(Debug, Clone)]
pub struct PortSetIter(u64);

impl Iterator for PortSetIter {
    type Item = PortId;
    #[inline]
    fn next(&mut self) -> Option<PortId> {
        if self.0 == 0 {
            return None;
        }
        let i = self.0.trailing_zeros();
        self.0 &= self.0 - 1;
        Some(PortId(i as u8))
    }
}

/// How one port switches: its VLAN mode and behaviour flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// Access, trunk or guest tagging.
    pub vlan: VlanMode,
    /// Learn source MACs of frames received here.
    pub learning: bool,
    /// Receive floods of unknown unicast (broadcast and multicast still come).
    pub flood_unknown_unicast: bool,
    /// Also receive a copy of every frame forwarded in this port's VLANs.
    pub promiscuous: bool,
    /// Largest frame (without FCS, tag included) this port transmits.
    pub max_frame_len: usize,
}

impl PortConfig {
    /// A port with the defaults of the config file: learning, unknown
    /// unicast floods, not promiscuous, the largest frame a buffer holds.
    pub fn new(vlan: VlanMode) -> PortConfig {
        PortConfig {
            vlan,
            learning: true,
            flood_unknown_unicast: true,
            promiscuous: false,
            max_frame_len: MAX_FRAME_LEN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portset_ops() {
        let p = |i| PortId::new(i).unwrap();
        let s: PortSet = [p(0), p(5), p(63)].into_iter().collect();
        assert_eq!(s.len(), 3);
        assert_eq!(
            s.iter().map(PortId::index).collect::<Vec<_>>(),
            vec![0, 5, 63]
        );
        assert!(s.contains(p(63)) && !s.contains(p(1)));
        assert_eq!(s.without(p(5)).without(p(0)).single(), Some(p(63)));
        assert_eq!(s.single(), None);
        assert!(PortId::new(64).is_none());
        assert_eq!(s.difference(PortSet::one(p(0))).len(), 2);
    }
}

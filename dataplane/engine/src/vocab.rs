//! The engine's vocabulary, at the ground floor of the crate: port ids and
//! port sets, and the names of everything that gets counted (drop reasons
//! and events). Every other module may use these; they use nothing but
//! [`limits`](crate::limits).

use core::fmt;

use crate::limits::MAX_PORTS;

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

macro_rules! counter_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every variant, in counter order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];
            /// Number of variants.
            pub const COUNT: usize = Self::ALL.len();

            /// Stable counter name (snake_case), used in stats output,
            /// Prometheus labels and the C ABI.
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// Inverse of [`Self::name`].
            pub fn from_name(name: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.name() == name)
            }
        }
    };
}

counter_enum! {
    /// Why a frame (or one output copy of it) was not transmitted.
    DropReason {
        /// Shorter than an Ethernet header (14 bytes).
        Runt => "runt",
        /// EtherType 0x8100 but fewer than 18 bytes.
        TruncatedVlanTag => "truncated_vlan_tag",
        /// 802.1ad (0x88a8) outer tag: QinQ is not switched yet.
        QinQ => "qinq_unsupported",
        /// 802.1Q tag with the reserved VID 4095.
        VlanReserved => "vlan_reserved",
        /// A VLAN-tagged frame arrived on an access port.
        TaggedOnAccess => "tagged_on_access",
        /// A trunk received a VID outside its allowed set.
        VlanNotAllowed => "vlan_not_allowed",
        /// Untagged (or priority-tagged) frame on a trunk without a native VLAN.
        UntaggedNoNative => "untagged_no_native",
        /// The ingress port is not (or no longer) configured.
        PortUnknown => "port_unknown",
        /// The destination was learned on the ingress port itself.
        SamePort => "same_port",
        /// No port other than the ingress port may receive the frame.
        NoOutput => "no_output",
        /// Larger than the port's `max_frame_len` (a super-frame: one of its
        /// segments): on receipt, the ingress port's (counted rx); at
        /// output, an output port's after tagging (counted per port, tx).
        TooLarge => "too_large",
        /// A second encoding was needed but no spare frame was left; counted per port.
        NoSpareFrame => "no_spare_frame",
        /// The output port's transmit ring was full; counted per port.
        TxRingFull => "tx_ring_full",
        /// The hand-off ring to another worker was full; counted per port.
        HandoffFull => "handoff_full",
        /// The receive ring cut the frame short (longer than its slot).
        Truncated => "truncated",
        /// Offload metadata that does not fit the frame (bad checksum
        /// offsets, an unsupported or inconsistent segmentation), on receive
        /// or when segmenting for a port without offloads.
        BadOffload => "bad_offload",
        /// The output port's interface is down or gone (its transmit
        /// failed with ENETDOWN/ENXIO, or the link watcher saw it go);
        /// counted per port, the frame is not queued.
        LinkDown => "link_down",
        /// Over the port's traffic shaping limits (dataplane/engine/src/shaping.rs):
        /// on receipt (counted rx) or at output (counted per port, tx).
        Shaped => "shaped",
        /// Received on a mirror session's output port, which takes only
        /// copies (no learning, no forwarding).
        MirrorOutput => "mirror_output",
        /// The port rejects forged transmits and the frame's source is not
        /// the port's MAC.
        ForgedSource => "forged_source",
        /// The port rejects MAC changes and the unicast frame is for a MAC
        /// not the port's; counted per port (tx), or once (rx) when no
        /// other port was to get the frame.
        MacChange => "mac_change",
        /// The port is at its `max_macs` with `limit_policy = "drop"` and
        /// the frame's source is new to it.
        MacLimit => "mac_limit",
    }
}

counter_enum! {
    /// Engine events that are not drops.
    Event {
        /// Frames sent to one learned port (promiscuous copies included).
        Unicast => "unicast",
        /// Frames flooded (broadcast, multicast, unknown unicast).
        Flood => "flood",
        /// The part of `flood` that was unknown unicast.
        UnknownUnicast => "unknown_unicast",
        /// Extra copies made because output ports needed another encoding.
        EgressCopies => "egress_copies",
        /// New FDB entries learned.
        FdbLearned => "fdb_learned",
        /// A learned MAC moved to another port.
        FdbMoved => "fdb_moved",
        /// Learning refused: the table is full.
        FdbFull => "fdb_full",
        /// Learning skipped: another worker was inserting the same MAC.
        FdbRace => "fdb_race",
        /// Learning refused: the MAC is static on another port.
        FdbStaticConflict => "fdb_static_conflict",
        /// Frames handed to another worker's port.
        Handoff => "handoff",
        /// Partial checksums completed in software (frames from AF_XDP
        /// ports, or for ports that cannot take offload metadata).
        ChecksumCompleted => "csum_completed",
        /// Segments cut in software from super-frames for ports that cannot
        /// take them whole.
        SoftwareSegments => "sw_segments",
        /// The table was full: an entry of the port holding the most
        /// entries (never a static one) was evicted from the new MAC's
        /// buckets to make room for it.
        FdbEvicted => "fdb_evicted",
        /// Learning refused: the port is at its `max_macs` (frames dropped
        /// or forwarded by its `limit_policy`).
        FdbLimit => "fdb_limit",
        /// Learning refused: the port is held down by the MAC move guard.
        FdbHeldDown => "fdb_held_down",
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

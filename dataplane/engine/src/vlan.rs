//! Port VLAN semantics (OVS NORMAL / ESXi VST and VGT): which VLAN a
//! received frame belongs to, which VLANs a port carries, and whether a
//! VLAN leaves a port tagged.
//!
//! - access: untagged in and out in one VLAN; a priority tag (VID 0) is
//!   taken as untagged with its PCP kept; any other tag is dropped.
//! - trunk: tagged frames of the allowed VLANs keep tag and PCP; other VIDs
//!   drop; untagged or VID 0 frames join the native VLAN if set, else drop;
//!   the native VLAN is always allowed and leaves untagged.
//! - guest (ESXi "VLAN 4095", VGT): a trunk of every VLAN 1-4094.

use core::fmt;
use core::str::FromStr;

use crate::vocab::DropReason;
use crate::wire::{TagKind, Tci, VlanId};

/// A set of VLAN IDs (1..=4094) as a 4096-bit bitmap.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct VlanSet([u64; 64]);

impl VlanSet {
    /// No VLANs.
    pub const EMPTY: VlanSet = VlanSet([0; 64]);

    /// Every usable VLAN, 1..=4094.
    pub const fn all() -> VlanSet {
        let mut words = [u64::MAX; 64];
        words[0] &= !1; // VID 0
        words[63] &= !(1 << 63); // VID 4095
        VlanSet(words)
    }

    /// Whether `vlan` is in the set.
    #[inline]
    pub const fn contains(&self, vlan: VlanId) -> bool {
        let v = vlan.get() as usize;
        self.0[v / 64] & (1 << (v % 64)) != 0
    }

    /// Adds `vlan`.
    pub fn insert(&mut self, vlan: VlanId) {
        let v = vlan.get() as usize;
        self.0[v / 64] |= 1 << (v % 64);
    }

    /// Removes `vlan`.
    pub fn remove(&mut self, vlan: VlanId) {
        let v = vlan.get() as usize;
        self.0[v / 64] &= !(1 << (v % 64));
    }

    /// Number of VLANs.
    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// No VLANs.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }

    /// VLANs in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = VlanId> + '_ {
        (1..=4094u16)
            .filter_map(VlanId::new)
            .filter(|v| self.contains(*v))
    }

    /// Maximal runs `(first, last)` in ascending order.
    pub fn ranges(&self) -> Vec<(VlanId, VlanId)> {
        let mut out: Vec<(VlanId, VlanId)> = Vec::new();
        for v in self.iter() {
            match out.last_mut() {
                Some((_, last)) if last.get() + 1 == v.get() => *last = v,
                _ => out.push((v, v)),
            }
        }
        out
    }
}

impl Default for VlanSet {
    fn default() -> Self {
        VlanSet::EMPTY
    }
}

impl FromIterator<VlanId> for VlanSet {
    fn from_iter<I: IntoIterator<Item = VlanId>>(iter: I) -> VlanSet {
        let mut s = VlanSet::EMPTY;
        for v in iter {
            s.insert(v);
        }
        s
    }
}

/// Canonical range-string form, e.g. `10,20,100-199`; empty for no VLANs.
impl fmt::Display for VlanSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (a, b)) in self.ranges().into_iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if a == b {
                write!(f, "{a}")?;
            } else {
                write!(f, "{a}-{b}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for VlanSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VlanSet({self})")
    }
}

/// Why a VLAN range string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VlanSetParseError {
    /// The offending piece of the string.
    pub item: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl fmt::Display for VlanSetParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid VLAN list item {:?}: {} (expected e.g. \"10,20,100-199\" with VLANs 1-4094)",
            self.item, self.why
        )
    }
}

impl std::error::Error for VlanSetParseError {}

impl FromStr for VlanSet {
    type Err = VlanSetParseError;

    /// Parses `10,20,100-199` (spaces allowed around items). An empty or
    /// all-blank string is the empty set.
    fn from_str(s: &str) -> Result<VlanSet, VlanSetParseError> {
        let mut set = VlanSet::EMPTY;
        if s.trim().is_empty() {
            return Ok(set);
        }
        for raw in s.split(',') {
            let item = raw.trim();
            let err = |why| VlanSetParseError {
                item: item.to_string(),
                why,
            };
            let vid = |t: &str| -> Result<VlanId, VlanSetParseError> {
                // Digits only: `u32::from_str` would also take "+10".
                let t = t.trim();
                if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err("not a number or range"));
                }
                let n: u32 = t.parse().map_err(|_| err("VLAN IDs are 1-4094"))?;
                VlanId::try_from(n).map_err(|_| err("VLAN IDs are 1-4094"))
            };
            if item.is_empty() {
                return Err(err("empty item"));
            }
            let (first, last) = match item.split_once('-') {
                Some((a, b)) => (vid(a)?, vid(b)?),
                None => {
                    let v = vid(item)?;
                    (v, v)
                }
            };
            if first > last {
                return Err(err("range runs backwards"));
            }
            for v in first.get()..=last.get() {
                set.insert(VlanId::new(v).expect("inside a checked range"));
            }
        }
        Ok(set)
    }
}

/// A port's tagging mode.
// One per port, cloned only when the configuration changes: the 512-byte
// trunk bitmap inline costs nothing that matters and keeps lookups direct.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VlanMode {
    /// Untagged in and out, in one VLAN.
    Access(VlanId),
    /// Tagged VLANs from `allowed`, plus an optional untagged native VLAN.
    Trunk {
        /// VLANs accepted tagged (the native VLAN is allowed regardless).
        allowed: VlanSet,
        /// VLAN of untagged frames; `None` drops them.
        native: Option<VlanId>,
    },
    /// Every VLAN 1-4094 tagged (ESXi VGT), plus an optional native VLAN.
    Guest {
        /// VLAN of untagged frames; `None` drops them.
        native: Option<VlanId>,
    },
}

/// The VLAN a received frame was classified into, and the priority bits to
/// keep if it leaves tagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ingress {
    /// The frame's VLAN.
    pub vlan: VlanId,
    /// PCP and DEI of the received tag (0 when untagged), VID = `vlan`.
    pub tci: Tci,
}

impl VlanMode {
    /// The untagged VLAN: the access VLAN or the native VLAN.
    #[inline]
    pub fn native(&self) -> Option<VlanId> {
        match self {
            VlanMode::Access(v) => Some(*v),
            VlanMode::Trunk { native, .. } | VlanMode::Guest { native } => *native,
        }
    }

    /// Whether frames of `vlan` may enter and leave this port.
    #[inline]
    pub fn carries(&self, vlan: VlanId) -> bool {
        match self {
            VlanMode::Access(v) => *v == vlan,
            VlanMode::Trunk { allowed, native } => *native == Some(vlan) || allowed.contains(vlan),
            VlanMode::Guest { .. } => true,
        }
    }

    /// Whether `vlan` leaves this port with an 802.1Q tag. Only meaningful
    /// when the port [carries](Self::carries) `vlan`.
    #[inline]
    pub fn tags(&self, vlan: VlanId) -> bool {
        match self {
            VlanMode::Access(_) => false,
            VlanMode::Trunk { native, .. } | VlanMode::Guest { native } => *native != Some(vlan),
        }
    }

    /// Decides which VLAN a frame received with `tag` belongs to.
    #[inline]
    pub fn classify(&self, tag: TagKind) -> Result<Ingress, DropReason> {
        let (vid, prio) = match tag {
            TagKind::Untagged => (0, Tci(0)),
            TagKind::Priority(tci) => (0, tci),
            TagKind::Tagged(tci) => (tci.vid(), tci),
        };
        let vlan = if vid == 0 {
            self.native().ok_or(DropReason::UntaggedNoNative)?
        } else {
            if matches!(self, VlanMode::Access(_)) {
                return Err(DropReason::TaggedOnAccess);
            }
            let v = VlanId::new(vid).ok_or(DropReason::VlanReserved)?;
            if !self.carries(v) {
                return Err(DropReason::VlanNotAllowed);
            }
            v
        };
        Ok(Ingress {
            vlan,
            tci: prio.with_vid(vlan.get()),
        })
    }

    /// Every VLAN the port carries.
    pub fn carried(&self) -> VlanSet {
        match self {
            VlanMode::Access(v) => [*v].into_iter().collect(),
            VlanMode::Trunk { allowed, native } => {
                let mut s = allowed.clone();
                if let Some(n) = native {
                    s.insert(*n);
                }
                s
            }
            VlanMode::Guest { .. } => VlanSet::all(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(n: u16) -> VlanId {
        VlanId::new(n).unwrap()
    }

    #[test]
    fn range_strings() {
        let s: VlanSet = "10, 20,100-199".parse().unwrap();
        assert_eq!(s.len(), 102);
        assert_eq!(s.to_string(), "10,20,100-199");
        assert_eq!(VlanSet::all().to_string(), "1-4094");
        assert_eq!(VlanSet::all().len(), 4094);
        assert_eq!("".parse::<VlanSet>().unwrap(), VlanSet::EMPTY);
        assert_eq!("5-5".parse::<VlanSet>().unwrap().to_string(), "5");
        for bad in [
            "0", "4095", "10-5", "a", "10,,20", "1-", "-3", "1-2-3", "+10", "10-+20", "1_0",
        ] {
            assert!(bad.parse::<VlanSet>().is_err(), "{bad}");
        }
        let e = "10,4095".parse::<VlanSet>().unwrap_err();
        assert_eq!(e.item, "4095");
    }

    #[test]
    fn access_classification() {
        let m = VlanMode::Access(v(10));
        assert_eq!(m.classify(TagKind::Untagged).unwrap().vlan, v(10));
        let prio = m
            .classify(TagKind::Priority(Tci::new(6, false, 0)))
            .unwrap();
        assert_eq!(prio.tci, Tci::new(6, false, 10));
        assert_eq!(
            m.classify(TagKind::Tagged(Tci::new(0, false, 10))),
            Err(DropReason::TaggedOnAccess)
        );
        assert!(!m.tags(v(10)) && m.carries(v(10)) && !m.carries(v(11)));
    }

    #[test]
    fn trunk_classification() {
        let m = VlanMode::Trunk {
            allowed: "10,20".parse().unwrap(),
            native: Some(v(99)),
        };
        assert_eq!(m.classify(TagKind::Untagged).unwrap().vlan, v(99));
        let t = m.classify(TagKind::Tagged(Tci::new(3, true, 20))).unwrap();
        assert_eq!((t.vlan, t.tci), (v(20), Tci::new(3, true, 20)));
        // The native VLAN is allowed tagged too, and leaves untagged.
        assert_eq!(
            m.classify(TagKind::Tagged(Tci::new(0, false, 99)))
                .unwrap()
                .vlan,
            v(99)
        );
        assert!(!m.tags(v(99)) && m.tags(v(10)));
        assert_eq!(
            m.classify(TagKind::Tagged(Tci::new(0, false, 30))),
            Err(DropReason::VlanNotAllowed)
        );
        assert_eq!(
            m.classify(TagKind::Tagged(Tci::new(0, false, 4095))),
            Err(DropReason::VlanReserved)
        );
        let no_native = VlanMode::Trunk {
            allowed: VlanSet::all(),
            native: None,
        };
        assert_eq!(
            no_native.classify(TagKind::Untagged),
            Err(DropReason::UntaggedNoNative)
        );
        assert_eq!(
            no_native.classify(TagKind::Priority(Tci(0))),
            Err(DropReason::UntaggedNoNative)
        );
    }

    #[test]
    fn guest_carries_everything() {
        let m = VlanMode::Guest { native: None };
        assert!(m.carries(v(1)) && m.carries(v(4094)) && m.tags(v(7)));
        assert_eq!(m.carried().len(), 4094);
        assert_eq!(
            m.classify(TagKind::Tagged(Tci::new(1, false, 4094)))
                .unwrap()
                .vlan,
            v(4094)
        );
    }
}

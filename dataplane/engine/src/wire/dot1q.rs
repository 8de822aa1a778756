//! 802.1Q tag fields: VLAN IDs and the tag control information word.

use core::fmt;

/// A usable VLAN ID, 1..=4094. 0 means "priority tag, no VLAN" and 4095 is
/// reserved, so neither can be held here.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VlanId(u16);

/// A number outside 1..=4094 was given as a VLAN ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VlanIdError(pub i64);

impl fmt::Display for VlanIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VLAN {} is out of range: VLAN IDs are 1-4094", self.0)
    }
}

impl std::error::Error for VlanIdError {}

impl VlanId {
    /// Lowest usable VLAN.
    pub const MIN: VlanId = VlanId(1);
    /// Highest usable VLAN.
    pub const MAX: VlanId = VlanId(4094);

    /// `Some` for 1..=4094.
    #[inline]
    pub const fn new(vid: u16) -> Option<VlanId> {
        if vid >= 1 && vid <= 4094 {
            Some(VlanId(vid))
        } else {
            None
        }
    }

    /// The numeric ID.
    #[inline]
    pub const fn get(self) -> u16 {
        self.0
    }
}

impl TryFrom<u32> for VlanId {
    type Error = VlanIdError;
    fn try_from(v: u32) -> Result<VlanId, VlanIdError> {
        u16::try_from(v)
            .ok()
            .and_then(VlanId::new)
            .ok_or(VlanIdError(v.into()))
    }
}

impl TryFrom<i64> for VlanId {
    type Error = VlanIdError;
    fn try_from(v: i64) -> Result<VlanId, VlanIdError> {
        // The error names the value as given (a clamp made -1 read as
        // 4294967295).
        u32::try_from(v)
            .ok()
            .and_then(|v| VlanId::try_from(v).ok())
            .ok_or(VlanIdError(v))
    }
}

impl fmt::Display for VlanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for VlanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VlanId({})", self.0)
    }
}

/// Tag control information: PCP (3 bits), DEI (1 bit), VID (12 bits).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Tci(pub u16);

impl Tci {
    const VID_MASK: u16 = 0x0fff;

    /// Builds a TCI from its fields; `pcp` is masked to 3 bits.
    #[inline]
    pub const fn new(pcp: u8, dei: bool, vid: u16) -> Tci {
        Tci(((pcp as u16 & 7) << 13) | ((dei as u16) << 12) | (vid & Self::VID_MASK))
    }

    /// Priority code point (802.1p), 0..=7.
    #[inline]
    pub const fn pcp(self) -> u8 {
        (self.0 >> 13) as u8
    }

    /// Drop eligible indicator.
    #[inline]
    pub const fn dei(self) -> bool {
        self.0 & 0x1000 != 0
    }

    /// The raw 12-bit VID, 0 and 4095 included.
    #[inline]
    pub const fn vid(self) -> u16 {
        self.0 & Self::VID_MASK
    }

    /// The same PCP and DEI with another VID.
    #[inline]
    pub const fn with_vid(self, vid: u16) -> Tci {
        Tci((self.0 & !Self::VID_MASK) | (vid & Self::VID_MASK))
    }
}

impl fmt::Debug for Tci {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Tci(pcp={}, dei={}, vid={})",
            self.pcp(),
            self.dei() as u8,
            self.vid()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vlan_range() {
        assert!(VlanId::new(0).is_none());
        assert!(VlanId::new(4095).is_none());
        assert_eq!(VlanId::new(1), Some(VlanId::MIN));
        assert_eq!(VlanId::new(4094), Some(VlanId::MAX));
        assert_eq!(VlanId::try_from(70000u32), Err(VlanIdError(70000)));
        assert!(VlanId::try_from(-1i64).is_err());
    }

    #[test]
    fn tci_fields() {
        let t = Tci(0xb00a); // pcp 5, dei 1, vid 10
        assert_eq!((t.pcp(), t.dei(), t.vid()), (5, true, 10));
        assert_eq!(Tci::new(5, true, 10), t);
        assert_eq!(t.with_vid(4094).0, 0xbffe);
    }
}

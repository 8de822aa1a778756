//! 48-bit MAC addresses.

use core::fmt;
use core::str::FromStr;

/// A 48-bit Ethernet address, kept as the low 48 bits of a `u64` with the
/// first octet most significant: parsing loads it with one 8-byte read, and
/// the FDB keys on it directly.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Mac(u64);

const MAC_MASK: u64 = (1 << 48) - 1;

impl Mac {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: Mac = Mac(MAC_MASK);
    /// 00:00:00:00:00:00, never a valid source.
    pub const ZERO: Mac = Mac(0);

    /// From the six octets in wire order.
    #[inline]
    pub const fn new(b: [u8; 6]) -> Mac {
        Mac(u64::from_be_bytes([
            0, 0, b[0], b[1], b[2], b[3], b[4], b[5],
        ]))
    }

    /// The six octets in wire order.
    #[inline]
    pub const fn octets(self) -> [u8; 6] {
        let b = self.0.to_be_bytes();
        [b[2], b[3], b[4], b[5], b[6], b[7]]
    }

    /// The address as the low 48 bits of a `u64`.
    #[inline]
    pub const fn to_u64(self) -> u64 {
        self.0
    }

    /// Inverse of [`Mac::to_u64`]; bits above 48 are ignored.
    #[inline]
    pub const fn from_u64(v: u64) -> Mac {
        Mac(v & MAC_MASK)
    }

    /// Group (multicast or broadcast) address: I/G bit of the first octet.
    #[inline]
    pub const fn is_group(self) -> bool {
        (self.0 >> 40) & 1 == 1
    }

    /// The all-ones broadcast address.
    #[inline]
    pub const fn is_broadcast(self) -> bool {
        self.0 == MAC_MASK
    }

    /// A group address other than broadcast.
    #[inline]
    pub const fn is_multicast(self) -> bool {
        self.is_group() && !self.is_broadcast()
    }

    /// An individual (unicast) address, zero included.
    #[inline]
    pub const fn is_unicast(self) -> bool {
        !self.is_group()
    }

    /// The all-zero address.
    #[inline]
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Whether a frame from this source may be learned: individual and not
    /// zero (802.1D and OVS refuse to learn group or zero sources).
    #[inline]
    pub const fn is_learnable(self) -> bool {
        self.is_unicast() && !self.is_zero()
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.octets();
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a string is not a MAC address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacParseError(String);

impl fmt::Display for MacParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid MAC address {:?}: expected six hex octets like 02:00:00:00:00:01",
            self.0
        )
    }
}

impl std::error::Error for MacParseError {}

impl FromStr for Mac {
    type Err = MacParseError;

    /// Accepts `aa:bb:cc:dd:ee:ff` and `aa-bb-cc-dd-ee-ff`, any case.
    fn from_str(s: &str) -> Result<Mac, MacParseError> {
        let err = || MacParseError(s.to_string());
        let sep = if s.contains('-') { '-' } else { ':' };
        let mut out = [0u8; 6];
        let mut parts = s.split(sep);
        for byte in &mut out {
            let part = parts.next().ok_or_else(err)?;
            if part.len() != 2 {
                return Err(err());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(Mac::new(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert!(Mac::BROADCAST.is_broadcast() && Mac::BROADCAST.is_group());
        assert!(!Mac::BROADCAST.is_multicast());
        let mcast: Mac = "01:00:5e:00:00:01".parse().unwrap();
        assert!(mcast.is_multicast() && !mcast.is_learnable());
        let uni: Mac = "02:00:00:00:00:01".parse().unwrap();
        assert!(uni.is_unicast() && uni.is_learnable());
        assert!(Mac::ZERO.is_unicast() && !Mac::ZERO.is_learnable());
    }

    #[test]
    fn text_round_trip() {
        let m: Mac = "AA-bb-0C-dd-ee-0F".parse().unwrap();
        assert_eq!(m.to_string(), "aa:bb:0c:dd:ee:0f");
        assert_eq!(Mac::from_u64(m.to_u64()), m);
        assert_eq!(m.to_u64(), 0xaabb_0cdd_ee0f);
        assert_eq!(m.octets(), [0xaa, 0xbb, 0x0c, 0xdd, 0xee, 0x0f]);
        assert_eq!(Mac::new(m.octets()), m);
        for bad in [
            "",
            "aa:bb",
            "aa:bb:cc:dd:ee:ff:00",
            "aa:bb:cc:dd:ee:f",
            "gg:bb:cc:dd:ee:ff",
        ] {
            assert!(bad.parse::<Mac>().is_err(), "{bad}");
        }
    }
}

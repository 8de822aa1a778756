//! Ethernet II frames with an optional 802.1Q tag.

use super::{Mac, Tci};
use crate::vocab::DropReason;

/// Field offsets, the only place they are written down (the in-place tag
/// rewrites in `frame.rs` use them too).
pub(crate) mod field {
    use core::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const HEADER_LEN: usize = 14;
    // Present only when ETHERTYPE is 0x8100.
    pub const TCI: Range<usize> = 14..16;
    pub const INNER_ETHERTYPE: Range<usize> = 16..18;
    pub const TAGGED_HEADER_LEN: usize = 18;
}

/// TPID of an 802.1Q (customer) tag.
pub const TPID_8021Q: u16 = 0x8100;
/// TPID of an 802.1ad (service, QinQ outer) tag.
pub const TPID_8021AD: u16 = 0x88a8;

/// Length of an untagged Ethernet header.
pub const HEADER_LEN: usize = field::HEADER_LEN;
/// Length of an 802.1Q-tagged Ethernet header.
pub const TAGGED_HEADER_LEN: usize = field::TAGGED_HEADER_LEN;

/// An EtherType. Unknown values are kept, never rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EtherType {
    /// 0x0800
    Ipv4,
    /// 0x0806
    Arp,
    /// 0x86dd
    Ipv6,
    /// 0x8100: an 802.1Q customer tag follows.
    Vlan,
    /// 0x88a8: an 802.1ad service (QinQ outer) tag follows.
    QinQ,
    /// Anything else.
    Unknown(u16),
}

impl From<u16> for EtherType {
    #[inline]
    fn from(v: u16) -> EtherType {
        match v {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            0x86dd => EtherType::Ipv6,
            TPID_8021Q => EtherType::Vlan,
            TPID_8021AD => EtherType::QinQ,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    #[inline]
    fn from(v: EtherType) -> u16 {
        match v {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Ipv6 => 0x86dd,
            EtherType::Vlan => TPID_8021Q,
            EtherType::QinQ => TPID_8021AD,
            EtherType::Unknown(other) => other,
        }
    }
}

/// A read (and, for `AsMut` buffers, write) view of an Ethernet frame.
///
/// [`EthernetFrame::new_checked`] guarantees the header, and the 802.1Q tag
/// when the EtherType announces one, lie inside the buffer; accessors after
/// that cannot fail.
#[derive(Debug, Clone)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps `buffer` after checking its length: a runt (shorter than a
    /// header) or a truncated 802.1Q tag is a drop reason. 802.1ad outer
    /// tags are accepted here; the pipeline decides what to do with them.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        let len = buffer.as_ref().len();
        if len < field::HEADER_LEN {
            return Err(DropReason::Runt);
        }
        let frame = EthernetFrame { buffer };
        if frame.ethertype() == EtherType::Vlan && len < field::TAGGED_HEADER_LEN {
            return Err(DropReason::TruncatedVlanTag);
        }
        Ok(frame)
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    #[inline]
    fn read_u16(&self, range: core::ops::Range<usize>) -> u16 {
        let b = &self.bytes()[range];
        u16::from_be_bytes([b[0], b[1]])
    }

    #[inline]
    fn read_mac(&self, range: core::ops::Range<usize>) -> Mac {
        let b = &self.bytes()[range];
        Mac::new([b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    /// Destination address.
    #[inline]
    pub fn dst(&self) -> Mac {
        self.read_mac(field::DST)
    }

    /// Source address.
    #[inline]
    pub fn src(&self) -> Mac {
        self.read_mac(field::SRC)
    }

    /// The outer EtherType (0x8100 for a tagged frame).
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(self.read_u16(field::ETHERTYPE))
    }

    /// Whether an 802.1Q tag follows the addresses.
    #[inline]
    pub fn is_tagged(&self) -> bool {
        self.ethertype() == EtherType::Vlan
    }

    /// The 802.1Q tag's TCI, `None` for an untagged frame.
    #[inline]
    pub fn tci(&self) -> Option<Tci> {
        self.is_tagged().then(|| Tci(self.read_u16(field::TCI)))
    }

    /// The EtherType of the payload: after the tag for a tagged frame.
    pub fn inner_ethertype(&self) -> EtherType {
        if self.is_tagged() {
            EtherType::from(self.read_u16(field::INNER_ETHERTYPE))
        } else {
            self.ethertype()
        }
    }

    /// Header length: 14, or 18 with a tag.
    pub fn header_len(&self) -> usize {
        if self.is_tagged() {
            field::TAGGED_HEADER_LEN
        } else {
            field::HEADER_LEN
        }
    }

    /// Destination, source and tag, as the pipeline reads them for every
    /// frame. An 802.1ad outer tag is a drop reason here (QinQ is not
    /// switched yet).
    #[inline]
    pub fn l2_header(&self) -> Result<L2Header, DropReason> {
        EthernetFrame::<&[u8]>::read_l2_header(self.bytes())
    }
}

impl<'a> EthernetFrame<&'a [u8]> {
    /// [`EthernetFrame::new_checked`] and [`EthernetFrame::l2_header`] in
    /// one pass, for the packet path: the same checks and verdicts, two
    /// overlapping 8-byte loads for both addresses and the EtherType, the
    /// tag read only when there is one.
    #[inline]
    pub fn read_l2_header(bytes: &'a [u8]) -> Result<L2Header, DropReason> {
        let Some(head) = bytes.get(..field::HEADER_LEN) else {
            return Err(DropReason::Runt);
        };
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&head[at..at + 8]);
            u64::from_be_bytes(w)
        };
        let dst = word(field::DST.start);
        // The source's six bytes and the EtherType's two.
        let src_type = word(field::SRC.start);
        let tag = match src_type as u16 {
            TPID_8021Q => {
                let Some(t) = bytes.get(field::TCI) else {
                    return Err(DropReason::TruncatedVlanTag);
                };
                if bytes.len() < field::TAGGED_HEADER_LEN {
                    return Err(DropReason::TruncatedVlanTag);
                }
                let tci = Tci(u16::from_be_bytes([t[0], t[1]]));
                if tci.vid() == 0 {
                    TagKind::Priority(tci)
                } else {
                    TagKind::Tagged(tci)
                }
            }
            TPID_8021AD => return Err(DropReason::QinQ),
            _ => TagKind::Untagged,
        };
        Ok(L2Header {
            dst: Mac::from_u64(dst >> 16),
            src: Mac::from_u64(src_type >> 16),
            tag,
        })
    }
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Bytes after the (tagged) header.
    pub fn payload(&self) -> &[u8] {
        &self.bytes()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination address.
    pub fn set_dst(&mut self, mac: Mac) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&mac.octets());
    }

    /// Sets the source address.
    pub fn set_src(&mut self, mac: Mac) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&mac.octets());
    }

    /// Sets the TCI of a tagged frame; does nothing on an untagged one.
    pub fn set_tci(&mut self, tci: Tci) {
        if self.is_tagged() {
            self.buffer.as_mut()[field::TCI].copy_from_slice(&tci.0.to_be_bytes());
        }
    }
}

/// How the outer tag of a received frame looked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagKind {
    /// No 802.1Q tag.
    Untagged,
    /// A tag with VID 0: priority only, no VLAN.
    Priority(Tci),
    /// A tag with a VID (1..=4095; 4095 is rejected by classification).
    Tagged(Tci),
}

/// What the pipeline needs from a frame's header, read in one pass
/// ([`EthernetFrame::l2_header`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L2Header {
    /// Destination address.
    pub dst: Mac,
    /// Source address.
    pub src: Mac,
    /// The 802.1Q tag, if any.
    pub tag: TagKind,
}

#[cfg(test)]
mod tests {
    use super::*;

    // ARP request from 02:00:00:00:00:01, tagged VLAN 10 PCP 5, as captured.
    const TAGGED_ARP: [u8; 22] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src
        0x81, 0x00, 0xa0, 0x0a, // 802.1Q, pcp 5, vid 10
        0x08, 0x06, // ARP
        0x00, 0x01, 0x08, 0x00, // start of ARP payload
    ];

    #[test]
    fn tagged_fields() {
        let f = EthernetFrame::new_checked(&TAGGED_ARP[..]).unwrap();
        assert!(f.dst().is_broadcast());
        assert_eq!(f.src().to_string(), "02:00:00:00:00:01");
        assert_eq!(f.ethertype(), EtherType::Vlan);
        assert_eq!(f.tci(), Some(Tci::new(5, false, 10)));
        assert_eq!(f.inner_ethertype(), EtherType::Arp);
        assert_eq!(f.payload(), &[0x00, 0x01, 0x08, 0x00]);
    }

    #[test]
    fn setters_write_exact_bytes() {
        let mut buf = TAGGED_ARP;
        let mut f = EthernetFrame::new_checked(&mut buf[..]).unwrap();
        f.set_tci(Tci::new(1, true, 4094));
        f.set_dst("02:00:00:00:00:02".parse().unwrap());
        assert_eq!(
            &buf[..16],
            &[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x81, 0, 0x3f, 0xfe]
        );
    }

    /// Both ways of reading a header must agree.
    fn parse(b: &[u8]) -> Result<L2Header, DropReason> {
        let fast = EthernetFrame::read_l2_header(b);
        let checked = EthernetFrame::new_checked(b).and_then(|f| f.l2_header());
        assert_eq!(fast, checked);
        fast
    }

    #[test]
    fn short_and_odd_frames() {
        assert_eq!(parse(&[]), Err(DropReason::Runt));
        assert_eq!(parse(&TAGGED_ARP[..13]), Err(DropReason::Runt));
        for len in 14..18 {
            assert_eq!(parse(&TAGGED_ARP[..len]), Err(DropReason::TruncatedVlanTag));
        }
        let mut qinq = TAGGED_ARP;
        qinq[12..14].copy_from_slice(&[0x88, 0xa8]);
        assert_eq!(parse(&qinq), Err(DropReason::QinQ));
        let mut unknown = TAGGED_ARP;
        unknown[12..14].copy_from_slice(&[0x12, 0x34]);
        let h = parse(&unknown[..14]).unwrap();
        assert_eq!(h.tag, TagKind::Untagged);
        assert_eq!(
            EthernetFrame::new_checked(&unknown[..])
                .unwrap()
                .ethertype(),
            EtherType::Unknown(0x1234)
        );
    }

    #[test]
    fn priority_tag_is_not_a_vlan() {
        let mut prio = TAGGED_ARP;
        prio[14..16].copy_from_slice(&[0xe0, 0x00]); // pcp 7, vid 0
        let h = parse(&prio).unwrap();
        assert_eq!(h.tag, TagKind::Priority(Tci::new(7, false, 0)));
    }
}

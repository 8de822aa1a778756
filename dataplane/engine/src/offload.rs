//! Offload metadata (checksum and segmentation offload) carried by frames,
//! and the software fallbacks used when an output port cannot carry it.
//!
//! Linux packet sockets with `PACKET_VNET_HDR` and taps with `IFF_VNET_HDR`
//! prefix every frame with a `struct virtio_net_hdr`
//! (include/uapi/linux/virtio_net.h). With the senders' default offloads a
//! frame may be a TCP (or UDP) "super-frame" of up to ~64 KiB that still has
//! to be cut into `gso_size` pieces, and/or carry a *partial* L4 checksum:
//! the checksum field holds the pseudo-header sum and the sum over
//! `csum_start..end` still has to be folded in.
//!
//! The switch keeps that metadata as an [`Offload`] next to the frame. To a
//! port that understands the header, [`Offload::to_vnet`] re-emits it and the
//! frame goes out untouched. To a port that cannot (AF_XDP),
//! [`complete_checksum`] finishes a partial checksum in place and
//! [`Segmenter`] / [`segment`] perform GSO in software, writing each segment
//! straight into the caller's transmit buffers.
//!
//! Nothing here allocates or makes system calls.

use core::fmt;

// Ethernet offsets and TPIDs are the wire module's (written down once).
const ETH_HLEN: usize = crate::wire::HEADER_LEN;
const VLAN_HLEN: usize = crate::limits::VLAN_TAG_LEN;
const ETH_P_8021Q: u16 = crate::wire::TPID_8021Q;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
/// IPv6 fixed header length (RFC 8200).
const IPV6_HLEN: usize = 40;
/// IP protocol number for TCP.
const IPPROTO_TCP: u8 = 6;
/// IP protocol number for UDP.
const IPPROTO_UDP: u8 = 17;
/// UDP header length (RFC 768).
const UDP_HLEN: usize = 8;
/// Offset of the checksum within a TCP header (RFC 9293).
const TCP_CSUM_OFFSET: u16 = 16;
/// Offset of the checksum within a UDP header (RFC 768).
const UDP_CSUM_OFFSET: u16 = 6;
// TCP flags (RFC 9293 section 3.1). FIN and PSH stay on the last segment
// of a super-frame only: they belong to the end of the data.
/// TCP FIN flag.
const TCP_FIN: u8 = 0x01;
/// TCP PSH flag.
const TCP_PSH: u8 = 0x08;
/// TCP flag that only the first segment may keep (RFC 3168 section 6.1.2:
/// CWR is sent once per window reduction).
const TCP_CWR: u8 = 0x80;

/// The `struct virtio_net_hdr` that precedes each frame on a packet socket
/// with `PACKET_VNET_HDR` or a tap with `IFF_VNET_HDR`
/// (include/uapi/linux/virtio_net.h).
///
/// Multi-byte fields are in native byte order: that is what packet sockets
/// use, and what taps use unless told otherwise with `TUNSETVNETLE`/`BE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VnetHeader {
    /// `VIRTIO_NET_HDR_F_*` bits.
    pub flags: u8,
    /// `VIRTIO_NET_HDR_GSO_*` type, possibly or-ed with [`Self::GSO_ECN`].
    pub gso_type: u8,
    /// Length of the headers in front of the payload, as claimed by the
    /// sender (only a hint; the kernel does not trust it either).
    pub hdr_len: u16,
    /// Payload bytes per segment (the MSS for TCP).
    pub gso_size: u16,
    /// Where checksumming starts, counted from the frame's first byte.
    pub csum_start: u16,
    /// Where the checksum goes, counted from `csum_start`.
    pub csum_offset: u16,
}

impl VnetHeader {
    /// Size of the header on the wire.
    pub const LEN: usize = 10;
    /// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the L4 checksum is partial.
    pub const F_NEEDS_CSUM: u8 = 1;
    /// `VIRTIO_NET_HDR_F_DATA_VALID`: the checksums were already verified.
    pub const F_DATA_VALID: u8 = 2;
    /// `VIRTIO_NET_HDR_GSO_NONE`: no segmentation.
    pub const GSO_NONE: u8 = 0;
    /// `VIRTIO_NET_HDR_GSO_TCPV4`: TCP over IPv4 segmentation.
    pub const GSO_TCPV4: u8 = 1;
    /// `VIRTIO_NET_HDR_GSO_UDP`: UDP fragmentation offload (UFO); refused.
    pub const GSO_UDP: u8 = 3;
    /// `VIRTIO_NET_HDR_GSO_TCPV6`: TCP over IPv6 segmentation.
    pub const GSO_TCPV6: u8 = 4;
    /// `VIRTIO_NET_HDR_GSO_UDP_L4`: UDP segmentation (one datagram each).
    pub const GSO_UDP_L4: u8 = 5;
    /// `VIRTIO_NET_HDR_GSO_ECN`: the TCP super-frame carries CWR.
    pub const GSO_ECN: u8 = 0x80;

    /// Decodes the header from the first [`Self::LEN`] bytes of `bytes`;
    /// `None` if there are fewer.
    #[must_use]
    pub fn parse(bytes: &[u8]) -> Option<VnetHeader> {
        let b: &[u8; Self::LEN] = bytes.get(..Self::LEN)?.try_into().ok()?;
        let u16_at = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        Some(VnetHeader {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u16_at(2),
            gso_size: u16_at(4),
            csum_start: u16_at(6),
            csum_offset: u16_at(8),
        })
    }

    /// Encodes the header into `out`.
    pub fn write(&self, out: &mut [u8; Self::LEN]) {
        out[0] = self.flags;
        out[1] = self.gso_type;
        out[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        out[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        out[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        out[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
    }
}

/// Offload metadata a frame carries; `Offload::default()` (= NONE) for a plain frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offload {
    /// The L4 checksum is partial (VIRTIO_NET_HDR_F_NEEDS_CSUM).
    pub csum: Option<PartialCsum>,
    /// The sender vouches for the checksums (VIRTIO_NET_HDR_F_DATA_VALID).
    pub csum_valid: bool,
    /// Segmentation still to be done.
    pub gso: Option<Gso>,
}

/// A partial checksum: the 16-bit field at `start + offset` holds the
/// pseudo-header sum, and the Internet checksum over `start..` (field
/// included) still has to be folded into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialCsum {
    /// Where checksumming starts, counted from the frame's first byte.
    pub start: u16,
    /// Where the checksum field is, counted from `start`.
    pub offset: u16,
}

/// Segmentation still to be done on a super-frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gso {
    /// What kind of segmentation.
    pub kind: GsoKind,
    /// Payload bytes per segment (the MSS for TCP); never 0.
    pub size: u16,
    /// Bytes of headers (Ethernet through L4, VLAN tag included) in front of
    /// the payload, as measured in the frame, not as claimed by the sender.
    pub hdr_len: u16,
    /// The sender set `VIRTIO_NET_HDR_GSO_ECN` (the super-frame carries CWR).
    pub ecn: bool,
}

/// The segmentation kinds the switch can carry and perform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GsoKind {
    /// TCP over IPv4 (`VIRTIO_NET_HDR_GSO_TCPV4`).
    TcpV4,
    /// TCP over IPv6 (`VIRTIO_NET_HDR_GSO_TCPV6`).
    TcpV6,
    /// UDP over IPv4 or IPv6, one datagram per segment
    /// (`VIRTIO_NET_HDR_GSO_UDP_L4`).
    UdpL4,
}

/// Why a frame's offload metadata was refused; each maps to a drop counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffloadError {
    /// The partial checksum field lies outside the frame, or (with GSO) is
    /// not the L4 header's checksum field.
    BadChecksumOffsets,
    /// The GSO metadata does not fit the frame: unparsable headers, a kind
    /// that does not match the IP version / L4 protocol, `gso_size` 0, or
    /// segments too long for the IP length fields.
    BadGso,
    /// A GSO type the switch does not do: UFO (`VIRTIO_NET_HDR_GSO_UDP`,
    /// never re-segmented into IP fragments), unknown types, or IPv6 with
    /// extension headers.
    UnsupportedGso,
    /// A finished segment (or the frame itself) is larger than the output
    /// buffer.
    SegmentTooLarge,
}

impl OffloadError {
    /// A short snake_case name, suitable as a counter name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            OffloadError::BadChecksumOffsets => "bad_csum_offsets",
            OffloadError::BadGso => "bad_gso",
            OffloadError::UnsupportedGso => "unsupported_gso",
            OffloadError::SegmentTooLarge => "segment_too_large",
        }
    }
}

impl fmt::Display for OffloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OffloadError::BadChecksumOffsets => "partial checksum offsets do not fit the frame",
            OffloadError::BadGso => "segmentation metadata does not fit the frame",
            OffloadError::UnsupportedGso => "unsupported segmentation type",
            OffloadError::SegmentTooLarge => "segment larger than the output buffer",
        })
    }
}

impl std::error::Error for OffloadError {}

impl Offload {
    /// A plain frame: nothing partial, nothing to segment.
    pub const NONE: Offload = Offload {
        csum: None,
        csum_valid: false,
        gso: None,
    };

    /// Validates a received `virtio_net_hdr` against the frame it came with.
    ///
    /// The sender's `hdr_len` is ignored; with GSO the headers are parsed to
    /// measure it (Ethernet with at most one 802.1Q tag, IPv4 or IPv6 without
    /// extension headers, TCP or UDP). Unknown flag bits are ignored, as the
    /// kernel does.
    pub fn from_vnet(hdr: &VnetHeader, frame: &[u8]) -> Result<Offload, OffloadError> {
        let csum = if hdr.flags & VnetHeader::F_NEEDS_CSUM != 0 {
            let c = PartialCsum {
                start: hdr.csum_start,
                offset: hdr.csum_offset,
            };
            if c.field() + 2 > frame.len() {
                return Err(OffloadError::BadChecksumOffsets);
            }
            Some(c)
        } else {
            None
        };
        let gso = if hdr.gso_type == VnetHeader::GSO_NONE {
            None
        } else {
            let kind = match hdr.gso_type & !VnetHeader::GSO_ECN {
                VnetHeader::GSO_TCPV4 => GsoKind::TcpV4,
                VnetHeader::GSO_TCPV6 => GsoKind::TcpV6,
                VnetHeader::GSO_UDP_L4 => GsoKind::UdpL4,
                // ECN alone names no segmentation; the kernel refuses it too.
                VnetHeader::GSO_NONE => return Err(OffloadError::BadGso),
                _ => return Err(OffloadError::UnsupportedGso),
            };
            let l = gso_layout(frame, kind, hdr.gso_size)?;
            // A GSO frame's partial checksum must be its L4 checksum: that is
            // what the kernel produces, and what a receiving kernel will
            // assume when the frame is forwarded with its header.
            if let Some(c) = csum {
                let want = if l.tcp {
                    TCP_CSUM_OFFSET
                } else {
                    UDP_CSUM_OFFSET
                };
                if usize::from(c.start) != l.l4 || c.offset != want {
                    return Err(OffloadError::BadChecksumOffsets);
                }
            }
            Some(Gso {
                kind,
                size: hdr.gso_size,
                // gso_layout bounds the headers well below 64 KiB.
                hdr_len: l.hdr_len as u16,
                ecn: hdr.gso_type & VnetHeader::GSO_ECN != 0,
            })
        };
        Ok(Offload {
            csum,
            csum_valid: hdr.flags & VnetHeader::F_DATA_VALID != 0,
            gso,
        })
    }

    /// The `virtio_net_hdr` to emit in front of the frame on a port that
    /// takes offload metadata.
    ///
    /// Without GSO `hdr_len` is 0: packet sockets derive what they need from
    /// `csum_start + csum_offset + 2`.
    #[must_use]
    pub fn to_vnet(&self) -> VnetHeader {
        let mut h = VnetHeader::default();
        if let Some(c) = self.csum {
            h.flags |= VnetHeader::F_NEEDS_CSUM;
            h.csum_start = c.start;
            h.csum_offset = c.offset;
        }
        if self.csum_valid {
            h.flags |= VnetHeader::F_DATA_VALID;
        }
        if let Some(g) = self.gso {
            h.gso_type = match g.kind {
                GsoKind::TcpV4 => VnetHeader::GSO_TCPV4,
                GsoKind::TcpV6 => VnetHeader::GSO_TCPV6,
                GsoKind::UdpL4 => VnetHeader::GSO_UDP_L4,
            };
            if g.ecn {
                h.gso_type |= VnetHeader::GSO_ECN;
            }
            h.gso_size = g.size;
            h.hdr_len = g.hdr_len;
        }
        h
    }

    /// Adjusts the offsets after `delta` bytes were inserted (positive) or
    /// removed (negative) in front of the L3 header: +4 when an 802.1Q tag
    /// is pushed, -4 when one is popped.
    ///
    /// Offsets are clamped to `0..=u16::MAX`; a correct caller never gets
    /// there, since it only pops a tag that is in front of `start`.
    pub fn shift(&mut self, delta: isize) {
        let moved = |v: u16| -> u16 {
            let n = (v as isize).saturating_add(delta);
            debug_assert!((0..=u16::MAX as isize).contains(&n), "offset {n}");
            n.clamp(0, u16::MAX as isize) as u16
        };
        if let Some(c) = &mut self.csum {
            c.start = moved(c.start);
        }
        if let Some(g) = &mut self.gso {
            g.hdr_len = moved(g.hdr_len);
        }
    }

    /// The largest frame that will hit the wire once segmented: the headers
    /// plus one `size` of payload, capped at `frame_len`; `frame_len` when
    /// there is nothing to segment. Use it to check an output port's MTU or
    /// buffer size.
    #[must_use]
    pub fn wire_len(&self, frame_len: usize) -> usize {
        match self.gso {
            Some(g) => frame_len.min(usize::from(g.hdr_len) + usize::from(g.size)),
            None => frame_len,
        }
    }
}

impl PartialCsum {
    /// Offset of the checksum field from the frame's first byte.
    fn field(self) -> usize {
        usize::from(self.start) + usize::from(self.offset)
    }
}

/// Completes a partial checksum in place: folds the Internet checksum
/// (RFC 1071) over `frame[csum.start..]`, which includes the field at
/// `csum.start + csum.offset` holding the sender's pseudo-header sum, and
/// stores its complement in that field.
///
/// A result of 0 is stored as 0xffff, as Linux's `skb_checksum_help` does:
/// UDP needs it because 0 means "no checksum" (RFC 768), and for every other
/// Internet checksum the two are the same value in ones' complement, so a
/// receiver that verifies by summing accepts either (RFC 1624 section 3).
/// That is why the caller need not say whether the field is UDP's.
///
/// Returns `false`, leaving the frame untouched, if the field does not fit
/// in the frame.
pub fn complete_checksum(frame: &mut [u8], csum: PartialCsum) -> bool {
    let field = csum.field();
    if field + 2 > frame.len() {
        return false;
    }
    let sum = ones_sum(&frame[usize::from(csum.start)..]);
    put16(frame, field, finish(u32::from(sum)));
    true
}

/// What [`repair_partial_checksum`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    /// Not TCP or UDP over IPv4/IPv6 (or lengths that do not add up):
    /// left alone.
    NotL4,
    /// The checksum field did not hold a partial checksum: left alone (a
    /// corrupt frame stays corrupt, for the receiver to drop).
    Untouched,
    /// The field held the pseudo-header sum a sender leaves for checksum
    /// offload; the checksum was completed.
    Completed,
}

/// [`repair_partial_checksum`] for a frame in several buffers (a
/// multi-buffer AF_XDP frame): `head` holds every header, `frags` the
/// rest of the frame in order. The sum runs over the pieces as they lie,
/// no copy; a piece that starts at an odd offset of the L4 data adds its
/// sum byte-swapped (RFC 1071: the sum does not depend on byte order).
pub fn repair_partial_checksum_frags(head: &mut [u8], frags: &[&[u8]]) -> Repair {
    if frags.is_empty() {
        return repair_partial_checksum(head);
    }
    let total = head.len() + frags.iter().map(|f| f.len()).sum::<usize>();
    let (l, end, field, pseudo) = match partial_field(head, total) {
        Ok(found) => found,
        Err(verdict) => return verdict,
    };
    // The L4 extent only: Ethernet padding is not part of the checksum.
    let mut left = end - l.l4;
    let mut at = 0usize;
    let mut sum = 0u32;
    for piece in core::iter::once(&head[l.l4..]).chain(frags.iter().copied()) {
        let take = piece.len().min(left);
        let s = ones_sum(&piece[..take]);
        sum += u32::from(if at % 2 == 1 { s.swap_bytes() } else { s });
        at += take;
        left -= take;
        if left == 0 {
            break;
        }
    }
    if fold32(u32::from(pseudo) + sum) == 0xffff {
        // Already a correct checksum that happens to equal the sum.
        return Repair::Untouched;
    }
    // The field holds the pseudo-header sum, as complete_checksum expects.
    put16(head, field, finish(sum));
    Repair::Completed
}

/// Completes the L4 checksum of a frame that arrived without offload
/// metadata (an AF_XDP port) when its checksum field holds a *partial*
/// checksum: Linux senders with tx checksum offload (every veth, tap and
/// container interface by default) leave the folded pseudo-header sum in
/// the field (`__tcp_v4_send_check`, `udp4_hwcsum`, `__tcp_v6_send_check`)
/// and attaching XDP makes the kernel hand the frame over that way.
///
/// Cheap for what is not partial: the field is compared with the
/// pseudo-header sum first and only a match is summed over the payload,
/// so a correct checksum that happens to equal it is never touched.
pub fn repair_partial_checksum(frame: &mut [u8]) -> Repair {
    let (l, end, field, pseudo) = match partial_field(frame, frame.len()) {
        Ok(found) => found,
        Err(verdict) => return verdict,
    };
    let offset = (field - l.l4) as u16;
    let l4 = &frame[l.l4..end];
    if fold32(u32::from(pseudo) + u32::from(ones_sum(l4))) == 0xffff {
        // Already a correct checksum that happens to equal the sum.
        return Repair::Untouched;
    }
    let csum = PartialCsum {
        start: l.l4 as u16,
        offset,
    };
    // Only the L4 extent: Ethernet padding is not part of the checksum.
    if complete_checksum(&mut frame[..end], csum) {
        Repair::Completed
    } else {
        Repair::NotL4
    }
}

/// What both repairs check first, on `head` (every header) of a frame of
/// `total` bytes: its layout, the end of its L4 data, where the checksum
/// field is, and the pseudo-header sum — or why there is nothing to
/// repair (`NotL4`, or `Untouched` when the field does not hold the
/// pseudo-header sum a checksum-offloading sender leaves there).
fn partial_field(head: &[u8], total: usize) -> Result<(Layout, usize, usize, u16), Repair> {
    let l = layout(head).map_err(|_| Repair::NotL4)?;
    let end = if l.v6 {
        get16(head, l.l3 + 4).map(|n| l.l3 + IPV6_HLEN + usize::from(n))
    } else {
        get16(head, l.l3 + 2).map(|n| l.l3 + usize::from(n))
    };
    let end = end
        .filter(|&e| e <= total && e >= l.hdr_len)
        .ok_or(Repair::NotL4)?;
    let offset = if l.tcp {
        TCP_CSUM_OFFSET
    } else {
        UDP_CSUM_OFFSET
    };
    let field = l.l4 + usize::from(offset);
    // `layout` checked the L4 header lies in `head`.
    let stored = get16(head, field).ok_or(Repair::NotL4)?;
    let pseudo = pseudo_sum(head, &l, end - l.l4);
    // Ones' complement has two zeros: 0x0000 and 0xffff are the same sum.
    let same = stored == pseudo || (stored | pseudo == 0xffff && stored & pseudo == 0);
    if !same || (!l.tcp && !l.v6 && stored == 0) {
        return Err(Repair::Untouched);
    }
    Ok((l, end, field, pseudo))
}

/// Checks the L4 checksum (pseudo-header included) of an IPv4 or IPv6
/// TCP or UDP frame, with or without one 802.1Q tag. The L4 extent comes
/// from the IP length fields, so Ethernet padding is ignored.
///
/// `None` if the frame is not such a frame or its lengths are inconsistent;
/// an IPv4 UDP checksum of 0 ("none", RFC 768) counts as valid, an IPv6 one
/// does not (RFC 8200 section 8.1).
#[must_use]
pub fn verify_l4_checksum(frame: &[u8]) -> Option<bool> {
    let l = layout(frame).ok()?;
    let end = if l.v6 {
        l.l3 + IPV6_HLEN + usize::from(get16(frame, l.l3 + 4)?)
    } else {
        l.l3 + usize::from(get16(frame, l.l3 + 2)?)
    };
    if end > frame.len() || end < l.hdr_len {
        return None;
    }
    let l4 = &frame[l.l4..end];
    if !l.tcp && !l.v6 && get16(l4, 6) == Some(0) {
        return Some(true);
    }
    let sum = u32::from(pseudo_sum(frame, &l, l4.len())) + u32::from(ones_sum(l4));
    Some(fold32(sum) == 0xffff)
}

/// Software segmentation (and checksum completion) of one frame, for output
/// ports that cannot take offload metadata.
///
/// The caller asks for [`count`](Self::count) segments, each
/// [`segment_len`](Self::segment_len) bytes long, and has each one written
/// with [`write`](Self::write) straight into its transmit buffer (an AF_XDP
/// UMEM chunk, say), so nothing is copied twice and nothing is allocated:
///
/// ```text
/// let seg = Segmenter::new(frame, &off)?;
/// if seg.max_len() > CHUNK_SIZE {
///     return Err(OffloadError::SegmentTooLarge);
/// }
/// for i in 0..seg.count() {
///     let Some(chunk) = tx_ring.reserve() else { break };
///     let len = seg.write(i, chunk).expect("chunk is large enough");
///     tx_ring.submit(len);
/// }
/// ```
///
/// Like the kernel's `tcp_gso_segment` and `__udp_gso_segment`, each segment
/// is the super-frame's headers followed by up to `gso.size` bytes of
/// payload, with the IPv4 total length, identification (+1 per segment) and
/// header checksum, or the IPv6 payload length, rewritten; for TCP the
/// sequence number advanced by the payload offset, FIN and PSH kept on the
/// last segment only and CWR on the first only; for UDP the length
/// rewritten. The L4 checksum of every segment is computed afresh from the
/// pseudo-header and the segment; the sender's partial value is not used.
///
/// Without GSO there is one segment: the frame, with its partial checksum
/// (if any) completed. A caller that owns the frame mutably can instead use
/// [`complete_checksum`] in place.
#[derive(Debug, Clone, Copy)]
pub struct Segmenter<'a> {
    frame: &'a [u8],
    csum: Option<PartialCsum>,
    gso: Option<Plan>,
}

/// What [`Segmenter`] needs to know about a super-frame.
#[derive(Debug, Clone, Copy)]
struct Plan {
    layout: Layout,
    size: usize,
    count: usize,
}

impl<'a> Segmenter<'a> {
    /// Prepares the segmentation of `frame` according to `off`.
    ///
    /// The headers are parsed again (a few dozen bytes) because the frame
    /// may have changed since [`Offload::from_vnet`]; a measured header
    /// length that differs from `gso.hdr_len` (a VLAN push or pop without
    /// [`Offload::shift`]) is [`OffloadError::BadGso`].
    pub fn new(frame: &'a [u8], off: &Offload) -> Result<Segmenter<'a>, OffloadError> {
        if off.csum.is_some_and(|c| c.field() + 2 > frame.len()) {
            return Err(OffloadError::BadChecksumOffsets);
        }
        let gso = match off.gso {
            None => None,
            Some(g) => {
                let layout = gso_layout(frame, g.kind, g.size)?;
                if layout.hdr_len != usize::from(g.hdr_len) {
                    return Err(OffloadError::BadGso);
                }
                let size = usize::from(g.size);
                let payload = frame.len() - layout.hdr_len;
                Some(Plan {
                    layout,
                    size,
                    count: payload.div_ceil(size).max(1),
                })
            }
        };
        Ok(Segmenter {
            frame,
            csum: off.csum,
            gso,
        })
    }

    /// How many segments the frame becomes (at least 1).
    #[must_use]
    pub fn count(&self) -> usize {
        self.gso.map_or(1, |p| p.count)
    }

    /// Length of segment `index` (0 if `index >= count()`).
    #[must_use]
    pub fn segment_len(&self, index: usize) -> usize {
        match self.gso {
            None if index == 0 => self.frame.len(),
            None => 0,
            Some(p) if index < p.count => {
                let hdr = p.layout.hdr_len;
                let from = hdr + index * p.size;
                hdr + (self.frame.len() - from).min(p.size)
            }
            Some(_) => 0,
        }
    }

    /// Length of the longest segment, i.e. the buffer size needed for any.
    #[must_use]
    pub fn max_len(&self) -> usize {
        self.segment_len(0)
    }

    /// Writes segment `index` into the front of `buf` and returns its
    /// length; `None` (nothing written) if `index >= count()` or `buf` is
    /// shorter than [`segment_len`](Self::segment_len).
    pub fn write(&self, index: usize, buf: &mut [u8]) -> Option<usize> {
        let len = self.segment_len(index);
        if len == 0 || buf.len() < len {
            return None;
        }
        let out = &mut buf[..len];
        let Some(p) = self.gso else {
            out.copy_from_slice(self.frame);
            if let Some(c) = self.csum {
                complete_checksum(out, c);
            }
            return Some(len);
        };
        let l = &p.layout;
        let hdr = l.hdr_len;
        let from = hdr + index * p.size;
        out[..hdr].copy_from_slice(&self.frame[..hdr]);
        out[hdr..].copy_from_slice(&self.frame[from..from + len - hdr]);

        // The lengths fit: gso_layout checked the longest segment.
        if l.v6 {
            put16(out, l.l3 + 4, (len - l.l3 - IPV6_HLEN) as u16);
        } else {
            put16(out, l.l3 + 2, (len - l.l3) as u16);
            let id = get16(out, l.l3 + 4).unwrap_or(0);
            // The IP ID is 16 bits and wraps (RFC 6864).
            put16(out, l.l3 + 4, id.wrapping_add(index as u16));
            put16(out, l.l3 + 10, 0);
            let ihl = l.l4 - l.l3;
            let c = finish_ip(ones_sum(&out[l.l3..l.l3 + ihl]));
            put16(out, l.l3 + 10, c);
        }

        let l4_len = len - l.l4;
        let csum_at = if l.tcp {
            let seq =
                u32::from_be_bytes([out[l.l4 + 4], out[l.l4 + 5], out[l.l4 + 6], out[l.l4 + 7]]);
            // Sequence numbers wrap modulo 2^32 (RFC 9293 section 3.4).
            let seq = seq.wrapping_add((index * p.size) as u32);
            out[l.l4 + 4..l.l4 + 8].copy_from_slice(&seq.to_be_bytes());
            if index + 1 < p.count {
                out[l.l4 + 13] &= !(TCP_FIN | TCP_PSH);
            }
            if index > 0 {
                out[l.l4 + 13] &= !TCP_CWR;
            }
            l.l4 + usize::from(TCP_CSUM_OFFSET)
        } else {
            put16(out, l.l4 + 4, l4_len as u16);
            l.l4 + usize::from(UDP_CSUM_OFFSET)
        };
        put16(out, csum_at, 0);
        let sum = u32::from(pseudo_sum(out, l, l4_len)) + u32::from(ones_sum(&out[l.l4..]));
        put16(out, csum_at, finish(sum));
        Some(len)
    }
}

/// Segments `frame` (see [`Segmenter`]) through one scratch buffer: each
/// finished segment is written into `scratch` and handed to `out`, which
/// returns `false` to stop early. Returns how many segments `out` accepted.
///
/// For callers whose transmit path copies from a slice anyway; to write
/// into transmit buffers directly, use [`Segmenter`]. Fails with
/// [`OffloadError::SegmentTooLarge`] before emitting anything if `scratch`
/// is shorter than the longest segment.
pub fn segment(
    frame: &[u8],
    off: &Offload,
    scratch: &mut [u8],
    mut out: impl FnMut(&[u8]) -> bool,
) -> Result<usize, OffloadError> {
    let seg = Segmenter::new(frame, off)?;
    if scratch.len() < seg.max_len() {
        return Err(OffloadError::SegmentTooLarge);
    }
    for i in 0..seg.count() {
        let Some(len) = seg.write(i, scratch) else {
            return Err(OffloadError::SegmentTooLarge);
        };
        if !out(&scratch[..len]) {
            return Ok(i);
        }
    }
    Ok(seg.count())
}

/// Where the headers of an IP TCP/UDP frame are.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// Offset of the IP header (14, or 18 with an 802.1Q tag).
    l3: usize,
    /// IPv6 rather than IPv4.
    v6: bool,
    /// Offset of the TCP/UDP header.
    l4: usize,
    /// TCP rather than UDP.
    tcp: bool,
    /// Offset of the payload (end of the TCP/UDP header).
    hdr_len: usize,
}

/// Parses Ethernet (at most one 802.1Q tag), IPv4/IPv6 and TCP/UDP headers.
fn layout(frame: &[u8]) -> Result<Layout, OffloadError> {
    const BAD: OffloadError = OffloadError::BadGso;
    let mut l3 = ETH_HLEN;
    let mut ethertype = get16(frame, 12).ok_or(BAD)?;
    if ethertype == ETH_P_8021Q {
        l3 += VLAN_HLEN;
        ethertype = get16(frame, 16).ok_or(BAD)?;
    }
    let (v6, l4, proto) = match ethertype {
        ETH_P_IP => {
            let vihl = *frame.get(l3).ok_or(BAD)?;
            let ihl = usize::from(vihl & 0x0f) * 4;
            if vihl >> 4 != 4 || ihl < 20 || l3 + ihl > frame.len() {
                return Err(BAD);
            }
            // Fragments (MF set or an offset) cannot be segmented.
            if get16(frame, l3 + 6).ok_or(BAD)? & 0x3fff != 0 {
                return Err(BAD);
            }
            (false, l3 + ihl, frame[l3 + 9])
        }
        ETH_P_IPV6 => {
            if l3 + IPV6_HLEN > frame.len() || frame[l3] >> 4 != 6 {
                return Err(BAD);
            }
            (true, l3 + IPV6_HLEN, frame[l3 + 6])
        }
        _ => return Err(BAD),
    };
    let hdr_len = match proto {
        IPPROTO_TCP => {
            let doff = usize::from(*frame.get(l4 + 12).ok_or(BAD)? >> 4) * 4;
            if doff < 20 {
                return Err(BAD);
            }
            l4 + doff
        }
        IPPROTO_UDP => l4 + UDP_HLEN,
        // Extension headers are not walked.
        _ if v6 => return Err(OffloadError::UnsupportedGso),
        _ => return Err(BAD),
    };
    if hdr_len > frame.len() {
        return Err(BAD);
    }
    Ok(Layout {
        l3,
        v6,
        l4,
        tcp: proto == IPPROTO_TCP,
        hdr_len,
    })
}

/// Parses the headers of a GSO frame and checks they fit `kind` and `size`.
fn gso_layout(frame: &[u8], kind: GsoKind, size: u16) -> Result<Layout, OffloadError> {
    let l = layout(frame)?;
    let fits = match kind {
        GsoKind::TcpV4 => l.tcp && !l.v6,
        GsoKind::TcpV6 => l.tcp && l.v6,
        GsoKind::UdpL4 => !l.tcp,
    };
    if !fits || size == 0 {
        return Err(OffloadError::BadGso);
    }
    // The longest segment's IPv4 total length / IPv6 payload length (which
    // bounds the UDP length too) must fit in 16 bits.
    let longest = l.hdr_len + usize::from(size).min(frame.len() - l.hdr_len);
    let ip_len = longest - l.l3 - if l.v6 { IPV6_HLEN } else { 0 };
    if ip_len > usize::from(u16::MAX) {
        return Err(OffloadError::BadGso);
    }
    Ok(l)
}

/// The pseudo-header sum (RFC 9293 section 3.1, RFC 768; RFC 8200 section
/// 8.1 for IPv6) for `l4_len` bytes of L4 data, folded to 16 bits.
fn pseudo_sum(frame: &[u8], l: &Layout, l4_len: usize) -> u16 {
    let proto = u32::from(if l.tcp { IPPROTO_TCP } else { IPPROTO_UDP });
    let len = l4_len as u32;
    let addrs = if l.v6 {
        &frame[l.l3 + 8..l.l3 + 40]
    } else {
        &frame[l.l3 + 12..l.l3 + 20]
    };
    fold32(u32::from(ones_sum(addrs)) + proto + (len >> 16) + (len & 0xffff))
}

/// Folds a 32-bit ones' complement accumulator to 16 bits.
fn fold32(mut s: u32) -> u16 {
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// The checksum to store for an L4 sum: its complement, with 0 sent as
/// 0xffff (see [`complete_checksum`]).
fn finish(sum: u32) -> u16 {
    match !fold32(sum) {
        0 => 0xffff,
        c => c,
    }
}

/// The IPv4 header checksum to store (RFC 791); no 0 -> 0xffff mapping,
/// matching what every IP stack emits.
fn finish_ip(sum: u16) -> u16 {
    !sum
}

/// The RFC 1071 ones' complement sum of `data` read as big-endian 16-bit
/// words (an odd last byte padded with a zero), folded to 16 bits but not
/// complemented.
///
/// Like the kernel's `csum_partial` it adds 8 bytes at a time into a 64-bit
/// accumulator with end-around carry. The words are loaded in native order
/// and the result swapped once at the end: the ones' complement sum is byte
/// order independent (RFC 1071 section 2(B)), which saves a byte swap per
/// load on little-endian hosts. Loads are unaligned-safe (copied from the
/// slice), so any start offset works.
fn ones_sum(data: &[u8]) -> u16 {
    #[inline(always)]
    fn add(acc: u64, w: u64) -> u64 {
        let (s, carry) = acc.overflowing_add(w);
        // s <= 2^64 - 2 when there was a carry, so this cannot overflow.
        s + u64::from(carry)
    }
    #[inline(always)]
    fn load(b: &[u8]) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[..8]);
        u64::from_ne_bytes(w)
    }
    // Two accumulators over 32-byte blocks let the carry chains overlap.
    let (mut a, mut b) = (0u64, 0u64);
    let mut blocks = data.chunks_exact(32);
    for blk in &mut blocks {
        a = add(a, load(&blk[0..]));
        b = add(b, load(&blk[8..]));
        a = add(a, load(&blk[16..]));
        b = add(b, load(&blk[24..]));
    }
    let mut words = blocks.remainder().chunks_exact(8);
    for w in &mut words {
        a = add(a, load(w));
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        // Zero padding in memory order: an odd last byte becomes the high
        // byte of a big-endian word, as RFC 1071 prescribes.
        let mut w = [0u8; 8];
        w[..tail.len()].copy_from_slice(tail);
        b = add(b, u64::from_ne_bytes(w));
    }
    let s = add(a, b);
    // 2^32 = 1 (mod 2^16 - 1), so folding the halves keeps the sum.
    let (lo, carry) = (s as u32).overflowing_add((s >> 32) as u32);
    let native = fold32(lo) as u32 + u32::from(carry);
    u16::from_be(fold32(native))
}

/// Reads a big-endian u16 at `at`, if it fits.
fn get16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Writes a big-endian u16 at `at` (which the caller has bounds-checked).
fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straightforward RFC 1071 sum, independent of `ones_sum`.
    fn naive_sum(data: &[u8]) -> u16 {
        let mut s: u64 = 0;
        for pair in data.chunks(2) {
            let hi = u64::from(pair[0]) << 8;
            let lo = pair.get(1).copied().map_or(0, u64::from);
            s += hi | lo;
        }
        while s >> 16 != 0 {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    /// Independent L4 checksum check: builds the pseudo-header bytes.
    fn naive_l4_ok(seg: &[u8], l3: usize, v6: bool, l4: usize, proto: u8) -> bool {
        let mut bytes = Vec::new();
        let l4_len = seg.len() - l4;
        if v6 {
            bytes.extend_from_slice(&seg[l3 + 8..l3 + 40]);
            bytes.extend_from_slice(&(l4_len as u32).to_be_bytes());
            bytes.extend_from_slice(&[0, 0, 0, proto]);
        } else {
            bytes.extend_from_slice(&seg[l3 + 12..l3 + 20]);
            bytes.extend_from_slice(&[0, proto]);
            bytes.extend_from_slice(&(l4_len as u16).to_be_bytes());
        }
        bytes.extend_from_slice(&seg[l4..]);
        naive_sum(&bytes) == 0xffff
    }

    /// The pseudo-header sum Linux seeds a partial checksum with
    /// (`~tcp_v4_check(len, saddr, daddr, 0)` and friends).
    fn naive_seed(frame: &[u8], l3: usize, v6: bool, l4: usize, proto: u8) -> u16 {
        let mut bytes = Vec::new();
        let l4_len = frame.len() - l4;
        if v6 {
            bytes.extend_from_slice(&frame[l3 + 8..l3 + 40]);
            bytes.extend_from_slice(&(l4_len as u32).to_be_bytes());
            bytes.extend_from_slice(&[0, 0, 0, proto]);
        } else {
            bytes.extend_from_slice(&frame[l3 + 12..l3 + 20]);
            bytes.extend_from_slice(&[0, proto]);
            bytes.extend_from_slice(&(l4_len as u16).to_be_bytes());
        }
        naive_sum(&bytes)
    }

    /// xorshift64*, fixed seed: deterministic "random" data without deps.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn fill(&mut self, b: &mut [u8]) {
            for x in b {
                *x = self.next() as u8;
            }
        }
    }

    #[derive(Clone, Copy)]
    struct Spec {
        vlan: bool,
        v6: bool,
        tcp: bool,
        payload: usize,
    }

    /// Offsets of a built frame.
    struct Built {
        frame: Vec<u8>,
        l3: usize,
        l4: usize,
        hdr_len: usize,
    }

    const SEQ: u32 = 0xffff_f000; // wraps during segmentation
    const IP_ID: u16 = 0xfffe; // wraps during segmentation
    const TCP_FLAGS: u8 = 0x10 | TCP_PSH | TCP_FIN | TCP_CWR; // ACK|PSH|FIN|CWR

    /// Builds a super-frame the way Linux hands it to a packet socket:
    /// IP lengths covering the whole frame and a partial L4 checksum (the
    /// pseudo-header sum over the full L4 length) in the checksum field.
    fn build(s: Spec) -> Built {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        if s.vlan {
            f.extend_from_slice(&[0x81, 0x00, 0x20, 0x64]); // PCP 1, VID 100
        }
        let proto = if s.tcp { IPPROTO_TCP } else { IPPROTO_UDP };
        let l4_hdr = if s.tcp { 32 } else { 8 };
        let l3 = f.len() + 2;
        if s.v6 {
            f.extend_from_slice(&[0x86, 0xdd, 0x60, 0x01, 0x23, 0x45]);
            let plen = (l4_hdr + s.payload) as u16;
            f.extend_from_slice(&plen.to_be_bytes());
            f.extend_from_slice(&[proto, 64]);
            f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
            f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        } else {
            f.extend_from_slice(&[0x08, 0x00, 0x45, 0x00]);
            let tot = (20 + l4_hdr + s.payload) as u16;
            f.extend_from_slice(&tot.to_be_bytes());
            f.extend_from_slice(&IP_ID.to_be_bytes());
            f.extend_from_slice(&[0x40, 0x00, 64, proto, 0, 0]);
            f.extend_from_slice(&[192, 168, 1, 10, 192, 168, 1, 20]);
            let c = !naive_sum(&f[l3..l3 + 20]);
            f[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
        }
        let l4 = f.len();
        if s.tcp {
            f.extend_from_slice(&[0x9c, 0x40, 0x14, 0x51]); // 40000 -> 5201
            f.extend_from_slice(&SEQ.to_be_bytes());
            f.extend_from_slice(&[1, 2, 3, 4, 0x80, TCP_FLAGS, 0x01, 0xf6, 0, 0, 0, 0]);
            // NOP NOP timestamps
            f.extend_from_slice(&[1, 1, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0x56, 0x78]);
        } else {
            f.extend_from_slice(&[0x13, 0x88, 0x17, 0x70]); // 5000 -> 6000
            f.extend_from_slice(&((8 + s.payload) as u16).to_be_bytes());
            f.extend_from_slice(&[0, 0]);
        }
        let hdr_len = f.len();
        let mut payload = vec![0u8; s.payload];
        Rng(0x1234_5678 ^ s.payload as u64).fill(&mut payload);
        f.extend_from_slice(&payload);
        let seed = naive_seed(&f, l3, s.v6, l4, proto);
        let at = l4 + if s.tcp { 16 } else { 6 };
        f[at..at + 2].copy_from_slice(&seed.to_be_bytes());
        Built {
            frame: f,
            l3,
            l4,
            hdr_len,
        }
    }

    fn gso_hdr(b: &Built, s: Spec, size: u16) -> VnetHeader {
        VnetHeader {
            flags: VnetHeader::F_NEEDS_CSUM,
            gso_type: match (s.tcp, s.v6) {
                (true, false) => VnetHeader::GSO_TCPV4,
                (true, true) => VnetHeader::GSO_TCPV6,
                (false, _) => VnetHeader::GSO_UDP_L4,
            },
            hdr_len: 0, // deliberately wrong: must be measured
            gso_size: size,
            csum_start: b.l4 as u16,
            csum_offset: if s.tcp { 16 } else { 6 },
        }
    }

    /// Segments a built super-frame and checks every segment field by field.
    fn check_segmentation(s: Spec, size: u16) {
        let b = build(s);
        let f = &b.frame;
        let off = Offload::from_vnet(&gso_hdr(&b, s, size), f).unwrap();
        let g = off.gso.unwrap();
        assert_eq!(usize::from(g.hdr_len), b.hdr_len);
        let size = usize::from(size);
        let seg = Segmenter::new(f, &off).unwrap();
        let expect_count = s.payload.div_ceil(size).max(1);
        assert_eq!(seg.count(), expect_count);
        assert_eq!(seg.max_len(), off.wire_len(f.len()));
        let proto = if s.tcp { IPPROTO_TCP } else { IPPROTO_UDP };

        let mut buf = vec![0xaau8; 70_000];
        let mut payload_seen = Vec::new();
        for i in 0..seg.count() {
            let n = seg.write(i, &mut buf).unwrap();
            let o = &buf[..n];
            let chunk = size.min(s.payload - i * size);
            assert_eq!(n, b.hdr_len + chunk, "segment {i} length");
            assert_eq!(seg.segment_len(i), n);
            payload_seen.extend_from_slice(&o[b.hdr_len..]);
            // Ethernet (and tag) untouched.
            assert_eq!(o[..b.l3], f[..b.l3]);
            let be16 = |at: usize| u16::from_be_bytes([o[at], o[at + 1]]);
            if s.v6 {
                assert_eq!(usize::from(be16(b.l3 + 4)), n - b.l3 - 40);
                assert_eq!(o[b.l3..b.l3 + 4], f[b.l3..b.l3 + 4]);
                assert_eq!(o[b.l3 + 6..b.l4], f[b.l3 + 6..b.l4]);
            } else {
                assert_eq!(usize::from(be16(b.l3 + 2)), n - b.l3);
                assert_eq!(be16(b.l3 + 4), IP_ID.wrapping_add(i as u16));
                assert_eq!(naive_sum(&o[b.l3..b.l4]), 0xffff, "IPv4 header checksum");
                assert_eq!(o[b.l3 + 6..b.l3 + 10], f[b.l3 + 6..b.l3 + 10]);
                assert_eq!(o[b.l3 + 12..b.l4], f[b.l3 + 12..b.l4]);
            }
            if s.tcp {
                let seq = u32::from_be_bytes(o[b.l4 + 4..b.l4 + 8].try_into().unwrap());
                assert_eq!(seq, SEQ.wrapping_add((i * size) as u32));
                let last = i + 1 == seg.count();
                let mut flags = 0x10;
                if last {
                    flags |= TCP_FIN | TCP_PSH;
                }
                if i == 0 {
                    flags |= TCP_CWR;
                }
                assert_eq!(o[b.l4 + 13], flags, "segment {i} flags");
                assert_eq!(o[b.l4 + 8..b.l4 + 13], f[b.l4 + 8..b.l4 + 13]);
                assert_eq!(o[b.l4 + 18..b.hdr_len], f[b.l4 + 18..b.hdr_len]);
            } else {
                assert_eq!(usize::from(be16(b.l4 + 4)), n - b.l4);
                assert_ne!(be16(b.l4 + 6), 0);
            }
            assert!(
                naive_l4_ok(o, b.l3, s.v6, b.l4, proto),
                "segment {i} L4 csum"
            );
            assert_eq!(verify_l4_checksum(o), Some(true));
        }
        assert_eq!(payload_seen, f[b.hdr_len..]);
        assert_eq!(seg.write(seg.count(), &mut buf), None);
        assert_eq!(seg.segment_len(seg.count()), 0);
    }

    const MSS: u16 = 1448;
    const ALL: [(bool, bool, bool); 8] = [
        (false, false, true),
        (true, false, true),
        (false, true, true),
        (true, true, true),
        (false, false, false),
        (true, false, false),
        (false, true, false),
        (true, true, false),
    ];

    #[test]
    fn segments_three_mss_and_a_tail() {
        for (vlan, v6, tcp) in ALL {
            let payload = 3 * usize::from(MSS) + 100;
            check_segmentation(
                Spec {
                    vlan,
                    v6,
                    tcp,
                    payload,
                },
                MSS,
            );
        }
    }

    #[test]
    fn segments_exact_multiple_odd_tail_single_and_empty() {
        for (vlan, v6, tcp) in ALL {
            for (payload, size) in [
                (4 * 1200, 1200),
                (2 * 1200 + 37, 1200),
                (500, 1448),
                (0, 1448),
            ] {
                check_segmentation(
                    Spec {
                        vlan,
                        v6,
                        tcp,
                        payload,
                    },
                    size,
                );
            }
        }
    }

    #[test]
    fn segments_near_64k_super_frame() {
        check_segmentation(
            Spec {
                vlan: true,
                v6: false,
                tcp: true,
                payload: 65_535 - 20 - 32,
            },
            MSS,
        );
        check_segmentation(
            Spec {
                vlan: false,
                v6: true,
                tcp: true,
                payload: 65_535 - 32,
            },
            8948,
        );
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Byte-exact fixture, expected bytes computed by a separate script
    /// (plain RFC 1071 arithmetic): a VLAN-tagged TCP/IPv4 super-frame with
    /// 19 bytes of payload, CWR|ACK|PSH|FIN, a sequence number about to wrap
    /// and the pseudo-header sum in the checksum field, cut at gso_size 8.
    #[test]
    fn segments_byte_exact_tcp4_vlan() {
        let frame = hex(concat!(
            "020000000001020000000002810000640800",
            "4500003b12344000400610810a0102030a010204",
            "a0000050fffffff801020304509903e818360000",
            "6162636465666768696a6b6c6d6e6f70717273",
        ));
        let expect = [
            hex(concat!(
                "020000000001020000000002810000640800",
                "45000030123440004006108c0a0102030a010204",
                "a0000050fffffff801020304509003e85d770000",
                "6162636465666768",
            )),
            hex(concat!(
                "020000000001020000000002810000640800",
                "45000030123540004006108b0a0102030a010204",
                "a00000500000000001020304501003e83dd00000",
                "696a6b6c6d6e6f70",
            )),
            hex(concat!(
                "020000000001020000000002810000640800",
                "4500002b123640004006108f0a0102030a010204",
                "a00000500000000801020304501903e80b070000",
                "717273",
            )),
        ];
        let h = VnetHeader {
            flags: VnetHeader::F_NEEDS_CSUM,
            gso_type: VnetHeader::GSO_TCPV4 | VnetHeader::GSO_ECN,
            hdr_len: 58,
            gso_size: 8,
            csum_start: 38,
            csum_offset: 16,
        };
        let off = Offload::from_vnet(&h, &frame).unwrap();
        let mut got = Vec::new();
        let mut scratch = [0u8; 66];
        let n = segment(&frame, &off, &mut scratch, |seg| {
            got.push(seg.to_vec());
            true
        });
        assert_eq!(n, Ok(3));
        assert_eq!(got, expect);

        // The sender's partial value is not trusted: without NEEDS_CSUM and
        // with garbage in the field, the segments come out the same.
        let mut garbled = frame.clone();
        garbled[54..56].copy_from_slice(&[0xde, 0xad]);
        let off = Offload::from_vnet(&VnetHeader { flags: 0, ..h }, &garbled).unwrap();
        assert_eq!(off.csum, None);
        got.clear();
        let n = segment(&garbled, &off, &mut scratch, |seg| {
            got.push(seg.to_vec());
            true
        });
        assert_eq!(n, Ok(3));
        assert_eq!(got, expect);
    }

    /// Byte-exact fixture as above for UDP_L4 over IPv6: 15 bytes of
    /// payload cut at gso_size 6 (odd-length last datagram).
    #[test]
    fn segments_byte_exact_udp6() {
        const ETH_IP6: &str = "02000000000102000000000286dd6000000000";
        const ADDRS: &str = concat!(
            "fe800000000000000000000000000001",
            "fe800000000000000000000000000002"
        );
        let frame = hex(&[
            ETH_IP6,
            "171140",
            ADDRS,
            "14e914e90017fd2c",
            "f0f1f2f3f4f5f6f7f8f9fafbfcfdfe",
        ]
        .concat());
        let expect = [
            hex(&[ETH_IP6, "0e1140", ADDRS, "14e914e9000e0020", "f0f1f2f3f4f5"].concat()),
            hex(&[ETH_IP6, "0e1140", ADDRS, "14e914e9000eee0d", "f6f7f8f9fafb"].concat()),
            hex(&[ETH_IP6, "0b1140", ADDRS, "14e914e9000bde02", "fcfdfe"].concat()),
        ];
        let h = VnetHeader {
            flags: VnetHeader::F_NEEDS_CSUM,
            gso_type: VnetHeader::GSO_UDP_L4,
            hdr_len: 62,
            gso_size: 6,
            csum_start: 54,
            csum_offset: 6,
        };
        let off = Offload::from_vnet(&h, &frame).unwrap();
        let seg = Segmenter::new(&frame, &off).unwrap();
        assert_eq!(seg.count(), 3);
        for (i, want) in expect.iter().enumerate() {
            let mut buf = [0u8; 68];
            let n = seg.write(i, &mut buf).unwrap();
            assert_eq!(&buf[..n], &want[..], "segment {i}");
        }
    }

    #[test]
    fn segment_with_scratch() {
        let s = Spec {
            vlan: true,
            v6: false,
            tcp: true,
            payload: 3 * 1448 + 100,
        };
        let b = build(s);
        let off = Offload::from_vnet(&gso_hdr(&b, s, MSS), &b.frame).unwrap();
        let mut scratch = [0u8; 2048];
        let mut lens = Vec::new();
        let n = segment(&b.frame, &off, &mut scratch, |seg| {
            assert_eq!(verify_l4_checksum(seg), Some(true));
            lens.push(seg.len());
            true
        })
        .unwrap();
        assert_eq!(n, 4);
        assert_eq!(
            lens,
            [
                1448 + b.hdr_len,
                1448 + b.hdr_len,
                1448 + b.hdr_len,
                100 + b.hdr_len
            ]
        );
        // Stop early.
        let n = segment(&b.frame, &off, &mut scratch, |_| false).unwrap();
        assert_eq!(n, 0);
        // Too small a buffer: nothing emitted.
        let mut small = [0u8; 1000];
        let r = segment(&b.frame, &off, &mut small, |_| panic!("emitted"));
        assert_eq!(r, Err(OffloadError::SegmentTooLarge));
        let seg = Segmenter::new(&b.frame, &off).unwrap();
        assert_eq!(seg.write(0, &mut small), None);
    }

    /// The usage shown in [`Segmenter`]'s documentation, with a toy ring.
    #[test]
    fn segmenter_into_tx_buffers() {
        const CHUNK_SIZE: usize = 2048;
        struct Ring {
            chunks: Vec<[u8; CHUNK_SIZE]>,
            lens: Vec<usize>,
        }
        impl Ring {
            fn reserve(&mut self) -> Option<&mut [u8]> {
                let i = self.lens.len();
                self.chunks.get_mut(i).map(|c| &mut c[..])
            }
            fn submit(&mut self, len: usize) {
                self.lens.push(len);
            }
        }
        fn send(frame: &[u8], off: Offload, tx_ring: &mut Ring) -> Result<(), OffloadError> {
            let seg = Segmenter::new(frame, &off)?;
            if seg.max_len() > CHUNK_SIZE {
                return Err(OffloadError::SegmentTooLarge);
            }
            for i in 0..seg.count() {
                let Some(chunk) = tx_ring.reserve() else {
                    break;
                };
                let len = seg.write(i, chunk).expect("chunk is large enough");
                tx_ring.submit(len);
            }
            Ok(())
        }
        let s = Spec {
            vlan: false,
            v6: true,
            tcp: false,
            payload: 5000,
        };
        let b = build(s);
        let off = Offload::from_vnet(&gso_hdr(&b, s, 1400), &b.frame).unwrap();
        // Room for three of the four segments: the ring fills up.
        let mut ring = Ring {
            chunks: vec![[0; CHUNK_SIZE]; 3],
            lens: Vec::new(),
        };
        send(&b.frame, off, &mut ring).unwrap();
        assert_eq!(ring.lens, [1400 + b.hdr_len; 3]);
        for (c, &n) in ring.chunks.iter().zip(&ring.lens) {
            assert_eq!(verify_l4_checksum(&c[..n]), Some(true));
        }
        let mut jumbo = Offload::from_vnet(&gso_hdr(&b, s, 4000), &b.frame).unwrap();
        assert_eq!(
            send(&b.frame, jumbo, &mut ring),
            Err(OffloadError::SegmentTooLarge)
        );
        jumbo.gso = None;
        assert_eq!(
            send(&b.frame, jumbo, &mut ring),
            Err(OffloadError::SegmentTooLarge)
        );
    }

    #[test]
    fn no_gso_partial_csum_is_completed() {
        for (vlan, v6, tcp) in ALL {
            let s = Spec {
                vlan,
                v6,
                tcp,
                payload: 777,
            };
            let b = build(s);
            let mut h = gso_hdr(&b, s, 0);
            h.gso_type = VnetHeader::GSO_NONE;
            let off = Offload::from_vnet(&h, &b.frame).unwrap();
            assert_eq!(off.gso, None);
            assert_eq!(verify_l4_checksum(&b.frame), Some(false));
            let mut out = vec![0u8; b.frame.len()];
            let n = segment(&b.frame, &off, &mut out, |_| true).unwrap();
            assert_eq!(n, 1);
            assert_eq!(verify_l4_checksum(&out), Some(true));
            let mut inplace = b.frame.clone();
            assert!(complete_checksum(&mut inplace, off.csum.unwrap()));
            assert_eq!(inplace, out);
            // A plain frame passes through unchanged.
            let n = segment(&inplace, &Offload::NONE, &mut out, |seg| {
                assert_eq!(seg, &inplace[..]);
                true
            });
            assert_eq!(n, Ok(1));
        }
    }

    #[test]
    fn partial_checksums_without_metadata_are_repaired_once() {
        for (vlan, v6, tcp) in ALL {
            let s = Spec {
                vlan,
                v6,
                tcp,
                payload: 777,
            };
            let b = build(s);
            assert_eq!(verify_l4_checksum(&b.frame), Some(false), "partial");
            let mut f = b.frame.clone();
            // Ethernet padding after the IP datagram is not summed.
            f.extend_from_slice(&[0xee; 3]);
            assert_eq!(repair_partial_checksum(&mut f), Repair::Completed);
            assert_eq!(verify_l4_checksum(&f), Some(true));
            let done = f.clone();
            assert_eq!(repair_partial_checksum(&mut f), Repair::Untouched);
            assert_eq!(f, done, "a complete checksum is left alone");
            // A corrupt checksum is not "repaired" into a valid one.
            let mut bad = done.clone();
            let at = b.frame.len() - 1;
            bad[at] ^= 0x40;
            let before = bad.clone();
            assert_eq!(repair_partial_checksum(&mut bad), Repair::Untouched);
            assert_eq!(bad, before);
        }
        let mut arp = vec![0xffu8; 12];
        arp.extend_from_slice(&[0x08, 0x06]);
        arp.resize(60, 0);
        assert_eq!(repair_partial_checksum(&mut arp), Repair::NotL4);
    }

    #[test]
    fn partial_checksums_in_several_buffers_are_repaired_as_one() {
        for (vlan, v6, tcp) in ALL {
            let s = Spec {
                vlan,
                v6,
                tcp,
                payload: 9000,
            };
            let b = build(s);
            let mut whole = b.frame.clone();
            whole.extend_from_slice(&[0xee; 3]);
            let mut want = whole.clone();
            assert_eq!(repair_partial_checksum(&mut want), Repair::Completed);
            // Cuts at odd and even offsets, as a multi-buffer port could.
            for cuts in [[3840, 7680], [3001, 6002], [b.hdr_len, b.hdr_len + 1]] {
                let (head, rest) = whole.split_at(cuts[0]);
                let (mid, tail) = rest.split_at(cuts[1] - cuts[0]);
                let mut h = head.to_vec();
                assert_eq!(
                    repair_partial_checksum_frags(&mut h, &[mid, tail]),
                    Repair::Completed,
                    "{cuts:?}"
                );
                assert_eq!(h[..], want[..cuts[0]], "{cuts:?}");
                assert_eq!(
                    repair_partial_checksum_frags(&mut h, &[mid, tail]),
                    Repair::Untouched
                );
            }
            // Lengths that do not add up (a buffer missing) are left alone.
            let mut h = whole[..3840].to_vec();
            assert_eq!(
                repair_partial_checksum_frags(&mut h, &[&whole[3840..5000]]),
                Repair::NotL4
            );
        }
    }

    #[test]
    fn ones_sum_known_vectors() {
        // RFC 1071 section 3 numerical example.
        let rfc = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(ones_sum(&rfc), 0xddf2);
        // A well-known IPv4 header whose checksum is 0xb861.
        let mut ip = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(finish_ip(ones_sum(&ip)), 0xb861);
        ip[10..12].copy_from_slice(&[0xb8, 0x61]);
        assert_eq!(ones_sum(&ip), 0xffff);
        // Odd lengths: the last byte is the high half of a padded word.
        assert_eq!(ones_sum(&[0xab]), 0xab00);
        assert_eq!(ones_sum(&[0x12, 0x34, 0x56]), 0x6834);
        assert_eq!(ones_sum(&[]), 0);
        // End-around carries across all words.
        assert_eq!(ones_sum(&[0xff; 4096]), 0xffff);
        assert_eq!(ones_sum(&[0xff; 4095]), naive_sum(&[0xff; 4095]));
    }

    #[test]
    fn ones_sum_matches_naive_on_random_data() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut buf = vec![0u8; 70_000];
        rng.fill(&mut buf);
        for round in 0..3000 {
            let start = rng.below(64);
            let len = if round % 100 == 0 {
                rng.below(65_536)
            } else {
                rng.below(2100)
            };
            // Occasionally saturate to stress the carries.
            if round % 7 == 0 {
                buf[start..start + len].fill(0xff);
            }
            let d = &buf[start..start + len];
            assert_eq!(ones_sum(d), naive_sum(d), "start {start} len {len}");
            if round % 7 == 0 {
                rng.fill(&mut buf[start..start + len]);
            }
        }
    }

    /// A hand-built TCP/IPv4 ACK carrying 5 bytes ("hello"), of the kind
    /// seen on any link, cross-checked against the naive sum.
    #[test]
    fn complete_checksum_on_small_tcp_packet() {
        let mut f = vec![
            0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef, 0x08, 0x00,
            // IPv4: len 45, id 0x3a1c, DF, ttl 64, TCP, 10.0.0.1 -> 10.0.0.2
            0x45, 0x00, 0x00, 0x2d, 0x3a, 0x1c, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 0x0a, 0x00,
            0x00, 0x01, 0x0a, 0x00, 0x00, 0x02,
            // TCP 51234 -> 80, seq, ack, doff 5, PSH|ACK, win 502
            0xc8, 0x22, 0x00, 0x50, 0x6f, 0x1e, 0x2d, 0x01, 0x00, 0x00, 0x10, 0x01, 0x50, 0x18,
            0x01, 0xf6, 0x00, 0x00, 0x00, 0x00, b'h', b'e', b'l', b'l', b'o',
        ];
        let ipc = !naive_sum(&f[14..34]);
        f[24..26].copy_from_slice(&ipc.to_be_bytes());
        let seed = naive_seed(&f, 14, false, 34, IPPROTO_TCP);
        f[50..52].copy_from_slice(&seed.to_be_bytes());
        let mut expect = f.clone();
        expect[50..52].fill(0);
        // Expected: the checksum over pseudo-header + segment, field zeroed.
        let mut zeroed = f.clone();
        zeroed[50..52].fill(0);
        let want =
            !naive_sum(&[&[10, 0, 0, 1, 10, 0, 0, 2, 0, 6, 0, 25][..], &zeroed[34..]].concat());
        expect[50..52].copy_from_slice(&want.to_be_bytes());
        let csum = PartialCsum {
            start: 34,
            offset: 16,
        };
        assert!(complete_checksum(&mut f, csum));
        assert_eq!(f, expect);
        assert_eq!(verify_l4_checksum(&f), Some(true));
        // Field past the end: refused, untouched.
        let before = f.clone();
        let short = PartialCsum {
            start: 34,
            offset: 19,
        };
        assert!(!complete_checksum(&mut f[..54], short));
        assert_eq!(f, before);
    }

    #[test]
    fn complete_checksum_odd_lengths_udp() {
        for payload in [0, 1, 2, 3, 7, 8, 9, 15, 1471, 1473] {
            for (vlan, v6) in [(false, false), (true, false), (false, true), (true, true)] {
                let b = build(Spec {
                    vlan,
                    v6,
                    tcp: false,
                    payload,
                });
                let mut f = b.frame.clone();
                let c = PartialCsum {
                    start: b.l4 as u16,
                    offset: 6,
                };
                assert!(complete_checksum(&mut f, c));
                assert!(naive_l4_ok(&f, b.l3, v6, b.l4, IPPROTO_UDP), "{payload}");
                assert_eq!(verify_l4_checksum(&f), Some(true));
            }
        }
    }

    #[test]
    fn udp_zero_checksum_is_sent_as_ffff() {
        // Make the last payload word cancel everything else so the checksum
        // computes to 0 (RFC 768: must then be sent as 0xffff).
        let b = build(Spec {
            vlan: false,
            v6: false,
            tcp: false,
            payload: 64,
        });
        let mut f = b.frame.clone();
        let n = f.len();
        f[n - 2..].fill(0);
        let seed = naive_seed(&f, b.l3, false, b.l4, IPPROTO_UDP);
        f[b.l4 + 6..b.l4 + 8].copy_from_slice(&seed.to_be_bytes());
        let s = naive_sum(&f[b.l4..]); // seed included
        f[n - 2..].copy_from_slice(&(!s).to_be_bytes());
        let c = PartialCsum {
            start: b.l4 as u16,
            offset: 6,
        };
        let mut g = f.clone();
        assert!(complete_checksum(&mut g, c));
        assert_eq!(g[b.l4 + 6..b.l4 + 8], [0xff, 0xff]);
        assert_eq!(verify_l4_checksum(&g), Some(true));
    }

    #[test]
    fn vnet_header_round_trip() {
        let h = VnetHeader {
            flags: 1,
            gso_type: VnetHeader::GSO_TCPV4 | VnetHeader::GSO_ECN,
            hdr_len: 66,
            gso_size: 1448,
            csum_start: 34,
            csum_offset: 16,
        };
        let mut b = [0u8; VnetHeader::LEN];
        h.write(&mut b);
        assert_eq!(b[0], 1);
        assert_eq!(b[1], 0x81);
        assert_eq!(b[4..6], 1448u16.to_ne_bytes());
        assert_eq!(VnetHeader::parse(&b), Some(h));
        let mut longer = [0u8; 20];
        longer[..10].copy_from_slice(&b);
        assert_eq!(VnetHeader::parse(&longer), Some(h));
        assert_eq!(VnetHeader::parse(&b[..9]), None);
    }

    #[test]
    fn from_vnet_to_vnet_round_trip() {
        let s = Spec {
            vlan: true,
            v6: true,
            tcp: true,
            payload: 4000,
        };
        let b = build(s);
        let mut h = gso_hdr(&b, s, MSS);
        h.gso_type |= VnetHeader::GSO_ECN;
        h.flags |= VnetHeader::F_DATA_VALID;
        let off = Offload::from_vnet(&h, &b.frame).unwrap();
        assert!(off.csum_valid);
        assert_eq!(
            off.gso,
            Some(Gso {
                kind: GsoKind::TcpV6,
                size: MSS,
                hdr_len: b.hdr_len as u16,
                ecn: true
            })
        );
        let back = off.to_vnet();
        assert_eq!(back.hdr_len, b.hdr_len as u16);
        assert_eq!(Offload::from_vnet(&back, &b.frame), Ok(off));
        assert_eq!(Offload::default(), Offload::NONE);
        assert_eq!(Offload::NONE.to_vnet(), VnetHeader::default());
        assert_eq!(
            Offload::from_vnet(&VnetHeader::default(), &[]),
            Ok(Offload::NONE)
        );
        // Without GSO, hdr_len is not emitted.
        let plain = Offload {
            csum: off.csum,
            ..Offload::NONE
        };
        assert_eq!(plain.to_vnet().hdr_len, 0);
        assert_eq!(plain.to_vnet().flags, VnetHeader::F_NEEDS_CSUM);
    }

    #[test]
    fn from_vnet_rejects() {
        let s = Spec {
            vlan: false,
            v6: false,
            tcp: true,
            payload: 3000,
        };
        let b = build(s);
        let f = &b.frame;
        let good = gso_hdr(&b, s, MSS);
        let err = |h: VnetHeader, f: &[u8]| Offload::from_vnet(&h, f).unwrap_err();

        // Checksum field past the end (exactly at the end is fine).
        let mut h = good;
        h.gso_type = 0;
        h.csum_start = (f.len() - 2) as u16;
        h.csum_offset = 0;
        assert!(Offload::from_vnet(&h, f).is_ok());
        h.csum_offset = 1;
        assert_eq!(err(h, f), OffloadError::BadChecksumOffsets);
        h.csum_start = u16::MAX;
        h.csum_offset = u16::MAX;
        assert_eq!(err(h, f), OffloadError::BadChecksumOffsets);
        // GSO whose partial checksum is not the TCP checksum field.
        let mut h = good;
        h.csum_offset = 6;
        assert_eq!(err(h, f), OffloadError::BadChecksumOffsets);
        // UFO, unknown types, ECN alone.
        let mut h = good;
        h.gso_type = VnetHeader::GSO_UDP;
        assert_eq!(err(h, f), OffloadError::UnsupportedGso);
        h.gso_type = 2;
        assert_eq!(err(h, f), OffloadError::UnsupportedGso);
        h.gso_type = VnetHeader::GSO_ECN;
        assert_eq!(err(h, f), OffloadError::BadGso);
        // Kind / IP version / L4 mismatch.
        h.gso_type = VnetHeader::GSO_TCPV6;
        assert_eq!(err(h, f), OffloadError::BadGso);
        h.gso_type = VnetHeader::GSO_UDP_L4;
        h.csum_offset = 6;
        assert_eq!(err(h, f), OffloadError::BadGso);
        let s6 = Spec {
            v6: true,
            tcp: false,
            ..s
        };
        let b6 = build(s6);
        let mut h6 = gso_hdr(&b6, s6, 1200);
        h6.gso_type = VnetHeader::GSO_TCPV4;
        assert_eq!(err(h6, &b6.frame), OffloadError::BadGso);
        // gso_size 0.
        let mut h = good;
        h.gso_size = 0;
        assert_eq!(err(h, f), OffloadError::BadGso);
        // Segments too long for the IPv4 total length.
        let big = build(Spec {
            payload: 65_535,
            ..s
        });
        let mut h = gso_hdr(&big, s, u16::MAX);
        assert_eq!(err(h, &big.frame), OffloadError::BadGso);
        h.gso_size = MSS;
        assert!(Offload::from_vnet(&h, &big.frame).is_ok());
        // Truncated headers.
        assert_eq!(err(good, &f[..b.l4 + 17]), OffloadError::BadChecksumOffsets);
        assert_eq!(err(good, &f[..b.hdr_len - 1]), OffloadError::BadGso);
        let mut h = good;
        h.flags = 0;
        assert_eq!(err(h, &f[..b.hdr_len - 1]), OffloadError::BadGso);
        assert_eq!(err(h, &f[..20]), OffloadError::BadGso);
        // IPv4 fragment.
        let mut frag = f.clone();
        frag[b.l3 + 6] |= 0x20; // MF
        assert_eq!(err(good, &frag), OffloadError::BadGso);
        // Not IP; two VLAN tags.
        let mut arp = f.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(err(good, &arp), OffloadError::BadGso);
        let mut qinq = f.clone();
        qinq.splice(12..12, [0x81, 0x00, 0, 1, 0x81, 0x00, 0, 2]);
        let mut hq = good;
        hq.csum_start += 8;
        assert_eq!(err(hq, &qinq), OffloadError::BadGso);
        // IPv6 with an extension header (hop-by-hop).
        let s6t = Spec { tcp: true, ..s6 };
        let b6t = build(s6t);
        let mut ext = b6t.frame.clone();
        ext[b6t.l3 + 6] = 0;
        assert_eq!(
            err(gso_hdr(&b6t, s6t, MSS), &ext),
            OffloadError::UnsupportedGso
        );
        // TCP data offset below 5 words.
        let mut doff = f.clone();
        doff[b.l4 + 12] = 0x40;
        assert_eq!(err(good, &doff), OffloadError::BadGso);
        for e in [
            OffloadError::BadChecksumOffsets,
            OffloadError::BadGso,
            OffloadError::UnsupportedGso,
            OffloadError::SegmentTooLarge,
        ] {
            assert!(!e.to_string().is_empty());
            assert!(!e.name().is_empty());
        }
    }

    #[test]
    fn shift_on_vlan_push_and_pop() {
        let s = Spec {
            vlan: false,
            v6: false,
            tcp: true,
            payload: 3000,
        };
        let b = build(s);
        let mut off = Offload::from_vnet(&gso_hdr(&b, s, MSS), &b.frame).unwrap();
        let untagged = off;

        // Push a tag in front of the EtherType.
        let mut tagged = b.frame.clone();
        tagged.splice(12..12, [0x81, 0x00, 0x20, 0x64]);
        assert_eq!(
            Segmenter::new(&tagged, &off).unwrap_err(),
            OffloadError::BadGso
        );
        off.shift(4);
        let tagged_s = Spec { vlan: true, ..s };
        let tb = build(tagged_s);
        assert!(tagged == tb.frame);
        let direct = Offload::from_vnet(&gso_hdr(&tb, tagged_s, MSS), &tagged).unwrap();
        assert_eq!(off, direct);
        let mut scratch = [0u8; 2048];
        let n = segment(&tagged, &off, &mut scratch, |seg| {
            verify_l4_checksum(seg) == Some(true)
        });
        assert_eq!(n, Ok(3));

        // Pop it again.
        off.shift(-4);
        assert_eq!(off, untagged);
        // Nothing to shift on a plain frame.
        let mut none = Offload::NONE;
        none.shift(4);
        assert_eq!(none, Offload::NONE);
    }

    #[test]
    fn wire_len() {
        let g = Offload {
            gso: Some(Gso {
                kind: GsoKind::TcpV4,
                size: 1448,
                hdr_len: 66,
                ecn: false,
            }),
            ..Offload::NONE
        };
        assert_eq!(g.wire_len(60_000), 1514);
        assert_eq!(g.wire_len(1000), 1000);
        assert_eq!(Offload::NONE.wire_len(9000), 9000);
    }
}

//! The soak's test frames: `VSOAK`, a flow id, a sequence number, a body
//! length and a body of pseudo-random bytes derived from (flow, sequence
//! number). The receiver regenerates the body, so any changed, truncated
//! or misdelivered byte is seen, not just a bad checksum; lengths vary
//! per frame (60 to ~1480 bytes) so chunk boundaries and copies of every
//! size are crossed.

use crate::raw::{frame, TEST_ETHERTYPE};
use crate::transfer::Stream;

const MAGIC: &[u8; 5] = b"VSOAK";
/// Magic, flow id, sequence number, body length.
const HEADER: usize = 5 + 2 + 8 + 2;

/// One directed flow of test frames.
#[derive(Debug, Clone)]
pub struct Flow {
    /// Its id, carried in every frame.
    pub id: u16,
    /// Index of the sending endpoint.
    pub src: usize,
    /// Index of the receiving endpoint.
    pub dst: usize,
    /// 802.1Q (PCP, VID) the frames carry on the wire, both ends.
    pub tag: Option<(u8, u16)>,
    /// Frames a second.
    pub rate: f64,
    /// Whether both of its ends stay configured for the whole soak.
    pub stable: bool,
}

fn seed(flow: u16, seq: u64) -> u64 {
    (u64::from(flow) << 48) ^ seq.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

fn body_len(flow: u16, seq: u64) -> usize {
    // splitmix64 finalizer: lengths spread evenly, reproducible per frame.
    let mut z = seed(flow, seq).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    // At least 60 bytes on the wire untagged (no padding to tell apart),
    // at most 14 + 4 + 17 + 1445 = 1480 (under the 1514 of MTU 1500).
    43 + (z % 1403) as usize
}

/// Frame `seq` of `flow` from `src` to `dst`.
pub fn build(flow: &Flow, src: [u8; 6], dst: [u8; 6], seq: u64) -> Vec<u8> {
    let n = body_len(flow.id, seq);
    let mut payload = Vec::with_capacity(HEADER + n);
    payload.extend_from_slice(MAGIC);
    payload.extend_from_slice(&flow.id.to_be_bytes());
    payload.extend_from_slice(&seq.to_be_bytes());
    payload.extend_from_slice(&(n as u16).to_be_bytes());
    payload.resize(HEADER + n, 0);
    Stream::new(seed(flow.id, seq)).fill(&mut payload[HEADER..]);
    frame(dst, src, flow.tag, &payload)
}

/// What a received frame is.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not a soak frame for this receiver (another host's, ARP, TCP...).
    NotOurs,
    /// Frame `seq` of flow `flow`, intact.
    Good {
        /// Flow id.
        flow: u16,
        /// Sequence number.
        seq: u64,
    },
    /// Addressed to this receiver with the test EtherType, but not a frame
    /// that was sent: what is wrong with it.
    Garbled(String),
}

/// Checks frame `f` received by the endpoint with MAC `me`; `flows` is
/// indexed by flow id, `macs` by endpoint.
pub fn check(f: &[u8], me: [u8; 6], flows: &[Flow], macs: &[[u8; 6]]) -> Verdict {
    if f.len() < 14 || f[..6] != me {
        return Verdict::NotOurs;
    }
    let (tag, at) = if f[12..14] == [0x81, 0x00] && f.len() >= 18 {
        let tci = u16::from_be_bytes([f[14], f[15]]);
        (Some(((tci >> 13) as u8, tci & 0x0fff)), 18)
    } else {
        (None, 14)
    };
    if f[at - 2..at] != TEST_ETHERTYPE.to_be_bytes() {
        return Verdict::NotOurs;
    }
    let p = &f[at..];
    if p.len() < HEADER || &p[..5] != MAGIC {
        return Verdict::Garbled(format!("{} bytes without the soak header", f.len()));
    }
    let id = u16::from_be_bytes([p[5], p[6]]);
    let seq = u64::from_be_bytes(p[7..15].try_into().expect("8 bytes"));
    let n = usize::from(u16::from_be_bytes([p[15], p[16]]));
    let Some(flow) = flows.get(usize::from(id)) else {
        return Verdict::Garbled(format!("unknown flow {id}"));
    };
    let what = format!("flow {id} seq {seq}");
    if macs[flow.dst] != me {
        return Verdict::Garbled(format!("{what}: delivered to the wrong host"));
    }
    if f[6..12] != macs[flow.src] {
        return Verdict::Garbled(format!("{what}: source MAC {:02x?}", &f[6..12]));
    }
    if tag != flow.tag {
        return Verdict::Garbled(format!("{what}: tag {tag:?}, sent {:?}", flow.tag));
    }
    if n != body_len(id, seq) || p.len() != HEADER + n {
        return Verdict::Garbled(format!(
            "{what}: {} payload bytes, sent {}",
            p.len(),
            HEADER + body_len(id, seq)
        ));
    }
    let mut want = vec![0u8; n];
    Stream::new(seed(id, seq)).fill(&mut want);
    if let Some(i) = p[HEADER..].iter().zip(&want).position(|(a, b)| a != b) {
        return Verdict::Garbled(format!("{what}: body differs from byte {i}"));
    }
    Verdict::Good { flow: id, seq }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_frame_checks_and_a_flipped_bit_does_not() {
        let macs = [[2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]];
        let flows = vec![Flow {
            id: 0,
            src: 0,
            dst: 1,
            tag: Some((3, 20)),
            rate: 1.0,
            stable: true,
        }];
        for seq in 0..200 {
            let mut f = build(&flows[0], macs[0], macs[1], seq);
            assert!(f.len() >= 60 && f.len() <= 1514, "{}", f.len());
            assert_eq!(
                check(&f, macs[1], &flows, &macs),
                Verdict::Good { flow: 0, seq }
            );
            assert_eq!(check(&f, macs[0], &flows, &macs), Verdict::NotOurs);
            let last = f.len() - 1;
            f[last] ^= 1;
            assert!(matches!(
                check(&f, macs[1], &flows, &macs),
                Verdict::Garbled(_)
            ));
        }
    }
}

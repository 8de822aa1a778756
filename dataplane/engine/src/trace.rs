//! Tracing one frame ("where did my frame go?"): runs it through the
//! workers' own pipeline ([`Pipeline::process_observed`]) with a recorder
//! as its [`Observer`], and reports each decision: the VLAN it was
//! classified into, what learning would do with its source, the FDB's
//! answer for its destination, the disposition, and per port the
//! encoding it would leave with or why it gets nothing.
//!
//! Nothing is learned and nothing is sent. The run uses its own
//! [`Pipeline`] (its own answer cache and counters, published nowhere), a
//! private copy of the frame and its own spare buffers. What it touches
//! that others share: it registers an FDB reader for the call and pins it
//! once (so a slot retired meanwhile waits for this call to return before
//! it is reused), and it reads the FDB ([`Pinned::lookup`] and
//! [`Fdb::get`], which write nothing: no stamps, no counters). Meant for
//! the control thread, off the packet path: it allocates.
//!
//! [`Pinned::lookup`]: crate::fdb::Pinned::lookup

use std::sync::Arc;

use crossbeam_utils::CachePadded;

use crate::fdb::{Fdb, FdbError};
use crate::frame::{Frame, SparePool, Spares};
use crate::limits::{MAX_FRAME_LEN, VLAN_TAG_LEN};
use crate::pipeline::{
    BatchContext, BatchOutput, Classified, Disposition, FrameRef, Observer, Pipeline,
};
use crate::port::PortConfig;
use crate::snapshot::Snapshot;
use crate::stats::WorkerStats;
use crate::vocab::{DropReason, PortId, PortSet};
use crate::wire::{EthernetFrame, L2Header, Mac, TagKind, Tci};

/// Room in front of the traced frame, as a worker's buffers have.
const HEADROOM: usize = 256;

/// Why a frame could not be traced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    /// The ingress port is not configured.
    #[error("no port {0}")]
    NoPort(PortId),
    /// Longer than any frame the switch takes.
    #[error("the frame is {0} bytes; the switch takes at most {MAX_FRAME_LEN}")]
    TooLong(usize),
    /// No FDB reader could be registered.
    #[error(transparent)]
    Fdb(#[from] FdbError),
}

/// What learning would do with the frame's source (nothing is learned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceCheck {
    /// The ingress port has learning off.
    LearningOff,
    /// A group or all-zero source address is never learned.
    NotLearnable,
    /// Unknown in the frame's VLAN: it would be learned on the ingress port.
    New,
    /// Unknown, but the table is full: learning would be refused
    /// (`fdb_full`).
    NewButFull,
    /// Already known on the ingress port: its age would be refreshed
    /// (static entries are left as they are).
    Known {
        /// The entry is static.
        is_static: bool,
    },
    /// Known on another port: it would move to the ingress port.
    Moves {
        /// Where it is now.
        from: PortId,
    },
    /// Static on another port: learning would be refused
    /// (`fdb_static_conflict`).
    StaticElsewhere {
        /// The static entry's port.
        port: PortId,
    },
}

/// The destination's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// Broadcast: flooded in the VLAN.
    Broadcast,
    /// Multicast: flooded in the VLAN.
    Multicast,
    /// Known on `port` (by the FDB). `in_vlan` is false when that port no
    /// longer carries the VLAN: the frame is then flooded as unknown.
    Hit {
        /// Where the FDB says it is.
        port: PortId,
        /// That port carries the frame's VLAN.
        in_vlan: bool,
    },
    /// Not in the FDB: unknown unicast, flooded to the ports that take it.
    Miss,
}

/// How the frame leaves one port, compared with how it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Arrived untagged, leaves untagged.
    Untagged,
    /// Arrived with this tag (a priority tag included), leaves untagged.
    Pop(Tci),
    /// Arrived untagged, leaves with this tag pushed.
    Push(Tci),
    /// Arrived tagged and leaves with the same tag.
    Keep(Tci),
    /// Arrived tagged and leaves with another TCI (a priority tag that
    /// gets its VLAN's VID, PCP kept).
    Retag {
        /// As received.
        from: Tci,
        /// As sent.
        to: Tci,
    },
}

/// One port that gets the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    /// The port.
    pub port: PortId,
    /// How it leaves there.
    pub encoding: Encoding,
    /// Its length there, bytes.
    pub len: usize,
}

/// Why a configured port gets nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Excluded {
    /// It is the ingress port.
    Ingress,
    /// It does not carry the frame's VLAN.
    NotInVlan,
    /// The destination is known on another port (and this one is not
    /// promiscuous).
    NotDestination,
    /// Unknown unicast, and the port has `flood_unknown_unicast` off.
    NoUnknownUnicast,
    /// Dropped at output for this reason (e.g. `too_large` after
    /// tagging).
    Dropped(DropReason),
    /// The frame died before output (see the disposition).
    FrameDropped,
}

/// Everything one traced frame went through.
#[derive(Debug, Clone)]
pub struct Trace {
    /// The port it was received on.
    pub ingress: PortId,
    /// That port's configuration in force.
    pub port: PortConfig,
    /// Its length, bytes.
    pub len: usize,
    /// Its header as the pipeline reads it, or why it cannot be read.
    pub header: Result<L2Header, DropReason>,
    /// Phase 1's verdict: the VLAN, or a drop on receipt.
    pub classified: Result<Classified, DropReason>,
    /// What learning would do with the source (`None` when the frame was
    /// dropped on receipt: nothing of it is learned).
    pub source: Option<SourceCheck>,
    /// The destination's answer (`None` when dropped on receipt).
    pub destination: Option<Destination>,
    /// The pipeline's disposition.
    pub disposition: Disposition,
    /// Ports that get the frame, lowest first.
    pub outputs: Vec<Output>,
    /// Every other configured port and why it gets nothing, lowest first.
    pub excluded: Vec<(PortId, Excluded)>,
}

/// The observer of a trace: records the one frame's decisions and keeps
/// phase 2 from learning.
#[derive(Default)]
struct Recorder {
    classified: Option<Result<Classified, DropReason>>,
    destination: Option<Option<PortId>>,
}

impl Observer for Recorder {
    const LEARNS: bool = false;

    fn classified(&mut self, _i: usize, result: Result<Classified, DropReason>) {
        self.classified = Some(result);
    }

    fn destination(&mut self, _i: usize, found: Option<PortId>) {
        self.destination = Some(found);
    }
}

/// Runs `bytes`, received on `ingress`, through the pipeline under
/// `snapshot` at time `now` (the workers' clock, seconds) and reports what
/// it decided. See the module docs for what it touches.
pub fn trace(
    snapshot: &Snapshot,
    fdb: &Arc<Fdb>,
    ingress: PortId,
    bytes: &[u8],
    now: u32,
) -> Result<Trace, TraceError> {
    let port = snapshot
        .port(ingress)
        .cloned()
        .ok_or(TraceError::NoPort(ingress))?;
    if bytes.len() > MAX_FRAME_LEN {
        return Err(TraceError::TooLong(bytes.len()));
    }
    let chunk = HEADROOM + bytes.len() + VLAN_TAG_LEN;
    let mut buf = vec![0u8; chunk];
    buf[HEADROOM..HEADROOM + bytes.len()].copy_from_slice(bytes);
    // A frame yields at most one spare copy; two for good measure.
    let mut spare_mem = vec![0u8; 2 * chunk];
    let mut spares = SparePool::new(&mut spare_mem, chunk, HEADROOM);
    let mut frames =
        [Frame::new(&mut buf, HEADROOM, bytes.len()).ok_or(TraceError::TooLong(bytes.len()))?];
    let mut pipeline = Pipeline::new(Arc::new(CachePadded::new(WorkerStats::default())));
    let mut out = BatchOutput::default();
    let mut rec = Recorder::default();
    {
        let mut reader = fdb.reader()?;
        let pinned = reader.pin();
        let ctx = BatchContext {
            snapshot,
            fdb: &pinned,
            now,
            ingress,
        };
        pipeline.process_observed(&ctx, &mut frames, &mut spares, &mut out, &mut rec);
    }
    let disposition = out
        .dispositions()
        .first()
        .copied()
        .unwrap_or(Disposition::Drop(DropReason::PortUnknown));
    let header = EthernetFrame::read_l2_header(bytes);
    let classified = rec.classified.unwrap_or(Err(DropReason::PortUnknown));
    let (source, destination) = match (&classified, &header) {
        (Ok(c), Ok(h)) => (
            Some(source_check(fdb, &port, ingress, c, h.src, now)),
            Some(destination(snapshot, c, h.dst, rec.destination)),
        ),
        _ => (None, None),
    };
    let arrived = match header {
        Ok(L2Header {
            tag: TagKind::Tagged(t) | TagKind::Priority(t),
            ..
        }) => Some(t),
        _ => None,
    };
    let mut outputs = Vec::new();
    for o in out.outputs() {
        let frame = match o.frame {
            FrameRef::Rx(i) => frames.get(i as usize),
            FrameRef::Spare(j) => spares.written(j as usize),
        };
        let Some(frame) = frame else { continue };
        let left = match EthernetFrame::read_l2_header(frame.data()) {
            Ok(L2Header {
                tag: TagKind::Tagged(t) | TagKind::Priority(t),
                ..
            }) => Some(t),
            _ => None,
        };
        let encoding = match (arrived, left) {
            (None, None) => Encoding::Untagged,
            (Some(t), None) => Encoding::Pop(t),
            (None, Some(t)) => Encoding::Push(t),
            (Some(a), Some(b)) if a == b => Encoding::Keep(b),
            (Some(from), Some(to)) => Encoding::Retag { from, to },
        };
        for p in o.ports.iter() {
            outputs.push(Output {
                port: p,
                encoding,
                len: frame.len(),
            });
        }
    }
    outputs.sort_by_key(|o| o.port);
    let sent: PortSet = outputs.iter().map(|o| o.port).collect();
    let counters = pipeline.last_batch();
    let tx_reason = if counters.drops(DropReason::TooLarge) > 0 {
        DropReason::TooLarge
    } else {
        DropReason::NoSpareFrame
    };
    let mut excluded = Vec::new();
    // A frame dropped on receipt reaches no port's decision: nothing to say.
    let ports = snapshot.ports().filter(|_| classified.is_ok());
    for (q, cfg) in ports {
        if sent.contains(q) {
            continue;
        }
        let why = if q == ingress {
            Excluded::Ingress
        } else if counters.port(q).tx_dropped > 0 {
            Excluded::Dropped(tx_reason)
        } else {
            match (&classified, destination) {
                (Ok(c), _) if !snapshot.vlan(c.vlan).members.contains(q) => Excluded::NotInVlan,
                (Ok(_), _) if matches!(disposition, Disposition::Drop(DropReason::SamePort)) => {
                    Excluded::FrameDropped
                }
                (Ok(_), Some(Destination::Hit { in_vlan: true, .. })) => Excluded::NotDestination,
                (Ok(_), Some(Destination::Hit { .. } | Destination::Miss))
                    if !cfg.flood_unknown_unicast =>
                {
                    Excluded::NoUnknownUnicast
                }
                _ => Excluded::FrameDropped,
            }
        };
        excluded.push((q, why));
    }
    Ok(Trace {
        ingress,
        port,
        len: bytes.len(),
        header,
        classified,
        source,
        destination,
        disposition,
        outputs,
        excluded,
    })
}

/// What learning would do with `src` (see [`SourceCheck`]).
fn source_check(
    fdb: &Fdb,
    port: &PortConfig,
    ingress: PortId,
    c: &Classified,
    src: Mac,
    now: u32,
) -> SourceCheck {
    if !port.learning {
        return SourceCheck::LearningOff;
    }
    if !src.is_learnable() {
        return SourceCheck::NotLearnable;
    }
    match fdb.get(c.vlan, src, now) {
        None if fdb.used() >= fdb.capacity() => SourceCheck::NewButFull,
        None => SourceCheck::New,
        Some(e) if e.port == ingress => SourceCheck::Known {
            is_static: e.is_static,
        },
        Some(e) if e.is_static => SourceCheck::StaticElsewhere { port: e.port },
        Some(e) => SourceCheck::Moves { from: e.port },
    }
}

/// The destination's answer: the pipeline's lookup for unicast.
fn destination(
    snapshot: &Snapshot,
    c: &Classified,
    dst: Mac,
    found: Option<Option<PortId>>,
) -> Destination {
    if dst.is_broadcast() {
        return Destination::Broadcast;
    }
    if dst.is_group() {
        return Destination::Multicast;
    }
    match found.flatten() {
        Some(port) => Destination::Hit {
            port,
            in_vlan: snapshot.vlan(c.vlan).members.contains(port),
        },
        None => Destination::Miss,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fdb::FdbConfig;
    use crate::mem::MemSwitch;
    use crate::vlan::VlanMode;
    use crate::wire::VlanId;

    fn p(i: usize) -> PortId {
        PortId::new(i).unwrap()
    }
    fn v(n: u16) -> VlanId {
        VlanId::new(n).unwrap()
    }
    fn mac(last: u8) -> Mac {
        Mac::new([2, 0, 0, 0, 0, last])
    }
    fn frame(dst: Mac, src: Mac, tag: Option<Tci>) -> Vec<u8> {
        let mut f = dst.octets().to_vec();
        f.extend_from_slice(&src.octets());
        if let Some(t) = tag {
            f.extend_from_slice(&[0x81, 0x00]);
            f.extend_from_slice(&t.0.to_be_bytes());
        }
        f.extend_from_slice(&[0x88, 0xb5]);
        f.resize(60, 0);
        f
    }

    /// p0 access 10, p1 trunk 10,20 native 99, p2 guest, p3 access 20.
    fn switch() -> MemSwitch {
        MemSwitch::new(
            FdbConfig::default(),
            [
                (p(0), PortConfig::new(VlanMode::Access(v(10)))),
                (
                    p(1),
                    PortConfig::new(VlanMode::Trunk {
                        allowed: "10,20".parse().unwrap(),
                        native: Some(v(99)),
                    }),
                ),
                (p(2), PortConfig::new(VlanMode::Guest { native: None })),
                (p(3), PortConfig::new(VlanMode::Access(v(20)))),
            ],
        )
        .unwrap()
    }

    /// The trace's outputs are exactly what the switch then transmits,
    /// byte for byte, and the trace learned nothing.
    fn agrees(sw: &mut MemSwitch, ingress: PortId, f: &[u8]) -> Trace {
        let fdb = Arc::clone(sw.fdb());
        let before = fdb.entries(sw.now());
        let t = trace(&sw.snapshot(), &fdb, ingress, f, sw.now()).unwrap();
        assert_eq!(fdb.entries(sw.now()), before, "the trace learned");
        sw.clear_tx();
        let d = sw.receive(ingress, &[f]);
        assert_eq!(d, vec![t.disposition]);
        for q in 0..4 {
            let got = sw.take_tx(p(q));
            match t.outputs.iter().find(|o| o.port == p(q)) {
                Some(o) => {
                    assert_eq!(got.len(), 1, "port {q}");
                    assert_eq!(got[0].len(), o.len, "port {q}");
                }
                None => assert!(
                    got.is_empty(),
                    "port {q} got {got:?} but the trace said {t:?}"
                ),
            }
        }
        t
    }

    #[test]
    fn broadcast_from_access_is_tagged_on_trunks() {
        let mut sw = switch();
        let t = agrees(&mut sw, p(0), &frame(Mac::BROADCAST, mac(1), None));
        assert_eq!(t.classified.unwrap().vlan, v(10));
        assert_eq!(t.source, Some(SourceCheck::New));
        assert_eq!(t.destination, Some(Destination::Broadcast));
        let tag = Tci::new(0, false, 10);
        assert_eq!(
            t.outputs
                .iter()
                .map(|o| (o.port, o.encoding))
                .collect::<Vec<_>>(),
            vec![(p(1), Encoding::Push(tag)), (p(2), Encoding::Push(tag))]
        );
        assert_eq!(
            t.excluded,
            vec![(p(0), Excluded::Ingress), (p(3), Excluded::NotInVlan)]
        );
    }

    #[test]
    fn trunk_tags_are_kept_popped_or_refused() {
        let mut sw = switch();
        let t = agrees(
            &mut sw,
            p(1),
            &frame(Mac::BROADCAST, mac(2), Some(Tci::new(5, false, 10))),
        );
        let tag = Tci::new(5, false, 10);
        assert_eq!(
            t.outputs
                .iter()
                .map(|o| (o.port, o.encoding))
                .collect::<Vec<_>>(),
            vec![(p(0), Encoding::Pop(tag)), (p(2), Encoding::Keep(tag))]
        );
        let t = agrees(
            &mut sw,
            p(1),
            &frame(Mac::BROADCAST, mac(2), Some(Tci::new(0, false, 30))),
        );
        assert_eq!(t.classified, Err(DropReason::VlanNotAllowed));
        assert_eq!(t.disposition, Disposition::Drop(DropReason::VlanNotAllowed));
        assert!(t.outputs.is_empty() && t.source.is_none());
        // Untagged on the trunk: the native VLAN 99, which besides the
        // trunk only the guest port carries (tagged).
        let t = agrees(&mut sw, p(1), &frame(Mac::BROADCAST, mac(2), None));
        assert_eq!(t.classified.unwrap().vlan, v(99));
        assert_eq!(
            t.outputs
                .iter()
                .map(|o| (o.port, o.encoding))
                .collect::<Vec<_>>(),
            vec![(p(2), Encoding::Push(Tci::new(0, false, 99)))]
        );
        assert_eq!(
            t.excluded,
            vec![
                (p(0), Excluded::NotInVlan),
                (p(1), Excluded::Ingress),
                (p(3), Excluded::NotInVlan)
            ]
        );
        // Learned in VLAN 10 by the first frame; new in VLAN 99.
        assert_eq!(t.source, Some(SourceCheck::New));
        let t = agrees(
            &mut sw,
            p(1),
            &frame(Mac::BROADCAST, mac(2), Some(Tci::new(0, false, 10))),
        );
        assert_eq!(t.source, Some(SourceCheck::Known { is_static: false }));
    }

    #[test]
    fn known_unknown_and_same_port() {
        let mut sw = switch();
        // Teach the switch mac(3) on p2 (guest, VLAN 10 tagged).
        sw.receive(
            p(2),
            &[&frame(Mac::BROADCAST, mac(3), Some(Tci::new(0, false, 10)))],
        );
        let t = agrees(&mut sw, p(0), &frame(mac(3), mac(1), None));
        assert_eq!(
            t.destination,
            Some(Destination::Hit {
                port: p(2),
                in_vlan: true
            })
        );
        assert_eq!(t.disposition, Disposition::Forward(p(2)));
        assert!(t.excluded.contains(&(p(1), Excluded::NotDestination)));
        // Unknown: flooded.
        let t = agrees(&mut sw, p(0), &frame(mac(9), mac(1), None));
        assert_eq!(t.destination, Some(Destination::Miss));
        assert_eq!(t.outputs.len(), 2);
        // Back to where it came from: dropped.
        let t = agrees(
            &mut sw,
            p(2),
            &frame(mac(3), mac(4), Some(Tci::new(0, false, 10))),
        );
        assert_eq!(t.disposition, Disposition::Drop(DropReason::SamePort));
        // mac(1) was learned on p0 by the switch's receive, not the trace.
        let t = agrees(
            &mut sw,
            p(2),
            &frame(mac(9), mac(1), Some(Tci::new(0, false, 10))),
        );
        assert_eq!(t.source, Some(SourceCheck::Moves { from: p(0) }));
    }
}

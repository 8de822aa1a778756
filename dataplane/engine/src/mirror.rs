//! Port mirroring (SPAN): sessions that copy what some ports receive
//! and/or send to an analyser port, the session's *output*.
//!
//! The control thread sets the sessions on the [`crate::Engine`], which
//! checks them ([`MirrorError`]) and publishes them in the snapshot as a
//! [`MirrorTable`]; with no session the snapshot holds none and the
//! pipeline pays one branch per frame.
//!
//! How a copy is made: the pipeline hands a frame to a set of output
//! ports, each in its own encoding (tagged or not in the frame's VLAN).
//! [`MirrorTable::apply`] adds a session's output to that set, in the
//! encoding of the frame *as received* (ingress: tagged if it arrived
//! tagged) or *as sent* on the first egress source in the set (egress:
//! tagged if that source sends the VLAN tagged). So the output gets the
//! very buffer the source gets, after the same tag push or pop, or the
//! received frame before any; the pipeline's usual encoding, size check,
//! copy and hand-off to the output's worker do the rest, and a copy the
//! output cannot take is a counted tx drop of the output port.
//!
//! An output port carries nothing but copies: the snapshot takes it out
//! of every VLAN (no flooding, no forwarding: the engine flushes its
//! learned entries and refuses static ones) and the pipeline drops what
//! it receives as `mirror_output`. A frame is copied to one output at most
//! once (ingress first), and only a frame the switch forwards somewhere:
//! one dropped on ingress (wrong VLAN, `same_port`, `no_output`) is not
//! copied.

use crate::vlan::VlanSet;
use crate::vocab::{PortId, PortSet};
use crate::wire::VlanId;

/// Which of a source port's frames a session copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorDirection {
    /// Frames the source receives, as received.
    Ingress,
    /// Frames the source sends, as sent.
    Egress,
    /// Both.
    Both,
}

impl MirrorDirection {
    fn ingress(self) -> bool {
        matches!(self, MirrorDirection::Ingress | MirrorDirection::Both)
    }
    fn egress(self) -> bool {
        matches!(self, MirrorDirection::Egress | MirrorDirection::Both)
    }
}

/// One mirror session in engine terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorSession {
    /// Ports whose traffic is copied.
    pub sources: PortSet,
    /// Which way.
    pub direction: MirrorDirection,
    /// Only frames of these VLANs (`None`: every VLAN).
    pub vlans: Option<VlanSet>,
    /// Where copies go.
    pub output: PortId,
}

/// Why a set of sessions was refused. Nothing changed when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MirrorError {
    /// A session names a port that is not configured.
    #[error("no port {0}")]
    NoPort(PortId),
    /// A session has no source port.
    #[error("a mirror session needs at least one source port")]
    NoSource,
    /// The output is also one of the session's sources (or of another's).
    #[error("port {0} is a mirror output and a mirror source")]
    OutputIsSource(PortId),
    /// Two sessions share an output.
    #[error("port {0} is already the output of another mirror session")]
    OutputShared(PortId),
    /// A static FDB entry points at the output, which would forward to it.
    #[error("port {0} is or would be a mirror output, which takes no static FDB entries (it gets only copies)")]
    OutputHasStatic(PortId),
    /// A port in a session cannot be removed.
    #[error("port {0} is in a mirror session: delete the session first")]
    InSession(PortId),
}

/// Checks a set of sessions against the configured ports (`exists`) and
/// the ports static entries point at (`has_static`).
pub fn check(
    sessions: &[MirrorSession],
    exists: impl Fn(PortId) -> bool,
    has_static: impl Fn(PortId) -> bool,
) -> Result<(), MirrorError> {
    let mut outputs = PortSet::EMPTY;
    let mut sources = PortSet::EMPTY;
    for s in sessions {
        if s.sources.is_empty() {
            return Err(MirrorError::NoSource);
        }
        if let Some(p) = s.sources.iter().find(|&p| !exists(p)) {
            return Err(MirrorError::NoPort(p));
        }
        if !exists(s.output) {
            return Err(MirrorError::NoPort(s.output));
        }
        if outputs.contains(s.output) {
            return Err(MirrorError::OutputShared(s.output));
        }
        if has_static(s.output) {
            return Err(MirrorError::OutputHasStatic(s.output));
        }
        outputs.insert(s.output);
        sources = sources.union(s.sources);
    }
    if let Some(p) = outputs.intersection(sources).iter().next() {
        return Err(MirrorError::OutputIsSource(p));
    }
    Ok(())
}

/// Whether `port` is a mirror output under `snap`: what it receives is
/// dropped as `mirror_output` (one branch per batch without sessions).
#[inline(always)]
pub fn receives_nothing(snap: &crate::snapshot::Snapshot, port: PortId) -> bool {
    snap.mirrors().is_some_and(|t| t.outputs.contains(port))
}

/// The sessions as the packet path reads them.
#[derive(Debug, Clone)]
pub struct MirrorTable {
    sessions: Box<[MirrorSession]>,
    ingress: PortSet,
    egress: PortSet,
    outputs: PortSet,
}

impl MirrorTable {
    /// A table of checked sessions ([`check`]); `None` when there are none.
    pub fn new(sessions: &[MirrorSession]) -> Option<MirrorTable> {
        if sessions.is_empty() {
            return None;
        }
        let mut t = MirrorTable {
            sessions: sessions.into(),
            ingress: PortSet::EMPTY,
            egress: PortSet::EMPTY,
            outputs: PortSet::EMPTY,
        };
        for s in sessions {
            if s.direction.ingress() {
                t.ingress = t.ingress.union(s.sources);
            }
            if s.direction.egress() {
                t.egress = t.egress.union(s.sources);
            }
            t.outputs.insert(s.output);
        }
        Some(t)
    }

    /// Every session's output port.
    #[inline]
    pub fn outputs(&self) -> PortSet {
        self.outputs
    }

    /// Adds the outputs of the sessions that copy a frame of `vlan`
    /// received on `ingress` (with a tag if `arrived_tagged`) and sent to
    /// `ports`, of which `tagged` send it tagged. Returns the new port set
    /// and tagged set. Kept out of line: the forwarding loop stays as
    /// small as without sessions.
    #[inline(never)]
    pub fn apply(
        &self,
        ingress: PortId,
        vlan: VlanId,
        arrived_tagged: bool,
        ports: PortSet,
        tagged: PortSet,
    ) -> (PortSet, PortSet) {
        let in_hit = self.ingress.contains(ingress);
        let out_hit = !ports.intersection(self.egress).is_empty();
        if !in_hit && !out_hit {
            return (ports, tagged);
        }
        let (mut all, mut tags) = (ports, tagged);
        for s in self.sessions.iter() {
            if all.contains(s.output) || s.vlans.as_ref().is_some_and(|v| !v.contains(vlan)) {
                continue;
            }
            let tag = if s.direction.ingress() && s.sources.contains(ingress) {
                arrived_tagged
            } else if s.direction.egress() {
                match ports.intersection(s.sources).iter().next() {
                    Some(p) => tagged.contains(p),
                    None => continue,
                }
            } else {
                continue;
            };
            all.insert(s.output);
            if tag {
                tags.insert(s.output);
            } else {
                tags.remove(s.output);
            }
        }
        (all, tags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(i: usize) -> PortId {
        PortId::new(i).unwrap()
    }
    fn v(n: u16) -> VlanId {
        VlanId::new(n).unwrap()
    }
    fn set(ps: &[usize]) -> PortSet {
        ps.iter().map(|&i| p(i)).collect()
    }
    fn session(src: &[usize], d: MirrorDirection, out: usize) -> MirrorSession {
        MirrorSession {
            sources: set(src),
            direction: d,
            vlans: None,
            output: p(out),
        }
    }

    #[test]
    fn checks() {
        let yes = |_| true;
        let no = |_| false;
        let s = session(&[0], MirrorDirection::Both, 1);
        assert_eq!(check(std::slice::from_ref(&s), yes, no), Ok(()));
        assert_eq!(
            check(&[session(&[0, 1], MirrorDirection::Both, 1)], yes, no),
            Err(MirrorError::OutputIsSource(p(1)))
        );
        assert_eq!(
            check(
                &[s.clone(), session(&[1], MirrorDirection::Ingress, 2)],
                yes,
                no
            ),
            Err(MirrorError::OutputIsSource(p(1)))
        );
        assert_eq!(
            check(
                &[s.clone(), session(&[2], MirrorDirection::Both, 1)],
                yes,
                no
            ),
            Err(MirrorError::OutputShared(p(1)))
        );
        assert_eq!(
            check(std::slice::from_ref(&s), |q| q != p(1), no),
            Err(MirrorError::NoPort(p(1)))
        );
        assert_eq!(
            check(std::slice::from_ref(&s), yes, |q| q == p(1)),
            Err(MirrorError::OutputHasStatic(p(1)))
        );
        assert_eq!(
            check(&[session(&[], MirrorDirection::Both, 1)], yes, no),
            Err(MirrorError::NoSource)
        );
        assert!(MirrorTable::new(&[]).is_none());
    }

    #[test]
    fn ingress_copies_keep_the_arrival_encoding() {
        let t = MirrorTable::new(&[session(&[0], MirrorDirection::Ingress, 5)]).unwrap();
        // Tagged in, untagged out to port 1: the output gets it tagged.
        let (all, tags) = t.apply(p(0), v(10), true, set(&[1]), PortSet::EMPTY);
        assert_eq!(all, set(&[1, 5]));
        assert_eq!(tags, set(&[5]));
        // Untagged in, tagged out: the output gets it untagged.
        let (all, tags) = t.apply(p(0), v(10), false, set(&[1]), set(&[1]));
        assert_eq!((all, tags), (set(&[1, 5]), set(&[1])));
        // Another ingress port: nothing; egress to port 0 is not copied.
        let (all, _) = t.apply(p(1), v(10), false, set(&[0]), PortSet::EMPTY);
        assert_eq!(all, set(&[0]));
    }

    #[test]
    fn egress_copies_take_the_source_encoding_and_vlans_filter() {
        let mut s = session(&[2], MirrorDirection::Egress, 5);
        s.vlans = Some("10-20".parse().unwrap());
        let t = MirrorTable::new(&[s]).unwrap();
        let (all, tags) = t.apply(p(0), v(10), false, set(&[1, 2]), set(&[2]));
        assert_eq!((all, tags), (set(&[1, 2, 5]), set(&[2, 5])));
        let (all, tags) = t.apply(p(0), v(10), true, set(&[2]), PortSet::EMPTY);
        assert_eq!((all, tags), (set(&[2, 5]), PortSet::EMPTY));
        // VLAN 30 is filtered out; a frame not sent on port 2 is not copied.
        assert_eq!(
            t.apply(p(0), v(30), false, set(&[2]), set(&[2])).0,
            set(&[2])
        );
        assert_eq!(
            t.apply(p(2), v(10), false, set(&[1]), set(&[1])).0,
            set(&[1])
        );
    }
}

//! The security policy's two checks on the packet path (see
//! `crate::policy`), kept out of the phases' loops: with every policy off
//! they cost one test per batch (forged transmits) and one per unicast
//! frame (MAC changes).

use super::Meta;
use crate::frame::Frame;
use crate::policy::refused_destinations;
use crate::snapshot::Snapshot;
use crate::stats::BatchCounters;
use crate::vocab::{DropReason, PortSet};
use crate::wire::Mac;

/// After classification: frames whose source is not `mac` die as
/// `forged_source`, before they are learned from.
#[cold]
#[inline(never)]
pub(super) fn drop_forged(mac: Mac, frames: &[Frame<'_>], meta: &mut [Meta]) {
    for (m, f) in meta.iter_mut().zip(frames) {
        if m.vlan.is_none() {
            continue;
        }
        let src = f
            .data()
            .get(6..12)
            .and_then(|s| <[u8; 6]>::try_from(s).ok());
        if src.map(Mac::new) != Some(mac) {
            *m = Meta {
                drop: Some(DropReason::ForgedSource),
                ..Meta::default()
            };
        }
    }
}

/// Removes from `ports` those that reject MAC changes and whose MAC is
/// not the frame's destination (counted per port); `None` when none is
/// left because of it (the caller drops the frame and counts it once).
#[cold]
#[inline(never)]
pub(super) fn keep_destinations(
    snap: &Snapshot,
    counters: &mut BatchCounters,
    ports: PortSet,
    dst_key: u64,
) -> Option<PortSet> {
    let refused = refused_destinations(snap, ports, Mac::from_u64(dst_key));
    if refused == ports && !ports.is_empty() {
        return None;
    }
    for p in refused.iter() {
        counters.tx_drop(p, DropReason::MacChange);
    }
    Some(ports.difference(refused))
}

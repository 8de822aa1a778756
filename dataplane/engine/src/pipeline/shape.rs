//! Traffic shaping in the pipeline (limits and buckets: crate::shaping).
//!
//! - Ingress: after classification, each frame that would be switched is
//!   charged to the ingress port's shaper; one over the limit dies as
//!   `shaped` (counted rx), before learning, as a frame the port never
//!   took. The pipeline looks at the ingress shaper once per batch.
//! - Egress: each output port's shaper is charged the frame's length in
//!   the encoding it leaves with (a flood copy to a shaped port too); a
//!   port over its limit is dropped from the output (`shaped`, counted tx
//!   on that port). Unshaped switches never get here: the output fast path
//!   is closed only while some port's egress is shaped
//!   ([`Snapshot::egress_fast_len`](crate::snapshot::Snapshot::egress_fast_len)).
//!
//! The clock is read at most once per batch.

use super::{Egress, Meta};
use crate::frame::Frame;
use crate::shaping::Shaper;
use crate::vocab::{DropReason, PortSet};

/// Charges every frame still to be switched to the ingress `shaper`;
/// marks the ones over the limit `shaped`.
#[inline(never)]
pub(super) fn ingress(shaper: &Shaper, now: u64, frames: &[Frame<'_>], meta: &mut [Meta]) {
    for (m, f) in meta.iter_mut().zip(frames) {
        if m.vlan.is_some() && !shaper.admit(now, f.len()) {
            *m = Meta {
                drop: Some(DropReason::Shaped),
                ..Meta::default()
            };
        }
    }
}

impl<S: ?Sized> Egress<'_, S> {
    /// `ports` less the shaped ones over their limit for a frame of `len`
    /// bytes (counted per port).
    #[inline]
    pub(super) fn shape(&mut self, ports: PortSet, len: usize) -> PortSet {
        let shaped = ports.intersection(self.snap.shaped_egress());
        if shaped.is_empty() || !self.shapes {
            return ports;
        }
        self.shape_ports(ports, shaped, len)
    }

    #[inline(never)]
    fn shape_ports(&mut self, ports: PortSet, shaped: PortSet, len: usize) -> PortSet {
        let now = match self.now_ns {
            Some(t) => t,
            None => {
                let t = (self.clock)();
                self.now_ns = Some(t);
                t
            }
        };
        let mut ok = ports;
        for p in shaped.iter() {
            let admitted = self
                .snap
                .port(p)
                .and_then(|c| c.shaping.egress.as_deref())
                .is_none_or(|s| s.admit(now, len));
            if !admitted {
                ok.remove(p);
                self.counters.tx_drop(p, DropReason::Shaped);
            }
        }
        ok
    }
}

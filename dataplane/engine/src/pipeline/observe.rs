//! Watching the pipeline decide, without a second pipeline: the phases
//! call an [`Observer`] at each decision a trace reports, and the
//! observer may switch learning off.
//!
//! Workers pass [`NoObserver`]: a zero-sized type whose hooks are empty
//! and inlined, so their batches compile to the code they had before
//! observers existed (`Pipeline::process` does exactly that). The trace
//! (crate::trace) passes a recorder that keeps the one frame's answers and
//! says [`Observer::LEARNS`]` = false`.

use crate::vocab::PortId;
use crate::wire::{Tci, VlanId};

/// What phase 1 decided about a frame that was not dropped on receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classified {
    /// The VLAN the frame belongs to.
    pub vlan: VlanId,
    /// PCP and DEI of the received tag (0 when untagged), VID = `vlan`.
    pub tci: Tci,
    /// It arrived with an 802.1Q tag (a priority tag counts).
    pub tagged: bool,
    /// Its source would go through the FDB's learn (the port learns, the
    /// address is learnable, and the worker's cache did not already vouch
    /// for it this second).
    pub learn: bool,
}

/// Hooks the pipeline calls as it decides. Every hook has an empty
/// default; frame indexes are positions in the batch.
pub trait Observer {
    /// Whether the batch changes shared state: phase 2 learns sources and
    /// shapers (crate::shaping) are charged. A trace says `false`: it must
    /// not change the FDB nor spend a port's tokens (so it does not show
    /// shaping drops).
    const LEARNS: bool = true;

    /// Phase 1 classified frame `i` into a VLAN, or dropped it on receipt
    /// (malformed, too large, a tag its port refuses).
    #[inline(always)]
    fn classified(&mut self, i: usize, result: Result<Classified, crate::vocab::DropReason>) {
        let _ = (i, result);
    }

    /// Phase 3 looked up the unicast destination of frame `i` (the
    /// worker's answer cache or the FDB): the port it is known on, if any.
    /// Not called for group destinations, which always flood.
    #[inline(always)]
    fn destination(&mut self, i: usize, found: Option<PortId>) {
        let _ = (i, found);
    }
}

/// The workers' observer: sees nothing, costs nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl Observer for NoObserver {}

//! Per-port policy beyond VLANs: ESXi's security policy (MAC changes,
//! forged transmits) and the VDS MAC-learning limit. Kept apart from
//! [`PortConfig`](crate::port::PortConfig)'s switching flags so that other
//! per-port policies (shaping) sit beside it.
//!
//! Where each is enforced:
//! - forged transmits rejected: in the pipeline's parse phase, a frame
//!   whose source is not the port's MAC dies as `forged_source` before it
//!   is learned from;
//! - MAC changes rejected: at output, a unicast frame whose destination is
//!   not the port's MAC is not delivered to it (`mac_change`), whether it
//!   was learned there or flooded; broadcast and multicast still are. A
//!   promiscuous port keeps its copies (it asked for everything);
//! - `max_macs`: in the FDB, checked only when a source new to the port is
//!   learned ([`Fdb`](crate::fdb::Fdb) counts dynamic entries per port).

use crate::fdb::Learn;
use crate::snapshot::Snapshot;
use crate::stats::BatchCounters;
use crate::vocab::{DropReason, Event, PortSet};
use crate::wire::Mac;

/// What a port does with frames from a source it may not learn because
/// of its `max_macs`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LimitPolicy {
    /// Drop them (counted as `mac_limit`).
    #[default]
    Drop,
    /// Forward them without learning the source.
    Allow,
}

/// A port's security and MAC-learning policy. `true` = accept, as ESXi.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortPolicy {
    /// The port's own MAC (the VM's NIC): what forged-transmit and
    /// MAC-change checks compare against.
    pub mac: Option<Mac>,
    /// Deliver unicast for MACs other than `mac` to the port.
    pub mac_changes: bool,
    /// Accept frames whose source is not `mac`.
    pub forged_transmits: bool,
    /// Most dynamic FDB entries the port may hold (`None`: no limit).
    pub max_macs: Option<u32>,
    /// What happens to frames from sources past the limit.
    pub limit_policy: LimitPolicy,
}

impl Default for PortPolicy {
    /// ESXi's defaults: MAC changes and forged transmits accepted, no
    /// limit.
    fn default() -> Self {
        PortPolicy {
            mac: None,
            mac_changes: true,
            forged_transmits: true,
            max_macs: None,
            limit_policy: LimitPolicy::Drop,
        }
    }
}

/// `max_macs` of a port without a limit, as the FDB takes it.
pub const NO_MAC_LIMIT: u32 = u32::MAX;

impl PortPolicy {
    /// The only source MAC frames from this port may carry, when forged
    /// transmits are rejected (and a MAC is set).
    #[inline]
    pub fn source_lock(&self) -> Option<Mac> {
        if self.forged_transmits {
            None
        } else {
            self.mac
        }
    }

    /// The learning limit as the FDB takes it.
    #[inline]
    pub fn learn_limit(&self) -> u32 {
        self.max_macs.unwrap_or(NO_MAC_LIMIT)
    }

    /// Whether the port refuses unicast for other MACs.
    #[inline]
    pub fn locks_destination(&self) -> bool {
        !self.mac_changes && self.mac.is_some()
    }
}

/// The ports of `ports` that must not get a unicast frame for `dst`
/// because they reject MAC changes and `dst` is not their MAC. Called only
/// when some port rejects MAC changes.
#[cold]
#[inline(never)]
pub(crate) fn refused_destinations(snap: &Snapshot, ports: PortSet, dst: Mac) -> PortSet {
    let mut refused = PortSet::EMPTY;
    for p in ports.intersection(snap.dst_locked()).iter() {
        if snap.port(p).and_then(|c| c.policy.mac) != Some(dst) {
            refused.insert(p);
        }
    }
    refused
}

/// Counts a learn the FDB refused for room, limit or hold-down; a frame
/// over its port's limit with `limit_policy = "drop"` is to die (the
/// reason returned).
#[cold]
#[inline(never)]
pub(crate) fn refused_learn(
    refused: Learn,
    policy: &PortPolicy,
    counters: &mut BatchCounters,
) -> Option<DropReason> {
    let event = match refused {
        Learn::Evicted => Event::FdbEvicted,
        Learn::HeldDown => Event::FdbHeldDown,
        _ => Event::FdbLimit,
    };
    counters.event(event, 1);
    (refused == Learn::Limit && policy.limit_policy == LimitPolicy::Drop)
        .then_some(DropReason::MacLimit)
}

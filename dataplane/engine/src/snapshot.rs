//! An immutable view of the switch configuration, built by the control
//! thread and loaded by workers once per batch. Per-VLAN port sets are
//! precomputed here so the packet path does one indexed load per frame
//! instead of walking port configs.

use std::sync::Arc;

use crate::capture::CaptureSet;
use crate::limits::{MAX_FRAME_LEN, MAX_PORTS};
use crate::mirror::{MirrorSession, MirrorTable};
use crate::port::PortConfig;
use crate::vocab::{PortId, PortSet};
use crate::wire::VlanId;

/// Ports that carry one VLAN, and how it leaves them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VlanPorts {
    /// Ports that carry the VLAN.
    pub members: PortSet,
    /// Members where the VLAN leaves with an 802.1Q tag.
    pub tagged: PortSet,
}

/// The configuration a batch is switched under.
#[derive(Debug, Clone)]
pub struct Snapshot {
    ports: Box<[Option<PortConfig>]>,
    /// One row per 12-bit VID, so that indexing by a masked VID needs no
    /// bounds check on the packet path.
    vlans: Box<[VlanPorts; 4096]>,
    promiscuous: PortSet,
    unknown_unicast: PortSet,
    /// Ports that refuse unicast for MACs not theirs (MAC changes
    /// rejected, not promiscuous).
    dst_locked: PortSet,
    smallest_max_frame: usize,
    /// Ports with egress shaping, and the length up to which a frame
    /// skips the per-port output checks (see [`Snapshot::egress_fast_len`]).
    shaped_egress: PortSet,
    egress_fast_len: usize,
    /// Worker owning each port (`NO_WORKER` when none): where frames for
    /// it must be handed.
    placement: Box<[u8]>,
    /// The captures running (`capture.rs`); `None` when there are none,
    /// the one thing a worker tests then.
    captures: Option<Arc<CaptureSet>>,
    /// Mirror sessions; `None` when there are none (see `crate::mirror`).
    mirrors: Option<Box<MirrorTable>>,
}

const NO_WORKER: u8 = u8::MAX;

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot::new(core::iter::empty())
    }
}

impl Snapshot {
    /// Builds a snapshot from the configured ports.
    pub fn new(ports: impl IntoIterator<Item = (PortId, PortConfig)>) -> Snapshot {
        let mut table: Vec<Option<PortConfig>> = vec![None; MAX_PORTS];
        for (id, cfg) in ports {
            table[id.index()] = Some(cfg);
        }
        // Built on the heap: 64 KiB is too much for a worker's stack.
        let mut vlans: Box<[VlanPorts; 4096]> = vec![VlanPorts::default(); 4096]
            .into_boxed_slice()
            .try_into()
            .unwrap_or_else(|_| unreachable!("4096 rows"));
        let mut promiscuous = PortSet::EMPTY;
        let mut unknown_unicast = PortSet::EMPTY;
        let mut dst_locked = PortSet::EMPTY;
        let mut smallest_max_frame = MAX_FRAME_LEN;
        let mut shaped_egress = PortSet::EMPTY;
        for (i, cfg) in table.iter().enumerate() {
            let (Some(cfg), Some(id)) = (cfg, PortId::new(i)) else {
                continue;
            };
            for vlan in cfg.vlan.carried().iter() {
                let row = &mut vlans[vlan.get() as usize];
                row.members.insert(id);
                if cfg.vlan.tags(vlan) {
                    row.tagged.insert(id);
                }
            }
            if cfg.promiscuous {
                promiscuous.insert(id);
            }
            if cfg.flood_unknown_unicast {
                unknown_unicast.insert(id);
            }
            if cfg.policy.locks_destination() && !cfg.promiscuous {
                dst_locked.insert(id);
            }
            smallest_max_frame = smallest_max_frame.min(cfg.max_frame_len);
            if cfg.shaping.egress.is_some() {
                shaped_egress.insert(id);
            }
        }
        Snapshot {
            ports: table.into_boxed_slice(),
            vlans,
            promiscuous,
            unknown_unicast,
            dst_locked,
            smallest_max_frame,
            shaped_egress,
            egress_fast_len: if shaped_egress.is_empty() {
                smallest_max_frame
            } else {
                0
            },
            placement: vec![NO_WORKER; MAX_PORTS].into_boxed_slice(),
            captures: None,
            mirrors: None,
        }
    }

    /// The same snapshot with `captures` running.
    pub fn with_captures(mut self, captures: Option<Arc<CaptureSet>>) -> Snapshot {
        self.captures = captures;
        self
    }

    /// The captures running, if any.
    #[inline(always)]
    pub fn captures(&self) -> Option<&CaptureSet> {
        self.captures.as_deref()
    }

    /// The same snapshot with mirror sessions (checked by
    /// `crate::mirror::check`): their outputs leave every VLAN, the
    /// promiscuous and the unknown-unicast sets, so nothing but copies
    /// reaches them.
    pub fn with_mirrors(mut self, sessions: &[MirrorSession]) -> Snapshot {
        self.mirrors = MirrorTable::new(sessions).map(Box::new);
        if let Some(t) = &self.mirrors {
            let outputs = t.outputs();
            for row in self.vlans.iter_mut() {
                row.members = row.members.difference(outputs);
                row.tagged = row.tagged.difference(outputs);
            }
            self.promiscuous = self.promiscuous.difference(outputs);
            self.unknown_unicast = self.unknown_unicast.difference(outputs);
        }
        self
    }

    /// The mirror sessions, if any.
    #[inline(always)]
    pub fn mirrors(&self) -> Option<&MirrorTable> {
        self.mirrors.as_deref()
    }

    /// The same snapshot with ports placed on workers.
    pub fn with_placement(
        mut self,
        placement: impl IntoIterator<Item = (PortId, usize)>,
    ) -> Snapshot {
        for (port, worker) in placement {
            self.placement[port.index()] = u8::try_from(worker).unwrap_or(NO_WORKER);
        }
        self
    }

    /// The worker that owns `port`, if placed.
    #[inline]
    pub fn worker_of(&self, port: PortId) -> Option<usize> {
        let w = self.placement[port.index()];
        (w != NO_WORKER).then_some(w as usize)
    }

    /// Configuration of `port`, if it exists.
    #[inline]
    pub fn port(&self, port: PortId) -> Option<&PortConfig> {
        self.ports[port.index()].as_ref()
    }

    /// Every configured port.
    pub fn ports(&self) -> impl Iterator<Item = (PortId, &PortConfig)> {
        self.ports
            .iter()
            .enumerate()
            .filter_map(|(i, c)| Some((PortId::new(i)?, c.as_ref()?)))
    }

    /// Members of `vlan` and where it is tagged.
    #[inline]
    pub fn vlan(&self, vlan: VlanId) -> VlanPorts {
        self.vlans[vlan.get() as usize & 0xfff]
    }

    /// Promiscuous ports.
    #[inline]
    pub fn promiscuous(&self) -> PortSet {
        self.promiscuous
    }

    /// Ports that take unknown-unicast floods.
    #[inline]
    pub fn unknown_unicast(&self) -> PortSet {
        self.unknown_unicast
    }

    /// Ports that take unicast only for their own MAC
    /// ([`PortPolicy::mac_changes`](crate::policy::PortPolicy::mac_changes)
    /// rejected).
    #[inline]
    pub fn dst_locked(&self) -> PortSet {
        self.dst_locked
    }

    /// The smallest `max_frame_len` of any port: frames no longer than this
    /// skip the per-port size check.
    #[inline]
    pub fn smallest_max_frame(&self) -> usize {
        self.smallest_max_frame
    }

    /// Ports whose egress is shaped.
    #[inline]
    pub fn shaped_egress(&self) -> PortSet {
        self.shaped_egress
    }

    /// Frames no longer than this skip every per-port output check: the
    /// size check ([`Snapshot::smallest_max_frame`]) and, being 0 while any
    /// port's egress is shaped, shaping. So unshaped switches pay nothing
    /// for shaping per frame.
    #[inline]
    pub fn egress_fast_len(&self) -> usize {
        self.egress_fast_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vlan::{VlanMode, VlanSet};

    #[test]
    fn vlan_rows() {
        let v = |n| VlanId::new(n).unwrap();
        let p = |n| PortId::new(n).unwrap();
        let mut promisc = PortConfig::new(VlanMode::Access(v(10)));
        promisc.promiscuous = true;
        promisc.flood_unknown_unicast = false;
        let snap = Snapshot::new([
            (p(0), PortConfig::new(VlanMode::Access(v(10)))),
            (p(1), promisc),
            (
                p(2),
                PortConfig::new(VlanMode::Trunk {
                    allowed: "10,20".parse::<VlanSet>().unwrap(),
                    native: Some(v(20)),
                }),
            ),
        ]);
        let r10 = snap.vlan(v(10));
        assert_eq!(r10.members, [p(0), p(1), p(2)].into_iter().collect());
        assert_eq!(r10.tagged, PortSet::one(p(2)));
        let r20 = snap.vlan(v(20));
        assert_eq!(r20.members, PortSet::one(p(2)));
        assert!(r20.tagged.is_empty());
        assert!(snap.vlan(v(30)).members.is_empty());
        assert_eq!(snap.promiscuous(), PortSet::one(p(1)));
        assert!(!snap.unknown_unicast().contains(p(1)));
        assert_eq!(snap.ports().count(), 3);
    }
}

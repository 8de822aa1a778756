//! The MAC move guard (`[fdb.move_guard]`), run by the control thread once
//! a second: it reads the moves the workers recorded in the FDB's move log
//! (`dataplane/engine/src/fdb/ports.rs`; the packet path only counts and
//! records), and a MAC that moved more than `moves` times within
//! `window_secs` is flapping: logged once per episode and counted
//! (`mac_flaps`). With `holddown_secs` > 0 the port the MAC last moved to
//! stops learning new and moving sources for that long, as a VDS or OVS
//! port does: its frames are still forwarded and its known sources still
//! refresh, so its hosts stay reachable while the loop or the impostor is
//! found. An episode ends when the MAC has not moved for a whole window;
//! a hold-down that ends while the MAC still flaps is taken again at its
//! next move over the limit.

use std::collections::{BTreeMap, HashMap, VecDeque};

use vswitch_dataplane::{Fdb, Mac, PortId, PortSet};

use crate::model::policy::MoveGuardSettings;

/// MACs tracked at once: a move storm of more distinct MACs is still
/// counted (`fdb_moved`) but judged only for the first ones.
const MAX_TRACKED: usize = 65_536;

#[derive(Default)]
struct Track {
    /// Seconds of the moves within the window.
    times: VecDeque<u64>,
    in_episode: bool,
    /// The port this MAC's episode held down: one port per episode (in a
    /// flap between two ports, the first one found over the limit).
    held: Option<PortId>,
}

/// The guard's state; owned by the controller.
pub struct MoveGuard {
    settings: MoveGuardSettings,
    cursor: u64,
    macs: HashMap<u64, Track>,
    /// Held-down ports and the second their hold-down ends.
    held: BTreeMap<PortId, u64>,
    flaps: u64,
    lost: u64,
}

impl MoveGuard {
    /// A guard with these settings.
    pub fn new(settings: MoveGuardSettings) -> MoveGuard {
        MoveGuard {
            settings,
            cursor: 0,
            macs: HashMap::new(),
            held: BTreeMap::new(),
            flaps: 0,
            lost: 0,
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &MoveGuardSettings {
        &self.settings
    }

    /// Flapping episodes seen since start.
    pub fn flaps(&self) -> u64 {
        self.flaps
    }

    /// Ports held down now.
    pub fn held(&self) -> PortSet {
        self.held.keys().copied().collect()
    }

    /// New settings, live. A hold-down of 0 releases every held port.
    pub fn set(&mut self, settings: MoveGuardSettings, fdb: &Fdb) {
        self.settings = settings;
        if settings.holddown_secs == 0 {
            for (port, _) in std::mem::take(&mut self.held) {
                fdb.set_learning_held(port, false);
            }
        }
    }

    /// Forgets a removed port (its id may be reused).
    pub fn forget_port(&mut self, port: PortId, fdb: &Fdb) {
        if self.held.remove(&port).is_some() {
            fdb.set_learning_held(port, false);
        }
    }

    /// Judges the moves recorded since the last call; `now` in seconds,
    /// `name` names ports for the log.
    pub fn tick(&mut self, fdb: &Fdb, now: u64, name: impl Fn(PortId) -> String) {
        let window = self.settings.window_secs.max(1) as u64;
        let limit = self.settings.moves.max(1) as usize;
        let holddown = self.settings.holddown_secs.max(0) as u64;
        let mut moves = Vec::new();
        let lost = fdb.drain_moves(&mut self.cursor, |m| moves.push(m));
        if lost > 0 {
            self.lost += lost;
            tracing::debug!(lost, "MAC move log overrun: some moves were not judged");
        }
        for m in moves {
            let full = self.macs.len() >= MAX_TRACKED;
            let track = match self.macs.get_mut(&m.key) {
                Some(t) => t,
                None if full => continue,
                None => self.macs.entry(m.key).or_default(),
            };
            track.times.push_back(now);
            while track.times.front().is_some_and(|&t| t + window <= now) {
                track.times.pop_front();
            }
            if track.times.len() <= limit {
                continue;
            }
            let mac = Mac::from_u64(m.key);
            let vlan = m.key >> 48;
            if !track.in_episode {
                track.in_episode = true;
                self.flaps += 1;
                tracing::warn!(
                    %mac,
                    vlan,
                    from = %name(m.from),
                    to = %name(m.to),
                    moves = track.times.len(),
                    window_secs = window,
                    holddown_secs = holddown,
                    "MAC flapping between ports"
                );
            }
            let holding = track.held.is_some_and(|p| self.held.contains_key(&p));
            if holddown > 0 && !holding && !self.held.contains_key(&m.to) {
                track.held = Some(m.to);
                self.held.insert(m.to, now + holddown);
                fdb.set_learning_held(m.to, true);
                tracing::warn!(
                    port = %name(m.to),
                    %mac,
                    vlan,
                    holddown_secs = holddown,
                    "learning held down on the port a flapping MAC moved to"
                );
            }
        }
        // Episodes end after a quiet window; hold-downs when they expire.
        self.macs.retain(|_, t| {
            while t.times.front().is_some_and(|&s| s + window <= now) {
                t.times.pop_front();
            }
            !t.times.is_empty()
        });
        let expired: Vec<PortId> = self
            .held
            .iter()
            .filter(|&(_, &until)| until <= now)
            .map(|(&p, _)| p)
            .collect();
        for port in expired {
            self.held.remove(&port);
            fdb.set_learning_held(port, false);
            tracing::info!(port = %name(port), "learning resumed after a MAC move hold-down");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use vswitch_dataplane::fdb::Learn;
    use vswitch_dataplane::{FdbConfig, VlanId};

    #[test]
    fn a_flapping_mac_is_counted_once_and_its_port_held_down() {
        let fdb = Arc::new(Fdb::new(FdbConfig::default()).unwrap());
        let mut r = fdb.reader().unwrap();
        let p = |n| PortId::new(n).unwrap();
        let mut g = MoveGuard::new(MoveGuardSettings {
            moves: 3,
            window_secs: 10,
            holddown_secs: 5,
        });
        let h = fdb.hash(VlanId::new(1).unwrap(), Mac::from_u64(0x0200_0000_0001));
        let mut learn = |port| r.pin().learn(&h, p(port), 0);
        assert_eq!(learn(0), Learn::Learned);
        for i in 0..3 {
            assert_eq!(learn(1 - i % 2), Learn::Moved);
        }
        g.tick(&fdb, 100, |p| p.index().to_string());
        assert_eq!(
            (g.flaps(), g.held()),
            (0, PortSet::EMPTY),
            "3 moves: tolerated"
        );
        assert_eq!(learn(0), Learn::Moved); // 1 -> 0: the 4th
        g.tick(&fdb, 101, |p| p.index().to_string());
        assert_eq!((g.flaps(), g.held()), (1, PortSet::one(p(0))));
        assert_eq!(fdb.learning_held(), PortSet::one(p(0)));
        assert_eq!(learn(1), Learn::Moved);
        assert_eq!(learn(0), Learn::HeldDown, "no moving back while held");
        g.tick(&fdb, 102, |p| p.index().to_string());
        assert_eq!(g.flaps(), 1, "one episode, counted once");
        assert_eq!(g.held(), PortSet::one(p(0)), "one port held per episode");
        g.tick(&fdb, 106, |p| p.index().to_string());
        assert_eq!(
            (g.held(), fdb.learning_held()),
            (PortSet::EMPTY, PortSet::EMPTY)
        );
        assert_eq!(learn(0), Learn::Moved);
    }
}

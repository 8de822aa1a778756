//! The controller's mirror sessions (`[[mirror]]`, `mirror.add`,
//! `mirror.del`, `mirror.list`): names for the engine's sessions
//! (`vswitch_dataplane::mirror`), and their counters.
//!
//! A session's output takes nothing but its copies and no two sessions
//! share an output (both checked), so the session's counters are its
//! output port's: `copies` the frames handed to the output, `dropped`
//! the copies it could not take (too large, transmit ring or hand-off
//! full, link down). Both count from the session's start (or the last
//! `stats.clear`), from a baseline taken then; the packet path counts
//! nothing more for a mirror.

use vswitch_dataplane::mirror::{MirrorError, MirrorSession};
use vswitch_dataplane::switch::{Switch, SwitchError};
use vswitch_dataplane::PortId;

use super::{ControlError, Controller, StartError};
use crate::model::mirror::MirrorSettings;

/// A running session.
#[derive(Debug, Clone)]
pub struct MirrorEntry {
    /// As configured.
    pub settings: MirrorSettings,
    /// In engine terms.
    pub session: MirrorSession,
    /// The output's (tx packets, tx dropped) when counting began.
    base: (u64, u64),
}

/// The sessions of a checked config, set on the engine at start.
pub(super) fn start(
    switch: &mut Switch,
    mirrors: Vec<(MirrorSettings, MirrorSession)>,
) -> Result<Vec<MirrorEntry>, StartError> {
    if mirrors.is_empty() {
        return Ok(Vec::new());
    }
    let now = switch.now_secs();
    switch
        .engine_mut()
        .set_mirrors(mirrors.iter().map(|(_, s)| s.clone()).collect(), now)
        .map_err(SwitchError::Engine)?;
    let mut entries: Vec<MirrorEntry> = mirrors
        .into_iter()
        .map(|(settings, session)| MirrorEntry {
            settings,
            session,
            base: (0, 0),
        })
        .collect();
    let totals = switch.totals();
    for e in &mut entries {
        let p = &totals.ports[e.session.output.index()];
        e.base = (p.tx_packets, p.tx_dropped);
    }
    Ok(entries)
}

/// A session's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MirrorCounts {
    /// Copies handed to the output port.
    pub copies: u64,
    /// Copies the output could not take.
    pub dropped: u64,
}

impl Controller {
    /// Mirror sessions, in the order they were added.
    pub fn mirrors(&self) -> &[MirrorEntry] {
        &self.mirrors
    }

    /// A session's counters since it started (or the last `stats.clear`).
    pub fn mirror_counts(&self, e: &MirrorEntry) -> MirrorCounts {
        let t = self.totals();
        let p = &t.ports[e.session.output.index()];
        MirrorCounts {
            copies: p.tx_packets.saturating_sub(e.base.0),
            dropped: p.tx_dropped.saturating_sub(e.base.1),
        }
    }

    /// Adds a session, live: checked against the ports and sessions, then
    /// published (the output's learned entries are flushed). A refused
    /// session changes nothing.
    pub fn add_mirror(&mut self, settings: MirrorSettings) -> Result<&MirrorEntry, ControlError> {
        let others: Vec<MirrorSettings> = self.mirrors.iter().map(|m| m.settings.clone()).collect();
        let session = settings
            .engine_session(|n| self.port(n).map(|p| p.id), &others)
            .map_err(|r| {
                let code = if r.message.starts_with("no port") {
                    ControlError::NotFound
                } else {
                    ControlError::Invalid
                };
                code(format!("mirror.add: {}: {}", r.key, r.message))
            })?;
        let mut sessions: Vec<MirrorSession> =
            self.mirrors.iter().map(|m| m.session.clone()).collect();
        sessions.push(session.clone());
        let now = self.switch.now_secs();
        if let Err(e) = self.switch.engine_mut().set_mirrors(sessions, now) {
            return Err(self.refused(e));
        }
        let t = self.totals();
        let p = &t.ports[session.output.index()];
        tracing::info!(mirror = %settings.name, output = %settings.output, "mirror session added");
        self.mirrors.push(MirrorEntry {
            base: (p.tx_packets, p.tx_dropped),
            settings,
            session,
        });
        Ok(self.mirrors.last().expect("just pushed"))
    }

    /// Removes a session, live; its output port takes part in switching
    /// again (learning, flooding, forwarding).
    pub fn remove_mirror(&mut self, name: &str) -> Result<MirrorEntry, ControlError> {
        let i = self
            .mirrors
            .iter()
            .position(|m| m.settings.name == name)
            .ok_or_else(|| ControlError::NotFound(format!("no mirror session named {name:?}")))?;
        let sessions: Vec<MirrorSession> = self
            .mirrors
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, m)| m.session.clone())
            .collect();
        let now = self.switch.now_secs();
        if let Err(e) = self.switch.engine_mut().set_mirrors(sessions, now) {
            return Err(self.refused(e));
        }
        tracing::info!(mirror = name, "mirror session removed");
        Ok(self.mirrors.remove(i))
    }

    /// Refuses to delete a port a session names.
    pub(super) fn check_not_mirrored(&self, port: &str) -> Result<(), ControlError> {
        match self
            .mirrors
            .iter()
            .find(|m| m.settings.output == port || m.settings.sources.iter().any(|s| s == port))
        {
            Some(m) => Err(ControlError::Conflict(format!(
                "port {port:?} is in mirror session {:?}: delete the session first (mirror.del)",
                m.settings.name
            ))),
            None => Ok(()),
        }
    }

    /// `stats.clear`: sessions count from zero again.
    pub(super) fn mirrors_cleared(&mut self) {
        for m in &mut self.mirrors {
            m.base = (0, 0);
        }
    }

    /// An engine's mirror refusal, ports called by name.
    pub(super) fn mirror_refused(&self, e: MirrorError) -> ControlError {
        let name = |id: PortId| self.port_name(id).unwrap_or("?").to_string();
        match e {
            MirrorError::NoPort(p) => ControlError::NotFound(format!("no port {p}")),
            MirrorError::NoSource => ControlError::Invalid(e.to_string()),
            MirrorError::OutputIsSource(p) => ControlError::Invalid(format!(
                "port {:?} is a mirror output and a mirror source",
                name(p)
            )),
            MirrorError::OutputShared(p) => ControlError::Conflict(format!(
                "port {:?} is already the output of another mirror session",
                name(p)
            )),
            MirrorError::OutputHasStatic(p) => ControlError::Conflict(format!(
                "port {:?}: a mirror output takes only copies, no static FDB entries (delete them, or the session, first)",
                name(p)
            )),
            MirrorError::InSession(p) => ControlError::Conflict(format!(
                "port {:?} is in a mirror session: delete the session first",
                name(p)
            )),
        }
    }
}

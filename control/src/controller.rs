//! The controller: owns the running switch and the running configuration,
//! names ports for the engine (whose rules decide what a change may do),
//! runs the aging sweep and answers questions about state. Only the control thread (and API
//! threads, one request at a time through a mutex) touches it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use vswitch_dataplane::fdb::FlushScope;
use vswitch_dataplane::limits::MAX_PORTS;
use vswitch_dataplane::port::tap::{self, Ensured, TapError};
use vswitch_dataplane::port::xdp_owner::{self, OwnerError, Use};
use vswitch_dataplane::port::{Driver, DriverChoice, PortSpec, PortStatus};
use vswitch_dataplane::stats::StatsTotals;
use vswitch_dataplane::switch::{Switch, SwitchConfig, SwitchError};
use vswitch_dataplane::worker::{PollMode, Polling};
use vswitch_dataplane::{EngineError, PortConfig, PortId, StaticEntry as EngineStatic};

use crate::config::{self, ConfigFile, ValidConfig};
use crate::link::{LinkEvent, LinkInfo, LinkState};
use crate::model::policy::{check_max_macs, FdbPatch};
use crate::model::port::CreateKind;
use crate::model::port::{
    check_iface, check_mtu_carried, check_port_name, PortPatch, PortSettings, MTU_OVERHEAD,
};
use crate::model::switch::{
    check_max_sleep_us, FdbSettings, PollingMode, StaticEntry, SwitchPatch, SwitchSettings,
};
use crate::model::value::{MacAddr, Vlan};

mod mirror;
pub use mirror::MirrorEntry;

/// Why a control operation was refused. Nothing changed when one is
/// returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// A parameter has a bad value.
    #[error("{0}")]
    Invalid(String),
    /// A named port or entry does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// The system refused (socket, file, ...).
    #[error("{0}")]
    Failed(String),
}

/// A configured port as the controller tracks it.
#[derive(Debug, Clone)]
pub struct PortEntry {
    /// Its settings (the running state: `config.show` is built from them).
    pub settings: PortSettings,
    /// Its id.
    pub id: PortId,
    /// Engine config (max frame length filled in from the interface).
    pub config: PortConfig,
    /// Worker that owns it.
    pub worker: usize,
    /// What the kernel gave it. `queues` is 0 while it has no sockets
    /// (a re-bind failed with both drivers, or its interface is gone).
    pub status: PortStatus,
    /// Its interface's state, kept current by the link watcher
    /// (control/src/link.rs).
    pub link: LinkInfo,
    /// Its sockets were closed because its interface went away: the link
    /// watcher re-binds it when an interface of that name is back.
    link_closed: bool,
}

impl PortEntry {
    /// The interface's MTU as last known (what the driver saw at open if
    /// the watcher never told).
    pub fn iface_mtu(&self) -> u32 {
        if self.link.mtu > 0 {
            self.link.mtu
        } else {
            self.status.mtu
        }
    }

    /// The MTU the port carries now: its configured `mtu` (else its
    /// interface's), never more than the interface's (the kernel sends
    /// no longer frame) nor more than its driver carries.
    pub fn mtu(&self) -> u32 {
        let iface = self.iface_mtu();
        let mtu = self.settings.mtu.map_or(iface, |m| m.get().min(iface));
        let carried = self.status.frame_capacity.saturating_sub(MTU_OVERHEAD) as u32;
        mtu.min(carried)
    }

    /// The largest frame the port takes and sends: its MTU plus the
    /// Ethernet header and one 802.1Q tag ([`MTU_OVERHEAD`]).
    pub fn max_frame_len(&self) -> usize {
        self.mtu() as usize + MTU_OVERHEAD
    }

    /// Why the port carries less than it should, if it does: what
    /// `status` shows as `mtu_problem` (frames over its `max_frame_len`
    /// are dropped as `too_large`, counted).
    pub fn mtu_problem(&self) -> Option<String> {
        let iface = self.iface_mtu();
        let wanted = self.settings.mtu.map_or(iface, |m| m.get());
        if let Err(e) = check_mtu_carried(self.status.driver, self.status.frame_capacity, wanted) {
            return Some(format!(
                "{e}; meanwhile frames over {} bytes are dropped as too_large",
                self.max_frame_len()
            ));
        }
        if wanted > iface {
            return Some(format!(
                "the interface's MTU is {iface}, below the port's mtu {wanted}: frames over {} \
                 bytes are dropped as too_large; set it back (ip link set dev {} mtu {wanted}) \
                 or change the port's mtu",
                self.max_frame_len(),
                self.settings.iface
            ));
        }
        None
    }
}

/// Refuses port `name` on `iface` when the driver it would get cannot
/// carry `mtu` (its configured one, else the interface's now).
fn check_port_mtu(name: &str, driver: Driver, capacity: usize, mtu: u32) -> Result<(), String> {
    check_mtu_carried(driver, capacity, mtu).map_err(|e| format!("port {name:?}: {e}"))
}

/// Gives `iface` the MTU `mtu`, the error in the API's terms.
fn set_iface_mtu(name: &str, iface: &str, mtu: u32) -> Result<(), ControlError> {
    crate::link::set_mtu(iface, mtu).map_err(|e| {
        ControlError::Failed(format!(
            "port {name:?}: setting the MTU of {iface} to {mtu} failed: {e}"
        ))
    })
}

/// Whether a port has sockets.
fn is_bound(status: &PortStatus) -> bool {
    status.queues > 0
}

/// Marks a port as having no sockets: nothing bound, no XDP.
fn unbind(status: &mut PortStatus) {
    status.queues = 0;
    status.xdp = None;
}

/// Why the controller could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The switch (workers, sockets) failed.
    #[error(transparent)]
    Switch(#[from] SwitchError),
    /// A port's interface belongs to another switch or program.
    #[error("port {port:?}: {source}")]
    Interface {
        /// The port.
        port: String,
        /// Why.
        #[source]
        source: OwnerError,
    },
    /// A port's tap (`create = "tap"`) could not be made.
    #[error("port {port:?}: {message}")]
    Tap {
        /// The port.
        port: String,
        /// Why.
        message: String,
    },
    /// A port's MTU: its driver cannot carry it, or setting it on the
    /// interface failed.
    #[error("{0}")]
    Mtu(String),
    /// A static entry could not be added.
    #[error("static FDB entry {mac} in VLAN {vlan}: {message}")]
    Static {
        /// The MAC.
        mac: String,
        /// The VLAN.
        vlan: u16,
        /// Why.
        message: String,
    },
}

/// The running daemon's state.
pub struct Controller {
    switch: Switch,
    /// `[switch]` as started, with the settings `switch.set` changed.
    switch_settings: SwitchSettings,
    /// `[fdb]`, static entries kept up to date.
    fdb_settings: FdbSettings,
    path: PathBuf,
    ports: Vec<PortEntry>,
    workers: Vec<usize>,
    baseline: StatsTotals,
    started: Instant,
    /// Set by [`Controller::shutdown`]: link events change nothing after.
    stopped: bool,
    /// Taps this start made (`create = "tap"` ports whose tap was not
    /// there): a start that fails after them removes them
    /// ([`Controller::abandon_start`]).
    created_at_start: Vec<String>,
    /// Mirror sessions, in the order they were added.
    mirrors: Vec<MirrorEntry>,
    /// `[fdb.move_guard]` and its state.
    move_guard: crate::move_guard::MoveGuard,
}

/// Makes (or reuses) the tap of a `create = "tap"` port. `Ok(true)`: it
/// was made now, so undoing the port's addition removes it.
fn ensure_tap(settings: &PortSettings) -> Result<bool, ControlError> {
    let Some(CreateKind::Tap) = settings.create else {
        return Ok(false);
    };
    let uid = settings
        .owner
        .as_ref()
        .map(config::owner_uid)
        .transpose()
        .map_err(|m| ControlError::Invalid(format!("owner: {m}")))?;
    match tap::ensure(&settings.iface, uid) {
        Ok(e) => Ok(e == Ensured::Created),
        Err(e @ TapError::NotATap(_)) => Err(ControlError::Conflict(e.to_string())),
        Err(e) => Err(ControlError::Failed(e.to_string())),
    }
}

/// Removes taps a failed start or `port.add` made, logging what fails
/// (nothing else is left to undo it).
fn remove_taps(ifaces: &[String]) {
    for iface in ifaces {
        if let Err(e) = tap::remove(iface) {
            tracing::error!(iface = %iface, "removing a tap made for a start or port.add that failed: {e}");
        }
    }
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("ports", &self.ports.len())
            .field("workers", &self.workers)
            .finish()
    }
}

impl Controller {
    /// Starts the switch from a validated config: opens every port, adds
    /// static entries, publishes the first snapshot. All or nothing:
    /// every interface's XDP hook is checked before any port opens, so a
    /// refused start touches no interface; a port that fails later closes
    /// the ones opened before it (their programs and records go with
    /// them).
    ///
    /// `create = "tap"` ports get their tap here, after every check and
    /// before any port opens; an existing tap of that name is reused (a
    /// VM may hold it across a daemon restart). A start that fails
    /// afterwards removes the taps it made, and only those.
    pub fn start(valid: ValidConfig, path: PathBuf) -> Result<Controller, StartError> {
        for p in &valid.ports {
            let iface = p.settings.iface.as_str();
            if p.settings.create.is_some() && tap::is_tap(iface).is_none() {
                // Made below; nothing can own it yet.
                continue;
            }
            let driver = p.settings.driver.choice().resolve(iface);
            let mtu = p
                .settings
                .mtu
                .map_or_else(|| LinkInfo::probe(iface).mtu, |m| m.get());
            check_port_mtu(&p.settings.name, driver, driver.frame_capacity(), mtu)
                .map_err(StartError::Mtu)?;
            let use_ = match driver {
                Driver::AfXdp => Use::AfXdp,
                Driver::Packet => Use::Packet,
            };
            xdp_owner::check(iface, use_).map_err(|source| StartError::Interface {
                port: p.settings.name.clone(),
                source,
            })?;
        }
        let mut created = Vec::new();
        for p in &valid.ports {
            match ensure_tap(&p.settings) {
                Ok(true) => created.push(p.settings.iface.clone()),
                Ok(false) => {}
                Err(e) => {
                    remove_taps(&created);
                    return Err(StartError::Tap {
                        port: p.settings.name.clone(),
                        message: e.to_string(),
                    });
                }
            }
        }
        match Controller::open(valid, path) {
            Ok(mut c) => {
                c.created_at_start = created;
                Ok(c)
            }
            Err(e) => {
                remove_taps(&created);
                Err(e)
            }
        }
    }

    /// Stops a controller whose start could not be completed (the
    /// control socket or the link watcher failed after it started) and
    /// removes the taps its start made: all or nothing.
    pub fn abandon_start(&mut self) {
        self.shutdown();
        remove_taps(&std::mem::take(&mut self.created_at_start));
    }

    /// The start proper, once the taps are there.
    fn open(valid: ValidConfig, path: PathBuf) -> Result<Controller, StartError> {
        // A configured MTU is the interface's too (as OVS's mtu_request):
        // set before the sockets open, so the driver opens on it.
        for p in &valid.ports {
            if let Some(m) = p.settings.mtu {
                set_iface_mtu(&p.settings.name, &p.settings.iface, m.get())
                    .map_err(|e| StartError::Mtu(e.to_string()))?;
            }
        }
        let mut cfg = SwitchConfig::new(valid.workers.clone(), valid.fdb_config());
        cfg.polling = polling(&valid.switch);
        let nworkers = valid.workers.len();
        // Ports go round-robin over workers, in file order.
        let specs: Vec<(PortSpec, usize)> = valid
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| {
                (
                    PortSpec {
                        id: p.id,
                        iface: p.settings.iface.clone(),
                        driver: p.settings.driver.choice(),
                        replace_foreign_xdp: false,
                    },
                    i % nworkers,
                )
            })
            .collect();
        let (mut switch, statuses) = Switch::start(&cfg, specs)?;
        let mut ports = Vec::new();
        for (i, p) in valid.ports.into_iter().enumerate() {
            let status = statuses
                .iter()
                .find(|s| s.id == p.id)
                .cloned()
                .expect("every port opened or start failed");
            let link = LinkInfo::probe(&status.iface);
            let mut entry = PortEntry {
                settings: p.settings,
                id: p.id,
                config: p.config,
                worker: i % nworkers,
                status,
                link,
                link_closed: false,
            };
            // What the driver really got is the last word.
            let wanted = entry.settings.mtu.map_or(entry.iface_mtu(), |m| m.get());
            check_port_mtu(
                &entry.settings.name,
                entry.status.driver,
                entry.status.frame_capacity,
                wanted,
            )
            .map_err(StartError::Mtu)?;
            entry.config.max_frame_len = entry.max_frame_len();
            switch
                .engine_mut()
                .add_port(p.id, entry.config.clone(), i % nworkers)
                .map_err(SwitchError::Engine)?;
            ports.push(entry);
        }
        for &(vlan, mac, port) in &valid.statics {
            switch
                .engine_mut()
                .add_static(EngineStatic { vlan, mac, port })
                .map_err(|e| StartError::Static {
                    mac: mac.to_string(),
                    vlan: vlan.get(),
                    message: e.to_string(),
                })?;
        }
        let mirrors = mirror::start(&mut switch, valid.mirrors)?;
        let guard = valid.fdb.move_guard;
        Ok(Controller {
            switch,
            switch_settings: valid.switch,
            fdb_settings: valid.fdb,
            path,
            ports,
            workers: valid.workers,
            baseline: StatsTotals::default(),
            started: Instant::now(),
            stopped: false,
            created_at_start: Vec::new(),
            mirrors,
            move_guard: crate::move_guard::MoveGuard::new(guard),
        })
    }

    /// An engine refusal in the API's terms, ports called by name.
    fn refused(&self, e: EngineError) -> ControlError {
        let name = |id: PortId| self.port_name(id).unwrap_or("?").to_string();
        match e {
            EngineError::StrandsStatic(s) => ControlError::Conflict(format!(
                "static entry {} in VLAN {} would no longer be carried by port {:?}; delete it first",
                s.mac,
                s.vlan,
                name(s.port)
            )),
            EngineError::NotCarried { port, vlan } => ControlError::Conflict(format!(
                "port {:?} does not carry VLAN {vlan}",
                name(port)
            )),
            EngineError::NotUnicast(_) => ControlError::Invalid(e.to_string()),
            EngineError::NoPort(_) => ControlError::NotFound(e.to_string()),
            EngineError::PortExists(_) => ControlError::Conflict(e.to_string()),
            EngineError::Fdb(_) => ControlError::Failed(e.to_string()),
            EngineError::Mirror(m) => self.mirror_refused(m),
        }
    }

    /// The running switch.
    pub fn switch(&self) -> &Switch {
        &self.switch
    }

    /// Starts a capture (`api/capture.rs`): the workers record into it
    /// from their next batch.
    pub fn add_capture(
        &mut self,
        capture: std::sync::Arc<vswitch_dataplane::capture::Capture>,
    ) -> Result<(), vswitch_dataplane::capture::CaptureError> {
        self.switch.engine_mut().add_capture(capture)
    }

    /// Ends capture `id`; `false` if it was not running.
    pub fn remove_capture(&mut self, id: u64) -> bool {
        self.switch.engine_mut().remove_capture(id)
    }

    /// `[switch]` as started, with live changes (`switch.set`).
    pub fn switch_settings(&self) -> &SwitchSettings {
        &self.switch_settings
    }

    /// Changes the live `[switch]` settings (polling): all or nothing.
    pub fn set_switch(&mut self, patch: &SwitchPatch) -> Result<&SwitchSettings, ControlError> {
        let mut next = self.switch_settings.clone();
        if let Some(m) = patch.polling {
            next.polling = m;
        }
        if patch.metrics_listen.is_some() {
            return Err(ControlError::Invalid(
                "metrics_listen does not change live: set switch.metrics_listen in the config file and restart vswitchd".into(),
            ));
        }
        if let Some(us) = patch.max_sleep_us {
            check_max_sleep_us(us)
                .map_err(|m| ControlError::Invalid(format!("max_sleep_us: {m}")))?;
            next.max_sleep_us = us;
        }
        self.switch.set_polling(polling(&next));
        tracing::info!(
            polling = %next.polling,
            max_sleep_us = next.max_sleep_us,
            "polling changed"
        );
        self.switch_settings = next;
        Ok(&self.switch_settings)
    }

    /// The MAC move guard (settings, episodes, held ports).
    pub fn move_guard(&self) -> &crate::move_guard::MoveGuard {
        &self.move_guard
    }

    /// `[fdb]` as started, with live changes (`fdb.set`).
    pub fn fdb_settings(&self) -> &FdbSettings {
        &self.fdb_settings
    }

    /// Changes the live `[fdb]` settings (aging, move guard): all or
    /// nothing; `capacity` is fixed at start.
    pub fn set_fdb(&mut self, patch: &FdbPatch) -> Result<&FdbSettings, ControlError> {
        if patch.capacity.is_some() {
            return Err(ControlError::Invalid(
                "capacity: the table's size is fixed at start; change [fdb] capacity in \
                 the config file and restart vswitchd"
                    .into(),
            ));
        }
        if patch.is_empty() {
            return Err(ControlError::Invalid(
                "fdb.set: give aging_secs and/or move_guard_moves, move_guard_window_secs, \
                 move_guard_holddown_secs"
                    .into(),
            ));
        }
        let guard = patch
            .move_guard(&self.fdb_settings.move_guard)
            .map_err(ControlError::Invalid)?;
        let aging = match patch.aging_secs {
            Some(a) => Some(
                u32::try_from(a)
                    .ok()
                    .filter(|&a| a <= vswitch_dataplane::limits::MAX_AGING_SECS)
                    .ok_or_else(|| {
                        ControlError::Invalid(format!(
                            "aging_secs: {a} is out of range (0-{}; 0 disables aging)",
                            vswitch_dataplane::limits::MAX_AGING_SECS
                        ))
                    })?,
            ),
            None => None,
        };
        if let Some(a) = aging {
            self.switch
                .fdb()
                .set_aging_secs(a)
                .map_err(|e| ControlError::Invalid(format!("aging_secs: {e}")))?;
            self.fdb_settings.aging_secs = a as i64;
        }
        self.move_guard.set(guard, self.switch.fdb());
        self.fdb_settings.move_guard = guard;
        tracing::info!(
            aging_secs = self.fdb_settings.aging_secs,
            moves = guard.moves,
            window_secs = guard.window_secs,
            holddown_secs = guard.holddown_secs,
            "fdb settings changed"
        );
        Ok(&self.fdb_settings)
    }

    /// Configured ports.
    pub fn ports(&self) -> &[PortEntry] {
        &self.ports
    }

    /// Worker CPUs.
    pub fn workers(&self) -> &[usize] {
        &self.workers
    }

    /// The running configuration.
    pub fn file(&self) -> ConfigFile {
        ConfigFile {
            switch: self.switch_settings.clone(),
            fdb: self.fdb_settings.clone(),
            ports: self.ports.iter().map(|p| p.settings.clone()).collect(),
            mirrors: self.mirrors.iter().map(|m| m.settings.clone()).collect(),
        }
    }

    /// Static entries, as configured.
    pub fn statics(&self) -> &[StaticEntry] {
        &self.fdb_settings.statics
    }

    /// The file vswitchd was started with.
    pub fn path(&self) -> &PathBuf {
        &self.path
    }

    /// Time since start.
    pub fn uptime(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    /// Counters since the last `stats.clear`.
    pub fn totals(&self) -> StatsTotals {
        self.switch.totals().since(&self.baseline)
    }

    /// Restarts counters from zero (by remembering where they stand: the
    /// counters themselves belong to the workers).
    pub fn clear_stats(&mut self) {
        self.baseline = self.switch.totals();
        self.mirrors_cleared();
    }

    /// The aging sweep and the MAC move guard: call about once a second.
    pub fn sweep(&mut self) {
        let ports = &self.ports;
        self.move_guard
            .tick(self.switch.fdb(), self.switch.now_secs() as u64, |id| {
                ports
                    .iter()
                    .find(|p| p.id == id)
                    .map_or_else(|| format!("#{}", id.index()), |p| p.settings.name.clone())
            });
        let r = self.switch.fdb().sweep(self.switch.now_secs());
        if r.aged + r.retired > 0 {
            tracing::debug!(
                aged = r.aged,
                retired = r.retired,
                reclaimed = r.reclaimed,
                "fdb sweep"
            );
        }
    }

    /// Port by name.
    pub fn port(&self, name: &str) -> Option<&PortEntry> {
        self.ports.iter().find(|p| p.settings.name == name)
    }

    /// Name of a port id.
    pub fn port_name(&self, id: PortId) -> Option<&str> {
        self.ports
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.settings.name.as_str())
    }

    fn port_index(&self, name: &str) -> Result<usize, ControlError> {
        self.ports
            .iter()
            .position(|p| p.settings.name == name)
            .ok_or_else(|| ControlError::NotFound(format!("no port named {name:?}")))
    }

    /// Adds a port while the switch runs: opens its sockets on `worker`
    /// (default: the worker with the fewest ports), then publishes a
    /// snapshot with it. `force` (root only, the API checks) replaces an
    /// XDP program no vswitchd recorded instead of refusing the interface
    /// (dataplane/runtime/src/port/xdp_owner.rs); a running switch's
    /// program is refused even so.
    pub fn add_port(
        &mut self,
        settings: PortSettings,
        worker: Option<usize>,
        force: bool,
    ) -> Result<&PortEntry, ControlError> {
        check_port_name(&settings.name).map_err(ControlError::Invalid)?;
        check_iface(&settings.iface).map_err(ControlError::Invalid)?;
        if self.port(&settings.name).is_some() {
            return Err(ControlError::Conflict(format!(
                "a port named {:?} already exists",
                settings.name
            )));
        }
        if let Some(p) = self
            .ports
            .iter()
            .find(|p| p.settings.iface == settings.iface)
        {
            return Err(ControlError::Conflict(format!(
                "interface {} is already port {:?}",
                settings.iface, p.settings.name
            )));
        }
        let config = settings
            .engine_config()
            .map_err(|e| ControlError::Invalid(e.to_string()))?;
        check_max_macs(&settings, self.switch.fdb().capacity())
            .map_err(|e| ControlError::Invalid(e.to_string()))?;
        let probed = LinkInfo::probe(&settings.iface);
        let driver = settings.driver.choice().resolve(&settings.iface);
        let mtu = settings.mtu.map_or(probed.mtu, |m| m.get());
        check_port_mtu(&settings.name, driver, driver.frame_capacity(), mtu)
            .map_err(ControlError::Invalid)?;
        let worker = match worker {
            Some(w) if w < self.workers.len() => w,
            Some(w) => {
                return Err(ControlError::Invalid(format!(
                    "worker {w} does not exist (workers 0-{})",
                    self.workers.len() - 1
                )))
            }
            None => (0..self.workers.len())
                .min_by_key(|w| self.ports.iter().filter(|p| p.worker == *w).count())
                .unwrap_or(0),
        };
        let id = (0..MAX_PORTS)
            .filter_map(PortId::new)
            .find(|id| self.ports.iter().all(|p| p.id != *id))
            .ok_or_else(|| {
                ControlError::Conflict(format!("the switch already has {MAX_PORTS} ports"))
            })?;
        // The worker refuses an interface another switch or program holds
        // (dataplane/runtime/src/port/xdp_owner.rs) before it opens
        // anything, so a refusal changes nothing.
        // A created tap is made (or an existing one reused) before it is
        // opened; undone below if the port cannot be added after all.
        let created = ensure_tap(&settings)?;
        let undo_tap = |iface: &str| {
            if created {
                remove_taps(&[iface.to_string()]);
            }
        };
        // Ids are reused: the workers' counters of this id still hold a
        // deleted port's counts, so the new port's start where they stand.
        let raw = self.switch.totals();
        self.baseline.ports[id.index()] = raw.ports[id.index()];
        // A configured MTU is the interface's too, set before the sockets
        // open; a failure after this puts the old one back.
        let old_mtu = settings
            .mtu
            .filter(|m| m.get() != probed.mtu && probed.mtu > 0)
            .map(|_| probed.mtu);
        let restore_mtu = |iface: &str| {
            if let Some(m) = old_mtu {
                let _ = crate::link::set_mtu(iface, m);
            }
        };
        if let Some(m) = settings.mtu {
            set_iface_mtu(&settings.name, &settings.iface, m.get())?;
        }
        let status = match self.switch.add_port(
            PortSpec {
                id,
                iface: settings.iface.clone(),
                driver: settings.driver.choice(),
                replace_foreign_xdp: force,
            },
            worker,
        ) {
            Ok(s) => s,
            Err(e) => {
                restore_mtu(&settings.iface);
                undo_tap(&settings.iface);
                return Err(ControlError::Failed(e.to_string()));
            }
        };
        let mut entry = PortEntry {
            link: LinkInfo::probe(&settings.iface),
            settings,
            id,
            config,
            worker,
            status,
            link_closed: false,
        };
        // What the driver really got is the last word.
        let wanted = entry.settings.mtu.map_or(entry.iface_mtu(), |m| m.get());
        let fits = check_port_mtu(
            &entry.settings.name,
            entry.status.driver,
            entry.status.frame_capacity,
            wanted,
        );
        entry.config.max_frame_len = entry.max_frame_len();
        let added = match fits {
            Err(e) => Err(ControlError::Invalid(e)),
            Ok(()) => self
                .switch
                .engine_mut()
                .add_port(id, entry.config.clone(), worker)
                .map_err(|e| self.refused(e)),
        };
        if let Err(e) = added {
            // Never half added: close what was opened.
            let _ = self.switch.remove_port(id, worker);
            restore_mtu(&entry.settings.iface);
            undo_tap(&entry.settings.iface);
            return Err(e);
        }
        tracing::info!(port = %entry.settings.name, worker, force, mtu = entry.mtu(), "port added");
        self.ports.push(entry);
        // A port id is reused after port.del: start from "up"; the watcher
        // says otherwise if the interface is down.
        let _ = self.switch.set_link_down(id, worker, false);
        self.mark_link(self.ports.len() - 1);
        Ok(self.ports.last().expect("just pushed"))
    }

    /// Removes a port: stops sending to it, closes its sockets, forgets
    /// its FDB entries (static ones included, from the config too).
    /// Returns how many static entries went with it.
    pub fn remove_port(&mut self, name: &str) -> Result<usize, ControlError> {
        let i = self.port_index(name)?;
        self.check_not_mirrored(name)?;
        let entry = self.ports.remove(i);
        self.move_guard.forget_port(entry.id, self.switch.fdb());
        let before = self.fdb_settings.statics.len();
        self.fdb_settings.statics.retain(|s| s.port != name);
        let statics = before - self.fdb_settings.statics.len();
        // Out of the engine first (it publishes, then forgets the port's
        // entries), so no worker hands frames to a closing port.
        let now = self.switch.now_secs();
        if let Err(e) = self.switch.engine_mut().remove_port(entry.id, now) {
            tracing::error!(port = name, "removing the port from the engine failed: {e}");
        }
        if let Err(e) = self.switch.remove_port(entry.id, entry.worker) {
            tracing::error!(port = name, "closing the port failed: {e}");
        }
        // The id may be reused by a later port.add.
        let _ = self.switch.set_link_down(entry.id, entry.worker, false);
        // A tap the port made goes with it (a VM on it loses its NIC, as
        // when its host's switch port is deleted); a daemon stop keeps it.
        if entry.settings.create.is_some() {
            if let Err(e) = tap::remove(&entry.settings.iface) {
                tracing::error!(port = name, "removing the port's tap failed: {e}");
            }
        }
        tracing::info!(port = name, "port removed");
        Ok(statics)
    }

    /// Changes a port's settings, live. Learned entries of the port are
    /// flushed when its VLAN settings change (as OVS does); a change that
    /// would strand a static entry is refused. A new `driver` that would
    /// run a different driver re-binds the port ([`Controller::rebind`]);
    /// one that resolves to the driver already running is only recorded
    /// (no gap in traffic for nothing).
    pub fn set_port(&mut self, patch: &PortPatch) -> Result<&PortEntry, ControlError> {
        let name = patch.name.as_str();
        let i = self.port_index(name)?;
        if let Some(m) = patch.fixed_change(&self.ports[i].settings) {
            return Err(ControlError::Invalid(m));
        }
        let before = self.ports[i].config.clone();
        let mut settings = self.ports[i].settings.clone();
        patch.apply(&mut settings);
        let mut config = settings
            .engine_config()
            .map_err(|e| ControlError::Invalid(e.to_string()))?;
        check_max_macs(&settings, self.switch.fdb().capacity())
            .map_err(|e| ControlError::Invalid(e.to_string()))?;
        config.max_frame_len = before.max_frame_len;
        // Re-bound when the driver asked for changes to one that runs
        // differently, or to retry a port left without sockets; never
        // for a change of other settings.
        let driver = settings.driver.choice();
        let status = &self.ports[i].status;
        let rebind = (settings.driver != self.ports[i].settings.driver
            && driver.resolve(&status.iface) != status.driver)
            || !is_bound(status);
        // The MTU the port is to carry, against the driver it will run.
        let iface_mtu = self.ports[i].iface_mtu();
        let wanted = settings.mtu.map_or(iface_mtu, |m| m.get());
        let (runs, capacity) = if rebind {
            let d = driver.resolve(&status.iface);
            (d, d.frame_capacity())
        } else {
            (status.driver, status.frame_capacity)
        };
        // Checked when the request touches what carries it (a port whose
        // interface grew past its driver live keeps taking other changes:
        // `mtu_problem` says what is wrong).
        if patch.mtu.is_some() || rebind {
            check_port_mtu(name, runs, capacity, wanted).map_err(ControlError::Invalid)?;
        }
        let now = self.switch.now_secs();
        // The engine first: it is what may refuse, and a refusal must
        // find the port's sockets untouched.
        let vlan_changed =
            match self
                .switch
                .engine_mut()
                .set_port(self.ports[i].id, config.clone(), now)
            {
                Ok(changed) => changed,
                Err(e) => return Err(self.refused(e)),
            };
        self.ports[i].config = config;
        // A configured MTU goes onto the interface (after the engine took
        // the settings: a refusal there must find the interface as it
        // was). Before a re-bind, so new AF_XDP sockets open on it; after
        // one to the packet driver, as XDP on a veth caps its MTU while
        // attached.
        let iface = self.ports[i].settings.iface.clone();
        let new_mtu = settings.mtu.map(|m| m.get()).filter(|&m| m != iface_mtu);
        let mtu_after = rebind && runs == Driver::Packet;
        if let (Some(m), false) = (new_mtu, mtu_after) {
            if let Err(e) = set_iface_mtu(name, &iface, m) {
                let id = self.ports[i].id;
                let now = self.switch.now_secs();
                if self
                    .switch
                    .engine_mut()
                    .set_port(id, before.clone(), now)
                    .is_ok()
                {
                    self.ports[i].config = before;
                }
                return Err(e);
            }
            // The watcher's event follows; enforce from now on.
            self.ports[i].link.mtu = m;
        }
        if rebind {
            let from = self.ports[i].settings.driver.choice();
            let mut result = self.rebind(i, driver, from);
            if let (Ok(()), Some(m), true) = (&result, new_mtu, mtu_after) {
                match set_iface_mtu(name, &iface, m) {
                    Ok(()) => self.ports[i].link.mtu = m,
                    Err(e) => {
                        // Back to the driver it had.
                        let _ = self.rebind(i, from, from);
                        result = Err(e);
                    }
                }
            }
            if let Err(e) = result {
                if new_mtu.is_some() && !mtu_after {
                    let _ = crate::link::set_mtu(&iface, iface_mtu);
                    self.ports[i].link.mtu = iface_mtu;
                }
                // Back to the old settings. The engine takes them: they
                // carried every static entry of the port, and those have
                // not changed since. The frame length is the one of the
                // sockets the port has now.
                let mut back = before;
                back.max_frame_len = self.ports[i].config.max_frame_len;
                let id = self.ports[i].id;
                let now = self.switch.now_secs();
                match self.switch.engine_mut().set_port(id, back.clone(), now) {
                    Ok(_) => self.ports[i].config = back,
                    Err(undo) => tracing::error!(
                        port = name,
                        "restoring the port's settings after a failed re-bind failed: {undo}"
                    ),
                }
                return Err(e);
            }
        }
        self.ports[i].settings = settings;
        self.sync_frame_len(i);
        tracing::info!(
            port = name,
            vlan_changed,
            rebound = rebind,
            mtu = self.ports[i].mtu(),
            "port reconfigured"
        );
        Ok(&self.ports[i])
    }

    /// Re-opens port `i`'s sockets with driver `to` on the same worker.
    /// The engine keeps the port (its settings, its FDB entries) all the
    /// while: frames for it are dropped (`port_unknown`) for the moment it
    /// has no sockets, and no other port is touched (but see
    /// [`Controller::refresh_worker`]). When `to` cannot open, the port is
    /// reopened with `from` and the error says why: a failed change never
    /// loses a port. Only when `from` fails too is the port left without
    /// sockets (its `queues` are 0), and the error and the log say so; the
    /// next `port.set` of it tries again.
    fn rebind(
        &mut self,
        i: usize,
        to: DriverChoice,
        from: DriverChoice,
    ) -> Result<(), ControlError> {
        let (id, worker) = (self.ports[i].id, self.ports[i].worker);
        let name = self.ports[i].settings.name.clone();
        let iface = self.ports[i].settings.iface.clone();
        self.switch.remove_port(id, worker).map_err(|e| {
            ControlError::Failed(format!("port {name:?}: closing its sockets failed: {e}"))
        })?;
        let open = |switch: &Switch, driver: DriverChoice| {
            switch.add_port(
                PortSpec {
                    id,
                    iface: iface.clone(),
                    driver,
                    replace_foreign_xdp: false,
                },
                worker,
            )
        };
        let result = match open(&self.switch, to) {
            Ok(status) => {
                tracing::info!(
                    port = %name, iface = %iface, asked = %to, driver = %status.driver,
                    xdp = ?status.xdp, offloads = %status.offloads, queues = status.queues,
                    "port re-bound"
                );
                self.adopt_status(i, status);
                Ok(())
            }
            Err(e) => {
                tracing::warn!(port = %name, iface = %iface, "driver {to} failed to open: {e}; reopening with driver {from}");
                match open(&self.switch, from) {
                    Ok(status) => {
                        self.adopt_status(i, status);
                        Err(ControlError::Failed(format!(
                            "port {name:?}: driver {to} could not open {iface}: {e}; \
                             the port runs on with driver {from}"
                        )))
                    }
                    Err(e2) => {
                        let message = format!(
                            "port {name:?}: driver {to} could not open {iface}: {e}; \
                             reopening it with driver {from} failed too: {e2}; the port \
                             stays configured but has no sockets and forwards nothing \
                             until a port.set of it opens them again (or port.del)"
                        );
                        tracing::error!("{message}");
                        unbind(&mut self.ports[i].status);
                        Err(ControlError::Failed(message))
                    }
                }
            }
        };
        self.refresh_worker(worker, id);
        result
    }

    /// Takes a port's new status from its driver, and the frame length
    /// its sockets carry into the engine (a change of `max_frame_len`
    /// alone is no VLAN change: nothing is flushed).
    fn adopt_status(&mut self, i: usize, status: PortStatus) {
        self.ports[i].status = status;
        self.sync_frame_len(i);
    }

    /// Gives the engine port `i`'s frame limit ([`PortEntry::max_frame_len`])
    /// when it changed: its MTU, its interface's or its driver changed.
    /// Logs what the port cannot carry ([`PortEntry::mtu_problem`]).
    fn sync_frame_len(&mut self, i: usize) {
        let p = &mut self.ports[i];
        let want = p.max_frame_len();
        if want == p.config.max_frame_len {
            return;
        }
        if let Some(problem) = p.mtu_problem() {
            tracing::warn!(port = %p.settings.name, "{problem}");
        }
        let mut config = p.config.clone();
        config.max_frame_len = want;
        let now = self.switch.now_secs();
        match self.switch.engine_mut().set_port(p.id, config.clone(), now) {
            Ok(_) => p.config = config,
            Err(e) => tracing::error!(
                port = %p.settings.name,
                "setting the port's max_frame_len to {want} failed: {e}"
            ),
        }
    }

    /// Closing the port that opened a worker's UMEM rebuilds the UMEM and
    /// reopens the worker's other ports (dataplane/runtime/src/worker/mod.rs,
    /// `close_port`): take their statuses from the worker's reports, which
    /// are current once `remove_port` has returned, so `status` says what
    /// they have now. `except` is the port whose status is already known.
    fn refresh_worker(&mut self, worker: usize, except: PortId) {
        let reports = self.switch.port_reports();
        for i in 0..self.ports.len() {
            let p = &self.ports[i];
            if p.worker != worker || p.id == except || !is_bound(&p.status) {
                continue;
            }
            match reports.iter().find(|r| r.status.id == p.id) {
                Some(r) if r.status != p.status => {
                    tracing::info!(port = %p.settings.name, "reopened by its worker");
                    let status = r.status.clone();
                    self.adopt_status(i, status);
                }
                Some(_) => {}
                None => {
                    tracing::error!(
                        port = %p.settings.name,
                        "its worker could not reopen it; it forwards nothing until a port.set of it opens it again (or port.del)"
                    );
                    unbind(&mut self.ports[i].status);
                }
            }
        }
    }

    /// Tells the dataplane whether port `i` may be sent to: not while its
    /// link is not up (its worker then drops frames for it as
    /// `link_down` and does not wait for its rings to drain).
    fn mark_link(&self, i: usize) {
        let p = &self.ports[i];
        let down = p.link.state != LinkState::Up;
        if let Err(e) = self.switch.set_link_down(p.id, p.worker, down) {
            tracing::error!(port = %p.settings.name, "marking the link {} failed: {e}", p.link.state);
        }
    }

    /// A link event from the watcher (control/src/link.rs): updates the
    /// state of every port on that interface and acts on it.
    ///
    /// - down (admin down, no carrier): the port is marked down in the
    ///   dataplane and its learned MACs are flushed; its sockets stay
    ///   (both drivers' sockets survive an admin down and up).
    /// - absent (deleted, moved to another namespace, renamed): its
    ///   sockets are closed as well; its settings and static entries stay.
    /// - present again, or under a new ifindex: the port is re-bound with
    ///   its configured driver once the interface is administratively
    ///   up, and forwards again when it is up.
    /// - an MTU change is recorded (`status` shows it).
    pub fn link_event(&mut self, ev: &LinkEvent) {
        if self.stopped {
            return;
        }
        for i in 0..self.ports.len() {
            let p = &self.ports[i];
            let renamed_away = ev.present
                && ev.ifindex == p.link.ifindex
                && p.link.state != LinkState::Absent
                && ev.name != p.settings.iface;
            if renamed_away {
                let gone = LinkInfo::absent(p.link.mtu);
                self.apply_link(i, gone);
            } else if ev.name == p.settings.iface {
                let info = ev.info(p.link.mtu);
                self.apply_link(i, info);
            }
        }
    }

    /// After a full dump of the links (at start, and after the kernel
    /// dropped events): a port whose interface was not in it is absent.
    pub fn links_present(&mut self, present: &std::collections::HashSet<String>) {
        if self.stopped {
            return;
        }
        for i in 0..self.ports.len() {
            let p = &self.ports[i];
            // A dump that raced a burst of link events (a namespace torn
            // down elsewhere) can miss a link: absence is confirmed with
            // the kernel before the port's sockets are closed for it.
            let missing = !present.contains(&p.settings.iface)
                && p.link.state != LinkState::Absent
                && LinkInfo::probe(&p.settings.iface).state == LinkState::Absent;
            if missing {
                let gone = LinkInfo::absent(p.link.mtu);
                self.apply_link(i, gone);
            }
        }
    }

    /// Retries the re-bind of ports whose interface is back but whose
    /// re-bind failed (call about once a second).
    pub fn retry_links(&mut self) {
        if self.stopped {
            return;
        }
        for i in 0..self.ports.len() {
            let p = &self.ports[i];
            if p.link_closed && p.link.state != LinkState::Absent && p.link.admin_up {
                let link = p.link;
                self.apply_link(i, link);
            }
        }
    }

    fn apply_link(&mut self, i: usize, new: LinkInfo) {
        let was = self.ports[i].link;
        let (id, worker) = (self.ports[i].id, self.ports[i].worker);
        let name = self.ports[i].settings.name.clone();
        let iface = self.ports[i].settings.iface.clone();
        self.ports[i].link = new;
        if new.mtu != was.mtu && new.state != LinkState::Absent {
            tracing::info!(port = %name, iface = %iface, mtu = new.mtu, was = was.mtu, "interface MTU changed");
            // A port without a configured mtu follows it; one with one
            // keeps it (within the interface's).
            self.sync_frame_len(i);
        }
        if new.state != was.state {
            match new.state {
                LinkState::Up => tracing::info!(port = %name, iface = %iface, "link up"),
                LinkState::Down => tracing::warn!(port = %name, iface = %iface, "link down"),
                LinkState::Absent => tracing::warn!(port = %name, iface = %iface, "interface gone"),
            }
        }
        // Mark down first, so no frame is queued for sockets about to close.
        self.mark_link(i);
        if was.state == LinkState::Up && new.state != LinkState::Up {
            // As a switch does on link down: MACs behind the port are no
            // longer known to be there.
            let now = self.switch.now_secs();
            let flushed = self
                .switch
                .engine_mut()
                .flush(FlushScope::Port(id), false, now);
            tracing::debug!(port = %name, flushed, "learned MACs of a down port flushed");
        }
        // Sockets of an interface that is gone (or was replaced by one of
        // the same name) serve nothing: close them, so the worker polls no
        // dead fd and holds no dead rings.
        let replaced =
            new.state != LinkState::Absent && was.ifindex != 0 && new.ifindex != was.ifindex;
        if (new.state == LinkState::Absent || replaced) && is_bound(&self.ports[i].status) {
            if let Err(e) = self.switch.remove_port(id, worker) {
                tracing::error!(port = %name, "closing the sockets of a gone interface failed: {e}");
            }
            unbind(&mut self.ports[i].status);
            self.ports[i].link_closed = true;
            self.refresh_worker(worker, id);
            tracing::info!(port = %name, iface = %iface, "sockets closed; the port is re-bound when {iface} is back");
        }
        if self.ports[i].link_closed && new.state != LinkState::Absent && new.admin_up {
            let driver = self.ports[i].settings.driver.choice();
            match self.rebind(i, driver, driver) {
                Ok(()) => {
                    self.ports[i].link_closed = false;
                    tracing::info!(port = %name, iface = %iface, ifindex = new.ifindex, "interface is back: port re-bound");
                }
                Err(e) => {
                    // rebind() left it without sockets: retried on the
                    // next event or by retry_links.
                    tracing::debug!(port = %name, "re-bind after the interface came back failed: {e}");
                }
            }
            self.mark_link(i);
        }
    }

    /// Adds (or replaces) a static FDB entry, in the table and the config.
    pub fn add_static(&mut self, entry: StaticEntry) -> Result<(), ControlError> {
        let (mac, vlan, port) = (entry.mac.mac(), entry.vlan.id(), entry.port.as_str());
        let i = self.port_index(port)?;
        let engine_entry = EngineStatic {
            vlan,
            mac,
            port: self.ports[i].id,
        };
        if let Err(e) = self.switch.engine_mut().add_static(engine_entry) {
            return Err(self.refused(e));
        }
        self.fdb_settings
            .statics
            .retain(|s| (s.mac, s.vlan) != (entry.mac, entry.vlan));
        self.fdb_settings.statics.push(entry);
        Ok(())
    }

    /// Deletes the entry of (MAC, VLAN), static or learned. `false` if
    /// there was none.
    pub fn delete_fdb(&mut self, mac: MacAddr, vlan: Vlan) -> bool {
        let now = self.switch.now_secs();
        let removed = self
            .switch
            .engine_mut()
            .remove_entry(vlan.id(), mac.mac(), now);
        let before = self.fdb_settings.statics.len();
        self.fdb_settings
            .statics
            .retain(|s| (s.mac, s.vlan) != (mac, vlan));
        removed || before != self.fdb_settings.statics.len()
    }

    /// Flushes entries in `scope`; static ones (table and config) only
    /// with `include_static`. Returns how many entries went.
    pub fn flush(&mut self, scope: FlushScope, include_static: bool) -> usize {
        let now = self.switch.now_secs();
        let flushed = self.switch.engine_mut().flush(scope, include_static, now);
        if include_static {
            let ports = &self.ports;
            self.fdb_settings.statics.retain(|s| match scope {
                FlushScope::All => false,
                FlushScope::Vlan(v) => s.vlan.id() != v,
                FlushScope::Port(id) => ports
                    .iter()
                    .all(|p| p.id != id || p.settings.name != s.port),
            });
        }
        flushed
    }

    /// Writes the running configuration as TOML, atomically (temporary
    /// file, fsync, rename, fsync of the directory). Returns the path.
    pub fn save(&self, path: Option<&Path>) -> Result<PathBuf, ControlError> {
        let path = path
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.path.clone());
        let fail = |what: &str, e: std::io::Error| {
            ControlError::Failed(format!("{what} {}: {e}", path.display()))
        };
        if path.file_name().is_none() {
            return Err(ControlError::Invalid(format!(
                "{} is not a file path",
                path.display()
            )));
        }
        let text = format!(
            "# Written by vswitchd (config.save); the running configuration.\n{}",
            config::to_toml(&self.file())
        );
        config::write_atomically(&path, text.as_bytes()).map_err(|e| fail("cannot write", e))?;
        Ok(path)
    }

    /// Stops workers, closes sockets, removes the XDP programs (each
    /// AF_XDP port removes the program it recorded as its own, and only
    /// that one). The controller answers nothing useful afterwards.
    pub fn shutdown(&mut self) {
        self.stopped = true;
        self.switch.shutdown();
    }
}

/// The workers' polling policy of checked `[switch]` settings.
fn polling(s: &SwitchSettings) -> Polling {
    Polling {
        mode: match s.polling {
            PollingMode::Adaptive => PollMode::Adaptive,
            PollingMode::Busy => PollMode::Busy,
        },
        // Checked: 0-1000.
        max_sleep_us: u32::try_from(s.max_sleep_us).unwrap_or(0),
    }
}

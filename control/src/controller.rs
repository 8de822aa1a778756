//! The controller: owns the running switch and the running configuration,
//! builds and publishes configuration snapshots, runs the aging sweep and
//! answers questions about state. Only the control thread (and API
//! threads, one request at a time through a mutex) touches it.

use std::path::PathBuf;
use std::time::Instant;

use vswitch_dataplane::port::afxdp::{PortSpec, PortStatus};
use vswitch_dataplane::port::xsk;
use vswitch_dataplane::stats::StatsTotals;
use vswitch_dataplane::switch::{Switch, SwitchConfig, SwitchError};
use vswitch_dataplane::{PortConfig, PortId, Snapshot};

use crate::config::{ConfigFile, PortSection, ValidConfig};

/// A configured port as the controller tracks it.
#[derive(Debug, Clone)]
pub struct PortEntry {
    /// The `[[port]]` table as configured.
    pub section: PortSection,
    /// Its id.
    pub id: PortId,
    /// Engine config (max frame length filled in from the interface).
    pub config: PortConfig,
    /// Worker that owns it.
    pub worker: usize,
    /// What the kernel gave it.
    pub status: PortStatus,
}

/// Why the controller could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The switch (workers, sockets) failed.
    #[error(transparent)]
    Switch(#[from] SwitchError),
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
    file: ConfigFile,
    path: PathBuf,
    ports: Vec<PortEntry>,
    workers: Vec<usize>,
    baseline: StatsTotals,
    started: Instant,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("ports", &self.ports.len())
            .field("workers", &self.workers)
            .finish()
    }
}

/// Removes XDP programs a killed run left on `ifaces`; logs each one.
pub fn remove_stale_xdp<'a>(ifaces: impl IntoIterator<Item = &'a str>) {
    for iface in ifaces {
        match xsk::detach_xdp(iface) {
            Ok(true) => tracing::warn!(
                iface,
                "removed a stale XDP program (left by a vswitchd that was killed?)"
            ),
            Ok(false) => {}
            Err(e) => tracing::debug!(iface, error = %e, "could not check for a stale XDP program"),
        }
    }
}

impl Controller {
    /// Starts the switch from a validated config: opens every port, adds
    /// static entries, publishes the first snapshot. All or nothing.
    pub fn start(
        file: ConfigFile,
        valid: ValidConfig,
        path: PathBuf,
    ) -> Result<Controller, StartError> {
        let cfg = SwitchConfig::new(valid.workers.clone(), valid.fdb);
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
                        iface: p.iface.clone(),
                    },
                    i % nworkers,
                )
            })
            .collect();
        let (switch, statuses) = Switch::start(&cfg, specs)?;
        let mut ports = Vec::new();
        for (i, p) in valid.ports.iter().enumerate() {
            let status = statuses
                .iter()
                .find(|s| s.id == p.id)
                .cloned()
                .expect("every port opened or start failed");
            let mut config = p.config.clone();
            config.max_frame_len = status.max_frame_len;
            ports.push(PortEntry {
                section: file.ports[i].clone(),
                id: p.id,
                config,
                worker: i % nworkers,
                status,
            });
        }
        for &(vlan, mac, port) in &valid.statics {
            switch
                .fdb()
                .add_static(vlan, mac, port)
                .map_err(|e| StartError::Static {
                    mac: mac.to_string(),
                    vlan: vlan.get(),
                    message: e.to_string(),
                })?;
        }
        let c = Controller {
            switch,
            file,
            path,
            ports,
            workers: valid.workers,
            baseline: StatsTotals::default(),
            started: Instant::now(),
        };
        c.publish();
        Ok(c)
    }

    /// Builds the snapshot of the current port set and hands it to workers.
    pub fn publish(&self) {
        let snap = Snapshot::new(self.ports.iter().map(|p| (p.id, p.config.clone())))
            .with_placement(self.ports.iter().map(|p| (p.id, p.worker)));
        self.switch.publish(snap);
    }

    /// The running switch.
    pub fn switch(&self) -> &Switch {
        &self.switch
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
    pub fn file(&self) -> &ConfigFile {
        &self.file
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
    }

    /// The aging sweep: call about once a second.
    pub fn sweep(&self) {
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
        self.ports.iter().find(|p| p.section.name == name)
    }

    /// Name of a port id.
    pub fn port_name(&self, id: PortId) -> Option<&str> {
        self.ports
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.section.name.as_str())
    }

    /// Stops workers, closes sockets, removes the XDP programs.
    pub fn shutdown(self) {
        let ifaces: Vec<String> = self.ports.iter().map(|p| p.section.iface.clone()).collect();
        self.switch.stop();
        // libxdp detaches its program with the last socket of an
        // interface; make sure nothing is left either way.
        remove_stale_xdp(ifaces.iter().map(String::as_str));
    }
}

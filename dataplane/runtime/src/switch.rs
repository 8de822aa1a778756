//! The running switch: workers, and the [`Engine`] whose configuration
//! they switch under. The control thread owns a [`Switch`]; it changes
//! the configuration through [`Switch::engine_mut`] (the engine publishes
//! every change) and opens and closes ports here; workers only read what
//! the engine publishes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use vswitch_engine::fdb::{Fdb, FdbConfig};
use vswitch_engine::stats::{StatsTotals, WorkerStats};
use vswitch_engine::{Engine, EngineError, PortId, Snapshot};

use crate::port::xsk::SocketConfig;
use crate::port::{PortSpec, PortStatus};
use crate::worker::{self, Command, Polling, PortReport, WorkerContext, WorkerSetup, WorkerShared};

/// How to start a switch.
#[derive(Debug, Clone)]
pub struct SwitchConfig {
    /// One worker per entry, pinned to that CPU.
    pub workers: Vec<usize>,
    /// The FDB.
    pub fdb: FdbConfig,
    /// Chunks per worker UMEM.
    pub umem_frames: u32,
    /// Socket options.
    pub socket: SocketConfig,
    /// How workers poll.
    pub polling: Polling,
}

impl SwitchConfig {
    /// Defaults for everything but the worker CPUs and the FDB.
    pub fn new(workers: Vec<usize>, fdb: FdbConfig) -> SwitchConfig {
        SwitchConfig {
            workers,
            fdb,
            // 16384 × 4 KiB = 64 MiB of address space a worker; pages are
            // only touched as frames cycle through.
            umem_frames: 16384,
            socket: SocketConfig {
                ring_size: 2048,
                prefer_native: true,
                prefer_zero_copy: true,
            },
            polling: Polling::default(),
        }
    }
}

/// Why a switch could not start or change.
#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    /// The engine (FDB settings, reader slots) refused.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A worker could not start or open its ports.
    #[error("worker {worker}: {message}")]
    Worker {
        /// Worker index.
        worker: usize,
        /// What went wrong.
        message: String,
    },
    /// A port refers to a worker that does not exist.
    #[error("no worker {0}")]
    NoWorker(usize),
}

/// A running switch.
pub struct Switch {
    engine: Engine,
    workers: Vec<Arc<WorkerShared>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    epoch: Instant,
}

impl std::fmt::Debug for Switch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Switch")
            .field("workers", &self.workers.len())
            .finish()
    }
}

impl Switch {
    /// Starts the workers and opens `ports` (each on its worker). Either
    /// everything opens, or everything opened is closed again and the
    /// first error is returned: a switch never runs half configured.
    /// Ports forward nothing until they are added to the engine
    /// ([`Switch::engine_mut`]).
    pub fn start(
        cfg: &SwitchConfig,
        ports: Vec<(PortSpec, usize)>,
    ) -> Result<(Switch, Vec<PortStatus>), SwitchError> {
        let engine = Engine::new(cfg.fdb)?;
        let workers: Vec<Arc<WorkerShared>> = (0..cfg.workers.len())
            .map(|i| {
                WorkerShared::new(i, cfg.umem_frames).map_err(|e| SwitchError::Worker {
                    worker: i,
                    message: e.to_string(),
                })
            })
            .collect::<Result<_, _>>()?;
        for w in &workers {
            w.set_polling(cfg.polling);
        }
        let peers: Arc<[Arc<WorkerShared>]> = workers.clone().into();
        let epoch = Instant::now();
        let mut per_worker: Vec<Vec<PortSpec>> = vec![Vec::new(); workers.len()];
        for (spec, w) in ports {
            per_worker
                .get_mut(w)
                .ok_or(SwitchError::NoWorker(w))?
                .push(spec);
        }
        let mut threads = Vec::new();
        let mut waits = Vec::new();
        for (i, (&cpu, specs)) in cfg.workers.iter().zip(per_worker).enumerate() {
            let (tx, rx) = crossbeam_channel::bounded(1);
            let ctx = WorkerContext {
                setup: WorkerSetup {
                    index: i,
                    cpu: Some(cpu),
                    socket: cfg.socket,
                },
                engine: engine.worker(Arc::clone(&workers[i].stats))?,
                peers: Arc::clone(&peers),
                epoch,
            };
            let handle = worker::spawn(ctx, specs, tx).map_err(|e| SwitchError::Worker {
                worker: i,
                message: e.to_string(),
            })?;
            threads.push(handle);
            waits.push(rx);
        }
        let switch = Switch {
            engine,
            workers,
            threads,
            epoch,
        };
        let mut statuses = Vec::new();
        let mut failure = None;
        for (i, rx) in waits.into_iter().enumerate() {
            match rx.recv() {
                Ok(Ok(st)) => statuses.extend(st),
                Ok(Err(message)) => {
                    failure = failure.or(Some(SwitchError::Worker { worker: i, message }))
                }
                Err(_) => {
                    failure = failure.or(Some(SwitchError::Worker {
                        worker: i,
                        message: "worker thread died while starting".into(),
                    }))
                }
            }
        }
        if let Some(e) = failure {
            switch.stop();
            return Err(e);
        }
        Ok((switch, statuses))
    }

    /// The shared FDB.
    pub fn fdb(&self) -> &Arc<Fdb> {
        self.engine.fdb()
    }

    /// The engine: port table, static entries, reconfiguration rules.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The engine, to reconfigure: every change it accepts is published
    /// to the workers at once.
    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// Seconds on the FDB clock (since start).
    pub fn now_secs(&self) -> u32 {
        self.epoch.elapsed().as_secs() as u32
    }

    /// Time since start.
    pub fn uptime(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// The configuration in force.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.engine.snapshot()
    }

    /// Opens a port on a running worker.
    pub fn add_port(&self, spec: PortSpec, worker: usize) -> Result<PortStatus, SwitchError> {
        let w = self
            .workers
            .get(worker)
            .ok_or(SwitchError::NoWorker(worker))?;
        let (tx, rx) = crossbeam_channel::bounded(1);
        w.send(Command::AddPort { spec, reply: tx });
        rx.recv()
            .map_err(|_| SwitchError::Worker {
                worker,
                message: "worker is gone".into(),
            })?
            .map_err(|message| SwitchError::Worker { worker, message })
    }

    /// Closes a port (remove it from the engine first, so nothing is still
    /// being sent to it).
    pub fn remove_port(&self, id: PortId, worker: usize) -> Result<(), SwitchError> {
        let w = self
            .workers
            .get(worker)
            .ok_or(SwitchError::NoWorker(worker))?;
        let (tx, rx) = crossbeam_channel::bounded(1);
        w.send(Command::RemovePort { id, reply: tx });
        rx.recv().map_err(|_| SwitchError::Worker {
            worker,
            message: "worker is gone".into(),
        })
    }

    /// Marks port `id` (owned by `worker`) down or up: while down, its
    /// worker drops every frame for it (counted as `link_down`) rather
    /// than queueing it, and does not wait for its transmit rings to
    /// drain, so a dead interface costs no CPU. The port's sockets and
    /// settings are untouched.
    pub fn set_link_down(&self, id: PortId, worker: usize, down: bool) -> Result<(), SwitchError> {
        let w = self
            .workers
            .get(worker)
            .ok_or(SwitchError::NoWorker(worker))?;
        w.set_link_down(id, down);
        Ok(())
    }

    /// Sets how every worker polls, live.
    pub fn set_polling(&self, p: Polling) {
        for w in &self.workers {
            w.set_polling(p);
        }
    }

    /// Every worker's shared half (counters, load, port reports).
    pub fn workers(&self) -> &[Arc<WorkerShared>] {
        &self.workers
    }

    /// Counters summed over all workers.
    pub fn totals(&self) -> StatsTotals {
        StatsTotals::sum(self.workers.iter().map(|w| -> &WorkerStats { &w.stats }))
    }

    /// Every port's report.
    pub fn port_reports(&self) -> Vec<PortReport> {
        self.workers
            .iter()
            .flat_map(|w| w.ports.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .collect()
    }

    /// Stops every worker and closes every socket; returns when they are
    /// gone.
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Same as [`Switch::stop`] through a reference (idempotent); the
    /// switch does nothing afterwards.
    pub fn shutdown(&mut self) {
        for w in &self.workers {
            w.send(Command::Stop);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        self.shutdown();
    }
}

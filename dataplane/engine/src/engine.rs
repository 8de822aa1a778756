//! The engine's one API, used by every driver of the pipeline (the poll
//! workers of the port runtime, the in-memory switch, the C library and
//! the benchmarks):
//!
//! - [`Engine`] (one per switch, on its control thread) owns the port
//!   table, the static FDB entries and the reconfiguration rules, and
//!   publishes an immutable [`Snapshot`] after every change.
//! - [`EngineWorker`] (one per packet thread) switches batches under a
//!   snapshot and hands every output to the driver's [`Transmit`]: output
//!   routing (which buffer, which ports) is decided here, once; a driver
//!   only moves bytes.
//!
//! Reconfiguration rules (as in Open vSwitch):
//! - a static entry's VLAN must be carried by its port, when it is added
//!   and for as long as it exists: a port change that would strand one is
//!   refused;
//! - a change of a port's VLAN settings flushes the port's learned
//!   entries (they may sit in VLANs the port no longer carries);
//! - removing a port removes every entry on it, static ones included.

use std::sync::Arc;

use arc_swap::ArcSwap;
use crossbeam_utils::CachePadded;

use crate::capture::{Capture, CaptureError, CaptureSet, Captures};
use crate::fdb::{Fdb, FdbConfig, FdbError, FdbReader, FlushScope};
use crate::frame::{Frame, Spares};
use crate::limits::MAX_PORTS;
use crate::mirror::{MirrorError, MirrorSession};
use crate::pipeline::{BatchContext, BatchOutput, FrameRef, Output, Pipeline};
use crate::port::PortConfig;
use crate::snapshot::Snapshot;
use crate::stats::{BatchCounters, WorkerStats};
use crate::vocab::PortId;
use crate::wire::{Mac, VlanId};

/// A static FDB entry as the engine keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticEntry {
    /// Its VLAN.
    pub vlan: VlanId,
    /// Its MAC.
    pub mac: Mac,
    /// The port it points to.
    pub port: PortId,
}

/// Why a reconfiguration was refused. Nothing changed when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// `add_port` on an id in use.
    #[error("port {0} already exists")]
    PortExists(PortId),
    /// The port is not configured.
    #[error("no port {0}")]
    NoPort(PortId),
    /// The port change would leave a static entry in a VLAN the port no
    /// longer carries.
    #[error("static entry {} in VLAN {} would no longer be carried by port {}; delete it first", .0.mac, .0.vlan, .0.port)]
    StrandsStatic(StaticEntry),
    /// A static entry for a VLAN its port does not carry.
    #[error("port {port} does not carry VLAN {vlan}")]
    NotCarried {
        /// The port.
        port: PortId,
        /// The VLAN.
        vlan: VlanId,
    },
    /// A static entry for a group or zero address.
    #[error("{0} is a group or zero address; static entries need a unicast MAC")]
    NotUnicast(Mac),
    /// The FDB refused.
    #[error(transparent)]
    Fdb(#[from] FdbError),
    /// Mirror sessions that do not fit the ports (`crate::mirror::check`),
    /// or a change that would break one.
    #[error(transparent)]
    Mirror(#[from] MirrorError),
}

/// One switch's configuration and its rules. See the module docs.
pub struct Engine {
    fdb: Arc<Fdb>,
    ports: Vec<Option<PortConfig>>,
    placement: Vec<usize>,
    statics: Vec<StaticEntry>,
    captures: Captures,
    mirrors: Vec<MirrorSession>,
    topology: Arc<ArcSwap<Snapshot>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("ports", &self.ports().count())
            .field("statics", &self.statics.len())
            .finish()
    }
}

impl Engine {
    /// An engine with a new FDB and no ports.
    pub fn new(fdb: FdbConfig) -> Result<Engine, EngineError> {
        Ok(Engine::with_fdb(Arc::new(Fdb::new(fdb)?)))
    }

    /// An engine on an existing FDB (two engines on one FDB behave like two
    /// workers of one switch with their own port tables: tests use it).
    pub fn with_fdb(fdb: Arc<Fdb>) -> Engine {
        Engine {
            fdb,
            ports: vec![None; MAX_PORTS],
            placement: vec![0; MAX_PORTS],
            statics: Vec::new(),
            captures: Captures::default(),
            mirrors: Vec::new(),
            topology: Arc::new(ArcSwap::from_pointee(Snapshot::default())),
        }
    }

    /// The shared FDB (for lookups, listings and sweeps; changes to static
    /// entries go through the engine so its rules hold).
    pub fn fdb(&self) -> &Arc<Fdb> {
        &self.fdb
    }

    /// A packet thread's handle, publishing counters into `stats`.
    pub fn worker(
        &self,
        stats: Arc<CachePadded<WorkerStats>>,
    ) -> Result<EngineWorker, EngineError> {
        Ok(EngineWorker {
            reader: self.fdb.reader()?,
            pipeline: Pipeline::new(stats),
            out: BatchOutput::default(),
            topology: Arc::clone(&self.topology),
        })
    }

    /// Where snapshots are published; workers load from it once per batch.
    pub fn topology(&self) -> &Arc<ArcSwap<Snapshot>> {
        &self.topology
    }

    /// The configuration in force.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.topology.load_full()
    }

    /// A port's configuration.
    pub fn port(&self, id: PortId) -> Option<&PortConfig> {
        self.ports[id.index()].as_ref()
    }

    /// Every configured port.
    pub fn ports(&self) -> impl Iterator<Item = (PortId, &PortConfig)> {
        self.ports
            .iter()
            .enumerate()
            .filter_map(|(i, c)| Some((PortId::new(i)?, c.as_ref()?)))
    }

    /// The lowest port id not in use.
    pub fn free_port_id(&self) -> Option<PortId> {
        self.ports
            .iter()
            .position(Option::is_none)
            .and_then(PortId::new)
    }

    /// Static entries, in the order they were added.
    pub fn statics(&self) -> &[StaticEntry] {
        &self.statics
    }

    fn publish(&self) {
        let snap = Snapshot::new(
            self.ports
                .iter()
                .enumerate()
                .filter_map(|(i, c)| Some((PortId::new(i)?, c.clone()?))),
        )
        .with_placement(
            self.ports()
                .map(|(id, _)| (id, self.placement[id.index()]))
                .collect::<Vec<_>>(),
        )
        .with_captures(CaptureSet::of(self.captures.running()))
        .with_mirrors(&self.mirrors);
        self.topology.store(Arc::new(snap));
    }

    /// Starts `capture`: workers record into it from their next batch
    /// (see `capture.rs`).
    pub fn add_capture(&mut self, capture: Arc<Capture>) -> Result<(), CaptureError> {
        self.captures.add(capture)?;
        self.publish();
        Ok(())
    }

    /// Ends capture `id` (a worker may still offer it the batch it is
    /// in); `false` if it was not running.
    pub fn remove_capture(&mut self, id: u64) -> bool {
        let removed = self.captures.remove(id);
        if removed {
            self.publish();
        }
        removed
    }

    /// The captures running.
    pub fn captures(&self) -> &[Arc<Capture>] {
        self.captures.running()
    }

    /// Mirror sessions in force.
    pub fn mirrors(&self) -> &[MirrorSession] {
        &self.mirrors
    }

    /// Replaces the mirror sessions (`crate::mirror`) and publishes.
    /// Refused when a session names a missing port, an output is a source
    /// or shared, or a static entry points at an output. A port that
    /// becomes an output has its learned entries flushed (after the
    /// publish, so no worker learns it again).
    pub fn set_mirrors(
        &mut self,
        sessions: Vec<MirrorSession>,
        now: u32,
    ) -> Result<(), EngineError> {
        crate::mirror::check(
            &sessions,
            |p| self.ports[p.index()].is_some(),
            |p| self.statics.iter().any(|s| s.port == p),
        )?;
        let old: crate::vocab::PortSet = self.mirrors.iter().map(|m| m.output).collect();
        let new_outputs: Vec<PortId> = sessions
            .iter()
            .map(|m| m.output)
            .filter(|&o| !old.contains(o))
            .collect();
        self.mirrors = sessions;
        self.publish();
        for o in &new_outputs {
            self.fdb.flush(FlushScope::Port(*o), false);
        }
        if !new_outputs.is_empty() {
            self.fdb.sweep(now);
        }
        Ok(())
    }

    /// Adds a port owned by `worker` (the worker whose thread transmits on
    /// it; 0 where there is one thread) and publishes.
    pub fn add_port(
        &mut self,
        id: PortId,
        config: PortConfig,
        worker: usize,
    ) -> Result<(), EngineError> {
        let slot = &mut self.ports[id.index()];
        if slot.is_some() {
            return Err(EngineError::PortExists(id));
        }
        *slot = Some(config);
        self.placement[id.index()] = worker;
        self.publish();
        Ok(())
    }

    /// Replaces a port's configuration and publishes. Refused when a static
    /// entry of the port would be stranded; flushes the port's learned
    /// entries when its VLAN settings change. Returns whether they changed.
    pub fn set_port(
        &mut self,
        id: PortId,
        mut config: PortConfig,
        now: u32,
    ) -> Result<bool, EngineError> {
        let old = self.port(id).ok_or(EngineError::NoPort(id))?;
        // Shapers whose limits stay keep their buckets.
        config.shaping.keep_state(&old.shaping);
        if let Some(s) = self
            .statics
            .iter()
            .find(|s| s.port == id && !config.vlan.carries(s.vlan))
        {
            return Err(EngineError::StrandsStatic(*s));
        }
        let vlan_changed = old.vlan != config.vlan;
        self.ports[id.index()] = Some(config);
        self.publish();
        if vlan_changed {
            // Published first: no worker learns into the old VLANs after
            // the flush (beyond the batch it is in).
            self.fdb.flush(FlushScope::Port(id), false);
            self.fdb.sweep(now);
        }
        Ok(vlan_changed)
    }

    /// Removes a port: publishes without it, then forgets every entry on
    /// it, static ones included. Returns the static entries that went.
    pub fn remove_port(&mut self, id: PortId, now: u32) -> Result<Vec<StaticEntry>, EngineError> {
        if self.ports[id.index()].is_some()
            && self
                .mirrors
                .iter()
                .any(|m| m.output == id || m.sources.contains(id))
        {
            return Err(EngineError::Mirror(MirrorError::InSession(id)));
        }
        if self.ports[id.index()].take().is_none() {
            return Err(EngineError::NoPort(id));
        }
        self.publish();
        let (gone, kept) = self.statics.iter().partition(|s| s.port == id);
        self.statics = kept;
        self.fdb.flush(FlushScope::Port(id), true);
        // Reclaim at once so a full table can learn again right away.
        self.fdb.sweep(now);
        Ok(gone)
    }

    /// Adds (or moves) the static entry of (VLAN, MAC). Refused for group
    /// addresses and for a VLAN the port does not carry.
    pub fn add_static(&mut self, entry: StaticEntry) -> Result<(), EngineError> {
        let StaticEntry { vlan, mac, port } = entry;
        if !mac.is_learnable() {
            return Err(EngineError::NotUnicast(mac));
        }
        let cfg = self.port(port).ok_or(EngineError::NoPort(port))?;
        if self.mirrors.iter().any(|m| m.output == port) {
            return Err(EngineError::Mirror(MirrorError::OutputHasStatic(port)));
        }
        if !cfg.vlan.carries(vlan) {
            return Err(EngineError::NotCarried { port, vlan });
        }
        self.fdb.add_static(vlan, mac, port)?;
        self.statics.retain(|s| !(s.vlan == vlan && s.mac == mac));
        self.statics.push(entry);
        Ok(())
    }

    /// Deletes the entry of (VLAN, MAC), static or learned. `false` if
    /// there was none.
    pub fn remove_entry(&mut self, vlan: VlanId, mac: Mac, now: u32) -> bool {
        let removed = self.fdb.remove(vlan, mac, now);
        let before = self.statics.len();
        self.statics.retain(|s| !(s.vlan == vlan && s.mac == mac));
        removed || before != self.statics.len()
    }

    /// Flushes the entries in `scope` (static ones only with
    /// `include_static`) and reclaims their slots at once. Returns how many
    /// entries went.
    pub fn flush(&mut self, scope: FlushScope, include_static: bool, now: u32) -> usize {
        // The entries the flush hides, counted just before it: a count of
        // the whole table before and after would also count what workers
        // learn meanwhile (and go below zero).
        let flushed = self.fdb.count(now, |e| {
            (include_static || !e.is_static)
                && match scope {
                    FlushScope::All => true,
                    FlushScope::Vlan(v) => e.vlan == v,
                    FlushScope::Port(p) => e.port == p,
                }
        });
        self.fdb.flush(scope, include_static);
        // Reclaim at once so a full table can learn again right away.
        self.fdb.sweep(now);
        if include_static {
            self.statics.retain(|s| match scope {
                FlushScope::All => false,
                FlushScope::Vlan(v) => s.vlan != v,
                FlushScope::Port(p) => s.port != p,
            });
        }
        flushed
    }
}

/// Where a driver sends what the pipeline decided.
pub trait Transmit {
    /// Transmit `frame` on every port of `output.ports`. `output.frame`
    /// says which buffer it is (a received frame, rewritten in place, or a
    /// spare copy) and `output.origin` which received frame it comes from.
    /// Called in frame order, at most twice per received frame.
    fn transmit(&mut self, output: &Output, frame: &Frame<'_>);

    /// All of a batch's outputs: resolves each one's buffer among the
    /// batch's frames and spares and calls [`Transmit::transmit`]. Drivers
    /// keep this; one that needs no buffers (a benchmark counting outputs)
    /// may look at `outputs` alone.
    #[inline]
    fn transmit_batch<'b, S: Spares<'b> + ?Sized>(
        &mut self,
        outputs: &[Output],
        frames: &[Frame<'_>],
        spares: &S,
    ) {
        for o in outputs {
            // The pipeline only names frames it was given or wrote.
            match o.frame {
                FrameRef::Rx(i) => {
                    if let Some(frame) = frames.get(i as usize) {
                        self.transmit(o, frame);
                    }
                }
                FrameRef::Spare(j) => {
                    if let Some(frame) = spares.written(j as usize) {
                        self.transmit(o, frame);
                    }
                }
            }
        }
    }
}

/// A packet thread's side of the engine: its FDB reader, pipeline and
/// scratch space, reused every batch.
pub struct EngineWorker {
    reader: FdbReader,
    pipeline: Pipeline,
    out: BatchOutput,
    topology: Arc<ArcSwap<Snapshot>>,
}

impl std::fmt::Debug for EngineWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineWorker").finish_non_exhaustive()
    }
}

impl EngineWorker {
    /// The configuration in force, to hold for a batch (or a loop
    /// iteration of several).
    #[inline]
    pub fn load(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.topology.load()
    }

    /// Replaces the clock of the shapers (crate::shaping): tests drive
    /// time by hand.
    pub fn set_clock(&mut self, clock: fn() -> u64) {
        self.pipeline.set_clock(clock);
    }

    /// The counters this worker publishes into.
    pub fn stats(&self) -> &Arc<CachePadded<WorkerStats>> {
        self.pipeline.stats()
    }

    /// The shared FDB.
    pub fn fdb(&self) -> &Arc<Fdb> {
        self.reader.fdb()
    }

    /// The last batch's result.
    pub fn last_output(&self) -> &BatchOutput {
        &self.out
    }

    /// Counts of the last batch (already published to [`Self::stats`]).
    pub fn last_batch(&self) -> &BatchCounters {
        self.pipeline.last_batch()
    }

    /// Switches up to a batch of `frames` received on `ingress` under
    /// `snapshot`, at time `now` (seconds), hands every output to `tx`,
    /// and returns the batch's result (one disposition per frame, in
    /// order). Copies for a second encoding are written into `spares`.
    #[inline]
    pub fn process<'b, S, T>(
        &mut self,
        snapshot: &Snapshot,
        ingress: PortId,
        now: u32,
        frames: &mut [Frame<'_>],
        spares: &mut S,
        tx: &mut T,
    ) -> &BatchOutput
    where
        S: Spares<'b> + ?Sized,
        T: Transmit + ?Sized,
    {
        // Captures (capture.rs): one pointer test a batch when none runs.
        let captures = snapshot.captures();
        if let Some(c) = captures {
            c.input(snapshot, ingress, frames);
        }
        {
            let pinned = self.reader.pin();
            let ctx = BatchContext {
                snapshot,
                fdb: &pinned,
                now,
                ingress,
            };
            self.pipeline.process(&ctx, frames, spares, &mut self.out);
        }
        if let Some(c) = captures {
            c.decided(snapshot, ingress, frames, spares, &self.out);
        }
        tx.transmit_batch(self.out.outputs(), frames, spares);
        &self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vlan::{VlanMode, VlanSet};

    fn p(i: usize) -> PortId {
        PortId::new(i).unwrap()
    }
    fn v(n: u16) -> VlanId {
        VlanId::new(n).unwrap()
    }
    fn mac(last: u8) -> Mac {
        Mac::new([2, 0, 0, 0, 0, last])
    }

    #[test]
    fn a_port_change_that_strands_a_static_entry_is_refused() {
        let mut e = Engine::new(FdbConfig::default()).unwrap();
        e.add_port(p(0), PortConfig::new(VlanMode::Access(v(10))), 0)
            .unwrap();
        let st = StaticEntry {
            vlan: v(10),
            mac: mac(1),
            port: p(0),
        };
        e.add_static(st).unwrap();
        let before = e.snapshot();
        let err = e
            .set_port(p(0), PortConfig::new(VlanMode::Access(v(20))), 0)
            .unwrap_err();
        assert_eq!(err, EngineError::StrandsStatic(st));
        assert_eq!(e.port(p(0)).unwrap().vlan, VlanMode::Access(v(10)));
        assert!(Arc::ptr_eq(&before, &e.snapshot()), "nothing published");
        // A trunk that still carries VLAN 10 is fine.
        let trunk = VlanMode::Trunk {
            allowed: "10,20".parse::<VlanSet>().unwrap(),
            native: None,
        };
        assert!(e.set_port(p(0), PortConfig::new(trunk), 0).unwrap());
        assert_eq!(e.fdb().get(v(10), mac(1), 0).unwrap().port, p(0));
    }

    /// The count a flush reports is the entries it hid, even while a
    /// worker keeps learning (issue 14: counting the table before and
    /// after went below zero).
    #[test]
    fn a_flush_counts_its_scope_while_learning_goes_on() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let mut e = Engine::new(FdbConfig {
            capacity: 1 << 20,
            aging_secs: 0,
            seed: 1,
        })
        .unwrap();
        let guest = || PortConfig::new(VlanMode::Guest { native: None });
        e.add_port(p(0), guest(), 0).unwrap();
        e.add_port(p(1), guest(), 0).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let learned = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let learner = {
            let mut reader = e.fdb().reader().unwrap();
            let (stop, learned) = (Arc::clone(&stop), Arc::clone(&learned));
            std::thread::spawn(move || {
                // Port 1 learns new MACs until told to stop.
                let mut n: u64 = 0;
                while !stop.load(Ordering::Relaxed) && n < 900_000 {
                    let pinned = reader.pin();
                    for _ in 0..64 {
                        n += 1;
                        let h = pinned.hash(v(1), Mac::from_u64(0x0200_0000_0000 | n));
                        pinned.learn(&h, p(1), 0);
                    }
                    learned.store(n as usize, Ordering::Relaxed);
                }
            })
        };
        // Wait until learning is under way, so every flush overlaps it.
        while learned.load(Ordering::Relaxed) < 10_000 {
            std::thread::yield_now();
        }
        let mut counts = Vec::new();
        for round in 0..5u8 {
            for i in 0..10u8 {
                e.add_static(StaticEntry {
                    vlan: v(2),
                    mac: Mac::new([2, 0xee, round, 0, 0, i]),
                    port: p(0),
                })
                .unwrap();
            }
            counts.push(e.flush(FlushScope::Port(p(0)), true, 0));
        }
        stop.store(true, Ordering::Relaxed);
        learner.join().unwrap();
        assert_eq!(counts, vec![10; 5], "each flush hid port 0's 10 entries");
    }

    #[test]
    fn a_vlan_change_flushes_learned_entries_only() {
        let mut e = Engine::new(FdbConfig::default()).unwrap();
        e.add_port(p(0), PortConfig::new(VlanMode::Guest { native: None }), 0)
            .unwrap();
        e.add_static(StaticEntry {
            vlan: v(10),
            mac: mac(1),
            port: p(0),
        })
        .unwrap();
        let mut w = e.worker(Default::default()).unwrap();
        {
            let pin = w.reader.pin();
            let h = pin.hash(v(20), mac(2));
            pin.learn(&h, p(0), 1);
        }
        assert_eq!(e.fdb().len(1), 2);
        let mut flags = PortConfig::new(VlanMode::Guest { native: None });
        flags.promiscuous = true;
        assert!(!e.set_port(p(0), flags, 1).unwrap(), "flags only");
        assert_eq!(e.fdb().len(1), 2);
        let native = PortConfig::new(VlanMode::Guest {
            native: Some(v(30)),
        });
        assert!(e.set_port(p(0), native, 1).unwrap());
        assert_eq!(e.fdb().len(1), 1, "learned entry flushed, static kept");
        assert_eq!(e.remove_port(p(0), 1).unwrap().len(), 1);
        assert!(e.fdb().is_empty(1) && e.statics().is_empty());
        assert!(e.snapshot().port(p(0)).is_none());
    }

    #[test]
    fn static_entries_need_a_carried_vlan_and_a_unicast_mac() {
        let mut e = Engine::new(FdbConfig::default()).unwrap();
        e.add_port(p(3), PortConfig::new(VlanMode::Access(v(10))), 0)
            .unwrap();
        let at = |vlan, mac| StaticEntry {
            vlan,
            mac,
            port: p(3),
        };
        assert_eq!(
            e.add_static(at(v(20), mac(1))),
            Err(EngineError::NotCarried {
                port: p(3),
                vlan: v(20)
            })
        );
        assert_eq!(
            e.add_static(at(v(10), Mac::BROADCAST)),
            Err(EngineError::NotUnicast(Mac::BROADCAST))
        );
        assert!(matches!(
            e.add_static(StaticEntry {
                port: p(4),
                ..at(v(10), mac(1))
            }),
            Err(EngineError::NoPort(_))
        ));
        assert!(e.statics().is_empty());
        e.add_static(at(v(10), mac(1))).unwrap();
        e.add_static(at(v(10), mac(1))).unwrap();
        assert_eq!(e.statics().len(), 1, "re-adding replaces");
        assert_eq!(e.flush(FlushScope::Vlan(v(10)), true, 0), 1);
        assert!(e.statics().is_empty());
        assert_eq!(e.free_port_id(), Some(p(0)));
    }
}

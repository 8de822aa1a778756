//! Poll workers: one thread per configured CPU, pinned there, owning a
//! UMEM, the AF_XDP sockets and the packet sockets of its ports.
//!
//! A loop iteration receives a batch from every socket, runs the pipeline
//! on it, queues outputs on local ports' transmit rings (a descriptor move:
//! all ports of a worker share its UMEM) or hands them to the worker that
//! owns the output port, then transmits, reaps completions and refills
//! fill rings. Polling is adaptive by default ([`pacer`]): while batches
//! come back full the loop spins; when they come back small it naps for
//! at most `max_sleep_us`, so frames gather and CPU follows the load;
//! when no frame has come for a while it sleeps in `poll(2)` on its
//! sockets and an eventfd, so an idle worker costs next to nothing. Busy
//! polling spins always.
//!
//! Hand-off between workers copies once: each worker donates free chunks
//! of its own UMEM through its [`crate::exchange::Exchange`]; a sender
//! claims one, writes the frame into it and sends it to the owner's inbox.
//! The exchange's contract keeps a chunk lent before a UMEM rebuild from
//! being written while the rebuilt UMEM uses it: after a rebuild the
//! worker's free list stays empty (the fence) until every claim made
//! before it has ended.
//!
//! No unsafe code: a frame's bytes come from a
//! [`Chunk`] the worker's pool made
//! ([`Umem::chunk_mut`]), so two frames can never share a chunk.

mod egress;
mod pacer;
mod pool;

use std::num::NonZeroU64;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrayvec::ArrayVec;
use crossbeam_channel::{Receiver, Sender};
use crossbeam_utils::CachePadded;

use vswitch_engine::frame::{FrameExt, SparePool};
use vswitch_engine::offload::{
    repair_partial_checksum, repair_partial_checksum_frags, Offload, Repair, VnetHeader,
};
use vswitch_engine::stats::{BatchCounters, WorkerStats};
use vswitch_engine::{DropReason, EngineWorker, Event, Frame, PortId, PortSet, Snapshot};

use crate::limits::{BATCH_SIZE, MAX_PORTS};
use crate::port::afxdp::AfXdpPort;
use crate::port::chunks::{Chunk, FramePool, Inbound};
use crate::port::packet::PacketPort;
use crate::port::packet_socket::{Received, TxFrame, VNET_HDR_LEN};
use crate::port::wake::Wake;
use crate::port::xsk::{
    Desc, SocketConfig, Umem, UmemArea, Written, XskStats, FRAME_SIZE, HEADROOM, MAX_FRAME_BUFFERS,
};
use crate::port::{Driver, DriverChoice, OpenPort, PortSpec, PortStatus};
use egress::{Deferred, Deliver, Router};
use pacer::{Iteration, Pacer, Pause};
pub use pacer::{PollMode, Polling, DEFAULT_MAX_SLEEP_US, MAX_SLEEP_US_LIMIT};
use pool::UmemSpares;

/// Longest sleep: bounds how stale port statistics can get when idle
/// (reports are due once a second). Each wake-up of an idle worker is a
/// whole loop iteration: at 10 a second a debug build spent about 2 % of
/// a core idle, at 2 well under 1 %.
const SLEEP_MS: u64 = 500;
/// Chunks kept back from fill rings for spares and hand-off donations.
const RESERVE: usize = 2 * BATCH_SIZE;
/// Free chunks a worker keeps offered to other workers. A TCP burst of
/// super-frames segmented for another worker's AF_XDP or packet port
/// needs one chunk per segment (a 64 KiB super-frame is ~45), and the
/// owner tops the offer up only when its thread runs: 1024 (4 MiB of a
/// 64 MiB UMEM) rides out a window's worth while it is preempted.
const DONATE: usize = 1024;
/// Hand-off descriptors queued per worker.
const INBOX: usize = 1024;
/// Bytes per spare buffer for batches from packet sockets: headroom and
/// the largest frame the engine switches (a 64 KiB super-frame).
const BIG_SPARE: usize = HEADROOM + crate::limits::MAX_FRAME_LEN;

/// How a worker is built.
#[derive(Debug, Clone, Copy)]
pub struct WorkerSetup {
    /// The worker's index (0-based, also its name).
    pub index: usize,
    /// CPU to pin to, if any.
    pub cpu: Option<usize>,
    /// How sockets are bound.
    pub socket: SocketConfig,
}

/// Receive buffers one AF_XDP socket may hold: a worker's `frames` UMEM
/// chunks, less what transmit, spares and hand-offs need, split evenly
/// between its `sockets`; never more than a fill ring holds, never less
/// than two batches.
fn fill_share(frames: usize, sockets: usize, ring_size: u32) -> u32 {
    let usable = frames.saturating_sub(2 * RESERVE + DONATE);
    let share = usable / sockets.max(1);
    share.clamp(2 * BATCH_SIZE, ring_size as usize) as u32
}

/// How frames a packet socket did not take are counted: `link_down` when
/// the send failed because the interface is down or gone.
fn tx_fail_reason(link_down: bool) -> DropReason {
    if link_down {
        DropReason::LinkDown
    } else {
        DropReason::TxRingFull
    }
}

/// What a worker reports about one of its ports.
#[derive(Debug, Clone)]
pub struct PortReport {
    /// What the port got when opened.
    pub status: PortStatus,
    /// The kernel's ring counters, summed over the port's sockets.
    pub kernel: XskStats,
}

/// Time and work counters of a worker (written by it, read by anyone).
#[derive(Debug, Default)]
pub struct WorkerLoad {
    /// Nanoseconds spent in iterations that did work.
    pub busy_ns: AtomicU64,
    /// Nanoseconds since the loop started (busy, spinning and asleep).
    pub total_ns: AtomicU64,
    /// Frames received.
    pub packets: AtomicU64,
    /// Socket receive calls that returned frames: `packets / batches` is
    /// the average batch.
    pub batches: AtomicU64,
    /// Nanoseconds asleep (naps and sleeps in `poll(2)`).
    pub asleep_ns: AtomicU64,
    /// Naps and sleeps ended (each a wake-up).
    pub wakeups: AtomicU64,
}

/// Adds `v` to a counter only its worker writes (no read-modify-write
/// instruction needed).
fn bump(c: &AtomicU64, v: u64) {
    c.store(c.load(Ordering::Relaxed) + v, Ordering::Relaxed);
}

/// A request from the control thread.
pub enum Command {
    /// Open a port on this worker.
    AddPort {
        /// The port.
        spec: PortSpec,
        /// Gets the outcome.
        reply: Sender<Result<PortStatus, String>>,
    },
    /// Close a port.
    RemovePort {
        /// The port.
        id: PortId,
        /// Told when done.
        reply: Sender<()>,
    },
    /// Leave the loop and close everything.
    Stop,
}

/// The part of a worker other threads talk to.
pub struct WorkerShared {
    /// The worker's index.
    pub index: usize,
    /// The worker's UMEM memory and the exchange that lends its chunks:
    /// other workers write hand-offs into it, so it lives as long as any
    /// worker can reach this struct.
    area: Arc<UmemArea>,
    wake: Wake,
    asleep: AtomicBool,
    /// Ports whose link the control thread saw go down or away (a
    /// [`PortSet`]'s bits): the worker queues nothing for them and does
    /// not wait for their transmit rings to drain.
    link_down: AtomicU64,
    commands: (Sender<Command>, Receiver<Command>),
    /// Its counters.
    pub stats: Arc<CachePadded<WorkerStats>>,
    /// Its load.
    pub load: WorkerLoad,
    /// [`Polling::mode`] is busy.
    busy_poll: AtomicBool,
    /// [`Polling::max_sleep_us`].
    max_sleep_us: AtomicU32,
    /// Its ports, refreshed about once a second.
    pub ports: Mutex<Vec<PortReport>>,
}

impl std::fmt::Debug for WorkerShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerShared")
            .field("index", &self.index)
            .finish()
    }
}

impl WorkerShared {
    /// A worker's shared half (before its thread starts), with a UMEM area
    /// of `frames` chunks.
    pub fn new(index: usize, frames: u32) -> std::io::Result<Arc<WorkerShared>> {
        let area = Arc::new(UmemArea::new(frames, DONATE * 2, INBOX)?);
        let wake = Wake::new()?;
        Ok(Arc::new(WorkerShared {
            index,
            area,
            wake,
            asleep: AtomicBool::new(false),
            link_down: AtomicU64::new(0),
            commands: crossbeam_channel::unbounded(),
            stats: Arc::new(CachePadded::new(WorkerStats::default())),
            load: WorkerLoad::default(),
            busy_poll: AtomicBool::new(false),
            max_sleep_us: AtomicU32::new(DEFAULT_MAX_SLEEP_US),
            ports: Mutex::new(Vec::new()),
        }))
    }

    /// Sends a command and wakes the worker.
    pub fn send(&self, cmd: Command) {
        // The receiver lives as long as `self`: sending cannot fail.
        let _ = self.commands.0.send(cmd);
        self.wake();
    }

    /// Sets how the worker polls, from its next iteration on (a sleeping
    /// worker is woken to pick it up).
    pub fn set_polling(&self, p: Polling) {
        self.max_sleep_us
            .store(p.max_sleep_us.min(MAX_SLEEP_US_LIMIT), Ordering::Relaxed);
        self.busy_poll
            .store(p.mode == PollMode::Busy, Ordering::Relaxed);
        self.wake();
    }

    /// How the worker polls.
    pub fn polling(&self) -> Polling {
        Polling {
            mode: if self.busy_poll.load(Ordering::Relaxed) {
                PollMode::Busy
            } else {
                PollMode::Adaptive
            },
            max_sleep_us: self.max_sleep_us.load(Ordering::Relaxed),
        }
    }

    /// Marks port `id`'s link down (frames for it are dropped, counted as
    /// `link_down`) or up again, and wakes the worker so it acts on it.
    pub fn set_link_down(&self, id: PortId, down: bool) {
        let bit = PortSet::one(id).0;
        if down {
            self.link_down.fetch_or(bit, Ordering::AcqRel);
        } else {
            self.link_down.fetch_and(!bit, Ordering::AcqRel);
        }
        self.wake();
    }

    /// Ports marked down by [`WorkerShared::set_link_down`].
    pub(crate) fn links_down(&self) -> PortSet {
        PortSet(self.link_down.load(Ordering::Relaxed))
    }

    fn wake(&self) {
        self.wake.wake();
    }
}

/// Everything a worker thread needs.
pub struct WorkerContext {
    /// How to build it.
    pub setup: WorkerSetup,
    /// Its side of the engine (FDB reader, pipeline, published snapshots).
    pub engine: EngineWorker,
    /// Every worker's shared half, indexed by worker index.
    pub peers: Arc<[Arc<WorkerShared>]>,
    /// When the switch started (the FDB clock counts from here).
    pub epoch: Instant,
}

/// Starts a worker thread. It opens `ports` first and reports the result
/// on `ready`; on failure it closes what it opened and exits.
pub fn spawn(
    ctx: WorkerContext,
    ports: Vec<PortSpec>,
    ready: Sender<Result<Vec<PortStatus>, String>>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let name = format!("vswitch-w{}", ctx.setup.index);
    std::thread::Builder::new().name(name).spawn(move || {
        let index = ctx.setup.index;
        if let Some(cpu) = ctx.setup.cpu {
            let pinned = core_affinity::set_for_current(core_affinity::CoreId { id: cpu });
            if pinned {
                tracing::info!(worker = index, cpu, "worker pinned");
            } else {
                tracing::warn!(
                    worker = index,
                    cpu,
                    "could not pin worker to its CPU; running unpinned"
                );
            }
        }
        // Naps are tens of microseconds: the default 50 µs timer slack
        // would double them (a 20 µs wait measured at 95 µs, 44 µs with
        // 1 ns of slack).
        if let Err(e) = rustix::thread::set_current_timer_slack(NonZeroU64::new(1)) {
            tracing::warn!(worker = index, "cannot set timer slack: {e}; naps run long");
        }
        let mut worker = match Worker::new(ctx) {
            Ok(w) => w,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let mut opened = Vec::new();
        for spec in &ports {
            match worker.open_port(spec) {
                Ok(st) => opened.push(st),
                Err(e) => {
                    worker.close_all();
                    let _ = ready.send(Err(e));
                    return;
                }
            }
        }
        let _ = ready.send(Ok(opened));
        worker.run();
    })
}

struct Worker {
    me: Arc<WorkerShared>,
    peers: Arc<[Arc<WorkerShared>]>,
    setup: WorkerSetup,
    umem: Option<Umem>,
    /// The port whose first socket is the UMEM's first socket: closing it
    /// leaves the UMEM's own socket bound, so the UMEM is rebuilt.
    anchor: Option<PortId>,
    /// Which chunks are the worker's; empty (fenced) after a UMEM
    /// rebuild until chunks lent before it can no longer be written by
    /// other workers.
    pool: FramePool,
    ports: Vec<OpenPort>,
    local: [Option<u8>; MAX_PORTS],
    /// Local ports with a packet socket (no UMEM descriptors).
    packet_ports: PortSet,
    /// Per local port: UMEM descriptors queued for its AF_XDP tx ring
    /// (a frame in several chunks is a chain of them).
    pending: Vec<Vec<Desc>>,
    /// Outputs a batch could not hand over as descriptors (reused).
    deferred: Vec<Deferred>,
    /// Most chunks one AF_XDP socket may hold posted for receive: the
    /// UMEM split evenly between the worker's sockets, so ports opened
    /// late are not starved by idle early ones.
    fill_share: u32,
    /// Spare buffers for batches from packet sockets, whose frames (up to
    /// a 64 KiB super-frame) do not fit a UMEM chunk; sized when the first
    /// packet port opens.
    big_spares: Vec<u8>,
    /// Receive buffers for batches from packet sockets (as big_spares).
    packet_rx: Vec<u8>,
    /// Transmit references taken during a batch (reused: no allocation
    /// once it has grown to a busy batch's size).
    held: Vec<u64>,
    engine: EngineWorker,
    counters: BatchCounters,
    epoch: Instant,
    /// Ports not to transmit on this iteration: marked down by the control
    /// thread, or found dead by a failed transmit (`tx_dead`).
    down: PortSet,
    /// Ports whose last transmit failed with a link error
    /// (`port::is_link_error`). Forgotten once a second so a link that
    /// came back is tried again even if the control thread missed it.
    tx_dead: PortSet,
}

enum Flow {
    Continue,
    Stop,
}

impl Worker {
    fn new(ctx: WorkerContext) -> Result<Worker, String> {
        let me = Arc::clone(&ctx.peers[ctx.setup.index]);
        let pool = FramePool::new(Arc::clone(&me.area));
        let mut w = Worker {
            me,
            peers: ctx.peers,
            setup: ctx.setup,
            umem: None,
            anchor: None,
            pool,
            ports: Vec::new(),
            local: [None; MAX_PORTS],
            packet_ports: PortSet::EMPTY,
            pending: Vec::new(),
            deferred: Vec::with_capacity(2 * BATCH_SIZE),
            fill_share: 0,
            big_spares: Vec::new(),
            packet_rx: Vec::new(),
            held: Vec::with_capacity(4 * BATCH_SIZE),
            engine: ctx.engine,
            counters: BatchCounters::default(),
            epoch: ctx.epoch,
            down: PortSet::EMPTY,
            tx_dead: PortSet::EMPTY,
        };
        w.fresh_umem()?;
        Ok(w)
    }

    fn fresh_umem(&mut self) -> Result<(), String> {
        let frames = self.me.area.frames();
        let umem =
            Umem::new(Arc::clone(&self.me.area), self.setup.socket.ring_size).map_err(|e| {
                format!(
                    "worker {}: cannot create UMEM of {frames} frames: {e}",
                    self.setup.index
                )
            })?;
        // Every chunk is ours again, but one lent to another worker before
        // now may still be being written: no chunk is used (fill ring,
        // spare, donation) before the exchange settles (its contract,
        // steps 5-6). Hand-offs still queued are dropped as stale.
        self.pool.rebuild();
        self.umem = Some(umem);
        self.anchor = None;
        Ok(())
    }

    fn open_port(&mut self, spec: &PortSpec) -> Result<PortStatus, String> {
        if self.local[spec.id.index()].is_some() {
            return Err(format!(
                "port {} is already open on worker {}",
                spec.id, self.setup.index
            ));
        }
        let port = match spec.driver.resolve(&spec.iface) {
            Driver::AfXdp => {
                let umem = self.umem.as_ref().ok_or("worker has no UMEM")?;
                let port = AfXdpPort::open(spec, umem, self.setup.socket, self.setup.index)
                    .map_err(|e| e.to_string())?;
                if self.anchor.is_none() {
                    self.anchor = Some(spec.id);
                }
                OpenPort::AfXdp(port)
            }
            Driver::Packet => {
                let port = PacketPort::open(spec, self.setup.index).map_err(|e| e.to_string())?;
                if self.big_spares.is_empty() {
                    // One buffer and one spare per frame of a batch, each
                    // a whole super-frame behind the headroom.
                    self.big_spares = vec![0; BATCH_SIZE * BIG_SPARE];
                    self.packet_rx = vec![0; BATCH_SIZE * BIG_SPARE];
                }
                OpenPort::Packet(port)
            }
        };
        let status = port.status().clone();
        self.ports.push(port);
        self.pending.push(Vec::with_capacity(4 * BATCH_SIZE));
        self.reindex();
        self.report(true);
        Ok(status)
    }

    fn close_port(&mut self, id: PortId) {
        let Some(i) = self.local[id.index()].take() else {
            return;
        };
        let i = i as usize;
        if self.anchor == Some(id) {
            // The UMEM's own socket stays bound after it is deleted:
            // rebuild the UMEM and reopen the other ports on it.
            let specs: Vec<PortSpec> = self
                .ports
                .iter()
                .map(OpenPort::status)
                .filter(|st| st.id != id)
                .map(|st| PortSpec {
                    id: st.id,
                    iface: st.iface.clone(),
                    driver: match st.driver {
                        Driver::AfXdp => DriverChoice::AfXdp,
                        Driver::Packet => DriverChoice::Packet,
                    },
                    // Its program is recorded as this process's now.
                    replace_foreign_xdp: false,
                })
                .collect();
            tracing::info!(worker = self.setup.index, port = %id, "closing the UMEM's anchor port: rebuilding the worker's UMEM");
            // Frames queued for the other ports, or in their tx rings
            // still unsent, go with the sockets: count them as drops (the
            // port is gone for that moment, as for hand-offs that arrive
            // while it is reopened).
            for (li, port) in self.ports.iter_mut().enumerate() {
                let pid = port.status().id;
                let queued = self.pending.get(li).map_or(0, Vec::len) as u64;
                let unsent: u64 = port
                    .xsk_sockets()
                    .iter()
                    .map(|s| u64::from(s.tx_pending()))
                    .sum();
                if pid != id {
                    for _ in 0..queued + unsent {
                        self.counters.tx_drop(pid, DropReason::PortUnknown);
                    }
                }
            }
            self.close_all();
            if let Err(e) = self.fresh_umem() {
                tracing::error!("{e}");
                return;
            }
            for spec in specs {
                if let Err(e) = self.open_port(&spec) {
                    tracing::error!(port = %spec.id, "reopening after UMEM rebuild failed: {e}");
                }
            }
            return;
        }
        let mut port = self.ports.remove(i);
        let queued = self.pending.remove(i);
        for d in queued {
            self.pool.release(d.addr);
        }
        if let OpenPort::AfXdp(p) = &mut port {
            for s in &mut p.sockets {
                self.reclaim(s);
            }
        }
        drop(port);
        self.reindex();
        self.report(true);
    }

    /// Takes back the chunks a socket's rings still hold.
    fn reclaim(&mut self, s: &mut crate::port::xsk::Socket) {
        let o = s.outstanding();
        for addr in o.fill.into_iter().chain(o.received) {
            self.pool.reclaim(addr);
        }
        for addr in o.sent {
            self.pool.release(addr);
        }
    }

    /// Lowers the fence once no claim made before the last rebuild is in
    /// flight. Returns whether it is still up.
    fn settle(&mut self) -> bool {
        self.pool.settle()
    }

    fn reindex(&mut self) {
        self.local = [None; MAX_PORTS];
        self.packet_ports = PortSet::EMPTY;
        let sockets: usize = self.ports.iter_mut().map(|p| p.xsk_sockets().len()).sum();
        self.fill_share = fill_share(self.pool.frames(), sockets, self.setup.socket.ring_size);
        for (i, p) in self.ports.iter().enumerate() {
            let id = p.status().id;
            self.local[id.index()] = Some(i as u8);
            if let OpenPort::Packet(_) = p {
                self.packet_ports.insert(id);
            }
        }
    }

    fn close_all(&mut self) {
        // Sockets first: each keeps the UMEM alive until it is deleted.
        self.ports.clear();
        self.pending.clear();
        self.local = [None; MAX_PORTS];
        self.packet_ports = PortSet::EMPTY;
        self.umem = None;
        self.anchor = None;
        self.report(true);
    }

    fn run(mut self) {
        let mut idle = 0u32;
        let mut last_report = Instant::now();
        let mut prev = Instant::now();
        let mut last_frame = prev;
        let mut pacer = Pacer::default();
        let mut polling = self.me.polling();
        loop {
            if let Flow::Stop = self.handle_commands() {
                break;
            }
            self.down = self.me.links_down().union(self.tx_dead);
            let fenced = self.settle();
            let topo = self.engine.load();
            let now = prev.duration_since(self.epoch).as_secs() as u32;
            let mut work = 0;
            let mut batches = 0;
            let mut full = false;
            let mut got = |n: usize| {
                work += n;
                batches += u64::from(n > 0);
                full |= n >= BATCH_SIZE;
            };
            for pi in 0..self.ports.len() {
                match &self.ports[pi] {
                    OpenPort::AfXdp(p) => {
                        for q in 0..p.sockets.len() {
                            got(self.rx_batch(pi, q, &topo, now));
                        }
                    }
                    OpenPort::Packet(_) => got(self.rx_packet(pi, &topo, now)),
                }
            }
            // Hand-offs are no socket batch (and not in `packets`).
            work += self.drain_inbox();
            drop(topo);
            self.flush_tx();
            let received = work;
            work += self.complete();
            self.refill();
            self.donate();
            self.me.stats.publish(&self.counters);
            self.counters.clear();
            let t = Instant::now();
            let dt = t.duration_since(prev).as_nanos() as u64;
            prev = t;
            let me = Arc::clone(&self.me);
            let load = &me.load;
            bump(&load.total_ns, dt);
            bump(&load.batches, batches);
            if work > 0 {
                bump(&load.busy_ns, dt);
                idle = 0;
            } else {
                idle += 1;
            }
            if received > 0 {
                last_frame = t;
            }
            let now_polling = me.polling();
            if now_polling.max_sleep_us != polling.max_sleep_us {
                pacer.reset();
            }
            polling = now_polling;
            let it = Iteration {
                received,
                full,
                // While fenced, spin: the claims it waits for are a copy
                // each.
                settled: !fenced && self.quiescent(),
                idle,
                quiet: t.duration_since(last_frame),
            };
            let pause = pacer.next(polling, it);
            if pause != Pause::Spin {
                let asked = match pause {
                    Pause::Nap(d) => Some(d),
                    _ => None,
                };
                self.sleep(asked);
                if pause == Pause::Sleep {
                    idle = 0;
                }
                // Time asleep counts toward total, never toward busy.
                let woke = Instant::now();
                let slept = woke.duration_since(prev);
                if let Some(asked) = asked {
                    pacer.napped(asked, slept, polling.max_sleep_us);
                }
                let slept = slept.as_nanos() as u64;
                bump(&load.total_ns, slept);
                bump(&load.asleep_ns, slept);
                bump(&load.wakeups, 1);
                prev = woke;
            }
            if t.duration_since(last_report) >= Duration::from_secs(1) {
                self.report(false);
                last_report = t;
                self.tx_dead = PortSet::EMPTY;
            }
        }
        self.close_all();
        tracing::info!(worker = self.setup.index, "worker stopped");
    }

    fn handle_commands(&mut self) -> Flow {
        while let Ok(cmd) = self.me.commands.1.try_recv() {
            match cmd {
                Command::AddPort { spec, reply } => {
                    let _ = reply.send(self.open_port(&spec));
                }
                Command::RemovePort { id, reply } => {
                    self.close_port(id);
                    let _ = reply.send(());
                }
                Command::Stop => return Flow::Stop,
            }
        }
        Flow::Continue
    }

    /// Receives and switches one batch from AF_XDP socket `q` of local
    /// port `pi`: frames are UMEM chunks, so outputs to the worker's own
    /// AF_XDP ports are descriptor moves.
    fn rx_batch(&mut self, pi: usize, q: usize, snap: &Snapshot, now: u32) -> usize {
        let Worker {
            umem,
            pool,
            ports,
            local,
            packet_ports,
            pending,
            deferred,
            held,
            engine,
            peers,
            me,
            counters,
            ..
        } = self;
        let Some(umem) = umem.as_ref() else {
            return 0;
        };
        let OpenPort::AfXdp(port) = &mut ports[pi] else {
            return 0;
        };
        let ingress = port.status.id;
        let peek = port.sockets[q].rx_peek(BATCH_SIZE as u32);
        let mut n = peek.len();
        if n == 0 {
            peek.release();
            return 0;
        }
        // A multi-buffer socket's frame is a chain of descriptors: take
        // whole chains only, leaving one the peek cut in the ring for the
        // next batch. The kernel publishes a chain at once and never makes
        // one longer than MAX_FRAME_BUFFERS (< a batch), so a peek that
        // is a single unfinished chain is broken: taken, dropped below.
        if peek.get(n - 1).more {
            let whole = (0..n)
                .rev()
                .find(|&i| !peek.get(i).more)
                .map_or(0, |i| i + 1);
            if whole > 0 {
                n = whole;
            }
        }
        // The batch's chunks (with where the frame lies in each): the rx
        // ring returned them, so the pool names each once. The frames
        // borrow them until the batch is done.
        let mut chunks: ArrayVec<(Chunk, Desc), BATCH_SIZE> = ArrayVec::new();
        for i in 0..n {
            let d = peek.get(i);
            match pool.received(d.addr) {
                Some(c) => chunks.push((c, d)),
                // Not a chunk the pool gave a fill ring: never from our
                // own rx ring.
                None => debug_assert!(false, "rx descriptor of a chunk not posted"),
            }
        }
        peek.release_first(n);
        let n = n as usize;
        // First buffers (with how many more buffers follow), then the
        // other buffers of multi-buffer frames, which the frames borrow
        // read-only once all are collected.
        let mut heads: ArrayVec<(&mut [u8], Desc, usize, usize), BATCH_SIZE> = ArrayVec::new();
        let mut more_bufs: ArrayVec<&[u8], BATCH_SIZE> = ArrayVec::new();
        let mut broken = 0;
        let mut in_chain = false;
        for (chunk, d) in chunks.iter_mut() {
            let at = (d.addr - chunk.base()) as usize;
            if !in_chain {
                heads.push((umem.chunk_mut(chunk), *d, more_bufs.len(), 0));
            } else {
                let chunk: &Chunk = chunk;
                let buf = umem.chunk(chunk).get(at..at + d.len as usize);
                match (buf, heads.last_mut()) {
                    (Some(buf), Some(h)) if h.3 + 1 < MAX_FRAME_BUFFERS => {
                        more_bufs.push(buf);
                        h.3 += 1;
                    }
                    // Longer than the kernel ever makes, or a buffer that
                    // does not fit its chunk: the frame is dropped whole.
                    (_, Some(h)) => h.3 = usize::MAX,
                    (_, None) => {}
                }
            }
            in_chain = d.more;
        }
        if in_chain {
            // The batch ends inside a chain (see above): no frame.
            if let Some(h) = heads.last_mut() {
                h.3 = usize::MAX;
            }
        }
        let more = &more_bufs[..];
        let mut exts = [FrameExt::default(); BATCH_SIZE];
        let mut ext_slots = exts.iter_mut();
        let mut frames: ArrayVec<Frame<'_>, BATCH_SIZE> = ArrayVec::new();
        let mut repaired = 0;
        for (buf, d, from, k) in heads {
            let frags = more.get(from..from.saturating_add(k));
            // A descriptor that does not fit its chunk is no frame; its
            // chunk goes back with the others below.
            let frame = Frame::new(buf, (d.addr % FRAME_SIZE as u64) as usize, d.len as usize);
            let (Some(f), Some(frags)) = (frame, frags) else {
                broken += 1;
                continue;
            };
            let mut f = match (frags.is_empty(), ext_slots.next()) {
                (true, _) => f,
                (false, Some(ext)) => f.with_frags(frags, ext),
                (false, None) => {
                    broken += 1;
                    continue;
                }
            };
            // AF_XDP carries no offload metadata: a sender's partial
            // checksum would reach the far end as is.
            let r = if frags.is_empty() {
                repair_partial_checksum(f.data_mut())
            } else {
                repair_partial_checksum_frags(f.data_mut(), frags)
            };
            if r == Repair::Completed {
                repaired += 1;
            }
            frames.push(f);
        }
        for _ in 0..broken {
            // A chain cut short or too long, counted as a frame cut short.
            counters.rx(ingress, 0);
            counters.rx_drop(ingress, DropReason::Truncated);
        }
        counters.event(Event::ChecksumCompleted, repaired);
        me.load.packets.fetch_add(n as u64, Ordering::Relaxed);
        let mut spare_chunks: [Option<Chunk>; BATCH_SIZE] = [const { None }; BATCH_SIZE];
        let mut spares = UmemSpares::new(umem, pool, &mut spare_chunks);
        deferred.clear();
        let mut router = Router {
            umem: Some(umem),
            snap,
            me,
            peers,
            local,
            packet_ports: *packet_ports,
            pending,
            held,
            deferred,
            counters,
        };
        engine.process(snap, ingress, now, &mut frames, &mut spares, &mut router);
        let spare_frames = core::mem::take(&mut spares.frames);
        drop(spares);
        for addr in held.drain(..) {
            pool.hold(addr, 1);
        }
        if !deferred.is_empty() {
            // Only frames for packet sockets: sent from the chunks, which
            // stay ours until the end of this function.
            let mut deliver = Deliver {
                umem,
                pool,
                pending,
                local,
                packet_ports: *packet_ports,
                snap,
                me,
                peers,
                counters,
            };
            deliver.send(ports, deferred, &frames, &spare_frames);
        }
        drop(spare_frames);
        drop(frames);
        drop(more_bufs);
        for (c, _) in chunks {
            pool.put(c);
        }
        for c in spare_chunks.into_iter().flatten() {
            pool.put(c);
        }
        n
    }

    /// Receives and switches one batch from the packet socket of local
    /// port `pi`: frames stay in their ring slots (super-frames whole, with
    /// their offload metadata) until every output has been sent.
    fn rx_packet(&mut self, pi: usize, snap: &Snapshot, now: u32) -> usize {
        let Worker {
            umem,
            pool,
            ports,
            local,
            packet_ports,
            pending,
            deferred,
            held,
            engine,
            peers,
            me,
            counters,
            big_spares,
            packet_rx,
            ..
        } = self;
        let Some(umem) = umem.as_ref() else {
            return 0;
        };
        let OpenPort::Packet(port) = &mut ports[pi] else {
            return 0;
        };
        let ingress = port.status.id;
        let mut bufs: ArrayVec<&mut [u8], BATCH_SIZE> =
            packet_rx.chunks_mut(BIG_SPARE).take(BATCH_SIZE).collect();
        let mut got = [Received::default(); BATCH_SIZE];
        let n = port.socket.recv_batch(&mut bufs, HEADROOM, &mut got);
        if n == 0 {
            return 0;
        }
        // Offload metadata of the batch's frames and spares.
        let mut exts = [FrameExt::default(); BATCH_SIZE];
        let mut spare_exts = [FrameExt::default(); BATCH_SIZE];
        let mut ext_slots = exts.iter_mut();
        let mut frames: ArrayVec<Frame<'_>, BATCH_SIZE> = ArrayVec::new();
        for (buf, rx) in bufs.into_iter().zip(&got[..n]) {
            let drop_as = |counters: &mut BatchCounters, reason| {
                counters.rx(ingress, rx.len);
                counters.rx_drop(ingress, reason);
            };
            if rx.truncated {
                drop_as(counters, DropReason::Truncated);
                continue;
            }
            let Some(frame) = Frame::new(buf, rx.start, rx.len) else {
                drop_as(counters, DropReason::Runt);
                continue;
            };
            let offload = if rx.vnet == VnetHeader::default() {
                Offload::NONE
            } else {
                match Offload::from_vnet(&rx.vnet, frame.data()) {
                    Ok(o) => o,
                    Err(_) => {
                        drop_as(counters, DropReason::BadOffload);
                        continue;
                    }
                }
            };
            let frame = match ext_slots.next() {
                Some(ext) => frame.with_offload(offload, ext),
                None => frame,
            };
            frames.push(frame);
        }
        me.load.packets.fetch_add(n as u64, Ordering::Relaxed);
        let mut spares = SparePool::new(big_spares, BIG_SPARE, HEADROOM).with_exts(&mut spare_exts);
        deferred.clear();
        let mut router = Router {
            umem: None,
            snap,
            me,
            peers,
            local,
            packet_ports: *packet_ports,
            pending,
            held,
            deferred,
            counters,
        };
        engine.process(snap, ingress, now, &mut frames, &mut spares, &mut router);
        let mut deliver = Deliver {
            umem,
            pool,
            pending,
            local,
            packet_ports: *packet_ports,
            snap,
            me,
            peers,
            counters,
        };
        deliver.send(ports, deferred, &frames, spares.frames());
        n
    }

    /// Queues frames other workers handed to us.
    fn drain_inbox(&mut self) -> usize {
        const MAX: usize = 4 * BATCH_SIZE;
        // Hand-offs for this worker's packet ports: sent from their chunks
        // once the inbox is drained, one sendmmsg per port.
        let mut for_packet: ArrayVec<(Chunk, Written), MAX> = ArrayVec::new();
        let mut n = 0;
        while n < MAX {
            let Some(r) = self.pool.receive() else {
                break;
            };
            n += 1;
            let (chunk, h) = match r {
                Inbound::Parcel(c, h) => (c, h),
                Inbound::Stale(h) => {
                    // Written into a chunk lent before a rebuild: the
                    // chunk is the rebuilt pool's now; only count it.
                    for p in h.ports.iter() {
                        self.counters.tx_drop(p, DropReason::HandoffFull);
                    }
                    continue;
                }
            };
            let addr = chunk.base() + HEADROOM as u64;
            for p in h.ports.difference(self.packet_ports).iter() {
                match self.local[p.index()] {
                    Some(li) => {
                        self.pending[li as usize].push(Desc::last(addr, h.len));
                        self.pool.hold(addr, 1);
                    }
                    // Closed because its interface went away.
                    None if self.down.contains(p) => self.counters.tx_drop(p, DropReason::LinkDown),
                    None => self.counters.tx_drop(p, DropReason::PortUnknown),
                }
            }
            if h.ports.intersection(self.packet_ports).is_empty() {
                // Free now, or once the tx rings are done with it.
                self.pool.put(chunk);
            } else if let Err(e) = for_packet.try_push((chunk, h)) {
                // At most MAX hand-offs are popped: never full.
                self.pool.put(e.element().0);
            }
        }
        if !for_packet.is_empty() {
            self.send_handoffs(for_packet);
        }
        n
    }

    /// Sends hand-offs to this worker's packet ports, then gives their
    /// chunks back (free, or once the tx rings are done with them).
    fn send_handoffs<const N: usize>(&mut self, handoffs: ArrayVec<(Chunk, Written), N>) {
        let Some(umem) = self.umem.as_ref() else {
            for (c, _) in handoffs {
                self.pool.put(c);
            }
            return;
        };
        let targets = handoffs
            .iter()
            .fold(PortSet::EMPTY, |acc, (_, h)| acc.union(h.ports))
            .intersection(self.packet_ports);
        for p in targets.iter() {
            let Some(OpenPort::Packet(port)) =
                self.local[p.index()].and_then(|li| self.ports.get_mut(li as usize))
            else {
                continue;
            };
            let mut batch: ArrayVec<TxFrame<'_>, { 4 * BATCH_SIZE }> = ArrayVec::new();
            for (chunk, h) in handoffs.iter().filter(|(_, h)| h.ports.contains(p)) {
                let data = &umem.chunk(chunk)[HEADROOM..HEADROOM + h.len as usize];
                let _ = batch.try_push(TxFrame {
                    vnet: [0; VNET_HDR_LEN],
                    data,
                });
            }
            let (sent, reason) = if self.down.contains(p) {
                (0, DropReason::LinkDown)
            } else {
                let rep = port.socket.send_batch(&batch);
                (rep.sent, tx_fail_reason(rep.link_down()))
            };
            for _ in sent..batch.len() {
                self.counters.tx_drop(p, reason);
            }
        }
        for (c, _) in handoffs {
            self.pool.put(c);
        }
    }

    /// Writes queued frames to tx rings and kicks the kernel.
    fn flush_tx(&mut self) {
        for (li, queue) in self.pending.iter_mut().enumerate() {
            let OpenPort::AfXdp(port) = &mut self.ports[li] else {
                // Packet ports send at the end of each batch.
                continue;
            };
            let id = port.status.id;
            if self.down.contains(id) {
                // Nothing queued on a dead link: the kernel would refuse
                // to send it (ENETDOWN, ENXIO) and the loop would spin
                // waiting for the ring to drain.
                for d in queue.iter() {
                    self.pool.release(d.addr);
                    if !d.more {
                        self.counters.tx_drop(id, DropReason::LinkDown);
                    }
                }
                queue.clear();
                continue;
            }
            if !queue.is_empty() {
                let sock = port.tx_socket();
                // Whole frames only: a chain the ring cannot take whole is
                // not started (the kernel would wait for its end).
                let mut k = sock.tx_free(queue.len() as u32).min(queue.len() as u32) as usize;
                while k > 0 && queue[k - 1].more {
                    k -= 1;
                }
                // Reserving what tx_free counted always succeeds.
                let mut slots = sock.tx_reserve(k as u32);
                let k = slots.len();
                for (i, &d) in queue.iter().take(k as usize).enumerate() {
                    slots.set(i as u32, d);
                }
                slots.commit(k);
                for d in &queue[k as usize..] {
                    self.pool.release(d.addr);
                    if !d.more {
                        self.counters.tx_drop(id, DropReason::TxRingFull);
                    }
                }
                queue.clear();
            }
            // Copy mode transmits only inside sendto, a budget at a time:
            // keep kicking while anything is waiting.
            for s in &mut port.sockets {
                if s.tx_pending() > 0 && s.tx_needs_wakeup() {
                    match s.kick_tx() {
                        Ok(()) => {}
                        Err(e) if crate::port::is_link_error(&e) => {
                            // Descriptors already in the ring stay there
                            // (the kernel owns them) until the link is
                            // back or the port is closed and reclaimed.
                            self.tx_dead.insert(id);
                            self.down.insert(id);
                        }
                        Err(e) => tracing::debug!(port = %id, error = %e, "tx kick failed"),
                    }
                }
            }
        }
    }

    /// Frees chunks the kernel has finished transmitting.
    fn complete(&mut self) -> usize {
        let mut n = 0;
        for port in &mut self.ports {
            for s in port.xsk_sockets() {
                let done = s.comp_peek(4 * BATCH_SIZE as u32);
                for i in 0..done.len() {
                    self.pool.release(done.get(i));
                }
                n += done.len() as usize;
                done.release();
            }
        }
        n
    }

    /// Gives free chunks to fill rings, keeping a reserve.
    fn refill(&mut self) {
        for port in &mut self.ports {
            for s in port.xsk_sockets() {
                let spare = self.pool.available().saturating_sub(RESERVE) as u32;
                let share = self.fill_share.saturating_sub(s.in_fill);
                let want = s.fill_free().min(spare).min(share);
                if want == 0 {
                    continue;
                }
                let mut slots = s.fill_reserve(want);
                let k = slots.len();
                // k <= want <= free chunks: exactly k come back.
                let mut written = 0;
                for (i, chunk) in (0..k).zip(self.pool.take_for_fill(k as usize)) {
                    slots.set(i, chunk);
                    written += 1;
                }
                debug_assert_eq!(written, k);
                slots.commit(written);
                if s.fill_needs_wakeup() {
                    s.kick_rx();
                }
            }
        }
    }

    /// Keeps some free chunks offered to other workers for hand-off.
    fn donate(&mut self) {
        if self.peers.len() < 2 {
            return;
        }
        while self.pool.donated() < DONATE && self.pool.available() > 2 * RESERVE {
            if !self.pool.donate() {
                break;
            }
        }
    }

    /// Nothing in flight that needs the loop to keep running. A port whose
    /// link is down never drains its tx ring: it is not waited for.
    fn quiescent(&mut self) -> bool {
        let down = self.down;
        self.me.area.inbox_is_empty()
            && self.ports.iter_mut().all(|p| {
                down.contains(p.status().id) || p.xsk_sockets().iter().all(|s| s.tx_pending() == 0)
            })
    }

    /// Naps for `nap` (frames wait on the sockets), or with `None` sleeps
    /// until a socket has a frame; a hand-off or a command ends either.
    fn sleep(&mut self, nap: Option<Duration>) {
        self.me.asleep.store(true, Ordering::SeqCst);
        if !self.me.area.inbox_is_empty() || !self.me.commands.1.is_empty() {
            self.me.asleep.store(false, Ordering::SeqCst);
            return;
        }
        match nap {
            Some(d) => self.me.wake.nap(d),
            None => self
                .me
                .wake
                .sleep(&self.ports, Duration::from_millis(SLEEP_MS)),
        }
        self.me.asleep.store(false, Ordering::SeqCst);
        self.me.wake.drain();
    }

    /// Publishes port statuses and kernel counters for the control thread.
    fn report(&mut self, force: bool) {
        let reports: Vec<PortReport> = self
            .ports
            .iter_mut()
            .map(|p| PortReport {
                status: p.status().clone(),
                kernel: p.kernel_stats(),
            })
            .collect();
        let guard = if force {
            Some(self.me.ports.lock().unwrap_or_else(|e| e.into_inner()))
        } else {
            self.me.ports.try_lock().ok()
        };
        if let Some(mut g) = guard {
            *g = reports;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fill_share;

    #[test]
    fn the_umem_is_shared_evenly_between_sockets() {
        // 16 ports of 2 queues on the default 16384-chunk UMEM.
        let share = fill_share(16384, 32, 2048);
        assert!(share as usize * 32 <= 16384 - 2 * super::RESERVE - super::DONATE);
        assert!(share >= 400, "{share}");
        // Few sockets: a fill ring's worth each; many: two batches at least.
        assert_eq!(fill_share(16384, 2, 2048), 2048);
        assert_eq!(fill_share(1024, 64, 2048), 2 * super::BATCH_SIZE as u32);
        assert_eq!(fill_share(16384, 0, 2048), 2048);
    }
}

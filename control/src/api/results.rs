//! The result of each method, as typed structs: the daemon serializes
//! them, vswitchctl reads them back into the same types to draw its
//! tables, and the Prometheus text is rendered from [`Stats`].
//! `docs/api.md` documents every field; a test checks the two agree.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::port::{DriverName, PortSettings};
use crate::model::switch::StaticEntry;
use crate::model::value::{MacAddr, Vlan};

/// `status`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    /// vswitchd's version.
    pub version: String,
    /// Its process id.
    pub pid: u32,
    /// Seconds since it started.
    pub uptime_secs: u64,
    /// The file it started with.
    pub config: String,
    /// Poll workers.
    pub workers: Vec<WorkerPorts>,
    /// Ports and what the kernel gave them.
    pub ports: Vec<PortRuntime>,
    /// The MAC table.
    pub fdb: FdbStatus,
}

/// A worker and its ports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerPorts {
    /// Worker index.
    pub index: usize,
    /// CPU it is pinned to.
    pub cpu: usize,
    /// Names of its ports.
    pub ports: Vec<String>,
}

/// What a running port got from the kernel, and where it runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortRuntime {
    /// Port name.
    pub name: String,
    /// Kernel interface.
    pub iface: String,
    /// Worker that owns it.
    pub worker: usize,
    /// The driver asked for: auto, afxdp or packet.
    pub driver: DriverName,
    /// The driver it runs: afxdp or packet.
    pub driver_in_use: String,
    /// What it does with offloaded traffic.
    pub offloads: String,
    /// XDP attach mode: native or generic ("-" without AF_XDP).
    pub xdp: String,
    /// Socket mode: copy or zero-copy ("-" without AF_XDP).
    pub mode: String,
    /// Receive queues bound (0 while the port has no sockets).
    pub queues: u32,
    /// The interface: up, down (administratively, or no carrier) or
    /// absent (no interface of that name).
    pub link: String,
    /// The MTU the port carries now: its configured `mtu`, else its
    /// interface's (never more than the interface's or its driver's).
    pub mtu: u32,
    /// The configured `mtu`; absent when the port follows its interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu_request: Option<u32>,
    /// The interface's MTU now (the last one known while absent).
    pub iface_mtu: u32,
    /// Largest tagged frame it takes and sends: `mtu` + 18 (Ethernet
    /// header and 802.1Q tag; an untagged one 4 bytes less); longer ones
    /// are dropped as `too_large`.
    pub max_frame_len: usize,
    /// Why the port carries less than its configured or interface MTU,
    /// and what to do; absent when nothing is wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu_problem: Option<String>,
    /// AF_XDP: frames span several UMEM chunks (multi-buffer sockets under
    /// vswitch's frags-aware XDP program); false for packet ports.
    pub multi_buffer: bool,
}

/// The MAC table in `status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FdbStatus {
    /// Entries now.
    pub entries: usize,
    /// Most entries.
    pub capacity: usize,
    /// Aging time; 0 = never.
    pub aging_secs: u32,
}

/// `port.list` (one per port), `port.add`, `port.set`: the settings and
/// the runtime facts of a port.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortInfo {
    /// As configured.
    #[serde(flatten)]
    pub settings: PortSettings,
    /// Worker that owns it.
    pub worker: usize,
    /// The driver it runs (`settings.driver` is the one asked for).
    pub driver_in_use: String,
    /// What it does with offloaded traffic.
    pub offloads: String,
    /// XDP attach mode: native or generic ("-" without AF_XDP).
    pub xdp: String,
    /// Socket mode: copy or zero-copy ("-" without AF_XDP).
    pub mode: String,
    /// Receive queues bound (0 while the port has no sockets).
    pub queues: u32,
    /// The interface: up, down (administratively, or no carrier) or
    /// absent (no interface of that name).
    pub link: String,
    /// The MTU the port carries now: its configured `mtu`, else its
    /// interface's (never more than the interface's or its driver's).
    pub mtu: u32,
    /// The configured `mtu`; absent when the port follows its interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu_request: Option<u32>,
    /// The interface's MTU now (the last one known while absent).
    pub iface_mtu: u32,
    /// Largest tagged frame it takes and sends: `mtu` + 18 (Ethernet
    /// header and 802.1Q tag; an untagged one 4 bytes less); longer ones
    /// are dropped as `too_large`.
    pub max_frame_len: usize,
    /// AF_XDP: frames span several UMEM chunks (multi-buffer sockets under
    /// vswitch's frags-aware XDP program); false for packet ports.
    pub multi_buffer: bool,
}

/// `port.show`: [`PortInfo`] with counters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortDetail {
    /// Settings and runtime facts.
    #[serde(flatten)]
    pub info: PortInfo,
    /// The switch's counters for the port.
    pub counters: PortCounters,
    /// The kernel's ring counters, when it reported them.
    pub kernel: Option<KernelCounters>,
    /// MAC table entries on the port.
    pub fdb_entries: usize,
    /// Why the port carries less than its configured or interface MTU,
    /// and what to do (as in `status`); absent when nothing is wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu_problem: Option<String>,
}

/// A port's counters since the last `stats.clear`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct PortCounters {
    /// Frames received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Received frames dropped.
    pub rx_dropped: u64,
    /// Frames transmitted.
    pub tx_packets: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Frames dropped at output.
    pub tx_dropped: u64,
}

/// The kernel's AF_XDP ring counters (XDP_STATISTICS), summed over a
/// port's sockets.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct KernelCounters {
    /// Dropped for other reasons than full or empty rings.
    pub rx_dropped: u64,
    /// Invalid rx descriptors.
    pub rx_invalid_descs: u64,
    /// Invalid tx descriptors.
    pub tx_invalid_descs: u64,
    /// Dropped because the rx ring was full.
    pub rx_ring_full: u64,
    /// Times the fill ring was empty.
    pub rx_fill_ring_empty_descs: u64,
    /// Times the tx ring was empty.
    pub tx_ring_empty_descs: u64,
}

impl KernelCounters {
    /// Receive-side losses: what vswitchctl shows as KERNEL_DROPS.
    pub fn rx_losses(&self) -> u64 {
        self.rx_dropped + self.rx_ring_full + self.rx_fill_ring_empty_descs
    }
}

/// `port.del`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortDeleted {
    /// The port.
    pub name: String,
    /// Static entries removed with it.
    pub static_entries_removed: usize,
}

/// Static or learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryType {
    /// Configured.
    Static,
    /// Learned.
    Dynamic,
}

impl std::fmt::Display for EntryType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EntryType::Static => "static",
            EntryType::Dynamic => "dynamic",
        })
    }
}

/// `fdb.show`: one page of entries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FdbPage {
    /// The page's entries, sorted by VLAN then MAC.
    pub entries: Vec<FdbRow>,
    /// The cursor of the next page; `None` when the table has been
    /// walked to its end.
    pub next: Option<String>,
}

/// `fdb.show`: one entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FdbRow {
    /// The MAC.
    pub mac: MacAddr,
    /// Its VLAN.
    pub vlan: Vlan,
    /// The port it is on.
    pub port: Option<String>,
    /// Static or dynamic.
    #[serde(rename = "type")]
    pub kind: EntryType,
    /// Seconds since last seen (0 for static entries).
    pub age_secs: u32,
}

/// `fdb.add`: the entry, marked static.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FdbAdded {
    /// The entry.
    #[serde(flatten)]
    pub entry: StaticEntry,
    /// Always static.
    #[serde(rename = "type")]
    pub kind: EntryType,
}

/// `fdb.del`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FdbDeleted {
    /// The MAC.
    pub mac: MacAddr,
    /// Its VLAN.
    pub vlan: Vlan,
}

/// `fdb.flush`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flushed {
    /// Entries removed.
    pub flushed: usize,
}

/// `stats.show` (format json).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stats {
    /// Seconds since start (fractional, for rates).
    pub uptime_secs: f64,
    /// Per port, by name.
    pub ports: BTreeMap<String, PortStats>,
    /// Drops by reason name (every reason, zeros included).
    pub drops: BTreeMap<String, u64>,
    /// Engine events by name (every event, zeros included).
    pub events: BTreeMap<String, u64>,
    /// Per worker.
    pub workers: Vec<WorkerLoad>,
    /// MAC table use.
    pub fdb: FdbUsage,
    /// Per mirror session, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mirrors: BTreeMap<String, MirrorStats>,
}

/// A mirror session's counters in `stats.show` (its output port's: see
/// `control/src/controller/mirror.rs`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct MirrorStats {
    /// Copies handed to the output port.
    pub copies: u64,
    /// Copies the output could not take (too large, ring or hand-off
    /// full, link down).
    pub dropped: u64,
}

/// A mirror session in `mirror.list` and `mirror.add`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MirrorInfo {
    /// Its name.
    pub name: String,
    /// Source ports.
    pub sources: Vec<String>,
    /// ingress, egress or both.
    pub direction: crate::model::mirror::Direction,
    /// VLAN filter, absent for all VLANs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlans: Option<crate::model::value::VlanList>,
    /// Output port.
    pub output: String,
    /// Its counters.
    #[serde(flatten)]
    pub stats: MirrorStats,
}

/// A port in `stats.show`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PortStats {
    /// The switch's counters.
    #[serde(flatten)]
    pub counters: PortCounters,
    /// The kernel's ring counters, when it reported them.
    pub kernel: Option<KernelCounters>,
    /// The interface: up, down or absent (as in `status`).
    pub link: String,
    /// The MTU the port carries now (as in `status`).
    pub mtu: u32,
    /// Dynamic MAC entries counted for the port (what `max_macs` is
    /// checked against; flushed and aged ones until the next sweep).
    #[serde(default)]
    pub macs: usize,
    /// Learning is held down by the MAC move guard.
    #[serde(default)]
    pub learning_held: bool,
}

/// A worker's load in `stats.show`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerLoad {
    /// Worker index.
    pub index: usize,
    /// CPU it is pinned to.
    pub cpu: usize,
    /// Nanoseconds in loop iterations that did work.
    pub busy_ns: u64,
    /// Nanoseconds since it started.
    pub total_ns: u64,
    /// Frames it received.
    pub packets: u64,
    /// busy_ns / total_ns, in percent.
    pub busy_pct: f64,
    /// busy_ns per packet.
    pub ns_per_packet: f64,
    /// Socket receive calls that returned frames.
    #[serde(default)]
    pub batches: u64,
    /// Nanoseconds asleep (naps and sleeps in `poll(2)`).
    #[serde(default)]
    pub asleep_ns: u64,
    /// Naps and sleeps ended.
    #[serde(default)]
    pub wakeups: u64,
    /// asleep_ns / total_ns, in percent.
    #[serde(default)]
    pub asleep_pct: f64,
    /// wakeups per second of total_ns.
    #[serde(default)]
    pub wakeups_per_sec: f64,
    /// packets / batches: frames per receive call that got any.
    #[serde(default)]
    pub avg_batch: f64,
}

/// The result of `switch.set`: the live `[switch]` settings now.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SwitchLive {
    /// How workers poll.
    pub polling: crate::model::switch::PollingMode,
    /// Longest nap of an adaptive worker, microseconds.
    pub max_sleep_us: i64,
}

/// MAC table use in `stats.show`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FdbUsage {
    /// Entries now.
    pub entries: usize,
    /// Most entries.
    pub capacity: usize,
    /// MAC flapping episodes the move guard saw since start.
    #[serde(default)]
    pub mac_flaps: u64,
}

/// The result of `fdb.set`: the live `[fdb]` settings now.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FdbLive {
    /// Most entries (fixed at start).
    pub capacity: usize,
    /// Aging time; 0 = never.
    pub aging_secs: i64,
    /// The MAC move guard.
    pub move_guard: crate::model::policy::MoveGuardSettings,
}

/// `stats.show` (format prometheus).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PrometheusText {
    /// The text exposition format.
    pub text: String,
}

/// `stats.clear`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cleared {
    /// Always true.
    pub cleared: bool,
}

/// `config.save`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    /// Where it was written.
    pub path: String,
}

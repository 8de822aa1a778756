//! The API's methods: typed params in (by name, strict), typed results
//! out ([`super::params`], [`super::results`]).
//! Names follow the CLI (`port.set` ↔ `vswitchctl port set`); param keys
//! are the TOML keys.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
// The engine items this module reads; grouped so a move is one edit.
use vswitch_dataplane::fdb::FlushScope;
use vswitch_dataplane::port::xsk::XskStats;
use vswitch_dataplane::stats::PortTotals;
use vswitch_dataplane::{DropReason, Event};

use super::params::{
    ConfigSave, Empty, FdbFilter, FdbFlush, FdbKey, Name, StatsFormat, StatsShow, FDB_PAGE_DEFAULT,
    FDB_PAGE_MAX,
};
use super::prometheus;
use super::results::{
    Cleared, EntryType, FdbAdded, FdbDeleted, FdbPage, FdbRow, FdbStatus, FdbUsage, Flushed,
    KernelCounters, PortCounters, PortDeleted, PortDetail, PortInfo, PortRuntime, PortStats,
    PrometheusText, Saved, Stats, Status, SwitchLive, WorkerLoad, WorkerPorts,
};
use super::rpc::{code, RpcError};
use crate::controller::{ControlError, Controller, PortEntry};
use crate::model::port::{PortPatch, PortSettings};
use crate::model::switch::{StaticEntry, SwitchPatch};

impl From<ControlError> for RpcError {
    fn from(e: ControlError) -> RpcError {
        let c = match e {
            ControlError::Invalid(_) => code::INVALID_PARAMS,
            ControlError::NotFound(_) => code::NOT_FOUND,
            ControlError::Conflict(_) => code::CONFLICT,
            ControlError::Failed(_) => code::FAILED,
        };
        RpcError::new(c, e.to_string())
    }
}

/// Every method, for `vswitchctl` help and tests.
pub const METHODS: &[&str] = &[
    "status",
    "port.list",
    "port.show",
    "port.add",
    "port.del",
    "port.set",
    "fdb.show",
    "fdb.add",
    "fdb.del",
    "fdb.flush",
    "stats.show",
    "stats.clear",
    "config.show",
    "config.save",
    "switch.set",
    "capture",
    "trace",
    "mirror.add",
    "mirror.del",
    "mirror.list",
    "fdb.set",
];

fn params<T: DeserializeOwned>(method: &str, v: Value) -> Result<T, RpcError> {
    serde_json::from_value(v)
        .map_err(|e| RpcError::params(format!("{method}: invalid params: {e}")))
}

fn result<T: Serialize>(r: &T) -> Result<Value, RpcError> {
    serde_json::to_value(r).map_err(|e| RpcError::failed(e.to_string()))
}

/// `port.add`: [`PortSettings`] plus an optional `worker` and `force`.
/// (serde cannot flatten into a struct that denies unknown fields, so
/// those are taken out first and the rest must be exactly the settings.)
fn port_add_params(p: Value) -> Result<(PortSettings, Option<usize>, bool), RpcError> {
    let mut p = match p {
        Value::Object(m) => m,
        _ => return Err(RpcError::params("port.add: params must be an object")),
    };
    let worker = match p.remove("worker") {
        None | Some(Value::Null) => None,
        Some(w) => Some(params::<usize>("port.add", w)?),
    };
    let force = match p.remove("force") {
        None | Some(Value::Null) => false,
        Some(f) => params::<bool>("port.add", f)?,
    };
    Ok((params("port.add", Value::Object(p))?, worker, force))
}

/// Refuses a non-root caller an interface outside
/// `switch.allowed_interfaces`: opening a port attaches to the interface
/// (an XDP program, a packet socket), which may carry the host's own
/// traffic (issue 14).
fn check_iface_allowed(c: &Controller, caller: Caller, iface: &str) -> Result<(), RpcError> {
    if caller.root || c.switch_settings().allows_interface(iface) {
        return Ok(());
    }
    Err(RpcError::new(
        code::FORBIDDEN,
        format!(
            "interface {iface} is not in switch.allowed_interfaces: only root may open a port on it"
        ),
    ))
}

/// Who is asking (from SO_PEERCRED).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// uid 0. Members of the control group are not: they may reconfigure
    /// the switch but not write files of their choosing as root.
    pub root: bool,
}

/// Runs one method for `caller`.
pub fn call(c: &mut Controller, caller: Caller, method: &str, p: Value) -> Result<Value, RpcError> {
    match method {
        // Served by the connection's thread, which it then streams on
        // (super::capture); not through here.
        "capture" => Err(RpcError::params(
            "capture streams notifications: send it as a request line on the control socket",
        )),
        "status" => {
            let Empty {} = params(method, p)?;
            result(&status(c))
        }
        "port.list" => {
            let Empty {} = params(method, p)?;
            result(&c.ports().iter().map(port_info).collect::<Vec<_>>())
        }
        "port.show" => {
            let Name { name } = params(method, p)?;
            let e = c
                .port(&name)
                .ok_or_else(|| RpcError::not_found(format!("no port named {name:?}")))?;
            result(&port_detail(c, e))
        }
        "port.add" => {
            let (settings, worker, force) = port_add_params(p)?;
            if force && !caller.root {
                return Err(RpcError::new(
                    code::FORBIDDEN,
                    "only root may force a port.add",
                ));
            }
            check_iface_allowed(c, caller, &settings.iface)?;
            result(&port_info(c.add_port(settings, worker, force)?))
        }
        "port.del" => {
            let Name { name } = params(method, p)?;
            let statics = c.remove_port(&name)?;
            result(&PortDeleted {
                name,
                static_entries_removed: statics,
            })
        }
        "port.set" => {
            let patch: PortPatch = params(method, p)?;
            // A change of driver, or any change of a port without sockets,
            // re-opens the interface (Controller::set_port).
            if let Some(e) = c.port(&patch.name) {
                if patch.driver.is_some() || e.status.queues == 0 {
                    let iface = e.settings.iface.clone();
                    check_iface_allowed(c, caller, &iface)?;
                }
            }
            result(&port_info(c.set_port(&patch)?))
        }
        "fdb.show" => {
            let f: FdbFilter = params(method, p)?;
            result(&fdb_show(c, f)?)
        }
        "fdb.add" => {
            let entry: StaticEntry = params(method, p)?;
            c.add_static(entry.clone())?;
            result(&FdbAdded {
                entry,
                kind: EntryType::Static,
            })
        }
        "fdb.del" => {
            let FdbKey { mac, vlan } = params(method, p)?;
            if !c.delete_fdb(mac, vlan) {
                return Err(RpcError::not_found(format!(
                    "no FDB entry for {mac} in VLAN {vlan}"
                )));
            }
            result(&FdbDeleted { mac, vlan })
        }
        "fdb.flush" => {
            let f: FdbFlush = params(method, p)?;
            let scope = match (&f.port, f.vlan, f.all) {
                (Some(name), None, false) => {
                    let e = c
                        .port(name)
                        .ok_or_else(|| RpcError::not_found(format!("no port named {name:?}")))?;
                    FlushScope::Port(e.id)
                }
                (None, Some(v), false) => FlushScope::Vlan(v.id()),
                (None, None, true) => FlushScope::All,
                _ => {
                    return Err(RpcError::params(
                        "fdb.flush: give exactly one of port, vlan or all = true",
                    ))
                }
            };
            result(&Flushed {
                flushed: c.flush(scope, f.include_static),
            })
        }
        "stats.show" => {
            let s: StatsShow = params(method, p)?;
            let stats = stats(c);
            match s.format {
                StatsFormat::Json => result(&stats),
                StatsFormat::Prometheus => result(&PrometheusText {
                    text: prometheus::render(&stats),
                }),
            }
        }
        "stats.clear" => {
            let Empty {} = params(method, p)?;
            c.clear_stats();
            result(&Cleared { cleared: true })
        }
        "config.show" => {
            let Empty {} = params(method, p)?;
            result(&c.file())
        }
        "config.save" => {
            let s: ConfigSave = params(method, p)?;
            if !caller.root && s.path.as_deref().is_some_and(|p| p != c.path().as_path()) {
                // vswitchd runs as root: a chosen path would let any group
                // member overwrite any file.
                return Err(RpcError::new(
                    code::FORBIDDEN,
                    "only root may save the configuration elsewhere than the file vswitchd started with",
                ));
            }
            let path = c.save(s.path.as_deref())?;
            result(&Saved {
                path: path.display().to_string(),
            })
        }
        "switch.set" => {
            let patch: SwitchPatch = params(method, p)?;
            if patch == SwitchPatch::default() {
                return Err(RpcError::params(
                    "switch.set: give polling and/or max_sleep_us",
                ));
            }
            let s = c.set_switch(&patch)?;
            result(&SwitchLive {
                polling: s.polling,
                max_sleep_us: s.max_sleep_us,
            })
        }
        "trace" => {
            let t: super::trace::TraceParams = params(method, p)?;
            result(&super::trace::run(c, &t)?)
        }
        "mirror.add" | "mirror.del" | "mirror.list" => super::mirror::call(c, method, p),
        "fdb.set" => {
            let patch: crate::model::policy::FdbPatch = params(method, p)?;
            let s = c.set_fdb(&patch)?;
            result(&crate::api::results::FdbLive {
                capacity: s.capacity as usize,
                aging_secs: s.aging_secs,
                move_guard: s.move_guard,
            })
        }
        _ => Err(RpcError::new(
            code::METHOD_NOT_FOUND,
            format!("unknown method {method:?}; methods: {}", METHODS.join(", ")),
        )),
    }
}

fn status(c: &Controller) -> Status {
    let sw = c.switch();
    let now = sw.now_secs();
    Status {
        version: env!("CARGO_PKG_VERSION").to_string(),
        pid: std::process::id(),
        uptime_secs: c.uptime().as_secs(),
        config: c.path().display().to_string(),
        workers: c
            .workers()
            .iter()
            .enumerate()
            .map(|(i, &cpu)| WorkerPorts {
                index: i,
                cpu,
                ports: c
                    .ports()
                    .iter()
                    .filter(|p| p.worker == i)
                    .map(|p| p.settings.name.clone())
                    .collect(),
            })
            .collect(),
        ports: c
            .ports()
            .iter()
            .map(|p| PortRuntime {
                name: p.settings.name.clone(),
                iface: p.status.iface.clone(),
                worker: p.worker,
                driver: p.settings.driver,
                driver_in_use: p.status.driver.to_string(),
                offloads: p.status.offloads.to_string(),
                xdp: xdp_attach(&p.status),
                mode: xdp_bind(&p.status),
                queues: p.status.queues,
                link: p.link.state.to_string(),
                mtu: p.mtu(),
                mtu_request: p.settings.mtu.map(|m| m.get()),
                iface_mtu: p.iface_mtu(),
                max_frame_len: p.max_frame_len(),
                mtu_problem: p.mtu_problem(),
                multi_buffer: p.status.multi_buffer,
            })
            .collect(),
        fdb: FdbStatus {
            entries: sw.fdb().len(now),
            capacity: sw.fdb().capacity(),
            aging_secs: sw.fdb().aging_secs(),
        },
    }
}

fn port_info(e: &PortEntry) -> PortInfo {
    // The configured mtu is `mtu_request` here: `mtu` is what it carries.
    let mut settings = e.settings.clone();
    settings.mtu = None;
    PortInfo {
        settings,
        worker: e.worker,
        driver_in_use: e.status.driver.to_string(),
        offloads: e.status.offloads.to_string(),
        xdp: xdp_attach(&e.status),
        mode: xdp_bind(&e.status),
        queues: e.status.queues,
        link: e.link.state.to_string(),
        mtu: e.mtu(),
        mtu_request: e.settings.mtu.map(|m| m.get()),
        iface_mtu: e.iface_mtu(),
        max_frame_len: e.max_frame_len(),
        multi_buffer: e.status.multi_buffer,
    }
}

fn counters(p: &PortTotals) -> PortCounters {
    PortCounters {
        rx_packets: p.rx_packets,
        rx_bytes: p.rx_bytes,
        rx_dropped: p.rx_dropped,
        tx_packets: p.tx_packets,
        tx_bytes: p.tx_bytes,
        tx_dropped: p.tx_dropped,
    }
}

fn kernel(k: &XskStats) -> KernelCounters {
    KernelCounters {
        rx_dropped: k.rx_dropped,
        rx_invalid_descs: k.rx_invalid_descs,
        tx_invalid_descs: k.tx_invalid_descs,
        rx_ring_full: k.rx_ring_full,
        rx_fill_ring_empty_descs: k.rx_fill_ring_empty_descs,
        tx_ring_empty_descs: k.tx_ring_empty_descs,
    }
}

fn port_detail(c: &Controller, e: &PortEntry) -> PortDetail {
    let t = c.totals();
    let now = c.switch().now_secs();
    PortDetail {
        info: port_info(e),
        counters: counters(&t.ports[e.id.index()]),
        kernel: c
            .switch()
            .port_reports()
            .into_iter()
            .find(|r| r.status.id == e.id)
            .map(|r| kernel(&r.kernel)),
        fdb_entries: c.switch().fdb().count(now, |x| x.port == e.id),
        mtu_problem: e.mtu_problem(),
    }
}

/// Slots one `fdb.show` page looks at, at most, however few entries match
/// its filter: a page with a narrow filter on a big table ends early
/// (with a `next`) rather than hold the controller for the whole scan.
const FDB_PAGE_SCAN: usize = 1 << 18;

fn fdb_show(c: &Controller, f: FdbFilter) -> Result<FdbPage, RpcError> {
    let limit = f.limit.unwrap_or(FDB_PAGE_DEFAULT);
    if !(1..=FDB_PAGE_MAX).contains(&limit) {
        return Err(RpcError::params(format!(
            "fdb.show: limit must be 1-{FDB_PAGE_MAX}"
        )));
    }
    let start = match &f.cursor {
        None => 0,
        Some(s) => s.parse::<usize>().map_err(|_| {
            RpcError::params(format!(
                "fdb.show: invalid cursor {s:?}: pass the \"next\" of the previous page"
            ))
        })?,
    };
    let port_filter = match &f.port {
        Some(name) => Some(
            c.port(name)
                .ok_or_else(|| RpcError::not_found(format!("no port named {name:?}")))?
                .id,
        ),
        None => None,
    };
    let sw = c.switch();
    let now = sw.now_secs();
    let keep = |e: &vswitch_dataplane::fdb::FdbEntry| {
        f.vlan.is_none_or(|v| e.vlan == v.id())
            && f.mac.is_none_or(|m| e.mac == m.mac())
            && port_filter.is_none_or(|p| e.port == p)
    };
    let (mut entries, next) = match (f.vlan, f.mac) {
        // One key: a lookup, not a scan.
        (Some(v), Some(m)) => (
            sw.fdb()
                .get(v.id(), m.mac(), now)
                .filter(|e| start == 0 && keep(e))
                .into_iter()
                .collect(),
            None,
        ),
        _ => sw
            .fdb()
            .entries_page(now, start, limit, FDB_PAGE_SCAN, keep),
    };
    entries.sort_by_key(|e| (e.vlan, e.mac));
    Ok(FdbPage {
        entries: entries
            .iter()
            .map(|e| FdbRow {
                mac: e.mac.into(),
                vlan: e.vlan.into(),
                port: c.port_name(e.port).map(str::to_string),
                kind: if e.is_static {
                    EntryType::Static
                } else {
                    EntryType::Dynamic
                },
                age_secs: e.age_secs,
            })
            .collect(),
        next: next.map(|n| n.to_string()),
    })
}

/// `stats.show --format prometheus`'s text (also `/metrics`,
/// `crate::metrics`).
pub fn prometheus_text(c: &Controller) -> String {
    prometheus::render(&stats(c))
}

fn stats(c: &Controller) -> Stats {
    use std::sync::atomic::Ordering::Relaxed;
    let t = c.totals();
    let reports = c.switch().port_reports();
    let ports = c
        .ports()
        .iter()
        .map(|e| {
            let stats = PortStats {
                counters: counters(&t.ports[e.id.index()]),
                kernel: reports
                    .iter()
                    .find(|r| r.status.id == e.id)
                    .map(|r| kernel(&r.kernel)),
                link: e.link.state.to_string(),
                mtu: e.mtu(),
                macs: c.switch().fdb().port_macs(e.id),
                learning_held: c.switch().fdb().learning_held().contains(e.id),
            };
            (e.settings.name.clone(), stats)
        })
        .collect();
    let workers = c
        .switch()
        .workers()
        .iter()
        .zip(c.workers())
        .map(|(w, &cpu)| {
            let busy = w.load.busy_ns.load(Relaxed);
            let total = w.load.total_ns.load(Relaxed);
            let packets = w.load.packets.load(Relaxed);
            let batches = w.load.batches.load(Relaxed);
            let asleep = w.load.asleep_ns.load(Relaxed);
            let wakeups = w.load.wakeups.load(Relaxed);
            let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
            WorkerLoad {
                index: w.index,
                cpu,
                busy_ns: busy,
                total_ns: total,
                packets,
                busy_pct: if total > 0 {
                    100.0 * busy as f64 / total as f64
                } else {
                    0.0
                },
                ns_per_packet: if packets > 0 {
                    busy as f64 / packets as f64
                } else {
                    0.0
                },
                batches,
                asleep_ns: asleep,
                wakeups,
                asleep_pct: 100.0 * ratio(asleep as f64, total as f64),
                wakeups_per_sec: ratio(wakeups as f64, total as f64 / 1e9),
                avg_batch: ratio(packets as f64, batches as f64),
            }
        })
        .collect();
    let now = c.switch().now_secs();
    Stats {
        uptime_secs: c.uptime().as_secs_f64(),
        ports,
        drops: DropReason::ALL
            .iter()
            .map(|r| (r.name().to_string(), t.drop_count(*r)))
            .collect(),
        events: Event::ALL
            .iter()
            .map(|e| (e.name().to_string(), t.event_count(*e)))
            .collect(),
        workers,
        fdb: FdbUsage {
            entries: c.switch().fdb().len(now),
            capacity: c.switch().fdb().capacity(),
            mac_flaps: c.move_guard().flaps(),
        },
        mirrors: super::mirror::stats(c),
    }
}

/// How the port's XDP program is attached ("-" for a port without one).
fn xdp_attach(s: &vswitch_dataplane::port::PortStatus) -> String {
    s.xdp
        .map_or_else(|| "-".into(), |(attach, _)| attach.to_string())
}

/// Copy or zero-copy ("-" for a port without AF_XDP sockets).
fn xdp_bind(s: &vswitch_dataplane::port::PortStatus) -> String {
    s.xdp
        .map_or_else(|| "-".into(), |(_, bind)| bind.to_string())
}

//! The API's methods: params in (by name, strict), JSON results out.
//! Names follow the CLI (`port.set` ↔ `vswitchctl port set`); param keys
//! are the TOML keys.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};
use vswitch_dataplane::fdb::FlushScope;
use vswitch_dataplane::{DropReason, Event, Mac, VlanId};

use super::prometheus;
use super::rpc::{code, RpcError};
use crate::config::{PortSection, VlanModeName};
use crate::controller::{ControlError, Controller, PortEntry};

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
];

fn params<T: DeserializeOwned>(method: &str, v: Value) -> Result<T, RpcError> {
    serde_json::from_value(v)
        .map_err(|e| RpcError::params(format!("{method}: invalid params: {e}")))
}

/// `Some(x)` for a present key (x may be null): tells "unset" from "absent".
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

fn vlan(v: i64) -> Result<VlanId, RpcError> {
    VlanId::try_from(v).map_err(|e| RpcError::params(e.to_string()))
}

fn mac(s: &str) -> Result<Mac, RpcError> {
    s.parse()
        .map_err(|e: vswitch_dataplane::wire::MacParseError| RpcError::params(e.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Name {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PortAdd {
    name: String,
    iface: String,
    #[serde(default)]
    vlan_mode: VlanModeName,
    #[serde(default)]
    vlan: Option<i64>,
    #[serde(default)]
    trunk_vlans: Option<String>,
    #[serde(default)]
    promiscuous: bool,
    #[serde(default = "yes")]
    learning: bool,
    #[serde(default = "yes")]
    flood_unknown_unicast: bool,
    #[serde(default)]
    worker: Option<usize>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PortSet {
    name: String,
    #[serde(default)]
    vlan_mode: Option<VlanModeName>,
    #[serde(default, deserialize_with = "present")]
    vlan: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    trunk_vlans: Option<Option<String>>,
    #[serde(default)]
    promiscuous: Option<bool>,
    #[serde(default)]
    learning: Option<bool>,
    #[serde(default)]
    flood_unknown_unicast: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FdbFilter {
    #[serde(default)]
    vlan: Option<i64>,
    #[serde(default)]
    port: Option<String>,
    #[serde(default)]
    mac: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FdbAdd {
    mac: String,
    vlan: i64,
    port: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FdbDel {
    mac: String,
    vlan: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FdbFlush {
    #[serde(default)]
    port: Option<String>,
    #[serde(default)]
    vlan: Option<i64>,
    #[serde(default)]
    all: bool,
    #[serde(default)]
    include_static: bool,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
enum StatsFormat {
    #[default]
    Json,
    Prometheus,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatsShow {
    #[serde(default)]
    format: StatsFormat,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigSave {
    #[serde(default)]
    path: Option<std::path::PathBuf>,
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
        "status" => {
            let _: Empty = params(method, p)?;
            Ok(status(c))
        }
        "port.list" => {
            let _: Empty = params(method, p)?;
            Ok(Value::Array(
                c.ports().iter().map(|e| port_json(c, e, false)).collect(),
            ))
        }
        "port.show" => {
            let Name { name } = params(method, p)?;
            let e = c
                .port(&name)
                .ok_or_else(|| RpcError::not_found(format!("no port named {name:?}")))?;
            Ok(port_json(c, e, true))
        }
        "port.add" => {
            let a: PortAdd = params(method, p)?;
            let section = PortSection {
                name: a.name,
                iface: a.iface,
                vlan_mode: a.vlan_mode,
                vlan: a.vlan,
                trunk_vlans: a.trunk_vlans,
                promiscuous: a.promiscuous,
                learning: a.learning,
                flood_unknown_unicast: a.flood_unknown_unicast,
            };
            let e = c.add_port(section, a.worker)?.clone();
            Ok(port_json(c, &e, false))
        }
        "port.del" => {
            let Name { name } = params(method, p)?;
            let statics = c.remove_port(&name)?;
            Ok(json!({"name": name, "static_entries_removed": statics}))
        }
        "port.set" => {
            let s: PortSet = params(method, p)?;
            let name = s.name.clone();
            let e = c
                .set_port(&name, |sec| {
                    if let Some(m) = s.vlan_mode {
                        sec.vlan_mode = m;
                        if m != VlanModeName::Trunk && s.trunk_vlans.is_none() {
                            // Switching away from trunk drops its VLAN list.
                            sec.trunk_vlans = None;
                        }
                    }
                    if let Some(v) = s.vlan {
                        sec.vlan = v;
                    }
                    if let Some(t) = s.trunk_vlans {
                        sec.trunk_vlans = t;
                    }
                    if let Some(b) = s.promiscuous {
                        sec.promiscuous = b;
                    }
                    if let Some(b) = s.learning {
                        sec.learning = b;
                    }
                    if let Some(b) = s.flood_unknown_unicast {
                        sec.flood_unknown_unicast = b;
                    }
                })?
                .clone();
            Ok(port_json(c, &e, false))
        }
        "fdb.show" => {
            let f: FdbFilter = params(method, p)?;
            fdb_show(c, f)
        }
        "fdb.add" => {
            let a: FdbAdd = params(method, p)?;
            let (m, v) = (mac(&a.mac)?, vlan(a.vlan)?);
            c.add_static(m, v, &a.port)?;
            Ok(json!({"mac": m.to_string(), "vlan": v.get(), "port": a.port, "type": "static"}))
        }
        "fdb.del" => {
            let d: FdbDel = params(method, p)?;
            let (m, v) = (mac(&d.mac)?, vlan(d.vlan)?);
            if !c.delete_fdb(m, v) {
                return Err(RpcError::not_found(format!(
                    "no FDB entry for {m} in VLAN {v}"
                )));
            }
            Ok(json!({"mac": m.to_string(), "vlan": v.get()}))
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
                (None, Some(v), false) => FlushScope::Vlan(vlan(v)?),
                (None, None, true) => FlushScope::All,
                _ => {
                    return Err(RpcError::params(
                        "fdb.flush: give exactly one of port, vlan or all = true",
                    ))
                }
            };
            let n = c.flush(scope, f.include_static);
            Ok(json!({"flushed": n}))
        }
        "stats.show" => {
            let s: StatsShow = params(method, p)?;
            let stats = stats_json(c);
            Ok(match s.format {
                StatsFormat::Json => stats,
                StatsFormat::Prometheus => json!({"text": prometheus::render(&stats)}),
            })
        }
        "stats.clear" => {
            let _: Empty = params(method, p)?;
            c.clear_stats();
            Ok(json!({"cleared": true}))
        }
        "config.show" => {
            let _: Empty = params(method, p)?;
            serde_json::to_value(c.file()).map_err(|e| RpcError::failed(e.to_string()))
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
            Ok(json!({"path": path.display().to_string()}))
        }
        _ => Err(RpcError::new(
            code::METHOD_NOT_FOUND,
            format!("unknown method {method:?}; methods: {}", METHODS.join(", ")),
        )),
    }
}

fn status(c: &Controller) -> Value {
    let sw = c.switch();
    let now = sw.now_secs();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
        "uptime_secs": c.uptime().as_secs(),
        "config": c.path().display().to_string(),
        "workers": c.workers().iter().enumerate().map(|(i, cpu)| json!({
            "index": i,
            "cpu": cpu,
            "ports": c.ports().iter().filter(|p| p.worker == i).map(|p| p.section.name.clone()).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "ports": c.ports().iter().map(|p| json!({
            "name": p.section.name,
            "iface": p.status.iface,
            "worker": p.worker,
            "xdp": p.status.attach.to_string(),
            "mode": p.status.bind.to_string(),
            "queues": p.status.queues,
            "mtu": p.status.mtu,
        })).collect::<Vec<_>>(),
        "fdb": {
            "entries": sw.fdb().len(now),
            "capacity": sw.fdb().capacity(),
            "aging_secs": sw.fdb().aging_secs(),
        },
    })
}

fn port_json(c: &Controller, e: &PortEntry, detail: bool) -> Value {
    let mut v = match serde_json::to_value(&e.section) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    v.insert("worker".into(), json!(e.worker));
    v.insert("xdp".into(), json!(e.status.attach.to_string()));
    v.insert("mode".into(), json!(e.status.bind.to_string()));
    v.insert("queues".into(), json!(e.status.queues));
    v.insert("mtu".into(), json!(e.status.mtu));
    if detail {
        let t = c.totals();
        let p = &t.ports[e.id.index()];
        v.insert(
            "counters".into(),
            json!({
                "rx_packets": p.rx_packets, "rx_bytes": p.rx_bytes, "rx_dropped": p.rx_dropped,
                "tx_packets": p.tx_packets, "tx_bytes": p.tx_bytes, "tx_dropped": p.tx_dropped,
            }),
        );
        let kernel = c
            .switch()
            .port_reports()
            .into_iter()
            .find(|r| r.status.id == e.id)
            .map(|r| kernel_json(&r.kernel))
            .unwrap_or(Value::Null);
        v.insert("kernel".into(), kernel);
        let now = c.switch().now_secs();
        let macs = c
            .switch()
            .fdb()
            .entries(now)
            .iter()
            .filter(|x| x.port == e.id)
            .count();
        v.insert("fdb_entries".into(), json!(macs));
    }
    Value::Object(v)
}

fn kernel_json(k: &vswitch_dataplane::port::xsk::XskStats) -> Value {
    json!({
        "rx_dropped": k.rx_dropped,
        "rx_invalid_descs": k.rx_invalid_descs,
        "tx_invalid_descs": k.tx_invalid_descs,
        "rx_ring_full": k.rx_ring_full,
        "rx_fill_ring_empty_descs": k.rx_fill_ring_empty_descs,
        "tx_ring_empty_descs": k.tx_ring_empty_descs,
    })
}

fn fdb_show(c: &Controller, f: FdbFilter) -> Result<Value, RpcError> {
    let vlan_filter = f.vlan.map(vlan).transpose()?;
    let mac_filter = f.mac.as_deref().map(mac).transpose()?;
    let port_filter = match &f.port {
        Some(name) => Some(
            c.port(name)
                .ok_or_else(|| RpcError::not_found(format!("no port named {name:?}")))?
                .id,
        ),
        None => None,
    };
    let sw = c.switch();
    let mut entries = sw.fdb().entries(sw.now_secs());
    entries.retain(|e| {
        vlan_filter.is_none_or(|v| e.vlan == v)
            && mac_filter.is_none_or(|m| e.mac == m)
            && port_filter.is_none_or(|p| e.port == p)
    });
    entries.sort_by_key(|e| (e.vlan, e.mac));
    Ok(Value::Array(
        entries
            .iter()
            .map(|e| {
                json!({
                    "mac": e.mac.to_string(),
                    "vlan": e.vlan.get(),
                    "port": c.port_name(e.port),
                    "type": if e.is_static { "static" } else { "dynamic" },
                    "age_secs": e.age_secs,
                })
            })
            .collect(),
    ))
}

fn stats_json(c: &Controller) -> Value {
    let t = c.totals();
    let reports = c.switch().port_reports();
    let mut ports = Map::new();
    for e in c.ports() {
        let p = &t.ports[e.id.index()];
        let kernel = reports
            .iter()
            .find(|r| r.status.id == e.id)
            .map(|r| kernel_json(&r.kernel))
            .unwrap_or(Value::Null);
        ports.insert(
            e.section.name.clone(),
            json!({
                "rx_packets": p.rx_packets, "rx_bytes": p.rx_bytes, "rx_dropped": p.rx_dropped,
                "tx_packets": p.tx_packets, "tx_bytes": p.tx_bytes, "tx_dropped": p.tx_dropped,
                "kernel": kernel,
            }),
        );
    }
    let drops: Map<String, Value> = DropReason::ALL
        .iter()
        .map(|r| (r.name().to_string(), json!(t.drop_count(*r))))
        .collect();
    let events: Map<String, Value> = Event::ALL
        .iter()
        .map(|e| (e.name().to_string(), json!(t.event_count(*e))))
        .collect();
    let workers: Vec<Value> = c
        .switch()
        .workers()
        .iter()
        .zip(c.workers())
        .map(|(w, cpu)| {
            use std::sync::atomic::Ordering::Relaxed;
            let busy = w.load.busy_ns.load(Relaxed);
            let total = w.load.total_ns.load(Relaxed);
            let packets = w.load.packets.load(Relaxed);
            json!({
                "index": w.index,
                "cpu": cpu,
                "busy_ns": busy,
                "total_ns": total,
                "packets": packets,
                "busy_pct": if total > 0 { 100.0 * busy as f64 / total as f64 } else { 0.0 },
                "ns_per_packet": if packets > 0 { busy as f64 / packets as f64 } else { 0.0 },
            })
        })
        .collect();
    let now = c.switch().now_secs();
    json!({
        "uptime_secs": c.uptime().as_secs_f64(),
        "ports": ports,
        "drops": drops,
        "events": events,
        "workers": workers,
        "fdb": {"entries": c.switch().fdb().len(now), "capacity": c.switch().fdb().capacity()},
    })
}

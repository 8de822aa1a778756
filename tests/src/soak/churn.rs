//! The churn: random operator actions on the churn ports and their
//! interfaces, from a seeded generator (the same seed gives the same
//! sequence of choices). Every control call must succeed: the actions
//! are ones an operator may do at any time. UMEM rebuilds are read from
//! the daemon's log after each action, with the time window they fall
//! in, so losses they cause can be told apart from others.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::clients::{burst, FloodStats};
use super::traffic::{Control, Endpoint};
use crate::daemon::{strip_ansi, Daemon};
use crate::lab::Lab;

/// A churn port's VLAN settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Vlan {
    /// access, VLAN 10: reaches its stable partner.
    Access10,
    /// access, VLAN 30: cut off from VLAN 10.
    Access30,
    /// trunk of 10 and 30, native 10: reaches its partner untagged.
    TrunkNative10,
    /// trunk of 30 without native VLAN: its untagged frames drop.
    Trunk30,
}

impl Vlan {
    fn params(self) -> Value {
        match self {
            Vlan::Access10 => json!({"vlan_mode": "access", "vlan": 10}),
            Vlan::Access30 => json!({"vlan_mode": "access", "vlan": 30}),
            Vlan::TrunkNative10 => {
                json!({"vlan_mode": "trunk", "vlan": 10, "trunk_vlans": "10,30"})
            }
            Vlan::Trunk30 => json!({"vlan_mode": "trunk", "vlan": null, "trunk_vlans": "30"}),
        }
    }
}

#[derive(Debug)]
struct Port {
    ep: usize,
    configured: bool,
    driver: &'static str,
    vlan: Vlan,
    /// Some(when to bring it up) while flapped down.
    down_until: Option<Instant>,
}

/// A UMEM rebuild the log reported, and the window of the action that
/// caused it (ms since the traffic epoch, widened by a margin).
#[derive(Debug, Clone)]
pub struct Rebuild {
    /// Worker whose UMEM was rebuilt.
    pub worker: usize,
    /// Window start.
    pub from_ms: u32,
    /// Window end.
    pub to_ms: u32,
}

/// The churn's state and what it saw.
pub struct Churn<'a> {
    d: &'a Daemon,
    lab: &'a Lab,
    eps: &'a [Endpoint],
    ctl: &'a Control,
    rng: fastrand::Rng,
    flaps: bool,
    ports: Vec<Port>,
    log_at: u64,
    /// Actions done, by kind.
    pub actions: BTreeMap<&'static str, u64>,
    /// Actions done, by port name.
    pub touched: BTreeMap<String, u64>,
    /// UMEM rebuilds seen.
    pub rebuilds: Vec<Rebuild>,
    /// Calls or commands that failed (violations).
    pub errors: Vec<String>,
    /// Lines of the daemon log at ERROR or with a panic (first few).
    pub log_alarms: Vec<String>,
    /// Daemon log lines at ERROR or with a panic, all of them.
    pub log_alarm_count: u64,
    /// Slowest control call.
    pub slowest: Duration,
    /// Control calls made.
    pub calls: u64,
    /// Floods' results.
    pub flood: Arc<FloodStats>,
}

/// Margin around an action's window: a rebuild's losses land within it.
const BEFORE: u32 = 100;
const AFTER: u32 = 250;

impl<'a> Churn<'a> {
    /// A churn over the endpoints with `churn` set, all configured now
    /// with `drivers` (by endpoint) in access VLAN 10.
    pub fn new(
        d: &'a Daemon,
        lab: &'a Lab,
        eps: &'a [Endpoint],
        ctl: &'a Control,
        seed: u64,
        flaps: bool,
        drivers: &[&'static str],
    ) -> Churn<'a> {
        let ports = eps
            .iter()
            .enumerate()
            .filter(|(_, e)| e.churn)
            .map(|(i, _)| Port {
                ep: i,
                configured: true,
                driver: drivers[i],
                vlan: Vlan::Access10,
                down_until: None,
            })
            .collect();
        let log_at = std::fs::metadata(d.log_path())
            .map(|m| m.len())
            .unwrap_or(0);
        Churn {
            d,
            lab,
            eps,
            ctl,
            rng: fastrand::Rng::with_seed(seed),
            flaps,
            ports,
            log_at,
            actions: BTreeMap::new(),
            touched: BTreeMap::new(),
            rebuilds: Vec::new(),
            errors: Vec::new(),
            log_alarms: Vec::new(),
            log_alarm_count: 0,
            slowest: Duration::ZERO,
            calls: 0,
            flood: Arc::new(FloodStats::default()),
        }
    }

    /// Runs random actions until `until` or until `stop()` says so.
    pub fn run(&mut self, until: Instant, mut stop: impl FnMut() -> bool) {
        while Instant::now() < until && !stop() {
            self.bring_up_due(false);
            self.step();
            std::thread::sleep(Duration::from_millis(self.rng.u64(50..300)));
        }
    }

    /// Puts every churn port back: interface up, configured, access VLAN
    /// 10, so each must forward again (checked by the caller).
    pub fn restore(&mut self) {
        self.bring_up_due(true);
        for p in 0..self.ports.len() {
            let start = self.ctl.ms();
            if !self.ports[p].configured {
                self.add(p);
            } else if self.ports[p].vlan != Vlan::Access10 {
                self.set_vlan(p, Vlan::Access10);
            }
            self.scan_log(start);
        }
    }

    fn bring_up_due(&mut self, all: bool) {
        let now = Instant::now();
        for p in 0..self.ports.len() {
            if self.ports[p].down_until.is_some_and(|t| all || t <= now) {
                let iface = self.eps[self.ports[p].ep].host.port_if.clone();
                self.ip(&["link", "set", &iface, "up"]);
                self.ports[p].down_until = None;
            }
        }
    }

    fn step(&mut self) {
        let p = self.rng.usize(0..self.ports.len());
        let (configured, up) = (self.ports[p].configured, self.ports[p].down_until.is_none());
        let kind = match self.rng.u32(0..100) {
            0..=11 if configured => "port.del",
            0..=11 if up => "port.add",
            12..=29 if configured => "port.set vlan",
            30..=39 if configured && up => "port.set driver",
            40..=51 => "fdb.flush",
            52..=59 => "clients",
            60..=71 if self.flaps && up => "link flap",
            72..=79 if self.flaps && up => "veth recreate",
            80..=87 if configured && up => "del, new veth, add",
            88..=99 if !configured && up => "port.add",
            _ => return,
        };
        let start = self.ctl.ms();
        match kind {
            "port.del" => self.del(p),
            "port.add" => self.add(p),
            "port.set vlan" => {
                let v = [
                    Vlan::Access10,
                    Vlan::Access30,
                    Vlan::TrunkNative10,
                    Vlan::Trunk30,
                ][self.rng.usize(0..4)];
                self.set_vlan(p, v);
            }
            "port.set driver" => {
                let to = if self.ports[p].driver == "afxdp" {
                    "packet"
                } else {
                    "afxdp"
                };
                let name = self.name(p);
                if self.call("port.set", json!({"name": name, "driver": to})) {
                    self.ports[p].driver = to;
                }
            }
            "fdb.flush" => {
                let params = match self.rng.u8(0..3) {
                    0 => json!({"all": true}),
                    1 => json!({"vlan": 10}),
                    _ => {
                        // Any port, stable ones too: their flows flood
                        // until relearned and must lose nothing.
                        let e = self.rng.usize(0..self.eps.len());
                        match self.ports.iter().find(|q| q.ep == e) {
                            Some(q) if !q.configured => json!({"all": true}),
                            _ => json!({"port": self.eps[e].port}),
                        }
                    }
                };
                self.call("fdb.flush", params);
            }
            "clients" => {
                let n = self.rng.usize(4..32);
                burst(&self.d.socket, self.rng.u64(..), n, &self.flood);
            }
            "link flap" => {
                let iface = self.eps[self.ports[p].ep].host.port_if.clone();
                self.ip(&["link", "set", &iface, "down"]);
                let for_ms = self.rng.u64(200..2000);
                self.ports[p].down_until = Some(Instant::now() + Duration::from_millis(for_ms));
            }
            "veth recreate" => self.rewire(p),
            _ => {
                // An interface that goes away and comes back is re-added.
                self.del(p);
                self.rewire(p);
                self.add(p);
            }
        }
        *self.actions.entry(kind).or_default() += 1;
        if kind != "fdb.flush" && kind != "clients" {
            *self.touched.entry(self.name(p)).or_default() += 1;
        }
        self.scan_log(start);
    }

    fn name(&self, p: usize) -> String {
        self.eps[self.ports[p].ep].port.clone()
    }

    fn del(&mut self, p: usize) {
        let name = self.name(p);
        if self.call("port.del", json!({"name": name})) {
            self.ports[p].configured = false;
        }
    }

    fn add(&mut self, p: usize) {
        let driver = ["afxdp", "packet"][self.rng.usize(0..2)];
        let worker = self.rng.usize(0..2);
        let ep = &self.eps[self.ports[p].ep];
        let params = json!({"name": ep.port, "iface": ep.host.port_if, "vlan": 10,
            "driver": driver, "worker": worker});
        if self.call("port.add", params) {
            let q = &mut self.ports[p];
            (q.configured, q.driver, q.vlan) = (true, driver, Vlan::Access10);
        }
    }

    fn set_vlan(&mut self, p: usize, v: Vlan) {
        let mut params = v.params();
        params["name"] = json!(self.name(p));
        if self.call("port.set", params) {
            self.ports[p].vlan = v;
        }
    }

    fn rewire(&mut self, p: usize) {
        let ep = &self.eps[self.ports[p].ep];
        if let Err(e) = self.lab.rewire(&ep.host) {
            self.errors
                .push(format!("making {} again: {e}", ep.host.port_if));
        }
        ep.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn ip(&mut self, args: &[&str]) {
        let (ok, out, err) = crate::sh("ip", args);
        if !ok {
            self.errors
                .push(format!("ip {}: {err}{out}", args.join(" ")));
        }
    }

    /// One control call; a refusal for too many clients is retried (an
    /// operator would), any other error is recorded. True on success.
    fn call(&mut self, method: &str, params: Value) -> bool {
        let t0 = Instant::now();
        self.calls += 1;
        let r = loop {
            match self.d.call(method, params.clone()) {
                Err((-32003, m)) if m.contains("too many") && t0.elapsed().as_secs() < 10 => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                r => break r,
            }
        };
        self.slowest = self.slowest.max(t0.elapsed());
        match r {
            Ok(_) => true,
            Err((code, m)) => {
                if self.errors.len() < 20 {
                    self.errors
                        .push(format!("{method} {params}: error {code}: {m}"));
                }
                false
            }
        }
    }

    /// Reads the daemon's log written since the last look: UMEM rebuilds
    /// (with the window from `start` to now) and alarms.
    fn scan_log(&mut self, start: u32) {
        let Ok(mut f) = std::fs::File::open(self.d.log_path()) else {
            return;
        };
        let mut new = String::new();
        if f.seek(SeekFrom::Start(self.log_at)).is_err() || f.read_to_string(&mut new).is_err() {
            return;
        }
        // Only whole lines; the rest is read next time.
        let Some(end) = new.rfind('\n') else {
            return;
        };
        self.log_at += end as u64 + 1;
        let end_ms = self.ctl.ms();
        for line in strip_ansi(&new[..=end]).lines() {
            if line.contains("rebuilding the worker's UMEM") {
                let worker = line
                    .split("worker=")
                    .nth(1)
                    .and_then(|w| w.split(|c: char| !c.is_ascii_digit()).next())
                    .and_then(|w| w.parse().ok())
                    .unwrap_or(usize::MAX);
                self.rebuilds.push(Rebuild {
                    worker,
                    from_ms: start.saturating_sub(BEFORE),
                    to_ms: end_ms + AFTER,
                });
            }
            if line.contains("ERROR") || line.contains("panicked") {
                self.log_alarm_count += 1;
                if self.log_alarms.len() < 10 {
                    self.log_alarms.push(line.to_string());
                }
            }
        }
    }
}

//! The pure check: how the settings of a parsed file fit together, into
//! engine types. No system calls (no CPUs, groups or interfaces: that is
//! [`super::probe`]), so it is unit-tested without a kernel.

use std::collections::HashSet;

use vswitch_dataplane::fdb::FdbConfig;
use vswitch_dataplane::limits::{FDB_CAPACITY_RANGE, MAX_AGING_SECS, MAX_PORTS};
use vswitch_dataplane::{Mac, PortConfig, PortId, VlanId};

use super::locate::{locate, Seg};
use super::{ConfigError, ConfigFile};
use crate::model::mirror::MirrorSettings;
use crate::model::port::{
    check_iface, check_mtu_carried, check_port_name, DriverName, PortSettings,
};
use crate::model::switch::{FdbSettings, SwitchSettings};
use vswitch_dataplane::mirror::MirrorSession;
use vswitch_dataplane::port::Driver;

/// A port after the check: its settings, its id, its engine config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidPort {
    /// As configured.
    pub settings: PortSettings,
    /// Its id in the switch (file order).
    pub id: PortId,
    /// How it switches.
    pub config: PortConfig,
}

/// A configuration whose settings fit together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidConfig {
    /// `[switch]` as configured.
    pub switch: SwitchSettings,
    /// `[fdb]` as configured, static entries included.
    pub fdb: FdbSettings,
    /// Worker CPUs, each listed once (whether they exist is a probe).
    pub workers: Vec<usize>,
    /// FDB capacity, in range.
    pub fdb_capacity: usize,
    /// FDB aging, in range.
    pub fdb_aging_secs: u32,
    /// Ports in file order (port ids 0, 1, ...).
    pub ports: Vec<ValidPort>,
    /// Static entries in engine terms.
    pub statics: Vec<(VlanId, Mac, PortId)>,
    /// Mirror sessions as configured and in engine terms.
    pub mirrors: Vec<(MirrorSettings, MirrorSession)>,
}

impl ValidConfig {
    /// The FDB's engine config, with a per-run hash seed (so MACs that
    /// collide in one run do not in the next).
    pub fn fdb_config(&self) -> FdbConfig {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(std::process::id() as u64);
        FdbConfig {
            capacity: self.fdb_capacity,
            aging_secs: self.fdb_aging_secs,
            seed: h.finish(),
        }
    }

    /// The file these settings make.
    pub fn file(&self) -> ConfigFile {
        ConfigFile {
            switch: self.switch.clone(),
            fdb: self.fdb.clone(),
            ports: self.ports.iter().map(|p| p.settings.clone()).collect(),
            mirrors: self.mirrors.iter().map(|(m, _)| m.clone()).collect(),
        }
    }
}

/// Longest control-connection timeout accepted, in seconds (a day).
const MAX_CONTROL_SECS: i64 = 86_400;

/// An error at `path` in the file; a missing key is reported at its table.
pub(super) fn at(src: Option<&str>, path: &[Seg<'_>], key: String, msg: String) -> ConfigError {
    ConfigError {
        line: (1..=path.len()).rev().find_map(|n| locate(src, &path[..n])),
        key,
        message: msg,
    }
}

/// Checks a parsed file. `src` (the text) is only used to find lines.
pub fn check(file: ConfigFile, src: Option<&str>) -> Result<ValidConfig, ConfigError> {
    let workers = check_switch(&file.switch, src)?;
    let (fdb_capacity, fdb_aging_secs) = check_fdb(&file.fdb, src)?;
    let ports = check_ports(file.ports, src)?;
    check_policies(&file.fdb, &ports, fdb_capacity, src)?;
    let statics = check_statics(&file.fdb, &ports, src)?;
    let mirrors = super::mirror::check_mirrors(file.mirrors, &ports, &statics, src)?;
    Ok(ValidConfig {
        switch: file.switch,
        fdb: file.fdb,
        workers,
        fdb_capacity,
        fdb_aging_secs,
        ports,
        statics,
        mirrors,
    })
}

fn check_switch(s: &SwitchSettings, src: Option<&str>) -> Result<Vec<usize>, ConfigError> {
    let here = [Seg::Key("switch"), Seg::Key("workers")];
    let err = |m: String| at(src, &here, "switch.workers".into(), m);
    if s.workers.is_empty() {
        return Err(err("needs at least one CPU".into()));
    }
    let mut workers = Vec::new();
    for &w in &s.workers {
        let cpu = usize::try_from(w).map_err(|_| err(format!("CPU {w} does not exist")))?;
        if workers.contains(&cpu) {
            return Err(err(format!(
                "CPU {cpu} is listed twice: two workers on one CPU only slow each other down"
            )));
        }
        workers.push(cpu);
    }
    for (i, pattern) in s.allowed_interfaces.iter().enumerate() {
        if let Err(e) = glob::Pattern::new(pattern)
            .map_err(|e| e.to_string())
            .and_then(|_| {
                if pattern.is_empty() {
                    Err("an empty pattern".into())
                } else {
                    Ok(())
                }
            })
        {
            return Err(at(
                src,
                &[
                    Seg::Key("switch"),
                    Seg::Key("allowed_interfaces"),
                    Seg::Index(i),
                ],
                "switch.allowed_interfaces".into(),
                format!("invalid interface pattern {pattern:?}: {e}"),
            ));
        }
    }
    for (key, value) in [
        ("control_idle_secs", s.control_idle_secs),
        ("control_read_secs", s.control_read_secs),
    ] {
        if !(1..=MAX_CONTROL_SECS).contains(&value) {
            return Err(at(
                src,
                &[Seg::Key("switch"), Seg::Key(key)],
                format!("switch.{key}"),
                format!("{value} is out of range (1-{MAX_CONTROL_SECS})"),
            ));
        }
    }
    if let Err(m) = crate::model::switch::check_max_sleep_us(s.max_sleep_us) {
        return Err(at(
            src,
            &[Seg::Key("switch"), Seg::Key("max_sleep_us")],
            "switch.max_sleep_us".into(),
            m,
        ));
    }
    if let Some(Err(m)) = s
        .metrics_listen
        .as_deref()
        .map(crate::metrics::parse_listen)
    {
        return Err(at(
            src,
            &[Seg::Key("switch"), Seg::Key("metrics_listen")],
            "switch.metrics_listen".into(),
            m,
        ));
    }
    if s.control_socket.as_os_str().is_empty() || !s.control_socket.is_absolute() {
        return Err(at(
            src,
            &[Seg::Key("switch"), Seg::Key("control_socket")],
            "switch.control_socket".into(),
            "must be an absolute path".into(),
        ));
    }
    Ok(workers)
}

fn check_fdb(f: &FdbSettings, src: Option<&str>) -> Result<(usize, u32), ConfigError> {
    let capacity = usize::try_from(f.capacity)
        .ok()
        .filter(|c| FDB_CAPACITY_RANGE.contains(c))
        .ok_or_else(|| {
            at(
                src,
                &[Seg::Key("fdb"), Seg::Key("capacity")],
                "fdb.capacity".into(),
                format!(
                    "{} is out of range ({}-{})",
                    f.capacity,
                    FDB_CAPACITY_RANGE.start(),
                    FDB_CAPACITY_RANGE.end()
                ),
            )
        })?;
    let aging_secs = u32::try_from(f.aging_secs)
        .ok()
        .filter(|&a| a <= MAX_AGING_SECS)
        .ok_or_else(|| {
            at(
                src,
                &[Seg::Key("fdb"), Seg::Key("aging_secs")],
                "fdb.aging_secs".into(),
                format!(
                    "{} is out of range (0-{MAX_AGING_SECS}; 0 disables aging)",
                    f.aging_secs
                ),
            )
        })?;
    Ok((capacity, aging_secs))
}

fn check_ports(
    settings: Vec<PortSettings>,
    src: Option<&str>,
) -> Result<Vec<ValidPort>, ConfigError> {
    if settings.len() > MAX_PORTS {
        return Err(ConfigError::new(
            "port",
            format!("{} ports configured; at most {MAX_PORTS}", settings.len()),
        ));
    }
    let mut names = HashSet::new();
    let mut ifaces = HashSet::new();
    let mut ports = Vec::new();
    for (i, p) in settings.into_iter().enumerate() {
        let here = |key: &'static str| [Seg::Key("port"), Seg::Index(i), Seg::Key(key)];
        let err = |key: &'static str, label: String, m: String| at(src, &here(key), label, m);
        let label = format!("port {:?}", p.name);
        check_port_name(&p.name).map_err(|m| err("name", format!("port[{i}].name"), m))?;
        check_iface(&p.iface).map_err(|m| err("iface", format!("{label}.iface"), m))?;
        if !names.insert(p.name.clone()) {
            return Err(err(
                "name",
                format!("{label}.name"),
                "another port has this name".into(),
            ));
        }
        if !ifaces.insert(p.iface.clone()) {
            return Err(err(
                "iface",
                format!("{label}.iface"),
                format!("interface {} is already used by another port", p.iface),
            ));
        }
        let config = p.engine_config().map_err(|e| {
            // A nested key (`shaping.egress.peak_bps`) is found by its path.
            let mut path = vec![Seg::Key("port"), Seg::Index(i)];
            path.extend(e.key.split('.').map(Seg::Key));
            at(src, &path, format!("{label}.{}", e.key), e.message)
        })?;
        // A driver named outright: whether it carries the mtu needs no
        // interface (`auto` is the probe's: it depends on the interface).
        let named = match p.driver {
            DriverName::AfXdp => Some(Driver::AfXdp),
            DriverName::Packet => Some(Driver::Packet),
            DriverName::Auto => None,
        };
        if let (Some(d), Some(m)) = (named, p.mtu) {
            check_mtu_carried(d, d.frame_capacity(), m.get())
                .map_err(|m| err("mtu", format!("{label}.mtu"), m))?;
        }
        ports.push(ValidPort {
            settings: p,
            id: PortId::new(i).expect("checked against MAX_PORTS"),
            config,
        });
    }
    Ok(ports)
}

fn check_statics(
    f: &FdbSettings,
    ports: &[ValidPort],
    src: Option<&str>,
) -> Result<Vec<(VlanId, Mac, PortId)>, ConfigError> {
    let mut statics = Vec::new();
    for (i, e) in f.statics.iter().enumerate() {
        let err = |key: &'static str, m: String| {
            at(
                src,
                &[
                    Seg::Key("fdb"),
                    Seg::Key("static"),
                    Seg::Index(i),
                    Seg::Key(key),
                ],
                format!("fdb.static[{i}].{key}"),
                m,
            )
        };
        let (mac, vlan) = (e.mac.mac(), e.vlan.id());
        if !mac.is_learnable() {
            return Err(err(
                "mac",
                format!("{mac} is a group or zero address; static entries need a unicast MAC"),
            ));
        }
        let port = ports
            .iter()
            .find(|p| p.settings.name == e.port)
            .ok_or_else(|| err("port", format!("no port named {:?}", e.port)))?;
        if !port.config.vlan.carries(vlan) {
            return Err(err(
                "vlan",
                format!("port {:?} does not carry VLAN {vlan}", e.port),
            ));
        }
        if statics.iter().any(|&(v, m, _)| v == vlan && m == mac) {
            return Err(err(
                "mac",
                format!("{mac} in VLAN {vlan} has two static entries"),
            ));
        }
        statics.push((vlan, mac, port.id));
    }
    Ok(statics)
}

/// `[fdb.move_guard]`, and each port's `max_macs` against the capacity.
fn check_policies(
    f: &FdbSettings,
    ports: &[ValidPort],
    capacity: usize,
    src: Option<&str>,
) -> Result<(), ConfigError> {
    if let Err((key, m)) = f.move_guard.check() {
        return Err(at(
            src,
            &[Seg::Key("fdb"), Seg::Key("move_guard"), Seg::Key(key)],
            format!("fdb.move_guard.{key}"),
            m,
        ));
    }
    for (i, p) in ports.iter().enumerate() {
        if let Err(e) = crate::model::policy::check_max_macs(&p.settings, capacity) {
            return Err(at(
                src,
                &[Seg::Key("port"), Seg::Index(i), Seg::Key(e.key)],
                format!("port {:?}.{}", p.settings.name, e.key),
                e.message,
            ));
        }
    }
    Ok(())
}

//! The configuration file (TOML): serde types that mirror the file
//! exactly (`deny_unknown_fields`), and validation into engine types that
//! cannot hold invalid values. Every error names the key, the line and
//! why; nothing is half-applied.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vswitch_dataplane::fdb::FdbConfig;
use vswitch_dataplane::limits::{FDB_CAPACITY_RANGE, MAX_AGING_SECS, MAX_PORTS};
use vswitch_dataplane::{Mac, PortConfig, PortId, VlanId, VlanMode, VlanSet};

/// Where vswitchd listens unless the config says otherwise.
pub const DEFAULT_SOCKET: &str = "/run/vswitch/vswitchd.sock";

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `[switch]`
    #[serde(default)]
    pub switch: SwitchSection,
    /// `[fdb]`
    #[serde(default)]
    pub fdb: FdbSection,
    /// `[[port]]` tables, in file order.
    #[serde(default, rename = "port", skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortSection>,
}

/// `[switch]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchSection {
    /// Unix socket path of the control API.
    #[serde(default = "default_socket")]
    pub control_socket: PathBuf,
    /// Group whose members may use the socket besides root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_group: Option<String>,
    /// CPUs to pin poll workers to, one worker each.
    #[serde(default = "default_workers")]
    pub workers: Vec<i64>,
}

impl Default for SwitchSection {
    fn default() -> Self {
        SwitchSection {
            control_socket: default_socket(),
            control_group: None,
            workers: default_workers(),
        }
    }
}

fn default_socket() -> PathBuf {
    PathBuf::from(DEFAULT_SOCKET)
}

fn default_workers() -> Vec<i64> {
    vec![0]
}

/// `[fdb]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FdbSection {
    /// Most MAC entries.
    #[serde(default = "default_capacity")]
    pub capacity: i64,
    /// Seconds an idle entry lives; 0 = never ages.
    #[serde(default = "default_aging")]
    pub aging_secs: i64,
    /// `[[fdb.static]]` entries.
    #[serde(default, rename = "static", skip_serializing_if = "Vec::is_empty")]
    pub statics: Vec<StaticEntry>,
}

impl Default for FdbSection {
    fn default() -> Self {
        FdbSection {
            capacity: default_capacity(),
            aging_secs: default_aging(),
            statics: Vec::new(),
        }
    }
}

fn default_capacity() -> i64 {
    65536
}

fn default_aging() -> i64 {
    300
}

/// `[[fdb.static]]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticEntry {
    /// `aa:bb:cc:dd:ee:ff`
    pub mac: String,
    /// VLAN of the entry.
    pub vlan: i64,
    /// Name of the port it is on.
    pub port: String,
}

/// `vlan_mode`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum VlanModeName {
    /// Untagged in one VLAN.
    #[default]
    Access,
    /// Tagged VLANs plus an optional native one.
    Trunk,
    /// Every VLAN tagged (ESXi VGT).
    Guest,
}

impl std::fmt::Display for VlanModeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VlanModeName::Access => "access",
            VlanModeName::Trunk => "trunk",
            VlanModeName::Guest => "guest",
        })
    }
}

/// `[[port]]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortSection {
    /// Switch-side name used by vswitchctl.
    pub name: String,
    /// Kernel interface.
    pub iface: String,
    /// access | trunk | guest
    #[serde(default)]
    pub vlan_mode: VlanModeName,
    /// Access VLAN, or the trunk/guest native VLAN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<i64>,
    /// Trunk only: allowed VLANs, e.g. "10,20,100-199" (default 1-4094).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trunk_vlans: Option<String>,
    /// Receive a copy of everything forwarded in its VLANs.
    #[serde(default)]
    pub promiscuous: bool,
    /// Learn source MACs.
    #[serde(default = "yes")]
    pub learning: bool,
    /// Receive unknown-unicast floods.
    #[serde(default = "yes")]
    pub flood_unknown_unicast: bool,
}

fn yes() -> bool {
    true
}

/// A configuration error: where, which key, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The key, e.g. `port "vm1".vlan` or `switch.workers`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}: {}", self.key, self.message),
            None => write!(f, "{}: {}", self.key, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            line: None,
            key: key.into(),
            message: message.into(),
        }
    }
}

/// A port after validation, in engine terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidPort {
    /// Its name.
    pub name: String,
    /// Its interface.
    pub iface: String,
    /// Its id in the switch.
    pub id: PortId,
    /// How it switches.
    pub config: PortConfig,
}

/// A configuration that cannot be wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidConfig {
    /// Control socket path.
    pub control_socket: PathBuf,
    /// Group allowed on the socket, with its id.
    pub control_group: Option<(String, u32)>,
    /// Worker CPUs.
    pub workers: Vec<usize>,
    /// FDB settings.
    pub fdb: FdbConfig,
    /// Ports in file order (port ids 0, 1, ...).
    pub ports: Vec<ValidPort>,
    /// Static entries.
    pub statics: Vec<(VlanId, Mac, PortId)>,
}

/// Reads, parses and validates a file.
pub fn load(path: &Path) -> Result<(ConfigFile, ValidConfig), ConfigError> {
    let src = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(path.display().to_string(), e.to_string()))?;
    let file = parse(&src)?;
    let valid = validate(&file, Some(&src))?;
    Ok((file, valid))
}

/// Parses TOML text (syntax, types, unknown keys).
pub fn parse(src: &str) -> Result<ConfigFile, ConfigError> {
    toml::from_str::<ConfigFile>(src).map_err(|e| {
        let line = e.span().map(|s| line_of(src, s.start));
        let key = e
            .span()
            .and_then(|s| src.get(s.clone()))
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty() && k.len() < 60 && !k.contains('\n'))
            .unwrap_or_else(|| "config".to_string());
        ConfigError {
            line,
            key,
            message: e.message().trim().to_string(),
        }
    })
}

fn line_of(src: &str, offset: usize) -> usize {
    src[..offset.min(src.len())].matches('\n').count() + 1
}

/// Finds the line of a key in the source, for errors found after parsing:
/// `[table, index?, key]` paths such as `port`, 2, `vlan`.
fn locate(src: Option<&str>, path: &[Seg<'_>]) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let src = src?;
    let doc = DeTable::parse(src).ok()?;
    let mut table = doc.get_ref();
    let mut span = doc.span();
    let mut i = 0;
    while i < path.len() {
        let Seg::Key(k) = path[i] else { return None };
        let (key, value) = table.iter().find(|(key, _)| key.get_ref().as_ref() == k)?;
        span = key.span();
        i += 1;
        let mut v = value.get_ref();
        if let Some(Seg::Index(n)) = path.get(i) {
            let DeValue::Array(items) = v else {
                return None;
            };
            let item = items.get(*n)?;
            span = item.span();
            v = item.get_ref();
            i += 1;
        }
        if i < path.len() {
            let DeValue::Table(t) = v else { return None };
            table = t;
        }
    }
    Some(line_of(src, span.start))
}

enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

fn vlan_id(v: i64) -> Result<VlanId, String> {
    VlanId::try_from(v).map_err(|e| e.to_string())
}

/// Turns a `[[port]]` into the engine's port config, or says which key is
/// wrong and why. Used for the file and for `port.add` / `port.set`.
pub fn port_config(p: &PortSection) -> Result<PortConfig, (&'static str, String)> {
    let vlan = p.vlan.map(vlan_id).transpose().map_err(|e| ("vlan", e))?;
    let mode = match p.vlan_mode {
        VlanModeName::Access => {
            if p.trunk_vlans.is_some() {
                return Err(("trunk_vlans", "only trunk ports take trunk_vlans".into()));
            }
            VlanMode::Access(vlan.ok_or(("vlan", "access ports need a vlan".to_string()))?)
        }
        VlanModeName::Trunk => {
            let allowed = match &p.trunk_vlans {
                Some(s) => s
                    .parse::<VlanSet>()
                    .map_err(|e| ("trunk_vlans", e.to_string()))?,
                None => VlanSet::all(),
            };
            VlanMode::Trunk {
                allowed,
                native: vlan,
            }
        }
        VlanModeName::Guest => {
            if p.trunk_vlans.is_some() {
                return Err((
                    "trunk_vlans",
                    "guest ports carry every VLAN; use vlan_mode = \"trunk\" to restrict".into(),
                ));
            }
            VlanMode::Guest { native: vlan }
        }
    };
    let mut c = PortConfig::new(mode);
    c.promiscuous = p.promiscuous;
    c.learning = p.learning;
    c.flood_unknown_unicast = p.flood_unknown_unicast;
    Ok(c)
}

/// Checks a port name: what vswitchctl and JSON use to name it.
pub fn check_port_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid port name {name:?}: use 1-32 letters, digits, '-', '_' or '.'"
        ))
    }
}

/// Checks an interface name the way the kernel does (IFNAMSIZ).
pub fn check_iface(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() < 16
        && !name.contains(['/', ' ', '\0', ':'])
        && name != "."
        && name != "..";
    if ok {
        Ok(())
    } else {
        Err(format!("invalid interface name {name:?}"))
    }
}

/// Validates a parsed file. `src` (the text) is only used to find lines.
pub fn validate(file: &ConfigFile, src: Option<&str>) -> Result<ValidConfig, ConfigError> {
    // A missing key is reported at its table.
    let at = |path: &[Seg<'_>], key: String, msg: String| ConfigError {
        line: (1..=path.len()).rev().find_map(|n| locate(src, &path[..n])),
        key,
        message: msg,
    };
    // [switch]
    let s = &file.switch;
    if s.workers.is_empty() {
        return Err(at(
            &[Seg::Key("switch"), Seg::Key("workers")],
            "switch.workers".into(),
            "needs at least one CPU".into(),
        ));
    }
    let cpus = core_affinity::get_core_ids().map(|c| c.len()).unwrap_or(1);
    let mut workers = Vec::new();
    for &w in &s.workers {
        let cpu = usize::try_from(w)
            .ok()
            .filter(|&c| c < cpus)
            .ok_or_else(|| {
                at(
                    &[Seg::Key("switch"), Seg::Key("workers")],
                    "switch.workers".into(),
                    format!(
                        "CPU {w} does not exist (this machine has CPUs 0-{})",
                        cpus - 1
                    ),
                )
            })?;
        if workers.contains(&cpu) {
            return Err(at(
                &[Seg::Key("switch"), Seg::Key("workers")],
                "switch.workers".into(),
                format!(
                    "CPU {cpu} is listed twice: two workers on one CPU only slow each other down"
                ),
            ));
        }
        workers.push(cpu);
    }
    if s.control_socket.as_os_str().is_empty() || !s.control_socket.is_absolute() {
        return Err(at(
            &[Seg::Key("switch"), Seg::Key("control_socket")],
            "switch.control_socket".into(),
            "must be an absolute path".into(),
        ));
    }
    let control_group = match &s.control_group {
        None => None,
        Some(g) => Some((
            g.clone(),
            group_id(g).ok_or_else(|| {
                at(
                    &[Seg::Key("switch"), Seg::Key("control_group")],
                    "switch.control_group".into(),
                    format!("group {g:?} does not exist"),
                )
            })?,
        )),
    };
    // [fdb]
    let f = &file.fdb;
    let capacity = usize::try_from(f.capacity)
        .ok()
        .filter(|c| FDB_CAPACITY_RANGE.contains(c))
        .ok_or_else(|| {
            at(
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
                &[Seg::Key("fdb"), Seg::Key("aging_secs")],
                "fdb.aging_secs".into(),
                format!(
                    "{} is out of range (0-{MAX_AGING_SECS}; 0 disables aging)",
                    f.aging_secs
                ),
            )
        })?;
    // [[port]]
    if file.ports.len() > MAX_PORTS {
        return Err(ConfigError::new(
            "port",
            format!("{} ports configured; at most {MAX_PORTS}", file.ports.len()),
        ));
    }
    let mut names = HashSet::new();
    let mut ifaces = HashSet::new();
    let mut ports = Vec::new();
    for (i, p) in file.ports.iter().enumerate() {
        let here = |key: &'static str| [Seg::Key("port"), Seg::Index(i), Seg::Key(key)];
        let label = format!("port {:?}", p.name);
        check_port_name(&p.name).map_err(|m| at(&here("name"), format!("port[{i}].name"), m))?;
        check_iface(&p.iface).map_err(|m| at(&here("iface"), format!("{label}.iface"), m))?;
        if !names.insert(p.name.as_str()) {
            return Err(at(
                &here("name"),
                format!("{label}.name"),
                "another port has this name".into(),
            ));
        }
        if !ifaces.insert(p.iface.as_str()) {
            return Err(at(
                &here("iface"),
                format!("{label}.iface"),
                format!("interface {} is already used by another port", p.iface),
            ));
        }
        let config =
            port_config(p).map_err(|(key, m)| at(&here(key), format!("{label}.{key}"), m))?;
        ports.push(ValidPort {
            name: p.name.clone(),
            iface: p.iface.clone(),
            id: PortId::new(i).expect("checked against MAX_PORTS"),
            config,
        });
    }
    // [[fdb.static]]
    let mut statics = Vec::new();
    for (i, e) in f.statics.iter().enumerate() {
        let here = |key: &'static str| {
            [
                Seg::Key("fdb"),
                Seg::Key("static"),
                Seg::Index(i),
                Seg::Key(key),
            ]
        };
        let key = |k: &str| format!("fdb.static[{i}].{k}");
        let mac: Mac = e
            .mac
            .parse()
            .map_err(|err: vswitch_dataplane::wire::MacParseError| {
                at(&here("mac"), key("mac"), err.to_string())
            })?;
        if !mac.is_learnable() {
            return Err(at(
                &here("mac"),
                key("mac"),
                format!("{mac} is a group or zero address; static entries need a unicast MAC"),
            ));
        }
        let vlan = vlan_id(e.vlan).map_err(|m| at(&here("vlan"), key("vlan"), m))?;
        let port = ports.iter().find(|p| p.name == e.port).ok_or_else(|| {
            at(
                &here("port"),
                key("port"),
                format!("no port named {:?}", e.port),
            )
        })?;
        if !port.config.vlan.carries(vlan) {
            return Err(at(
                &here("vlan"),
                key("vlan"),
                format!("port {:?} does not carry VLAN {vlan}", e.port),
            ));
        }
        if statics.iter().any(|&(v, m, _)| v == vlan && m == mac) {
            return Err(at(
                &here("mac"),
                key("mac"),
                format!("{mac} in VLAN {vlan} has two static entries"),
            ));
        }
        statics.push((vlan, mac, port.id));
    }
    Ok(ValidConfig {
        control_socket: s.control_socket.clone(),
        control_group,
        workers,
        fdb: FdbConfig {
            capacity,
            aging_secs,
            seed: seed(),
        },
        ports,
        statics,
    })
}

/// A per-run hash seed, so MACs that collide in one run do not in the next.
fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id() as u64);
    h.finish()
}

/// The numeric id of a group, if it exists.
pub fn group_id(name: &str) -> Option<u32> {
    let cname = std::ffi::CString::new(name).ok()?;
    let mut grp: libc::group = unsafe_zeroed_group();
    let mut buf = vec![0 as libc::c_char; 16384];
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: all pointers are to live locals of the declared sizes.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::getgrnam_r(
            cname.as_ptr(),
            &mut grp,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    (rc == 0 && !result.is_null()).then_some(grp.gr_gid)
}

#[allow(unsafe_code)]
fn unsafe_zeroed_group() -> libc::group {
    // SAFETY: libc::group is plain old data; getgrnam_r fills it.
    unsafe { std::mem::zeroed() }
}

/// Writes `file` as TOML (what `config.save` writes).
pub fn to_toml(file: &ConfigFile) -> String {
    toml::to_string_pretty(file).unwrap_or_default()
}

#[cfg(test)]
mod tests;

//! The `[switch]` and `[fdb]` settings, and static FDB entries (which are
//! also the params and result of `fdb.add`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::value::{MacAddr, Vlan};

/// Where vswitchd listens unless the config says otherwise.
pub const DEFAULT_SOCKET: &str = "/run/vswitch/vswitchd.sock";

/// `[switch]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchSettings {
    /// Unix socket path of the control API.
    #[serde(default = "default_socket")]
    pub control_socket: PathBuf,
    /// Group whose members may use the socket besides root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_group: Option<String>,
    /// CPUs to pin poll workers to, one worker each.
    #[serde(default = "default_workers")]
    pub workers: Vec<i64>,
    /// Interfaces (names or globs such as `vsw-*`) a `control_group`
    /// member may put a port on; on any other only root may (`port.add`,
    /// and a `port.set` that re-binds). Empty: root only.
    #[serde(default)]
    pub allowed_interfaces: Vec<String>,
    /// Seconds a control connection may wait before its next request
    /// begins before it is closed.
    #[serde(default = "default_idle")]
    pub control_idle_secs: i64,
    /// Seconds a control connection has to finish a request line it began.
    #[serde(default = "default_read")]
    pub control_read_secs: i64,
    /// How poll workers poll (changed live by `switch.set`).
    #[serde(default)]
    pub polling: PollingMode,
    /// Longest nap, in microseconds, of an adaptive worker whose batches
    /// come back small (0: never nap; changed live by `switch.set`).
    #[serde(default = "default_max_sleep")]
    pub max_sleep_us: i64,
    /// Address (`host:port`) of the HTTP `/metrics` endpoint (Prometheus
    /// text, as `stats.show`); absent: not served. Any address other than
    /// loopback exposes the counters to whoever reaches it: setting it is
    /// the explicit choice. Changes only with a restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<String>,
}

/// `switch.polling`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PollingMode {
    /// Spin while batches come back full, nap up to `max_sleep_us` while
    /// they come back small, sleep when idle: CPU follows the load.
    #[default]
    Adaptive,
    /// Spin always: the lowest latency, a whole core even when idle.
    Busy,
}

impl std::fmt::Display for PollingMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PollingMode::Adaptive => "adaptive",
            PollingMode::Busy => "busy",
        })
    }
}

impl std::str::FromStr for PollingMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "adaptive" => Ok(PollingMode::Adaptive),
            "busy" => Ok(PollingMode::Busy),
            _ => Err(format!("{s:?} is no polling mode (adaptive or busy)")),
        }
    }
}

/// Default of `max_sleep_us`.
pub const DEFAULT_MAX_SLEEP_US: i64 = 50;
/// Largest `max_sleep_us`.
pub const MAX_SLEEP_US: i64 = 1000;

fn default_max_sleep() -> i64 {
    DEFAULT_MAX_SLEEP_US
}

/// Params of `switch.set`: the `[switch]` settings that change live
/// (absent: unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchPatch {
    /// New polling mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polling: Option<PollingMode>,
    /// New longest nap, microseconds (0-1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sleep_us: Option<i64>,
    /// Not live: given, `switch.set` is refused (restart vswitchd).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<String>,
}

/// Checks `max_sleep_us` (the config check and `switch.set` share it).
pub fn check_max_sleep_us(v: i64) -> Result<(), String> {
    if (0..=MAX_SLEEP_US).contains(&v) {
        Ok(())
    } else {
        Err(format!("{v} is out of range (0-{MAX_SLEEP_US})"))
    }
}

impl SwitchSettings {
    /// Whether `iface` matches `allowed_interfaces` (patterns that do not
    /// parse match nothing; the config check refuses them).
    pub fn allows_interface(&self, iface: &str) -> bool {
        self.allowed_interfaces.iter().any(|p| {
            glob::Pattern::new(p).is_ok_and(|g| {
                g.matches_with(
                    iface,
                    glob::MatchOptions {
                        case_sensitive: true,
                        require_literal_separator: true,
                        require_literal_leading_dot: false,
                    },
                )
            })
        })
    }
}

/// Default of `control_idle_secs`.
pub const DEFAULT_CONTROL_IDLE_SECS: u64 = 60;
/// Default of `control_read_secs`.
pub const DEFAULT_CONTROL_READ_SECS: u64 = 10;

fn default_idle() -> i64 {
    DEFAULT_CONTROL_IDLE_SECS as i64
}

fn default_read() -> i64 {
    DEFAULT_CONTROL_READ_SECS as i64
}

impl Default for SwitchSettings {
    fn default() -> Self {
        SwitchSettings {
            control_socket: default_socket(),
            control_group: None,
            workers: default_workers(),
            allowed_interfaces: Vec::new(),
            control_idle_secs: default_idle(),
            control_read_secs: default_read(),
            polling: PollingMode::default(),
            max_sleep_us: default_max_sleep(),
            metrics_listen: None,
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
pub struct FdbSettings {
    /// Most MAC entries.
    #[serde(default = "default_capacity")]
    pub capacity: i64,
    /// Seconds an idle entry lives; 0 = never ages.
    #[serde(default = "default_aging")]
    pub aging_secs: i64,
    /// `[[fdb.static]]` entries.
    #[serde(default, rename = "static", skip_serializing_if = "Vec::is_empty")]
    pub statics: Vec<StaticEntry>,
    /// `[fdb.move_guard]`: MAC flapping detection and hold-down.
    #[serde(default)]
    pub move_guard: super::policy::MoveGuardSettings,
}

impl Default for FdbSettings {
    fn default() -> Self {
        FdbSettings {
            capacity: default_capacity(),
            aging_secs: default_aging(),
            statics: Vec::new(),
            move_guard: Default::default(),
        }
    }
}

fn default_capacity() -> i64 {
    65536
}

fn default_aging() -> i64 {
    300
}

/// `[[fdb.static]]`, and the params of `fdb.add`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticEntry {
    /// The MAC.
    pub mac: MacAddr,
    /// VLAN of the entry.
    pub vlan: Vlan,
    /// Name of the port it is on.
    pub port: String,
}

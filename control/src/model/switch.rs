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
}

impl Default for FdbSettings {
    fn default() -> Self {
        FdbSettings {
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

//! The params of each method, by name and strict (`deny_unknown_fields`),
//! typed at the edge: a VLAN or MAC that is wrong is refused while the
//! request is read. vswitchctl builds its requests from the same types.
//! `port.add` takes [`PortSettings`] plus `worker`; `port.set` takes
//! [`PortPatch`]; `fdb.add` takes [`StaticEntry`].
//!
//! [`PortSettings`]: crate::model::port::PortSettings
//! [`PortPatch`]: crate::model::port::PortPatch
//! [`StaticEntry`]: crate::model::switch::StaticEntry

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::model::value::{MacAddr, Vlan};

/// No params.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// `port.show`, `port.del`: a port's name.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Name {
    /// The port.
    pub name: String,
}

/// Entries in an `fdb.show` page unless `limit` says otherwise.
pub const FDB_PAGE_DEFAULT: usize = 1000;
/// Most entries in one `fdb.show` page: a page is built, as one JSON
/// answer, while the request holds the controller, so its size bounds
/// both the daemon's memory and how long other requests wait.
pub const FDB_PAGE_MAX: usize = 10_000;

/// `fdb.show`: filters, all optional, and where the page starts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FdbFilter {
    /// Most entries in the page (default [`FDB_PAGE_DEFAULT`], at most
    /// [`FDB_PAGE_MAX`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// The previous page's `next`; absent for the first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Only this VLAN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<Vlan>,
    /// Only this port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// Only this MAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
}

/// `fdb.del`: which entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FdbKey {
    /// Its MAC.
    pub mac: MacAddr,
    /// Its VLAN.
    pub vlan: Vlan,
}

/// `fdb.flush`: exactly one of `port`, `vlan` or `all`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FdbFlush {
    /// A port's entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// A VLAN's entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<Vlan>,
    /// Every entry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
    /// Static entries too (from the configuration as well).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_static: bool,
}

/// `stats.show`'s `format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatsFormat {
    /// The typed result, [`super::results::Stats`].
    #[default]
    Json,
    /// Prometheus text, [`super::results::PrometheusText`].
    Prometheus,
}

/// `stats.show`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsShow {
    /// json or prometheus.
    #[serde(default)]
    pub format: StatsFormat,
}

/// `config.save`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSave {
    /// Where to write (default: the file vswitchd started with).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
}

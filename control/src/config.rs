//! The configuration file (TOML): [`ConfigFile`] mirrors the file exactly
//! (`deny_unknown_fields`) in the typed model of [`crate::model`], so
//! values are parsed and range-checked while the file is read. Then two
//! steps: [`check`] (pure: how the settings fit together, into engine
//! types) and [`probe`] (the host: CPUs, the control group, interfaces).
//! Every error names the key, the line and why; nothing is half-applied.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::model::mirror::MirrorSettings;
use crate::model::port::PortSettings;
use crate::model::switch::{FdbSettings, SwitchSettings};

mod check;
mod locate;
mod mirror;
mod probe;
mod write;

pub use crate::model::switch::DEFAULT_SOCKET;
pub use check::{check, ValidConfig, ValidPort};
pub use probe::{group_id, owner_uid, probe, probe_interfaces, user_id, HostFacts};
pub use write::write_atomically;

/// The whole file; also the result of `config.show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `[switch]`
    #[serde(default)]
    pub switch: SwitchSettings,
    /// `[fdb]`
    #[serde(default)]
    pub fdb: FdbSettings,
    /// `[[port]]` tables, in file order.
    #[serde(default, rename = "port", skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortSettings>,
    /// `[[mirror]]` sessions, in file order.
    #[serde(default, rename = "mirror", skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<MirrorSettings>,
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

/// A file read, checked and probed (all but its interfaces: see
/// [`Loaded::probe_interfaces`], which `vswitchd --check` and the start
/// run).
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The checked configuration.
    pub config: ValidConfig,
    /// What the host said about it.
    pub host: HostFacts,
    /// The file's text, to find lines in.
    pub src: String,
}

impl Loaded {
    /// Checks that every port's interface exists; the error names the
    /// key and its line.
    pub fn probe_interfaces(&self) -> Result<(), ConfigError> {
        probe_interfaces(&self.config, Some(&self.src))
    }
}

/// Reads, parses, checks and probes a file.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let src = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(path.display().to_string(), e.to_string()))?;
    let file = parse(&src)?;
    let config = check(file, Some(&src))?;
    let host = probe(&config, Some(&src))?;
    Ok(Loaded { config, host, src })
}

/// Parses TOML text: syntax, types, unknown keys and every value (VLAN
/// ids, MACs, VLAN lists). The error names the key the way [`check`]
/// does (`port "vm1".vlan`).
pub fn parse(src: &str) -> Result<ConfigFile, ConfigError> {
    toml::from_str::<ConfigFile>(src).map_err(|e| {
        let line = e.span().map(|s| locate::line_of(src, s.start));
        let key = e
            .span()
            .and_then(|s| locate::key_at(src, s.start))
            .or_else(|| {
                e.span()
                    .and_then(|s| src.get(s))
                    .map(|k| k.trim().to_string())
                    .filter(|k| !k.is_empty() && k.len() < 60 && !k.contains('\n'))
            })
            .unwrap_or_else(|| "config".to_string());
        ConfigError {
            line,
            key,
            message: e.message().trim().to_string(),
        }
    })
}

/// Writes `file` as TOML (what `config.save` writes).
pub fn to_toml(file: &ConfigFile) -> String {
    toml::to_string_pretty(file).unwrap_or_default()
}

#[cfg(test)]
mod tests;

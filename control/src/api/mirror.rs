//! `mirror.add`, `mirror.del`, `mirror.list`, and the sessions' part of
//! `stats.show`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::params::Name;
use super::results::{MirrorInfo, MirrorStats};
use super::rpc::RpcError;
use crate::controller::{Controller, MirrorEntry};
use crate::model::mirror::MirrorSettings;

fn info(c: &Controller, e: &MirrorEntry) -> MirrorInfo {
    let n = c.mirror_counts(e);
    let s = &e.settings;
    MirrorInfo {
        name: s.name.clone(),
        sources: s.sources.clone(),
        direction: s.direction,
        vlans: s.vlans.clone(),
        output: s.output.clone(),
        stats: MirrorStats {
            copies: n.copies,
            dropped: n.dropped,
        },
    }
}

fn params<T: serde::de::DeserializeOwned>(method: &str, v: Value) -> Result<T, RpcError> {
    serde_json::from_value(v)
        .map_err(|e| RpcError::params(format!("{method}: invalid params: {e}")))
}

fn result<T: serde::Serialize>(r: &T) -> Result<Value, RpcError> {
    serde_json::to_value(r).map_err(|e| RpcError::failed(e.to_string()))
}

/// Runs one of the mirror methods.
pub(super) fn call(c: &mut Controller, method: &str, p: Value) -> Result<Value, RpcError> {
    match method {
        "mirror.add" => {
            let settings: MirrorSettings = params(method, p)?;
            let name = c.add_mirror(settings)?.settings.name.clone();
            let e = c.mirrors().iter().find(|m| m.settings.name == name);
            result(&e.map(|e| info(c, e)))
        }
        "mirror.del" => {
            let Name { name } = params(method, p)?;
            let e = c.remove_mirror(&name)?;
            result(&serde_json::json!({ "name": e.settings.name, "deleted": true }))
        }
        _ => {
            let super::params::Empty {} = params(method, p)?;
            result(&c.mirrors().iter().map(|e| info(c, e)).collect::<Vec<_>>())
        }
    }
}

/// Per-session counters for `stats.show`.
pub(super) fn stats(c: &Controller) -> BTreeMap<String, MirrorStats> {
    c.mirrors()
        .iter()
        .map(|e| {
            let n = c.mirror_counts(e);
            (
                e.settings.name.clone(),
                MirrorStats {
                    copies: n.copies,
                    dropped: n.dropped,
                },
            )
        })
        .collect()
}

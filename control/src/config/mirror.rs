//! The check of `[[mirror]]` tables: every session against the ports and
//! the sessions before it (`MirrorSettings::engine_session`), and no
//! static entry on an output. Errors name the key and its line.

use vswitch_dataplane::mirror::MirrorSession;
use vswitch_dataplane::{Mac, PortId, VlanId};

use super::check::{at, ValidPort};
use super::locate::Seg;
use super::ConfigError;
use crate::model::mirror::MirrorSettings;

pub(super) fn check_mirrors(
    settings: Vec<MirrorSettings>,
    ports: &[ValidPort],
    statics: &[(VlanId, Mac, PortId)],
    src: Option<&str>,
) -> Result<Vec<(MirrorSettings, MirrorSession)>, ConfigError> {
    let port_id = |name: &str| ports.iter().find(|p| p.settings.name == name).map(|p| p.id);
    let mut done: Vec<MirrorSettings> = Vec::new();
    let mut out = Vec::new();
    for (i, m) in settings.into_iter().enumerate() {
        let err = |key: &'static str, msg: String| {
            let label = if key == "name" {
                format!("mirror[{i}].name")
            } else {
                format!("mirror {:?}.{key}", m.name)
            };
            at(
                src,
                &[Seg::Key("mirror"), Seg::Index(i), Seg::Key(key)],
                label,
                msg,
            )
        };
        let session = m
            .engine_session(port_id, &done)
            .map_err(|r| err(r.key, r.message))?;
        if statics.iter().any(|&(_, _, p)| p == session.output) {
            return Err(err(
                "output",
                format!(
                    "port {:?} has static FDB entries; a mirror output takes only copies",
                    m.output
                ),
            ));
        }
        done.push(m.clone());
        out.push((m, session));
    }
    Ok(out)
}

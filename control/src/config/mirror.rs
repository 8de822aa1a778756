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

#[cfg(test)]
mod tests {
    use crate::config::{check, parse, ConfigError};

    const PORTS: &str = "[[port]]\nname = \"a\"\niface = \"va\"\nvlan = 10\n\n\
        [[port]]\nname = \"b\"\niface = \"vb\"\nvlan = 10\n\n\
        [[port]]\nname = \"c\"\niface = \"vc\"\nvlan = 10\n";

    fn load(extra: &str) -> Result<crate::config::ValidConfig, ConfigError> {
        let src = format!("{PORTS}\n{extra}");
        check(parse(&src)?, Some(&src))
    }

    fn refused(extra: &str) -> ConfigError {
        load(extra).expect_err("refused")
    }

    #[test]
    fn a_good_session_checks_and_shows() {
        let v = load(
            "[[mirror]]\nname = \"s\"\nsources = [\"a\", \"b\"]\ndirection = \"egress\"\n\
             vlans = \"10-20\"\noutput = \"c\"\n",
        )
        .unwrap();
        assert_eq!(v.mirrors.len(), 1);
        let toml = crate::config::to_toml(&v.file());
        assert!(
            toml.contains("[[mirror]]") && toml.contains("vlans = \"10-20\""),
            "{toml}"
        );
        // No session: the key is left out.
        assert!(!crate::config::to_toml(&load("").unwrap().file()).contains("mirror"));
    }

    #[test]
    fn bad_sessions_name_key_and_line() {
        // Lines: the ports take 1-14, the blank line 15, [[mirror]] 16.
        let e = refused("[[mirror]]\nname = \"s\"\nsources = [\"a\"]\noutput = \"zz\"\n");
        assert_eq!(
            (e.line, e.key.as_str()),
            (Some(19), "mirror \"s\".output"),
            "{e}"
        );
        let e = refused("[[mirror]]\nname = \"s\"\nsources = [\"zz\"]\noutput = \"c\"\n");
        assert_eq!(
            (e.line, e.key.as_str()),
            (Some(18), "mirror \"s\".sources"),
            "{e}"
        );
        let e = refused("[[mirror]]\nname = \"s\"\nsources = [\"a\", \"c\"]\noutput = \"c\"\n");
        assert!(
            e.key.ends_with(".output") && e.message.contains("source"),
            "{e}"
        );
        let e = refused(
            "[[mirror]]\nname = \"s\"\nsources = [\"a\"]\noutput = \"c\"\n\n\
             [[mirror]]\nname = \"s\"\nsources = [\"b\"]\noutput = \"a\"\n",
        );
        assert_eq!(
            (e.line, e.key.as_str()),
            (Some(22), "mirror[1].name"),
            "{e}"
        );
        let e = refused(
            "[[mirror]]\nname = \"s\"\nsources = [\"a\"]\ndirection = \"up\"\noutput = \"c\"\n",
        );
        assert!(e.key.contains("direction") && e.line == Some(19), "{e}");
        let e = refused(
            "[[mirror]]\nname = \"s\"\nsources = [\"a\"]\nvlans = \"5000\"\noutput = \"c\"\n",
        );
        assert!(e.key.contains("vlans") && e.line == Some(19), "{e}");
        let e = refused(
            "[[fdb.static]]\nmac = \"02:00:00:00:00:01\"\nvlan = 10\nport = \"c\"\n\n\
             [[mirror]]\nname = \"s\"\nsources = [\"a\"]\noutput = \"c\"\n",
        );
        assert!(
            e.key.ends_with(".output") && e.message.contains("static"),
            "{e}"
        );
        let e = refused("[switch]\nmetrics_listen = \"nowhere\"\n");
        assert_eq!(
            (e.line, e.key.as_str()),
            (Some(17), "switch.metrics_listen"),
            "{e}"
        );
    }
}

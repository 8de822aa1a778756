//! Mirror sessions (`[[mirror]]`, and the params of `mirror.add`): which
//! ports' traffic is copied, which way, in which VLANs, to which port.
//! The check that only needs the port names is here, shared by the
//! config check and `mirror.add`; the engine checks the rest
//! (`vswitch_dataplane::mirror::check`).

use serde::{Deserialize, Serialize};
use vswitch_dataplane::mirror::{MirrorDirection, MirrorSession};
use vswitch_dataplane::{PortId, PortSet};

use super::port::check_port_name;
use super::value::VlanList;

/// `direction` of a session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// What the sources receive, as received.
    Ingress,
    /// What the sources send, as sent (tags included).
    Egress,
    /// Both.
    #[default]
    Both,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
            Direction::Both => "both",
        })
    }
}

impl std::str::FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ingress" => Ok(Direction::Ingress),
            "egress" => Ok(Direction::Egress),
            "both" => Ok(Direction::Both),
            _ => Err(format!(
                "{s:?} is no mirror direction (ingress, egress or both)"
            )),
        }
    }
}

/// `[[mirror]]`, and the params of `mirror.add`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorSettings {
    /// The session's name.
    pub name: String,
    /// Ports whose traffic is copied (configured port names).
    pub sources: Vec<String>,
    /// Which way.
    #[serde(default)]
    pub direction: Direction,
    /// Only frames of these VLANs (`trunk_vlans` syntax); absent: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlans: Option<VlanList>,
    /// The analyser port (a configured port), which then takes only copies.
    pub output: String,
}

/// A refused session: the key (`sources`, `output`, ...) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorRefusal {
    /// The key at fault.
    pub key: &'static str,
    /// Why.
    pub message: String,
}

fn refuse(key: &'static str, message: String) -> MirrorRefusal {
    MirrorRefusal { key, message }
}

impl MirrorSettings {
    /// Checks the session against the port names (`port_id`), alone and
    /// beside `others` (the sessions already there), and converts it for
    /// the engine. What needs the FDB (static entries on the output) is
    /// the engine's check.
    pub fn engine_session(
        &self,
        port_id: impl Fn(&str) -> Option<PortId>,
        others: &[MirrorSettings],
    ) -> Result<MirrorSession, MirrorRefusal> {
        check_port_name(&self.name)
            .map_err(|m| refuse("name", m.replace("port name", "mirror name")))?;
        if others.iter().any(|o| o.name == self.name) {
            return Err(refuse(
                "name",
                format!("another mirror session is named {:?}", self.name),
            ));
        }
        if self.sources.is_empty() {
            return Err(refuse("sources", "give at least one source port".into()));
        }
        let mut sources = PortSet::EMPTY;
        for s in &self.sources {
            let id = port_id(s).ok_or_else(|| refuse("sources", format!("no port named {s:?}")))?;
            sources.insert(id);
        }
        let output = port_id(&self.output)
            .ok_or_else(|| refuse("output", format!("no port named {:?}", self.output)))?;
        if self.sources.contains(&self.output) {
            return Err(refuse(
                "output",
                format!(
                    "port {:?} is also a source: the output would copy its own copies",
                    self.output
                ),
            ));
        }
        if let Some(vl) = &self.vlans {
            if vl.set().is_empty() {
                return Err(refuse("vlans", "names no VLAN".into()));
            }
        }
        for o in others {
            if o.output == self.output {
                return Err(refuse(
                    "output",
                    format!(
                        "port {:?} is already the output of mirror session {:?}",
                        self.output, o.name
                    ),
                ));
            }
            if o.sources.contains(&self.output) {
                return Err(refuse(
                    "output",
                    format!(
                        "port {:?} is a source of mirror session {:?}",
                        self.output, o.name
                    ),
                ));
            }
            if let Some(s) = self.sources.iter().find(|s| **s == o.output) {
                return Err(refuse(
                    "sources",
                    format!(
                        "port {s:?} is the output of mirror session {:?}, which takes only copies",
                        o.name
                    ),
                ));
            }
        }
        Ok(MirrorSession {
            sources,
            direction: match self.direction {
                Direction::Ingress => MirrorDirection::Ingress,
                Direction::Egress => MirrorDirection::Egress,
                Direction::Both => MirrorDirection::Both,
            },
            vlans: self.vlans.as_ref().map(|v| v.set().clone()),
            output,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(name: &str) -> Option<PortId> {
        ["a", "b", "c", "d"]
            .iter()
            .position(|p| *p == name)
            .and_then(PortId::new)
    }

    fn m(name: &str, sources: &[&str], output: &str) -> MirrorSettings {
        MirrorSettings {
            name: name.into(),
            sources: sources.iter().map(|s| s.to_string()).collect(),
            direction: Direction::Both,
            vlans: None,
            output: output.into(),
        }
    }

    #[test]
    fn refusals_name_the_key() {
        let key = |r: Result<MirrorSession, MirrorRefusal>| r.unwrap_err().key;
        assert!(m("s", &["a"], "c").engine_session(ports, &[]).is_ok());
        assert_eq!(
            key(m("s", &["x"], "c").engine_session(ports, &[])),
            "sources"
        );
        assert_eq!(key(m("s", &[], "c").engine_session(ports, &[])), "sources");
        assert_eq!(
            key(m("s", &["a"], "x").engine_session(ports, &[])),
            "output"
        );
        assert_eq!(
            key(m("s", &["a", "c"], "c").engine_session(ports, &[])),
            "output"
        );
        assert_eq!(
            key(m("bad name", &["a"], "c").engine_session(ports, &[])),
            "name"
        );
        let others = [m("s", &["a"], "c")];
        assert_eq!(
            key(m("s", &["b"], "d").engine_session(ports, &others)),
            "name"
        );
        assert_eq!(
            key(m("t", &["b"], "c").engine_session(ports, &others)),
            "output"
        );
        assert_eq!(
            key(m("t", &["c"], "d").engine_session(ports, &others)),
            "sources"
        );
        assert_eq!(
            key(m("t", &["b"], "a").engine_session(ports, &others)),
            "output"
        );
        assert!(m("t", &["a", "b"], "d")
            .engine_session(ports, &others)
            .is_ok());
        assert!("sideways".parse::<Direction>().is_err());
    }
}

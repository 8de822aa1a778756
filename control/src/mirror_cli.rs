//! `vswitchctl mirror add|del|list`: the subcommand, its requests and
//! its tables (kept here so vswitchctl only routes to it).

use clap::Subcommand;
use serde_json::{json, Value};

use crate::api::results::MirrorInfo;
use crate::model::mirror::{Direction, MirrorSettings};
use crate::model::value::VlanList;
use crate::table::Table;

/// `vswitchctl mirror ...`
// Parsed once per run: a 512-byte VLAN bitmap inline costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum MirrorCmd {
    /// Mirror sessions with their counters.
    List,
    /// Adds a session, live: copies of the sources' traffic go to the output port.
    Add {
        /// Session name.
        #[arg(long)]
        name: String,
        /// A port whose traffic is copied (repeat for several).
        #[arg(long = "source", required = true)]
        sources: Vec<String>,
        /// ingress (as received), egress (as sent) or both.
        #[arg(long, default_value = "both", value_parser = |s: &str| s.parse::<Direction>())]
        direction: Direction,
        /// Only these VLANs (as trunk_vlans: 10,20,100-199).
        #[arg(long, value_parser = |s: &str| s.parse::<VlanList>())]
        vlans: Option<VlanList>,
        /// The analyser port; it then takes only copies.
        #[arg(long)]
        output: String,
    },
    /// Removes a session.
    Del {
        /// Session name.
        name: String,
    },
}

/// The method and params of a subcommand.
pub fn request(cmd: MirrorCmd) -> (&'static str, Value) {
    match cmd {
        MirrorCmd::List => ("mirror.list", json!({})),
        MirrorCmd::Add {
            name,
            sources,
            direction,
            vlans,
            output,
        } => (
            "mirror.add",
            serde_json::to_value(MirrorSettings {
                name,
                sources,
                direction,
                vlans,
                output,
            })
            .unwrap_or_default(),
        ),
        MirrorCmd::Del { name } => ("mirror.del", json!({ "name": name })),
    }
}

fn table(sessions: &[MirrorInfo]) -> String {
    let mut t = Table::new(&[
        "MIRROR",
        "SOURCES",
        "DIRECTION",
        "VLANS",
        "OUTPUT",
        ">COPIES",
        ">DROPPED",
    ]);
    for m in sessions {
        t.row(vec![
            m.name.clone(),
            m.sources.join(","),
            m.direction.to_string(),
            m.vlans
                .as_ref()
                .map_or_else(|| "all".into(), |v| v.to_string()),
            m.output.clone(),
            m.stats.copies.to_string(),
            m.stats.dropped.to_string(),
        ]);
    }
    t.to_string()
}

/// The table or line for a mirror method's result; `None` for another
/// method.
pub fn human(method: &str, r: &Value) -> Option<Result<String, String>> {
    let parse = |v: &Value| {
        serde_json::from_value::<Vec<MirrorInfo>>(v.clone())
            .map_err(|e| format!("unexpected {method} result from vswitchd: {e}"))
    };
    Some(match method {
        "mirror.list" => parse(r).map(|l| {
            if l.is_empty() {
                "no mirror sessions\n".into()
            } else {
                table(&l)
            }
        }),
        "mirror.add" => parse(&Value::Array(vec![r.clone()])).map(|l| table(&l)),
        "mirror.del" => Ok(format!(
            "deleted mirror session {}\n",
            r.get("name").and_then(Value::as_str).unwrap_or("?")
        )),
        _ => return None,
    })
}

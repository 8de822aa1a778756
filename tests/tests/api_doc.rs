//! docs/api.md against a real vswitchd: every method in `METHODS` has a
//! section, is called here, and the fields of its results are exactly the
//! ones its "Result" table names. A field the daemon sends that the
//! document does not name fails the test, and so does a documented field
//! no call returned. Run as root (it starts a daemon on veth ports).
//!
//! Field paths: `a.b` for object keys, `[]` for array items (`[].name`,
//! `workers[].cpu`), `*` for a map keyed by data such as port or reason
//! names (`ports.*.rx_packets`, `drops.*`), and `prefix{Name}` for the
//! fields of a shared object documented once in a `## Object` section.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use vswitch_control::api::methods::METHODS;
use vswitch_tests::daemon::Daemon;
use vswitch_tests::lab::Lab;
use vswitch_tests::serial;

/// The field rows of docs/api.md: per method (a `## \`name\`` section,
/// rows under its `### Result`) and per shared object (a `## Object
/// \`Name\`` section, all its rows).
type Rows = BTreeMap<String, Vec<String>>;

fn read_doc() -> (Rows, Rows) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api.md");
    let text = std::fs::read_to_string(path).expect("docs/api.md");
    let (mut methods, mut objects) = (Rows::new(), Rows::new());
    // (is an object, name), and whether rows count here.
    let mut section: Option<(bool, String)> = None;
    let mut counting = false;
    let name_of = |s: &str| {
        s.trim()
            .strip_prefix('`')
            .and_then(|m| m.strip_suffix('`'))
            .map(str::to_string)
    };
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            section = match h.strip_prefix("Object ") {
                Some(o) => name_of(o).map(|n| (true, n)),
                None => name_of(h).map(|n| (false, n)),
            };
            counting = section.as_ref().is_some_and(|(object, _)| *object);
            if let Some((object, n)) = &section {
                let rows = if *object { &mut objects } else { &mut methods };
                assert!(rows.insert(n.clone(), Vec::new()).is_none(), "{n} twice");
            }
        } else if let Some(h) = line.strip_prefix("### ") {
            counting = section.as_ref().is_some_and(|(o, _)| *o) || h.trim() == "Result";
        } else if let (Some((object, n)), true) = (&section, counting) {
            // A table row whose first cell is a `field path`.
            if let Some((field, _)) = line.strip_prefix("| `").and_then(|r| r.split_once('`')) {
                let rows = if *object { &mut objects } else { &mut methods };
                rows.get_mut(n).expect("section").push(field.to_string());
            }
        }
    }
    (methods, objects)
}

/// A method's field paths: its rows, with `prefix{Object}` rows replaced
/// by that object's fields under `prefix` (and `prefix` itself, less a
/// trailing `[]`, when not empty).
fn expand(rows: &[String], objects: &Rows, out: &mut BTreeSet<String>, depth: usize) {
    assert!(depth < 8, "objects include each other in a loop");
    for row in rows {
        let Some((prefix, object)) = row.strip_suffix('}').and_then(|r| r.split_once('{')) else {
            out.insert(row.clone());
            continue;
        };
        let fields = objects
            .get(object)
            .unwrap_or_else(|| panic!("docs/api.md: no section `## Object `{object}``"));
        let own = prefix.strip_suffix("[]").unwrap_or(prefix);
        if !own.is_empty() {
            out.insert(own.to_string());
        }
        let mut inner = BTreeSet::new();
        expand(fields, objects, &mut inner, depth + 1);
        for f in inner {
            out.insert(match (prefix, f.starts_with("[]")) {
                ("", _) => f,
                (_, true) => format!("{prefix}{f}"),
                _ => format!("{prefix}.{f}"),
            });
        }
    }
}

/// Per method, the documented result field paths.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let (methods, objects) = read_doc();
    methods
        .iter()
        .map(|(m, rows)| {
            let mut set = BTreeSet::new();
            expand(rows, &objects, &mut set, 0);
            (m.clone(), set)
        })
        .collect()
}

/// Adds every field path of `v` under `prefix`; objects whose documented
/// paths use `*` are maps: their keys are data, not fields.
fn collect(v: &Value, prefix: &str, doc: &BTreeSet<String>, out: &mut BTreeSet<String>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Object(m) => {
            let star = join("*");
            let is_map = doc
                .iter()
                .any(|d| *d == star || d.starts_with(&format!("{star}.")));
            for (k, x) in m {
                let p = if is_map { star.clone() } else { join(k) };
                out.insert(p.clone());
                collect(x, &p, doc, out);
            }
        }
        Value::Array(items) => {
            let p = format!("{prefix}[]");
            for x in items {
                collect(x, &p, doc, out);
            }
        }
        _ => {}
    }
}

/// A host's MAC as the API writes it.
fn mac(h: &vswitch_tests::lab::Host) -> String {
    h.mac
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Calls every method the way a user would, so that every documented
/// field shows up at least once (optional ones included).
#[test]
fn api_doc_names_every_result_field() {
    let _g = serial();
    let mut lab = Lab::new("vadc");
    let (a, b) = (lab.host(1), lab.host(2));
    // p3 makes its interface (`create`, `owner`): a tap named with the
    // lab's prefix, so the lab removes it whatever happens.
    let tap = format!("{}vm3", lab.prefix());
    let toml = format!(
        "[switch]\ncontrol_socket = \"@SOCKET@\"\ncontrol_group = \"root\"\nworkers = [1]\nmetrics_listen = \"127.0.0.1:0\"\n\n\
         [[port]]\nname = \"p1\"\niface = \"{}\"\nvlan = 10\nmtu = 1500\n\n\
         [[port]]\nname = \"p2\"\niface = \"{}\"\nvlan_mode = \"trunk\"\nvlan = 10\ntrunk_vlans = \"10,20\"\n\n\
         [[fdb.static]]\nmac = \"02:00:00:00:99:01\"\nvlan = 10\nport = \"p1\"\n",
        a.port_if, b.port_if
    );
    let d = Daemon::start("api-doc", &toml);
    assert!(
        lab.ping(&a, &b, 2),
        "traffic, so that counters and learned entries exist"
    );
    // p1's interface below its configured mtu: an `mtu_problem` to show.
    vswitch_tests::must("ip", &["link", "set", &a.port_if, "mtu", "1400"]);
    assert!(
        vswitch_tests::wait_until(2.0, || {
            d.call("port.show", json!({"name": "p1"}))
                .is_ok_and(|p| p.get("mtu_problem").is_some())
        }),
        "p1 shows its mtu_problem
{}",
        d.log_tail(20)
    );
    let calls: Vec<(&str, Value)> = vec![
        ("status", json!({})),
        ("port.list", json!({})),
        ("port.show", json!({"name": "p1"})),
        ("port.show", json!({"name": "p2"})),
        (
            "port.add",
            json!({"name": "p3", "iface": tap, "vlan_mode": "trunk", "vlan": 20, "trunk_vlans": "20,30", "worker": 0, "create": "tap", "owner": 0, "mtu": 1500, "mac": "02:00:00:00:99:03", "max_macs": 100,
                "shaping": {"ingress": {"average_bps": 1_000_000, "peak_bps": 2_000_000, "burst_bytes": 10_000},
                            "egress": {"average_bps": 1_000_000, "peak_bps": 2_000_000, "burst_bytes": 10_000}}}),
        ),
        ("port.show", json!({"name": "p3"})),
        ("port.list", json!({})),
        (
            "port.set",
            json!({"name": "p3", "vlan": null, "promiscuous": true}),
        ),
        ("port.set", json!({"name": "p3", "vlan": 30})),
        // trace: a known destination (the static entry on p1) from a
        // source learned on p1 (moves); a flood that gets a tag pushed on
        // p2, once p2 has no native VLAN; a drop with the setting that
        // caused it.
        (
            "trace",
            json!({"port": "p2", "dst": "02:00:00:00:99:01", "src": mac(&a), "vlan": 10, "pcp": 3}),
        ),
        ("port.set", json!({"name": "p2", "vlan": null})),
        (
            "trace",
            json!({"port": "p1", "dst": "ff:ff:ff:ff:ff:ff", "src": mac(&a)}),
        ),
        (
            "trace",
            json!({"port": "p1", "frame": "ffffffffffff 020000000001 8100 0014 88b5"}),
        ),
        (
            "fdb.add",
            json!({"mac": "02:00:00:00:99:02", "vlan": 20, "port": "p3"}),
        ),
        ("fdb.show", json!({})),
        ("fdb.del", json!({"mac": "02:00:00:00:99:02", "vlan": 20})),
        (
            "mirror.add",
            json!({"name": "span", "sources": ["p1"], "direction": "both", "vlans": "10", "output": "p2"}),
        ),
        ("mirror.list", json!({})),
        ("config.show", json!({})),
        ("stats.show", json!({})),
        ("mirror.del", json!({"name": "span"})),
        ("stats.show", json!({"format": "prometheus"})),
        ("stats.clear", json!({})),
        (
            "switch.set",
            json!({"polling": "adaptive", "max_sleep_us": 40}),
        ),
        (
            "fdb.set",
            json!({"aging_secs": 300, "move_guard_moves": 5, "move_guard_holddown_secs": 0}),
        ),
        ("config.show", json!({})),
        ("config.save", json!({"path": d.dir.join("saved.toml")})),
        ("fdb.flush", json!({"all": true})),
        ("port.del", json!({"name": "p3"})),
        // Answered at once; closing the connection ends it.
        ("capture", json!({"point": "drop", "count": 1})),
    ];
    let doc = documented();
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, p) in &calls {
        let r = d
            .call(m, p.clone())
            .unwrap_or_else(|e| panic!("{m} {p}: {e:?}\n{}", d.log()));
        let fields = seen.entry(m.to_string()).or_default();
        collect(&r, "", doc.get(*m).unwrap_or(&BTreeSet::new()), fields);
    }
    let methods: BTreeSet<String> = METHODS.iter().map(|m| m.to_string()).collect();
    let called: BTreeSet<String> = seen.keys().cloned().collect();
    assert_eq!(called, methods, "this test calls every method in METHODS");
    let sections: BTreeSet<String> = doc.keys().cloned().collect();
    assert_eq!(sections, methods, "docs/api.md has one section per method");
    let mut problems = Vec::new();
    for (m, got) in &seen {
        let want = &doc[m];
        for f in got.difference(want) {
            problems.push(format!(
                "{m}: the result has `{f}`, docs/api.md does not name it"
            ));
        }
        for f in want.difference(got) {
            problems.push(format!("{m}: docs/api.md names `{f}`, no result had it"));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

//! Config parsing and validation: every error names key, line and why.

use super::*;

const GOOD: &str = r#"
[switch]
control_socket = "/run/vswitch/test.sock"
workers = [0]

[fdb]
capacity = 4096
aging_secs = 60

[[fdb.static]]
mac = "02:00:00:00:00:01"
vlan = 10
port = "vm1"

[[port]]
name = "vm1"
iface = "vsw-vm1"
vlan_mode = "access"
vlan = 10

[[port]]
name = "uplink"
iface = "vsw-up"
vlan_mode = "trunk"
vlan = 99
trunk_vlans = "10,20,100-199"
promiscuous = true
learning = false
flood_unknown_unicast = false

[[port]]
name = "nested-esxi"
iface = "vsw-esx"
vlan_mode = "guest"
"#;

fn err(src: &str) -> ConfigError {
    match parse(src) {
        Err(e) => e,
        Ok(f) => validate(&f, Some(src)).expect_err("config should be refused"),
    }
}

#[test]
fn good_config_validates() {
    let f = parse(GOOD).unwrap();
    let v = validate(&f, Some(GOOD)).unwrap();
    assert_eq!(v.workers, vec![0]);
    assert_eq!(v.fdb.capacity, 4096);
    assert_eq!(v.fdb.aging_secs, 60);
    assert_eq!(v.ports.len(), 3);
    assert_eq!(
        v.ports[0].config.vlan,
        VlanMode::Access(VlanId::new(10).unwrap())
    );
    let up = &v.ports[1].config;
    assert!(up.promiscuous && !up.learning && !up.flood_unknown_unicast);
    assert_eq!(up.vlan.native(), VlanId::new(99));
    assert!(
        up.vlan.carries(VlanId::new(150).unwrap()) && !up.vlan.carries(VlanId::new(30).unwrap())
    );
    assert_eq!(v.ports[2].config.vlan, VlanMode::Guest { native: None });
    assert_eq!(
        v.statics,
        vec![(
            VlanId::new(10).unwrap(),
            "02:00:00:00:00:01".parse().unwrap(),
            PortId::new(0).unwrap()
        )]
    );
}

#[test]
fn defaults_apply() {
    let src = "[[port]]\nname = \"a\"\niface = \"x\"\nvlan = 1\n";
    let v = validate(&parse(src).unwrap(), Some(src)).unwrap();
    assert_eq!(v.control_socket, PathBuf::from(DEFAULT_SOCKET));
    assert_eq!(v.fdb.capacity, 65536);
    assert_eq!(v.fdb.aging_secs, 300);
    let p = &v.ports[0].config;
    assert!(p.learning && p.flood_unknown_unicast && !p.promiscuous);
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let src =
        "[switch]\nworkers = [0]\n\n[[port]]\nname = \"a\"\niface = \"x\"\nvlan = 1\nvlna = 2\n";
    let e = err(src);
    assert_eq!(e.line, Some(8), "{e}");
    assert!(e.message.contains("unknown field `vlna`"), "{e}");
}

#[test]
fn wrong_type_has_a_line() {
    let e = err("[fdb]\ncapacity = \"big\"\n");
    assert_eq!(e.line, Some(2), "{e}");
    assert!(
        e.message.contains("string") || e.message.contains("integer"),
        "{e}"
    );
}

#[test]
fn semantic_errors_point_at_the_key() {
    let e = err("[[port]]\nname = \"a\"\niface = \"x\"\nvlan = 1\n[[port]]\nname = \"b\"\niface = \"y\"\nvlan = 5000\n");
    assert_eq!(e.line, Some(8), "{e}");
    assert_eq!(e.key, "port \"b\".vlan");
    assert!(e.message.contains("1-4094"), "{e}");

    let e = err("[[port]]\nname = \"a\"\niface = \"x\"\nvlan_mode = \"access\"\n");
    assert_eq!(e.key, "port \"a\".vlan");
    assert!(e.line.is_some(), "a missing key points at its table: {e}");
    assert!(e.message.contains("access ports need a vlan"), "{e}");

    let e = err(
        "[[port]]\nname = \"a\"\niface = \"x\"\nvlan_mode = \"trunk\"\ntrunk_vlans = \"10-5\"\n",
    );
    assert_eq!(
        (e.key.as_str(), e.line),
        ("port \"a\".trunk_vlans", Some(5)),
        "{e}"
    );

    let e = err("[[port]]\nname = \"a\"\niface = \"x\"\nvlan = 1\ntrunk_vlans = \"10\"\n");
    assert!(e.message.contains("only trunk ports"), "{e}");

    let e = err("[[port]]\nname = \"a\"\niface = \"x\"\nvlan_mode = \"hybrid\"\n");
    assert_eq!(e.line, Some(4), "{e}");
}

#[test]
fn duplicates_are_refused() {
    let e = err("[[port]]\nname = \"a\"\niface = \"x\"\nvlan = 1\n[[port]]\nname = \"a\"\niface = \"y\"\nvlan = 1\n");
    assert!(e.message.contains("another port has this name"), "{e}");
    assert_eq!(e.line, Some(6));
    let e = err("[[port]]\nname = \"a\"\niface = \"x\"\nvlan = 1\n[[port]]\nname = \"b\"\niface = \"x\"\nvlan = 1\n");
    assert!(e.message.contains("already used"), "{e}");
}

#[test]
fn static_entries_are_checked() {
    let base = "[[port]]\nname = \"a\"\niface = \"x\"\nvlan = 1\n";
    let e = err(&format!(
        "{base}[[fdb.static]]\nmac = \"02:00:00:00:00:01\"\nvlan = 1\nport = \"zz\"\n"
    ));
    assert!(e.message.contains("no port named \"zz\""), "{e}");
    assert_eq!(e.line, Some(8));
    let e = err(&format!(
        "{base}[[fdb.static]]\nmac = \"02:00:00:00:00:01\"\nvlan = 2\nport = \"a\"\n"
    ));
    assert!(e.message.contains("does not carry VLAN 2"), "{e}");
    let e = err(&format!(
        "{base}[[fdb.static]]\nmac = \"01:00:5e:00:00:01\"\nvlan = 1\nport = \"a\"\n"
    ));
    assert!(e.message.contains("unicast"), "{e}");
    let e = err(&format!(
        "{base}[[fdb.static]]\nmac = \"nonsense\"\nvlan = 1\nport = \"a\"\n"
    ));
    assert_eq!(e.key, "fdb.static[0].mac");
}

#[test]
fn switch_and_fdb_ranges() {
    assert!(err("[switch]\nworkers = []\n")
        .message
        .contains("at least one CPU"));
    assert!(err("[switch]\nworkers = [4096]\n")
        .message
        .contains("does not exist"));
    assert!(err("[switch]\nworkers = [0, 0]\n")
        .message
        .contains("twice"));
    assert!(err("[switch]\ncontrol_socket = \"rel.sock\"\n")
        .message
        .contains("absolute"));
    assert!(err("[switch]\ncontrol_group = \"no-such-group-xyz\"\n")
        .message
        .contains("does not exist"));
    assert!(err("[fdb]\ncapacity = 1\n")
        .message
        .contains("out of range"));
    assert!(err("[fdb]\naging_secs = -5\n")
        .message
        .contains("out of range"));
    assert!(
        err("[[port]]\nname = \"bad name\"\niface = \"x\"\nvlan = 1\n")
            .message
            .contains("invalid port name")
    );
    assert!(
        err("[[port]]\nname = \"a\"\niface = \"way-too-long-ifname\"\nvlan = 1\n")
            .message
            .contains("invalid interface")
    );
}

#[test]
fn written_toml_reads_back_identically() {
    let f = parse(GOOD).unwrap();
    let text = to_toml(&f);
    assert_eq!(parse(&text).unwrap(), f);
}

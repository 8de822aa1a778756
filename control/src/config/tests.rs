//! Config parsing, the pure check and the host probe: every error names
//! key, line and why.

use std::path::PathBuf;

use vswitch_dataplane::{PortId, VlanId, VlanMode};

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

/// Parse, check and probe, as `load` does.
fn validate(src: &str) -> Result<ValidConfig, ConfigError> {
    let v = check(parse(src)?, Some(src))?;
    probe(&v, Some(src))?;
    Ok(v)
}

fn err(src: &str) -> ConfigError {
    validate(src).expect_err("config should be refused")
}

/// Parse and the pure check only: no system call.
fn check_err(src: &str) -> ConfigError {
    parse(src)
        .and_then(|f| check(f, Some(src)))
        .expect_err("config should be refused")
}

#[test]
fn good_config_validates() {
    let v = validate(GOOD).unwrap();
    assert_eq!(v.workers, vec![0]);
    assert_eq!(v.fdb_capacity, 4096);
    assert_eq!(v.fdb_aging_secs, 60);
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
    let v = validate(src).unwrap();
    assert_eq!(v.switch.control_socket, PathBuf::from(DEFAULT_SOCKET));
    assert_eq!(v.fdb_capacity, 65536);
    assert_eq!(v.fdb_aging_secs, 300);
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
    assert_eq!(e.key, "port \"a\".vlna");
}

#[test]
fn wrong_type_has_a_line() {
    let e = err("[fdb]\ncapacity = \"big\"\n");
    assert_eq!(e.line, Some(2), "{e}");
    assert_eq!(e.key, "fdb.capacity");
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
    assert_eq!(e.key, "port \"a\".vlan_mode");
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
    assert!(text.contains("trunk_vlans = \"10,20,100-199\""), "{text}");
    assert!(text.contains("mac = \"02:00:00:00:00:01\""), "{text}");
    assert_eq!(check(f.clone(), None).unwrap().file(), f);
}

/// The pure check makes no system call: the facts of the host (CPUs,
/// groups, interfaces) pass it and are the probe's to refuse.
#[test]
fn host_facts_pass_the_check_and_fail_the_probe() {
    for (src, why) in [
        (
            "[switch]\nworkers = [4096]\n",
            "does not exist or is outside vswitchd's CPU affinity",
        ),
        (
            "[switch]\ncontrol_group = \"no-such-group-xyz\"\n",
            "group \"no-such-group-xyz\" does not exist",
        ),
    ] {
        let v = check(parse(src).unwrap(), Some(src)).expect("the check knows no host");
        let e = probe(&v, Some(src)).unwrap_err();
        assert!(e.message.contains(why), "{e}");
        assert_eq!(e.line, Some(2), "{e}");
    }
    let src = "[[port]]\nname = \"a\"\niface = \"no-such-if0\"\nvlan = 1\n";
    let v = check(parse(src).unwrap(), Some(src)).unwrap();
    let e = probe_interfaces(&v, Some(src)).unwrap_err();
    assert_eq!(
        (e.key.as_str(), e.line),
        ("port \"a\".iface", Some(3)),
        "{e}"
    );
    assert!(e.message.contains("no-such-if0 does not exist"), "{e}");
    let v = validate("[[port]]\nname = \"a\"\niface = \"lo\"\nvlan = 1\n").unwrap();
    assert!(probe_interfaces(&v, None).is_ok(), "lo exists everywhere");
}

#[test]
fn the_check_alone_refuses_what_does_not_fit() {
    for (src, key, line, why) in [
        ("[switch]\nworkers = []\n", "switch.workers", 2, "at least one CPU"),
        ("[switch]\nworkers = [1, 1]\n", "switch.workers", 2, "twice"),
        ("[switch]\nworkers = [-1]\n", "switch.workers", 2, "does not exist"),
        ("\n[fdb]\ncapacity = 1\n", "fdb.capacity", 3, "out of range"),
        (
            "[[port]]\nname = \"a\"\niface = \"x\"\nvlan_mode = \"guest\"\ntrunk_vlans = \"5\"\n",
            "port \"a\".trunk_vlans",
            5,
            "guest ports carry every VLAN",
        ),
        (
            "[[port]]\nname = \"a\"\niface = \"x\"\nvlan = 1\n[[fdb.static]]\nmac = \"02:00:00:00:00:01\"\nvlan = 1\nport = \"a\"\n[[fdb.static]]\nmac = \"02:00:00:00:00:01\"\nvlan = 1\nport = \"a\"\n",
            "fdb.static[1].mac",
            10,
            "two static entries",
        ),
    ] {
        let e = check_err(src);
        assert_eq!((e.key.as_str(), e.line), (key, Some(line)), "{e}");
        assert!(e.message.contains(why), "{e}");
    }
}

/// Values are parsed while the file is read; their errors carry the key
/// label the check would give and the line of the value.
#[test]
fn bad_values_are_named_like_the_check_names_them() {
    let e = check_err("[[port]]\nname = \"a\"\niface = \"x\"\nvlan = 1\n\n[[fdb.static]]\nmac = \"02:00:00:00:00:01\"\nvlan = 4095\nport = \"a\"\n");
    assert_eq!(
        (e.key.as_str(), e.line),
        ("fdb.static[0].vlan", Some(8)),
        "{e}"
    );
    assert!(e.message.contains("VLAN 4095 is out of range"), "{e}");
    let e = check_err("[[port]]\nname = \"a\"\niface = \"x\"\n\n[[port]]\nname = \"b\"\niface = \"y\"\nvlan_mode = \"trunk\"\ntrunk_vlans = \"1-5000\"\n");
    assert_eq!(
        (e.key.as_str(), e.line),
        ("port \"b\".trunk_vlans", Some(9)),
        "{e}"
    );
    assert!(e.message.contains("1-4094"), "{e}");
    let e = check_err("[[fdb.static]]\nvlan = 1\nport = \"a\"\n");
    assert_eq!((e.key.as_str(), e.line), ("fdb.static[0]", Some(1)), "{e}");
    assert!(e.message.contains("missing field `mac`"), "{e}");
}

#[test]
fn driver_key_is_read_checked_and_written_back() {
    use crate::model::port::DriverName;
    let src = "[[port]]\nname = \"a\"\niface = \"x\"\nvlan = 1\n\n[[port]]\nname = \"b\"\niface = \"y\"\nvlan = 1\ndriver = \"packet\"\n\n[[port]]\nname = \"c\"\niface = \"z\"\nvlan = 1\ndriver = \"afxdp\"\n";
    let f = parse(src).unwrap();
    let drivers: Vec<DriverName> = f.ports.iter().map(|p| p.driver).collect();
    assert_eq!(
        drivers,
        [DriverName::Auto, DriverName::Packet, DriverName::AfXdp]
    );
    // Written like every defaulted key: always, so a saved file says
    // which driver each port asks for.
    let text = to_toml(&f);
    assert_eq!(text.matches("driver = \"auto\"").count(), 1, "{text}");
    assert!(text.contains("driver = \"packet\""), "{text}");
    assert!(text.contains("driver = \"afxdp\""), "{text}");
    assert_eq!(parse(&text).unwrap(), f);
    assert_eq!(check(f.clone(), None).unwrap().file(), f);

    let e = check_err("[[port]]\nname = \"a\"\niface = \"x\"\nvlan = 1\n\n[[port]]\nname = \"b\"\niface = \"y\"\nvlan = 1\ndriver = \"xdp\"\n");
    assert_eq!(
        (e.key.as_str(), e.line),
        ("port \"b\".driver", Some(10)),
        "{e}"
    );
    assert!(
        e.message
            .contains("invalid driver \"xdp\": expected auto, afxdp or packet"),
        "{e}"
    );
    let e = check_err("[[port]]\nname = \"a\"\niface = \"x\"\nvlan = 1\ndriver = 1\n");
    assert_eq!(
        (e.key.as_str(), e.line),
        ("port \"a\".driver", Some(5)),
        "{e}"
    );
}

/// Worker CPUs are checked by id against the affinity mask: under
/// `taskset -c N` only CPU N is allowed (the probe counted the CPUs of the
/// mask, so under `taskset -c 1` it refused 1 and took 0).
#[test]
fn worker_cpus_are_checked_by_id_against_the_affinity_mask() {
    let ids: Vec<usize> = core_affinity::get_core_ids()
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    let hi = *ids.iter().max().unwrap();
    // In a thread of its own: the mask is per thread and dies with it.
    std::thread::spawn(move || {
        assert!(core_affinity::set_for_current(core_affinity::CoreId {
            id: hi
        }));
        let probe_of = |cpu: usize| {
            let src = format!("[switch]\nworkers = [{cpu}]\n");
            probe(
                &check(parse(&src).unwrap(), Some(&src)).unwrap(),
                Some(&src),
            )
        };
        assert!(probe_of(hi).is_ok(), "CPU {hi} is in the mask");
        if hi != 0 {
            let e = probe_of(0).unwrap_err();
            assert!(e.message.contains(&format!("(CPUs {hi})")), "{e}");
            assert_eq!((e.key.as_str(), e.line), ("switch.workers", Some(2)));
        }
        assert!(probe_of(hi + 1).is_err());
    })
    .join()
    .unwrap();
}

/// Values are reported as written, and a VLAN list takes digits only.
#[test]
fn vlan_values_are_reported_as_written() {
    let e = err("[[port]]\nname = \"a\"\niface = \"x\"\nvlan = -1\n");
    assert!(e.message.contains("VLAN -1 "), "{e}");
    assert!(!e.to_string().contains("4294967295"), "{e}");
    assert_eq!(e.line, Some(4), "{e}");
    for list in ["+10", "10,+20", "-10", "1-+5", " 10 , +0x1 "] {
        let e = err(&format!(
            "[[port]]\nname = \"a\"\niface = \"x\"\nvlan_mode = \"trunk\"\ntrunk_vlans = \"{list}\"\n"
        ));
        assert!(e.message.contains("invalid VLAN list item"), "{list}: {e}");
        assert_eq!(e.line, Some(5), "{list}: {e}");
    }
    let e = serde_json::from_str::<crate::api::params::FdbFilter>(r#"{"vlan": -1}"#).unwrap_err();
    assert!(e.to_string().contains("VLAN -1 "), "{e}");
}

/// `allowed_interfaces` takes names and globs; a bad pattern is refused
/// with its key and line.
#[test]
fn allowed_interfaces_are_names_and_globs() {
    let v =
        validate("[switch]\nallowed_interfaces = [\"vm1\", \"vsw-*\", \"tap[0-3]\"]\n").unwrap();
    let s = &v.switch;
    for (iface, ok) in [
        ("vm1", true),
        ("vm10", false),
        ("vsw-a", true),
        ("vsw", false),
        ("tap2", true),
        ("tap4", false),
        ("eth0", false),
    ] {
        assert_eq!(s.allows_interface(iface), ok, "{iface}");
    }
    assert!(
        !validate("").unwrap().switch.allows_interface("eth0"),
        "default: none"
    );
    let e = err("[switch]\nallowed_interfaces = [\"ok\", \"bad[\"]\n");
    assert_eq!(
        (e.key.as_str(), e.line),
        ("switch.allowed_interfaces", Some(2)),
        "{e}"
    );
    assert!(
        e.message.contains("invalid interface pattern \"bad[\""),
        "{e}"
    );
}

/// A port that makes its tap needs no interface yet; its `owner` must be
/// a user of this host, and the pure check refuses what cannot fit.
#[test]
fn a_created_tap_needs_no_interface_and_an_existing_owner() {
    let tap = "[[port]]\nname = \"vm\"\niface = \"no-such-tap0\"\nvlan = 1\ncreate = \"tap\"\n";
    let v = validate(tap).unwrap();
    assert!(probe_interfaces(&v, Some(tap)).is_ok(), "made at start");
    assert_eq!(
        v.ports[0].settings.create,
        Some(crate::model::port::CreateKind::Tap)
    );
    let root = format!("{tap}owner = \"root\"\n");
    assert!(validate(&root).is_ok());
    assert_eq!(
        owner_uid(&crate::model::port::Owner::Name("root".into())),
        Ok(0)
    );
    let e = err(&format!("{tap}owner = \"no-such-user-xyz\"\n"));
    assert_eq!(
        (e.key.as_str(), e.line),
        ("port \"vm\".owner", Some(6)),
        "{e}"
    );
    assert!(
        e.message
            .contains("user \"no-such-user-xyz\" does not exist"),
        "{e}"
    );
    let e = check_err(&format!("{tap}driver = \"afxdp\"\n"));
    assert_eq!(
        (e.key.as_str(), e.line),
        ("port \"vm\".driver", Some(6)),
        "{e}"
    );
    let e = check_err("[[port]]\nname = \"vm\"\niface = \"t\"\nvlan = 1\nowner = 0\n");
    assert_eq!(
        (e.key.as_str(), e.line),
        ("port \"vm\".owner", Some(5)),
        "{e}"
    );
    // Written back as read.
    let file = parse(&root).unwrap();
    assert_eq!(parse(&to_toml(&file)).unwrap(), file);
}

#[test]
fn polling_settings_default_and_are_checked() {
    use crate::model::switch::PollingMode;
    let v = check(parse("").unwrap(), None).unwrap();
    assert_eq!(v.switch.polling, PollingMode::Adaptive);
    assert_eq!(v.switch.max_sleep_us, 50);
    let src = "[switch]\npolling = \"busy\"\nmax_sleep_us = 0\n";
    let v = check(parse(src).unwrap(), Some(src)).unwrap();
    assert_eq!(v.switch.polling, PollingMode::Busy);
    assert_eq!(v.switch.max_sleep_us, 0);
    let e = check_err("[switch]\nmax_sleep_us = 1001\n");
    assert_eq!(
        (e.key.as_str(), e.line),
        ("switch.max_sleep_us", Some(2)),
        "{e}"
    );
    assert!(e.message.contains("0-1000"), "{e}");
    let e = check_err("[switch]\nmax_sleep_us = -1\n");
    assert_eq!(e.key, "switch.max_sleep_us", "{e}");
    let e = check_err("[switch]\npolling = \"lazy\"\n");
    assert!(
        e.message.contains("lazy") || e.message.contains("variant"),
        "{e}"
    );
}

#[test]
fn mtu_key_is_range_checked_and_refused_where_the_driver_cannot_carry_it() {
    let src = "[[port]]\nname = \"a\"\niface = \"x\"\nvlan = 1\nmtu = 9000\n";
    let f = parse(src).unwrap();
    assert_eq!(f.ports[0].mtu.map(|m| m.get()), Some(9000));
    let text = to_toml(&f);
    assert!(text.contains("mtu = 9000"), "{text}");
    assert_eq!(parse(&text).unwrap(), f);
    // Unset: not written (the port follows its interface).
    let plain = parse("[[port]]\nname = \"a\"\niface = \"x\"\nvlan = 1\n").unwrap();
    assert!(!to_toml(&plain).contains("mtu"), "{}", to_toml(&plain));

    let e = check_err("[[port]]\nname = \"a\"\niface = \"x\"\nvlan = 1\nmtu = 9217\n");
    assert_eq!((e.key.as_str(), e.line), ("port \"a\".mtu", Some(5)), "{e}");
    assert!(e.message.contains("out of range (68-9216"), "{e}");
    let e = check_err("[[port]]\nname = \"a\"\niface = \"x\"\nvlan = 1\nmtu = 67\n");
    assert!(e.message.contains("out of range"), "{e}");
    // AF_XDP carries up to 9216 with multi-buffer sockets (port/afxdp.rs);
    // a port that cannot get them is refused when it opens.
    for ok in [
        "[[port]]\nname = \"a\"\niface = \"x\"\nvlan = 1\ndriver = \"afxdp\"\nmtu = 3822\n",
        "[[port]]\nname = \"a\"\niface = \"x\"\nvlan = 1\ndriver = \"afxdp\"\nmtu = 9000\n",
        "[[port]]\nname = \"a\"\niface = \"x\"\nvlan = 1\ndriver = \"packet\"\nmtu = 9216\n",
    ] {
        parse(ok).and_then(|f| check(f, Some(ok))).unwrap();
    }
}

#[test]
fn shaping_tables_are_read_checked_and_written_back() {
    let port = "[[port]]\nname = \"a\"\niface = \"x\"\nvlan = 1\n\n";
    let src = format!(
        "{port}[port.shaping.egress]\naverage_bps = 20_000_000\npeak_bps = 40_000_000\nburst_bytes = 250_000\n\n\
         [port.shaping.ingress]\naverage_bps = 1_000_000\n"
    );
    let v = check(parse(&src).unwrap(), Some(&src)).unwrap();
    let c = &v.ports[0].config.shaping;
    let e = c.egress.as_ref().unwrap().params();
    assert_eq!(
        (e.average_bps(), e.peak_bps(), e.burst_bytes()),
        (20_000_000, Some(40_000_000), 250_000)
    );
    let i = c.ingress.as_ref().unwrap().params();
    assert_eq!((i.peak_bps(), i.burst_bytes()), (None, 12_500), "defaults");
    let text = to_toml(&v.file());
    assert!(text.contains("[port.shaping.egress]"), "{text}");
    assert_eq!(parse(&text).unwrap(), v.file());
    for (table, key, line, msg) in [
        (
            "[port.shaping.egress]\naverage_bps = 1000\nburst = 5\n",
            "port \"a\".shaping.egress.burst",
            8,
            "unknown field `burst`",
        ),
        (
            "[port.shaping.egress]\naverage_bps = 0\n",
            "port \"a\".shaping.egress.average_bps",
            7,
            "0 is not a positive number",
        ),
        (
            "[port.shaping.ingress]\naverage_bps = -1\n",
            "port \"a\".shaping.ingress.average_bps",
            7,
            "-1 is not a positive number",
        ),
        (
            "[port.shaping.egress]\naverage_bps = 2_000_000\npeak_bps = 1_000_000\n",
            "port \"a\".shaping.egress.peak_bps",
            8,
            "peak 1000000 bits/s is below the average 2000000 bits/s",
        ),
        (
            "[port.shaping.egress]\npeak_bps = 1_000_000\n",
            "port \"a\".shaping.egress.average_bps",
            6,
            "required",
        ),
        (
            "[port.shaping.egress]\naverage_bps = 1_000_000\nburst_bytes = 2_000_000_000\n",
            "port \"a\".shaping.egress.burst_bytes",
            8,
            "out of range",
        ),
        (
            "[port.shaping.sideways]\naverage_bps = 1000\n",
            "port \"a\".shaping.sideways",
            6,
            "unknown field `sideways`",
        ),
    ] {
        let src = format!("{port}{table}");
        let e = check_err(&src);
        assert_eq!((e.key.as_str(), e.line), (key, Some(line)), "{table}: {e}");
        assert!(e.message.contains(msg), "{table}: {e}");
    }
}

#[test]
fn port_policy_keys_are_read_checked_and_written_back() {
    let src = "[fdb]\ncapacity = 64\n[fdb.move_guard]\nmoves = 3\nwindow_secs = 10\nholddown_secs = 30\n\
               [[port]]\nname = \"a\"\niface = \"x\"\nvlan = 1\nmac = \"02:00:00:00:00:01\"\n\
               forged_transmits = false\nmac_changes = false\nmax_macs = 2\nlimit_policy = \"allow\"\n";
    let v = parse(src).and_then(|f| check(f, Some(src))).unwrap();
    let p = &v.ports[0].config.policy;
    assert!(!p.forged_transmits && !p.mac_changes);
    assert_eq!(p.max_macs, Some(2));
    assert_eq!(v.fdb.move_guard.holddown_secs, 30);
    let text = to_toml(&v.file());
    assert!(
        text.contains("max_macs = 2") && text.contains("limit_policy = \"allow\""),
        "{text}"
    );
    assert!(
        text.contains("[fdb.move_guard]") && text.contains("holddown_secs = 30"),
        "{text}"
    );
    assert_eq!(parse(&text).unwrap(), v.file());

    let base = "[[port]]\nname = \"a\"\niface = \"x\"\nvlan = 1\n";
    for (extra, key, line, msg) in [
        (
            "forged_transmits = false\n",
            "port \"a\".forged_transmits",
            5,
            "needs the port's mac",
        ),
        (
            "mac_changes = false\n",
            "port \"a\".mac_changes",
            5,
            "needs the port's mac",
        ),
        (
            "max_macs = 0\n",
            "port \"a\".max_macs",
            5,
            "max_macs 0 is out of range",
        ),
        ("max_macs = -1\n", "port \"a\".max_macs", 5, "out of range"),
        (
            "max_macs = 70000\n",
            "port \"a\".max_macs",
            5,
            "above the fdb capacity 65536",
        ),
        (
            "limit_policy = \"block\"\n",
            "port \"a\".limit_policy",
            5,
            "expected drop or allow",
        ),
        (
            "mac = \"ff:ff:ff:ff:ff:ff\"\n",
            "port \"a\".mac",
            5,
            "group or zero",
        ),
    ] {
        let src = format!("{base}{extra}");
        let e = check_err(&src);
        assert_eq!((e.key.as_str(), e.line), (key, Some(line)), "{extra}: {e}");
        assert!(e.message.contains(msg), "{extra}: {e}");
    }
    for (extra, key, msg) in [
        ("moves = 0", "fdb.move_guard.moves", "out of range"),
        (
            "window_secs = -1",
            "fdb.move_guard.window_secs",
            "out of range",
        ),
        (
            "holddown_secs = -2",
            "fdb.move_guard.holddown_secs",
            "out of range",
        ),
        ("speed = 1", "fdb.move_guard.speed", "unknown"),
    ] {
        let src = format!("[fdb.move_guard]\n{extra}\n{base}");
        let e = check_err(&src);
        assert_eq!((e.key.as_str(), e.line), (key, Some(2)), "{extra}: {e}");
        assert!(e.message.contains(msg), "{extra}: {e}");
    }
}

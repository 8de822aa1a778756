//! End-to-end: the control socket and vswitchctl against a real vswitchd.
//! Run as root, one at a time (each test takes the serial lock).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use vswitch_tests::daemon::Daemon;
use vswitch_tests::lab::{Host, Lab};
use vswitch_tests::raw::{frame, send_sequence, sequence_of, RawSock};
use vswitch_tests::{bin, must, serial, sh, wait_until};

fn config(extra_switch: &str, ports: &[(&Host, &str)]) -> String {
    let mut s = format!("[switch]\ncontrol_socket = \"@SOCKET@\"\nworkers = [1]\n{extra_switch}\n[fdb]\naging_secs = 300\n");
    for (h, extra) in ports {
        s += &format!(
            "\n[[port]]\nname = \"p{}\"\niface = \"{}\"\n{extra}\n",
            h.n, h.port_if
        );
    }
    s
}

/// A raw connection for sending arbitrary bytes.
fn raw_exchange(d: &Daemon, bytes: &[u8], close_write: bool) -> Vec<Value> {
    let mut s = UnixStream::connect(&d.socket).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s.write_all(bytes).expect("write");
    if close_write {
        s.shutdown(std::net::Shutdown::Write).ok();
    }
    let mut out = String::new();
    let _ = BufReader::new(&s).read_to_string(&mut out);
    out.lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("answer is not JSON ({e}): {l:?}"))
        })
        .collect()
}

#[test]
fn every_method_through_vswitchctl() {
    let _g = serial();
    let mut lab = Lab::new("vaev");
    let (a, b, c) = (lab.host(1), lab.host(2), lab.host(3));
    let d = Daemon::start(
        "ctl-every",
        &config("", &[(&a, "vlan = 10"), (&b, "vlan = 10")]),
    );
    assert!(lab.ping(&a, &b, 2));

    let (ok, out, _) = d.ctl(&["status"]);
    assert!(
        // veth ports on the default driver (auto) run the packet driver.
        ok && out.contains("p1") && out.contains("packet (auto)") && out.contains("fdb:"),
        "{out}"
    );
    let st = d.ctl_json(&["status"]);
    assert_eq!(st["ports"].as_array().unwrap().len(), 2);

    let (ok, out, _) = d.ctl(&["port", "list"]);
    assert!(
        ok && out.lines().count() == 3 && out.contains("access"),
        "{out}"
    );
    let p = d.ctl_json(&["port", "show", "p1"]);
    assert!(p["counters"]["rx_packets"].as_u64().unwrap() > 0, "{p}");
    assert!(p["kernel"].is_object(), "{p}");

    // port add / set / del, live.
    let added = d.ctl_json(&[
        "port",
        "add",
        "p3",
        "--iface",
        &c.port_if,
        "--vlan-mode",
        "trunk",
        "--trunk-vlans",
        "10,20",
        "--vlan",
        "none",
    ]);
    assert_eq!(added["vlan_mode"], "trunk");
    let set = d.ctl_json(&[
        "port",
        "set",
        "p3",
        "--vlan-mode",
        "access",
        "--vlan",
        "10",
        "--promiscuous",
        "true",
    ]);
    assert_eq!(
        (
            set["vlan_mode"].as_str(),
            set["vlan"].as_u64(),
            set["promiscuous"].as_bool()
        ),
        (Some("access"), Some(10), Some(true))
    );
    assert!(
        set["trunk_vlans"].is_null(),
        "leaving trunk mode drops the VLAN list: {set}"
    );
    assert!(lab.ping(&a, &c, 2), "the added port forwards\n{}", d.log());

    // fdb show / add / del / flush.
    let fdb = d.ctl_json(&["fdb", "show"]);
    assert!(fdb.as_array().unwrap().len() >= 3, "{fdb}");
    let (ok, out, _) = d.ctl(&["fdb", "show", "--vlan", "10"]);
    assert!(ok && out.contains("dynamic"), "{out}");
    d.ctl_json(&[
        "fdb",
        "add",
        "--mac",
        "02:00:00:00:99:01",
        "--vlan",
        "10",
        "--port",
        "p2",
    ]);
    let only = d.ctl_json(&["fdb", "show", "--mac", "02:00:00:00:99:01"]);
    assert_eq!(
        only,
        json!([{"mac": "02:00:00:00:99:01", "vlan": 10, "port": "p2", "type": "static", "age_secs": 0}])
    );
    d.ctl_json(&["fdb", "del", "--mac", "02:00:00:00:99:01", "--vlan", "10"]);
    assert_eq!(
        d.ctl_json(&["fdb", "show", "--mac", "02:00:00:00:99:01"]),
        json!([])
    );
    let flushed = d.ctl_json(&["fdb", "flush", "--port", "p1"]);
    assert!(flushed["flushed"].as_u64().unwrap() >= 1, "{flushed}");
    d.ctl_json(&["fdb", "flush", "--all"]);
    assert_eq!(d.ctl_json(&["fdb", "show"]), json!([]));

    // stats show (table, JSON, Prometheus) and clear.
    let (ok, out, _) = d.ctl(&["stats", "show"]);
    assert!(
        ok && out.contains("RX_PACKETS") && out.contains("BUSY%"),
        "{out}"
    );
    let (ok, prom, _) = d.ctl(&["stats", "show", "--format", "prometheus"]);
    assert!(
        ok && prom.contains("vswitch_port_rx_packets_total{port=\"p1\"}"),
        "{prom}"
    );
    d.ctl_json(&["stats", "clear"]);
    let s = d.ctl_json(&["stats", "show"]);
    assert_eq!(s["ports"]["p1"]["rx_packets"], 0, "cleared: {s}");

    // config show / save.
    let (ok, toml, _) = d.ctl(&["config", "show"]);
    assert!(
        ok && toml.contains("[[port]]") && toml.contains("name = \"p3\""),
        "{toml}"
    );
    let saved = d.dir.join("saved.toml");
    let r = d.ctl_json(&["config", "save", "--path", saved.to_str().unwrap()]);
    assert_eq!(r["path"], saved.display().to_string());
    assert!(std::fs::read_to_string(&saved)
        .unwrap()
        .contains("name = \"p3\""));

    let r = d.ctl_json(&["port", "del", "p3"]);
    assert_eq!(r["name"], "p3");
    assert!(
        lab.xdp_left().iter().all(|i| *i != c.port_if),
        "deleting a port detaches its XDP program"
    );
    assert!(lab.ping(&a, &b, 2), "others keep forwarding\n{}", d.log());

    // Errors: exit 1, message on stderr.
    let (ok, _, err) = d.ctl(&["port", "show", "nope"]);
    assert!(!ok && err.contains("no port named \"nope\""), "{err}");
    let (ok, _, err) = d.ctl(&["port", "set", "p1", "--vlan", "4095"]);
    assert!(!ok && err.contains("4095"), "{err}");
    let out = std::process::Command::new(bin("vswitchctl"))
        .args(["--socket", "/nonexistent.sock", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach vswitchd"));

    let (ok, out, _) = sh(
        bin("vswitchctl").to_str().unwrap(),
        &["completions", "bash"],
    );
    assert!(
        ok && out.contains("vswitchctl") && out.contains("complete"),
        "completions"
    );
}

/// For every method: well-formed calls with bad params get an error that
/// says what is wrong, and change nothing.
#[test]
fn invalid_params_for_every_method_change_nothing() {
    let _g = serial();
    let mut lab = Lab::new("vaip");
    let (a, b) = (lab.host(1), lab.host(2));
    let d = Daemon::start(
        "ctl-invalid",
        &config(
            "",
            &[
                (&a, "vlan = 10"),
                (&b, "vlan_mode = \"trunk\"\ntrunk_vlans = \"10,20\""),
            ],
        ),
    );
    let before = d.call("config.show", json!({})).unwrap();
    let cases: Vec<(&str, Value, i64, &str)> = vec![
        (
            "status",
            json!({"verbose": true}),
            -32602,
            "unknown field `verbose`",
        ),
        ("port.list", json!({"x": 1}), -32602, "unknown field"),
        ("port.show", json!({}), -32602, "missing field `name`"),
        ("port.show", json!({"name": 5}), -32602, "invalid type"),
        (
            "port.show",
            json!({"name": "zz"}),
            -32001,
            "no port named \"zz\"",
        ),
        (
            "port.add",
            json!({"name": "p9", "iface": "vaipnone", "vlan": 10}),
            -32000,
            "vaipnone",
        ),
        (
            "port.add",
            json!({"name": "p1", "iface": "x", "vlan": 10}),
            -32002,
            "already exists",
        ),
        (
            "port.add",
            json!({"name": "p9", "iface": b.port_if, "vlan": 10}),
            -32002,
            "already port",
        ),
        (
            "port.add",
            json!({"name": "bad name", "iface": "x", "vlan": 10}),
            -32602,
            "invalid port name",
        ),
        (
            "port.add",
            json!({"name": "p9", "iface": "x"}),
            -32602,
            "access ports need a vlan",
        ),
        (
            "port.add",
            json!({"name": "p9", "iface": "x", "vlan_mode": "hybrid"}),
            -32602,
            "unknown variant `hybrid`",
        ),
        (
            "port.add",
            json!({"name": "p9", "iface": "x", "vlan": 10, "worker": 7}),
            -32602,
            "worker 7 does not exist",
        ),
        ("port.del", json!({"name": "zz"}), -32001, "no port named"),
        (
            "port.set",
            json!({"name": "p1", "vlan": 0}),
            -32602,
            "VLAN 0 is out of range",
        ),
        (
            "port.set",
            json!({"name": "p1", "vlan": 70000}),
            -32602,
            "out of range",
        ),
        (
            "port.set",
            json!({"name": "p1", "vlan": "ten"}),
            -32602,
            "invalid type",
        ),
        (
            "port.set",
            json!({"name": "p2", "trunk_vlans": "10-5"}),
            -32602,
            "range runs backwards",
        ),
        (
            "port.set",
            json!({"name": "p1", "trunk_vlans": "10"}),
            -32602,
            "only trunk ports",
        ),
        (
            "port.set",
            json!({"name": "p1", "iface": "other"}),
            -32602,
            "unknown field `iface`",
        ),
        (
            "port.set",
            json!({"name": "zz", "vlan": 10}),
            -32001,
            "no port named",
        ),
        ("fdb.show", json!({"vlan": 5000}), -32602, "out of range"),
        ("fdb.show", json!({"mac": "xx"}), -32602, "invalid MAC"),
        ("fdb.show", json!({"port": "zz"}), -32001, "no port named"),
        (
            "fdb.add",
            json!({"mac": "01:00:5e:00:00:01", "vlan": 10, "port": "p1"}),
            -32602,
            "unicast",
        ),
        (
            "fdb.add",
            json!({"mac": "02:00:00:00:00:01", "vlan": 20, "port": "p1"}),
            -32002,
            "does not carry VLAN 20",
        ),
        (
            "fdb.add",
            json!({"mac": "02:00:00:00:00:01", "vlan": 10}),
            -32602,
            "missing field `port`",
        ),
        (
            "fdb.del",
            json!({"mac": "02:00:00:00:00:77", "vlan": 10}),
            -32001,
            "no FDB entry",
        ),
        ("fdb.flush", json!({}), -32602, "exactly one of"),
        (
            "fdb.flush",
            json!({"port": "p1", "vlan": 10}),
            -32602,
            "exactly one of",
        ),
        ("fdb.flush", json!({"all": "yes"}), -32602, "invalid type"),
        (
            "stats.show",
            json!({"format": "xml"}),
            -32602,
            "unknown variant `xml`",
        ),
        ("stats.clear", json!({"now": true}), -32602, "unknown field"),
        ("config.show", json!({"x": 1}), -32602, "unknown field"),
        (
            "config.save",
            json!({"path": "/nonexistent-dir/x.toml"}),
            -32000,
            "cannot write",
        ),
        ("no.such.method", json!({}), -32601, "unknown method"),
    ];
    for (m, p, code, text) in cases {
        match d.call(m, p.clone()) {
            Ok(v) => panic!("{m} {p} succeeded: {v}"),
            Err((c, msg)) => {
                assert_eq!(c, code, "{m} {p}: {msg}");
                assert!(
                    msg.contains(text),
                    "{m} {p}: {msg:?} should mention {text:?}"
                );
            }
        }
    }
    assert_eq!(
        d.call("config.show", json!({})).unwrap(),
        before,
        "a failed request changed the config"
    );
    assert!(lab.xdp_left().iter().all(|i| *i != "vaipnone"));
}

/// Bad framing: every line gets an answer; nothing hurts the daemon.
#[test]
fn malformed_input_gets_errors_and_hurts_nobody() {
    let _g = serial();
    let mut lab = Lab::new("vamf");
    let a = lab.host(1);
    let d = Daemon::start("ctl-malformed", &config("", &[(&a, "vlan = 10")]));
    let before = d.call("config.show", json!({})).unwrap();
    // A long-lived client must keep working while others misbehave.
    let mut steady = UnixStream::connect(&d.socket).unwrap();
    let mut steady_rd = BufReader::new(steady.try_clone().unwrap());
    let mut steady_call = || {
        writeln!(steady, r#"{{"jsonrpc":"2.0","id":"s","method":"status"}}"#).unwrap();
        let mut l = String::new();
        steady_rd.read_line(&mut l).unwrap();
        serde_json::from_str::<Value>(&l).unwrap()["result"]["pid"].is_number()
    };
    assert!(steady_call());

    let answers = raw_exchange(&d, b"{not json\n[1,2]\n\"str\"\n{\"jsonrpc\":\"2.0\",\"method\":\"status\"}\n{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"port.show\",\"params\":[\"p1\"]}\n", true);
    let codes: Vec<i64> = answers
        .iter()
        .map(|a| a["error"]["code"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(
        codes,
        vec![-32700, -32600, -32600, 0, -32602],
        "{answers:?}"
    );
    assert!(
        answers[3]["result"]["pid"].is_number(),
        "an id-less request is answered with id null"
    );
    assert_eq!(answers[3]["id"], Value::Null);

    let mut big = vec![b'{'; 70_000];
    big.extend_from_slice(b"\n{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"status\"}\n");
    let answers = raw_exchange(&d, &big, true);
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert!(
        answers[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("longer than"),
        "{answers:?}"
    );
    assert_eq!(
        answers[1]["id"], 9,
        "the connection survives an oversized line"
    );

    let answers = raw_exchange(&d, br#"{"jsonrpc":"2.0","id":1,"method":"sta"#, true);
    assert_eq!(answers.len(), 1);
    assert!(
        answers[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("incomplete"),
        "{answers:?}"
    );

    // Random bytes and random JSON for a bounded time.
    let mut rng = 0x1234_5678_9abc_def1u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let methods = [
        "status",
        "port.list",
        "port.show",
        "port.add",
        "port.del",
        "port.set",
        "fdb.show",
        "fdb.add",
        "fdb.del",
        "fdb.flush",
        "stats.show",
        "stats.clear",
        "config.show",
        "bogus",
        "",
    ];
    let keys = [
        "name",
        "iface",
        "vlan",
        "mac",
        "port",
        "all",
        "include_static",
        "format",
        "vlan_mode",
        "trunk_vlans",
        "learning",
        "promiscuous",
        "worker",
        "zz",
    ];
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut sent = 0;
    while Instant::now() < deadline {
        let mut batch = Vec::new();
        for _ in 0..20 {
            if next() % 2 == 0 {
                let n = (next() % 200) as usize;
                let mut junk: Vec<u8> = (0..n).map(|_| next() as u8).collect();
                junk.retain(|&b| b != b'\n');
                batch.extend_from_slice(&junk);
            } else {
                let mut params = serde_json::Map::new();
                for _ in 0..next() % 4 {
                    let v = match next() % 6 {
                        0 => json!(next() % 5000),
                        1 => json!(format!("x{:x}", next() % 100_000)),
                        2 => json!(next() % 2 == 0),
                        3 => Value::Null,
                        4 => json!([next() % 3]),
                        _ => json!({"k": "v"}),
                    };
                    params.insert(keys[(next() % keys.len() as u64) as usize].to_string(), v);
                }
                let req = json!({"jsonrpc": "2.0", "id": sent, "method": methods[(next() % methods.len() as u64) as usize], "params": params});
                batch.extend_from_slice(req.to_string().as_bytes());
            }
            batch.push(b'\n');
            sent += 1;
        }
        let answers = raw_exchange(&d, &batch, true);
        assert_eq!(answers.len(), 20, "one answer per line");
    }
    assert!(sent > 100);
    assert!(steady_call(), "the steady client still works");
    assert!(d.call("status", json!({})).is_ok());
    assert_eq!(
        d.call("config.show", json!({})).unwrap(),
        before,
        "config changed"
    );
}

#[test]
fn two_clients_reconfigure_at_once() {
    let _g = serial();
    let mut lab = Lab::new("vatc");
    let (a, b, c) = (lab.host(1), lab.host(2), lab.host(3));
    let d = Daemon::start(
        "ctl-two",
        &config(
            "",
            &[(&a, "vlan = 10"), (&b, "vlan = 10"), (&c, "vlan = 10")],
        ),
    );
    let d = std::sync::Arc::new(d);
    // Client 1 moves p3 between VLANs and flips its flags; client 2 edits
    // static entries on p2 and flips p2's flags; a third reads throughout.
    let one = {
        let d = std::sync::Arc::clone(&d);
        std::thread::spawn(move || {
            for i in 0..60u32 {
                let vlan = if i % 2 == 0 { 20 } else { 10 };
                d.call(
                    "port.set",
                    json!({"name": "p3", "vlan": vlan, "learning": i % 3 != 0}),
                )
                .expect("port.set p3");
            }
        })
    };
    let two = {
        let d = std::sync::Arc::clone(&d);
        std::thread::spawn(move || {
            for i in 0..60u32 {
                d.call(
                    "fdb.add",
                    json!({"mac": format!("02:00:00:00:22:{i:02x}"), "vlan": 10, "port": "p2"}),
                )
                .expect("fdb.add");
                if i % 2 == 1 {
                    d.call(
                        "fdb.del",
                        json!({"mac": format!("02:00:00:00:22:{:02x}", i - 1), "vlan": 10}),
                    )
                    .expect("fdb.del");
                }
                d.call("port.set", json!({"name": "p2", "promiscuous": i % 2 == 0}))
                    .expect("port.set p2");
            }
        })
    };
    let reader = {
        let d = std::sync::Arc::clone(&d);
        std::thread::spawn(move || {
            for _ in 0..60 {
                d.call("config.show", json!({})).expect("config.show");
                d.call("fdb.show", json!({})).expect("fdb.show");
            }
        })
    };
    for t in [one, two, reader] {
        t.join().expect("client thread");
    }
    let cfg = d.call("config.show", json!({})).unwrap();
    let port = |n: &str| {
        cfg["port"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(port("p3")["vlan"], 10, "last VLAN set on p3");
    assert_eq!(
        port("p3")["learning"],
        true,
        "last flags set on p3 (i = 59)"
    );
    assert_eq!(
        port("p2")["promiscuous"],
        false,
        "last flag set on p2 (i = 59)"
    );
    let statics = cfg["fdb"]["static"].as_array().unwrap();
    assert_eq!(
        statics.len(),
        30,
        "odd-numbered entries stay, even ones were deleted"
    );
    let fdb = d.call("fdb.show", json!({"port": "p2"})).unwrap();
    assert!(fdb["next"].is_null(), "one page: {fdb}");
    assert_eq!(
        fdb["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "static")
            .count(),
        30
    );
    assert!(lab.ping(&a, &b, 2));
}

#[test]
fn save_restart_same_config() {
    let _g = serial();
    let mut lab = Lab::new("vasr");
    let (a, b, c) = (lab.host(1), lab.host(2), lab.host(3));
    let d = Daemon::start(
        "ctl-save",
        &config("", &[(&a, "vlan = 10"), (&b, "vlan = 10")]),
    );
    d.call("port.add", json!({"name": "uplink", "iface": c.port_if, "vlan_mode": "trunk", "trunk_vlans": "10,20,100-110", "vlan": 99})).unwrap();
    d.call(
        "port.set",
        json!({"name": "p2", "promiscuous": true, "flood_unknown_unicast": false}),
    )
    .unwrap();
    d.call(
        "fdb.add",
        json!({"mac": "02:00:00:00:aa:01", "vlan": 105, "port": "uplink"}),
    )
    .unwrap();
    let before = d.call("config.show", json!({})).unwrap();
    let saved = d.call("config.save", json!({})).unwrap();
    assert_eq!(
        saved["path"],
        d.config.display().to_string(),
        "default path: the file it started with"
    );
    let (dir, cfg, sock) = (d.dir.clone(), d.config.clone(), d.socket.clone());
    assert!(d.stop().success());
    let d = Daemon::start_with(dir, cfg, sock);
    assert_eq!(d.call("config.show", json!({})).unwrap(), before);
    let fdb = d.call("fdb.show", json!({"vlan": 105})).unwrap();
    assert_eq!(
        fdb["entries"][0]["mac"], "02:00:00:00:aa:01",
        "static entries come back"
    );
}

/// A VLAN change on one port does not disturb traffic between two others.
#[test]
fn vlan_change_under_traffic_loses_nothing_elsewhere() {
    let _g = serial();
    let mut lab = Lab::new("vavc");
    let (a, b, c) = (lab.host(1), lab.host(2), lab.host(3));
    let d = Daemon::start(
        "ctl-vlanchange",
        &config(
            "",
            &[(&a, "vlan = 10"), (&b, "vlan = 10"), (&c, "vlan = 10")],
        ),
    );
    let (sa, sb) = (RawSock::open(&a.ns, "eth0"), RawSock::open(&b.ns, "eth0"));
    let (ma, mb) = ([0x02, 0xaa, 0, 0, 0, 9], [0x02, 0xbb, 0, 0, 0, 9]);
    sb.send(&frame([0xff; 6], mb, None, b"hi"));
    sa.send(&frame([0xff; 6], ma, None, b"hi"));
    std::thread::sleep(Duration::from_millis(200));
    sb.drain();
    const N: u64 = 60_000;
    let rx = std::thread::spawn(move || {
        let mut seen = Vec::with_capacity(N as usize);
        let deadline = Instant::now() + Duration::from_secs(15);
        while (seen.len() as u64) < N && Instant::now() < deadline {
            if let Some(f) = sb.recv(Duration::from_millis(500)) {
                if let Some(s) = sequence_of(&f, b"SEQ") {
                    seen.push(s);
                }
            }
        }
        seen
    });
    let tx = std::thread::spawn(move || send_sequence(&sa, mb, ma, b"SEQ", N, 20_000));
    let mut changes = 0;
    while !tx.is_finished() {
        let vlan = if changes % 2 == 0 { 20 } else { 10 };
        d.call("port.set", json!({"name": "p3", "vlan": vlan}))
            .unwrap();
        changes += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    tx.join().unwrap();
    let seen = rx.join().unwrap();
    assert!(changes >= 20, "VLAN changed {changes} times during the run");
    let lost = N as usize - seen.len();
    let reordered = seen.windows(2).filter(|w| w[1] <= w[0]).count();
    let stats = d.call("stats.show", json!({})).unwrap();
    assert_eq!(
        (lost, reordered),
        (0, 0),
        "lost or reordered frames between p1 and p2\n{stats}\n{}",
        d.log()
    );
}

/// `vswitchctl top` under tmux, captured twice while traffic flows.
#[test]
fn top_shows_live_rates() {
    let _g = serial();
    let mut lab = Lab::new("vatp");
    let (a, b) = (lab.host(1), lab.host(2));
    let d = Daemon::start(
        "ctl-top",
        &config("", &[(&a, "vlan = 10"), (&b, "vlan = 10")]),
    );
    let session = "vatp-top";
    let _ = sh("tmux", &["kill-session", "-t", session]);
    let cmd = format!(
        "{} --socket {} top --interval 1",
        bin("vswitchctl").display(),
        d.socket.display()
    );
    let (ok, _, err) = sh(
        "tmux",
        &[
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "160",
            "-y",
            "40",
            &cmd,
        ],
    );
    assert!(ok, "tmux: {err}");
    struct Kill(&'static str);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = sh("tmux", &["kill-session", "-t", self.0]);
        }
    }
    let _kill = Kill(session);
    const RATE: u64 = 4_000;
    let (sa, ma) = (RawSock::open(&a.ns, "eth0"), [0x02, 0xaa, 0, 0, 0, 7]);
    let tx = std::thread::spawn(move || send_sequence(&sa, [0xff; 6], ma, b"TOP", RATE * 8, RATE));
    let rx_rate = |screen: &str| -> Option<f64> {
        screen
            .lines()
            .find(|l| l.trim_start().starts_with("p1 "))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
    };
    let capture = || sh("tmux", &["capture-pane", "-p", "-t", session]).1;
    std::thread::sleep(Duration::from_millis(3500));
    let first = capture();
    std::thread::sleep(Duration::from_millis(2000));
    let second = capture();
    tx.join().unwrap();
    assert_ne!(first, second, "top redraws");
    for screen in [&first, &second] {
        let r = rx_rate(screen).unwrap_or_else(|| panic!("no p1 row in:\n{screen}"));
        assert!(
            (r - RATE as f64).abs() <= 0.2 * RATE as f64,
            "RX PKT/S {r} vs {RATE} sent:\n{screen}"
        );
        assert!(screen.contains("BUSY%"), "{screen}");
    }
}

#[test]
fn only_root_or_the_control_group_may_connect() {
    let _g = serial();
    let mut lab = Lab::new("vapm");
    let a = lab.host(1);
    let d = Daemon::start(
        "ctl-perm",
        &config("control_group = \"nogroup\"\n", &[(&a, "vlan = 10")]),
    );
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&d.socket).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o660, "socket mode");
    let nogroup = meta.gid();
    let ctl = bin("vswitchctl");
    let as_user = |gid: &str| {
        sh(
            "setpriv",
            &[
                "--reuid=65534",
                &format!("--regid={gid}"),
                "--clear-groups",
                ctl.to_str().unwrap(),
                "--socket",
                d.socket.to_str().unwrap(),
                "status",
            ],
        )
    };
    let (ok, out, err) = as_user(&nogroup.to_string());
    assert!(ok, "a member of the control group is allowed: {err}{out}");
    // A member may reconfigure, but not make root write files of its
    // choosing.
    let member = |args: &[&str]| {
        let mut all = vec![
            "--reuid=65534".to_string(),
            format!("--regid={nogroup}"),
            "--clear-groups".into(),
            ctl.display().to_string(),
            "--socket".into(),
            d.socket.display().to_string(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        sh("setpriv", &refs)
    };
    let (ok, _, err) = member(&["config", "save", "--path", "/tmp/vapm-elsewhere.toml"]);
    assert!(!ok && err.contains("only root"), "{err}");
    assert!(!std::path::Path::new("/tmp/vapm-elsewhere.toml").exists());
    let (ok, _, err) = member(&["config", "save"]);
    assert!(ok, "saving to the daemon's own file is allowed: {err}");
    let (ok, _, err) = member(&["port", "set", "p1", "--vlan", "20"]);
    assert!(ok, "members reconfigure: {err}");
    let (ok, _, err) = as_user("1");
    assert!(
        !ok && err.contains("cannot reach") || err.contains("permission denied"),
        "{err}"
    );
    // Even if the socket file were opened up, the daemon checks the peer.
    std::fs::set_permissions(
        &d.socket,
        std::os::unix::fs::PermissionsExt::from_mode(0o666),
    )
    .unwrap();
    let (ok, _, err) = as_user("1");
    assert!(
        !ok && err.contains("permission denied"),
        "SO_PEERCRED check: {err}"
    );
    assert!(
        wait_until(2.0, || d.call("status", json!({})).is_ok()),
        "root still allowed"
    );
}

/// Deleting the port that opened a worker's UMEM rebuilds that UMEM: the
/// worker's other ports, and hand-offs from another worker, keep working.
#[test]
fn deleting_the_anchor_port_keeps_the_rest_forwarding() {
    let _g = serial();
    let mut lab = Lab::new("vaan");
    let (a, b, c, x) = (lab.host(1), lab.host(2), lab.host(3), lab.host(4));
    // Worker 0: p1 (its UMEM's first socket), p3; worker 1: p2, p4. The
    // UMEM belongs to AF_XDP ports: they are what this test is about.
    let cfg = format!(
        "[switch]\ncontrol_socket = \"@SOCKET@\"\nworkers = [0, 1]\n{}",
        [(&a, 1), (&b, 2), (&c, 3), (&x, 4)]
            .iter()
            .map(|(h, n)| format!(
                "\n[[port]]\nname = \"p{n}\"\niface = \"{}\"\nvlan = 10\ndriver = \"afxdp\"\n",
                h.port_if
            ))
            .collect::<String>()
    );
    let d = Daemon::start("ctl-anchor", &cfg);
    let st = d.call("status", json!({})).unwrap();
    assert_eq!(
        (
            st["ports"][0]["worker"].as_u64(),
            st["ports"][2]["worker"].as_u64()
        ),
        (Some(0), Some(0))
    );
    assert!(lab.ping(&c, &b, 2), "across workers before");
    d.call("port.del", json!({"name": "p1"})).unwrap();
    assert!(
        lab.xdp_left().iter().all(|i| *i != a.port_if),
        "p1's program is gone"
    );
    assert!(
        lab.ping(&c, &b, 3),
        "p3 (same worker as p1) to p2 (other worker) after the rebuild\n{}",
        d.log()
    );
    assert!(lab.ping(&c, &x, 2), "p3 to p4");
    d.call(
        "port.add",
        json!({"name": "p1", "iface": a.port_if, "vlan": 10, "worker": 0}),
    )
    .unwrap();
    assert!(lab.ping(&a, &b, 3), "p1 back, across workers\n{}", d.log());
    assert!(lab.ping(&a, &c, 2), "p1 back, same worker");
}

/// The id of the XDP program on `iface`, if one is attached.
fn xdp_prog(iface: &str) -> Option<String> {
    let (_, out, _) = sh("ip", &["link", "show", "dev", iface]);
    out.split_once("prog/xdp id ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .map(str::to_string)
}

/// `driver` per port, changed live. `status` and `port list` say which
/// driver each port asked for and which it runs; `port set --driver`
/// re-binds only that port, which keeps its MAC entries; traffic flows
/// after every change. `auto` on a veth is the packet driver (the rule in
/// dataplane/runtime/src/port/mod.rs, `DriverChoice::resolve`).
#[test]
fn driver_changes_live_and_rebinds_only_its_port() {
    let _g = serial();
    let mut lab = Lab::new("vadr");
    let (a, b) = (lab.host(1), lab.host(2));
    // p1 is its worker's first port (it opens the UMEM) and stays on
    // AF_XDP: it must come through p2's changes untouched. p2 asks for
    // nothing: auto.
    let d = Daemon::start(
        "ctl-driver",
        &config(
            "",
            &[(&a, "vlan = 10\ndriver = \"afxdp\""), (&b, "vlan = 10")],
        ),
    );
    let b_mac = b
        .mac
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    // p2's driver as `status` and `port list` tell it; returns p1's
    // status entry, to compare across changes.
    let check = |asked: &str, runs: &str| -> Value {
        let st = d.ctl_json(&["status"]);
        let port = |name: &str| {
            st["ports"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .cloned()
                .unwrap_or_else(|| panic!("{name} in {st}"))
        };
        let (p1, p2) = (port("p1"), port("p2"));
        assert_eq!(
            (p1["driver"].as_str(), p1["driver_in_use"].as_str()),
            (Some("afxdp"), Some("afxdp")),
            "{st}"
        );
        assert_eq!(
            (p2["driver"].as_str(), p2["driver_in_use"].as_str()),
            (Some(asked), Some(runs)),
            "{st}\n{}",
            d.log()
        );
        let packet = runs == "packet";
        let offloads = if packet {
            "vnet-hdr (gso, csum)"
        } else {
            "csum-repair"
        };
        assert_eq!(p2["offloads"], offloads, "{st}");
        assert_eq!(p2["xdp"] == "-", packet, "{st}");
        assert_eq!(p2["mode"] == "-", packet, "{st}");
        assert!(p2["queues"].as_u64().unwrap() >= 1, "{st}");
        assert_eq!(
            xdp_prog(&b.port_if).is_none(),
            packet,
            "an XDP program on p2's interface exactly when it runs AF_XDP"
        );
        let list = d.ctl_json(&["port", "list"]);
        let p2l = &list.as_array().unwrap()[1];
        assert_eq!(
            (&p2l["driver"], &p2l["driver_in_use"], &p2l["offloads"]),
            (&p2["driver"], &p2["driver_in_use"], &p2["offloads"]),
            "{list}"
        );
        p1
    };
    // What shows that p1 was not re-bound: the same status, the same XDP
    // program on its interface, and traffic through it.
    let p1_before = check("auto", "packet");
    let p1_prog = xdp_prog(&a.port_if).expect("p1 runs AF_XDP");
    let (ok, out, _) = d.ctl(&["status"]);
    assert!(ok && out.contains("packet (auto)"), "{out}");
    assert!(lab.ping(&a, &b, 3), "auto (packet)\n{}", d.log());
    let learned = |d: &Daemon| -> bool {
        let fdb = d.ctl_json(&["fdb", "show", "--port", "p2"]);
        fdb.as_array().unwrap().iter().any(|e| e["mac"] == b_mac)
    };
    assert!(learned(&d), "p2's host is learned");

    for (asked, runs) in [("afxdp", "afxdp"), ("auto", "packet")] {
        let r = d.ctl_json(&["port", "set", "p2", "--driver", asked]);
        assert_eq!(
            (r["driver"].as_str(), r["driver_in_use"].as_str()),
            (Some(asked), Some(runs)),
            "{r}"
        );
        assert_eq!(r["vlan"], 10, "the other settings stay: {r}");
        assert!(learned(&d), "re-binding keeps the port's MAC entries");
        assert_eq!(check(asked, runs), p1_before, "p1 was not re-bound");
        assert_eq!(
            xdp_prog(&a.port_if).as_ref(),
            Some(&p1_prog),
            "p1's program"
        );
        assert!(lab.ping(&a, &b, 3), "{asked} ({runs})\n{}", d.log());
        assert!(lab.ping(&b, &a, 2), "{asked} ({runs}), back");
    }
    let (ok, toml, _) = d.ctl(&["config", "show"]);
    assert!(
        ok && toml.matches("driver = \"afxdp\"").count() == 1
            && toml.matches("driver = \"auto\"").count() == 1,
        "{toml}"
    );

    // A driver that does not exist: refused, nothing changes.
    let (ok, _, err) = d.ctl(&["port", "set", "p2", "--driver", "xdp"]);
    assert!(!ok && err.contains("auto, afxdp, packet"), "{err}");
    let e = d
        .call("port.set", json!({"name": "p2", "driver": "xdp"}))
        .unwrap_err();
    assert_eq!(e.0, -32602, "{e:?}");
    assert!(e.1.contains("invalid driver \"xdp\""), "{e:?}");
    let e = d
        .call(
            "port.add",
            json!({"name": "p3", "iface": "lo", "vlan": 10, "driver": "xdp"}),
        )
        .unwrap_err();
    assert!(e.1.contains("invalid driver \"xdp\""), "{e:?}");
    assert_eq!(check("auto", "packet"), p1_before);
    assert!(lab.ping(&a, &b, 2), "still forwarding\n{}", d.log());
}

/// A re-bind whose drivers cannot open the interface (here: it is gone)
/// fails with an error that says so, and loses nothing: the port stays
/// configured, without sockets (`queues` 0), the other ports forward, and
/// the next `port set` of it, once the interface is back, opens it again.
#[test]
fn driver_change_that_cannot_open_keeps_the_port() {
    let _g = serial();
    let mut lab = Lab::new("vadf");
    let (a, b, c) = (lab.host(1), lab.host(2), lab.host(3));
    let d = Daemon::start(
        "ctl-driver-fail",
        &config(
            "",
            &[
                (&a, "vlan = 10\ndriver = \"afxdp\""),
                (&b, "vlan = 10\ndriver = \"afxdp\""),
                (&c, "vlan = 10\ndriver = \"afxdp\""),
            ],
        ),
    );
    assert!(lab.ping(&a, &b, 2));
    let p3 = |d: &Daemon| d.ctl_json(&["port", "show", "p3"]);
    must("ip", &["link", "del", &c.port_if]);
    let (ok, _, err) = d.ctl(&["port", "set", "p3", "--driver", "packet"]);
    assert!(
        !ok && err.contains("driver packet could not open")
            && err.contains("reopening it with driver afxdp failed too")
            && err.contains("forwards nothing"),
        "{err}"
    );
    let p = p3(&d);
    assert_eq!(
        (
            p["driver"].as_str(),
            p["queues"].as_u64(),
            p["xdp"].as_str()
        ),
        (Some("afxdp"), Some(0), Some("-")),
        "still configured, with its old driver, without sockets: {p}"
    );
    assert!(lab.ping(&a, &b, 2), "the others forward\n{}", d.log());

    // The interface is back (a plain veth, no host behind it).
    let peer = format!("{}x3", lab.prefix());
    must(
        "ip",
        &[
            "link", "add", &c.port_if, "type", "veth", "peer", "name", &peer,
        ],
    );
    must("ip", &["link", "set", &c.port_if, "up"]);
    must("ip", &["link", "set", &peer, "up"]);
    let r = d.ctl_json(&["port", "set", "p3", "--learning", "false"]);
    assert!(r["queues"].as_u64().unwrap() >= 1, "opened again: {r}");
    assert_eq!(
        (r["driver"].as_str(), r["learning"].as_bool()),
        (Some("afxdp"), Some(false))
    );
    assert!(lab.ping(&a, &b, 2), "{}", d.log());
}

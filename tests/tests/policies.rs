//! Port policies (issue 16) end to end, on namespace hosts sending raw
//! frames: forged transmits and MAC changes rejected, a MAC-limited port's
//! third source dropped (and with `allow` forwarded but not learned), a
//! 100 k-source storm on one port that leaves every other port's hosts
//! learned and reachable with no flooding to the storming port, and a
//! flapping MAC held down by the move guard. Each setting is given once
//! through the file and changed through vswitchctl; bad values are
//! refused and change nothing.

use std::time::Duration;

use serde_json::{json, Value};
use vswitch_tests::daemon::{nonzero_counters, Daemon};
use vswitch_tests::lab::{Host, Lab};
use vswitch_tests::raw::{frame, is_test, RawSock};
use vswitch_tests::{serial, wait_until};

const BCAST: [u8; 6] = [0xff; 6];

/// A config on worker CPU 1: `fdb` lines under `[fdb]`, then one access
/// port `p<n>` in VLAN 10 per host with `extra` lines.
fn config(fdb: &str, ports: &[(&Host, &str)]) -> String {
    let mut s = format!("[switch]\ncontrol_socket = \"@SOCKET@\"\nworkers = [1]\n\n[fdb]\n{fdb}\n");
    for (h, extra) in ports {
        s += &format!(
            "\n[[port]]\nname = \"p{}\"\niface = \"{}\"\nvlan = 10\n{extra}\n",
            h.n, h.port_if
        );
    }
    s
}

fn mac_text(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn stats(d: &Daemon) -> Value {
    d.call("stats.show", json!({})).expect("stats.show")
}

fn drops(d: &Daemon, reason: &str) -> u64 {
    stats(d)["drops"][reason].as_u64().unwrap_or(0)
}

fn event(d: &Daemon, name: &str) -> u64 {
    stats(d)["events"][name].as_u64().unwrap_or(0)
}

/// The port an FDB entry of `mac` is on, if any.
fn fdb_port(d: &Daemon, mac: [u8; 6]) -> Option<String> {
    let r = d
        .call("fdb.show", json!({"mac": mac_text(mac)}))
        .expect("fdb.show");
    r["entries"]
        .as_array()?
        .first()
        .and_then(|e| e["port"].as_str().map(str::to_string))
}

/// Sends `f` from `from` and says whether `to` got it within `wait`.
fn delivered(from: &RawSock, to: &RawSock, f: &[u8], payload: &[u8], wait: Duration) -> bool {
    to.drain();
    from.send(f);
    to.recv_matching(wait, |g| is_test(g, payload)).is_some()
}

fn diag(d: &Daemon) -> String {
    let s = stats(d);
    format!(
        "drops: {}\nevents: {}\n{}",
        nonzero_counters(&s["drops"]),
        nonzero_counters(&s["events"]),
        d.log_tail(20)
    )
}

#[test]
fn vpol_forged_source_dropped_and_mac_changes_rejected() {
    let _g = serial();
    let mut lab = Lab::new("vpolsec");
    let (h1, h2, h3) = (lab.host(1), lab.host(2), lab.host(3));
    let vm = format!(
        "mac = \"{}\"\nforged_transmits = false\nmac_changes = false\n",
        mac_text(h1.mac)
    );
    let d = Daemon::start("vpol-sec", &config("", &[(&h1, &vm), (&h2, ""), (&h3, "")]));
    let (s1, s2, s3) = (
        RawSock::open(&h1.ns, "eth0"),
        RawSock::open(&h2.ns, "eth0"),
        RawSock::open(&h3.ns, "eth0"),
    );
    let w = Duration::from_millis(500);
    // The VM's own source passes; a forged one is dropped and counted.
    let own = frame(h2.mac, h1.mac, None, b"own");
    assert!(delivered(&s1, &s2, &own, b"own", w), "{}", diag(&d));
    let forged_mac = [0x02, 0, 0, 0, 0x77, 0x01];
    let forged = frame(h2.mac, forged_mac, None, b"forged");
    assert!(!delivered(&s1, &s2, &forged, b"forged", w));
    assert!(drops(&d, "forged_source") >= 1, "{}", diag(&d));
    assert_eq!(
        fdb_port(&d, forged_mac),
        None,
        "a forged source is not learned"
    );

    // MAC changes rejected: unknown unicast for another MAC floods to p3
    // but not to the VM; unicast for its own MAC and broadcasts reach it.
    let other = [0x02, 0, 0, 0, 0x77, 0x02];
    s1.drain();
    let to_other = frame(other, h2.mac, None, b"other");
    assert!(delivered(&s2, &s3, &to_other, b"other", w));
    assert!(s1.recv_matching(w, |g| is_test(g, b"other")).is_none());
    // Known unicast too: a static entry for `other` on the VM's port.
    d.call(
        "fdb.add",
        json!({"mac": mac_text(other), "vlan": 10, "port": "p1"}),
    )
    .unwrap();
    let before = drops(&d, "mac_change");
    assert!(!delivered(&s2, &s1, &to_other, b"other", w));
    assert!(drops(&d, "mac_change") > before, "{}", diag(&d));
    assert!(delivered(
        &s2,
        &s1,
        &frame(h1.mac, h2.mac, None, b"mine"),
        b"mine",
        w
    ));
    assert!(delivered(
        &s2,
        &s1,
        &frame(BCAST, h2.mac, None, b"bc"),
        b"bc",
        w
    ));

    // Live: a change that cannot hold changes nothing.
    let (ok, _, err) = d.ctl(&["port", "set", "p2", "--forged-transmits", "false"]);
    assert!(
        !ok && err.contains("forged_transmits") && err.contains("mac"),
        "{err}"
    );
    let (ok, _, err) = d.ctl(&["port", "set", "p1", "--mac", "none"]);
    assert!(!ok && err.contains("needs the port's mac"), "{err}");
    let (ok, _, err) = d.ctl(&["port", "set", "p1", "--limit-policy", "block"]);
    assert!(!ok && err.contains("block"), "{err}");
    let cfg = d.call("config.show", json!({})).unwrap();
    assert_eq!(cfg["port"][0]["forged_transmits"], false);
    assert_eq!(cfg["port"][1]["forged_transmits"], true);
    // Accepting forged transmits through vswitchctl lets the frame pass.
    let (ok, _, err) = d.ctl(&["port", "set", "p1", "--forged-transmits", "true"]);
    assert!(ok, "{err}");
    assert!(delivered(&s1, &s2, &forged, b"forged", w), "{}", diag(&d));
    let (_, shown, _) = d.ctl(&["config", "show"]);
    assert!(
        shown.contains("forged_transmits = true") && shown.contains("mac_changes = false"),
        "{shown}"
    );
}

#[test]
fn vpol_mac_limited_port_drops_its_third_source() {
    let _g = serial();
    let mut lab = Lab::new("vpollim");
    let (h1, h2) = (lab.host(1), lab.host(2));
    let d = Daemon::start(
        "vpol-lim",
        &config("", &[(&h1, "max_macs = 2\n"), (&h2, "")]),
    );
    let (s1, s2) = (RawSock::open(&h1.ns, "eth0"), RawSock::open(&h2.ns, "eth0"));
    let w = Duration::from_millis(500);
    let src = |n: u8| [0x02, 0, 0, 0, 0x78, n];
    for n in 1..=2 {
        let f = frame(BCAST, src(n), None, &[b's', n]);
        assert!(
            delivered(&s1, &s2, &f, &[b's', n], w),
            "source {n}: {}",
            diag(&d)
        );
    }
    let third = frame(BCAST, src(3), None, b"s3");
    assert!(
        !delivered(&s1, &s2, &third, b"s3", w),
        "the third source is dropped"
    );
    assert!(drops(&d, "mac_limit") >= 1, "{}", diag(&d));
    assert_eq!(fdb_port(&d, src(3)), None);
    assert_eq!(stats(&d)["ports"]["p1"]["macs"], 2);
    // Known sources still pass.
    let again = frame(BCAST, src(1), None, b"again");
    assert!(delivered(&s1, &s2, &again, b"again", w));
    // A limit above the capacity, or of 0, is refused and changes nothing.
    for bad in ["70000", "0", "-1"] {
        let (ok, _, err) = d.ctl(&["port", "set", "p1", "--max-macs", bad]);
        assert!(!ok && err.contains("max_macs"), "{bad}: {err}");
    }
    // `allow`: forwarded but not learned.
    let (ok, _, err) = d.ctl(&["port", "set", "p1", "--limit-policy", "allow"]);
    assert!(ok, "{err}");
    let limits = event(&d, "fdb_limit");
    assert!(delivered(&s1, &s2, &third, b"s3", w), "{}", diag(&d));
    assert_eq!(fdb_port(&d, src(3)), None, "forwarded, not learned");
    assert!(event(&d, "fdb_limit") > limits);
    let cfg = d.call("config.show", json!({})).unwrap();
    assert_eq!(
        (&cfg["port"][0]["max_macs"], &cfg["port"][0]["limit_policy"]),
        (&json!(2), &json!("allow"))
    );
    let (_, prom, _) = d.ctl(&["stats", "show", "--format", "prometheus"]);
    assert!(prom.contains("vswitch_port_macs{port=\"p1\"} 2"), "{prom}");
    assert!(
        prom.contains("vswitch_drops_total{reason=\"mac_limit\"}"),
        "{prom}"
    );
}

#[test]
fn vpol_source_storm_leaves_other_hosts_learned_and_unflooded() {
    let _g = serial();
    let mut lab = Lab::new("vpolstm");
    let hosts: Vec<Host> = (1..=4).map(|n| lab.host(n)).collect();
    let ports: Vec<(&Host, &str)> = hosts.iter().map(|h| (h, "")).collect();
    let d = Daemon::start("vpol-storm", &config("capacity = 1024\n", &ports));
    let socks: Vec<RawSock> = hosts.iter().map(|h| RawSock::open(&h.ns, "eth0")).collect();
    let w = Duration::from_millis(500);
    // h2 and h3 are learned before the storm; h4 speaks only after it,
    // into a full table.
    for (i, h) in hosts.iter().enumerate().skip(1).take(2) {
        socks[i].send(&frame(BCAST, h.mac, None, b"hello"));
    }
    assert!(
        wait_until(2.0, || hosts[1..3]
            .iter()
            .all(|h| fdb_port(&d, h.mac).is_some())),
        "{}",
        diag(&d)
    );
    // 100 000 random sources from h1, to a MAC nobody has (each one an
    // unknown unicast: flooded, so the storm is switched for real).
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let sink = [0x02, 0, 0, 0, 0x79, 0xfe];
    for _ in 0..100_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut src = (x & 0xffff_ffff_ffff).to_be_bytes();
        src[2] = (src[2] & 0xfe) | 0x02; // unicast, locally administered
        let src: [u8; 6] = src[2..8].try_into().unwrap();
        let _ = socks[0].try_send(&frame(sink, src, None, b"storm"));
    }
    std::thread::sleep(Duration::from_millis(500));
    // The late host makes room at the storming port's expense (a full
    // table used to refuse it until entries aged out, flooding its
    // unicast everywhere meanwhile).
    assert!(
        wait_until(5.0, || {
            socks[3].send(&frame(BCAST, hosts[3].mac, None, b"late"));
            std::thread::sleep(Duration::from_millis(200));
            fdb_port(&d, hosts[3].mac).is_some()
        }),
        "the late host is learned: {}",
        diag(&d)
    );
    let s = stats(&d);
    assert!(
        s["events"]["fdb_evicted"].as_u64().unwrap_or(0) > 0,
        "the table filled and evicted: {}",
        diag(&d)
    );
    for h in &hosts[1..] {
        assert_eq!(
            fdb_port(&d, h.mac),
            Some(format!("p{}", h.n)),
            "host {} stays learned: {}",
            h.n,
            diag(&d)
        );
    }
    // Reachable, and no frame between them floods to the storming port.
    socks[0].drain();
    for (i, a) in hosts.iter().enumerate().skip(1) {
        for (j, b) in hosts.iter().enumerate().skip(1) {
            if i != j {
                let f = frame(b.mac, a.mac, None, b"uni");
                assert!(
                    delivered(&socks[i], &socks[j], &f, b"uni", w),
                    "h{} -> h{}: {}",
                    a.n,
                    b.n,
                    diag(&d)
                );
            }
        }
    }
    assert!(
        socks[0]
            .collect(Duration::from_millis(300), |g| is_test(g, b"uni"))
            .is_empty(),
        "known unicast flooded to the storming port"
    );
    assert!(lab.ping(&hosts[1], &hosts[2], 2), "{}", diag(&d));
}

#[test]
fn vpol_flapping_mac_is_held_down() {
    let _g = serial();
    let mut lab = Lab::new("vpolflp");
    let (h1, h2, h3) = (lab.host(1), lab.host(2), lab.host(3));
    let d = Daemon::start(
        "vpol-flap",
        &config(
            "[fdb.move_guard]\nmoves = 5\nwindow_secs = 180\n",
            &[(&h1, ""), (&h2, ""), (&h3, "")],
        ),
    );
    let (s1, s2, s3) = (
        RawSock::open(&h1.ns, "eth0"),
        RawSock::open(&h2.ns, "eth0"),
        RawSock::open(&h3.ns, "eth0"),
    );
    // Bad values are refused with the key and change nothing.
    for (args, key) in [
        (vec!["--move-guard-moves", "0"], "move_guard_moves"),
        (
            vec!["--move-guard-window-secs", "-1"],
            "move_guard_window_secs",
        ),
        (vec!["--aging-secs", "-5"], "aging_secs"),
        (
            vec![
                "--move-guard-holddown-secs",
                "30",
                "--move-guard-moves",
                "0",
            ],
            "move_guard_moves",
        ),
    ] {
        let mut a = vec!["fdb", "set"];
        a.extend(args);
        let (ok, _, err) = d.ctl(&a);
        assert!(!ok && err.contains(key), "{a:?}: {err}");
    }
    let e = d.call("fdb.set", json!({"capacity": 10})).unwrap_err();
    assert!(e.1.contains("capacity"), "{e:?}");
    let cfg = d.call("config.show", json!({})).unwrap();
    assert_eq!(cfg["fdb"]["move_guard"]["holddown_secs"], 0);
    // Through vswitchctl: 3 moves in the window, a 30 s hold-down.
    let r = d.ctl_json(&[
        "fdb",
        "set",
        "--aging-secs",
        "60",
        "--move-guard-moves",
        "3",
        "--move-guard-holddown-secs",
        "30",
    ]);
    assert_eq!(r["move_guard"]["moves"], 3);
    assert_eq!(r["aging_secs"], 60);

    // One MAC sent alternately from h1 and h2: a loop or an impostor.
    let flapper = [0x02, 0, 0, 0, 0x7a, 0x01];
    let f = frame(BCAST, flapper, None, b"flap");
    for i in 0..8 {
        if i % 2 == 0 { &s1 } else { &s2 }.send(&f);
        std::thread::sleep(Duration::from_millis(30));
    }
    assert!(
        wait_until(3.0, || stats(&d)["fdb"]["mac_flaps"] == 1),
        "one flapping episode: {}",
        diag(&d)
    );
    let s = stats(&d);
    let held: Vec<&str> = ["p1", "p2"]
        .into_iter()
        .filter(|p| s["ports"][*p]["learning_held"] == true)
        .collect();
    assert_eq!(held.len(), 1, "one port held down: {}", s["ports"]);
    assert_eq!(s["ports"]["p3"]["learning_held"], false);
    let (held, other, held_sock, other_sock) = if held[0] == "p1" {
        ("p1", "p2", &s1, &s2)
    } else {
        ("p2", "p1", &s2, &s1)
    };
    assert!(
        d.log().contains("MAC flapping between ports"),
        "{}",
        d.log_tail(20)
    );
    // The MAC stays where it is: the held port cannot take it back.
    other_sock.send(&f);
    std::thread::sleep(Duration::from_millis(100));
    let before = event(&d, "fdb_held_down");
    held_sock.send(&f);
    assert!(
        wait_until(1.0, || event(&d, "fdb_held_down") > before),
        "{}",
        diag(&d)
    );
    assert_eq!(
        fdb_port(&d, flapper).as_deref(),
        Some(other),
        "{}",
        diag(&d)
    );
    // Frames from the held port are still forwarded.
    let w = Duration::from_millis(500);
    let from_held = frame(BCAST, [0x02, 0, 0, 0, 0x7a, 0x02], None, b"held");
    assert!(
        delivered(held_sock, &s3, &from_held, b"held", w),
        "{}",
        diag(&d)
    );
    // More flapping in the same episode is not counted again.
    for i in 0..6 {
        if i % 2 == 0 { held_sock } else { other_sock }.send(&f);
        std::thread::sleep(Duration::from_millis(30));
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(stats(&d)["fdb"]["mac_flaps"], 1);
    assert_eq!(d.log().matches("MAC flapping between ports").count(), 1);
    // Hold-down 0 releases the port at once.
    d.ctl_json(&["fdb", "set", "--move-guard-holddown-secs", "0"]);
    assert_eq!(stats(&d)["ports"][held]["learning_held"], false);
    let (_, prom, _) = d.ctl(&["stats", "show", "--format", "prometheus"]);
    assert!(prom.contains("vswitch_fdb_mac_flaps_total 1"), "{prom}");
    let (_, shown, _) = d.ctl(&["config", "show"]);
    assert!(
        shown.contains("[fdb.move_guard]") && shown.contains("moves = 3"),
        "{shown}"
    );
}

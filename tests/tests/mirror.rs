//! End-to-end: port mirroring (SPAN) and `/metrics` over HTTP against a
//! real vswitchd. Copies are read with a raw socket in the analyser's
//! namespace (`RawSock` puts back the outer tag the kernel hands over out
//! of band, so frames compare as they were on the wire).
//! Run as root, one at a time (each test takes the serial lock).

use std::time::{Duration, Instant};

use serde_json::json;
use vswitch_tests::daemon::{write_config, Daemon};
use vswitch_tests::lab::{Host, Lab};
use vswitch_tests::raw::{frame, send_sequence, sequence_of, tag_of, RawSock};
use vswitch_tests::{bin, must, serial, sh, wait_until};

fn config(extra_switch: &str, ports: &[(&Host, &str)], extra: &str) -> String {
    let mut s = format!(
        "[switch]\ncontrol_socket = \"@SOCKET@\"\nworkers = [1]\n{extra_switch}\n[fdb]\naging_secs = 300\n"
    );
    for (h, extra) in ports {
        s += &format!(
            "\n[[port]]\nname = \"p{}\"\niface = \"{}\"\n{extra}\n",
            h.n, h.port_if
        );
    }
    s + extra
}

/// ICMP echo type (8 request, 0 reply) of an untagged IPv4 frame.
fn icmp_echo(f: &[u8]) -> Option<u8> {
    if f.get(12..14) != Some(&[0x08, 0x00]) || f.get(23) != Some(&1) {
        return None;
    }
    let ihl = usize::from(f.get(14)? & 0x0f) * 4;
    f.get(14 + ihl).copied().filter(|t| *t == 0 || *t == 8)
}

fn src(f: &[u8]) -> [u8; 6] {
    f[6..12].try_into().unwrap()
}

fn dst(f: &[u8]) -> [u8; 6] {
    f[0..6].try_into().unwrap()
}

/// Both directions of a ping through a mirrored port reach the output;
/// the output gets nothing that did not go through the source and
/// switches nothing itself; the session's counters and refusals.
#[test]
fn a_ping_both_ways_reaches_the_output_and_nothing_else() {
    let _g = serial();
    let mut lab = Lab::new("vmirp");
    let (a, b, c, e) = (lab.host(1), lab.host(2), lab.host(3), lab.host(4));
    let access = "vlan = 10";
    let d = Daemon::start(
        "mirror-ping",
        &config(
            "",
            &[(&a, access), (&b, access), (&c, access), (&e, access)],
            "\n[[mirror]]\nname = \"span\"\nsources = [\"p1\"]\ndirection = \"both\"\noutput = \"p3\"\n",
        ),
    );
    // Addresses resolved first, so what follows is known unicast.
    assert!(lab.ping(&a, &b, 1), "a -> b\n{}", d.log());
    assert!(lab.ping(&b, &e, 1), "b -> e\n{}", d.log());
    let sc = RawSock::open(&c.ns, "eth0");
    sc.drain();
    // Traffic that never touches p1: none of it may reach the output.
    assert!(lab.ping(&b, &e, 5), "b -> e\n{}", d.log());
    let stray: Vec<_> = sc
        .collect(Duration::from_millis(300), |f| {
            f[0] & 1 == 0 && icmp_echo(f).is_some()
        })
        .into_iter()
        .filter(|f| src(f) != a.mac && dst(f) != a.mac)
        .collect();
    assert!(
        stray.is_empty(),
        "the output got b<->e unicast: {stray:02x?}"
    );
    // A ping through p1: requests as p1 received them, replies as it sent them.
    const N: u32 = 5;
    let rx = {
        let sc = RawSock::open(&c.ns, "eth0");
        std::thread::spawn(move || sc.collect(Duration::from_secs(7), |f| icmp_echo(f).is_some()))
    };
    std::thread::sleep(Duration::from_millis(100));
    assert!(lab.ping(&a, &b, N), "a -> b\n{}", d.log());
    let seen = rx.join().unwrap();
    let requests = seen
        .iter()
        .filter(|f| icmp_echo(f) == Some(8) && src(f) == a.mac && dst(f) == b.mac)
        .count();
    let replies = seen
        .iter()
        .filter(|f| icmp_echo(f) == Some(0) && src(f) == b.mac && dst(f) == a.mac)
        .count();
    assert!(
        requests >= N as usize && replies >= N as usize,
        "{requests} requests and {replies} replies of {N} at the output"
    );
    assert!(
        seen.iter().all(|f| src(f) == a.mac || dst(f) == a.mac),
        "a frame that did not pass p1 reached the output"
    );
    assert!(
        seen.iter().all(|f| tag_of(f).is_none()),
        "access frames are copied untagged, as on the wire"
    );
    // The output switches nothing: what c sends is dropped and counted.
    assert!(!lab.ping(&c, &b, 2), "the mirror output forwarded a ping");
    let stats = d.call("stats.show", json!({})).unwrap();
    assert!(
        stats["drops"]["mirror_output"].as_u64().unwrap_or(0) > 0,
        "frames from the output not counted as mirror_output: {}",
        stats["drops"]
    );
    let copies = stats["mirrors"]["span"]["copies"].as_u64().unwrap_or(0);
    assert!(
        copies >= 2 * u64::from(N),
        "session copies {copies}: {stats}"
    );
    assert_eq!(stats["mirrors"]["span"]["dropped"], 0, "{stats}");
    let (ok, text, _) = d.ctl(&["stats", "show", "--format", "prometheus"]);
    assert!(
        ok && text.contains("vswitch_mirror_copies_total{mirror=\"span\"}"),
        "{text}"
    );
    // Refusals, each changing nothing.
    let err = d.call("port.del", json!({"name": "p3"})).unwrap_err();
    assert!(err.1.contains("mirror session"), "{err:?}");
    let (ok, _, err) = d.ctl(&[
        "mirror", "add", "--name", "loop", "--source", "p2", "--source", "p4", "--output", "p4",
    ]);
    assert!(!ok && err.contains("output"), "{err}");
    let (ok, _, err) = d.ctl(&[
        "mirror", "add", "--name", "x", "--source", "p2", "--output", "nope",
    ]);
    assert!(!ok && err.contains("nope"), "{err}");
    let (ok, _, err) = d.ctl(&[
        "mirror",
        "add",
        "--name",
        "x",
        "--source",
        "p2",
        "--output",
        "p4",
        "--direction",
        "up",
    ]);
    assert!(!ok && err.contains("direction"), "{err}");
    let list = d.call("mirror.list", json!({})).unwrap();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    let (ok, toml, _) = d.ctl(&["config", "show"]);
    assert!(
        ok && toml.contains("[[mirror]]") && toml.contains("output = \"p3\""),
        "{toml}"
    );
    // Deleted, the output is a port like the others again.
    let (ok, out, err) = d.ctl(&["mirror", "del", "span"]);
    assert!(ok, "{out}{err}");
    assert!(
        lab.ping(&c, &b, 2),
        "p3 does not forward after mirror del\n{}",
        d.log()
    );
}

/// Copies carry the tag the source had on the wire (ingress: as received,
/// egress: as sent) and the VLAN filter holds.
#[test]
fn copies_are_tagged_as_on_the_wire_and_the_vlan_filter_holds() {
    let _g = serial();
    let mut lab = Lab::new("vmirt");
    let (a, b, c, e) = (lab.host(1), lab.host(2), lab.host(3), lab.host(4));
    let d = Daemon::start(
        "mirror-tags",
        &config(
            "",
            &[
                (&a, "vlan_mode = \"trunk\"\ntrunk_vlans = \"10,20\""),
                (&b, "vlan = 10"),
                (&c, "vlan = 10"),
                (&e, "vlan = 20"),
            ],
            "",
        ),
    );
    let (ok, out, err) = d.ctl(&[
        "mirror",
        "add",
        "--name",
        "t",
        "--source",
        "p1",
        "--direction",
        "both",
        "--vlans",
        "10",
        "--output",
        "p3",
    ]);
    assert!(ok, "mirror add: {out}{err}");
    let (sa, sb, sc, se) = (
        RawSock::open(&a.ns, "eth0"),
        RawSock::open(&b.ns, "eth0"),
        RawSock::open(&c.ns, "eth0"),
        RawSock::open(&e.ns, "eth0"),
    );
    let (ma, mb, me) = (
        [0x02, 0x11, 0, 0, 0, 1],
        [0x02, 0x11, 0, 0, 0, 2],
        [0x02, 0x11, 0, 0, 0, 4],
    );
    // Learn b and e (their floods reach a tagged; b's is copied).
    sb.send(&frame([0xff; 6], mb, None, b"HELLO10"));
    se.send(&frame([0xff; 6], me, None, b"HELLO20"));
    std::thread::sleep(Duration::from_millis(200));
    sa.drain();
    let in10 = frame(mb, ma, Some((3, 10)), b"IN10");
    let in20 = frame(me, ma, Some((0, 20)), b"IN20");
    sa.send(&in10);
    sa.send(&in20);
    let got_b = sb.recv_matching(Duration::from_secs(2), |f| {
        vswitch_tests::raw::is_test(f, b"IN10")
    });
    assert!(
        got_b.is_some_and(|f| tag_of(&f).is_none()),
        "b gets IN10 untagged"
    );
    assert!(
        se.recv_matching(Duration::from_secs(2), |f| vswitch_tests::raw::is_test(
            f, b"IN20"
        ))
        .is_some(),
        "e gets IN20"
    );
    sb.send(&frame(ma, mb, None, b"OUT10"));
    se.send(&frame(ma, me, None, b"OUT20"));
    let at_a = sa.collect(Duration::from_millis(500), |f| {
        vswitch_tests::raw::is_test(f, b"OUT")
    });
    // Test frames only: the hosts' own IPv6 chatter is copied too.
    let copies = sc.collect(Duration::from_millis(800), |f| {
        vswitch_tests::raw::is_test(f, b"")
    });
    let named = |p: &[u8]| {
        copies
            .iter()
            .filter(|f| vswitch_tests::raw::is_test(f, p))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        named(b"HELLO10").len(),
        1,
        "b's flood as sent on p1: {copies:02x?}"
    );
    assert_eq!(tag_of(&named(b"HELLO10")[0]), Some((0, 10)));
    assert_eq!(
        named(b"IN10"),
        vec![in10.clone()],
        "ingress copy as received"
    );
    let out10 = named(b"OUT10");
    assert_eq!(out10.len(), 1, "egress copy: {copies:02x?}");
    assert_eq!(tag_of(&out10[0]), Some((0, 10)), "egress copy as sent");
    assert!(
        at_a.contains(&out10[0]),
        "the copy is the frame a got: {at_a:02x?}"
    );
    for p in [&b"HELLO20"[..], b"IN20", b"OUT20"] {
        assert!(named(p).is_empty(), "VLAN 20 copied: {copies:02x?}");
    }
    assert_eq!(
        copies.len(),
        3,
        "only the three VLAN 10 frames: {copies:02x?}"
    );
}

/// Sessions come and go while p1 streams to p2: p2 loses nothing.
#[test]
fn adding_and_removing_a_session_under_traffic_disturbs_nothing() {
    let _g = serial();
    let mut lab = Lab::new("vmirl");
    let (a, b, c) = (lab.host(1), lab.host(2), lab.host(3));
    let d = Daemon::start(
        "mirror-live",
        &config(
            "",
            &[(&a, "vlan = 10"), (&b, "vlan = 10"), (&c, "vlan = 10")],
            "",
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
    let (mut changes, mut copied) = (0, 0);
    while !tx.is_finished() {
        if changes % 2 == 0 {
            d.call(
                "mirror.add",
                json!({"name": "live", "sources": ["p1", "p2"], "output": "p3"}),
            )
            .unwrap();
        } else {
            let list = d.call("mirror.list", json!({})).unwrap();
            copied += list[0]["copies"].as_u64().unwrap_or(0);
            d.call("mirror.del", json!({"name": "live"})).unwrap();
        }
        changes += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    tx.join().unwrap();
    let seen = rx.join().unwrap();
    // Enough changes to land among the frames, however slow the host.
    assert!(
        changes >= 10,
        "sessions changed {changes} times during the run"
    );
    assert!(copied > 0, "no copies while the sessions lived");
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

/// The sample lines of a Prometheus text, values left out (counters move
/// between two reads), and its HELP/TYPE lines.
fn series(text: &str) -> Vec<String> {
    let mut s: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with('#') {
                l.to_string()
            } else {
                l.rsplit_once(' ').map_or(l, |(k, _)| k).to_string()
            }
        })
        .collect();
    s.sort();
    s
}

/// `/metrics` carries what `stats show --format prometheus` does; other
/// paths are 404; the address is checked and does not change live.
#[test]
fn metrics_over_http_match_the_cli() {
    let _g = serial();
    let mut lab = Lab::new("vmirm");
    let (a, b, c) = (lab.host(1), lab.host(2), lab.host(3));
    let port = 20_000 + std::process::id() % 20_000;
    let addr = format!("127.0.0.1:{port}");
    let d = Daemon::start(
        "mirror-metrics",
        &config(
            &format!("metrics_listen = \"{addr}\"\n"),
            &[(&a, "vlan = 10"), (&b, "vlan = 10"), (&c, "vlan = 10")],
            "\n[[mirror]]\nname = \"m1\"\nsources = [\"p1\"]\nvlans = \"10\"\noutput = \"p3\"\n",
        ),
    );
    assert!(lab.ping(&a, &b, 2), "a -> b\n{}", d.log());
    let url = format!("http://{addr}/metrics");
    let (ok, head, err) = sh(
        "curl",
        &["-sS", "-m", "5", "-D", "-", "-o", "/dev/null", &url],
    );
    assert!(ok, "curl: {err}");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    let http = must("curl", &["-sS", "-m", "5", &url]);
    let (ok, cli, err) = d.ctl(&["stats", "show", "--format", "prometheus"]);
    assert!(ok, "{err}");
    assert_eq!(series(&http), series(&cli), "HTTP:\n{http}\nCLI:\n{cli}");
    assert!(
        http.contains("vswitch_mirror_copies_total{mirror=\"m1\"}"),
        "{http}"
    );
    assert!(
        http.contains("vswitch_port_rx_packets_total{port=\"p1\"}"),
        "{http}"
    );
    let code = must(
        "curl",
        &[
            "-sS",
            "-m",
            "5",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("http://{addr}/"),
        ],
    );
    assert_eq!(code, "404");
    // Not live: refused, clearly.
    let err = d
        .call("switch.set", json!({"metrics_listen": "127.0.0.1:1"}))
        .unwrap_err();
    assert!(
        err.1.contains("metrics_listen") && err.1.contains("restart"),
        "{err:?}"
    );
    assert!(wait_until(2.0, || sh("curl", &["-sS", "-m", "2", &url]).0));
    // A bad address: the check names the key and its line.
    let (_, cfg, _) = write_config(
        "mirror-metrics-bad",
        "[switch]\nworkers = [1]\nmetrics_listen = \"localhost\"\n",
    );
    let out = std::process::Command::new(bin("vswitchd"))
        .args(["--check", "--config"])
        .arg(&cfg)
        .output()
        .expect("vswitchd --check");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("line 3") && err.contains("switch.metrics_listen"),
        "{err}"
    );
}

/// The output on another worker than the source: copies take the same
/// hand-off as forwarded frames.
#[test]
fn copies_reach_an_output_on_another_worker() {
    let _g = serial();
    let mut lab = Lab::new("vmirw");
    let (a, b, c) = (lab.host(1), lab.host(2), lab.host(3));
    // Ports go round-robin in file order: p1 on worker 0, p3 on 1, p2 on 0.
    let d = Daemon::start(
        "mirror-workers",
        &config(
            "",
            &[(&a, "vlan = 10"), (&c, "vlan = 10"), (&b, "vlan = 10")],
            "\n[[mirror]]\nname = \"x\"\nsources = [\"p1\"]\noutput = \"p3\"\n",
        )
        .replace("workers = [1]", "workers = [0, 1]"),
    );
    let status = d.call("status", json!({})).unwrap();
    let worker = |name: &str| {
        status["ports"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name))
            .map(|p| p["worker"].clone())
    };
    assert_ne!(worker("p1"), worker("p3"), "{status}");
    assert!(lab.ping(&a, &b, 1), "a -> b\n{}", d.log());
    let sc = RawSock::open(&c.ns, "eth0");
    let rx =
        std::thread::spawn(move || sc.collect(Duration::from_secs(5), |f| icmp_echo(f).is_some()));
    std::thread::sleep(Duration::from_millis(100));
    assert!(lab.ping(&a, &b, 3), "a -> b\n{}", d.log());
    let seen = rx.join().unwrap();
    let kinds = |t: u8| seen.iter().filter(|f| icmp_echo(f) == Some(t)).count();
    assert!(
        kinds(8) >= 3 && kinds(0) >= 3,
        "{} requests, {} replies",
        kinds(8),
        kinds(0)
    );
    let stats = d.call("stats.show", json!({})).unwrap();
    assert!(
        stats["events"]["handoff"].as_u64().unwrap_or(0) >= 6,
        "{}",
        stats["events"]
    );
}

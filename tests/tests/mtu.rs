//! End-to-end: per-port MTU and jumbo frames on the packet driver. TCP at
//! MTU 9000 (endpoints and switch-side interfaces) with the endpoints'
//! default offloads, through access ports and across a trunk between two
//! switches; a frame one byte over a port's MTU dropped and counted as
//! `too_large` in the right direction (on receipt, at output); MTU changes
//! of the interface seen in `status` within a second; `mtu` set live
//! changing what the switch enforces. (AF_XDP ports carry 9000 with
//! multi-buffer sockets: tests/tests/jumbo_afxdp.rs.)
//!
//! Run as root, one at a time (each test takes the serial lock); every
//! namespace, veth and daemon is removed when the test ends, failed or not.

use std::time::Duration;

use serde_json::{json, Value};
use vswitch_tests::daemon::{nonzero_counters, Daemon};
use vswitch_tests::lab::{Host, Lab};
use vswitch_tests::raw::{frame, is_test, RawSock};
use vswitch_tests::{must, serial, sh, transfer, wait_until};

const MB: u64 = 1 << 20;

/// A `[[port]]` table.
fn port(name: &str, iface: &str, extra: &str) -> String {
    format!("\n[[port]]\nname = \"{name}\"\niface = \"{iface}\"\n{extra}\n")
}

/// A config with one poll worker on CPU `cpu` and `ports`.
fn config(cpu: u32, ports: &[String]) -> String {
    format!(
        "[switch]\ncontrol_socket = \"@SOCKET@\"\nworkers = [{cpu}]\n\n[fdb]\naging_secs = 300\n{}",
        ports.concat()
    )
}

/// Gives host `h`'s eth0 (in its namespace) the MTU `mtu`.
fn endpoint_mtu(h: &Host, mtu: u32) {
    must(
        "ip",
        &["-n", &h.ns, "link", "set", "eth0", "mtu", &mtu.to_string()],
    );
}

/// Gives the root-namespace interface `iface` the MTU `mtu`.
fn iface_mtu(iface: &str, mtu: u32) {
    must("ip", &["link", "set", iface, "mtu", &mtu.to_string()]);
}

/// An interface's MTU, from sysfs.
fn read_mtu(iface: &str) -> u32 {
    std::fs::read_to_string(format!("/sys/class/net/{iface}/mtu"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Port `name` as `status` shows it.
fn port_status(d: &Daemon, name: &str) -> Value {
    let st = d.call("status", json!({})).expect("status");
    st["ports"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name).cloned())
        .unwrap_or(Value::Null)
}

fn stats(d: &Daemon) -> Value {
    d.call("stats.show", json!({}))
        .unwrap_or_else(|e| panic!("stats.show: {e:?}\n{}", d.log_tail(30)))
}

/// Counters and the log tail, for failure messages.
fn context(daemons: &[(&str, &Daemon)]) -> String {
    let mut out = String::new();
    for (name, d) in daemons {
        let s = d
            .call("stats.show", json!({}))
            .map(|s| {
                let mut o = String::new();
                if let Some(ports) = s["ports"].as_object() {
                    for (p, c) in ports {
                        o += &format!(
                            "  port {p}: rx {} pkts {} B (dropped {}), tx {} pkts {} B (dropped {}), mtu {}\n",
                            c["rx_packets"], c["rx_bytes"], c["rx_dropped"],
                            c["tx_packets"], c["tx_bytes"], c["tx_dropped"], c["mtu"]
                        );
                    }
                }
                let drops = nonzero_counters(&s["drops"]);
                o + &format!("  drops: {}\n", drops)
            })
            .unwrap_or_else(|e| format!("  stats.show failed: {e:?}\n"));
        out += &format!(
            "--- {name}: counters\n{s}--- {name}: log tail\n{}\n",
            d.log_tail(25)
        );
    }
    out
}

/// (rx_dropped, tx_dropped) of a port and the switch's `too_large` drops.
fn too_large(d: &Daemon, port: &str) -> (u64, u64, u64) {
    let s = stats(d);
    let p = &s["ports"][port];
    (
        p["rx_dropped"].as_u64().unwrap_or(0),
        p["tx_dropped"].as_u64().unwrap_or(0),
        s["drops"]["too_large"].as_u64().unwrap_or(0),
    )
}

/// A don't-fragment ping of `size` bytes of ICMP payload (a frame of
/// `size` + 42 bytes) from `from` to `to`; true if all 3 came back.
fn ping_df(from: &Host, to: &Host, size: u32) -> bool {
    let (ok, out, _) = sh(
        "ip",
        &[
            "netns",
            "exec",
            &from.ns,
            "ping",
            "-M",
            "do",
            "-s",
            &size.to_string(),
            "-c",
            "3",
            "-i",
            "0.2",
            "-W",
            "1",
            "-q",
            &to.ip,
        ],
    );
    ok && out.contains("3 received")
}

/// 100 MB byte-exact over TCP, failing with context.
fn must_tcp(from: &Host, to: &Host, daemons: &[(&str, &Daemon)]) {
    let r = transfer::tcp(
        &from.ns,
        &to.ns,
        &to.ip,
        5201,
        100 * MB,
        u64::from(from.n) << 8 | u64::from(to.n),
        Duration::from_secs(60),
    )
    .unwrap_or_else(|e| {
        panic!(
            "TCP 100 MB {} -> {} at MTU 9000: {e}\n{}",
            from.ip,
            to.ip,
            context(daemons)
        )
    });
    eprintln!(
        "TCP 100 MB {} -> {} at MTU 9000: byte-exact, {:.2} s, {:.2} Gbit/s",
        from.ip,
        to.ip,
        r.secs,
        r.gbit_s()
    );
}

/// Fails unless the switch moved the stream as super-frames built from
/// jumbo segments and dropped nothing for size or offload.
fn assert_jumbo_stream(name: &str, d: &Daemon, rx_port: &str, tx_port: &str) {
    let s = stats(d);
    let ctx = context(&[(name, d)]);
    let rx = &s["ports"][rx_port];
    let (bytes, pkts) = (
        rx["rx_bytes"].as_u64().unwrap_or(0),
        rx["rx_packets"].as_u64().unwrap_or(0),
    );
    assert!(
        bytes >= 100 * MB,
        "{name}: the stream must have crossed port {rx_port}\n{ctx}"
    );
    // Larger than one 9014-byte jumbo frame on average: super-frames.
    let avg = bytes as f64 / pkts.max(1) as f64;
    assert!(
        avg > 9014.0,
        "{name}: port {rx_port} received {avg:.0} bytes per frame; super-frames of jumbo \
         segments should average more than one 9014-byte frame\n{ctx}"
    );
    assert!(
        s["ports"][tx_port]["tx_bytes"].as_u64().unwrap_or(0) >= 100 * MB,
        "{name}: port {tx_port} must have sent the stream\n{ctx}"
    );
    for reason in ["too_large", "truncated", "bad_offload"] {
        assert_eq!(
            s["drops"][reason].as_u64(),
            Some(0),
            "{name}: drops.{reason} must stay 0 at MTU 9000\n{ctx}"
        );
    }
}

/// h1 and h2 on access ports of VLAN 10, everything at MTU 9000: h1's
/// switch-side interface through `mtu = 9000` in the config (vswitchd sets
/// it), h2's by hand (the port follows it). Jumbo pings cross without
/// fragmenting, and 100 MB of TCP arrive byte-exact with the endpoints'
/// default offloads, as super-frames of jumbo segments.
#[test]
fn tcp_100mb_byte_exact_at_mtu_9000_through_access_ports() {
    let _g = serial();
    let mut lab = Lab::new("vmta");
    let (h1, h2) = (lab.host(1), lab.host(2));
    for h in [&h1, &h2] {
        endpoint_mtu(h, 9000);
    }
    iface_mtu(&h2.port_if, 9000);
    assert_eq!(read_mtu(&h1.port_if), 1500);
    let d = Daemon::start(
        "mtu-access",
        &config(
            1,
            &[
                port(
                    "p1",
                    &h1.port_if,
                    "vlan = 10\ndriver = \"packet\"\nmtu = 9000",
                ),
                port("p2", &h2.port_if, "vlan = 10\ndriver = \"packet\""),
            ],
        ),
    );
    let ctx = [("vswitchd", &d)];
    assert_eq!(
        read_mtu(&h1.port_if),
        9000,
        "a configured mtu is set on the interface\n{}",
        d.log_tail(20)
    );
    for (p, request) in [("p1", json!(9000)), ("p2", Value::Null)] {
        let st = port_status(&d, p);
        assert_eq!(
            (&st["mtu"], &st["iface_mtu"], &st["max_frame_len"]),
            (&json!(9000), &json!(9000), &json!(9018)),
            "{p}: {st}"
        );
        assert_eq!(
            st.get("mtu_request").unwrap_or(&Value::Null),
            &request,
            "{p}: {st}"
        );
        assert!(st.get("mtu_problem").is_none(), "{p}: {st}");
    }
    assert!(
        ping_df(&h1, &h2, 8972),
        "a 9014-byte frame (ping -M do -s 8972) must cross\n{}",
        context(&ctx)
    );
    d.call("stats.clear", json!({})).expect("stats.clear");
    must_tcp(&h1, &h2, &ctx);
    assert_jumbo_stream("vswitchd", &d, "p1", "p2");
}

/// h1 (VLAN 10) — switch A — trunk (10,20), MTU 9000 set by both switches'
/// configs — switch B — h2 (VLAN 10), all at MTU 9000: tagged jumbo frames
/// (9018 bytes) cross the trunk, and 100 MB of TCP arrive byte-exact.
#[test]
fn tcp_100mb_byte_exact_at_mtu_9000_across_a_trunk() {
    let _g = serial();
    let mut lab = Lab::new("vmtt");
    let (h1, h2) = (lab.host(1), lab.host(2));
    let (ta, tb) = lab.link("ta", "tb");
    for h in [&h1, &h2] {
        endpoint_mtu(h, 9000);
        iface_mtu(&h.port_if, 9000);
    }
    let trunk = "vlan_mode = \"trunk\"\ntrunk_vlans = \"10,20\"\ndriver = \"packet\"\nmtu = 9000";
    let a = Daemon::start(
        "mtu-trunk-a",
        &config(
            0,
            &[
                port("h1", &h1.port_if, "vlan = 10\ndriver = \"packet\""),
                port("trunk", &ta, trunk),
            ],
        ),
    );
    let b = Daemon::start(
        "mtu-trunk-b",
        &config(
            1,
            &[
                port("h2", &h2.port_if, "vlan = 10\ndriver = \"packet\""),
                port("trunk", &tb, trunk),
            ],
        ),
    );
    let ctx = [("switch A", &a), ("switch B", &b)];
    assert_eq!((read_mtu(&ta), read_mtu(&tb)), (9000, 9000));
    assert!(
        ping_df(&h1, &h2, 8972),
        "a 9014-byte frame (9018 tagged on the trunk) must cross\n{}",
        context(&ctx)
    );
    for d in [&a, &b] {
        d.call("stats.clear", json!({})).expect("stats.clear");
    }
    must_tcp(&h1, &h2, &ctx);
    assert_jumbo_stream("switch A", &a, "h1", "trunk");
    assert_jumbo_stream("switch B", &b, "trunk", "h2");
}

/// Sends an untagged test frame with `payload_len` bytes behind its
/// Ethernet header from `from` to `to`'s MAC; true if `to` got it.
fn deliver(
    s_from: &RawSock,
    s_to: &RawSock,
    from: &Host,
    to: &Host,
    payload_len: usize,
    label: &[u8],
) -> bool {
    let mut payload = label.to_vec();
    payload.resize(payload_len, 0x5a);
    let f = frame(to.mac, from.mac, None, &payload);
    assert_eq!(f.len(), payload_len + 14);
    s_from.send(&f);
    s_to.recv_matching(Duration::from_millis(500), |f| is_test(f, label))
        .is_some()
}

/// Frames of exactly a port's MTU pass; one byte more is dropped and
/// counted as `too_large`: at output on the smaller port (its
/// `tx_dropped`), and on receipt (the ingress port's `rx_dropped`) when
/// the port's configured `mtu` is below its interface's. `mtu` set with
/// `port.set` changes what is enforced at once, and `null` makes the
/// port follow its interface again.
#[test]
fn a_frame_one_byte_over_the_mtu_is_dropped_and_counted_where_it_is() {
    let _g = serial();
    let mut lab = Lab::new("vmtf");
    let (h1, h2) = (lab.host(1), lab.host(2));
    // The endpoints' kernels let long frames out (h1 up to 9216 bytes of
    // payload, so one over a port's 9000 gets to the switch).
    endpoint_mtu(&h1, 9216);
    endpoint_mtu(&h2, 9000);
    iface_mtu(&h1.port_if, 9216);
    let d = Daemon::start(
        "mtu-frames",
        &config(
            1,
            &[
                port("p1", &h1.port_if, "vlan = 10\ndriver = \"packet\""),
                port("p2", &h2.port_if, "vlan = 10\ndriver = \"packet\""),
            ],
        ),
    );
    let ctx = [("vswitchd", &d)];
    let (s1, s2) = (RawSock::open(&h1.ns, "eth0"), RawSock::open(&h2.ns, "eth0"));
    // Teach the switch both MACs (known unicast from then on).
    for (s, me, to) in [(&s1, &h1, &h2), (&s2, &h2, &h1)] {
        s.send(&frame(to.mac, me.mac, None, b"hello"));
    }
    std::thread::sleep(Duration::from_millis(200));
    s1.drain();
    s2.drain();

    // Egress: p2 follows its interface (1500). 1500 bytes behind the
    // header pass, 1501 are dropped at output on p2.
    assert_eq!(port_status(&d, "p2")["max_frame_len"], 1518);
    assert!(
        deliver(&s1, &s2, &h1, &h2, 1500, b"e0"),
        "a frame of MTU 1500 must reach h2\n{}",
        context(&ctx)
    );
    let before = too_large(&d, "p2");
    let rx1_before = too_large(&d, "p1").0;
    assert!(
        !deliver(&s1, &s2, &h1, &h2, 1501, b"e1"),
        "a frame one byte over p2's MTU reached h2\n{}",
        context(&ctx)
    );
    let after = too_large(&d, "p2");
    assert_eq!(
        (
            after.1 - before.1,
            after.2 - before.2,
            too_large(&d, "p1").0 - rx1_before
        ),
        (1, 1, 0),
        "one tx drop on p2, counted as too_large, none on receipt\n{}",
        context(&ctx)
    );

    // Live: port.set p2 mtu 9000 sets the interface and lets it through.
    let set = d
        .call("port.set", json!({"name": "p2", "mtu": 9000}))
        .unwrap_or_else(|e| panic!("port.set mtu 9000: {e:?}\n{}", d.log_tail(20)));
    assert_eq!(
        (&set["mtu"], &set["mtu_request"], &set["max_frame_len"]),
        (&json!(9000), &json!(9000), &json!(9018)),
        "{set}"
    );
    assert_eq!(
        read_mtu(&h2.port_if),
        9000,
        "port.set mtu sets the interface"
    );
    assert!(
        deliver(&s1, &s2, &h1, &h2, 1501, b"e2"),
        "after port.set mtu 9000, 1501 bytes must reach h2\n{}",
        context(&ctx)
    );
    assert!(
        deliver(&s1, &s2, &h1, &h2, 9000, b"e3"),
        "9000 bytes reach h2"
    );
    let before = too_large(&d, "p2");
    assert!(
        !deliver(&s1, &s2, &h1, &h2, 9001, b"e4"),
        "9001 bytes reached h2"
    );
    let after = too_large(&d, "p2");
    assert_eq!(
        (after.1 - before.1, after.2 - before.2),
        (1, 1),
        "9001 bytes: one tx drop on p2\n{}",
        context(&ctx)
    );

    // Ingress: p1 configured at 1500 while its interface is raised behind
    // the switch's back to 9000: the kernel hands it 1501-byte frames, the
    // switch drops them on receipt (p1's rx_dropped), and says so.
    d.call("port.set", json!({"name": "p1", "mtu": 1500}))
        .unwrap_or_else(|e| panic!("port.set mtu 1500: {e:?}"));
    assert_eq!(read_mtu(&h1.port_if), 1500);
    iface_mtu(&h1.port_if, 9216);
    assert!(
        wait_until(1.0, || port_status(&d, "p1")["iface_mtu"] == 9216),
        "iface_mtu follows the interface: {}",
        port_status(&d, "p1")
    );
    let st = port_status(&d, "p1");
    assert_eq!(
        (&st["mtu"], &st["mtu_request"], &st["max_frame_len"]),
        (&json!(1500), &json!(1500), &json!(1518)),
        "a configured mtu is enforced whatever the interface says: {st}"
    );
    assert!(
        deliver(&s1, &s2, &h1, &h2, 1500, b"i0"),
        "1500 bytes pass p1"
    );
    let before = too_large(&d, "p1");
    let tx2_before = too_large(&d, "p2").1;
    assert!(
        !deliver(&s1, &s2, &h1, &h2, 1501, b"i1"),
        "1501 bytes passed p1"
    );
    let after = too_large(&d, "p1");
    assert_eq!(
        (
            after.0 - before.0,
            after.2 - before.2,
            too_large(&d, "p2").1 - tx2_before
        ),
        (1, 1, 0),
        "one rx drop on p1, counted as too_large, none at output\n{}",
        context(&ctx)
    );

    // null: p1 follows its interface (9216) again.
    let set = d
        .call("port.set", json!({"name": "p1", "mtu": null}))
        .expect("port.set mtu null");
    assert_eq!(
        (&set["mtu"], set.get("mtu_request")),
        (&json!(9216), None),
        "{set}"
    );
    assert!(
        deliver(&s1, &s2, &h1, &h2, 1501, b"i2"),
        "p1 follows its interface again"
    );
    let file = d.call("config.show", json!({})).expect("config.show");
    let ports = file["port"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        ports
            .iter()
            .map(|p| p.get("mtu").cloned())
            .collect::<Vec<_>>(),
        [None, Some(json!(9000))],
        "the running config keeps p2's mtu, not p1's: {file}"
    );
}

/// An MTU change on a port's interface shows in `status` within a second,
/// and a port without a configured `mtu` enforces it (`max_frame_len`).
#[test]
fn an_interface_mtu_change_is_seen_and_enforced_within_a_second() {
    let _g = serial();
    let mut lab = Lab::new("vmtl");
    let (h1, h2) = (lab.host(1), lab.host(2));
    let d = Daemon::start(
        "mtu-link",
        &config(
            1,
            &[
                port("p1", &h1.port_if, "vlan = 10\ndriver = \"packet\""),
                port("p2", &h2.port_if, "vlan = 10\ndriver = \"packet\""),
            ],
        ),
    );
    for mtu in [9000u32, 4000, 1500] {
        iface_mtu(&h2.port_if, mtu);
        let want = (json!(mtu), json!(mtu), json!(mtu + 18));
        let seen = wait_until(1.0, || {
            let st = port_status(&d, "p2");
            (
                st["mtu"].clone(),
                st["iface_mtu"].clone(),
                st["max_frame_len"].clone(),
            ) == want
        });
        assert!(
            seen,
            "1 s after `mtu {mtu}`: {}\n{}",
            port_status(&d, "p2"),
            d.log_tail(20)
        );
    }
}

//! Jumbo frames on AF_XDP ports: with the hosts and the switch-side veths
//! at MTU 9000, `driver = "afxdp"` ports run multi-buffer sockets
//! (`XDP_USE_SG`) under vswitchd's own frags-aware XDP program, so a
//! 9014-byte frame crosses the switch as a chain of UMEM chunks. The
//! hosts keep their default offloads otherwise (TSO and tx checksum on):
//! their TCP reaches the switch as MTU-sized segments with partial
//! checksums, which the switch completes across the chunks.
//!
//! Run as root, one at a time (each test takes the serial lock); every
//! namespace, veth and daemon is removed when the test ends, failed or not.

use std::time::Duration;

use serde_json::{json, Value};
use vswitch_tests::daemon::{nonzero_counters, Daemon};
use vswitch_tests::lab::{Host, Lab};
use vswitch_tests::{must, serial, sh, transfer};

const MB: u64 = 1 << 20;
const MTU: u32 = 9000;
/// ICMP payload that fills an MTU-9000 IPv4 packet exactly.
const PING_PAYLOAD: &str = "8972";

/// Sets MTU 9000 on host `h`'s eth0 and on its switch-side veth (before
/// the switch opens the port: the port reads the MTU when it opens).
fn jumbo(h: &Host) {
    let mtu = MTU.to_string();
    must("ip", &["-n", &h.ns, "link", "set", "eth0", "mtu", &mtu]);
    must("ip", &["link", "set", &h.port_if, "mtu", &mtu]);
}

fn config(ports: &[(&str, &str)]) -> String {
    let mut s =
        "[switch]\ncontrol_socket = \"@SOCKET@\"\nworkers = [1]\n\n[fdb]\naging_secs = 300\n"
            .to_string();
    for (name, iface) in ports {
        s += &format!(
            "\n[[port]]\nname = \"{name}\"\niface = \"{iface}\"\ndriver = \"afxdp\"\nvlan = 10\n"
        );
    }
    s
}

fn status_port(d: &Daemon, name: &str) -> Value {
    let st = d
        .call("status", json!({}))
        .unwrap_or_else(|e| panic!("status: {e:?}\n{}", d.log_tail(30)));
    st["ports"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name).cloned())
        .unwrap_or_else(|| panic!("no port {name} in status: {st}"))
}

/// Counters and log, for failure messages.
fn context(d: &Daemon) -> String {
    let s = d
        .call("stats.show", json!({}))
        .map(|s| {
            let drops = nonzero_counters(&s["drops"]);
            format!("ports: {}\ndrops: {}", s["ports"], drops)
        })
        .unwrap_or_else(|e| format!("stats.show failed: {e:?}"));
    format!("{s}\n--- log tail\n{}", d.log_tail(30))
}

/// Pings with a full 9000-byte packet and "don't fragment": only a path
/// that carries 9014-byte frames answers.
fn jumbo_ping(from: &Host, to: &Host) -> (bool, String) {
    let (ok, out, err) = sh(
        "ip",
        &[
            "netns",
            "exec",
            &from.ns,
            "ping",
            "-c",
            "3",
            "-i",
            "0.2",
            "-W",
            "2",
            "-M",
            "do",
            "-s",
            PING_PAYLOAD,
            "-q",
            &to.ip,
        ],
    );
    (ok && out.contains("3 received"), format!("{out}{err}"))
}

fn drop_count(d: &Daemon, reason: &str) -> u64 {
    d.call("stats.show", json!({}))
        .ok()
        .and_then(|s| s["drops"][reason].as_u64())
        .unwrap_or(0)
}

/// Both ports report multi-buffer with a 9018-byte frame limit (MTU +
/// Ethernet header + one tag); 9000-byte pings cross both ways with
/// "don't fragment"; 64 MB of TCP go byte-exact each way at MTU 9000;
/// no frame was dropped as cut short (a broken chain of buffers).
#[test]
fn afxdp_ports_carry_9000_byte_frames_with_multi_buffer() {
    let _g = serial();
    let mut lab = Lab::new("jmbx");
    let (h1, h2) = (lab.host(1), lab.host(2));
    jumbo(&h1);
    jumbo(&h2);
    let d = Daemon::start(
        "jumbo-afxdp",
        &config(&[("p1", &h1.port_if), ("p2", &h2.port_if)]),
    );
    for name in ["p1", "p2"] {
        let p = status_port(&d, name);
        assert_eq!(p["driver_in_use"], "afxdp", "{p}");
        assert_eq!(
            p["multi_buffer"],
            true,
            "port {name} at MTU {MTU} must run multi-buffer AF_XDP: {p}\n{}",
            d.log_tail(30)
        );
        assert_eq!(p["mtu"], MTU, "{p}");
        assert_eq!(p["max_frame_len"], 9018, "{p}");
        assert!(
            p["xdp"] == "native" || p["xdp"] == "generic",
            "the XDP mode it got is reported: {p}"
        );
    }
    for (a, b) in [(&h1, &h2), (&h2, &h1)] {
        let (ok, out) = jumbo_ping(a, b);
        assert!(
            ok,
            "ping -M do -s {PING_PAYLOAD} {} -> {} failed:\n{out}\n{}",
            a.ip,
            b.ip,
            context(&d)
        );
    }
    for (i, (a, b)) in [(&h1, &h2), (&h2, &h1)].into_iter().enumerate() {
        let r = transfer::tcp(
            &a.ns,
            &b.ns,
            &b.ip,
            5201,
            64 * MB,
            7 + i as u64,
            Duration::from_secs(60),
        )
        .unwrap_or_else(|e| {
            panic!(
                "TCP {} -> {} at MTU {MTU}: {e}\n{}",
                a.ip,
                b.ip,
                context(&d)
            )
        });
        assert_eq!(r.bytes, 64 * MB);
        eprintln!(
            "afxdp MTU {MTU}: 64 MB {} -> {} in {:.2} s ({:.2} Gbit/s)",
            a.ip,
            b.ip,
            r.secs,
            r.gbit_s()
        );
    }
    // Frames longer than one chunk really crossed: received bytes per
    // frame on p1 well above what one 4 KiB chunk holds.
    let s = d.call("stats.show", json!({})).expect("stats.show");
    let p = &s["ports"]["p1"];
    let (bytes, pkts) = (
        p["rx_bytes"].as_u64().unwrap_or(0),
        p["rx_packets"].as_u64().unwrap_or(1),
    );
    assert!(
        bytes / pkts.max(1) > 4096,
        "p1 received {pkts} frames of {bytes} bytes: jumbo frames should dominate\n{}",
        context(&d)
    );
    assert_eq!(drop_count(&d, "truncated"), 0, "{}", context(&d));
    assert_eq!(drop_count(&d, "too_large"), 0, "{}", context(&d));
    d.stop();
    assert!(
        lab.xdp_left().is_empty(),
        "the daemon's XDP programs must be gone after it stops: {:?}",
        lab.xdp_left()
    );
}

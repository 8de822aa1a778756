//! End-to-end: the control plane under hostile or careless use (issue 14):
//! privileges, bounded memory, no lockout, safe files, counters that
//! belong to their port. Run as root, one at a time (each test takes the
//! serial lock).

use std::time::Duration;

use serde_json::{json, Value};
use vswitch_tests::daemon::Daemon;
use vswitch_tests::lab::{Host, Lab};
use vswitch_tests::raw::{send_sequence, RawSock};
use vswitch_tests::serial;

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

fn counters(d: &Daemon, port: &str) -> Value {
    d.call("port.show", json!({"name": port}))
        .unwrap_or_else(|e| panic!("port.show {port}: {e:?}"))["counters"]
        .clone()
}

/// Port ids are reused: a port added after another was deleted must not
/// show the deleted port's counts.
#[test]
fn a_new_port_does_not_inherit_a_deleted_ports_counters() {
    let _g = serial();
    let mut lab = Lab::new("vcsc");
    let (a, b, c) = (lab.host(1), lab.host(2), lab.host(3));
    let d = Daemon::start(
        "cs-counters",
        &config("", &[(&a, "vlan = 10"), (&b, "vlan = 10")]),
    );
    let sock = RawSock::open(&b.ns, "eth0");
    send_sequence(&sock, a.mac, b.mac, b"vcsc", 200, 2000);
    assert!(
        vswitch_tests::wait_until(5.0, || counters(&d, "p2")["rx_packets"]
            .as_u64()
            .unwrap_or(0)
            >= 200),
        "p2 counted the frames: {}",
        counters(&d, "p2")
    );
    d.call("port.del", json!({"name": "p2"})).expect("port.del");
    d.call(
        "port.add",
        json!({"name": "p3", "iface": c.port_if, "vlan": 10}),
    )
    .expect("port.add");
    // Nothing was sent to or from p3 (the hosts have no IPv6 chatter).
    std::thread::sleep(Duration::from_millis(300));
    let fresh = counters(&d, "p3");
    for k in [
        "rx_packets",
        "rx_bytes",
        "rx_dropped",
        "tx_packets",
        "tx_bytes",
        "tx_dropped",
    ] {
        assert_eq!(fresh[k], 0, "p3's {k} starts at 0: {fresh}");
    }
    let stats = d.call("stats.show", json!({})).expect("stats.show");
    assert_eq!(stats["ports"]["p3"]["rx_packets"], 0, "{stats}");
}

//! End-to-end: `trace` agrees with what the switch then does. For a table
//! of cases (access, trunk with a native VLAN, guest; broadcast, unknown
//! and known unicast; VLANs refused), each frame is traced over the
//! socket, then the same bytes are sent from the ingress host through a
//! raw socket: exactly the ports the trace named receive it, with the tag
//! the trace said (pushed, popped or kept), and a traced drop is a drop
//! whose counter goes up; a port whose link is down is named as such
//! and its copy counted as `link_down`. Also: the trace learns nothing, vswitchctl
//! prints the steps, and bad input gets a clear error. Run as root.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use vswitch_tests::daemon::{nonzero_counters, Daemon};
use vswitch_tests::lab::{Host, Lab};
use vswitch_tests::raw::{frame, is_test, tag_of, RawSock};
use vswitch_tests::{serial, wait_until};

fn hex(f: &[u8]) -> String {
    f.iter().map(|b| format!("{b:02x}")).collect()
}

fn mac_str(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Addresses the host stacks never use, so only the test teaches them.
fn test_mac(n: u8) -> [u8; 6] {
    [0x02, 0xee, 0, 0, 0x7c, n]
}

struct Rig {
    d: Daemon,
    /// Port name -> (host, its raw socket).
    hosts: BTreeMap<String, (Host, RawSock)>,
}

impl Rig {
    fn drops(&self, reason: &str) -> u64 {
        let s = self.d.call("stats.show", json!({})).expect("stats.show");
        s["drops"][reason].as_u64().unwrap_or(0)
    }

    /// Traces `f` on `port`, sends it from that port's host, and checks
    /// the switch did what the trace said. Returns the trace.
    fn check(&self, case: &str, port: &str, f: &[u8], payload: &[u8]) -> Value {
        let t = self
            .d
            .call("trace", json!({"port": port, "frame": hex(f)}))
            .unwrap_or_else(|e| panic!("{case}: trace: {e:?}"));
        let steps = t["steps"]
            .as_array()
            .map(|s| {
                s.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default();
        let ctx = format!("{case}: trace said\n{steps}");
        // What the trace says each port gets: (PCP, VID) or untagged.
        let mut want: BTreeMap<String, Option<(u8, u16)>> = BTreeMap::new();
        for o in t["outputs"].as_array().expect("outputs") {
            let tag = o["tag"].as_object().map(|tg| {
                (
                    tg["pcp"].as_u64().unwrap() as u8,
                    tg["vid"].as_u64().unwrap() as u16,
                )
            });
            want.insert(o["port"].as_str().unwrap().to_string(), tag);
        }
        let reason = t["drop"]["reason"].as_str().map(str::to_string);
        let before = reason.as_deref().map(|r| self.drops(r));
        for (_, s) in self.hosts.values() {
            s.drain();
        }
        self.hosts[port].1.send(f);
        for (name, (_, s)) in &self.hosts {
            if name == port {
                continue;
            }
            match want.get(name) {
                Some(tag) => {
                    let got = s
                        .recv_matching(Duration::from_secs(2), |g| is_test(g, payload))
                        .unwrap_or_else(|| panic!("{ctx}\n{name} received nothing"));
                    assert_eq!(
                        tag_of(&got),
                        *tag,
                        "{ctx}\n{name} got the frame with another tag: {got:02x?}"
                    );
                    assert_eq!(
                        got.len(),
                        t["outputs"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .find(|o| o["port"] == name.as_str())
                            .unwrap()["len"]
                            .as_u64()
                            .unwrap() as usize,
                        "{ctx}\n{name}: length"
                    );
                }
                None => assert!(
                    s.recv_matching(Duration::from_millis(250), |g| is_test(g, payload))
                        .is_none(),
                    "{ctx}\n{name} received the frame; the trace said it would not"
                ),
            }
        }
        // Copies: exactly one per port (a second one would be a wrong flood).
        for (name, (_, s)) in &self.hosts {
            if want.contains_key(name) {
                assert!(
                    s.collect(Duration::from_millis(100), |g| is_test(g, payload))
                        .is_empty(),
                    "{ctx}\n{name} received it twice"
                );
            }
        }
        if let (Some(r), Some(before)) = (&reason, before) {
            assert!(
                wait_until(2.0, || self.drops(r) > before),
                "{ctx}\nthe {r} drop counter did not go up: {}",
                nonzero_counters(&self.d.call("stats.show", json!({})).unwrap()["drops"])
            );
        }
        t
    }
}

#[test]
fn trace_agrees_with_the_switch() {
    let _g = serial();
    let mut lab = Lab::new("vtrc");
    let (h1, h2, h3, h4) = (lab.host(1), lab.host(2), lab.host(3), lab.host(4));
    // p1 access 10; p2 trunk of 10,20 with native VLAN 30; p3 guest (every
    // VLAN tagged, no native); p4 access 20.
    let toml = format!(
        "[switch]\ncontrol_socket = \"@SOCKET@\"\nworkers = [1]\n\n\
         [[port]]\nname = \"p1\"\niface = \"{}\"\nvlan = 10\n\n\
         [[port]]\nname = \"p2\"\niface = \"{}\"\nvlan_mode = \"trunk\"\ntrunk_vlans = \"10,20\"\nvlan = 30\n\n\
         [[port]]\nname = \"p3\"\niface = \"{}\"\nvlan_mode = \"guest\"\n\n\
         [[port]]\nname = \"p4\"\niface = \"{}\"\nvlan = 20\n",
        h1.port_if, h2.port_if, h3.port_if, h4.port_if
    );
    let d = Daemon::start("trace", &toml);
    let mut hosts = BTreeMap::new();
    for (i, h) in [&h1, &h2, &h3, &h4].into_iter().enumerate() {
        let s = RawSock::open(&h.ns, "eth0");
        hosts.insert(format!("p{}", i + 1), (h.clone(), s));
    }
    let rig = Rig { d, hosts };
    let bc = [0xff; 6];
    let (a, b, k) = (test_mac(1), test_mac(2), test_mac(3));

    // Access, broadcast: tag 10 pushed on the trunk and the guest port.
    let t = rig.check("access broadcast", "p1", &frame(bc, a, None, b"c1"), b"c1");
    assert_eq!(t["vlan"], 10);
    assert_eq!(t["vlan_mode"], "access");
    assert_eq!(t["destination"]["lookup"], "broadcast");
    let enc: Vec<_> = t["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["port"].clone(), o["encoding"].clone()))
        .collect();
    assert_eq!(
        enc,
        vec![(json!("p2"), json!("push")), (json!("p3"), json!("push"))]
    );
    let p4 = t["excluded"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["port"] == "p4")
        .expect("p4 excluded");
    assert_eq!(p4["reason"], "not_in_vlan");

    // Trunk, tagged 20 (PCP 5): kept on the guest port, popped on p4.
    let t = rig.check(
        "trunk tagged",
        "p2",
        &frame(bc, b, Some((5, 20)), b"c2"),
        b"c2",
    );
    assert_eq!(t["vlan"], 20);
    // Trunk, untagged: the native VLAN 30, which only the guest port
    // also carries (tagged).
    let t = rig.check("trunk native", "p2", &frame(bc, b, None, b"c3"), b"c3");
    assert_eq!(t["vlan"], 30);
    assert_eq!(t["outputs"][0]["port"], "p3");
    assert_eq!(t["outputs"][0]["encoding"], "push");
    // Guest, tagged 10: popped on the access port, kept on the trunk.
    let t = rig.check(
        "guest tagged",
        "p3",
        &frame(bc, k, Some((3, 10)), b"c4"),
        b"c4",
    );
    assert_eq!(t["vlan_mode"], "guest");
    let enc: Vec<_> = t["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["port"].clone(), o["encoding"].clone()))
        .collect();
    assert_eq!(
        enc,
        vec![(json!("p1"), json!("pop")), (json!("p2"), json!("keep"))]
    );

    // The trace learns nothing: a source only traced stays unknown.
    let ghost = test_mac(9);
    rig.d
        .call(
            "trace",
            json!({"port": "p1", "dst": mac_str(bc), "src": mac_str(ghost)}),
        )
        .unwrap();
    let fdb = rig
        .d
        .call("fdb.show", json!({"mac": mac_str(ghost)}))
        .unwrap();
    assert_eq!(fdb["entries"], json!([]), "the trace learned: {fdb}");

    // Unknown unicast from the access port: flooded in VLAN 10.
    let unknown = test_mac(8);
    let t = rig.check(
        "unknown unicast",
        "p1",
        &frame(unknown, a, None, b"c5"),
        b"c5",
    );
    assert_eq!(t["destination"]["lookup"], "miss");
    assert_eq!(t["disposition"], "flood");
    // `a` was learned on p1 by the frames sent above (not by the traces).
    assert_eq!(t["source"]["action"], "known");

    // Known unicast: k was learned on p3 (VLAN 10) by the guest case.
    assert!(
        wait_until(2.0, || {
            rig.d
                .call("fdb.show", json!({"mac": mac_str(k), "vlan": 10}))
                .is_ok_and(|f| f["entries"][0]["port"] == "p3")
        }),
        "k learned on p3"
    );
    let t = rig.check("known unicast", "p1", &frame(k, a, None, b"c6"), b"c6");
    assert_eq!(t["destination"]["lookup"], "hit");
    assert_eq!(t["destination"]["port"], "p3");
    assert_eq!(t["disposition"], "forward");
    assert_eq!(t["outputs"].as_array().unwrap().len(), 1);

    // Refused VLANs: each a traced drop whose counter goes up.
    let t = rig.check(
        "vlan not allowed",
        "p2",
        &frame(bc, b, Some((0, 40)), b"c7"),
        b"c7",
    );
    assert_eq!(t["disposition"], "drop");
    assert_eq!(t["drop"]["reason"], "vlan_not_allowed");
    assert_eq!(t["drop"]["setting"], "port p2 trunk_vlans = \"10,20\"");
    assert!(t["steps"][1]
        .as_str()
        .unwrap()
        .contains("tag 40 not in trunk_vlans 10,20"));
    let t = rig.check(
        "tagged on access",
        "p1",
        &frame(bc, a, Some((0, 10)), b"c8"),
        b"c8",
    );
    assert_eq!(t["drop"]["reason"], "tagged_on_access");
    let t = rig.check(
        "untagged on guest without native",
        "p3",
        &frame(bc, k, None, b"c9"),
        b"c9",
    );
    assert_eq!(t["drop"]["reason"], "untagged_no_native");

    // Link down: the engine still picks p4 (VLAN 20), the worker drops
    // the copy; the trace says so and the link_down counter goes up.
    vswitch_tests::must("ip", &["link", "set", &h4.port_if, "down"]);
    assert!(
        wait_until(5.0, || rig
            .d
            .call("port.show", json!({"name": "p4"}))
            .is_ok_and(|p| p["link"] == "down")),
        "p4's link is seen down"
    );
    let before = rig.drops("link_down");
    let t = rig.check(
        "link down",
        "p2",
        &frame(bc, b, Some((0, 20)), b"ca"),
        b"ca",
    );
    let p4 = t["excluded"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["port"] == "p4")
        .expect("p4 excluded");
    assert_eq!(p4["reason"], "link_down", "{t}");
    assert!(
        wait_until(2.0, || rig.drops("link_down") > before),
        "the copy for p4 is counted as link_down"
    );

    // vswitchctl: the steps, from fields.
    let (ok, out, err) = rig.d.ctl(&[
        "trace",
        "--port",
        "p2",
        "--dst",
        &mac_str(k),
        "--src",
        &mac_str(b),
        "--vlan",
        "10",
        "--pcp",
        "6",
    ]);
    assert!(ok, "vswitchctl trace: {err}");
    eprintln!("vswitchctl trace:\n{out}");
    assert!(
        out.contains("classify: tagged 10 on a trunk, 10 in trunk_vlans 10,20 -> VLAN 10")
            && out.contains("FDB hit on p3")
            && out.contains("-> p3: keep tag VID 10 PCP 6"),
        "{out}"
    );
    let (ok, out, err) = rig.d.ctl(&[
        "trace",
        "--port",
        "p2",
        "--dst",
        &mac_str(bc),
        "--src",
        &mac_str(b),
        "--vlan",
        "40",
    ]);
    assert!(ok, "vswitchctl trace: {err}");
    assert!(
        out.contains("(setting: port p2 trunk_vlans = \"10,20\")"),
        "{out}"
    );
    eprintln!("vswitchctl trace:\n{out}");
    let j = rig.d.ctl_json(&[
        "trace",
        "--port",
        "p1",
        "--frame",
        &hex(&frame(bc, a, None, b"x")),
    ]);
    assert_eq!(j["disposition"], "flood");

    // Bad input: a clear error naming what is wrong, and nothing changes.
    let bad = |p: Value, want: &str| {
        let e = rig.d.call("trace", p.clone()).unwrap_err();
        assert!(e.1.contains(want), "{p}: {e:?} does not say {want:?}");
    };
    bad(
        json!({"port": "nope", "frame": "ffffffffffff020000000001 88b5"}),
        "no port named \"nope\"",
    );
    bad(json!({"port": "p1", "frame": "ffffffffffffzz"}), "not hex");
    bad(
        json!({"port": "p1", "frame": "ffffffffffff"}),
        "at least 14",
    );
    bad(
        json!({"port": "p1", "dst": "ff:ff", "src": mac_str(a)}),
        "MAC",
    );
    bad(
        json!({"port": "p1", "dst": mac_str(bc), "src": mac_str(a), "vlan": 5000}),
        "invalid vlan 5000",
    );
    bad(json!({"port": "p1", "dst": mac_str(bc)}), "dst and src");
    let (ok, _, err) = rig.d.ctl(&[
        "trace",
        "--port",
        "p1",
        "--dst",
        "zz",
        "--src",
        "02:00:00:00:00:01",
    ]);
    assert!(!ok && err.contains("zz"), "{err}");
    assert!(
        rig.d.call("status", json!({})).is_ok(),
        "the daemon still answers"
    );
}

//! End-to-end: what happens to a port when its kernel interface goes
//! away, goes down or changes its MTU, for each driver. A switch port
//! whose cable is pulled must cost nothing while it is gone, say so in
//! `status`, and forward again by itself when the interface comes back.
//! Run as root, one at a time (each test takes the serial lock).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use vswitch_tests::daemon::Daemon;
use vswitch_tests::lab::{Host, Lab};
use vswitch_tests::{must, serial, wait_until};

/// Longest CPU share a daemon may use while one of its ports is dead and
/// frames keep arriving for it: a spinning worker uses a whole core.
const MAX_CPU_SHARE: f64 = 0.20;

/// Two access ports in VLAN 10 on one worker, both with `driver`.
fn config(driver: &str, hosts: &[&Host]) -> String {
    let mut s =
        "[switch]\ncontrol_socket = \"@SOCKET@\"\nworkers = [1]\n\n[fdb]\naging_secs = 300\n"
            .to_string();
    for h in hosts {
        s += &format!(
            "\n[[port]]\nname = \"p{}\"\niface = \"{}\"\nvlan = 10\ndriver = \"{driver}\"\n",
            h.n, h.port_if
        );
    }
    s
}

/// Port `name` as `status` shows it.
fn port_status(d: &Daemon, name: &str) -> Value {
    let st = d.call("status", json!({})).expect("status");
    st["ports"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name).cloned())
        .unwrap_or(Value::Null)
}

/// Port `name`'s `link` in `status` ("" when there is none).
fn link(d: &Daemon, name: &str) -> String {
    port_status(d, name)["link"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// A steady stream of pings from one host to another (20 a second) in
/// the background, killed when dropped: traffic towards a port whose
/// interface then dies. Few enough that the cost of the frames themselves
/// stays well below the limit: each one makes a debug-build worker spin
/// a while before it sleeps again (about 1 % of a core per 10 frames a
/// second on packet ports), which is not what is measured here.
struct Stream(Child);

impl Stream {
    fn start(from: &Host, to: &Host) -> Stream {
        let child = Command::new("ip")
            .args([
                "netns", "exec", &from.ns, "ping", "-q", "-i", "0.05", "-W", "1", &to.ip,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ping");
        Stream(child)
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// CPU the daemon uses over `secs`, as a share of one core.
fn cpu_share(d: &Daemon, secs: f64) -> f64 {
    let before = d.cpu_secs();
    std::thread::sleep(Duration::from_secs_f64(secs));
    (d.cpu_secs() - before) / secs
}

/// `link_down` drops so far.
fn link_down_drops(d: &Daemon) -> u64 {
    let s = d.call("stats.show", json!({})).expect("stats.show");
    s["drops"]["link_down"].as_u64().unwrap_or(0)
}

/// Fails with every problem seen, so a failure shows the whole picture
/// (the link state, the CPU used, whether ping came back).
fn verdict(problems: &[String], d: &Daemon) {
    assert!(
        problems.is_empty(),
        "{}\n--- vswitchd log (tail) ---\n{}",
        problems.join("\n"),
        d.log_tail(30)
    );
}

/// (1) The switch-side veth of a port is deleted while traffic flows
/// towards it: the daemon stays near idle, `status` says the port's
/// interface is absent and its learned MACs are gone; once the pair is
/// re-created with the same names, ping works again with no API call.
fn deleted_interface_comes_back(driver: &str, prefix: &str) {
    let _g = serial();
    let mut lab = Lab::new(prefix);
    let (a, b) = (lab.host(1), lab.host(2));
    let d = Daemon::start(prefix, &config(driver, &[&a, &b]));
    assert!(lab.ping(&a, &b, 3), "ping before\n{}", d.log_tail(30));
    let mut problems = Vec::new();
    if link(&d, "p2") != "up" {
        problems.push(format!("before: p2 {}", port_status(&d, "p2")));
    }
    let stream = Stream::start(&a, &b);
    std::thread::sleep(Duration::from_millis(500));
    let drops_before = link_down_drops(&d);
    must("ip", &["link", "del", &b.port_if]);
    if !wait_until(3.0, || link(&d, "p2") == "absent") {
        problems.push(format!(
            "3 s after the delete, status shows p2 as {}",
            port_status(&d, "p2")
        ));
    }
    // Let the change settle, then measure with frames still arriving.
    std::thread::sleep(Duration::from_millis(500));
    let share = cpu_share(&d, 3.0);
    println!(
        "{driver}: CPU with p2's interface deleted: {:.1} %",
        share * 100.0
    );
    if share > MAX_CPU_SHARE {
        problems.push(format!(
            "vswitchd used {:.0} % of a core while p2's interface was gone",
            share * 100.0
        ));
    }
    let drops = link_down_drops(&d) - drops_before;
    if drops == 0 {
        problems.push("no frame for p2 was counted as link_down".into());
    }
    let fdb = d.call("fdb.show", json!({"port": "p2"})).expect("fdb.show");
    if fdb["entries"].as_array().is_none_or(|e| !e.is_empty()) {
        problems.push(format!("MACs learned on p2 outlived its interface: {fdb}"));
    }
    drop(stream);
    lab.rewire(&b).expect("re-create the veth pair");
    let t = Instant::now();
    let back = wait_until(10.0, || lab.ping(&a, &b, 1));
    println!(
        "{driver}: ping back {:.1} s after the re-create",
        t.elapsed().as_secs_f64()
    );
    if !back || !lab.ping(&a, &b, 3) {
        problems.push("ping after re-creating the interface: fails (10 s)".into());
    }
    let p2 = port_status(&d, "p2");
    if p2["link"] != "up" || p2["driver_in_use"] != driver {
        problems.push(format!("after the re-create: p2 {p2}"));
    }
    verdict(&problems, &d);
}

/// (2) `ip link set IF down` while traffic flows towards the port: the
/// daemon stays near idle and `status` says down; `up` again and ping
/// works, with no API call.
fn admin_down_and_up(driver: &str, prefix: &str) {
    let _g = serial();
    let mut lab = Lab::new(prefix);
    let (a, b) = (lab.host(1), lab.host(2));
    let d = Daemon::start(prefix, &config(driver, &[&a, &b]));
    assert!(lab.ping(&a, &b, 3), "ping before\n{}", d.log_tail(30));
    let mut problems = Vec::new();
    let stream = Stream::start(&a, &b);
    std::thread::sleep(Duration::from_millis(500));
    let drops_before = link_down_drops(&d);
    must("ip", &["link", "set", &b.port_if, "down"]);
    if !wait_until(3.0, || link(&d, "p2") == "down") {
        problems.push(format!(
            "3 s after link down, status shows p2 as {}",
            port_status(&d, "p2")
        ));
    }
    std::thread::sleep(Duration::from_millis(500));
    let share = cpu_share(&d, 3.0);
    println!("{driver}: CPU with p2 down: {:.1} %", share * 100.0);
    if share > MAX_CPU_SHARE {
        problems.push(format!(
            "vswitchd used {:.0} % of a core while p2 was down",
            share * 100.0
        ));
    }
    if link_down_drops(&d) == drops_before {
        problems.push("no frame for p2 was counted as link_down".into());
    }
    drop(stream);
    must("ip", &["link", "set", &b.port_if, "up"]);
    let back = wait_until(10.0, || lab.ping(&a, &b, 1));
    if !back || !lab.ping(&a, &b, 3) {
        problems.push("ping after link up: fails (10 s)".into());
    }
    if link(&d, "p2") != "up" {
        problems.push(format!("after link up: p2 {}", port_status(&d, "p2")));
    }
    verdict(&problems, &d);
}

/// (3) An MTU change on the interface shows in `status` (and `port show`)
/// within a second.
fn mtu_change_is_seen(driver: &str, prefix: &str) {
    let _g = serial();
    let mut lab = Lab::new(prefix);
    let (a, b) = (lab.host(1), lab.host(2));
    let d = Daemon::start(prefix, &config(driver, &[&a, &b]));
    assert_eq!(port_status(&d, "p2")["mtu"], 1500);
    let mut problems = Vec::new();
    for mtu in [1400u64, 1500] {
        must("ip", &["link", "set", &b.port_if, "mtu", &mtu.to_string()]);
        if !wait_until(1.0, || port_status(&d, "p2")["mtu"] == mtu) {
            problems.push(format!(
                "1 s after `mtu {mtu}`, status shows p2 as {}",
                port_status(&d, "p2")
            ));
        }
        let show = d.ctl_json(&["port", "show", "p2"]);
        if show["mtu"] != mtu {
            problems.push(format!("after `mtu {mtu}`, port show p2: {}", show["mtu"]));
        }
    }
    if !lab.ping(&a, &b, 3) {
        problems.push("ping after the MTU changes fails".into());
    }
    verdict(&problems, &d);
}

#[test]
fn afxdp_port_survives_its_interface_being_deleted_and_recreated() {
    deleted_interface_comes_back("afxdp", "vtlda");
}

#[test]
fn packet_port_survives_its_interface_being_deleted_and_recreated() {
    deleted_interface_comes_back("packet", "vtldp");
}

#[test]
fn afxdp_port_goes_down_and_up_with_its_interface() {
    admin_down_and_up("afxdp", "vtlua");
}

#[test]
fn packet_port_goes_down_and_up_with_its_interface() {
    admin_down_and_up("packet", "vtlup");
}

#[test]
fn afxdp_port_reports_mtu_changes() {
    mtu_change_is_seen("afxdp", "vtlma");
}

#[test]
fn packet_port_reports_mtu_changes() {
    mtu_change_is_seen("packet", "vtlmp");
}

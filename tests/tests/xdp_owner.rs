//! End-to-end: a switch never removes another owner's XDP program, and a
//! request it refuses changes nothing — neither a second daemon started
//! on a running one's interfaces, nor a `port.add` of such an interface,
//! nor an interface someone else's program holds.
//! Run as root, one at a time (each test takes the serial lock).

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use vswitch_tests::daemon::{write_config, Daemon};
use vswitch_tests::lab::{Host, Lab};
use vswitch_tests::{bin, must, serial, sh};

/// AF_XDP ports (the ones that attach XDP programs), access VLAN 10.
const AFXDP: &str = "vlan = 10\ndriver = \"afxdp\"";
/// Packet-driver ports (attach nothing).
const PACKET: &str = "vlan = 10\ndriver = \"packet\"";

/// A one-worker config with one port per (host, extra TOML lines).
fn config(ports: &[(&Host, &str)]) -> String {
    let mut s = "[switch]\ncontrol_socket = \"@SOCKET@\"\nworkers = [1]\n".to_string();
    for (h, extra) in ports {
        s += &format!(
            "\n[[port]]\nname = \"p{}\"\niface = \"{}\"\n{extra}\n",
            h.n, h.port_if
        );
    }
    s
}

/// The id of the XDP program attached to `iface`, if any (`ip link`
/// prints `prog/xdp id N` in whatever mode it runs).
fn xdp_prog(iface: &str) -> Option<u32> {
    let out = must("ip", &["-d", "link", "show", "dev", iface]);
    let rest = out.split("prog/xdp id ").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// The ownership record a switch keeps for `iface` (see
/// dataplane/runtime/src/port/xdp_owner.rs).
fn record_path(iface: &str) -> PathBuf {
    let ifindex = must("cat", &[&format!("/sys/class/net/{iface}/ifindex")]);
    let netns = std::fs::metadata("/proc/self/ns/net").expect("netns").ino();
    PathBuf::from(format!("/run/vswitch/xdp/if{}.net{netns}", ifindex.trim()))
}

/// Runs vswitchd on `config` expecting it to give up: its output and
/// status (killed after 60 s if it is still running).
fn run_refused(config: &PathBuf) -> Output {
    let mut child = Command::new(bin("vswitchd"))
        .arg("--config")
        .arg(config)
        .env("VSWITCH_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vswitchd");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            // SAFETY: signalling our own child.
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM)
            };
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("vswitchd output")
}

#[test]
fn a_second_daemon_leaves_the_running_ones_interfaces_alone() {
    let _g = serial();
    let mut lab = Lab::new("vxoa");
    let (h1, h2, h3) = (lab.host(1), lab.host(2), lab.host(3));
    let a = Daemon::start("xdpown-a", &config(&[(&h1, AFXDP), (&h2, AFXDP)]));
    assert!(lab.ping(&h1, &h2, 3), "A forwards\n{}", a.log_tail(20));
    let progs = (xdp_prog(&h1.port_if), xdp_prog(&h2.port_if));
    assert!(
        progs.0.is_some() && progs.1.is_some(),
        "A attached: {progs:?}"
    );

    // B: its own control socket, a free interface first, then A's.
    let (_, cfg_b, _) = write_config(
        "xdpown-b",
        &config(&[(&h3, AFXDP), (&h1, AFXDP), (&h2, AFXDP)]),
    );
    let out = run_refused(&cfg_b);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "B must not start: {err}");
    assert!(
        lab.ping(&h1, &h2, 3),
        "A still forwards after B gave up (B said: {err})\n{}",
        a.log_tail(20)
    );
    assert_eq!(
        (xdp_prog(&h1.port_if), xdp_prog(&h2.port_if)),
        progs,
        "A's programs untouched"
    );
    assert_eq!(
        xdp_prog(&h3.port_if),
        None,
        "B attached nothing on {}",
        h3.port_if
    );
    assert!(
        err.contains(&format!("process {}", a.pid())) && err.contains(&h1.port_if),
        "B's message names the interface and A's pid {}: {err}",
        a.pid()
    );
    let record = std::fs::read_to_string(record_path(&h1.port_if)).unwrap_or_default();
    assert!(
        record.contains(&format!("pid={}\n", a.pid())),
        "A's record of {}: {record:?}",
        h1.port_if
    );

    let status = a.stop();
    assert!(status.success(), "A exits cleanly: {status}");
    assert!(
        lab.xdp_left().is_empty(),
        "XDP left on {:?}",
        lab.xdp_left()
    );
    for h in [&h1, &h2] {
        assert!(
            !record_path(&h.port_if).exists(),
            "A's record of {} removed",
            h.port_if
        );
    }
}

#[test]
fn a_refused_port_add_changes_nothing() {
    let _g = serial();
    let mut lab = Lab::new("vxob");
    let (h1, h2, h3) = (lab.host(1), lab.host(2), lab.host(3));
    let a = Daemon::start("xdpown-pa", &config(&[(&h1, AFXDP), (&h2, AFXDP)]));
    let b = Daemon::start("xdpown-pb", &config(&[(&h3, AFXDP)]));
    assert!(lab.ping(&h1, &h2, 3), "A forwards\n{}", a.log_tail(20));
    let progs = (xdp_prog(&h1.port_if), xdp_prog(&h2.port_if));
    let before = b.call("config.show", json!({})).expect("config.show");
    let ports_before = b.call("port.list", json!({})).expect("port.list");

    for driver in ["afxdp", "packet"] {
        let r = b.call(
            "port.add",
            json!({"name": "stolen", "iface": h1.port_if, "vlan": 10, "driver": driver}),
        );
        let (_, message) = r.expect_err("B must refuse A's interface");
        assert!(
            lab.ping(&h1, &h2, 3),
            "driver {driver}: A still forwards (B said: {message})\n{}",
            a.log_tail(20)
        );
        assert_eq!(
            (xdp_prog(&h1.port_if), xdp_prog(&h2.port_if)),
            progs,
            "driver {driver}: A's programs untouched"
        );
        assert!(
            message.contains(&format!("process {}", a.pid())),
            "driver {driver}: the refusal names A's pid {}: {message}",
            a.pid()
        );
    }
    assert_eq!(
        b.call("config.show", json!({})).expect("config.show"),
        before,
        "B's running config unchanged"
    );
    assert_eq!(
        b.call("port.list", json!({})).expect("port.list"),
        ports_before,
        "B's ports unchanged"
    );
    assert!(b.stop().success());
    assert!(a.stop().success());
}

#[test]
fn a_foreign_program_is_refused_and_left_in_place() {
    let _g = serial();
    let mut lab = Lab::new("vxoc");
    let (h1, h2) = (lab.host(1), lab.host(2));
    // Someone else's XDP program: passes everything, recorded by nobody.
    let (dir, _, _) = write_config("xdpown-foreign", "");
    let src = dir.join("foreign.c");
    let obj = dir.join("foreign.o");
    std::fs::write(
        &src,
        "__attribute__((section(\"xdp\"), used)) int foreign_pass(void *ctx) { return 2; }\n\
         char _license[] __attribute__((section(\"license\"), used)) = \"GPL\";\n",
    )
    .expect("write foreign.c");
    let (ok, _, err) = sh(
        "clang",
        &[
            "-O2",
            "-target",
            "bpf",
            "-c",
            src.to_str().expect("utf-8"),
            "-o",
            obj.to_str().expect("utf-8"),
        ],
    );
    assert!(ok, "clang: {err}");
    must(
        "ip",
        &[
            "link",
            "set",
            "dev",
            &h1.port_if,
            "xdp",
            "obj",
            obj.to_str().expect("utf-8"),
            "sec",
            "xdp",
        ],
    );
    let foreign = xdp_prog(&h1.port_if).expect("foreign program attached");

    // AF_XDP needs the hook: refused, and nothing anywhere touched (h2
    // comes after h1 in the file and is not opened either).
    let (_, cfg, _) = write_config("xdpown-c", &config(&[(&h2, AFXDP), (&h1, AFXDP)]));
    let out = run_refused(&cfg);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "must not start: {err}");
    assert!(
        err.contains(&format!("id {foreign}"))
            && err.contains(&format!("ip link set dev {} xdpdrv off", h1.port_if)),
        "the message says what is attached and how to remove it: {err}"
    );
    assert_eq!(xdp_prog(&h1.port_if), Some(foreign), "foreign program kept");
    assert_eq!(
        xdp_prog(&h2.port_if),
        None,
        "nothing left on {}",
        h2.port_if
    );

    // The packet driver runs behind it and leaves it alone.
    let d = Daemon::start("xdpown-cp", &config(&[(&h1, PACKET), (&h2, PACKET)]));
    assert!(
        lab.ping(&h1, &h2, 3),
        "packet ports forward\n{}",
        d.log_tail(20)
    );
    assert!(d.stop().success());
    assert_eq!(xdp_prog(&h1.port_if), Some(foreign), "foreign program kept");

    // port.add refuses it too, unless root forces it: then the program is
    // replaced by ours, the port forwards, and ours goes with the daemon.
    let d = Daemon::start("xdpown-cf", &config(&[(&h2, AFXDP)]));
    let add = |force: bool| {
        d.call(
            "port.add",
            json!({"name": "p1", "iface": h1.port_if, "vlan": 10, "driver": "afxdp", "force": force}),
        )
    };
    let (_, message) = add(false).expect_err("a foreign program refuses port.add");
    assert!(
        message.contains("--force"),
        "the refusal names --force: {message}"
    );
    assert_eq!(xdp_prog(&h1.port_if), Some(foreign), "foreign program kept");
    add(true).expect("root's --force replaces the foreign program");
    let ours = xdp_prog(&h1.port_if).expect("a program after --force");
    assert_ne!(ours, foreign, "the foreign program was replaced");
    assert!(
        lab.ping(&h1, &h2, 3),
        "forced port forwards\n{}",
        d.log_tail(20)
    );
    assert!(d.stop().success());
    assert_eq!(xdp_prog(&h1.port_if), None, "ours goes with the daemon");
}

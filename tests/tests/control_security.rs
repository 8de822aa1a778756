//! End-to-end: the control plane under hostile or careless use (issue 14):
//! privileges, bounded memory, no lockout, safe files, counters that
//! belong to their port. Run as root, one at a time (each test takes the
//! serial lock).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
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

/// `control_socket` naming a file that is not a socket: vswitchd refuses
/// to start and leaves the file alone (it used to delete it).
#[test]
fn a_control_socket_path_that_is_a_file_is_refused_not_deleted() {
    let _g = serial();
    let mut lab = Lab::new("vcsf");
    let a = lab.host(1);
    let (dir, config, socket) =
        vswitch_tests::daemon::write_config("cs-sockfile", &config("", &[(&a, "vlan = 10")]));
    std::fs::write(&socket, "precious").unwrap();
    let (status, err) = run_bounded(&config, Duration::from_secs(15));
    let kept = std::fs::read_to_string(&socket);
    let xdp_left = lab.xdp_left();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        status.is_some_and(|s| !s.success()),
        "vswitchd must refuse to start ({status:?}): {err}"
    );
    assert!(
        err.contains("not a socket") && err.contains("regular file"),
        "says why: {err}"
    );
    assert_eq!(kept.ok().as_deref(), Some("precious"), "the file is kept");
    assert!(xdp_left.is_empty(), "cleaned up: {xdp_left:?}");
}

/// Runs `vswitchd --config CONFIG` expecting it to exit by itself within
/// `limit`; one still running then is stopped (SIGTERM) and `None` is
/// returned with its output.
fn run_bounded(
    config: &std::path::Path,
    limit: Duration,
) -> (Option<std::process::ExitStatus>, String) {
    use std::process::{Command, Stdio};
    let log = config.with_extension("out");
    let out = std::fs::File::create(&log).expect("log file");
    let mut child = Command::new(vswitch_tests::bin("vswitchd"))
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log fd"))
        .stderr(out)
        .spawn()
        .expect("spawn vswitchd");
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break Some(st);
        }
        if std::time::Instant::now() >= deadline {
            // SAFETY: signalling our own child process.
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM)
            };
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status, std::fs::read_to_string(&log).unwrap_or_default())
}

/// `config.save` never follows a symlink planted where its temporary file
/// goes (it used `.NAME.tmp.PID`, a name anyone could guess).
#[test]
fn config_save_follows_no_planted_symlink() {
    let _g = serial();
    let mut lab = Lab::new("vcss");
    let a = lab.host(1);
    let d = Daemon::start("cs-save", &config("", &[(&a, "vlan = 10")]));
    let victim = d.dir.join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let planted = d.dir.join(format!(".vswitchd.toml.tmp.{}", d.pid()));
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    let saved = d.call("config.save", json!({}));
    assert!(saved.is_ok(), "{saved:?}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let meta = std::fs::symlink_metadata(&d.config).unwrap();
    assert!(meta.is_file(), "the config is a file, not the planted link");
    let text = std::fs::read_to_string(&d.config).unwrap();
    assert!(text.contains("Written by vswitchd"), "{text}");
    assert!(
        std::fs::symlink_metadata(&planted).unwrap().is_symlink(),
        "the planted link was not touched"
    );
}

/// `--check` refuses a port whose interface does not exist, naming the
/// key and its line, and so does the start; worker CPUs are checked by id
/// against the affinity mask (`taskset`).
#[test]
fn check_refuses_missing_interfaces_and_cpus_outside_the_mask() {
    let _g = serial();
    let toml = "[switch]\ncontrol_socket = \"@SOCKET@\"\nworkers = [1]\n\n\
                [[port]]\nname = \"p1\"\niface = \"vcsnoif0\"\nvlan = 10\n";
    let (dir, config, _) = vswitch_tests::daemon::write_config("cs-check", toml);
    let vswitchd = vswitch_tests::bin("vswitchd");
    let check = vswitch_tests::sh(
        vswitchd.to_str().unwrap(),
        &["--config", config.to_str().unwrap(), "--check"],
    );
    let (started, start_err) = run_bounded(&config, Duration::from_secs(15));
    let taskset = |workers: &str| {
        let src = format!("[switch]\ncontrol_socket = \"/run/vcs.sock\"\nworkers = [{workers}]\n");
        let path = dir.join(format!("cpu{workers}.toml"));
        std::fs::write(&path, src).unwrap();
        vswitch_tests::sh(
            "taskset",
            &[
                "-c",
                "1",
                vswitchd.to_str().unwrap(),
                "--config",
                path.to_str().unwrap(),
                "--check",
            ],
        )
    };
    let (cpu1, cpu0) = (taskset("1"), taskset("0"));
    let _ = std::fs::remove_dir_all(&dir);
    let want = "line 7: port \"p1\".iface: interface vcsnoif0 does not exist";
    assert!(!check.0 && check.2.contains(want), "--check: {check:?}");
    assert!(
        started.is_some_and(|s| !s.success()) && start_err.contains(want),
        "start: {started:?} {start_err}"
    );
    assert!(cpu1.0, "taskset -c 1, workers = [1]: {cpu1:?}");
    assert!(
        !cpu0.0 && cpu0.2.contains("line 3: switch.workers: CPU 0"),
        "taskset -c 1, workers = [0]: {cpu0:?}"
    );
}

/// `fdb.show` answers a page at a time: a page is bounded, paging returns
/// every entry exactly once, and vswitchctl walks every page.
#[test]
fn fdb_show_pages_a_large_table() {
    use std::collections::BTreeSet;
    let _g = serial();
    let mut lab = Lab::new("vcsp");
    let (a, b) = (lab.host(1), lab.host(2));
    let d = Daemon::start(
        "cs-fdbpage",
        &config("", &[(&a, "vlan = 10"), (&b, "vlan = 10")]),
    );
    // Learn many source MACs on p2 (frames to a, which floods nothing
    // back to b).
    const SENT: u32 = 20_000;
    let sock = RawSock::open(&b.ns, "eth0");
    for i in 0..SENT {
        let src = [0x02, 0xcc, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        sock.send(&vswitch_tests::raw::frame(a.mac, src, None, b"vcsp"));
        if i % 500 == 499 {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let entries = || {
        d.call("status", json!({})).expect("status")["fdb"]["entries"]
            .as_u64()
            .unwrap()
    };
    let mut last = 0;
    vswitch_tests::wait_until(10.0, || {
        let (now, before) = (entries(), last);
        last = now;
        now > 0 && now == before
    });
    let total = entries() as usize;
    assert!(total > 15_000, "learned {total} of {SENT}");

    let walk = |params: Value, limit: usize| -> Vec<String> {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut p = params.clone();
            p["limit"] = json!(limit);
            if let Some(c) = &cursor {
                p["cursor"] = json!(c);
            }
            let page = d.call("fdb.show", p).expect("fdb.show page");
            let rows = page["entries"].as_array().expect("entries");
            assert!(rows.len() <= limit, "page of {} > {limit}", rows.len());
            seen.extend(
                rows.iter()
                    .map(|r| format!("{}/{}", r["vlan"], r["mac"].as_str().unwrap())),
            );
            pages += 1;
            assert!(pages < 10_000, "paging does not end");
            match page["next"].as_str() {
                Some(n) => cursor = Some(n.to_string()),
                None => return seen,
            }
        }
    };
    let all = walk(json!({}), 700);
    let unique: BTreeSet<_> = all.iter().cloned().collect();
    assert_eq!(unique.len(), all.len(), "no entry twice");
    assert_eq!(all.len(), total, "every entry once");
    // A filtered walk: p2's entries are all but a's own MAC (learned on p1
    // if it sent anything; the hosts are quiet, so none).
    let p2 = walk(json!({"port": "p2"}), 1000);
    assert_eq!(p2.len(), total, "p2 holds every learned entry");
    // The default page is bounded too; an oversized limit is refused.
    let first = d.call("fdb.show", json!({})).unwrap();
    assert_eq!(first["entries"].as_array().unwrap().len(), 1000);
    assert!(first["next"].is_string());
    let e = d.call("fdb.show", json!({"limit": 1_000_000})).unwrap_err();
    assert_eq!(e.0, -32602, "{e:?}");
    let e = d.call("fdb.show", json!({"cursor": "x"})).unwrap_err();
    assert_eq!(e.0, -32602, "{e:?}");
    // vswitchctl walks every page.
    let cli = d.ctl_json(&["fdb", "show"]);
    let cli: BTreeSet<String> = cli
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{}/{}", r["vlan"], r["mac"].as_str().unwrap()))
        .collect();
    assert_eq!(cli, unique, "vswitchctl fdb show lists every entry");
}

/// Opens `n` connections to `socket` as (`uid`, `gid`): in a thread of its
/// own whose effective ids alone change (raw syscalls are per thread;
/// SO_PEERCRED records them at connect), so the test process stays root.
fn connect_as(socket: &std::path::Path, uid: u32, gid: u32, n: usize) -> Vec<UnixStream> {
    let socket = socket.to_path_buf();
    std::thread::spawn(move || {
        // SAFETY: setresgid/setresuid on this thread only; -1 keeps an id.
        #[allow(unsafe_code)]
        unsafe {
            assert_eq!(
                libc::syscall(libc::SYS_setresgid, u32::MAX, gid, u32::MAX),
                0
            );
            assert_eq!(
                libc::syscall(libc::SYS_setresuid, u32::MAX, uid, u32::MAX),
                0
            );
        }
        (0..n)
            .map(|_| UnixStream::connect(&socket).expect("connect"))
            .collect()
    })
    .join()
    .expect("connecting thread")
}

/// The first line the daemon sent on `s` within `wait`, if any.
fn first_line(s: &UnixStream, wait: Duration) -> Option<String> {
    s.set_read_timeout(Some(wait)).ok();
    let mut line = String::new();
    match BufReader::new(s).read_line(&mut line) {
        Ok(n) if n > 0 => Some(line),
        _ => None,
    }
}

/// Idle group members cannot lock root out (a reserved slot), one uid
/// cannot take every slot, and idle connections are closed.
#[test]
fn idle_clients_lock_nobody_out_and_are_closed() {
    use std::os::unix::fs::MetadataExt;
    let _g = serial();
    let mut lab = Lab::new("vcsi");
    let a = lab.host(1);
    let d = Daemon::start(
        "cs-idle",
        &config(
            "control_group = \"nogroup\"\ncontrol_idle_secs = 5\ncontrol_read_secs = 2\n",
            &[(&a, "vlan = 10")],
        ),
    );
    let gid = std::fs::metadata(&d.socket).unwrap().gid();
    let started = std::time::Instant::now();
    // 64 idle clients, group members under four uids.
    let mut held = Vec::new();
    for uid in [65534, 65533, 65532, 65531] {
        held.extend(connect_as(&d.socket, uid, gid, 16));
    }
    // Refusals are written as the daemon accepts (it polls every 50 ms).
    std::thread::sleep(Duration::from_secs(1));
    let refused: Vec<String> = held
        .iter()
        .filter_map(|s| first_line(s, Duration::from_millis(5)))
        .collect();
    assert_eq!(refused.len(), 4, "60 slots for members: {refused:?}");
    assert!(
        refused.iter().all(|l| l.contains("kept for root")),
        "{refused:?}"
    );
    // Root still gets in.
    assert!(
        d.call("status", json!({})).is_ok(),
        "root is not locked out"
    );
    // Members stay refused while the slots are held.
    let one = connect_as(&d.socket, 65530, gid, 1);
    let why = first_line(&one[0], Duration::from_secs(2)).unwrap_or_default();
    assert!(why.contains("kept for root"), "{why}");
    drop(one);
    // Idle connections are closed after the idle timeout (5 s), with a
    // line that says why, and not before.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "too slow to tell"
    );
    let mut closed = 0;
    for s in &held {
        if let Some(l) = first_line(s, Duration::from_secs(10)) {
            assert!(l.contains("idle for 5 s"), "{l}");
            closed += 1;
        }
    }
    assert_eq!(closed, 60, "every accepted idle client was closed");
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(5), "not before 5 s: {took:?}");
    assert!(took < Duration::from_secs(15), "{took:?}");
    drop(held);
    // A slow request line is closed after the read timeout (2 s).
    let slow = connect_as(&d.socket, 65534, gid, 1);
    (&slow[0]).write_all(b"{\"jsonrpc\":").unwrap();
    let l = first_line(&slow[0], Duration::from_secs(6)).unwrap_or_default();
    assert!(l.contains("not finished within 2 s"), "{l}");
    // Members get in again.
    let again = connect_as(&d.socket, 65534, gid, 1);
    (&again[0])
        .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"}\n")
        .unwrap();
    let l = first_line(&again[0], Duration::from_secs(5)).unwrap_or_default();
    assert!(l.contains("\"result\""), "{l}");
}

/// A `control_group` member may open ports only on interfaces in
/// `switch.allowed_interfaces` (names and globs); root anywhere, and only
/// root may `--force`.
#[test]
fn members_open_ports_only_on_allowed_interfaces() {
    use std::os::unix::fs::MetadataExt;
    let _g = serial();
    let mut lab = Lab::new("vcsa");
    let (a, b, c, x) = (lab.host(1), lab.host(2), lab.host(3), lab.host(4));
    let d = Daemon::start(
        "cs-allowed",
        &config(
            &format!(
                "control_group = \"nogroup\"\nallowed_interfaces = [\"{}\", \"{}*\"]\n",
                b.port_if, c.port_if
            ),
            &[(&a, "vlan = 10")],
        ),
    );
    let gid = std::fs::metadata(&d.socket).unwrap().gid();
    let ctl = vswitch_tests::bin("vswitchctl");
    let member = |args: &[&str]| {
        let mut all = vec![
            "--reuid=65534".to_string(),
            format!("--regid={gid}"),
            "--clear-groups".into(),
            ctl.display().to_string(),
            "--socket".into(),
            d.socket.display().to_string(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        vswitch_tests::sh("setpriv", &refs)
    };
    // Outside the list: refused, nothing attached.
    let (ok, _, err) = member(&["port", "add", "p4", "--iface", &x.port_if, "--vlan", "10"]);
    assert!(!ok && err.contains("only root"), "{err}");
    assert!(d.call("port.show", json!({"name": "p4"})).is_err());
    let xdp = lab.xdp_left();
    assert!(!xdp.iter().any(|l| l.contains(&x.port_if)), "{xdp:?}");
    let (ok, _, err) = member(&[
        "port", "add", "p4", "--iface", &x.port_if, "--vlan", "10", "--force",
    ]);
    assert!(!ok && err.contains("only root may force"), "{err}");
    // By name and by glob: allowed.
    let (ok, _, err) = member(&["port", "add", "p2", "--iface", &b.port_if, "--vlan", "10"]);
    assert!(ok, "by name: {err}");
    let (ok, _, err) = member(&["port", "add", "p3", "--iface", &c.port_if, "--vlan", "10"]);
    assert!(ok, "by glob: {err}");
    // A re-bind reopens the interface: only on an allowed one.
    let (ok, _, err) = member(&["port", "set", "p1", "--driver", "packet"]);
    assert!(!ok && err.contains("only root"), "{err}");
    let (ok, _, err) = member(&["port", "set", "p2", "--driver", "packet"]);
    assert!(ok, "{err}");
    let (ok, _, err) = member(&["port", "set", "p1", "--vlan", "20"]);
    assert!(ok, "other settings stay open to members: {err}");
    // Root may, and may force.
    let (ok, _, err) = d.ctl(&[
        "port", "add", "p4", "--iface", &x.port_if, "--vlan", "10", "--force",
    ]);
    assert!(ok, "{err}");
    assert!(lab.ping(&b, &c, 2), "the members' ports forward");
}

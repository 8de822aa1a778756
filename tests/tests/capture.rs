//! End-to-end: `vswitchctl capture` against a running vswitchd, read back
//! with tshark. Run as root, one at a time (each test takes the serial
//! lock); tshark must be installed (scripts/test installs it).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use vswitch_control::api::capture::MAX_CAPTURES;
use vswitch_tests::daemon::Daemon;
use vswitch_tests::lab::{Host, Lab};
use vswitch_tests::raw::{frame, RawSock};
use vswitch_tests::{bin, serial, sh, wait_until};

/// A config with one port per (host, extra TOML lines), ports `p<n>`.
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

/// A vswitchctl (or a shell pipeline) that is killed if the test ends
/// before it does.
struct Proc(Child);

impl Proc {
    /// Waits up to `secs` for it to exit; (success, stdout, stderr).
    fn finish(mut self, secs: u64) -> (bool, String, String) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while self.0.try_wait().ok().flatten().is_none() {
            assert!(Instant::now() < deadline, "capture did not end in {secs} s");
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut out = (String::new(), String::new());
        if let Some(mut o) = self.0.stdout.take() {
            let _ = std::io::Read::read_to_string(&mut o, &mut out.0);
        }
        if let Some(mut e) = self.0.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut out.1);
        }
        let ok = self.0.wait().is_ok_and(|s| s.success());
        (ok, out.0, out.1)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `vswitchctl --socket S capture ARGS`, output piped.
fn capture(d: &Daemon, args: &[&str]) -> Proc {
    Proc(
        Command::new(bin("vswitchctl"))
            .arg("--socket")
            .arg(&d.socket)
            .arg("capture")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn vswitchctl"),
    )
}

/// Waits until the daemon has logged `n` started captures.
fn wait_started(d: &Daemon, n: usize) {
    assert!(
        wait_until(5.0, || d.log().matches("capture started").count() >= n),
        "{n} captures did not start\n{}",
        d.log_tail(20)
    );
}

/// `tshark -r FILE -T fields -e F...`: one line per frame.
fn tshark_fields(file: &str, fields: &[&str]) -> String {
    let mut args = vec!["-r", file, "-T", "fields", "-E", "separator=|"];
    for f in fields {
        args.extend_from_slice(&["-e", f]);
    }
    let (ok, out, err) = sh("tshark", &args);
    assert!(ok, "tshark -r {file}: {err}");
    out
}

#[test]
fn a_vlan_mismatched_frame_is_captured_at_drop_with_its_reason() {
    let _g = serial();
    let mut lab = Lab::new("vcapd");
    let (a, b) = (lab.host(1), lab.host(2));
    let d = Daemon::start(
        "capture-drop",
        &config(&[(&a, "vlan = 10"), (&b, "vlan = 10")]),
    );
    let file = d.dir.join("drop.pcapng").display().to_string();
    // Only VLAN 20 on p1: the host's own traffic (VLAN 10) is left out.
    let cap = capture(
        &d,
        &[
            "--point", "drop", "--port", "p1", "--vlan", "20", "--count", "1", "-w", &file,
        ],
    );
    wait_started(&d, 1);
    let tx = RawSock::open(&a.ns, "eth0");
    tx.send(&frame([0xff; 6], a.mac, Some((3, 20)), b"mismatch"));
    let (ok, _, err) = cap.finish(10);
    assert!(ok, "vswitchctl capture: {err}");
    assert!(
        err.contains("ended (count): 1 frame, 0 lost"),
        "summary: {err}"
    );
    let out = tshark_fields(
        &file,
        &[
            "frame.comment",
            "vlan.id",
            "vlan.priority",
            "frame.interface_name",
            "eth.src",
        ],
    );
    let mac = a.mac.map(|b| format!("{b:02x}")).join(":");
    assert_eq!(
        out.trim(),
        format!("drop: tagged_on_access|20|3|p1|{mac}"),
        "tshark read back"
    );
    // The daemon still answers, the drop was counted once.
    let stats = d.call("stats.show", json!({})).unwrap();
    assert!(stats["drops"]["tagged_on_access"].as_u64().unwrap() >= 1);
    // Bad requests name what is wrong, start nothing and leave no file.
    let bad = d.dir.join("bad.pcapng").display().to_string();
    for (args, want) in [
        (
            vec!["--point", "drop", "--port", "nope"],
            "no port named \"nope\"",
        ),
        (
            vec!["--point", "drop", "--snaplen", "0"],
            "snaplen 0 must be",
        ),
        (
            vec!["--point", "drop", "--count", "0"],
            "count must be at least 1",
        ),
        (
            vec!["--point", "drop", "--duration", "0"],
            "duration 0 must be",
        ),
    ] {
        let mut all = args.clone();
        all.extend_from_slice(&["-w", &bad]);
        let (ok, _, err) = capture(&d, &all).finish(10);
        assert!(!ok && err.contains(want), "{args:?}: {err}");
        assert!(!std::path::Path::new(&bad).exists(), "{args:?} made a file");
    }
    let e = d
        .call("capture", json!({"point": "drop", "colour": 1}))
        .unwrap_err();
    assert!(e.1.contains("colour"), "{e:?}");
    let e = d.call("capture", json!({"point": "inside"})).unwrap_err();
    assert!(e.1.contains("inside"), "{e:?}");
    assert_eq!(d.log().matches("capture started").count(), 1);
}

#[test]
fn an_output_capture_of_a_trunk_shows_the_pushed_tag_and_pcp() {
    let _g = serial();
    let mut lab = Lab::new("vcapo");
    let (acc, t) = (lab.host(1), lab.host(2));
    let d = Daemon::start(
        "capture-out",
        &config(&[
            (&acc, "vlan = 10"),
            (&t, "vlan_mode = \"trunk\"\ntrunk_vlans = \"10,20\""),
        ]),
    );
    // Straight into tshark, as a user would.
    let cmd = format!(
        "{} --socket {} capture --point output --port p2 --mac {} --ethertype 0x88b5 \
         --count 2 -w - | tshark -r - -T fields -E separator='|' \
         -e vlan.id -e vlan.priority -e frame.interface_name -e frame.packet_flags_direction -e frame.comment",
        bin("vswitchctl").display(),
        d.socket.display(),
        acc.mac.map(|b| format!("{b:02x}")).join(":"),
    );
    let pipe = Proc(
        Command::new("sh")
            .args(["-c", &cmd])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sh"),
    );
    wait_started(&d, 1);
    let tx = RawSock::open(&acc.ns, "eth0");
    // Untagged, then priority-tagged (VID 0, PCP 5): the access port
    // takes both into VLAN 10, the trunk gets them tagged, PCP kept.
    tx.send(&frame([0xff; 6], acc.mac, None, b"plain"));
    std::thread::sleep(Duration::from_millis(50));
    tx.send(&frame([0xff; 6], acc.mac, Some((5, 0)), b"prio"));
    let (ok, out, err) = pipe.finish(10);
    assert!(ok, "pipeline: {err}");
    let lines: Vec<&str> = out.lines().collect();
    // Direction 0x2 = outbound (epb_flags); no comment for a plain frame.
    assert_eq!(
        lines,
        vec!["10|0|p2|0x00000002|", "10|5|p2|0x00000002|"],
        "tshark: {out}\n{err}"
    );
}

#[test]
fn a_capture_whose_client_is_killed_ends_and_frees_its_resources() {
    let _g = serial();
    let mut lab = Lab::new("vcapk");
    let (a, b) = (lab.host(1), lab.host(2));
    let d = Daemon::start(
        "capture-kill",
        &config(&[(&a, "vlan = 10"), (&b, "vlan = 10")]),
    );
    let max = MAX_CAPTURES;
    // As many captures as may run at once, every point, all traffic.
    let points = ["input", "output", "drop"];
    let mut caps: Vec<Proc> = (0..max)
        .map(|i| {
            let file = d.dir.join(format!("k{i}.pcapng")).display().to_string();
            capture(&d, &["--point", points[i % 3], "-w", &file])
        })
        .collect();
    wait_started(&d, max);
    // Several at once, and the socket still serves others meanwhile.
    assert!(lab.ping(&a, &b, 2), "traffic while capturing");
    d.call("status", json!({})).expect("status during captures");
    let refused = d
        .call("capture", json!({"point": "input"}))
        .expect_err("one capture too many");
    assert!(refused.1.contains("captures are running"), "{refused:?}");
    // Ctrl-C ends one cleanly: capture.end arrives, the file is whole.
    let first = caps.remove(0);
    // SAFETY: kill(2) on our own child's pid.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::kill(first.0.id() as i32, libc::SIGINT) };
    assert_eq!(rc, 0);
    let (ok, _, err) = first.finish(10);
    assert!(ok && err.contains("ended (client)"), "after SIGINT: {err}");
    let file = d.dir.join("k0.pcapng").display().to_string();
    let (ok, _, err) = sh("tshark", &["-r", &file]);
    assert!(ok, "tshark reads what a Ctrl-C left: {err}");
    // The others killed (no goodbye): every capture ends and is freed.
    for c in &mut caps {
        c.0.kill().expect("kill vswitchctl");
    }
    drop(caps);
    assert!(
        wait_until(5.0, || d.log().matches("capture ended").count() >= max),
        "captures did not end\n{}",
        d.log_tail(20)
    );
    // The slots are free again: as many new captures start (this one
    // through a plain request line; closing the connection ends it).
    for _ in 0..max {
        d.call("capture", json!({"point": "drop", "count": 1}))
            .expect("a capture starts once the killed ones are gone");
    }
    assert!(lab.ping(&a, &b, 1), "forwarding goes on");
    let mut d = d;
    assert!(d.alive());
}

#[test]
fn super_frames_are_captured_whole_with_their_offload_metadata() {
    let _g = serial();
    let mut lab = Lab::new("vcaps");
    let (a, b) = (lab.host(1), lab.host(2));
    // Default offloads and the packet driver (`auto` on veth): the
    // hosts' TCP crosses as super-frames.
    let d = Daemon::start(
        "capture-super",
        &config(&[(&a, "vlan = 10"), (&b, "vlan = 10")]),
    );
    let file = d.dir.join("super.pcapng").display().to_string();
    let cap = capture(
        &d,
        &[
            "--point",
            "input",
            "--port",
            "p1",
            "--ethertype",
            "ipv4",
            "--snaplen",
            "128",
            "--count",
            "40",
            "--duration",
            "15",
            "-w",
            &file,
        ],
    );
    wait_started(&d, 1);
    vswitch_tests::transfer::tcp(
        &a.ns,
        &b.ns,
        &b.ip,
        5301,
        8 << 20,
        7,
        Duration::from_secs(20),
    )
    .expect("TCP through the switch");
    let (ok, _, err) = cap.finish(20);
    assert!(ok, "vswitchctl capture: {err}");
    let out = tshark_fields(&file, &["frame.len", "frame.cap_len", "frame.comment"]);
    let supers: Vec<&str> = out
        .lines()
        .filter(|l| {
            let f: Vec<&str> = l.split('|').collect();
            f.len() == 3
                && f[0].parse::<usize>().unwrap_or(0) > 1514
                && f[1] == "128"
                && f[2].starts_with("gso tcpv4 size ")
        })
        .collect();
    assert!(
        !supers.is_empty(),
        "no super-frame with its metadata among:\n{out}"
    );
}

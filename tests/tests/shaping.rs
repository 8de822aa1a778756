//! End-to-end: per-port traffic shaping (`[port.shaping.egress]`,
//! `[port.shaping.ingress]`). A port shaped far below what it is offered
//! delivers its average within 10 % over 5 s; a back-to-back burst after
//! a quiet spell is cut to about `burst_bytes` plus what the average
//! earns meanwhile, the rest dropped and counted as `shaped`; shaping set,
//! refused and removed live through vswitchctl and the socket.
//!
//! Run as root, one at a time (each test takes the serial lock); every
//! namespace, veth and daemon is removed when the test ends, failed or not.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use vswitch_tests::daemon::{nonzero_counters, Daemon};
use vswitch_tests::lab::{Host, Lab};
use vswitch_tests::raw::{frame, is_test, RawSock};
use vswitch_tests::serial;

/// The shaped rate: far below what the test offers (10x) and the switch
/// carries.
const AVERAGE_BPS: u64 = 20_000_000;
const BURST_BYTES: u64 = 50_000;
/// Every test frame's length on the wire (what the shaper counts).
const LEN: usize = 1000;

fn config(ports: &str) -> String {
    format!("[switch]\ncontrol_socket = \"@SOCKET@\"\nworkers = [1]\n{ports}")
}

fn port(name: &str, h: &Host, extra: &str) -> String {
    format!(
        "\n[[port]]\nname = \"{name}\"\niface = \"{}\"\nvlan = 10\n{extra}\n",
        h.port_if
    )
}

/// A test frame of [`LEN`] bytes from `from` to `to`, payload starting
/// with `mark`.
fn test_frame(from: &Host, to: &Host, mark: &[u8]) -> Vec<u8> {
    let mut payload = mark.to_vec();
    payload.resize(LEN - 14, 0);
    let f = frame(to.mac, from.mac, None, &payload);
    assert_eq!(f.len(), LEN);
    f
}

/// Counts the frames carrying `mark` that `rx` receives within `window`
/// (each dropped as it is counted).
fn count(rx: RawSock, mark: &'static [u8], window: Duration) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let deadline = Instant::now() + window;
        let mut n = 0;
        while let Some(f) = rx.recv(deadline.saturating_duration_since(Instant::now())) {
            n += u64::from(is_test(&f, mark));
        }
        n
    })
}

fn stats(d: &Daemon) -> Value {
    d.call("stats.show", json!({}))
        .unwrap_or_else(|e| panic!("stats.show: {e:?}\n{}", d.log_tail(30)))
}

/// (the switch's `shaped` drops, port `p`'s rx_dropped, its tx_dropped).
fn shaped(d: &Daemon, p: &str) -> (u64, u64, u64) {
    let s = stats(d);
    let c = |v: &Value| v.as_u64().unwrap_or(0);
    (
        c(&s["drops"]["shaped"]),
        c(&s["ports"][p]["rx_dropped"]),
        c(&s["ports"][p]["tx_dropped"]),
    )
}

fn context(d: &Daemon) -> String {
    let s = stats(d);
    format!(
        "ports: {}\ndrops: {}\nlog:\n{}",
        s["ports"],
        nonzero_counters(&s["drops"]),
        d.log_tail(20)
    )
}

/// Sends `n` frames back to back after a quiet spell (the bucket full)
/// and returns (frames received by `to`, seconds the sending took).
fn burst(from: &Host, to: &Host, n: u64, mark: &'static [u8]) -> (u64, f64) {
    std::thread::sleep(Duration::from_millis(300));
    let tx = RawSock::open(&from.ns, "eth0");
    let rx = RawSock::open(&to.ns, "eth0");
    let counter = count(rx, mark, Duration::from_millis(800));
    let f = test_frame(from, to, mark);
    let t0 = Instant::now();
    for _ in 0..n {
        tx.send(&f);
    }
    let took = t0.elapsed().as_secs_f64();
    (counter.join().expect("receiver"), took)
}

/// Most frames a burst may deliver: the burst, what the average earns
/// while it is sent (and 20 ms for the switch to take the last of it in),
/// and the frame that may take the bucket into debt.
fn burst_bound(took: f64) -> u64 {
    let bytes = BURST_BYTES as f64 + AVERAGE_BPS as f64 / 8.0 * (took + 0.020);
    (bytes / LEN as f64).ceil() as u64 + 1
}

/// Checks one burst of `n`: cut to the bound, never below the burst, and
/// every frame not delivered counted as `shaped` (in `drops`) and on the
/// port, by `delta` (shaped drops, port drops) since before.
fn check_burst(d: &Daemon, n: u64, got: u64, took: f64, delta: (u64, u64)) {
    let most = burst_bound(took);
    eprintln!("burst of {n}: {got} delivered in {took:.4} s (bound {most})");
    let least = BURST_BYTES / LEN as u64 - 2;
    assert!(
        (least..=most).contains(&got),
        "a burst of {n} x {LEN} bytes after a quiet spell delivered {got} frames; \
         expected {least}-{most} (burst {BURST_BYTES} B + {AVERAGE_BPS} bit/s over {took:.3} s)\n{}",
        context(d)
    );
    let lost = n - got;
    assert!(
        delta.0.abs_diff(lost) <= 3 && delta.1 == delta.0,
        "{lost} frames not delivered; shaped drops {} (port {})\n{}",
        delta.0,
        delta.1,
        context(d)
    );
}

/// Egress shaping from the file: a 5 s flood at 10x the average arrives
/// at the average (within 10 %); a burst is cut and counted.
#[test]
fn egress_shaping_holds_the_average_and_cuts_a_burst() {
    let _g = serial();
    let mut lab = Lab::new("vshpe");
    let (a, b) = (lab.host(1), lab.host(2));
    let shaping = format!(
        "[port.shaping.egress]\naverage_bps = {AVERAGE_BPS}\nburst_bytes = {BURST_BYTES}\n"
    );
    let d = Daemon::start(
        "shaping-egress",
        &config(&(port("p1", &a, "") + &port("p2", &b, &shaping))),
    );

    // A burst of 300 frames (300 kB, 6x the burst).
    let before = shaped(&d, "p2");
    let (got, took) = burst(&a, &b, 300, b"vshp-burst");
    let after = shaped(&d, "p2");
    check_burst(&d, 300, got, took, (after.0 - before.0, after.2 - before.2));

    // 5 s at 200 Mbit/s offered (25 frames of 1000 B a millisecond).
    std::thread::sleep(Duration::from_millis(300));
    let tx = RawSock::open(&a.ns, "eth0");
    let rx = RawSock::open(&b.ns, "eth0");
    let secs = 5.0;
    let counter = count(rx, b"vshp-rate", Duration::from_secs_f64(secs + 0.3));
    let f = test_frame(&a, &b, b"vshp-rate");
    let t0 = Instant::now();
    let mut sent = 0u64;
    let mut tick = 0u32;
    while t0.elapsed().as_secs_f64() < secs {
        for _ in 0..25 {
            tx.send(&f);
            sent += 1;
        }
        tick += 1;
        let next = t0 + Duration::from_millis(u64::from(tick));
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let got = counter.join().expect("receiver");
    let offered = (sent * LEN as u64 * 8) as f64 / elapsed;
    let rate = (got * LEN as u64 * 8) as f64 / elapsed;
    let off = (rate - AVERAGE_BPS as f64).abs() / AVERAGE_BPS as f64;
    eprintln!(
        "shaped to {AVERAGE_BPS} bit/s: offered {offered:.0}, delivered {rate:.0} bit/s ({:+.2} %)",
        (rate / AVERAGE_BPS as f64 - 1.0) * 100.0
    );
    assert!(
        offered > 3.0 * AVERAGE_BPS as f64,
        "the test offered only {offered:.0} bit/s"
    );
    assert!(
        off <= 0.10,
        "delivered {rate:.0} bit/s ({got} of {sent} frames in {elapsed:.2} s, offered \
         {offered:.0} bit/s); shaped to {AVERAGE_BPS}: {:.1} % off\n{}",
        off * 100.0,
        context(&d)
    );
    // The other direction is not shaped: the same burst back passes whole.
    let (got, _) = burst(&b, &a, 300, b"vshp-back");
    assert_eq!(got, 300, "p1's egress is not shaped\n{}", context(&d));
}

/// Ingress shaping set live with vswitchctl's flags, shown by `config
/// show`, counted on receipt; a bad live change refused with its key and
/// changing nothing; shaping removed again; the API's nested params.
#[test]
fn shaping_changes_live_through_vswitchctl_and_the_socket() {
    let _g = serial();
    let mut lab = Lab::new("vshpl");
    let (a, b) = (lab.host(1), lab.host(2));
    let d = Daemon::start(
        "shaping-live",
        &config(&(port("p1", &a, "") + &port("p2", &b, ""))),
    );
    let (ok, _, err) = d.ctl(&[
        "port",
        "set",
        "p1",
        "--shaping-ingress-average-bps",
        &AVERAGE_BPS.to_string(),
        "--shaping-ingress-burst-bytes",
        &BURST_BYTES.to_string(),
    ]);
    assert!(ok, "vswitchctl port set: {err}");
    let (_, text, _) = d.ctl(&["config", "show"]);
    assert!(
        text.contains("[port.shaping.ingress]")
            && text.contains(&format!("average_bps = {AVERAGE_BPS}"))
            && text.contains(&format!("burst_bytes = {BURST_BYTES}")),
        "config show: {text}"
    );
    let before = shaped(&d, "p1");
    let (got, took) = burst(&a, &b, 300, b"vshp-ingress");
    let after = shaped(&d, "p1");
    check_burst(&d, 300, got, took, (after.0 - before.0, after.1 - before.1));
    let prom = d.ctl(&["stats", "show", "--format", "prometheus"]).1;
    assert!(
        prom.lines()
            .any(|l| l.starts_with("vswitch_drops_total{reason=\"shaped\"}") && !l.ends_with(" 0")),
        "{prom}"
    );

    // A peak below the average: refused, naming the key; nothing changes.
    let e = d
        .call(
            "port.set",
            json!({"name": "p1", "learning": false, "shaping": {"ingress": {"peak_bps": 1_000_000}}}),
        )
        .expect_err("peak below average");
    assert!(
        e.1.contains("shaping.ingress.peak_bps") && e.1.contains("below the average"),
        "{e:?}"
    );
    let now = d
        .call("port.show", json!({"name": "p1"}))
        .expect("port.show");
    assert_eq!(now["learning"], true, "the refused request changed nothing");
    assert_eq!(
        now["shaping"],
        json!({"ingress": {"average_bps": AVERAGE_BPS, "burst_bytes": BURST_BYTES}})
    );
    let (ok, _, err) = d.ctl(&["port", "set", "p1", "--shaping-ingress-average-bps", "0"]);
    assert!(!ok && err.contains("0 is not a positive number"), "{err}");

    // Off again: a burst passes whole.
    let (ok, _, err) = d.ctl(&["port", "set", "p1", "--shaping-ingress-off"]);
    assert!(ok, "{err}");
    let shown = d.ctl_json(&["config", "show"]);
    assert!(shown["port"][0].get("shaping").is_none(), "{shown}");
    let (got, _) = burst(&a, &b, 300, b"vshp-off");
    assert_eq!(got, 300, "unshaped\n{}", context(&d));

    // The API nests the params as the file does; null turns one off.
    let r = d
        .call(
            "port.set",
            json!({"name": "p2", "shaping": {"egress": {"average_bps": 10_000_000, "peak_bps": 20_000_000}}}),
        )
        .expect("port.set shaping");
    assert_eq!(
        r["shaping"],
        json!({"egress": {"average_bps": 10_000_000, "peak_bps": 20_000_000}})
    );
    // Its default burst (100 ms of 10 Mbit/s: 125 frames) leaves no
    // faster than the peak: 1 ms of it at once, then 20 Mbit/s.
    let (got, took) = burst(&a, &b, 300, b"vshp-peak");
    let most = ((20_000_000.0 / 8.0 * (took + 0.021)) / LEN as f64).ceil() as u64 + 2;
    eprintln!("peak-limited burst of 300: {got} delivered in {took:.4} s (bound {most})");
    assert!(
        (2..=most).contains(&got),
        "a burst at peak 20 Mbit/s delivered {got} frames in {took:.4} s; at most {most}\n{}",
        context(&d)
    );
    let r = d
        .call(
            "port.set",
            json!({"name": "p2", "shaping": {"egress": null}}),
        )
        .expect("port.set shaping off");
    assert!(r.get("shaping").is_none(), "{r}");
}

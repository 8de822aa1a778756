//! A worker rebuilds its UMEM whenever the port whose socket anchors it
//! is removed (the UMEM's first socket cannot be closed on its own, see
//! dataplane/runtime/src/worker/mod.rs `close_port`). Other workers keep
//! writing hand-off frames into chunks that worker lent them, so the
//! rebuild races those writes: dataplane/runtime/src/exchange.rs is the
//! protocol that keeps a lent chunk out of the rebuilt UMEM's use until
//! every write into it has ended.
//!
//! This test removes and re-adds the anchor port 200 times while hosts on
//! both workers exchange numbered, checksummed frames of varying length,
//! and checks: no frame garbled, none duplicated, frames lost only while a
//! rebuild or the re-add runs (or to and from the removed port while it
//! is gone), and the loss into the surviving port during the rebuild
//! counted in its `tx_dropped`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use vswitch_tests::daemon::Daemon;
use vswitch_tests::lab::{Host, Lab};
use vswitch_tests::raw::{check_frame, checked_frame, Checked, RawSock};
use vswitch_tests::serial;

const CYCLES: usize = 200;
/// Slack around a rebuild (the `port.del` call) for frames in flight.
const MARGIN: f64 = 0.03;
/// Slack after a port is re-added (its MAC is learned again).
const READD: f64 = 0.3;

fn port_toml(h: &Host) -> String {
    format!(
        "\n[[port]]\nname = \"p{}\"\niface = \"{}\"\nvlan = 10\ndriver = \"afxdp\"\n",
        h.n, h.port_if
    )
}

/// A stream `label` from `from` to `to`, `rate` frames a second until
/// `stop`; returns the send time of each sequence number (seconds since
/// `t0`).
fn sender(
    from: &Host,
    to: &Host,
    label: [u8; 2],
    rate: f64,
    t0: Instant,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<f64>> {
    let sock = RawSock::open(&from.ns, "eth0");
    let (src, dst) = (from.mac, to.mac);
    std::thread::spawn(move || {
        let mut times = Vec::new();
        let start = Instant::now();
        let mut seq = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let due = start + Duration::from_secs_f64(seq as f64 / rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            times.push(t0.elapsed().as_secs_f64());
            sock.send(&checked_frame(dst, src, label, seq));
            seq += 1;
        }
        times
    })
}

/// What a host received: per label, how often each sequence number came;
/// and how many test frames were garbled.
#[derive(Default)]
struct Got {
    seen: HashMap<[u8; 2], Vec<u32>>,
    garbled: u64,
}

fn receiver(at: &Host, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Got> {
    let sock = RawSock::open(&at.ns, "eth0");
    std::thread::spawn(move || {
        let mut got = Got::default();
        while !stop.load(Ordering::Relaxed) {
            let Some(f) = sock.recv(Duration::from_millis(50)) else {
                continue;
            };
            match check_frame(&f) {
                Checked::Other => {}
                Checked::Garbled => got.garbled += 1,
                Checked::Good(label, seq) => {
                    let v = got.seen.entry(label).or_default();
                    if v.len() <= seq as usize {
                        v.resize(seq as usize + 1, 0);
                    }
                    v[seq as usize] += 1;
                }
            }
        }
        got
    })
}

/// One remove/re-add: which port went, and when (seconds since t0).
#[derive(Debug, Clone, Copy)]
struct Cycle {
    removed: u8,
    del_start: f64,
    del_end: f64,
    add_end: f64,
}

fn tx_dropped(d: &Daemon, port: &str) -> u64 {
    let s = d.call("stats.show", json!({})).expect("stats.show");
    s["ports"][port]["tx_dropped"].as_u64().unwrap_or(0)
}

#[test]
fn removing_the_umem_anchor_port_never_garbles_or_duplicates_handoffs() {
    let _g = serial();
    let mut lab = Lab::new("vtur");
    let (a, b, c) = (lab.host(1), lab.host(2), lab.host(3));
    // File order p1, p2, p3 over workers [0, 1]: p1 and p3 on worker 0
    // (p1 anchors its UMEM), p2 on worker 1.
    let toml = format!(
        "[switch]\ncontrol_socket = \"@SOCKET@\"\nworkers = [0, 1]\n{}{}{}",
        port_toml(&a),
        port_toml(&b),
        port_toml(&c)
    );
    let d = Daemon::start("umem-rebuild", &toml);
    let ports = d.call("port.list", json!({})).expect("port.list");
    let worker_of = |n: u8| {
        ports
            .as_array()
            .and_then(|l| l.iter().find(|p| p["name"] == format!("p{n}")))
            .map(|p| p["worker"].as_u64().unwrap_or(99))
    };
    assert_eq!(
        (worker_of(1), worker_of(2), worker_of(3)),
        (Some(0), Some(1), Some(0)),
        "{ports}"
    );
    // Learn every MAC before the streams start.
    assert!(
        lab.ping(&a, &b, 1) && lab.ping(&c, &b, 1),
        "{}",
        d.log_tail(30)
    );

    let t0 = Instant::now();
    let stop_tx = Arc::new(AtomicBool::new(false));
    let stop_rx = Arc::new(AtomicBool::new(false));
    let receivers: Vec<_> = [&a, &b, &c]
        .iter()
        .map(|h| (h.n, receiver(h, Arc::clone(&stop_rx))))
        .collect();
    // Worker 1 hands off into worker 0's UMEM (the racy direction) fast;
    // worker 0 hands off to worker 1 more slowly.
    let streams: [(&Host, &Host, [u8; 2], f64); 4] = [
        (&b, &a, *b"ba", 1500.0),
        (&b, &c, *b"bc", 1500.0),
        (&a, &b, *b"ab", 500.0),
        (&c, &b, *b"cb", 500.0),
    ];
    let senders: Vec<_> = streams
        .iter()
        .map(|(f, t, l, r)| (*l, sender(f, t, *l, *r, t0, Arc::clone(&stop_tx))))
        .collect();
    std::thread::sleep(Duration::from_millis(200));

    // Remove whichever of p1 and p3 anchors worker 0's UMEM: the first
    // AF_XDP port opened on it. After a rebuild the survivor is reopened
    // first and anchors the new UMEM, so the two take turns.
    let settings = |h: &Host| {
        json!({"name": format!("p{}", h.n), "iface": h.port_if, "vlan": 10,
               "driver": "afxdp", "worker": 0})
    };
    let mut cycles = Vec::new();
    let mut counted = 0u64;
    let mut anchor = &a;
    let mut other = &c;
    for i in 0..CYCLES {
        let survivor = format!("p{}", other.n);
        let before = tx_dropped(&d, &survivor);
        let del_start = t0.elapsed().as_secs_f64();
        d.call("port.del", json!({"name": format!("p{}", anchor.n)}))
            .unwrap_or_else(|e| panic!("cycle {i}: port.del: {e:?}\n{}", d.log_tail(30)));
        let del_end = t0.elapsed().as_secs_f64();
        std::thread::sleep(Duration::from_secs_f64(MARGIN));
        counted += tx_dropped(&d, &survivor) - before;
        d.call("port.add", settings(anchor))
            .unwrap_or_else(|e| panic!("cycle {i}: port.add: {e:?}\n{}", d.log_tail(30)));
        let add_end = t0.elapsed().as_secs_f64();
        cycles.push(Cycle {
            removed: anchor.n,
            del_start,
            del_end,
            add_end,
        });
        std::thread::sleep(Duration::from_millis(40));
        std::mem::swap(&mut anchor, &mut other);
    }
    let loop_secs = t0.elapsed().as_secs_f64();
    stop_tx.store(true, Ordering::Relaxed);
    let sent: HashMap<[u8; 2], Vec<f64>> = senders
        .into_iter()
        .map(|(l, h)| (l, h.join().expect("sender")))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    stop_rx.store(true, Ordering::Relaxed);
    let got: HashMap<u8, Got> = receivers
        .into_iter()
        .map(|(n, h)| (n, h.join().expect("receiver")))
        .collect();

    // Which host receives each stream, and the worker-0 host it involves.
    let ends: HashMap<[u8; 2], (u8, u8)> = [
        (*b"ba", (a.n, a.n)),
        (*b"bc", (c.n, c.n)),
        (*b"ab", (b.n, a.n)),
        (*b"cb", (b.n, c.n)),
    ]
    .into_iter()
    .collect();
    let lost_where = Mutex::new(Vec::new());
    let mut report = String::new();
    let mut into_survivor_lost = 0u64;
    for (label, times) in &sent {
        let (to, w0_host) = ends[label];
        let g = &got[&to];
        let empty = Vec::new();
        let seen = g.seen.get(label).unwrap_or(&empty);
        let dup = seen.iter().filter(|&&n| n > 1).count();
        let mut lost = 0;
        let mut outside = Vec::new();
        for (seq, &t) in times.iter().enumerate() {
            if seen.get(seq).copied().unwrap_or(0) > 0 {
                continue;
            }
            lost += 1;
            let in_rebuild = cycles
                .iter()
                .find(|c| t >= c.del_start - MARGIN && t <= c.del_end + MARGIN);
            // The worker opens the re-added port's sockets inline (with
            // EBUSY retries, dataplane/runtime/src/port/xsk.rs): it
            // forwards nothing meanwhile, so the survivor loses frames
            // during `port.add` too.
            let in_add = cycles
                .iter()
                .any(|c| t >= c.del_end && t <= c.add_end + MARGIN);
            let port_gone = cycles.iter().any(|c| {
                c.removed == w0_host && t >= c.del_start - MARGIN && t <= c.add_end + READD
            });
            if let Some(c) = in_rebuild {
                // Into the port that stayed: the switch must have counted it.
                if c.removed != w0_host && to == w0_host {
                    into_survivor_lost += 1;
                }
            } else if !port_gone && !in_add {
                outside.push((seq, t));
            }
        }
        let beyond = seen.len().saturating_sub(times.len());
        // Where the first losses outside the windows fall, relative to
        // the cycle before them (for the failure message).
        let mut whence = Vec::new();
        for &(_, t) in outside.iter().take(5) {
            if let Some(c) = cycles.iter().rev().find(|c| c.del_start <= t) {
                whence.push(format!(
                    "{:.0} ms after del of p{} (del {:.0} ms, add {:.0} ms)",
                    (t - c.del_start) * 1e3,
                    c.removed,
                    (c.del_end - c.del_start) * 1e3,
                    (c.add_end - c.del_end) * 1e3
                ));
            }
        }
        if !whence.is_empty() {
            report += &format!(
                "  {}: {}\n",
                String::from_utf8_lossy(label),
                whence.join("; ")
            );
        }
        report += &format!(
            "{}: sent {} received {} lost {lost} duplicated {dup} outside-window {} unsent-seen {beyond}\n",
            String::from_utf8_lossy(label),
            times.len(),
            seen.iter().filter(|&&n| n > 0).count(),
            outside.len()
        );
        lost_where
            .lock()
            .unwrap()
            .push((*label, dup, outside, beyond));
    }
    let garbled: u64 = got.values().map(|g| g.garbled).sum();
    report += &format!(
        "garbled {garbled}; {CYCLES} cycles in {loop_secs:.1} s; lost into the surviving port during rebuilds {into_survivor_lost}, counted there {counted}\n"
    );
    eprintln!("{report}");
    assert_eq!(garbled, 0, "garbled frames\n{report}");
    for (label, dup, outside, beyond) in lost_where.into_inner().unwrap() {
        let l = String::from_utf8_lossy(&label);
        assert_eq!(dup, 0, "{l}: duplicated frames\n{report}");
        assert_eq!(beyond, 0, "{l}: frames never sent arrived\n{report}");
        assert!(
            outside.is_empty(),
            "{l}: lost outside any rebuild window (seq, time): {:?}\n{report}",
            &outside[..outside.len().min(10)]
        );
    }
    assert!(
        into_survivor_lost <= counted,
        "frames lost into the surviving port were not all counted\n{report}"
    );
}

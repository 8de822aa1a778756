//! The soak: a switch under an operator's random churn for MINUTES while
//! sequence-numbered traffic flows between hosts that stay configured.
//! See README.md ("Soak test") for what it checks; `scripts/soak` runs it.
//!
//! Layout: 12 namespace hosts, a vswitchd with two workers.
//! - Stable (never touched): s1-s4 access VLAN 10 (s1 afxdp, the rest
//!   packet), s5/s6 a trunk pair carrying VLAN 20 tagged (s5 afxdp, s6
//!   packet). Ports go round-robin over workers in file order
//!   (control/src/controller.rs), so s1, s3, s5 are on worker 0 and s1 is
//!   its UMEM's first AF_XDP port ("anchor"): worker 0 never rebuilds its
//!   UMEM. Worker 1 has only packet ports among the stable ones, so its
//!   anchor is always a churn port and deleting it rebuilds worker 1's
//!   UMEM (docs/ARCHITECTURE.md, README.md "Limits"): that pauses s2, s4,
//!   s6, and the losses it causes are counted apart.
//! - Churn: c11-c16, each exchanging frames with a stable partner in VLAN
//!   10, under random port.del/add/set, fdb.flush, client floods and (with
//!   flaps on) link down/up and veth delete/recreate.

mod churn;
mod clients;
mod frames;
mod report;
mod stream;
mod traffic;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::daemon::Daemon;
use crate::lab::Lab;
use crate::sh;
use churn::Churn;
use frames::Flow;
use traffic::{Control, Endpoint};

/// Prefix of every namespace and interface the soak makes.
pub const PREFIX: &str = "vsoak";
/// Resident memory the daemon may gain over the soak, in KiB.
const RSS_BOUND_KIB: u64 = 16 * 1024;
/// Idle CPU the daemon may use after the soak over its idle baseline, in
/// cores. The baseline itself is not near zero with 12 ports in a debug
/// build (each worker polls every socket on its 100 ms wakeups, see
/// dataplane/runtime/src/worker/mod.rs), so the check is "back to the
/// baseline": noise is a point or two, a worker left spinning is +100.
const IDLE_CPU_BOUND: f64 = 0.05;
// Rates a debug build of the daemon carries on 2 cores with room to
// spare: the soak is about correctness under churn, not load (an
// overloaded switch drops frames by design, e.g. handoff_full).
const STABLE_RATE: f64 = 50.0;
const CHURN_RATE: f64 = 25.0;
const TCP_RATE: u64 = 256 << 10;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Minutes of churn.
    pub minutes: f64,
    /// Seed of the churn's choices.
    pub seed: u64,
    /// Whether links flap and veths are recreated under configured ports.
    pub flaps: bool,
}

/// (name, host number, driver, extra TOML, stable).
const PORTS: [(&str, u8, &str, &str, bool); 12] = [
    ("s1", 1, "afxdp", "vlan = 10", true),
    ("s2", 2, "packet", "vlan = 10", true),
    ("s3", 3, "packet", "vlan = 10", true),
    ("s4", 4, "packet", "vlan = 10", true),
    (
        "s5",
        5,
        "afxdp",
        "vlan_mode = \"trunk\"\ntrunk_vlans = \"20\"",
        true,
    ),
    (
        "s6",
        6,
        "packet",
        "vlan_mode = \"trunk\"\ntrunk_vlans = \"20\"",
        true,
    ),
    ("c11", 11, "afxdp", "vlan = 10", false),
    ("c12", 12, "afxdp", "vlan = 10", false),
    ("c13", 13, "packet", "vlan = 10", false),
    ("c14", 14, "afxdp", "vlan = 10", false),
    ("c15", 15, "packet", "vlan = 10", false),
    ("c16", 16, "packet", "vlan = 10", false),
];

fn flows() -> Vec<Flow> {
    let mut v = Vec::new();
    let mut add = |src, dst, tag, rate, stable| {
        let id = v.len() as u16;
        v.push(Flow {
            id,
            src,
            dst,
            tag,
            rate,
            stable,
        });
    };
    for a in 0..4 {
        for b in 0..4 {
            if a != b {
                add(a, b, None, STABLE_RATE, true);
            }
        }
    }
    add(4, 5, Some((3, 20)), STABLE_RATE, true);
    add(5, 4, Some((3, 20)), STABLE_RATE, true);
    for (k, partner) in [0, 1, 2, 3, 0, 1].into_iter().enumerate() {
        add(6 + k, partner, None, CHURN_RATE, false);
        add(partner, 6 + k, None, CHURN_RATE, false);
    }
    v
}

/// CPU ticks (user + system) per thread of process `pid`, by thread id.
fn thread_ticks(pid: u32) -> HashMap<String, (String, u64)> {
    let mut m = HashMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return m;
    };
    for t in dir.flatten() {
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map_or("", |(_, c)| c).to_string();
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = f.get(11).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
        m.insert(t.file_name().to_string_lossy().into_owned(), (comm, ticks));
    }
    m
}

/// CPU the daemon uses over `secs` seconds, in cores, and the threads
/// that used it (name and share of a core, busiest first).
fn cpu_over(d: &Daemon, secs: u64) -> (f64, String) {
    let before = d.cpu_secs();
    let threads = thread_ticks(d.pid());
    std::thread::sleep(Duration::from_secs(secs));
    let used = (d.cpu_secs() - before) / secs as f64;
    // SAFETY: sysconf has no preconditions.
    #[allow(unsafe_code)]
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let mut busy: Vec<(String, f64)> = thread_ticks(d.pid())
        .into_iter()
        .filter_map(|(tid, (comm, t))| {
            let was = threads.get(&tid).map_or(0, |x| x.1);
            (t > was).then(|| (comm, (t - was) as f64 / hz / secs as f64))
        })
        .collect();
    busy.sort_by(|a, b| b.1.total_cmp(&a.1));
    let who = busy
        .iter()
        .take(4)
        .map(|(c, u)| format!("{c} {:.1} %", u * 100.0))
        .collect::<Vec<_>>()
        .join(", ");
    (used, who)
}

/// Whether process `pid` runs (exists and is not a zombie).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| r.trim_start().starts_with('Z'))
        })
        == Some(false)
}

/// Namespaces and links whose names start with [`PREFIX`].
fn leftovers() -> Vec<String> {
    let mut left = Vec::new();
    let (_, out, _) = sh("ip", &["netns", "list"]);
    for ns in out.lines().filter_map(|l| l.split_whitespace().next()) {
        if ns.starts_with(PREFIX) {
            left.push(format!("netns {ns}"));
        }
    }
    let (_, out, _) = sh("ip", &["-o", "link", "show"]);
    for l in out.lines() {
        if let Some(name) = l
            .split(':')
            .nth(1)
            .map(|s| s.trim().split('@').next().unwrap_or(""))
        {
            if name.starts_with(PREFIX) {
                left.push(format!("link {name}"));
            }
        }
    }
    left
}

/// Runs the soak and prints its report; the process exit code: 0 when
/// every check passed.
pub fn run(opts: &Options) -> i32 {
    let interrupted = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, Arc::clone(&interrupted));
    }
    println!(
        "soak: {} min of churn, SOAK_SEED={}, SOAK_FLAPS={}",
        opts.minutes, opts.seed, opts.flaps as u8
    );
    let mut violations = Vec::new();
    let lab_result = {
        let mut lab = Lab::new(PREFIX);
        let r = soak(opts, &mut lab, &interrupted, &mut violations);
        r.map(|d| {
            // The daemon removes its XDP programs on SIGTERM.
            let status = d.stop();
            if !status.success() {
                violations.push(format!("vswitchd exited {status} on SIGTERM"));
            }
            let xdp = lab.xdp_left();
            if !xdp.is_empty() {
                violations.push(format!("XDP programs left on {xdp:?}"));
            }
        })
    };
    if let Err(e) = lab_result {
        violations.push(e);
    }
    let left = leftovers();
    println!(
        "leftovers after cleanup: {}",
        if left.is_empty() {
            "none".into()
        } else {
            left.join(", ")
        }
    );
    if !left.is_empty() {
        violations.push(format!("left behind: {}", left.join(", ")));
    }
    if interrupted.load(Ordering::Relaxed) {
        violations.push("interrupted".into());
    }
    if violations.is_empty() {
        println!("soak: PASS");
        0
    } else {
        println!("soak: FAIL");
        for v in &violations {
            println!("  - {v}");
        }
        1
    }
}

fn config(lab: &mut Lab) -> (String, Vec<Endpoint>) {
    let mut toml =
        "[switch]\ncontrol_socket = \"@SOCKET@\"\nworkers = [0, 1]\n\n[fdb]\naging_secs = 300\n"
            .to_string();
    let mut eps = Vec::new();
    for (name, n, driver, extra, stable) in PORTS {
        let host = lab.host(n);
        toml += &format!(
            "\n[[port]]\nname = \"{name}\"\niface = \"{}\"\ndriver = \"{driver}\"\n{extra}\n",
            host.port_if
        );
        eps.push(Endpoint {
            host,
            port: name.into(),
            churn: !stable,
            generation: AtomicU64::new(0),
        });
    }
    (toml, eps)
}

/// Setup, traffic, churn and checks; returns the daemon (to be stopped
/// while the lab still stands) or why the soak could not go on.
fn soak(
    opts: &Options,
    lab: &mut Lab,
    interrupted: &AtomicBool,
    violations: &mut Vec<String>,
) -> Result<Daemon, String> {
    let (toml, eps) = config(lab);
    let d = Daemon::start("soak", &toml);
    // For scripts/soak: the daemon to stop if this process is killed.
    let _ = std::fs::write(d.dir.join("daemon.pid"), d.pid().to_string());
    let status = d
        .call("status", json!({}))
        .map_err(|e| format!("status: {e:?}"))?;
    let mut workers = HashMap::new();
    for (i, p) in status["ports"].as_array().into_iter().flatten().enumerate() {
        let w = p["worker"].as_u64().unwrap_or(99) as usize;
        if w != i % 2 {
            return Err(format!(
                "port {} on worker {w}, expected {}",
                p["name"],
                i % 2
            ));
        }
        if !eps[i].churn {
            workers.insert(i, w);
        }
    }
    let eps = Arc::new(eps);
    let flows = Arc::new(flows());
    let ctl = Arc::new(Control {
        tx_stop: AtomicBool::new(false),
        rx_stop: AtomicBool::new(false),
        paused: AtomicBool::new(false),
        epoch: Instant::now(),
        sent: flows.iter().map(|_| AtomicU64::new(0)).collect(),
    });
    let rx: Vec<_> = (0..eps.len())
        .map(|i| traffic::spawn_receiver(i, Arc::clone(&eps), Arc::clone(&flows), Arc::clone(&ctl)))
        .collect();
    // Receivers open their sockets before the first frame is sent.
    std::thread::sleep(Duration::from_millis(500));
    let tx: Vec<_> = (0..eps.len())
        .map(|i| traffic::spawn_sender(i, Arc::clone(&eps), Arc::clone(&flows), Arc::clone(&ctl)))
        .collect();
    let tcp = stream::start(&eps[2].host, &eps[3].host, TCP_RATE, Arc::clone(&ctl));
    let traffic_start = Instant::now();
    std::thread::sleep(Duration::from_secs(3));

    // Idle baseline, after every port and worker has carried traffic.
    ctl.paused.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(2));
    let rss_before = d.rss_kib().unwrap_or(0);
    let (cpu_before, who_before) = cpu_over(&d, 5);
    ctl.paused.store(false, Ordering::Relaxed);

    let drivers: Vec<&'static str> = PORTS.iter().map(|p| p.2).collect();
    let mut churn = Churn::new(&d, lab, &eps, &ctl, opts.seed, opts.flaps, &drivers);
    let churn_start = Instant::now();
    let pid = d.pid();
    churn.run(
        churn_start + Duration::from_secs_f64(opts.minutes * 60.0),
        || interrupted.load(Ordering::Relaxed) || !running(pid),
    );
    let churn_secs = churn_start.elapsed().as_secs_f64();
    let alive = running(pid);
    if !alive {
        violations.push(format!(
            "vswitchd died during the churn:\n{}",
            d.log_tail(40)
        ));
    } else {
        churn.restore();
    }
    // Flapped ports must come back by themselves; re-added ones are
    // configured again. Then every flow must lose nothing for 5 s.
    std::thread::sleep(Duration::from_secs(3));
    let mark = || -> Vec<u64> { ctl.sent.iter().map(|s| s.load(Ordering::Acquire)).collect() };
    let ws = mark();
    std::thread::sleep(Duration::from_secs(5));
    let we = mark();
    std::thread::sleep(Duration::from_secs(1));
    ctl.tx_stop.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(500));
    ctl.rx_stop.store(true, Ordering::Relaxed);
    let traffic_secs = traffic_start.elapsed().as_secs_f64();
    let tx: Vec<_> = tx
        .into_iter()
        .map(|h| h.join().unwrap_or_default())
        .collect();
    let rx: Vec<_> = rx
        .into_iter()
        .map(|h| h.join().unwrap_or_default())
        .collect();
    let tcp = tcp.and_then(stream::TcpFlow::finish);

    // Idle again: flood clients gone, traffic stopped.
    let t = Instant::now();
    while churn.flood.inflight.load(Ordering::Acquire) > 0 && t.elapsed().as_secs() < 20 {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(3));
    let rss_after = d.rss_kib().unwrap_or(0);
    let (cpu_after, who_after) = if running(pid) {
        cpu_over(&d, 5)
    } else {
        (0.0, String::new())
    };
    let answering = d.call("status", json!({}));
    let stats = d.call("stats.show", json!({})).unwrap_or_default();

    // The report.
    let window: Vec<(u64, u64)> = ws.iter().copied().zip(we.iter().copied()).collect();
    let figs = report::figures(&flows, &tx, &rx, &workers, &churn.rebuilds, &window);
    println!(
        "duration: churn {churn_secs:.1} s, traffic {traffic_secs:.1} s; {} stable flows at {STABLE_RATE} frames/s, {} churn flows at {CHURN_RATE}",
        flows.iter().filter(|f| f.stable).count(),
        flows.iter().filter(|f| !f.stable).count()
    );
    report::print(&flows, &eps, &figs, &churn.touched);
    let garbled: u64 = rx.iter().map(|r| r.garbled).sum();
    let dups: u64 = figs.iter().map(|g| g.dups).sum();
    let phantom: u64 = figs.iter().map(|g| g.phantom).sum();
    let (sent, got): (u64, u64) = figs
        .iter()
        .fold((0, 0), |(a, b), g| (a + g.sent, b + g.received));
    println!("frames: {sent} sent, {got} received; garbled {garbled}, duplicates {dups}, never sent {phantom}");
    for s in rx.iter().flat_map(|r| &r.samples) {
        println!("  garbled: {s}");
    }
    match &tcp {
        Ok(b) => println!("TCP s3>s4: {b} bytes, every byte checked"),
        Err(e) => println!("TCP s3>s4: FAILED: {e}"),
    }
    println!("churn actions: {:?}", churn.actions);
    println!(
        "UMEM rebuilds: {} (workers {:?})",
        churn.rebuilds.len(),
        churn
            .rebuilds
            .iter()
            .map(|r| r.worker)
            .collect::<std::collections::BTreeSet<_>>()
    );
    let fl = &churn.flood;
    println!(
        "control: {} churn calls, slowest {} ms, {} failed; flood clients {}, answered {}, refused (too many) {}, wrong/missing answers {}",
        churn.calls,
        churn.slowest.as_millis(),
        churn.errors.len(),
        fl.clients.load(Ordering::Relaxed),
        fl.answered.load(Ordering::Relaxed),
        fl.refused.load(Ordering::Relaxed),
        fl.bad.load(Ordering::Relaxed)
    );
    println!(
        "daemon log: {} ERROR/panic lines{}",
        churn.log_alarm_count,
        churn
            .log_alarms
            .iter()
            .take(5)
            .map(|l| format!("\n  {l}"))
            .collect::<String>()
    );
    println!(
        "daemon RSS: {:.1} MiB before, {:.1} MiB after ({:+.1} MiB; bound +{} MiB)",
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        (rss_after as f64 - rss_before as f64) / 1024.0,
        RSS_BOUND_KIB / 1024
    );
    println!(
        "daemon idle CPU: {:.1} % of a core before ({who_before}), {:.1} % after ({who_after}) (bound: before + {:.0} points)",
        cpu_before * 100.0,
        cpu_after * 100.0,
        IDLE_CPU_BOUND * 100.0
    );
    let kernel = |k: &str| -> u64 {
        stats["ports"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(_, p)| p["kernel"][k].as_u64())
            .sum()
    };
    println!(
        "AF_XDP kernel counters (ports configured at the end): rx_ring_full {}, rx_dropped {}",
        kernel("rx_ring_full"),
        kernel("rx_dropped")
    );
    if let Some(d) = stats.get("drops") {
        let nz: Vec<String> = d
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, v)| v.as_u64() != Some(0))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!("switch drops: {}", nz.join(" "));
    }

    // The checks.
    for (f, g) in flows.iter().zip(&figs) {
        let name = format!("{}>{}", eps[f.src].port, eps[f.dst].port);
        if f.stable && g.lost > g.lost_in_rebuild {
            violations.push(format!(
                "stable flow {name} lost {} frames outside UMEM rebuild windows",
                g.lost - g.lost_in_rebuild
            ));
        }
        if f.stable && g.unsent > 0 {
            violations.push(format!(
                "stable host of {name} could not send {} frames",
                g.unsent
            ));
        }
        if alive && g.window_lost > 0 {
            violations.push(format!(
                "flow {name} lost {} of {} frames in the final window (ports restored and settled)",
                g.window_lost, g.window_sent
            ));
        }
        if alive && g.window_sent == 0 {
            violations.push(format!("flow {name} sent nothing in the final window"));
        }
    }
    if garbled + dups + phantom > 0 {
        violations.push(format!(
            "{garbled} garbled, {dups} duplicated, {phantom} never-sent frames received"
        ));
    }
    if let Err(e) = tcp {
        violations.push(format!("TCP stream: {e}"));
    }
    for e in &churn.errors {
        violations.push(format!("churn: {e}"));
    }
    if fl.bad.load(Ordering::Relaxed) > 0 {
        let s = fl.samples.lock().unwrap_or_else(|e| e.into_inner()).clone();
        violations.push(format!("control clients got wrong or no answers: {s:?}"));
    }
    if churn.log_alarms.iter().any(|l| l.contains("panicked")) {
        violations.push("the daemon's log shows a panic".into());
    }
    if let Err(e) = answering {
        violations.push(format!("daemon not answering at the end: {e:?}"));
    }
    if rss_after > rss_before + RSS_BOUND_KIB {
        violations.push(format!(
            "daemon RSS grew {} KiB (bound {RSS_BOUND_KIB})",
            rss_after - rss_before
        ));
    }
    if cpu_after > cpu_before + IDLE_CPU_BOUND {
        violations.push(format!(
            "idle daemon uses {:.1} % of a core after the soak (before: {:.1} %)",
            cpu_after * 100.0,
            cpu_before * 100.0
        ));
    }
    Ok(d)
}

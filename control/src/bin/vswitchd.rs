//! vswitchd: the switch daemon. Runs in the foreground; SIGTERM or SIGINT
//! stops the workers, removes the XDP programs and exits 0.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use vswitch_control::api::server::{self, Server, Timeouts};
use vswitch_control::config;
use vswitch_control::controller::Controller;

/// Userspace AF_XDP Ethernet switch.
#[derive(Parser, Debug)]
#[command(name = "vswitchd", version, about)]
struct Args {
    /// Configuration file (TOML).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: PathBuf,
    /// Validate the configuration and exit.
    #[arg(long)]
    check: bool,
    /// With --check: do not require the ports' interfaces to exist here
    /// (checking a configuration meant for another machine).
    #[arg(long, requires = "check")]
    skip_interfaces: bool,
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VSWITCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,libbpf=warn,libxdp=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logs();
    let loaded = match config::load(&args.config) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("vswitchd: {}: {e}", args.config.display());
            return ExitCode::from(2);
        }
    };
    let valid = &loaded.config;
    if args.check {
        // A port on an interface that does not exist would fail the
        // start: say so here, with the key and its line.
        if let Err(e) =
            loaded
                .probe_interfaces()
                .or_else(|e| if args.skip_interfaces { Ok(()) } else { Err(e) })
        {
            eprintln!("vswitchd: {}: {e}", args.config.display());
            return ExitCode::from(2);
        }
        println!(
            "{}: configuration OK: {} port(s), {} worker(s), {} static FDB entr{}",
            args.config.display(),
            valid.ports.len(),
            valid.workers.len(),
            valid.statics.len(),
            if valid.statics.len() == 1 { "y" } else { "ies" }
        );
        return ExitCode::SUCCESS;
    }
    #[allow(unsafe_code)]
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("vswitchd: must run as root (it attaches XDP programs and opens AF_XDP sockets)");
        return ExitCode::from(1);
    }
    vswitch_dataplane::port::xsk::route_library_logs();

    // Signals first, so a TERM during start-up still shuts down cleanly.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&stop)) {
            eprintln!("vswitchd: cannot install signal handler: {e}");
            return ExitCode::from(1);
        }
    }
    // Interfaces are probed again at start: they may have gone since a
    // --check.
    if let Err(e) = loaded.probe_interfaces() {
        eprintln!("vswitchd: cannot start: {}: {e}", args.config.display());
        return ExitCode::from(1);
    }
    let socket = valid.switch.control_socket.clone();
    // Before any port opens: a daemon that cannot serve must not touch
    // an interface. (Each port's XDP hook is checked by Controller::start:
    // another switch's or someone else's program is refused, a killed
    // switch's leftover removed; see dataplane/runtime/src/port/xdp_owner.rs.)
    if let Err(e) = server::check_free(&socket) {
        eprintln!("vswitchd: cannot start: {e}");
        return ExitCode::from(1);
    }
    let group = loaded.host.control_gid;
    // Checked to be 1..=86400 (control/src/config/check.rs).
    let timeouts = Timeouts {
        idle: Duration::from_secs(valid.switch.control_idle_secs.unsigned_abs()),
        read: Duration::from_secs(valid.switch.control_read_secs.unsigned_abs()),
    };
    let controller = match Controller::start(loaded.config, args.config.clone()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vswitchd: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    for p in controller.ports() {
        tracing::info!(
            port = %p.settings.name, iface = %p.status.iface, worker = p.worker,
            driver = %p.status.driver, xdp = ?p.status.xdp, offloads = %p.status.offloads,
            queues = p.status.queues,
            "port up"
        );
    }
    tracing::info!(
        ports = controller.ports().len(),
        workers = ?controller.workers(),
        "vswitchd running"
    );
    let controller = Arc::new(Mutex::new(controller));
    // Link events: ports follow their interfaces down, away and back. The
    // thread is not joined: it only blocks in recv, and once the
    // controller is shut down the events it passes on change nothing.
    if let Err(e) = vswitch_control::link::spawn(Arc::clone(&controller)) {
        eprintln!("vswitchd: cannot watch link events (rtnetlink): {e}");
        controller
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .abandon_start();
        return ExitCode::from(1);
    }
    let server = match Server::start(&socket, group, timeouts, Arc::clone(&controller)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("vswitchd: {e}");
            controller
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .abandon_start();
            return ExitCode::from(1);
        }
    };

    // `/metrics` over HTTP, when configured (control/src/metrics.rs).
    let metrics = match vswitch_control::metrics::start_configured(&controller) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("vswitchd: cannot start: {e}");
            server.stop();
            controller
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .abandon_start();
            return ExitCode::from(1);
        }
    };

    // The control loop: aging and re-bind retries once a second, until a
    // signal.
    let mut tick = 0u64;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        tick += 1;
        if tick % 10 == 0 {
            let mut c = controller.lock().unwrap_or_else(|e| e.into_inner());
            c.sweep();
            c.retry_links();
        }
    }
    tracing::info!("signal received: stopping");
    if let Some(m) = metrics {
        m.stop();
    }
    server.stop();
    // Clients may still hold the controller: stop it in place.
    let mut controller = controller.lock().unwrap_or_else(|e| e.into_inner());
    let t = controller.totals();
    let rx: u64 = t.ports.iter().map(|p| p.rx_packets).sum();
    let tx: u64 = t.ports.iter().map(|p| p.tx_packets).sum();
    tracing::info!(rx_packets = rx, tx_packets = tx, "final counters");
    controller.shutdown();
    tracing::info!("stopped; XDP programs removed");
    ExitCode::SUCCESS
}

//! vswitchctl: talk to a running vswitchd over its control socket.
//! Human-readable tables by default, `--json` prints the method's result
//! as is; errors go to stderr with exit code 1. Requests are built from,
//! and tables drawn from, the API's typed params and results
//! (control/src/api/params.rs, control/src/api/results.rs).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use vswitch_control::api::client::Client;
use vswitch_control::api::params::{
    ConfigSave, Empty, FdbFilter, FdbFlush, FdbKey, Name, StatsFormat, StatsShow, FDB_PAGE_MAX,
};
use vswitch_control::api::results::{
    Cleared, EntryType, FdbAdded, FdbDeleted, FdbPage, FdbRow, Flushed, PortDeleted, PortDetail,
    PortInfo, PrometheusText, Saved, Stats, Status, SwitchLive,
};
use vswitch_control::api::trace;
use vswitch_control::config::{self, ConfigFile, DEFAULT_SOCKET};
use vswitch_control::model::port::{CreateKind, Owner, PortPatch, PortSettings};
use vswitch_control::model::switch::{PollingMode, StaticEntry, SwitchPatch};
use vswitch_control::model::value::{MacAddr, Vlan};
use vswitch_control::table::Table;

#[derive(Parser, Debug)]
#[command(name = "vswitchctl", version, about = "Control a running vswitchd")]
struct Cli {
    /// Control socket of the daemon.
    #[arg(long, global = true, value_name = "PATH", default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Print the method's JSON result instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

// Parsed once per run: a 512-byte VLAN bitmap inline costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    /// Version, uptime, workers, ports and the driver, offloads and XDP mode each really got.
    Status,
    /// Live per-port packet and bit rates, drops and worker load (like esxtop).
    Top {
        /// Seconds between refreshes.
        #[arg(long, short = 'd', default_value_t = 1.0)]
        interval: f64,
        /// Stop after this many refreshes.
        #[arg(long, short = 'n')]
        count: Option<u64>,
        /// Print one report after another instead of redrawing the screen.
        #[arg(long, short = 'b')]
        batch: bool,
    },
    /// Ports.
    #[command(subcommand)]
    Port(PortCmd),
    /// The MAC table.
    #[command(subcommand)]
    Fdb(FdbCmd),
    /// Counters.
    #[command(subcommand)]
    Stats(StatsCmd),
    /// The running configuration.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Switch-wide settings that change live.
    #[command(subcommand)]
    Switch(SwitchCmd),
    /// Records frames at a point of the pipeline into a pcapng file (- for
    /// standard output: `vswitchctl capture --point drop -w - | tshark -r -`).
    Capture(vswitch_control::capture_file::CaptureArgs),
    /// Where would this frame go? Runs it through the switch's pipeline
    /// (nothing learned, nothing sent) and prints each step.
    Trace {
        /// The port it arrives on.
        #[arg(long)]
        port: String,
        /// The whole frame as hex (no FCS).
        #[arg(long, value_name = "HEX", conflicts_with_all = ["dst", "src", "vlan", "pcp", "ethertype"])]
        frame: Option<String>,
        /// Destination MAC.
        #[arg(long, required_unless_present = "frame")]
        dst: Option<MacAddr>,
        /// Source MAC.
        #[arg(long, required_unless_present = "frame")]
        src: Option<MacAddr>,
        /// An 802.1Q tag with this VID (0: priority tag).
        #[arg(long)]
        vlan: Option<i64>,
        /// The tag's PCP.
        #[arg(long, requires = "vlan")]
        pcp: Option<i64>,
        /// EtherType (0x0800 or decimal; default 0x88b5).
        #[arg(long, value_parser = trace::parse_ethertype)]
        ethertype: Option<i64>,
    },
    /// Port mirroring (SPAN) sessions.
    #[command(subcommand)]
    Mirror(vswitch_control::mirror_cli::MirrorCmd),
    /// Prints a shell completion script (bash, zsh, fish, ...).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand, Debug)]
enum PortCmd {
    /// All ports.
    List,
    /// One port with its counters.
    Show {
        /// Port name.
        name: String,
    },
    /// Adds a port while the switch runs.
    Add {
        /// Port name.
        name: String,
        /// Kernel interface.
        #[arg(long)]
        iface: String,
        /// Worker to put it on (default: the least loaded).
        #[arg(long)]
        worker: Option<usize>,
        /// Root only: open the interface even where vswitchd would refuse
        /// (it replaces another program's XDP program).
        #[arg(long)]
        force: bool,
        /// Make the interface: `tap` (a persistent tap for a VM, removed
        /// with the port).
        #[arg(long, value_name = "KIND", value_parser = parse_create)]
        create: Option<CreateKind>,
        /// With --create: the user (name or uid) who may open the tap.
        #[arg(long, value_name = "USER", requires = "create")]
        owner: Option<String>,
        /// Settings other than the defaults (the flags of `port set`).
        #[command(flatten)]
        flags: PortPatch,
    },
    /// Removes a port.
    Del {
        /// Port name.
        name: String,
    },
    /// Changes a port's VLAN settings, flags or driver, live.
    Set {
        /// Port name.
        name: String,
        /// What to change.
        #[command(flatten)]
        flags: PortPatch,
    },
}

#[derive(Subcommand, Debug)]
enum FdbCmd {
    /// Entries, optionally filtered.
    Show {
        /// Only this VLAN.
        #[arg(long)]
        vlan: Option<Vlan>,
        /// Only this port.
        #[arg(long)]
        port: Option<String>,
        /// Only this MAC.
        #[arg(long)]
        mac: Option<MacAddr>,
    },
    /// Adds a static entry.
    Add {
        /// MAC address.
        #[arg(long)]
        mac: MacAddr,
        /// VLAN.
        #[arg(long)]
        vlan: Vlan,
        /// Port name.
        #[arg(long)]
        port: String,
    },
    /// Deletes an entry (static or learned).
    Del {
        /// MAC address.
        #[arg(long)]
        mac: MacAddr,
        /// VLAN.
        #[arg(long)]
        vlan: Vlan,
    },
    /// Flushes learned entries of a port, a VLAN or everything.
    Flush {
        /// Only this port.
        #[arg(long, conflicts_with_all = ["vlan", "all"])]
        port: Option<String>,
        /// Only this VLAN.
        #[arg(long, conflicts_with = "all")]
        vlan: Option<Vlan>,
        /// Everything.
        #[arg(long)]
        all: bool,
        /// Static entries too.
        #[arg(long)]
        include_static: bool,
    },
    /// Changes the [fdb] settings that change live: aging and the MAC move
    /// guard (capacity is fixed at start).
    Set {
        /// What to change.
        #[command(flatten)]
        flags: vswitch_control::model::policy::FdbPatch,
    },
}

#[derive(Subcommand, Debug)]
enum StatsCmd {
    /// Counters per port, drops by reason, worker load.
    Show {
        /// json (tables) or prometheus (text exposition format).
        #[arg(long, default_value = "json")]
        format: String,
    },
    /// Restarts counters from zero.
    Clear,
}

#[derive(Subcommand, Debug)]
enum SwitchCmd {
    /// Changes how workers poll, live.
    Set {
        /// adaptive (CPU follows load) or busy (spin always).
        #[arg(long)]
        polling: Option<PollingMode>,
        /// Longest nap of an adaptive worker, microseconds (0-1000).
        #[arg(long)]
        max_sleep_us: Option<i64>,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCmd {
    /// The running configuration (as TOML; --json for JSON).
    Show,
    /// Writes the running configuration (default: the file vswitchd started with).
    Save {
        /// Where to write.
        #[arg(long)]
        path: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        // A bad value (a VLAN out of range, a malformed MAC) is the same
        // error the daemon would give: exit 1 like its errors.
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::ValueValidation | clap::error::ErrorKind::InvalidValue
            ) =>
        {
            let _ = e.print();
            return ExitCode::from(1);
        }
        Err(e) => e.exit(),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vswitchctl: {e}");
            ExitCode::from(1)
        }
    }
}

/// A connection and typed calls over it.
struct Ctl {
    client: Client,
}

impl Ctl {
    /// Calls `method` with typed params; the result as sent.
    fn call(&mut self, method: &str, params: &impl Serialize) -> Result<Value, String> {
        let params = serde_json::to_value(params).map_err(|e| e.to_string())?;
        self.client.call(method, params).map_err(|e| e.to_string())
    }
}

/// Every page of `fdb.show`, as one array sorted by VLAN then MAC (what
/// `--json` prints). The daemon answers a page at a time, so neither its
/// memory nor its other clients wait on a big table; the pages are
/// gathered here, in the client.
fn fdb_show_all(
    ctl: &mut Ctl,
    vlan: Option<Vlan>,
    port: Option<String>,
    mac: Option<MacAddr>,
) -> Result<Value, String> {
    let mut rows: Vec<FdbRow> = Vec::new();
    let mut cursor = None;
    loop {
        let filter = FdbFilter {
            limit: Some(FDB_PAGE_MAX),
            cursor: cursor.take(),
            vlan,
            port: port.clone(),
            mac,
        };
        let page: FdbPage = typed("fdb.show", &ctl.call("fdb.show", &filter)?)?;
        rows.extend(page.entries);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    rows.sort_by_key(|r| (r.vlan, r.mac.to_string()));
    serde_json::to_value(rows).map_err(|e| e.to_string())
}

/// Reads a result into its type.
fn typed<T: DeserializeOwned>(method: &str, v: &Value) -> Result<T, String> {
    serde_json::from_value(v.clone())
        .map_err(|e| format!("unexpected {method} result from vswitchd: {e}"))
}

fn run(cli: Cli) -> Result<(), String> {
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "vswitchctl",
            &mut std::io::stdout(),
        );
        return Ok(());
    }
    if let Command::Capture(args) = &cli.command {
        return capture(&cli.socket, args, cli.json);
    }
    let client = Client::connect(&cli.socket).map_err(|e| e.to_string())?;
    let mut ctl = Ctl { client };
    let (method, result) = match cli.command {
        Command::Completions { .. } | Command::Capture(_) => unreachable!("handled above"),
        Command::Top {
            interval,
            count,
            batch,
        } => {
            return top(&mut ctl, interval, count, batch || cli.json);
        }
        Command::Trace {
            port,
            frame,
            dst,
            src,
            vlan,
            pcp,
            ethertype,
        } => {
            let p = trace::TraceParams {
                port,
                frame,
                dst,
                src,
                vlan,
                pcp,
                ethertype,
            };
            ("trace", ctl.call("trace", &p)?)
        }
        Command::Status => ("status", ctl.call("status", &Empty {})?),
        Command::Port(PortCmd::List) => ("port.list", ctl.call("port.list", &Empty {})?),
        Command::Port(PortCmd::Show { name }) => {
            ("port.show", ctl.call("port.show", &Name { name })?)
        }
        Command::Port(PortCmd::Add {
            name,
            iface,
            worker,
            force,
            create,
            owner,
            flags,
        }) => {
            let mut settings = PortSettings::new(name, iface);
            flags.apply(&mut settings);
            settings.create = create;
            settings.owner = owner.map(|o| match o.parse::<u32>() {
                Ok(uid) => Owner::Uid(uid),
                Err(_) => Owner::Name(o),
            });
            let mut p = serde_json::to_value(&settings).map_err(|e| e.to_string())?;
            if let (Some(w), Value::Object(m)) = (worker, &mut p) {
                m.insert("worker".into(), w.into());
            }
            if let (true, Value::Object(m)) = (force, &mut p) {
                m.insert("force".into(), true.into());
            }
            ("port.add", ctl.call("port.add", &p)?)
        }
        Command::Port(PortCmd::Del { name }) => ("port.del", ctl.call("port.del", &Name { name })?),
        Command::Port(PortCmd::Set { name, mut flags }) => {
            flags.name = name;
            if flags.is_empty() {
                return Err("port set: nothing to change (see vswitchctl port set --help)".into());
            }
            ("port.set", ctl.call("port.set", &flags)?)
        }
        Command::Fdb(FdbCmd::Show { vlan, port, mac }) => {
            ("fdb.show", fdb_show_all(&mut ctl, vlan, port, mac)?)
        }
        Command::Fdb(FdbCmd::Add { mac, vlan, port }) => (
            "fdb.add",
            ctl.call("fdb.add", &StaticEntry { mac, vlan, port })?,
        ),
        Command::Fdb(FdbCmd::Del { mac, vlan }) => {
            ("fdb.del", ctl.call("fdb.del", &FdbKey { mac, vlan })?)
        }
        Command::Fdb(FdbCmd::Flush {
            port,
            vlan,
            all,
            include_static,
        }) => {
            if usize::from(port.is_some()) + usize::from(vlan.is_some()) + usize::from(all) != 1 {
                return Err("fdb flush: give one of --port, --vlan or --all".into());
            }
            let p = FdbFlush {
                port,
                vlan,
                all,
                include_static,
            };
            ("fdb.flush", ctl.call("fdb.flush", &p)?)
        }
        Command::Fdb(FdbCmd::Set { flags }) => ("fdb.set", ctl.call("fdb.set", &flags)?),
        Command::Stats(StatsCmd::Show { format }) => {
            let format: StatsFormat = serde_json::from_value(Value::String(format))
                .map_err(|e| format!("stats show --format: {e}"))?;
            let r = ctl.call("stats.show", &StatsShow { format })?;
            if format == StatsFormat::Prometheus && !cli.json {
                print!("{}", typed::<PrometheusText>("stats.show", &r)?.text);
                return Ok(());
            }
            ("stats.show", r)
        }
        Command::Stats(StatsCmd::Clear) => ("stats.clear", ctl.call("stats.clear", &Empty {})?),
        Command::Config(ConfigCmd::Show) => ("config.show", ctl.call("config.show", &Empty {})?),
        Command::Config(ConfigCmd::Save { path }) => (
            "config.save",
            ctl.call("config.save", &ConfigSave { path })?,
        ),
        Command::Switch(SwitchCmd::Set {
            polling,
            max_sleep_us,
        }) => (
            "switch.set",
            ctl.call(
                "switch.set",
                &SwitchPatch {
                    polling,
                    max_sleep_us,
                    metrics_listen: None,
                },
            )?,
        ),
        Command::Mirror(cmd) => {
            let (method, params) = vswitch_control::mirror_cli::request(cmd);
            (method, ctl.call(method, &params)?)
        }
    };
    if cli.json {
        println!("{}", pretty(&result));
    } else {
        print!("{}", human(method, &result)?);
    }
    Ok(())
}

/// `capture`: the file, then a summary on standard error (standard
/// output may be the capture).
fn capture(
    socket: &std::path::Path,
    args: &vswitch_control::capture_file::CaptureArgs,
    json: bool,
) -> Result<(), String> {
    let Some(end) = vswitch_control::capture_file::run(socket, args)? else {
        return Ok(());
    };
    if json {
        eprintln!(
            "{}",
            serde_json::to_string(&end).map_err(|e| e.to_string())?
        );
    } else {
        eprintln!(
            "capture {} ended ({}): {}, {} lost",
            end.capture,
            end.reason,
            plural(end.frames as usize, "frame", "frames"),
            end.lost
        );
    }
    Ok(())
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h}h{m:02}m")
    } else if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else {
        format!("{m}m{s:02}s")
    }
}

/// The table of ports: each port's settings cells (DRIVER, the one asked
/// for, is the last), then what it runs and where.
fn port_table(ports: &[PortInfo]) -> String {
    let runtime = [
        "LINK", "IN_USE", "OFFLOADS", "WORKER", "XDP", "MODE", ">MTU",
    ];
    let mut columns: Vec<&str> = PortSettings::new("", "")
        .cells()
        .iter()
        .map(|(_, c, _)| *c)
        .collect();
    columns.extend(runtime);
    let mut t = Table::new(&columns);
    for p in ports {
        let mut row: Vec<String> = p.settings.cells().into_iter().map(|(_, _, v)| v).collect();
        row.extend([
            p.link.clone(),
            p.driver_in_use.clone(),
            p.offloads.clone(),
            p.worker.to_string(),
            p.xdp.clone(),
            p.mode.clone(),
            // The configured one marked: `9000*`.
            format!(
                "{}{}",
                p.mtu,
                if p.mtu_request.is_some() { "*" } else { "" }
            ),
        ]);
        t.row(row);
    }
    t.to_string()
}

fn human(method: &str, r: &Value) -> Result<String, String> {
    Ok(match method {
        "status" => status_human(&typed(method, r)?),
        "port.list" => port_table(&typed::<Vec<PortInfo>>(method, r)?),
        "port.add" | "port.set" => port_table(&[typed(method, r)?]),
        "switch.set" => {
            let s: SwitchLive = typed(method, r)?;
            format!("polling {}, max_sleep_us {}\n", s.polling, s.max_sleep_us)
        }
        "port.show" => port_show_human(&typed(method, r)?),
        "port.del" => {
            let d: PortDeleted = typed(method, r)?;
            format!(
                "removed port {} ({} with it)\n",
                d.name,
                plural(d.static_entries_removed, "static entry", "static entries")
            )
        }
        "fdb.show" => {
            let rows: Vec<FdbRow> = typed(method, r)?;
            let mut t = Table::new(&["PORT", ">VLAN", "MAC", "TYPE", ">AGE"]);
            for e in &rows {
                t.row(vec![
                    e.port.clone().unwrap_or_else(|| "-".into()),
                    e.vlan.to_string(),
                    e.mac.to_string(),
                    e.kind.to_string(),
                    match e.kind {
                        EntryType::Static => "-".into(),
                        _ => e.age_secs.to_string(),
                    },
                ]);
            }
            format!("{t}{}\n", plural(t.len(), "entry", "entries"))
        }
        "fdb.add" => {
            let a: FdbAdded = typed(method, r)?;
            format!(
                "static {} in VLAN {} on port {}\n",
                a.entry.mac, a.entry.vlan, a.entry.port
            )
        }
        "fdb.del" => {
            let d: FdbDeleted = typed(method, r)?;
            format!("deleted {} in VLAN {}\n", d.mac, d.vlan)
        }
        "fdb.set" => {
            let f: vswitch_control::api::results::FdbLive = typed(method, r)?;
            let g = f.move_guard;
            format!(
                "aging_secs {}; move guard: {} moves in {} s, hold-down {} s\n",
                f.aging_secs, g.moves, g.window_secs, g.holddown_secs
            )
        }
        "fdb.flush" => {
            let f: Flushed = typed(method, r)?;
            format!("flushed {}\n", plural(f.flushed, "entry", "entries"))
        }
        "stats.show" => stats_human(&typed(method, r)?),
        "stats.clear" => {
            let _: Cleared = typed(method, r)?;
            "counters cleared\n".into()
        }
        "config.show" => config::to_toml(&typed::<ConfigFile>(method, r)?),
        "config.save" => format!("saved to {}\n", typed::<Saved>(method, r)?.path),
        "trace" => trace::human(&typed(method, r)?),
        m if m.starts_with("mirror.") => {
            vswitch_control::mirror_cli::human(m, r).unwrap_or_else(|| Ok(pretty(r)))?
        }
        _ => pretty(r) + "\n",
    })
}

fn status_human(r: &Status) -> String {
    let mut out = format!(
        "vswitchd {} (pid {}), up {}, config {}\n",
        r.version,
        r.pid,
        duration(r.uptime_secs),
        r.config
    );
    let f = &r.fdb;
    out += &format!(
        "fdb: {} entries of {}, aging {}\n\n",
        f.entries,
        f.capacity,
        match f.aging_secs {
            0 => "off".to_string(),
            n => format!("{n}s"),
        }
    );
    let mut t = Table::new(&["WORKER", "CPU", "PORTS"]);
    for w in &r.workers {
        t.row(vec![
            w.index.to_string(),
            w.cpu.to_string(),
            w.ports.join(" "),
        ]);
    }
    out += &t.to_string();
    out += "\n";
    let mut t = Table::new(&[
        "PORT", "IFACE", "LINK", "WORKER", "DRIVER", "OFFLOADS", "XDP", "MODE", ">QUEUES", ">MTU",
    ]);
    for p in &r.ports {
        // The driver it runs, and how it was chosen when not by name.
        let asked = p.driver.to_string();
        let driver = if asked == p.driver_in_use {
            asked
        } else {
            format!("{} ({asked})", p.driver_in_use)
        };
        t.row(vec![
            p.name.clone(),
            p.iface.clone(),
            p.link.clone(),
            p.worker.to_string(),
            driver,
            p.offloads.clone(),
            p.xdp.clone(),
            p.mode.clone(),
            p.queues.to_string(),
            p.mtu.to_string(),
        ]);
    }
    out += &t.to_string();
    for p in &r.ports {
        if let Some(problem) = &p.mtu_problem {
            out += &format!("\nport {}: {problem}", p.name);
        }
    }
    out
}

fn port_show_human(r: &PortDetail) -> String {
    let i = &r.info;
    let mut rows: Vec<(String, String)> = i
        .settings
        .cells()
        .into_iter()
        .map(|(k, _, v)| (k.to_string(), v))
        .collect();
    rows.extend(
        vswitch_control::model::policy::policy_cells(&i.settings)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v)),
    );
    rows.extend([
        ("link".to_string(), i.link.clone()),
        ("driver_in_use".into(), i.driver_in_use.clone()),
        ("offloads".into(), i.offloads.clone()),
        ("worker".into(), i.worker.to_string()),
        ("xdp".into(), i.xdp.clone()),
        ("mode".into(), i.mode.clone()),
        ("queues".into(), i.queues.to_string()),
        ("mtu".into(), i.mtu.to_string()),
        (
            "mtu_request".into(),
            i.mtu_request.map_or("-".into(), |m| m.to_string()),
        ),
        ("iface_mtu".into(), i.iface_mtu.to_string()),
        ("max_frame_len".into(), i.max_frame_len.to_string()),
        ("fdb_entries".into(), r.fdb_entries.to_string()),
    ]);
    if let Some(problem) = &r.mtu_problem {
        rows.push(("mtu_problem".into(), problem.clone()));
    }
    let mut out = String::new();
    for (k, v) in rows {
        out += &format!("{k:22} {v}\n");
    }
    let c = &r.counters;
    out += "counters:\n";
    for (k, v) in [
        ("rx_packets", c.rx_packets),
        ("rx_bytes", c.rx_bytes),
        ("rx_dropped", c.rx_dropped),
        ("tx_packets", c.tx_packets),
        ("tx_bytes", c.tx_bytes),
        ("tx_dropped", c.tx_dropped),
    ] {
        out += &format!("  {k:20} {v}\n");
    }
    out += "kernel (XDP_STATISTICS):\n";
    if let Some(k) = &r.kernel {
        for (name, v) in [
            ("rx_dropped", k.rx_dropped),
            ("rx_invalid_descs", k.rx_invalid_descs),
            ("tx_invalid_descs", k.tx_invalid_descs),
            ("rx_ring_full", k.rx_ring_full),
            ("rx_fill_ring_empty_descs", k.rx_fill_ring_empty_descs),
            ("tx_ring_empty_descs", k.tx_ring_empty_descs),
        ] {
            out += &format!("  {name:26} {v}\n");
        }
    }
    out
}

fn stats_human(r: &Stats) -> String {
    let mut t = Table::new(&[
        "PORT",
        ">RX_PACKETS",
        ">RX_BYTES",
        ">RX_DROPPED",
        ">TX_PACKETS",
        ">TX_BYTES",
        ">TX_DROPPED",
        ">KERNEL_DROPS",
    ]);
    for (name, p) in &r.ports {
        let c = &p.counters;
        t.row(vec![
            name.clone(),
            c.rx_packets.to_string(),
            c.rx_bytes.to_string(),
            c.rx_dropped.to_string(),
            c.tx_packets.to_string(),
            c.tx_bytes.to_string(),
            c.tx_dropped.to_string(),
            p.kernel.map_or(0, |k| k.rx_losses()).to_string(),
        ]);
    }
    let mut out = t.to_string();
    let nonzero = |m: &std::collections::BTreeMap<String, u64>| -> Vec<(String, u64)> {
        m.iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| (k.clone(), *n))
            .collect()
    };
    let drops = nonzero(&r.drops);
    out += "\ndrops by reason:";
    if drops.is_empty() {
        out += " none\n";
    } else {
        out += "\n";
        for (k, n) in drops {
            out += &format!("  {k:22} {n}\n");
        }
    }
    out += "events:\n";
    for (k, n) in nonzero(&r.events) {
        out += &format!("  {k:22} {n}\n");
    }
    let mut w = Table::new(&[
        "WORKER",
        ">CPU",
        ">BUSY%",
        ">ASLEEP%",
        ">WAKEUPS/S",
        ">BATCH",
        ">NS/PKT",
        ">PACKETS",
    ]);
    for x in &r.workers {
        w.row(vec![
            x.index.to_string(),
            x.cpu.to_string(),
            format!("{:.1}", x.busy_pct),
            format!("{:.1}", x.asleep_pct),
            format!("{:.0}", x.wakeups_per_sec),
            format!("{:.1}", x.avg_batch),
            format!("{:.0}", x.ns_per_packet),
            x.packets.to_string(),
        ]);
    }
    out += "\n";
    out + &w.to_string()
}

/// `top`: samples `stats.show` every `interval` seconds and shows rates.
fn top(ctl: &mut Ctl, interval: f64, count: Option<u64>, batch: bool) -> Result<(), String> {
    if !(0.1..=3600.0).contains(&interval) {
        return Err("top: --interval must be between 0.1 and 3600 seconds".into());
    }
    let mut sample = || -> Result<Stats, String> {
        typed(
            "stats.show",
            &ctl.call("stats.show", &StatsShow::default())?,
        )
    };
    let mut prev = sample()?;
    let mut shown = 0u64;
    let raw = (!batch).then(RawTerminal::enter).flatten();
    loop {
        if wait_or_quit(interval, raw.is_some()) {
            break;
        }
        let cur = sample()?;
        let dt = (cur.uptime_secs - prev.uptime_secs).max(1e-3);
        let screen = top_screen(&prev, &cur, dt);
        let mut out = std::io::stdout().lock();
        if batch {
            let _ = writeln!(out, "{screen}");
        } else {
            // Home, clear, draw: a redraw, not a scroll.
            let _ = write!(out, "\x1b[H\x1b[2J{}", screen.replace('\n', "\r\n"));
        }
        let _ = out.flush();
        prev = cur;
        shown += 1;
        if count.is_some_and(|n| shown >= n) {
            break;
        }
    }
    drop(raw);
    Ok(())
}

fn top_screen(prev: &Stats, cur: &Stats, dt: f64) -> String {
    let delta = |a: u64, b: u64| b.saturating_sub(a) as f64;
    let mut out = format!(
        "vswitch top: up {}, interval {:.1}s (q quits)\n\n",
        duration(cur.uptime_secs as u64),
        dt
    );
    let mut w = Table::new(&[
        "WORKER",
        ">CPU",
        ">BUSY%",
        ">ASLEEP%",
        ">WAKEUPS/S",
        ">BATCH",
        ">NS/PKT",
        ">PKT/S",
    ]);
    for (i, x) in cur.workers.iter().enumerate() {
        let p = prev.workers.get(i);
        let busy = delta(p.map_or(0, |p| p.busy_ns), x.busy_ns);
        let total = delta(p.map_or(0, |p| p.total_ns), x.total_ns);
        let pkts = delta(p.map_or(0, |p| p.packets), x.packets);
        let asleep = delta(p.map_or(0, |p| p.asleep_ns), x.asleep_ns);
        let wakeups = delta(p.map_or(0, |p| p.wakeups), x.wakeups);
        let batches = delta(p.map_or(0, |p| p.batches), x.batches);
        let pct = |a: f64| if total > 0.0 { 100.0 * a / total } else { 0.0 };
        w.row(vec![
            x.index.to_string(),
            x.cpu.to_string(),
            format!("{:.1}", pct(busy)),
            format!("{:.1}", pct(asleep)),
            format!("{:.0}", wakeups / dt),
            if batches > 0.0 {
                format!("{:.1}", pkts / batches)
            } else {
                "-".into()
            },
            if pkts > 0.0 {
                format!("{:.0}", busy / pkts)
            } else {
                "-".into()
            },
            format!("{:.0}", pkts / dt),
        ]);
    }
    out += &w.to_string();
    out += "\n";
    let mut t = Table::new(&[
        "PORT",
        ">RX PKT/S",
        ">RX MBIT/S",
        ">TX PKT/S",
        ">TX MBIT/S",
        ">DROP/S",
    ]);
    for (name, c) in &cur.ports {
        let p = prev.ports.get(name).map(|p| p.counters).unwrap_or_default();
        let c = c.counters;
        let rate = |a: u64, b: u64| delta(a, b) / dt;
        let drops = rate(p.rx_dropped, c.rx_dropped) + rate(p.tx_dropped, c.tx_dropped);
        t.row(vec![
            name.clone(),
            format!("{:.0}", rate(p.rx_packets, c.rx_packets)),
            format!("{:.2}", rate(p.rx_bytes, c.rx_bytes) * 8.0 / 1e6),
            format!("{:.0}", rate(p.tx_packets, c.tx_packets)),
            format!("{:.2}", rate(p.tx_bytes, c.tx_bytes) * 8.0 / 1e6),
            format!("{:.0}", drops),
        ]);
    }
    out += &t.to_string();
    let mut reasons: Vec<(String, f64)> = cur
        .drops
        .iter()
        .map(|(k, &v)| {
            let before = prev.drops.get(k).copied().unwrap_or(0);
            (k.clone(), delta(before, v) / dt)
        })
        .filter(|(_, r)| *r > 0.0)
        .collect();
    reasons.sort_by(|a, b| b.1.total_cmp(&a.1));
    if !reasons.is_empty() {
        out += "\ndrops/s: ";
        out += &reasons
            .iter()
            .map(|(k, r)| format!("{k} {r:.0}"))
            .collect::<Vec<_>>()
            .join(", ");
        out += "\n";
    }
    out
}

/// Puts the terminal in non-canonical, no-echo mode so `q` quits `top`;
/// restores it on drop.
struct RawTerminal {
    saved: libc::termios,
}

impl RawTerminal {
    #[allow(unsafe_code)]
    fn enter() -> Option<RawTerminal> {
        // SAFETY: isatty and tcgetattr/tcsetattr on stdin with a local
        // termios buffer.
        unsafe {
            if libc::isatty(0) != 1 {
                return None;
            }
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return None;
            }
            let saved = t;
            t.c_lflag &= !(libc::ICANON | libc::ECHO);
            t.c_cc[libc::VMIN] = 0;
            t.c_cc[libc::VTIME] = 0;
            libc::tcsetattr(0, libc::TCSANOW, &t);
            Some(RawTerminal { saved })
        }
    }
}

impl Drop for RawTerminal {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: restoring the attributes saved in `enter`.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &self.saved) };
        println!();
    }
}

/// Sleeps `secs`, or returns true early when `q` is typed.
#[allow(unsafe_code)]
fn wait_or_quit(secs: f64, keys: bool) -> bool {
    if !keys {
        std::thread::sleep(std::time::Duration::from_secs_f64(secs));
        return false;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs_f64(secs);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        let mut fd = libc::pollfd {
            fd: 0,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd on stdin.
        let n = unsafe { libc::poll(&mut fd, 1, left.as_millis() as i32) };
        if n > 0 {
            let mut b = [0u8; 16];
            // SAFETY: reading into a local buffer from stdin.
            let got = unsafe { libc::read(0, b.as_mut_ptr() as *mut libc::c_void, b.len()) };
            if got > 0 && b[..got as usize].iter().any(|&c| c == b'q' || c == b'Q') {
                return true;
            }
        }
    }
}

/// `--create`: the kinds of interface vswitchd makes.
fn parse_create(s: &str) -> Result<CreateKind, String> {
    CreateKind::try_from(s.to_string())
}

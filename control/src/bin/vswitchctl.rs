//! vswitchctl: talk to a running vswitchd over its control socket.
//! Human-readable tables by default, `--json` prints the method's result
//! as is; errors go to stderr with exit code 1.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use serde_json::{json, Map, Value};
use vswitch_control::api::client::{Client, ClientError};
use vswitch_control::config::{self, ConfigFile, DEFAULT_SOCKET};
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

#[derive(Subcommand, Debug)]
enum Command {
    /// Version, uptime, workers, ports and the XDP mode each really got.
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
    /// Prints a shell completion script (bash, zsh, fish, ...).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(clap::Args, Debug, Default)]
struct PortFlags {
    /// access | trunk | guest
    #[arg(long, value_name = "MODE")]
    vlan_mode: Option<String>,
    /// Access VLAN, or native VLAN of a trunk/guest port ("none" to unset).
    #[arg(long, value_name = "VLAN")]
    vlan: Option<String>,
    /// Trunk VLANs, e.g. "10,20,100-199" ("none" for the default 1-4094).
    #[arg(long, value_name = "LIST")]
    trunk_vlans: Option<String>,
    /// Receive a copy of everything forwarded in the port's VLANs.
    #[arg(long, value_name = "BOOL")]
    promiscuous: Option<bool>,
    /// Learn source MACs.
    #[arg(long, value_name = "BOOL")]
    learning: Option<bool>,
    /// Receive unknown-unicast floods.
    #[arg(long, value_name = "BOOL")]
    flood_unknown_unicast: Option<bool>,
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
        #[command(flatten)]
        flags: PortFlags,
    },
    /// Removes a port.
    Del {
        /// Port name.
        name: String,
    },
    /// Changes a port's VLAN settings or flags, live.
    Set {
        /// Port name.
        name: String,
        #[command(flatten)]
        flags: PortFlags,
    },
}

#[derive(Subcommand, Debug)]
enum FdbCmd {
    /// Entries, optionally filtered.
    Show {
        /// Only this VLAN.
        #[arg(long)]
        vlan: Option<i64>,
        /// Only this port.
        #[arg(long)]
        port: Option<String>,
        /// Only this MAC.
        #[arg(long)]
        mac: Option<String>,
    },
    /// Adds a static entry.
    Add {
        /// MAC address.
        #[arg(long)]
        mac: String,
        /// VLAN.
        #[arg(long)]
        vlan: i64,
        /// Port name.
        #[arg(long)]
        port: String,
    },
    /// Deletes an entry (static or learned).
    Del {
        /// MAC address.
        #[arg(long)]
        mac: String,
        /// VLAN.
        #[arg(long)]
        vlan: i64,
    },
    /// Flushes learned entries of a port, a VLAN or everything.
    Flush {
        /// Only this port.
        #[arg(long, conflicts_with_all = ["vlan", "all"])]
        port: Option<String>,
        /// Only this VLAN.
        #[arg(long, conflicts_with = "all")]
        vlan: Option<i64>,
        /// Everything.
        #[arg(long)]
        all: bool,
        /// Static entries too.
        #[arg(long)]
        include_static: bool,
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
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vswitchctl: {e}");
            ExitCode::from(1)
        }
    }
}

fn opt_vlan(v: &str) -> Result<Value, String> {
    if v.eq_ignore_ascii_case("none") {
        return Ok(Value::Null);
    }
    v.parse::<i64>()
        .map(|n| json!(n))
        .map_err(|_| format!("invalid VLAN {v:?}: expected a number 1-4094 or \"none\""))
}

fn flags_json(f: &PortFlags, params: &mut Map<String, Value>) -> Result<(), String> {
    if let Some(m) = &f.vlan_mode {
        params.insert("vlan_mode".into(), json!(m));
    }
    if let Some(v) = &f.vlan {
        params.insert("vlan".into(), opt_vlan(v)?);
    }
    if let Some(t) = &f.trunk_vlans {
        let v = if t.eq_ignore_ascii_case("none") {
            Value::Null
        } else {
            json!(t)
        };
        params.insert("trunk_vlans".into(), v);
    }
    for (k, v) in [
        ("promiscuous", f.promiscuous),
        ("learning", f.learning),
        ("flood_unknown_unicast", f.flood_unknown_unicast),
    ] {
        if let Some(b) = v {
            params.insert(k.into(), json!(b));
        }
    }
    Ok(())
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
    let mut client = Client::connect(&cli.socket).map_err(|e| e.to_string())?;
    let mut call = |m: &str, p: Value| client.call(m, p).map_err(|e: ClientError| e.to_string());
    let (method, result) = match cli.command {
        Command::Completions { .. } => unreachable!("handled above"),
        Command::Top {
            interval,
            count,
            batch,
        } => {
            return top(&mut call, interval, count, batch || cli.json);
        }
        Command::Status => ("status", call("status", json!({}))?),
        Command::Port(PortCmd::List) => ("port.list", call("port.list", json!({}))?),
        Command::Port(PortCmd::Show { name }) => {
            ("port.show", call("port.show", json!({"name": name}))?)
        }
        Command::Port(PortCmd::Add {
            name,
            iface,
            worker,
            flags,
        }) => {
            let mut p = Map::new();
            p.insert("name".into(), json!(name));
            p.insert("iface".into(), json!(iface));
            if let Some(w) = worker {
                p.insert("worker".into(), json!(w));
            }
            flags_json(&flags, &mut p)?;
            ("port.add", call("port.add", Value::Object(p))?)
        }
        Command::Port(PortCmd::Del { name }) => {
            ("port.del", call("port.del", json!({"name": name}))?)
        }
        Command::Port(PortCmd::Set { name, flags }) => {
            let mut p = Map::new();
            p.insert("name".into(), json!(name));
            flags_json(&flags, &mut p)?;
            if p.len() == 1 {
                return Err("port set: nothing to change (see vswitchctl port set --help)".into());
            }
            ("port.set", call("port.set", Value::Object(p))?)
        }
        Command::Fdb(FdbCmd::Show { vlan, port, mac }) => {
            let mut p = Map::new();
            if let Some(v) = vlan {
                p.insert("vlan".into(), json!(v));
            }
            if let Some(x) = port {
                p.insert("port".into(), json!(x));
            }
            if let Some(m) = mac {
                p.insert("mac".into(), json!(m));
            }
            ("fdb.show", call("fdb.show", Value::Object(p))?)
        }
        Command::Fdb(FdbCmd::Add { mac, vlan, port }) => (
            "fdb.add",
            call("fdb.add", json!({"mac": mac, "vlan": vlan, "port": port}))?,
        ),
        Command::Fdb(FdbCmd::Del { mac, vlan }) => (
            "fdb.del",
            call("fdb.del", json!({"mac": mac, "vlan": vlan}))?,
        ),
        Command::Fdb(FdbCmd::Flush {
            port,
            vlan,
            all,
            include_static,
        }) => {
            let mut p = Map::new();
            match (port, vlan, all) {
                (Some(x), None, false) => p.insert("port".into(), json!(x)),
                (None, Some(v), false) => p.insert("vlan".into(), json!(v)),
                (None, None, true) => p.insert("all".into(), json!(true)),
                _ => return Err("fdb flush: give one of --port, --vlan or --all".into()),
            };
            if include_static {
                p.insert("include_static".into(), json!(true));
            }
            ("fdb.flush", call("fdb.flush", Value::Object(p))?)
        }
        Command::Stats(StatsCmd::Show { format }) => {
            if format == "prometheus" {
                let r = call("stats.show", json!({"format": "prometheus"}))?;
                if cli.json {
                    println!("{}", pretty(&r));
                } else {
                    print!("{}", r["text"].as_str().unwrap_or(""));
                }
                return Ok(());
            }
            ("stats.show", call("stats.show", json!({"format": format}))?)
        }
        Command::Stats(StatsCmd::Clear) => ("stats.clear", call("stats.clear", json!({}))?),
        Command::Config(ConfigCmd::Show) => ("config.show", call("config.show", json!({}))?),
        Command::Config(ConfigCmd::Save { path }) => {
            let p = match path {
                Some(p) => json!({"path": p}),
                None => json!({}),
            };
            ("config.save", call("config.save", p)?)
        }
    };
    if cli.json {
        println!("{}", pretty(&result));
    } else {
        print!("{}", human(method, &result));
    }
    Ok(())
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(x) => x.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        other => other.to_string(),
    }
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

fn human(method: &str, r: &Value) -> String {
    match method {
        "status" => {
            let mut out = format!(
                "vswitchd {} (pid {}), up {}, config {}\n",
                s(&r["version"]),
                s(&r["pid"]),
                duration(r["uptime_secs"].as_u64().unwrap_or(0)),
                s(&r["config"])
            );
            let f = &r["fdb"];
            out += &format!(
                "fdb: {} entries of {}, aging {}\n\n",
                s(&f["entries"]),
                s(&f["capacity"]),
                match f["aging_secs"].as_u64() {
                    Some(0) => "off".to_string(),
                    Some(n) => format!("{n}s"),
                    None => "-".into(),
                }
            );
            let mut t = Table::new(&["WORKER", "CPU", "PORTS"]);
            for w in r["workers"].as_array().into_iter().flatten() {
                let ports: Vec<String> =
                    w["ports"].as_array().into_iter().flatten().map(s).collect();
                t.row(vec![s(&w["index"]), s(&w["cpu"]), ports.join(" ")]);
            }
            out += &t.to_string();
            out += "\n";
            let mut t = Table::new(&["PORT", "IFACE", "WORKER", "XDP", "MODE", ">QUEUES", ">MTU"]);
            for p in r["ports"].as_array().into_iter().flatten() {
                t.row(
                    ["name", "iface", "worker", "xdp", "mode", "queues", "mtu"]
                        .iter()
                        .map(|k| s(&p[*k]))
                        .collect(),
                );
            }
            out + &t.to_string()
        }
        "port.list" | "port.add" | "port.set" => {
            let rows: Vec<&Value> = match r {
                Value::Array(a) => a.iter().collect(),
                one => vec![one],
            };
            let mut t = Table::new(&[
                "PORT",
                "IFACE",
                "VLAN_MODE",
                "VLAN",
                "TRUNK_VLANS",
                "PROMISC",
                "LEARN",
                "UU_FLOOD",
                "WORKER",
                "XDP",
                "MODE",
            ]);
            for p in rows {
                let trunk = if p["vlan_mode"] == "trunk" && p["trunk_vlans"].is_null() {
                    "1-4094".to_string()
                } else {
                    s(&p["trunk_vlans"])
                };
                t.row(vec![
                    s(&p["name"]),
                    s(&p["iface"]),
                    s(&p["vlan_mode"]),
                    s(&p["vlan"]),
                    trunk,
                    s(&p["promiscuous"]),
                    s(&p["learning"]),
                    s(&p["flood_unknown_unicast"]),
                    s(&p["worker"]),
                    s(&p["xdp"]),
                    s(&p["mode"]),
                ]);
            }
            t.to_string()
        }
        "port.show" => {
            let mut out = String::new();
            for k in [
                "name",
                "iface",
                "vlan_mode",
                "vlan",
                "trunk_vlans",
                "promiscuous",
                "learning",
                "flood_unknown_unicast",
                "worker",
                "xdp",
                "mode",
                "queues",
                "mtu",
                "fdb_entries",
            ] {
                out += &format!("{k:22} {}\n", s(&r[k]));
            }
            out += "counters:\n";
            for (k, v) in r["counters"].as_object().into_iter().flatten() {
                out += &format!("  {k:20} {}\n", s(v));
            }
            out += "kernel (XDP_STATISTICS):\n";
            for (k, v) in r["kernel"].as_object().into_iter().flatten() {
                out += &format!("  {k:26} {}\n", s(v));
            }
            out
        }
        "port.del" => format!(
            "removed port {} ({} static entr{} with it)\n",
            s(&r["name"]),
            s(&r["static_entries_removed"]),
            if r["static_entries_removed"] == 1 {
                "y"
            } else {
                "ies"
            }
        ),
        "fdb.show" => {
            let mut t = Table::new(&["PORT", ">VLAN", "MAC", "TYPE", ">AGE"]);
            for e in r.as_array().into_iter().flatten() {
                let age = if e["type"] == "static" {
                    "-".into()
                } else {
                    s(&e["age_secs"])
                };
                t.row(vec![
                    s(&e["port"]),
                    s(&e["vlan"]),
                    s(&e["mac"]),
                    s(&e["type"]),
                    age,
                ]);
            }
            format!(
                "{t}{} entr{}\n",
                t.len(),
                if t.len() == 1 { "y" } else { "ies" }
            )
        }
        "fdb.add" => format!(
            "static {} in VLAN {} on port {}\n",
            s(&r["mac"]),
            s(&r["vlan"]),
            s(&r["port"])
        ),
        "fdb.del" => format!("deleted {} in VLAN {}\n", s(&r["mac"]), s(&r["vlan"])),
        "fdb.flush" => format!(
            "flushed {} entr{}\n",
            s(&r["flushed"]),
            if r["flushed"] == 1 { "y" } else { "ies" }
        ),
        "stats.show" => stats_human(r),
        "stats.clear" => "counters cleared\n".into(),
        "config.show" => match serde_json::from_value::<ConfigFile>(r.clone()) {
            Ok(f) => config::to_toml(&f),
            Err(_) => pretty(r) + "\n",
        },
        "config.save" => format!("saved to {}\n", s(&r["path"])),
        _ => pretty(r) + "\n",
    }
}

fn stats_human(r: &Value) -> String {
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
    for (name, p) in r["ports"].as_object().into_iter().flatten() {
        let k = &p["kernel"];
        let kernel: u64 = ["rx_dropped", "rx_ring_full", "rx_fill_ring_empty_descs"]
            .iter()
            .map(|f| k[*f].as_u64().unwrap_or(0))
            .sum();
        t.row(vec![
            name.clone(),
            s(&p["rx_packets"]),
            s(&p["rx_bytes"]),
            s(&p["rx_dropped"]),
            s(&p["tx_packets"]),
            s(&p["tx_bytes"]),
            s(&p["tx_dropped"]),
            kernel.to_string(),
        ]);
    }
    let mut out = t.to_string();
    let nonzero = |section: &str| -> Vec<(String, u64)> {
        r[section]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| v.as_u64().filter(|n| *n > 0).map(|n| (k.clone(), n)))
            .collect()
    };
    let drops = nonzero("drops");
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
    for (k, n) in nonzero("events") {
        out += &format!("  {k:22} {n}\n");
    }
    let mut w = Table::new(&["WORKER", ">CPU", ">BUSY%", ">NS/PKT", ">PACKETS"]);
    for x in r["workers"].as_array().into_iter().flatten() {
        w.row(vec![
            s(&x["index"]),
            s(&x["cpu"]),
            format!("{:.1}", x["busy_pct"].as_f64().unwrap_or(0.0)),
            format!("{:.0}", x["ns_per_packet"].as_f64().unwrap_or(0.0)),
            s(&x["packets"]),
        ]);
    }
    out += "\n";
    out + &w.to_string()
}

/// `top`: samples `stats.show` every `interval` seconds and shows rates.
fn top(
    call: &mut dyn FnMut(&str, Value) -> Result<Value, String>,
    interval: f64,
    count: Option<u64>,
    batch: bool,
) -> Result<(), String> {
    if !(0.1..=3600.0).contains(&interval) {
        return Err("top: --interval must be between 0.1 and 3600 seconds".into());
    }
    let mut prev = call("stats.show", json!({}))?;
    let mut shown = 0u64;
    let raw = (!batch).then(RawTerminal::enter).flatten();
    loop {
        if wait_or_quit(interval, raw.is_some()) {
            break;
        }
        let cur = call("stats.show", json!({}))?;
        let dt = (cur["uptime_secs"].as_f64().unwrap_or(0.0)
            - prev["uptime_secs"].as_f64().unwrap_or(0.0))
        .max(1e-3);
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

fn top_screen(prev: &Value, cur: &Value, dt: f64) -> String {
    let delta = |a: &Value, b: &Value| {
        b.as_u64()
            .unwrap_or(0)
            .saturating_sub(a.as_u64().unwrap_or(0)) as f64
    };
    let mut out = format!(
        "vswitch top: up {}, interval {:.1}s (q quits)\n\n",
        duration(cur["uptime_secs"].as_f64().unwrap_or(0.0) as u64),
        dt
    );
    let mut w = Table::new(&["WORKER", ">CPU", ">BUSY%", ">NS/PKT", ">PKT/S"]);
    let pw = prev["workers"].as_array().cloned().unwrap_or_default();
    for (i, x) in cur["workers"].as_array().into_iter().flatten().enumerate() {
        let p = pw.get(i).cloned().unwrap_or(Value::Null);
        let busy = delta(&p["busy_ns"], &x["busy_ns"]);
        let total = delta(&p["total_ns"], &x["total_ns"]);
        let pkts = delta(&p["packets"], &x["packets"]);
        w.row(vec![
            s(&x["index"]),
            s(&x["cpu"]),
            format!(
                "{:.1}",
                if total > 0.0 {
                    100.0 * busy / total
                } else {
                    0.0
                }
            ),
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
    for (name, c) in cur["ports"].as_object().into_iter().flatten() {
        let p = &prev["ports"][name];
        let rate = |k: &str| delta(&p[k], &c[k]) / dt;
        let drops = rate("rx_dropped") + rate("tx_dropped");
        t.row(vec![
            name.clone(),
            format!("{:.0}", rate("rx_packets")),
            format!("{:.2}", rate("rx_bytes") * 8.0 / 1e6),
            format!("{:.0}", rate("tx_packets")),
            format!("{:.2}", rate("tx_bytes") * 8.0 / 1e6),
            format!("{:.0}", drops),
        ]);
    }
    out += &t.to_string();
    let mut reasons: Vec<(String, f64)> = cur["drops"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), delta(&prev["drops"][k], v) / dt))
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

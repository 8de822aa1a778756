//! A vswitchd process for a test: config and socket in a private
//! directory, output captured to a log, stopped (or killed) when dropped.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A running vswitchd.
#[derive(Debug)]
pub struct Daemon {
    child: Option<Child>,
    /// Its control socket.
    pub socket: PathBuf,
    /// Its config file.
    pub config: PathBuf,
    /// Its private directory.
    pub dir: PathBuf,
    log: PathBuf,
}

/// Writes `toml` (with `@SOCKET@` replaced by a private socket path) into
/// a private directory for test `name`; returns (dir, config path, socket).
pub fn write_config(name: &str, toml: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = PathBuf::from(format!("/tmp/vswitch-test-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("test dir");
    let socket = dir.join("vswitchd.sock");
    let config = dir.join("vswitchd.toml");
    std::fs::write(
        &config,
        toml.replace("@SOCKET@", &socket.display().to_string()),
    )
    .expect("write config");
    (dir, config, socket)
}

impl Daemon {
    /// Starts vswitchd for test `name` with `toml` and waits until its
    /// control socket answers. Panics (with the daemon's log) if it exits.
    pub fn start(name: &str, toml: &str) -> Daemon {
        let (dir, config, socket) = write_config(name, toml);
        Daemon::start_with(dir, config, socket)
    }

    /// Starts vswitchd on an existing config file.
    pub fn start_with(dir: PathBuf, config: PathBuf, socket: PathBuf) -> Daemon {
        let log = dir.join(format!("vswitchd.{}.log", std::process::id()));
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new(crate::bin("vswitchd"))
            .arg("--config")
            .arg(&config)
            .env("VSWITCH_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log fd"))
            .stderr(out)
            .spawn()
            .expect("spawn vswitchd");
        let mut d = Daemon {
            child: Some(child),
            socket,
            config,
            dir,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = d.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("vswitchd exited during start ({status}):\n{}", d.log());
            }
            if d.call("status", json!({})).is_ok() {
                return d;
            }
            assert!(
                Instant::now() < deadline,
                "vswitchd did not answer within 20 s:\n{}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The daemon's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `lines` lines of its output, colour codes removed, for
    /// failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = strip_ansi(&self.log());
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The file its output goes to.
    pub fn log_path(&self) -> &std::path::Path {
        &self.log
    }

    /// Its resident memory (VmRSS of /proc/PID/status) in KiB; None once
    /// it has exited.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    }

    /// Whether the process is still running (not exited, not reaped).
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// One JSON-RPC call over the socket: Ok(result) or Err((code, message)).
    pub fn call(&self, method: &str, params: Value) -> Result<Value, (i64, String)> {
        let mut s = UnixStream::connect(&self.socket).map_err(|e| (0, e.to_string()))?;
        s.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let req = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        writeln!(s, "{req}").map_err(|e| (0, e.to_string()))?;
        let mut line = String::new();
        BufReader::new(&s)
            .read_line(&mut line)
            .map_err(|e| (0, e.to_string()))?;
        let v: Value = serde_json::from_str(&line).map_err(|e| (0, format!("{e}: {line:?}")))?;
        match v.get("error") {
            Some(e) => Err((
                e["code"].as_i64().unwrap_or(0),
                e["message"].as_str().unwrap_or("").to_string(),
            )),
            None => Ok(v["result"].clone()),
        }
    }

    /// Runs vswitchctl against this daemon: (success, stdout, stderr).
    pub fn ctl(&self, args: &[&str]) -> (bool, String, String) {
        let sock = self.socket.display().to_string();
        let mut all = vec!["--socket", sock.as_str()];
        all.extend_from_slice(args);
        crate::sh(crate::bin("vswitchctl").to_str().expect("utf-8 path"), &all)
    }

    /// Runs `vswitchctl --json ARGS` and parses the result; panics on error.
    pub fn ctl_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let (ok, out, err) = self.ctl(&all);
        assert!(ok, "vswitchctl {}: {err}", args.join(" "));
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("vswitchctl {}: {e}: {out}", args.join(" ")))
    }

    /// SIGTERM, then waits for the exit status.
    pub fn stop(mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait(Duration::from_secs(20))
            .expect("vswitchd did not exit after SIGTERM")
    }

    /// SIGKILL, as a crash would.
    pub fn kill(mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.wait(Duration::from_secs(10));
    }

    fn signal(&self, sig: libc::c_int) {
        if let Some(c) = &self.child {
            // SAFETY: signalling our own child process.
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(c.id() as i32, sig)
            };
        }
    }

    fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return Some(st);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// CPU time (user + system) the daemon has used, in seconds.
    pub fn cpu_secs(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime
        // are the 14th and 15th fields overall.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0.0)
            + f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0.0);
        // SAFETY: sysconf has no preconditions.
        #[allow(unsafe_code)]
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        ticks / hz
    }
}

/// `s` without ANSI escape sequences (the log's colours).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters, then one final byte in @..~.
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.signal(libc::SIGTERM);
            let _ = self.wait(Duration::from_secs(10));
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// The non-zero counters of a `stats.show` object such as `drops` or
/// `events`, as `name=value` words (for failure messages).
pub fn nonzero_counters(counters: &Value) -> String {
    counters
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, v)| v.as_u64() != Some(0))
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

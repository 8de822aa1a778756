//! Control-socket floods: bursts of concurrent clients that send garbage,
//! over-long lines, unknown methods, bad params, half a request, batches,
//! runs of valid requests, or connect and idle. Each must get the answer
//! docs/api.md promises (or, past the server's client limit, a refusal),
//! and the daemon must keep answering the churn meanwhile.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// Most flood clients connected at once: below the daemon's limit of 64
/// (control/src/api/server.rs), so the churn's own calls still get in.
pub const MAX_INFLIGHT: usize = 40;

/// What the floods saw.
#[derive(Debug, Default)]
pub struct FloodStats {
    /// Clients started.
    pub clients: AtomicU64,
    /// Requests that got the expected answer.
    pub answered: AtomicU64,
    /// Connections refused as "too many clients".
    pub refused: AtomicU64,
    /// Wrong or missing answers.
    pub bad: AtomicU64,
    /// The first few of them.
    pub samples: Mutex<Vec<String>>,
    /// Clients connected now.
    pub inflight: AtomicUsize,
}

impl FloodStats {
    fn bad(&self, why: String) {
        self.bad.fetch_add(1, Ordering::Relaxed);
        let mut s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if s.len() < 5 {
            s.push(why);
        }
    }
}

/// Starts `n` clients (fewer if [`MAX_INFLIGHT`] would be passed), each
/// doing one thing picked from `seed`; returns at once.
pub fn burst(socket: &Path, seed: u64, n: usize, stats: &Arc<FloodStats>) {
    let mut rng = fastrand::Rng::with_seed(seed);
    for _ in 0..n {
        if stats.inflight.fetch_add(1, Ordering::AcqRel) >= MAX_INFLIGHT {
            stats.inflight.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        stats.clients.fetch_add(1, Ordering::Relaxed);
        let (socket, stats, kind, s) = (
            socket.to_path_buf(),
            Arc::clone(stats),
            rng.u8(0..9),
            rng.u64(..),
        );
        std::thread::spawn(move || {
            if let Err(why) = client(&socket, kind, s, &stats) {
                stats.bad(why);
            }
            stats.inflight.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

/// Sends `line` (no newline added) and reads one answer line.
fn ask(s: &mut UnixStream, line: &[u8]) -> Result<Value, String> {
    s.write_all(line).map_err(|e| format!("write: {e}"))?;
    let mut answer = String::new();
    BufReader::new(&*s)
        .read_line(&mut answer)
        .map_err(|e| format!("no answer: {e}"))?;
    serde_json::from_str(&answer).map_err(|e| format!("answer not JSON ({e}): {answer:?}"))
}

fn expect_code(v: &Value, codes: &[i64], what: &str) -> Result<(), String> {
    match v["error"]["code"].as_i64() {
        Some(c) if codes.contains(&c) => Ok(()),
        _ => Err(format!("{what}: expected error {codes:?}, got {v}")),
    }
}

fn client(socket: &PathBuf, kind: u8, seed: u64, stats: &FloodStats) -> Result<(), String> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut s = UnixStream::connect(socket).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.set_write_timeout(Some(Duration::from_secs(10))).ok();
    let req = |id: u64, method: &str, params: &str| {
        format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"{method}\",\"params\":{params}}}\n")
            .into_bytes()
    };
    let answered = || stats.answered.fetch_add(1, Ordering::Relaxed);
    let v = match kind {
        0 => {
            // Random bytes, never a newline inside.
            let mut junk: Vec<u8> = (0..rng.usize(1..512))
                .map(|_| rng.u8(..))
                .map(|b| if b == b'\n' { b'x' } else { b })
                .collect();
            if junk.iter().all(u8::is_ascii_whitespace) {
                junk.push(b'#');
            }
            junk.push(b'\n');
            let v = ask(&mut s, &junk)?;
            refused_or(stats, &v, || expect_code(&v, &[-32700, -32600], "garbage"))
        }
        1 => {
            let mut long = vec![b'x'; 70 * 1024];
            long.push(b'\n');
            let v = ask(&mut s, &long)?;
            refused_or(stats, &v, || expect_code(&v, &[-32600], "over-long line"))
        }
        2 => {
            let v = ask(&mut s, &req(7, "no.such", "{}"))?;
            refused_or(stats, &v, || expect_code(&v, &[-32601], "unknown method"))
        }
        3 => {
            let v = ask(&mut s, &req(8, "port.set", "{\"name\":5}"))?;
            refused_or(stats, &v, || expect_code(&v, &[-32602], "bad params"))
        }
        4 => {
            // Half a request, then the write side closes.
            s.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"meth")
                .map_err(|e| format!("write: {e}"))?;
            s.shutdown(std::net::Shutdown::Write).ok();
            let mut answer = String::new();
            s.read_to_string(&mut answer)
                .map_err(|e| format!("half request: {e}"))?;
            let v: Value = serde_json::from_str(answer.trim())
                .map_err(|e| format!("half request: answer {answer:?}: {e}"))?;
            refused_or(stats, &v, || expect_code(&v, &[-32700], "half request"))
        }
        5 => {
            let v = ask(
                &mut s,
                b"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"}]\n",
            )?;
            refused_or(stats, &v, || expect_code(&v, &[-32600], "batch"))
        }
        6 => {
            // A run of valid requests on one connection.
            for id in 0..rng.u64(5..30) {
                let m = ["status", "stats.show", "port.list", "fdb.show"][rng.usize(0..4)];
                let v = ask(&mut s, &req(id, m, "{}"))?;
                if refused(stats, &v) {
                    return Ok(());
                }
                if v["id"] != id || v.get("result").is_none() {
                    return Err(format!("{m}: {v}"));
                }
                answered();
            }
            Ok(())
        }
        7 => {
            // Connects and idles, then asks.
            std::thread::sleep(Duration::from_millis(rng.u64(500..4000)));
            let v = ask(&mut s, &req(9, "status", "{}"))?;
            refused_or(stats, &v, || {
                v.get("result")
                    .map(|_| ())
                    .ok_or(format!("status after idling: {v}"))
            })
        }
        _ => {
            // Connects, idles, leaves without a word.
            std::thread::sleep(Duration::from_millis(rng.u64(500..4000)));
            return Ok(());
        }
    };
    if kind != 6 {
        v?;
        answered();
    }
    Ok(())
}

fn refused(stats: &FloodStats, v: &Value) -> bool {
    let r = v["error"]["code"] == -32003
        && v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("too many"));
    if r {
        stats.refused.fetch_add(1, Ordering::Relaxed);
    }
    r
}

fn refused_or(
    stats: &FloodStats,
    v: &Value,
    check: impl FnOnce() -> Result<(), String>,
) -> Result<(), String> {
    if refused(stats, v) {
        Ok(())
    } else {
        check()
    }
}

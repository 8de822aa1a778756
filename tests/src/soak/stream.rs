//! A paced TCP stream between two stable hosts for the whole soak, every
//! byte checked against the stream it was generated from
//! ([`crate::transfer::Verifier`]). Paced, so it does not take the CPU the
//! rest of the soak needs; TCP itself retransmits what a UMEM rebuild
//! drops, so any missing, repeated or altered byte is the switch's fault.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::traffic::Control;
use crate::lab::Host;
use crate::netns;
use crate::transfer::{Stream, Verifier};

/// No byte arriving for this long while bytes are outstanding is a stall.
const STALL: Duration = Duration::from_secs(15);
const SEED: u64 = 0x50a6;

/// The running stream.
#[derive(Debug)]
pub struct TcpFlow {
    sender: JoinHandle<Result<u64, String>>,
    receiver: JoinHandle<Result<u64, String>>,
}

/// Starts a stream of `rate` bytes a second from `from` to `to`, port
/// 5301, until `ctl.tx_stop`; holds while `ctl.paused`.
pub fn start(from: &Host, to: &Host, rate: u64, ctl: Arc<Control>) -> Result<TcpFlow, String> {
    let addr: SocketAddr = format!("{}:5301", to.ip).parse().expect("address");
    let listener = netns::run_in(&to.ns, move || TcpListener::bind(addr))
        .map_err(|e| format!("listen in {}: {e}", to.ns))?;
    let written = Arc::new(AtomicU64::new(0));
    let w = Arc::clone(&written);
    let receiver = std::thread::spawn(move || receive(listener, &w));
    let conn = netns::run_in(&from.ns, move || {
        TcpStream::connect_timeout(&addr, Duration::from_secs(10))
    })
    .map_err(|e| format!("connect to {addr}: {e}"))?;
    let sender = std::thread::spawn(move || send(conn, rate, &ctl, &written));
    Ok(TcpFlow { sender, receiver })
}

impl TcpFlow {
    /// Waits for both ends (call after `tx_stop`): bytes checked, or what
    /// went wrong.
    pub fn finish(self) -> Result<u64, String> {
        let sent = self.sender.join().map_err(|_| "sender panicked")??;
        let got = self.receiver.join().map_err(|_| "receiver panicked")??;
        if got != sent {
            return Err(format!("sent {sent} bytes, {got} arrived"));
        }
        Ok(got)
    }
}

fn send(mut s: TcpStream, rate: u64, ctl: &Control, written: &AtomicU64) -> Result<u64, String> {
    s.set_write_timeout(Some(STALL)).ok();
    let mut stream = Stream::new(SEED);
    let mut buf = vec![0u8; 16 * 1024];
    let gap = Duration::from_secs_f64(buf.len() as f64 / rate as f64);
    let mut next = Instant::now();
    let mut total = 0u64;
    while !ctl.tx_stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if ctl.paused.load(Ordering::Relaxed) || next > now {
            std::thread::sleep(Duration::from_millis(5));
            if ctl.paused.load(Ordering::Relaxed) {
                next = Instant::now();
            }
            continue;
        }
        next += gap;
        stream.fill(&mut buf);
        s.write_all(&buf)
            .map_err(|e| format!("write after {total} bytes: {e}"))?;
        total += buf.len() as u64;
        written.store(total, Ordering::Release);
    }
    s.shutdown(Shutdown::Write)
        .map_err(|e| format!("shutdown: {e}"))?;
    Ok(total)
}

fn receive(listener: TcpListener, written: &AtomicU64) -> Result<u64, String> {
    let (mut s, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(1))).ok();
    let mut v = Verifier::new(SEED);
    let mut buf = vec![0u8; 64 * 1024];
    let mut last = Instant::now();
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(v.offset),
            Ok(n) => {
                v.check(&buf[..n])?;
                last = Instant::now();
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if written.load(Ordering::Acquire) <= v.offset {
                    last = Instant::now();
                } else if last.elapsed() > STALL {
                    return Err(format!(
                        "stalled at byte {} for {} s with bytes outstanding",
                        v.offset,
                        STALL.as_secs()
                    ));
                }
            }
            Err(e) => return Err(format!("read at byte {}: {e}", v.offset)),
        }
    }
}

//! Moving data between namespace hosts and checking every byte: a TCP
//! stream of deterministic pseudo-random bytes, and UDP datagrams echoed
//! back, both over std::net sockets opened inside the namespaces
//! ([`crate::netns::run_in`]). No iperf3 or other tool: the bytes that
//! arrive are compared with the bytes that were sent, and a stall fails
//! within a bounded time instead of hanging the test.
//!
//! Every function returns `Err(what went wrong)` rather than panicking, so
//! a test can add the switch's counters and log to the message.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::netns;

/// How long connecting, or one read or write, may wait before the
/// transfer counts as stalled.
pub const STALL: Duration = Duration::from_secs(10);

/// Bytes generated at a time; both ends generate in the same steps, so the
/// stream does not depend on how the kernel splits reads and writes.
const CHUNK: usize = 64 * 1024;

/// A deterministic pseudo-random byte stream (xorshift64*, little-endian
/// words): cheap enough to generate at both ends of a 100 MB transfer in a
/// debug build, and any lost, repeated, reordered or altered segment shows
/// up as a mismatch at a known offset.
#[derive(Debug, Clone)]
pub struct Stream {
    state: u64,
}

impl Stream {
    /// The stream for `seed` (any value; 0 is remapped, xorshift needs a
    /// non-zero state).
    pub fn new(seed: u64) -> Stream {
        Stream {
            state: (seed ^ 0x9e37_79b9_7f4a_7c15) | 1,
        }
    }

    /// Fills `buf` with the stream's next bytes (a whole number of 8-byte
    /// words is consumed; a tail shorter than 8 takes a word's first bytes).
    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut words = buf.chunks_exact_mut(8);
        for w in &mut words {
            w.copy_from_slice(&self.next_word().to_le_bytes());
        }
        let tail = words.into_remainder();
        if !tail.is_empty() {
            let n = tail.len();
            tail.copy_from_slice(&self.next_word().to_le_bytes()[..n]);
        }
    }

    fn next_word(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Checks received bytes against a [`Stream`], in whatever pieces they
/// come.
#[derive(Debug)]
pub struct Verifier {
    stream: Stream,
    expected: Vec<u8>,
    at: usize,
    /// Bytes checked so far (all of them equal to the stream).
    pub offset: u64,
}

impl Verifier {
    /// A verifier for the stream of `seed`.
    pub fn new(seed: u64) -> Verifier {
        Verifier {
            stream: Stream::new(seed),
            expected: vec![0; CHUNK],
            at: CHUNK,
            offset: 0,
        }
    }

    /// Compares the next bytes; Err names the first offset that differs.
    pub fn check(&mut self, mut got: &[u8]) -> Result<(), String> {
        while !got.is_empty() {
            if self.at == CHUNK {
                self.stream.fill(&mut self.expected);
                self.at = 0;
            }
            let n = got.len().min(CHUNK - self.at);
            let want = &self.expected[self.at..self.at + n];
            if got[..n] != *want {
                let i = got[..n]
                    .iter()
                    .zip(want)
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                let end = (i + 16).min(n);
                return Err(format!(
                    "stream differs at byte {}: got {:02x?}, expected {:02x?}",
                    self.offset + i as u64,
                    &got[i..end],
                    &want[i..end]
                ));
            }
            self.at += n;
            self.offset += n as u64;
            got = &got[n..];
        }
        Ok(())
    }
}

/// What a completed transfer measured.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    /// Bytes moved and verified.
    pub bytes: u64,
    /// Seconds from connected to the receiver's end of stream.
    pub secs: f64,
}

impl Report {
    /// Throughput in Gbit/s.
    pub fn gbit_s(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.secs.max(1e-9) / 1e9
    }
}

/// Moves `bytes` of the stream of `seed` over TCP from namespace `from_ns`
/// to a listener on `to_ip:port` in namespace `to_ns`, and checks every
/// byte at the receiver. Fails if connecting or any read or write stalls
/// for [`STALL`], or if the whole transfer takes longer than `limit`.
pub fn tcp(
    from_ns: &str,
    to_ns: &str,
    to_ip: &str,
    port: u16,
    bytes: u64,
    seed: u64,
    limit: Duration,
) -> Result<Report, String> {
    let start = Instant::now();
    let deadline = start + limit;
    let bind: SocketAddr = format!("{to_ip}:{port}")
        .parse()
        .map_err(|e| format!("address {to_ip}:{port}: {e}"))?;
    let listener = netns::run_in(to_ns, move || TcpListener::bind(bind))
        .map_err(|e| format!("listen on {bind} in {to_ns}: {e}"))?;
    // Non-blocking accept, polled: a connection that never comes (TCP
    // whose SYN or SYN-ACK the switch corrupts) must not block the thread.
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("listener: {e}"))?;
    let (done_tx, done_rx) = mpsc::channel();
    let receiver = std::thread::spawn(move || {
        let r = receive(&listener, bytes, seed, deadline);
        let _ = done_tx.send(());
        r
    });
    let from = from_ns.to_string();
    let conn = netns::run_in(from_ns, move || TcpStream::connect_timeout(&bind, STALL));
    let sent = match conn {
        Ok(s) => send(s, bytes, seed, deadline).map_err(|e| format!("sender in {from}: {e}")),
        Err(e) => Err(format!(
            "connect from {from} to {bind}: {e} (the handshake did not cross)"
        )),
    };
    // The receiver ends by itself (deadline, stall or end of stream); wait
    // for it a little past the deadline at most.
    let left = deadline.saturating_duration_since(Instant::now()) + STALL;
    let received = match done_rx.recv_timeout(left) {
        Ok(()) => receiver
            .join()
            .unwrap_or_else(|_| Err("receiver thread panicked".into())),
        Err(_) => Err("receiver did not finish".into()),
    };
    match (sent, received) {
        (Ok(()), Ok(r)) => Ok(r),
        (Ok(()), Err(r)) => Err(format!("receiver in {to_ns}: {r}")),
        (Err(s), Ok(r)) => Err(format!("{s} (receiver got {} bytes)", r.bytes)),
        (Err(s), Err(r)) => Err(format!("{s}; receiver in {to_ns}: {r}")),
    }
}

fn receive(
    listener: &TcpListener,
    bytes: u64,
    seed: u64,
    deadline: Instant,
) -> Result<Report, String> {
    let accept_by = (Instant::now() + STALL + Duration::from_secs(1)).min(deadline);
    let mut s = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if Instant::now() >= accept_by {
                    return Err("no connection arrived".into());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    };
    let t0 = Instant::now();
    s.set_nonblocking(false).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(STALL)).map_err(|e| e.to_string())?;
    let mut v = Verifier::new(seed);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match s.read(&mut buf) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!(
                    "stalled: nothing for {STALL:?} after {} of {bytes} bytes",
                    v.offset
                ))
            }
            Err(e) => return Err(format!("read after {} of {bytes} bytes: {e}", v.offset)),
        };
        if n == 0 {
            break;
        }
        v.check(&buf[..n])?;
        if v.offset > bytes {
            return Err(format!("more bytes than sent: {} > {bytes}", v.offset));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "too slow: {} of {bytes} bytes by the deadline",
                v.offset
            ));
        }
    }
    if v.offset != bytes {
        return Err(format!("end of stream after {} of {bytes} bytes", v.offset));
    }
    Ok(Report {
        bytes,
        secs: t0.elapsed().as_secs_f64(),
    })
}

fn send(mut s: TcpStream, bytes: u64, seed: u64, deadline: Instant) -> Result<(), String> {
    s.set_write_timeout(Some(STALL))
        .map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(STALL)).map_err(|e| e.to_string())?;
    let mut stream = Stream::new(seed);
    let mut buf = vec![0u8; CHUNK];
    let mut sent = 0u64;
    while sent < bytes {
        stream.fill(&mut buf);
        let n = (bytes - sent).min(CHUNK as u64) as usize;
        s.write_all(&buf[..n]).map_err(|e| {
            format!("write after {sent} of {bytes} bytes: {e} (stalled for {STALL:?}?)")
        })?;
        sent += n as u64;
        if Instant::now() > deadline {
            return Err(format!("too slow: {sent} of {bytes} bytes by the deadline"));
        }
    }
    s.shutdown(Shutdown::Write).map_err(|e| e.to_string())?;
    // The receiver closes after reading everything: wait for that, so the
    // transfer is over when this returns.
    let mut rest = [0u8; 16];
    match s.read(&mut rest) {
        Ok(0) => Ok(()),
        Ok(_) => Err("the receiver sent data".into()),
        Err(e) => Err(format!("waiting for the receiver to close: {e}")),
    }
}

/// What a UDP exchange saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct UdpReport {
    /// Datagrams echoed back intact.
    pub echoed: usize,
    /// Datagrams sent again because neither it nor its echo came back in
    /// time.
    pub resent: usize,
}

/// The content of UDP datagram `i` of `size` bytes: its number, then the
/// stream of `seed ^ i`.
pub fn datagram(seed: u64, i: u64, size: usize) -> Vec<u8> {
    let mut d = vec![0u8; size.max(8)];
    d[..8].copy_from_slice(&i.to_be_bytes());
    Stream::new(seed ^ i).fill(&mut d[8..]);
    d.truncate(size);
    d
}

/// Sends one UDP datagram of each of `sizes` (at least 8 bytes each) from
/// namespace `from_ns` to an echo socket on `to_ip:port` in namespace
/// `to_ns`, one at a time. The echo side checks each datagram's content
/// and sends it back; the sender checks the echo. A datagram whose echo
/// does not come back within a second is sent again, at most twice: the
/// exchange fails if one never makes it, or if any content differs.
pub fn udp_echo(
    from_ns: &str,
    to_ns: &str,
    to_ip: &str,
    port: u16,
    sizes: &[usize],
    seed: u64,
) -> Result<UdpReport, String> {
    let addr: SocketAddr = format!("{to_ip}:{port}")
        .parse()
        .map_err(|e| format!("address {to_ip}:{port}: {e}"))?;
    let server = netns::run_in(to_ns, move || UdpSocket::bind(addr))
        .map_err(|e| format!("bind {addr} in {to_ns}: {e}"))?;
    let client = netns::run_in(from_ns, || UdpSocket::bind("0.0.0.0:0"))
        .map_err(|e| format!("bind in {from_ns}: {e}"))?;
    server
        .set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    client
        .set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(|e| e.to_string())?;
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let sizes_at_server = sizes.to_vec();
    let echo = std::thread::spawn(move || -> Result<usize, String> {
        let mut buf = vec![0u8; 65536];
        let mut seen = 0;
        while stop_rx.try_recv().is_err() {
            let (n, peer) = match server.recv_from(&mut buf) {
                Ok(x) => x,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    continue
                }
                Err(e) => return Err(format!("echo recv: {e}")),
            };
            let got = &buf[..n];
            let i = number(got);
            let size = sizes_at_server.get(i as usize).copied();
            if n < 8 || size != Some(n) || got != datagram(seed, i, n).as_slice() {
                return Err(format!(
                    "echo side: datagram {i} of {n} bytes (expected {size:?} bytes) differs from what was sent"
                ));
            }
            server
                .send_to(got, peer)
                .map_err(|e| format!("echo send: {e}"))?;
            seen += 1;
        }
        Ok(seen)
    });
    let result = udp_client(&client, addr, sizes, seed);
    let _ = stop_tx.send(());
    let echoed = echo
        .join()
        .unwrap_or_else(|_| Err("echo thread panicked".into()));
    match (result, echoed) {
        (Ok(r), Ok(_)) => Ok(r),
        (Ok(_), Err(e)) => Err(e),
        (Err(e), Ok(_)) => Err(e),
        (Err(e), Err(s)) => Err(format!("{e}; {s}")),
    }
}

/// The sending side of [`udp_echo`]: each datagram in turn, resent until
/// its intact echo returns (three tries).
fn udp_client(
    client: &UdpSocket,
    addr: SocketAddr,
    sizes: &[usize],
    seed: u64,
) -> Result<UdpReport, String> {
    let mut report = UdpReport::default();
    let mut buf = vec![0u8; 65536];
    for (i, &size) in sizes.iter().enumerate() {
        let d = datagram(seed, i as u64, size);
        let mut tries = 0;
        'resend: loop {
            tries += 1;
            client
                .send_to(&d, addr)
                .map_err(|e| format!("send datagram {i} ({size} bytes): {e}"))?;
            loop {
                match client.recv_from(&mut buf) {
                    Ok((n, _)) if buf[..n] == d[..] => break 'resend,
                    // A late echo of an earlier datagram that was sent twice.
                    Ok((n, _)) if n >= 8 && number(&buf[..n]) < i as u64 => {}
                    Ok((n, _)) => {
                        return Err(format!(
                            "echo of datagram {i} ({size} bytes) differs: got {n} bytes"
                        ))
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        if tries == 3 {
                            return Err(format!(
                                "datagram {i} ({size} bytes): no echo after 3 tries \
                                 ({} of {} echoed before it)",
                                report.echoed,
                                sizes.len()
                            ));
                        }
                        report.resent += 1;
                        continue 'resend;
                    }
                    Err(e) => return Err(format!("recv echo of datagram {i}: {e}")),
                }
            }
        }
        report.echoed += 1;
    }
    Ok(report)
}

/// The number [`datagram`] put first (0 if the datagram is too short).
fn number(d: &[u8]) -> u64 {
    d.get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_accepts_the_stream_in_any_pieces() {
        // CHUNK is a whole number of words, so one long fill is the same
        // bytes as the verifier's fills of CHUNK each.
        let mut all = vec![0u8; 4 * CHUNK];
        Stream::new(7).fill(&mut all);
        all.truncate(3 * CHUNK + 5);
        let mut v = Verifier::new(7);
        for piece in all.chunks(1000) {
            v.check(piece).unwrap();
        }
        assert_eq!(v.offset, all.len() as u64);
    }

    #[test]
    fn verifier_names_the_first_bad_byte() {
        let mut all = vec![0u8; 2 * CHUNK];
        Stream::new(1).fill(&mut all);
        all[CHUNK + 3] ^= 0x40;
        let mut v = Verifier::new(1);
        let e = v.check(&all).unwrap_err();
        assert!(e.contains(&format!("at byte {}", CHUNK + 3)), "{e}");
    }

    #[test]
    fn a_missing_segment_is_caught() {
        let mut all = vec![0u8; 2 * CHUNK];
        Stream::new(2).fill(&mut all);
        all.drain(1000..2448);
        assert!(Verifier::new(2).check(&all).is_err());
    }

    #[test]
    fn datagrams_differ_by_number() {
        assert_ne!(datagram(5, 1, 100)[8..], datagram(5, 2, 100)[8..]);
        assert_eq!(datagram(5, 1, 4000).len(), 4000);
    }
}

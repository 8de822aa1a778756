//! One-way latency through a switch, for benches/e2e/run.sh (`latency`):
//!
//!   latency send DST_IP:PORT RATE SECS   paced UDP, each datagram stamped
//!   latency sink PORT SECS               kernel receive times, percentiles
//!
//! The sender writes its sequence number and CLOCK_REALTIME send time into
//! each datagram just before sending it, at RATE datagrams a second (a
//! timed wait with 1 ns timer slack while more than 100 µs early, a spin
//! after). The sink asks the kernel for each datagram's receive time
//! (SO_TIMESTAMPNS, the same clock, taken when the receiving veth hands the
//! frame to the stack), so its own scheduling (it shares a CPU with the
//! sender) adds nothing. It prints one line:
//! `received N sent_max S p50_us A p99_us B p999_us C max_us D lost L reordered R`
//! (lost: sequence numbers below the highest seen that never arrived;
//! reordered: datagrams that arrived after a higher sequence number).
//! With `LATENCY_CDF=FILE` set, the sink also writes the latency at every
//! percentile 0..=100 and at 99.9 and 99.99 to FILE, one `PCT US` a line.

use std::io::IoSliceMut;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags};

const LEN: usize = 24;

fn usage() -> ExitCode {
    eprintln!("usage: latency send DST_IP:PORT RATE SECS | latency sink PORT SECS");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let r = match args.get(1).map(String::as_str) {
        Some("send") if args.len() == 5 => send(&args[2], &args[3], &args[4]),
        Some("sink") if args.len() == 4 => sink(&args[2], &args[3]),
        _ => return usage(),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("latency: {e}");
            ExitCode::FAILURE
        }
    }
}

fn num<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("invalid {what} {s:?}"))
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Sends with a zero UDP checksum (SO_NO_CHECK; "no checksum" is valid UDP
/// over IPv4), so every datagram leaves complete while the host keeps its
/// default tx offloads: with a checksum left partial for the NIC, a switch
/// that forwards AF_XDP frames as they are (OVS, testpmd) would deliver
/// datagrams the receiver drops, and a comparison could not include them.
fn no_udp_checksum(sock: &UdpSocket) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket fd and a pointer to a live c_int of the
    // length given; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_NO_CHECK,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!("SO_NO_CHECK: {}", std::io::Error::last_os_error()))
    }
}

fn send(dst: &str, rate: &str, secs: &str) -> Result<(), String> {
    let rate: f64 = num(rate, "rate")?;
    let secs: f64 = num(secs, "seconds")?;
    if !(1.0..=10e6).contains(&rate) || !(0.1..=3600.0).contains(&secs) {
        return Err("rate 1-10e6, seconds 0.1-3600".into());
    }
    let _ = nix::sys::prctl::set_timerslack(1);
    let sock = UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
    no_udp_checksum(&sock)?;
    sock.connect(dst).map_err(|e| format!("{dst}: {e}"))?;
    let n = (rate * secs) as u64;
    let gap = 1e9 / rate;
    let start = Instant::now();
    let mut buf = [0u8; LEN];
    let mut sent = 0u64;
    for i in 0..n {
        let due = start + Duration::from_nanos((i as f64 * gap) as u64);
        loop {
            let now = Instant::now();
            if now >= due {
                break;
            }
            let left = due - now;
            if left > Duration::from_micros(100) {
                std::thread::sleep(left - Duration::from_micros(60));
            } else {
                std::hint::spin_loop();
            }
        }
        buf[..8].copy_from_slice(&i.to_ne_bytes());
        buf[8..16].copy_from_slice(&now_ns().to_ne_bytes());
        if sock.send(&buf).is_ok() {
            sent += 1;
        }
    }
    let took = start.elapsed().as_secs_f64();
    println!("sent {sent} secs {took:.3} rate {:.0}", sent as f64 / took);
    Ok(())
}

fn sink(port: &str, secs: &str) -> Result<(), String> {
    let port: u16 = num(port, "port")?;
    let secs: f64 = num(secs, "seconds")?;
    let sock = UdpSocket::bind(("0.0.0.0", port)).map_err(|e| e.to_string())?;
    setsockopt(&sock, sockopt::ReceiveTimestampns, &true).map_err(|e| e.to_string())?;
    setsockopt(&sock, sockopt::RcvBuf, &(8 << 20)).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut lat: Vec<u64> = Vec::with_capacity(1 << 20);
    let mut last_rx: Option<Instant> = None;
    let mut max_seq = 0u64;
    let mut reordered = 0u64;
    let mut buf = [0u8; 2048];
    let mut cmsg = nix::cmsg_space!(nix::sys::time::TimeSpec);
    loop {
        let now = Instant::now();
        // Done at the deadline, or a second after the flow stopped.
        if now >= deadline || last_rx.is_some_and(|t| now - t > Duration::from_secs(1)) {
            break;
        }
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        ) {
            Ok(m) => m,
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("recvmsg: {e}")),
        };
        let len = msg.bytes;
        let mut rx_ns = None;
        for c in msg.cmsgs().map_err(|e| e.to_string())? {
            if let ControlMessageOwned::ScmTimestampns(ts) = c {
                rx_ns = Some(ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64);
            }
        }
        last_rx = Some(Instant::now());
        if len < 16 {
            continue;
        }
        let seq = u64::from_ne_bytes(buf[..8].try_into().unwrap_or_default());
        let sent = u64::from_ne_bytes(buf[8..16].try_into().unwrap_or_default());
        if seq + 1 < max_seq {
            reordered += 1;
        }
        max_seq = max_seq.max(seq + 1);
        if let Some(rx) = rx_ns {
            lat.push(rx.saturating_sub(sent));
        }
    }
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return f64::NAN;
        }
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[i] as f64 / 1000.0
    };
    if let Ok(path) = std::env::var("LATENCY_CDF") {
        let mut out = String::new();
        let points = (0..=100)
            .map(|p| f64::from(p) / 100.0)
            .chain([0.999, 0.9999]);
        for p in points {
            out.push_str(&format!("{} {:.2}\n", p * 100.0, pct(p.max(1e-9))));
        }
        std::fs::write(&path, out).map_err(|e| format!("{path}: {e}"))?;
    }
    println!(
        "received {} sent_max {} p50_us {:.1} p99_us {:.1} p999_us {:.1} max_us {:.1} lost {} reordered {}",
        lat.len(),
        max_seq,
        pct(0.5),
        pct(0.99),
        pct(0.999),
        pct(1.0),
        max_seq.saturating_sub(lat.len() as u64),
        reordered
    );
    Ok(())
}

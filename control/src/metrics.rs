//! `[switch] metrics_listen`: the Prometheus text of `stats.show` over
//! HTTP (`GET /metrics`), for scrapers that cannot use the control
//! socket.
//!
//! A small HTTP/1.1 server on one thread of the control process, with
//! `std::net` alone: it answers one request per connection (then closes
//! it) with the text `stats.show --format prometheus` gives
//! (`crate::api::methods::prometheus_text`, rendered by
//! `crate::api::prometheus`). It holds the controller's mutex only while
//! the counters are read, never while a client is slow; a client gets
//! [`IO_TIMEOUT`] to send its request and take the answer. It never
//! touches a packet: workers keep running whatever it does.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::controller::Controller;

/// How long a client has to send its request, and to take the answer.
pub const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest request head read (request line and headers).
const MAX_HEAD: usize = 8192;
/// How often the accept loop looks at the stop flag.
const POLL: Duration = Duration::from_millis(50);

/// Parses `metrics_listen`: `host:port` with an IP address (`[::1]:9477`
/// for IPv6). Any address is accepted: one other than loopback is the
/// operator's explicit choice.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    s.parse::<SocketAddr>().map_err(|_| {
        format!("{s:?} is not an address:port such as \"127.0.0.1:9477\" or \"[::1]:9477\"")
    })
}

/// Starts the endpoint `switch.metrics_listen` asks for, if any. The
/// error names the key.
pub fn start_configured(
    controller: &Arc<Mutex<Controller>>,
) -> Result<Option<MetricsServer>, String> {
    let listen = controller
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .switch_settings()
        .metrics_listen
        .clone();
    let Some(listen) = listen else {
        return Ok(None);
    };
    let addr = parse_listen(&listen).map_err(|m| format!("switch.metrics_listen: {m}"))?;
    MetricsServer::start(addr, Arc::clone(controller))
        .map(Some)
        .map_err(|e| format!("switch.metrics_listen: cannot listen on {addr}: {e}"))
}

/// The running endpoint.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `addr` and serves `/metrics` from `controller` on a thread
    /// (`vswitch-metrics`).
    pub fn start(
        addr: SocketAddr,
        controller: Arc<Mutex<Controller>>,
    ) -> std::io::Result<MetricsServer> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("vswitch-metrics".into())
            .spawn(move || serve(listener, controller, flag))?;
        tracing::info!(%addr, "serving /metrics");
        Ok(MetricsServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and joins the thread.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(listener: TcpListener, controller: Arc<Mutex<Controller>>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(e) = answer(stream, &controller) {
                    tracing::debug!("metrics client: {e}");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(e) => {
                tracing::warn!("metrics accept: {e}");
                std::thread::sleep(POLL);
            }
        }
    }
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    Metrics,
    NotFound,
    BadMethod,
    Bad,
}

fn parse_request(head: &[u8]) -> Request {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (words.next(), words.next(), words.next())
    else {
        return Request::Bad;
    };
    if !version.starts_with("HTTP/1.") {
        return Request::Bad;
    }
    if method != "GET" {
        return Request::BadMethod;
    }
    // A query string (`?name[]=...`) is ignored, as simple exporters do.
    match target.split('?').next() {
        Some("/metrics") => Request::Metrics,
        _ => Request::NotFound,
    }
}

fn answer(mut stream: TcpStream, controller: &Mutex<Controller>) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_HEAD {
            return respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                b"request head too long\n",
            );
        }
    }
    match parse_request(&head) {
        Request::Metrics => {
            let text = {
                let c = controller.lock().unwrap_or_else(|e| e.into_inner());
                crate::api::methods::prometheus_text(&c)
            };
            respond(
                &mut stream,
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                text.as_bytes(),
            )
        }
        Request::NotFound => respond(
            &mut stream,
            "404 Not Found",
            "text/plain",
            b"only /metrics is served here\n",
        ),
        Request::BadMethod => respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            b"only GET\n",
        ),
        Request::Bad => respond(
            &mut stream,
            "400 Bad Request",
            "text/plain",
            b"bad request\n",
        ),
    }
}

fn respond(stream: &mut TcpStream, status: &str, kind: &str, body: &[u8]) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests() {
        assert_eq!(
            parse_request(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Request::Metrics
        );
        assert_eq!(
            parse_request(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Request::Metrics
        );
        assert_eq!(parse_request(b"GET / HTTP/1.1\r\n\r\n"), Request::NotFound);
        assert_eq!(
            parse_request(b"GET /metricsx HTTP/1.1\r\n\r\n"),
            Request::NotFound
        );
        assert_eq!(
            parse_request(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Request::BadMethod
        );
        assert_eq!(parse_request(b"garbage"), Request::Bad);
    }

    #[test]
    fn listen_addresses() {
        assert!(parse_listen("127.0.0.1:9477").is_ok());
        assert!(parse_listen("[::1]:9477").is_ok());
        assert!(parse_listen("0.0.0.0:9477").is_ok());
        assert!(parse_listen("localhost:9477").is_err());
        assert!(parse_listen("127.0.0.1").is_err());
    }
}

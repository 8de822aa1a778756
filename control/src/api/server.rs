//! The control socket: a Unix stream socket, mode 0660 (group
//! `switch.control_group` when set), peers checked with SO_PEERCRED (root
//! or a member of that group). One thread per client; requests are served
//! one at a time against the controller, so each is all-or-nothing.
//!
//! No client can lock others out: at most [`MAX_CLIENTS`] connections,
//! of which [`ROOT_RESERVED`] only root may take, at most
//! [`PER_UID`] per non-root uid, and a connection that sends nothing
//! for the idle timeout, or takes longer than the read timeout to finish
//! a request line it began, is closed ([`Timeouts`]).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::methods;
use super::rpc::{self, code, RpcError, MAX_LINE};
use crate::controller::Controller;

/// Clients served at once; more are told to come back later.
pub const MAX_CLIENTS: usize = 64;
/// Of [`MAX_CLIENTS`], the slots only root may take: the administrator
/// gets in however many connections group members hold.
pub const ROOT_RESERVED: usize = 4;
/// Connections one non-root uid may hold at once, so one member cannot
/// take every slot others could use.
pub const PER_UID: usize = 16;

/// How long a connection may stay quiet (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Closed when no request begins within this long. A streaming
    /// connection (one the daemon sends to without waiting for requests,
    /// see [`Activity`]) is never idle.
    pub idle: Duration,
    /// Closed when a request line that has begun is not complete within
    /// this long.
    pub read: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            idle: Duration::from_secs(crate::model::switch::DEFAULT_CONTROL_IDLE_SECS),
            read: Duration::from_secs(crate::model::switch::DEFAULT_CONTROL_READ_SECS),
        }
    }
}

/// What a connection is doing besides reading requests. A method that
/// streams (a future capture, say) marks its connection as streaming for
/// as long as it sends, so the idle timeout leaves it alone.
#[derive(Debug, Default)]
pub struct Activity {
    streaming: AtomicBool,
}

impl Activity {
    /// Marks the connection as streaming (`true`) or not.
    pub fn set_streaming(&self, on: bool) {
        self.streaming.store(on, Ordering::Relaxed);
    }

    /// Whether the connection streams.
    pub fn streaming(&self) -> bool {
        self.streaming.load(Ordering::Relaxed)
    }
}

/// Connections held, in all and per uid.
#[derive(Debug, Default)]
struct Slots {
    total: usize,
    per_uid: std::collections::HashMap<u32, usize>,
}

impl Slots {
    /// Takes a slot for `uid`, or says why not.
    fn take(&mut self, uid: u32) -> Result<(), String> {
        let root = uid == 0;
        if self.total >= MAX_CLIENTS {
            return Err("too many clients; try again".into());
        }
        if !root && self.total >= MAX_CLIENTS - ROOT_RESERVED {
            return Err(
                "too many clients (the remaining slots are kept for root); try again".into(),
            );
        }
        let mine = self.per_uid.entry(uid).or_default();
        if !root && *mine >= PER_UID {
            return Err(format!(
                "too many connections from uid {uid} (at most {PER_UID}); close one and try again"
            ));
        }
        *mine += 1;
        self.total += 1;
        Ok(())
    }

    fn give_back(&mut self, uid: u32) {
        self.total = self.total.saturating_sub(1);
        if let Some(n) = self.per_uid.get_mut(&uid) {
            *n -= 1;
            if *n == 0 {
                self.per_uid.remove(&uid);
            }
        }
    }
}

/// A running API server.
pub struct Server {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    path: PathBuf,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("path", &self.path).finish()
    }
}

/// Why the socket could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Another daemon answers on the path.
    #[error("another vswitchd is already listening on {0}")]
    InUse(PathBuf),
    /// Something other than a socket is at the path: it is left alone.
    #[error(
        "control socket {path}: the path exists and is {what}, not a socket; \
         refusing to remove it (set switch.control_socket to another path, \
         or remove it yourself)"
    )]
    NotASocket {
        /// The socket path.
        path: PathBuf,
        /// What is there.
        what: &'static str,
    },
    /// Filesystem or socket error.
    #[error("control socket {path}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Refuses a control socket path another daemon answers on. vswitchd
/// asks this before it opens any port, so a second daemon on the same
/// socket goes away without touching an interface; [`Server::start`]
/// checks again when it binds.
pub fn check_free(path: &Path) -> Result<(), ServeError> {
    if path.exists() && UnixStream::connect(path).is_ok() {
        return Err(ServeError::InUse(path.to_path_buf()));
    }
    Ok(())
}

impl Server {
    /// Binds `path` and starts accepting clients.
    pub fn start(
        path: &Path,
        group: Option<u32>,
        timeouts: Timeouts,
        controller: Arc<Mutex<Controller>>,
    ) -> Result<Server, ServeError> {
        let io = |source| ServeError::Io {
            path: path.to_path_buf(),
            source,
        };
        let listener = bind(path, group)?;
        listener.set_nonblocking(true).map_err(io)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("vswitch-api".into())
                .spawn(move || accept_loop(listener, group, timeouts, controller, stop))
                .map_err(io)?
        };
        tracing::info!(path = %path.display(), "control socket listening");
        Ok(Server {
            stop,
            thread: Some(thread),
            path: path.to_path_buf(),
        })
    }

    /// Stops accepting and removes the socket file.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // Only our socket: the path may have been replaced meanwhile.
        if is_socket(&self.path) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Whether `path` itself (not what a symlink there points to) is a socket.
fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

/// Binds the control socket at `path`, mode 0660, group `group`.
///
/// Only a socket is ever removed from the path (one left by a killed
/// daemon): anything else there (a file, a symlink) is refused, never
/// deleted. The mode comes from the umask in force at `bind`, and the
/// group is set through a descriptor opened without following symlinks
/// and checked to be a socket of ours, so nothing planted at the path
/// makes root change another file.
fn bind(path: &Path, group: Option<u32>) -> Result<UnixListener, ServeError> {
    use rustix::fs::{AtFlags, FileType, Mode, OFlags};
    let io = |source| ServeError::Io {
        path: path.to_path_buf(),
        source,
    };
    let os = |e: rustix::io::Errno| io(std::io::Error::from(e));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(_) if is_socket(path) => {
            if UnixStream::connect(path).is_ok() {
                return Err(ServeError::InUse(path.to_path_buf()));
            }
            // A socket file left by a killed daemon.
            std::fs::remove_file(path).map_err(io)?;
        }
        Ok(m) => {
            return Err(ServeError::NotASocket {
                path: path.to_path_buf(),
                what: describe(&m.file_type()),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    // 0660 from the start: no window in which the socket is more open,
    // and no chmod by path afterwards. The umask is the process's; the
    // daemon binds once, at start-up, before it creates other files.
    let old = rustix::process::umask(Mode::from_raw_mode(0o117));
    let bound = UnixListener::bind(path);
    rustix::process::umask(old);
    let listener = bound.map_err(io)?;
    let checked = || -> Result<(), ServeError> {
        let fd = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(os)?;
        let st = rustix::fs::fstat(&fd).map_err(os)?;
        if FileType::from_raw_mode(st.st_mode) != FileType::Socket
            || st.st_uid != rustix::process::geteuid().as_raw()
        {
            return Err(io(std::io::Error::other(
                "the path was replaced while the socket was being set up",
            )));
        }
        if let Some(gid) = group {
            rustix::fs::chownat(
                &fd,
                "",
                None,
                Some(rustix::fs::Gid::from_raw(gid)),
                AtFlags::EMPTY_PATH,
            )
            .map_err(os)?;
        }
        Ok(())
    };
    if let Err(e) = checked() {
        drop(listener);
        if is_socket(path) {
            let _ = std::fs::remove_file(path);
        }
        return Err(e);
    }
    Ok(listener)
}

fn describe(t: &std::fs::FileType) -> &'static str {
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a socket"
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept_loop(
    listener: UnixListener,
    group: Option<u32>,
    timeouts: Timeouts,
    controller: Arc<Mutex<Controller>>,
    stop: Arc<AtomicBool>,
) {
    // Counters only: a panic elsewhere leaves them usable, hence the
    // poison-tolerant locks.
    let slots = Arc::new(Mutex::new(Slots::default()));
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let (caller, uid) = match authorize(&stream, group) {
                    Ok(c) => c,
                    Err(why) => {
                        tracing::warn!("control socket: refused a client: {why}");
                        refuse(stream, &why);
                        continue;
                    }
                };
                let taken = slots.lock().unwrap_or_else(|e| e.into_inner()).take(uid);
                if let Err(why) = taken {
                    tracing::warn!(uid, "control socket: refused a client: {why}");
                    refuse(stream, &why);
                    continue;
                }
                let (controller, slots2) = (Arc::clone(&controller), Arc::clone(&slots));
                let spawned = std::thread::Builder::new()
                    .name("vswitch-client".into())
                    .spawn(move || {
                        serve(stream, &controller, caller, timeouts, &Activity::default());
                        slots2
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .give_back(uid);
                    });
                if spawned.is_err() {
                    tracing::warn!("control socket: cannot start a client thread");
                    slots
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .give_back(uid);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                // Accept polls: 20 wakeups a second cost nothing measurable.
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => {
                tracing::warn!(error = %e, "control socket accept failed");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn refuse(mut stream: UnixStream, why: &str) {
    let line = rpc::error_response(&Value::Null, &RpcError::new(code::FORBIDDEN, why));
    let _ = writeln!(stream, "{line}");
}

/// Root, or a process whose primary or supplementary group is `group`;
/// with the peer's uid.
fn authorize(stream: &UnixStream, group: Option<u32>) -> Result<(methods::Caller, u32), String> {
    let cred = peer_cred(stream).map_err(|e| format!("cannot read peer credentials: {e}"))?;
    if cred.uid == 0 {
        return Ok((methods::Caller { root: true }, 0));
    }
    if let Some(gid) = group {
        if cred.gid == gid || supplementary_groups(cred.pid).contains(&gid) {
            return Ok((methods::Caller { root: false }, cred.uid));
        }
    }
    Err(format!(
        "permission denied: uid {} is neither root nor in the control group",
        cred.uid
    ))
}

struct Cred {
    pid: i32,
    uid: u32,
    gid: u32,
}

#[allow(unsafe_code)]
fn peer_cred(stream: &UnixStream) -> std::io::Result<Cred> {
    use std::os::fd::AsRawFd;
    let mut c = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: valid fd and an out-buffer of the declared size.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            &mut c as *mut _ as *mut libc::c_void,
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Cred {
        pid: c.pid,
        uid: c.uid,
        gid: c.gid,
    })
}

fn supplementary_groups(pid: i32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Groups:")).map(|g| {
                g.split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// What reading one line produced.
enum Line {
    Complete(Vec<u8>),
    TooLong,
    Partial,
    Eof,
    /// Nothing began within the idle timeout.
    Idle,
    /// A line began but did not end within the read timeout.
    Slow,
}

/// How often a blocked read wakes up to check its deadlines.
const READ_TICK: Duration = Duration::from_millis(200);

/// Reads up to a newline without ever buffering more than MAX_LINE bytes;
/// an over-long line is consumed up to its newline and reported. `r`'s
/// reads must time out (every [`READ_TICK`]) for the deadlines to be
/// kept: a line must begin within `t.idle` (unless `activity` streams)
/// and end within `t.read` of its first byte.
fn read_line(r: &mut impl BufRead, t: Timeouts, activity: &Activity) -> std::io::Result<Line> {
    let mut line = Vec::new();
    let mut too_long = false;
    let mut began: Option<std::time::Instant> = None;
    let waiting = std::time::Instant::now();
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                match began {
                    Some(b) if b.elapsed() >= t.read => return Ok(Line::Slow),
                    None if waiting.elapsed() >= t.idle && !activity.streaming() => {
                        return Ok(Line::Idle)
                    }
                    _ => continue,
                }
            }
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(match (too_long, line.is_empty()) {
                (true, _) => Line::TooLong,
                (false, true) => Line::Eof,
                (false, false) => Line::Partial,
            });
        }
        began.get_or_insert_with(std::time::Instant::now);
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if !too_long {
            if line.len() + chunk.len() > MAX_LINE {
                too_long = true;
                line.clear();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        let used = done.unwrap_or(buf.len());
        r.consume(used);
        if done.is_some() {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Complete(line)
            });
        }
    }
}

fn serve(
    stream: UnixStream,
    controller: &Mutex<Controller>,
    caller: methods::Caller,
    timeouts: Timeouts,
    activity: &Activity,
) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    // Wake-ups to check the deadlines in read_line; a writer that the
    // client does not read from gives up after the read timeout too.
    if stream.set_read_timeout(Some(READ_TICK)).is_err()
        || writer.set_write_timeout(Some(timeouts.read)).is_err()
    {
        return;
    }
    let mut reader = BufReader::new(stream);
    loop {
        let answer = match read_line(&mut reader, timeouts, activity) {
            Ok(Line::Eof) | Err(_) => return,
            Ok(Line::Idle) => {
                let a = rpc::error_response(
                    &Value::Null,
                    &RpcError::new(
                        code::INVALID_REQUEST,
                        format!(
                            "idle for {} s: closing the connection",
                            timeouts.idle.as_secs()
                        ),
                    ),
                );
                let _ = writeln!(writer, "{a}");
                return;
            }
            Ok(Line::Slow) => {
                let a = rpc::error_response(
                    &Value::Null,
                    &RpcError::new(
                        code::INVALID_REQUEST,
                        format!(
                            "request line not finished within {} s: closing the connection",
                            timeouts.read.as_secs()
                        ),
                    ),
                );
                let _ = writeln!(writer, "{a}");
                return;
            }
            Ok(Line::Complete(l)) if l.iter().all(u8::is_ascii_whitespace) => rpc::error_response(
                &Value::Null,
                &RpcError::new(code::PARSE_ERROR, "parse error: empty line"),
            ),
            Ok(Line::Complete(l)) => match super::capture::request(&l) {
                // Streams on this connection until it ends (capture.rs).
                Some(req) => {
                    if super::capture::serve(req, &mut reader, &mut writer, controller) {
                        continue;
                    }
                    return;
                }
                None => handle(&l, controller, caller),
            },
            Ok(Line::TooLong) => rpc::error_response(
                &Value::Null,
                &RpcError::new(
                    code::INVALID_REQUEST,
                    format!("request line longer than {MAX_LINE} bytes"),
                ),
            ),
            Ok(Line::Partial) => {
                let a = rpc::error_response(
                    &Value::Null,
                    &RpcError::new(
                        code::PARSE_ERROR,
                        "incomplete request: the connection closed before a newline",
                    ),
                );
                let _ = writeln!(writer, "{a}");
                return;
            }
        };
        if writeln!(writer, "{answer}").is_err() {
            return;
        }
    }
}

/// Answers one request line from `caller`.
pub fn handle(line: &[u8], controller: &Mutex<Controller>, caller: methods::Caller) -> String {
    let req = match rpc::parse_request(line) {
        Ok(r) => r,
        Err((id, e)) => return rpc::error_response(&id, &e),
    };
    // A panic in a method must not take the daemon down, and the
    // controller's state stays consistent because methods validate before
    // they change anything.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut c = controller.lock().unwrap_or_else(|e| e.into_inner());
        methods::call(&mut c, caller, &req.method, req.params.clone())
    }));
    match result {
        Ok(Ok(v)) => rpc::response(&req.id, &v),
        Ok(Err(e)) => rpc::error_response(&req.id, &e),
        Err(_) => rpc::error_response(
            &req.id,
            &RpcError::failed("internal error while handling the request (logged)"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_stale_socket_is_ever_removed() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("s.sock");
        // A regular file: refused, left as it was.
        std::fs::write(&sock, "precious").unwrap();
        let e = bind(&sock, None).unwrap_err();
        assert!(
            matches!(e, ServeError::NotASocket { .. }) && e.to_string().contains("regular file"),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(&sock).unwrap(), "precious");
        // A symlink (to a file, or to a stale socket): refused, both kept.
        std::fs::remove_file(&sock).unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "precious").unwrap();
        std::os::unix::fs::symlink(&target, &sock).unwrap();
        let e = bind(&sock, None).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
        assert!(std::fs::symlink_metadata(&sock).unwrap().is_symlink());
        // A stale socket is replaced; the new one is 0660, in the group.
        std::fs::remove_file(&sock).unwrap();
        drop(UnixListener::bind(&sock).unwrap());
        let l = bind(&sock, Some(65534)).unwrap();
        let m = std::fs::symlink_metadata(&sock).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o660);
        assert_eq!(m.gid(), 65534);
        // One that answers is in use.
        assert!(matches!(bind(&sock, None), Err(ServeError::InUse(_))));
        drop(l);
    }

    fn read_line(r: &mut impl BufRead) -> std::io::Result<Line> {
        super::read_line(r, Timeouts::default(), &Activity::default())
    }

    #[test]
    fn members_cannot_take_roots_slots_or_each_others() {
        let mut s = Slots::default();
        // One member: up to PER_UID.
        for _ in 0..PER_UID {
            s.take(1000).unwrap();
        }
        assert!(s.take(1000).unwrap_err().contains("uid 1000"));
        // Members together: all but the reserved slots.
        let mut uid = 2000;
        while s.total < MAX_CLIENTS - ROOT_RESERVED {
            if s.take(uid).is_err() {
                uid += 1;
            }
        }
        assert!(s.take(uid + 1).unwrap_err().contains("kept for root"));
        // Root gets the reserved ones, then no more.
        for _ in 0..ROOT_RESERVED {
            s.take(0).unwrap();
        }
        assert!(s.take(0).is_err());
        // A slot given back is usable again.
        s.give_back(1000);
        s.give_back(0);
        s.take(0).unwrap();
        assert!(s.per_uid[&1000] == PER_UID - 1);
    }

    #[test]
    fn quiet_and_slow_connections_time_out() {
        let t = Timeouts {
            idle: Duration::from_millis(300),
            read: Duration::from_millis(300),
        };
        let (a, mut b) = UnixStream::pair().unwrap();
        a.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let mut r = BufReader::new(a);
        let quiet = Activity::default();
        let start = std::time::Instant::now();
        assert!(matches!(
            super::read_line(&mut r, t, &quiet).unwrap(),
            Line::Idle
        ));
        assert!(start.elapsed() >= t.idle);
        // A line begun but never finished.
        b.write_all(b"{\"jsonrpc\"").unwrap();
        assert!(matches!(
            super::read_line(&mut r, t, &quiet).unwrap(),
            Line::Slow
        ));
        // A streaming connection is not idle: it reads on until a request.
        let streaming = Activity::default();
        streaming.set_streaming(true);
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(600));
            b.write_all(b"{}\n").unwrap();
            b
        });
        let mut r2 = BufReader::new(r.into_inner());
        let got = super::read_line(&mut r2, t, &streaming).unwrap();
        assert!(matches!(got, Line::Complete(l) if l == b"{}"));
        drop(writer.join().unwrap());
    }

    #[test]
    fn lines_are_bounded() {
        let mut input: &[u8] = b"{\"a\":1}\nabc";
        assert!(matches!(read_line(&mut input).unwrap(), Line::Complete(l) if l == b"{\"a\":1}"));
        assert!(matches!(read_line(&mut input).unwrap(), Line::Partial));
        let big = vec![b'x'; MAX_LINE + 10];
        let mut data = big.clone();
        data.extend_from_slice(b"\n{}\n");
        let mut r = BufReader::with_capacity(1024, &data[..]);
        assert!(matches!(read_line(&mut r).unwrap(), Line::TooLong));
        assert!(matches!(read_line(&mut r).unwrap(), Line::Complete(l) if l == b"{}"));
        assert!(matches!(read_line(&mut r).unwrap(), Line::Eof));
    }
}

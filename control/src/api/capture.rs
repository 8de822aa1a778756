//! The `capture` method: frames recorded at a point of the pipeline
//! (`input`, `output`, `drop`; see `dataplane/engine/src/capture.rs`),
//! streamed to the client that asked.
//!
//! The request is answered with the capture's id; then the connection
//! carries `capture.frame` notifications (one per frame, its bytes in
//! base64) and finally one `capture.end` (frames sent, frames lost), after
//! which the daemon closes it. The capture ends when `count` frames were
//! sent, `duration` seconds passed, or the client closes its side of the
//! connection (half-close to get `capture.end`, or go away). The daemon
//! never writes a file for a client. Workers copy matching frames into a
//! bounded queue and never wait for the client: a client slower than the
//! traffic loses frames, counted in `capture.end`.
//!
//! Each connection has its own thread (`server.rs`): a capture holds only
//! its own, takes the controller's lock only to start and end, and other
//! clients are served meanwhile.

use std::io::{BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use vswitch_dataplane::capture::{Capture, CaptureFilter, Point, Record};
/// Captures that may run at once (the engine's limit).
pub use vswitch_dataplane::limits::MAX_CAPTURES;
use vswitch_dataplane::limits::{MAX_FRAME_LEN, MAX_PORTS};
use vswitch_dataplane::offload::{GsoKind, Offload};
use vswitch_dataplane::PortId;

use super::rpc::{self, Request, RpcError};
use crate::controller::Controller;
use crate::model::value::{MacAddr, Vlan};

/// The method.
pub const METHOD: &str = "capture";
/// The notification carrying one frame.
pub const FRAME: &str = "capture.frame";
/// The last notification of a capture.
pub const END: &str = "capture.end";
/// Bytes kept of each frame unless `snaplen` says otherwise: all of the
/// largest frame the switch carries (a super-frame).
pub const DEFAULT_SNAPLEN: u32 = MAX_FRAME_LEN as u32;
/// Longest `duration` accepted, in seconds (a day).
pub const MAX_DURATION_SECS: f64 = 86_400.0;

/// A point of the pipeline, as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum CapturePoint {
    /// As received, before classification.
    Input,
    /// As sent on each output port, after tag push or pop.
    Output,
    /// Dropped by the pipeline, with the reason.
    Drop,
}

impl From<CapturePoint> for Point {
    fn from(p: CapturePoint) -> Point {
        match p {
            CapturePoint::Input => Point::Input,
            CapturePoint::Output => Point::Output,
            CapturePoint::Drop => Point::Drop,
        }
    }
}

/// An EtherType: a number, or a string in hex (`0x0806`), decimal, or one
/// of the names `ipv4`, `arp`, `ipv6`, `vlan`, `lldp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "u16")]
pub struct EtherType(pub u16);

impl From<EtherType> for u16 {
    fn from(t: EtherType) -> u16 {
        t.0
    }
}

impl TryFrom<Value> for EtherType {
    type Error = String;
    fn try_from(v: Value) -> Result<EtherType, String> {
        match v {
            Value::Number(n) => n
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .map(EtherType)
                .ok_or_else(|| format!("invalid ethertype {n}: expected 0-65535")),
            Value::String(s) => s.parse(),
            other => Err(format!(
                "invalid ethertype {other}: expected a number or a string such as \"0x0806\""
            )),
        }
    }
}

impl std::str::FromStr for EtherType {
    type Err = String;
    fn from_str(s: &str) -> Result<EtherType, String> {
        let t = s.trim().to_ascii_lowercase();
        let named = match t.as_str() {
            "ipv4" | "ip" => Some(0x0800),
            "arp" => Some(0x0806),
            "ipv6" => Some(0x86dd),
            "vlan" => Some(0x8100),
            "lldp" => Some(0x88cc),
            _ => None,
        };
        let n = match named {
            Some(n) => Some(n),
            None => match t.strip_prefix("0x") {
                Some(hex) => u16::from_str_radix(hex, 16).ok(),
                None => t.parse().ok(),
            },
        };
        n.map(EtherType).ok_or_else(|| {
            format!(
                "invalid ethertype {s:?}: expected 0x0000-0xffff, a decimal number, \
                 or ipv4, arp, ipv6, vlan, lldp"
            )
        })
    }
}

/// `capture` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureParams {
    /// Where to record.
    pub point: CapturePoint,
    /// Only frames on this port (ingress for `input`/`drop`, egress for
    /// `output`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// Only frames of this VLAN on that port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<Vlan>,
    /// Only frames from or to this MAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    /// Only frames of this EtherType (after any 802.1Q tag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ethertype: Option<EtherType>,
    /// End after this many frames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// End after this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// Bytes kept of each frame (default [`DEFAULT_SNAPLEN`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snaplen: Option<u32>,
}

/// The `capture` result: the capture has started.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureStarted {
    /// Its id, repeated in every notification.
    pub capture: u64,
    /// The point.
    pub point: CapturePoint,
    /// Bytes kept of each frame.
    pub snaplen: u32,
}

/// Offload metadata of a captured frame (a super-frame still to be
/// segmented, a checksum still to be completed); offsets from the
/// frame's first byte.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffloadMeta {
    /// `tcpv4`, `tcpv6` or `udp_l4`: segmentation still to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gso_type: Option<String>,
    /// Payload bytes per segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gso_size: Option<u16>,
    /// Header bytes in front of the payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hdr_len: Option<u16>,
    /// A partial checksum: where checksumming starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csum_start: Option<u16>,
    /// A partial checksum: where its field is, from `csum_start`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csum_offset: Option<u16>,
    /// The sender vouches for the checksums.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub csum_valid: bool,
}

impl OffloadMeta {
    fn of(o: &Offload) -> OffloadMeta {
        OffloadMeta {
            gso_type: o.gso.map(|g| {
                match g.kind {
                    GsoKind::TcpV4 => "tcpv4",
                    GsoKind::TcpV6 => "tcpv6",
                    GsoKind::UdpL4 => "udp_l4",
                }
                .to_string()
            }),
            gso_size: o.gso.map(|g| g.size),
            hdr_len: o.gso.map(|g| g.hdr_len),
            csum_start: o.csum.map(|c| c.start),
            csum_offset: o.csum.map(|c| c.offset),
            csum_valid: o.csum_valid,
        }
    }

    /// One line for a human (the pcapng packet comment).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(t) = &self.gso_type {
            parts.push(format!(
                "gso {t} size {} hdr_len {}",
                self.gso_size.unwrap_or(0),
                self.hdr_len.unwrap_or(0)
            ));
        }
        if let (Some(s), Some(o)) = (self.csum_start, self.csum_offset) {
            parts.push(format!("partial csum start {s} offset {o}"));
        }
        if self.csum_valid {
            parts.push("csum valid".into());
        }
        parts.join(", ")
    }
}

/// `capture.frame` params: one frame.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureFrame {
    /// The capture.
    pub capture: u64,
    /// The port the frame was on.
    pub port: String,
    /// `in` (received: `input`, `drop`) or `out` (`output`).
    pub direction: String,
    /// The point.
    pub point: CapturePoint,
    /// Why it was dropped (a drop counter's name; `drop` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When, in nanoseconds since the Unix epoch.
    pub timestamp_ns: u64,
    /// The frame's whole length (more than the data when cut at `snaplen`).
    pub len: u32,
    /// Its offload metadata, if it carried any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offload: Option<OffloadMeta>,
    /// The bytes kept, base64.
    pub data: String,
}

impl CaptureFrame {
    /// The frame's bytes.
    pub fn bytes(&self) -> Result<Vec<u8>, String> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.data)
            .map_err(|e| format!("capture.frame: bad base64 data: {e}"))
    }

    /// The pcapng packet comment: the drop reason and the offload
    /// metadata, when there are any.
    pub fn comment(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(r) = &self.reason {
            parts.push(format!("drop: {r}"));
        }
        if let Some(o) = &self.offload {
            let d = o.describe();
            if !d.is_empty() {
                parts.push(d);
            }
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// `capture.end` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureEnd {
    /// The capture.
    pub capture: u64,
    /// `capture.frame` notifications sent.
    pub frames: u64,
    /// Frames that matched but were lost: the client read too slowly.
    pub lost: u64,
    /// Why it ended: `count`, `duration` or `client` (the client closed
    /// its side).
    pub reason: String,
}

/// A notification line.
fn notification<T: Serialize>(method: &str, params: &T) -> String {
    serde_json::json!({"jsonrpc": "2.0", "method": method, "params": params}).to_string()
}

/// The request on `line` if it is a `capture` (others go to
/// `methods::call`).
pub fn request(line: &[u8]) -> Option<Request> {
    // Cheap test first: most lines are other methods.
    if !line.windows(METHOD.len() + 2).any(|w| {
        w.first() == Some(&b'"')
            && w.last() == Some(&b'"')
            && &w[1..w.len() - 1] == METHOD.as_bytes()
    }) {
        return None;
    }
    rpc::parse_request(line).ok().filter(|r| r.method == METHOD)
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// What a started capture is held to.
struct Limits {
    count: Option<u64>,
    deadline: Option<Instant>,
}

/// Checks the params and builds the capture (nothing registered yet).
fn prepare(
    p: Value,
    controller: &Mutex<Controller>,
) -> Result<(Arc<Capture>, Limits, CaptureStarted), RpcError> {
    let p: CaptureParams = serde_json::from_value(p)
        .map_err(|e| RpcError::params(format!("capture: invalid params: {e}")))?;
    if p.count == Some(0) {
        return Err(RpcError::params("capture: count must be at least 1"));
    }
    let duration = match p.duration {
        None => None,
        Some(d) if d.is_finite() && d > 0.0 && d <= MAX_DURATION_SECS => {
            Some(Duration::from_secs_f64(d))
        }
        Some(d) => {
            return Err(RpcError::params(format!(
                "capture: duration {d} must be more than 0 and at most {MAX_DURATION_SECS} seconds"
            )))
        }
    };
    let snaplen = p.snaplen.unwrap_or(DEFAULT_SNAPLEN);
    if snaplen == 0 || snaplen > DEFAULT_SNAPLEN {
        return Err(RpcError::params(format!(
            "capture: snaplen {snaplen} must be 1-{DEFAULT_SNAPLEN}"
        )));
    }
    let port = match &p.port {
        None => None,
        Some(name) => {
            let c = controller.lock().unwrap_or_else(|e| e.into_inner());
            let id = c
                .port(name)
                .map(|e| e.id)
                .ok_or_else(|| RpcError::not_found(format!("capture: no port named {name:?}")))?;
            Some(id)
        }
    };
    let filter = CaptureFilter {
        port,
        vlan: p.vlan.map(Vlan::id),
        mac: p.mac.map(MacAddr::mac),
        ethertype: p.ethertype.map(|t| t.0),
    };
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let cap = Arc::new(Capture::new(id, p.point.into(), filter, snaplen as usize));
    Ok((
        cap,
        Limits {
            count: p.count,
            deadline: duration.map(|d| Instant::now() + d),
        },
        CaptureStarted {
            capture: id,
            point: p.point,
            snaplen,
        },
    ))
}

/// Unregisters its capture when dropped, however the stream ends (a
/// panic included): a capture never outlives its client.
struct Registered<'c> {
    controller: &'c Mutex<Controller>,
    id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        let mut c = self.controller.lock().unwrap_or_else(|e| e.into_inner());
        c.remove_capture(self.id);
    }
}

/// Port names by id, refreshed from the controller when an id is new.
struct Names {
    by_id: Vec<Option<String>>,
}

impl Names {
    fn name(&mut self, id: PortId, controller: &Mutex<Controller>) -> String {
        if self.by_id[id.index()].is_none() {
            let c = controller.lock().unwrap_or_else(|e| e.into_inner());
            for (i, slot) in self.by_id.iter_mut().enumerate() {
                *slot = PortId::new(i)
                    .and_then(|p| c.port_name(p))
                    .map(str::to_string);
            }
        }
        // A port removed meanwhile: its id.
        self.by_id[id.index()]
            .clone()
            .unwrap_or_else(|| format!("#{}", id.index()))
    }
}

/// Records drained per round before the client's side is looked at.
const ROUND: usize = 256;
/// How long to wait for the client (or for frames) when nothing came.
const TICK: Duration = Duration::from_millis(10);

/// Serves a `capture` request on its connection: answers it, streams, and
/// ends with `capture.end`. Returns whether the connection goes on (only
/// after a refused request: a capture closes it when it ends).
pub fn serve(
    req: Request,
    reader: &mut BufReader<UnixStream>,
    writer: &mut UnixStream,
    controller: &Mutex<Controller>,
) -> bool {
    let started = prepare(req.params.clone(), controller).and_then(|(cap, limits, started)| {
        let mut c = controller.lock().unwrap_or_else(|e| e.into_inner());
        c.add_capture(Arc::clone(&cap))
            .map_err(|e| RpcError::conflict(format!("capture: {e}")))?;
        Ok((cap, limits, started))
    });
    let (cap, limits, started) = match started {
        Ok(s) => s,
        Err(e) => return writeln!(writer, "{}", rpc::error_response(&req.id, &e)).is_ok(),
    };
    let guard = Registered {
        controller,
        id: cap.id(),
    };
    tracing::info!(
        capture = cap.id(),
        point = cap.point().name(),
        "capture started"
    );
    let mut names = Names {
        by_id: vec![None; MAX_PORTS],
    };
    let mut sent = 0u64;
    let mut client_ok = writeln!(writer, "{}", rpc::response(&req.id, &started)).is_ok();
    let mut out = String::new();
    let reason = loop {
        if !client_ok {
            break "client";
        }
        let room = limits.count.map_or(usize::MAX, |c| (c - sent) as usize);
        out.clear();
        let n = drain(&cap, room.min(ROUND), &mut names, controller, &mut out);
        sent += n as u64;
        if n > 0 && writer.write_all(out.as_bytes()).is_err() {
            break "client";
        }
        if limits.count.is_some_and(|c| sent >= c) {
            break "count";
        }
        if limits.deadline.is_some_and(|d| Instant::now() >= d) {
            break "duration";
        }
        client_ok = client_there(reader, if n == ROUND { Duration::ZERO } else { TICK });
    };
    // Unregistered first: nothing more is queued; then what was.
    drop(guard);
    if reason != "client" {
        loop {
            let room = limits.count.map_or(usize::MAX, |c| (c - sent) as usize);
            out.clear();
            let n = drain(&cap, room.min(ROUND), &mut names, controller, &mut out);
            if n == 0 || writer.write_all(out.as_bytes()).is_err() {
                break;
            }
            sent += n as u64;
        }
    }
    let end = CaptureEnd {
        capture: cap.id(),
        frames: sent,
        lost: cap.lost(),
        reason: reason.to_string(),
    };
    // The client may be gone: then this fails, and that is all.
    let _ = writeln!(writer, "{}", notification(END, &end));
    tracing::info!(
        capture = end.capture,
        frames = end.frames,
        lost = end.lost,
        reason,
        "capture ended"
    );
    false
}

/// Writes up to `max` queued records of `cap` as `capture.frame` lines
/// into `out`; returns how many.
fn drain(
    cap: &Capture,
    max: usize,
    names: &mut Names,
    controller: &Mutex<Controller>,
    out: &mut String,
) -> usize {
    cap.drain(max, |r: &Record| {
        let frame = CaptureFrame {
            capture: cap.id(),
            port: names.name(r.port, controller),
            direction: if r.point.outbound() { "out" } else { "in" }.to_string(),
            point: match r.point {
                Point::Input => CapturePoint::Input,
                Point::Output => CapturePoint::Output,
                Point::Drop => CapturePoint::Drop,
            },
            reason: r.reason.map(|d| d.name().to_string()),
            timestamp_ns: r.timestamp_ns,
            len: r.orig_len,
            offload: r.offload.map(|o| OffloadMeta::of(&o)),
            data: base64::engine::general_purpose::STANDARD.encode(r.bytes()),
        };
        out.push_str(&notification(FRAME, &frame));
        out.push('\n');
    })
}

/// Waits up to `wait` for the client's side; `false` once it is closed
/// (half-closed or gone). What it sends meanwhile is read and ignored.
fn client_there(reader: &mut BufReader<UnixStream>, wait: Duration) -> bool {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let closed = {
        let sock = reader.get_ref();
        let mut fds = [PollFd::new(sock, PollFlags::IN | PollFlags::RDHUP)];
        let ts = Timespec {
            tv_sec: wait.as_secs() as i64,
            tv_nsec: wait.subsec_nanos() as i64,
        };
        match poll(&mut fds, Some(&ts)) {
            Ok(0) => return true,
            Ok(_) => {
                let r = fds[0].revents();
                if r.intersects(PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL) {
                    return false;
                }
                r.contains(PollFlags::RDHUP)
            }
            Err(rustix::io::Errno::INTR) => return true,
            Err(_) => return false,
        }
    };
    // Readable: bytes to skip, or (with RDHUP) the end of its side.
    let mut scratch = [0u8; 4096];
    match reader.read(&mut scratch) {
        Ok(0) => false,
        Ok(_) => !closed,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::Interrupted
            ) =>
        {
            !closed
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ethertypes_parse_from_numbers_hex_and_names() {
        assert_eq!("0x0806".parse::<EtherType>().unwrap().0, 0x0806);
        assert_eq!("2048".parse::<EtherType>().unwrap().0, 0x0800);
        assert_eq!("IPv6".parse::<EtherType>().unwrap().0, 0x86dd);
        assert!("0x10000".parse::<EtherType>().is_err());
        assert!("ipx"
            .parse::<EtherType>()
            .unwrap_err()
            .contains("ethertype"));
        let p: CaptureParams =
            serde_json::from_value(serde_json::json!({"point": "drop", "ethertype": 2054}))
                .unwrap();
        assert_eq!(p.ethertype, Some(EtherType(0x0806)));
        let e = serde_json::from_value::<CaptureParams>(serde_json::json!({"point": "inside"}))
            .unwrap_err();
        assert!(e.to_string().contains("inside"), "{e}");
        let e = serde_json::from_value::<CaptureParams>(
            serde_json::json!({"point": "drop", "colour": 1}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
    }

    #[test]
    fn only_capture_requests_are_taken() {
        let line = br#"{"jsonrpc":"2.0","id":1,"method":"capture","params":{"point":"drop"}}"#;
        assert_eq!(request(line).unwrap().method, "capture");
        assert!(request(br#"{"jsonrpc":"2.0","id":1,"method":"status"}"#).is_none());
        // "capture" as a value elsewhere is not the method.
        assert!(request(
            br#"{"jsonrpc":"2.0","id":1,"method":"port.show","params":{"name":"capture"}}"#
        )
        .is_none());
    }

    #[test]
    fn comments_name_the_reason_and_the_offload() {
        let mut f = CaptureFrame {
            capture: 1,
            port: "p1".into(),
            direction: "in".into(),
            point: CapturePoint::Drop,
            reason: Some("tagged_on_access".into()),
            timestamp_ns: 0,
            len: 60,
            offload: None,
            data: base64::engine::general_purpose::STANDARD.encode([1, 2, 3]),
        };
        assert_eq!(f.comment().as_deref(), Some("drop: tagged_on_access"));
        assert_eq!(f.bytes().unwrap(), vec![1, 2, 3]);
        f.reason = None;
        f.offload = Some(OffloadMeta {
            gso_type: Some("tcpv4".into()),
            gso_size: Some(1448),
            hdr_len: Some(66),
            csum_start: Some(34),
            csum_offset: Some(16),
            csum_valid: false,
        });
        assert_eq!(
            f.comment().as_deref(),
            Some("gso tcpv4 size 1448 hdr_len 66, partial csum start 34 offset 16")
        );
    }
}

//! `vswitchctl capture`: asks vswitchd for a capture (`capture` over the
//! control socket, `api/capture.rs`) and writes what it streams as pcapng:
//! one interface block per port, in the order ports first appear, named
//! after the port; each frame an enhanced packet block with its direction
//! (inbound or outbound) in the flags and, as the packet comment, the
//! drop reason and offload metadata. Every block is flushed as it is
//! written, so `-w -` piped into `tshark -r -` shows frames live.
//!
//! SIGINT or SIGTERM ends the capture cleanly: the client closes its
//! side of the connection, the daemon sends what it still has and
//! `capture.end`, and the file is complete.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;
use serde_json::{json, Value};

use crate::api::capture::{
    CaptureEnd, CaptureFrame, CaptureParams, CapturePoint, CaptureStarted, EtherType, END, FRAME,
    METHOD,
};
use crate::model::value::{MacAddr, Vlan};

/// `vswitchctl capture` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct CaptureArgs {
    /// Where to record: as received (input), as sent on each port after
    /// tag push or pop (output), or dropped, with the reason (drop).
    #[arg(long, value_enum)]
    pub point: CapturePoint,
    /// Only frames on this port.
    #[arg(long)]
    pub port: Option<String>,
    /// Only frames of this VLAN.
    #[arg(long)]
    pub vlan: Option<Vlan>,
    /// Only frames from or to this MAC.
    #[arg(long)]
    pub mac: Option<MacAddr>,
    /// Only this EtherType (0x0806, 2054, ipv4, arp, ipv6, vlan, lldp).
    #[arg(long)]
    pub ethertype: Option<EtherType>,
    /// Stop after this many frames.
    #[arg(long, short = 'c')]
    pub count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Bytes kept of each frame (default: all).
    #[arg(long, short = 's')]
    pub snaplen: Option<u32>,
    /// The pcapng file to write, or - for standard output.
    #[arg(short = 'w', value_name = "FILE")]
    pub write: String,
}

impl CaptureArgs {
    fn params(&self) -> CaptureParams {
        CaptureParams {
            point: self.point,
            port: self.port.clone(),
            vlan: self.vlan,
            mac: self.mac,
            ethertype: self.ethertype,
            count: self.count,
            duration: self.duration,
            snaplen: self.snaplen,
        }
    }
}

/// How long to wait for `capture.end` after asking the daemon to stop.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// Runs a capture into `args.write`; returns its `capture.end` (`None`
/// when the reader of standard output went away first).
pub fn run(socket: &Path, args: &CaptureArgs) -> Result<Option<CaptureEnd>, String> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| format!("cannot install a signal handler: {e}"))?;
    }
    let stream = UnixStream::connect(socket).map_err(|e| {
        format!(
            "cannot reach vswitchd at {}: {e} (is it running? is the path right? see --socket)",
            socket.display()
        )
    })?;
    // Wake-ups to look at the signal flag.
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| e.to_string())?;
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let req = json!({"jsonrpc": "2.0", "id": 1, "method": METHOD, "params": args.params()});
    writeln!(writer, "{req}").map_err(|e| format!("control socket: {e}"))?;
    let mut reader = BufReader::new(stream);

    let mut file: Option<Pcap> = None;
    let mut line = Vec::new();
    let mut stopping: Option<Instant> = None;
    let mut started = false;
    loop {
        if stop.load(Ordering::Relaxed) && stopping.is_none() {
            // The daemon ends the capture when our side closes, and
            // still sends what it has and capture.end.
            let _ = writer.shutdown(std::net::Shutdown::Write);
            stopping = Some(Instant::now());
        }
        if stopping.is_some_and(|t| t.elapsed() > STOP_WAIT) {
            return Err("vswitchd did not end the capture in time".into());
        }
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => {
                return Err(if started {
                    "the connection closed before capture.end".into()
                } else {
                    "vswitchd closed the connection without an answer".into()
                })
            }
            Ok(_) if line.last() != Some(&b'\n') => continue,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => return Err(format!("control socket: {e}")),
        }
        let v: Value = serde_json::from_slice(&line)
            .map_err(|e| format!("malformed line from vswitchd: {e}"))?;
        line.clear();
        if !started {
            if let Some(e) = v.get("error") {
                return Err(e["message"].as_str().unwrap_or("unknown error").to_string());
            }
            let s: CaptureStarted = serde_json::from_value(v["result"].clone())
                .map_err(|e| format!("unexpected capture answer from vswitchd: {e}"))?;
            started = true;
            // Made only now: a refused request leaves no file behind. (If
            // it cannot be made, returning closes the connection, which
            // ends the capture.)
            let out: Box<dyn Write> = if args.write == "-" {
                Box::new(std::io::stdout().lock())
            } else {
                Box::new(
                    std::fs::File::create(&args.write)
                        .map_err(|e| format!("cannot create {}: {e}", args.write))?,
                )
            };
            match Pcap::new(out, s.snaplen) {
                Ok(p) => file = Some(p),
                Err(e) if is_pipe_gone(&e) => return Ok(None),
                Err(e) => return Err(format!("{}: {e}", args.write)),
            }
            continue;
        }
        match v["method"].as_str() {
            Some(FRAME) => {
                let f: CaptureFrame = serde_json::from_value(v["params"].clone())
                    .map_err(|e| format!("malformed capture.frame: {e}"))?;
                if let Some(p) = file.as_mut() {
                    match p.frame(&f) {
                        Ok(()) => {}
                        // tshark (or head) stopped reading: done.
                        Err(e) if is_pipe_gone(&e) => return Ok(None),
                        Err(e) => return Err(format!("{}: {e}", args.write)),
                    }
                }
            }
            Some(END) => {
                let end: CaptureEnd = serde_json::from_value(v["params"].clone())
                    .map_err(|e| format!("malformed capture.end: {e}"))?;
                return Ok(Some(end));
            }
            _ => {}
        }
    }
}

fn is_pipe_gone(e: &Error) -> bool {
    matches!(e, Error::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Why writing the file failed.
#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("{0}")]
    Io(std::io::Error),
    #[error("{0}")]
    Frame(String),
    #[error("pcapng: {0}")]
    Pcap(pcap_file::PcapError),
}

impl From<pcap_file::PcapError> for Error {
    fn from(e: pcap_file::PcapError) -> Error {
        match e {
            pcap_file::PcapError::IoError(io) => Error::Io(io),
            other => Error::Pcap(other),
        }
    }
}

/// A pcapng stream being written.
struct Pcap {
    w: PcapNgWriter<Box<dyn Write>>,
    snaplen: u32,
    /// Interface block index of each port seen.
    ports: HashMap<String, u32>,
}

/// `epb_flags` direction bits (pcapng: 01 inbound, 10 outbound).
const INBOUND: u32 = 0b01;
const OUTBOUND: u32 = 0b10;

impl Pcap {
    fn new(w: Box<dyn Write>, snaplen: u32) -> Result<Pcap, Error> {
        let mut w = PcapNgWriter::new(w)?;
        w.get_mut().flush().map_err(Error::Io)?;
        Ok(Pcap {
            w,
            snaplen,
            ports: HashMap::new(),
        })
    }

    fn frame(&mut self, f: &CaptureFrame) -> Result<(), Error> {
        let data = f.bytes().map_err(Error::Frame)?;
        let next = self.ports.len() as u32;
        let interface_id = match self.ports.get(&f.port) {
            Some(&i) => i,
            None => {
                self.w.write_pcapng_block(InterfaceDescriptionBlock {
                    linktype: DataLink::ETHERNET,
                    snaplen: self.snaplen,
                    options: vec![
                        InterfaceDescriptionOption::IfName(Cow::Borrowed(&f.port)),
                        // Timestamps in nanoseconds (pcap-file writes them so).
                        InterfaceDescriptionOption::IfTsResol(9),
                    ],
                })?;
                self.ports.insert(f.port.clone(), next);
                next
            }
        };
        let mut options = vec![EnhancedPacketOption::Flags(if f.direction == "out" {
            OUTBOUND
        } else {
            INBOUND
        })];
        if let Some(c) = f.comment() {
            options.push(EnhancedPacketOption::Comment(Cow::Owned(c)));
        }
        self.w.write_pcapng_block(EnhancedPacketBlock {
            interface_id,
            timestamp: Duration::from_nanos(f.timestamp_ns),
            original_len: f.len.max(data.len() as u32),
            data: Cow::Borrowed(&data),
            options,
        })?;
        self.w.get_mut().flush().map_err(Error::Io)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    /// The stream reads back: interfaces by port, flags and comments.
    #[test]
    fn frames_read_back_with_interfaces_flags_and_comments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.pcapng");
        let file: Box<dyn Write> = Box::new(std::fs::File::create(&path).unwrap());
        let mut p = Pcap::new(file, 1500).unwrap();
        let frame = |port: &str, direction: &str, reason: Option<&str>| CaptureFrame {
            capture: 1,
            port: port.into(),
            direction: direction.into(),
            point: CapturePoint::Drop,
            reason: reason.map(str::to_string),
            timestamp_ns: 1_700_000_000_123_456_789,
            len: 64,
            offload: None,
            data: base64::engine::general_purpose::STANDARD.encode([0xaa; 60]),
        };
        p.frame(&frame("p1", "in", Some("tagged_on_access")))
            .unwrap();
        p.frame(&frame("p2", "out", None)).unwrap();
        p.frame(&frame("p1", "in", None)).unwrap();
        drop(p);
        let bytes = std::fs::read(&path).unwrap();
        let mut r = pcap_file::pcapng::PcapNgReader::new(&bytes[..]).unwrap();
        let mut ifaces = Vec::new();
        let mut packets = Vec::new();
        while let Some(b) = r.next_block() {
            match b.unwrap() {
                pcap_file::pcapng::Block::InterfaceDescription(i) => {
                    ifaces.push(i.into_owned().options)
                }
                pcap_file::pcapng::Block::EnhancedPacket(e) => {
                    let e = e.into_owned();
                    packets.push((e.interface_id, e.original_len, e.timestamp, e.options))
                }
                _ => {}
            }
        }
        assert_eq!(ifaces.len(), 2, "one interface block per port");
        assert!(matches!(&ifaces[1][0], InterfaceDescriptionOption::IfName(n) if n == "p2"));
        assert_eq!(
            packets.iter().map(|p| p.0).collect::<Vec<_>>(),
            vec![0, 1, 0]
        );
        assert_eq!(packets[0].1, 64);
        assert_eq!(
            packets[0].2,
            Duration::from_nanos(1_700_000_000_123_456_789)
        );
        assert_eq!(packets[0].3[0], EnhancedPacketOption::Flags(INBOUND));
        assert_eq!(
            packets[0].3[1],
            EnhancedPacketOption::Comment("drop: tagged_on_access".into())
        );
        assert_eq!(packets[1].3, vec![EnhancedPacketOption::Flags(OUTBOUND)]);
    }
}

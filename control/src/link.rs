//! The link watcher: one thread subscribed to the kernel's rtnetlink link
//! events (`RTMGRP_LINK`) that tells the controller when a port's
//! interface goes down, comes up, disappears, reappears or changes its
//! MTU ([`crate::controller::Controller::link_event`]). The controller
//! marks the port down in the dataplane (frames for it are dropped and
//! counted, its worker sleeps), closes its sockets when the interface is
//! gone and re-binds the port with its configured driver when an
//! interface of that name is back, with no operator action, as a
//! hardware switch does when a cable is pulled and plugged in again.
//!
//! It reads a plain blocking netlink socket (`netlink-sys` without an
//! async runtime, messages parsed by `netlink-packet-route`): link events
//! are rare, and a thread of its own keeps them off the API's path. If
//! the kernel drops events (`ENOBUFS`: the socket buffer overflowed), the
//! watcher asks for a full dump of every link and the controller
//! reconciles, so a burst of events never leaves a port in a stale state.

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::controller::Controller;

/// The rtnetlink multicast group of link events (`RTMGRP_LINK` in
/// `linux/rtnetlink.h`).
const RTMGRP_LINK: u32 = 1;
/// Receive buffer asked for: room for a burst of events (a lab script
/// creating hundreds of veths) before the kernel has to drop any.
const RCVBUF: usize = 4 << 20;

/// What a port's interface is doing, as `status` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Administratively up and running (carrier).
    Up,
    /// Present, but administratively down or without carrier.
    Down,
    /// No interface of that name.
    Absent,
}

impl LinkState {
    /// The name `status` uses: up, down or absent.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Up => "up",
            LinkState::Down => "down",
            LinkState::Absent => "absent",
        }
    }
}

impl fmt::Display for LinkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The last known state of a port's interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkInfo {
    /// Up, down or absent.
    pub state: LinkState,
    /// Administratively up (`IFF_UP`), whatever the carrier.
    pub admin_up: bool,
    /// Its ifindex (0 when absent): a new one means a new interface of
    /// the same name, whose sockets must be opened anew.
    pub ifindex: u32,
    /// Its MTU now (the last one known while absent).
    pub mtu: u32,
}

impl LinkInfo {
    /// No interface of the port's name (the last MTU seen is kept for
    /// `status`).
    pub fn absent(mtu: u32) -> LinkInfo {
        LinkInfo {
            state: LinkState::Absent,
            admin_up: false,
            ifindex: 0,
            mtu,
        }
    }

    /// Reads `iface`'s state from sysfs (when a port is opened; events
    /// keep it current afterwards).
    pub fn probe(iface: &str) -> LinkInfo {
        let read = |leaf: &str| {
            std::fs::read_to_string(format!("/sys/class/net/{iface}/{leaf}"))
                .map(|s| s.trim().to_string())
        };
        let Ok(ifindex) = read("ifindex") else {
            return LinkInfo::absent(0);
        };
        let flags = read("flags")
            .ok()
            .and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok())
            .unwrap_or(0);
        let admin_up = flags & libc::IFF_UP as u32 != 0;
        // IFF_RUNNING is not in sysfs `flags`; `operstate` "unknown" is
        // what interfaces without carrier reporting (loopback, dummy)
        // say, and the kernel counts them as running too.
        let running = matches!(read("operstate").as_deref(), Ok("up" | "unknown"));
        LinkInfo {
            state: if admin_up && running {
                LinkState::Up
            } else {
                LinkState::Down
            },
            admin_up,
            ifindex: ifindex.parse().unwrap_or(0),
            mtu: read("mtu").ok().and_then(|m| m.parse().ok()).unwrap_or(0),
        }
    }
}

/// Sets `iface`'s MTU, as `ip link set dev IFACE mtu MTU` does (through
/// sysfs), unless it has that MTU already.
pub fn set_mtu(iface: &str, mtu: u32) -> io::Result<()> {
    let path = format!("/sys/class/net/{iface}/mtu");
    if std::fs::read_to_string(&path)?.trim() == mtu.to_string() {
        return Ok(());
    }
    std::fs::write(&path, mtu.to_string())
}

/// One link message from the kernel, reduced to what ports care about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEvent {
    /// Interface name (empty if the message had none).
    pub name: String,
    /// Its ifindex.
    pub ifindex: u32,
    /// The interface exists (`RTM_NEWLINK`) or is gone (`RTM_DELLINK`,
    /// also when it moves to another network namespace).
    pub present: bool,
    /// `IFF_UP`.
    pub admin_up: bool,
    /// `IFF_RUNNING`: operationally up (carrier).
    pub running: bool,
    /// Its MTU, when the message carried one.
    pub mtu: Option<u32>,
}

impl LinkEvent {
    /// The event as a port's link state (`mtu` when it carries none).
    pub fn info(&self, mtu: u32) -> LinkInfo {
        if !self.present {
            return LinkInfo::absent(mtu);
        }
        LinkInfo {
            state: if self.admin_up && self.running {
                LinkState::Up
            } else {
                LinkState::Down
            },
            admin_up: self.admin_up,
            ifindex: self.ifindex,
            mtu: self.mtu.unwrap_or(mtu),
        }
    }
}

/// The link event in `msg`, if it is one.
pub fn parse(msg: &RouteNetlinkMessage) -> Option<LinkEvent> {
    let (link, present) = match msg {
        RouteNetlinkMessage::NewLink(l) => (l, true),
        RouteNetlinkMessage::DelLink(l) => (l, false),
        _ => return None,
    };
    Some(from_link(link, present))
}

fn from_link(link: &LinkMessage, present: bool) -> LinkEvent {
    let mut ev = LinkEvent {
        name: String::new(),
        ifindex: link.header.index,
        present,
        admin_up: link.header.flags.contains(LinkFlags::Up),
        running: link.header.flags.contains(LinkFlags::Running),
        mtu: None,
    };
    for a in &link.attributes {
        match a {
            LinkAttribute::IfName(n) => ev.name = n.clone(),
            LinkAttribute::Mtu(m) => ev.mtu = Some(*m),
            _ => {}
        }
    }
    ev
}

/// The watcher's netlink socket, subscribed to link events.
struct Watcher {
    socket: Socket,
    seq: u32,
}

impl Watcher {
    fn open() -> io::Result<Watcher> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind(&SocketAddr::new(0, RTMGRP_LINK))?;
        if let Err(e) = socket.set_rx_buf_sz(RCVBUF) {
            tracing::debug!(error = %e, "link watcher: could not enlarge the receive buffer");
        }
        Ok(Watcher { socket, seq: 0 })
    }

    /// Asks for every link: the replies end with a `Done`, after which
    /// the controller learns which interfaces exist.
    fn request_dump(&mut self) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let mut msg = NetlinkMessage::new(
            NetlinkHeader::default(),
            NetlinkPayload::from(RouteNetlinkMessage::GetLink(LinkMessage::default())),
        );
        msg.header.flags = NLM_F_DUMP | NLM_F_REQUEST;
        msg.header.sequence_number = self.seq;
        msg.finalize();
        let mut buf = vec![0; msg.buffer_len()];
        msg.serialize(&mut buf);
        self.socket.send_to(&buf, &SocketAddr::new(0, 0), 0)?;
        Ok(())
    }
}

/// Starts the watcher thread for `controller`'s ports. It opens its
/// socket before returning (so a failure is the caller's to report),
/// then dumps every link once, so a change between the daemon's start
/// and the subscription is not missed.
pub fn spawn(controller: Arc<Mutex<Controller>>) -> io::Result<std::thread::JoinHandle<()>> {
    let mut w = Watcher::open()?;
    w.request_dump()?;
    std::thread::Builder::new()
        .name("vswitch-link".into())
        .spawn(move || run(w, controller))
}

fn run(mut w: Watcher, controller: Arc<Mutex<Controller>>) {
    let mut buf = vec![0u8; 1 << 16];
    // Names seen during a dump; `Some` while one is in progress.
    let mut dump: Option<HashSet<String>> = Some(HashSet::new());
    // Events were lost while a dump was in progress: its picture is
    // incomplete, so another dump follows it.
    let mut redump = false;
    loop {
        let n = match w.socket.recv(&mut &mut buf[..], 0) {
            Ok(n) => n,
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                // Events were lost: take stock of every link again.
                tracing::warn!(
                    "link watcher: the kernel dropped link events; re-reading every link"
                );
                if dump.is_none() {
                    dump = Some(HashSet::new());
                    if let Err(e) = w.request_dump() {
                        tracing::error!(error = %e, "link watcher: cannot request a link dump");
                        dump = None;
                    }
                } else {
                    // The dump in progress may have lost messages too:
                    // take stock again once it is done.
                    redump = true;
                }
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::error!(error = %e, "link watcher: receive failed");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let mut off = 0;
        while off < n {
            let msg = match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf[off..n]) {
                Ok(m) => m,
                Err(e) => {
                    tracing::debug!(error = %e, "link watcher: undecodable message skipped");
                    break;
                }
            };
            let len = msg.header.length as usize;
            match &msg.payload {
                NetlinkPayload::InnerMessage(m) => {
                    if let Some(ev) = parse(m) {
                        if let Some(seen) = dump.as_mut() {
                            if ev.present {
                                seen.insert(ev.name.clone());
                            }
                        }
                        lock(&controller).link_event(&ev);
                    }
                }
                NetlinkPayload::Done(_) => {
                    if let Some(seen) = dump.take() {
                        if redump {
                            redump = false;
                            dump = Some(HashSet::new());
                            if let Err(e) = w.request_dump() {
                                tracing::error!(error = %e, "link watcher: cannot request a link dump");
                                dump = None;
                            }
                        } else {
                            lock(&controller).links_present(&seen);
                        }
                    }
                }
                NetlinkPayload::Error(e) => {
                    tracing::debug!(error = ?e, "link watcher: netlink error");
                    dump = None;
                }
                _ => {}
            }
            if len == 0 {
                break;
            }
            off += len;
        }
    }
}

fn lock(c: &Mutex<Controller>) -> std::sync::MutexGuard<'_, Controller> {
    c.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(flags: LinkFlags, attrs: Vec<LinkAttribute>) -> LinkMessage {
        let mut m = LinkMessage::default();
        m.header.index = 7;
        m.header.flags = flags;
        m.attributes = attrs;
        m
    }

    #[test]
    fn new_and_del_link_messages_become_events() {
        let up = link(
            LinkFlags::Up | LinkFlags::Running | LinkFlags::LowerUp,
            vec![
                LinkAttribute::IfName("vsw-a".into()),
                LinkAttribute::Mtu(1400),
            ],
        );
        let ev = parse(&RouteNetlinkMessage::NewLink(up.clone())).unwrap();
        assert_eq!(
            ev,
            LinkEvent {
                name: "vsw-a".into(),
                ifindex: 7,
                present: true,
                admin_up: true,
                running: true,
                mtu: Some(1400),
            }
        );
        assert_eq!(ev.info(1500).state, LinkState::Up);
        assert_eq!(ev.info(1500).mtu, 1400);
        // Admin up without carrier is down.
        let nocarrier = link(LinkFlags::Up, vec![LinkAttribute::IfName("vsw-a".into())]);
        let ev = parse(&RouteNetlinkMessage::NewLink(nocarrier)).unwrap();
        let info = ev.info(1500);
        assert_eq!(
            (info.state, info.admin_up, info.mtu),
            (LinkState::Down, true, 1500)
        );
        let gone = parse(&RouteNetlinkMessage::DelLink(up)).unwrap();
        assert_eq!(gone.info(1400).state, LinkState::Absent);
        assert_eq!(gone.info(1400).ifindex, 0);
        assert!(parse(&RouteNetlinkMessage::GetLink(LinkMessage::default())).is_none());
    }

    #[test]
    fn a_missing_interface_probes_as_absent() {
        let info = LinkInfo::probe("vsw-no-such-if0");
        assert_eq!(info.state, LinkState::Absent);
        let lo = LinkInfo::probe("lo");
        assert_eq!((lo.state, lo.ifindex), (LinkState::Up, 1));
    }
}

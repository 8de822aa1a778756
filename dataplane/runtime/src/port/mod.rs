//! Kernel-facing port drivers and what they have in common: how a port is
//! asked for ([`PortSpec`], with a [`DriverChoice`]) and what it got
//! ([`PortStatus`]).
//!
//! - [`afxdp`]: AF_XDP sockets on the owning worker's UMEM (wrapped once
//!   in [`xsk`]); fastest for small frames, no offload metadata.
//! - [`packet`]: a packet socket with virtio-net headers (wrapped once in
//!   [`packet_socket`]); super-frames and partial checksums cross the
//!   switch whole, one lookup per super-frame.
//! - [`chunks`]: which UMEM chunks a worker owns, as values that open
//!   them ([`chunks::Chunk`], made only by its [`chunks::FramePool`]).
//!
//! - [`tap`]: persistent taps made for VMs (`create = "tap"`), switched
//!   by the packet driver.
//!
//! Before either opens, [`xdp_owner`] checks who owns the XDP program on
//! the interface: a port never takes an interface from another switch
//! and never removes a program it cannot prove is a dead switch's.

pub mod afxdp;
pub mod chunks;
pub mod packet;
pub mod packet_socket;
pub mod tap;
pub mod wake;
pub mod xdp_owner;
pub mod xdp_prog;
pub mod xsk;

use core::fmt;
use std::io;

use crate::PortId;
use afxdp::AfXdpPort;
use packet::PacketPort;
use xsk::{SocketError, XdpAttach, XdpBind, XskStats};

/// Errors opening a port.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// The interface does not exist or cannot be read.
    #[error("interface {iface}: {source}")]
    Interface {
        /// Interface name.
        iface: String,
        /// Underlying error.
        #[source]
        source: io::Error,
    },
    /// An AF_XDP socket could not be bound.
    #[error(transparent)]
    Socket(#[from] SocketError),
    /// The interface's XDP hook belongs to someone else, or ownership
    /// could not be checked ([`xdp_owner`]).
    #[error(transparent)]
    Owner(#[from] xdp_owner::OwnerError),
    /// The packet socket could not be opened.
    #[error("interface {iface}: {source}")]
    Packet {
        /// Interface name.
        iface: String,
        /// Underlying error.
        #[source]
        source: packet_socket::PacketError,
    },
}

/// Reads `/sys/class/net/IFACE/LEAF`, trimmed.
pub(crate) fn sysfs(iface: &str, leaf: &str) -> io::Result<String> {
    std::fs::read_to_string(format!("/sys/class/net/{iface}/{leaf}")).map(|s| s.trim().to_string())
}

/// The interface's MTU.
pub(crate) fn mtu(iface: &str) -> Result<u32, PortError> {
    let ioerr = |source| PortError::Interface {
        iface: iface.to_string(),
        source,
    };
    sysfs(iface, "mtu")
        .map_err(ioerr)?
        .parse()
        .map_err(|_| ioerr(io::Error::other("unreadable MTU")))
}

/// Whether a send failed because the interface is down (`ENETDOWN`) or
/// gone (`ENXIO`: an AF_XDP socket unbound by the interface's removal, or
/// a packet socket whose bound ifindex no longer exists; `ENODEV`). Such
/// a port will not take frames until its link is back: the worker drops
/// what it has for it (counted as `link_down`) instead of retrying.
pub fn is_link_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENETDOWN | libc::ENXIO | libc::ENODEV)
    )
}

/// An open port of either driver.
#[derive(Debug)]
pub enum OpenPort {
    /// AF_XDP sockets.
    AfXdp(AfXdpPort),
    /// A packet socket.
    Packet(PacketPort),
}

impl OpenPort {
    /// What the port got.
    pub fn status(&self) -> &PortStatus {
        match self {
            OpenPort::AfXdp(p) => &p.status,
            OpenPort::Packet(p) => &p.status,
        }
    }

    /// The port's AF_XDP sockets (none for a packet port).
    pub fn xsk_sockets(&mut self) -> &mut [xsk::Socket] {
        match self {
            OpenPort::AfXdp(p) => &mut p.sockets,
            OpenPort::Packet(_) => &mut [],
        }
    }

    /// The fds a sleeping worker polls for received frames.
    pub fn poll_fds(&self) -> impl Iterator<Item = std::os::fd::RawFd> + '_ {
        use std::os::fd::AsRawFd;
        let (xsks, packet) = match self {
            OpenPort::AfXdp(p) => (&p.sockets[..], None),
            OpenPort::Packet(p) => (&[][..], Some(p.socket.as_raw_fd())),
        };
        xsks.iter().map(xsk::Socket::fd).chain(packet)
    }

    /// The kernel's counters of the port's sockets (a packet socket's ring
    /// drops count as `rx_ring_full`).
    pub fn kernel_stats(&mut self) -> XskStats {
        match self {
            OpenPort::AfXdp(p) => p.kernel_stats(),
            OpenPort::Packet(p) => p.kernel_stats(),
        }
    }
}

/// Which driver a port asks for (`driver` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DriverChoice {
    /// Decided by a fixed rule per kind of interface ([`DriverChoice::resolve`]).
    #[default]
    Auto,
    /// AF_XDP sockets.
    AfXdp,
    /// A packet socket with virtio-net headers.
    Packet,
}

/// The driver a port runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// AF_XDP sockets.
    AfXdp,
    /// A packet socket with virtio-net headers.
    Packet,
}

impl DriverChoice {
    /// The driver for `iface`. `Auto` is a fixed rule, not a guess at run
    /// time: an interface with a device behind it (a NIC: it has
    /// `/sys/class/net/IFACE/device`) gets AF_XDP, which can run zero-copy
    /// there; a virtual one (veth, tap, macvlan: no device) gets the packet
    /// driver, which carries their senders' offloaded super-frames and
    /// partial checksums whole.
    pub fn resolve(self, iface: &str) -> Driver {
        match self {
            DriverChoice::AfXdp => Driver::AfXdp,
            DriverChoice::Packet => Driver::Packet,
            DriverChoice::Auto => {
                if std::path::Path::new(&format!("/sys/class/net/{iface}/device")).exists() {
                    Driver::AfXdp
                } else {
                    Driver::Packet
                }
            }
        }
    }
}

impl fmt::Display for DriverChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DriverChoice::Auto => "auto",
            DriverChoice::AfXdp => "afxdp",
            DriverChoice::Packet => "packet",
        })
    }
}

impl Driver {
    /// The largest frame (without FCS, one 802.1Q tag included) the
    /// driver carries whatever the interface's MTU, as known before a port
    /// opens: AF_XDP a 9216-byte MTU's frame (multi-buffer sockets, where
    /// the kernel and driver allow them: see port/afxdp.rs), the packet
    /// driver the engine's [`MAX_FRAME_LEN`](crate::limits::MAX_FRAME_LEN)
    /// (its receive buffers hold a whole super-frame). An open port's
    /// [`PortStatus::frame_capacity`] is what it really got: one UMEM
    /// chunk's frame for an AF_XDP port without multi-buffer.
    pub fn frame_capacity(self) -> usize {
        match self {
            Driver::AfXdp => xsk::MAX_MULTI_BUFFER_FRAME_LEN,
            Driver::Packet => crate::limits::MAX_FRAME_LEN,
        }
    }
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Driver::AfXdp => "afxdp",
            Driver::Packet => "packet",
        })
    }
}

/// What a port does with offloaded traffic (super-frames, partial
/// checksums), for `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offloads {
    /// Receives and sends virtio-net headers: super-frames and partial
    /// checksums cross whole; frames for ports without headers are
    /// segmented and checksummed in software.
    VnetHeader,
    /// AF_XDP gets no metadata: a partial checksum found in a received
    /// frame is completed (counted); super-frames never arrive (the kernel
    /// segments them before XDP).
    ChecksumRepair,
}

impl fmt::Display for Offloads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Offloads::VnetHeader => "vnet-hdr (gso, csum)",
            Offloads::ChecksumRepair => "csum-repair",
        })
    }
}

/// What a worker needs to open a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// The port's id in the switch.
    pub id: PortId,
    /// Kernel interface name.
    pub iface: String,
    /// The driver asked for.
    pub driver: DriverChoice,
    /// Replace an XDP program no vswitchd recorded (root's `port.add
    /// --force`); otherwise such an interface is refused
    /// ([`xdp_owner`]).
    pub replace_foreign_xdp: bool,
}

/// What a port really got from the kernel, for logs and `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortStatus {
    /// The port's id.
    pub id: PortId,
    /// Kernel interface.
    pub iface: String,
    /// The driver it runs.
    pub driver: Driver,
    /// Sockets: one per receive queue for AF_XDP, one for a packet socket.
    pub queues: u32,
    /// AF_XDP only: native or generic XDP, copy or zero-copy.
    pub xdp: Option<(XdpAttach, XdpBind)>,
    /// What it does with offloaded traffic.
    pub offloads: Offloads,
    /// The interface MTU when opened.
    pub mtu: u32,
    /// Largest frame the port transmits: MTU + Ethernet header + one
    /// 802.1Q tag (for AF_XDP also capped by the UMEM chunk unless the
    /// port uses multi-buffer).
    pub max_frame_len: usize,
    /// AF_XDP only: frames may span several UMEM chunks (multi-buffer
    /// sockets, `XDP_USE_SG`, under vswitch's frags-aware XDP program).
    pub multi_buffer: bool,
    /// Largest frame its sockets carry whatever the MTU
    /// ([`Driver::frame_capacity`] of the driver it got): an MTU whose
    /// frames (MTU + 18) exceed it cannot be carried.
    pub frame_capacity: usize,
    /// Worker that owns it.
    pub worker: usize,
}

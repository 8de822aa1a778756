//! A switch port on a kernel interface through one packet socket with
//! virtio-net headers ([`PacketSocket`]): frames arrive with their offload
//! metadata (a TCP super-frame of up to 64 KiB, a partial checksum) and
//! leave with it, so bulk traffic crosses the switch one super-frame at a
//! time and the far kernel gets it whole. The right driver for veth and
//! tap, whose senders offload by default. It attaches no XDP program;
//! it only clears a dead switch's leftover, which would swallow its
//! traffic, and stays off an interface a running switch owns
//! ([`super::xdp_owner`]).

use super::packet_socket::{PacketConfig, PacketSocket};
use super::xdp_owner::{self, Use};
use super::xsk::XskStats;
use super::{Driver, Offloads, PortError, PortSpec, PortStatus};
use crate::limits::VLAN_TAG_LEN;
use crate::wire::HEADER_LEN;

/// An open packet-socket port.
#[derive(Debug)]
pub struct PacketPort {
    /// The socket with its receive ring.
    pub socket: PacketSocket,
    /// What was obtained.
    pub status: PortStatus,
}

impl PacketPort {
    /// Opens `spec.iface` with a receive ring whose slots hold a whole
    /// super-frame.
    pub fn open(spec: &PortSpec, worker: usize) -> Result<PacketPort, PortError> {
        let mtu = super::mtu(&spec.iface)?;
        drop(xdp_owner::claim(&spec.iface, Use::Packet, false)?);
        let socket =
            PacketSocket::open(&spec.iface, &PacketConfig::default()).map_err(|source| {
                PortError::Packet {
                    iface: spec.iface.clone(),
                    source,
                }
            })?;
        let status = PortStatus {
            id: spec.id,
            iface: spec.iface.clone(),
            driver: Driver::Packet,
            queues: 1,
            xdp: None,
            offloads: Offloads::VnetHeader,
            mtu,
            // Per segment: a super-frame is checked by its largest segment
            // (Frame::wire_len), not by its total length.
            max_frame_len: mtu as usize + HEADER_LEN + VLAN_TAG_LEN,
            multi_buffer: false,
            frame_capacity: Driver::Packet.frame_capacity(),
            worker,
        };
        tracing::debug!(port = %spec.id, iface = %spec.iface, mtu, "packet port open");
        Ok(PacketPort { socket, status })
    }

    /// The ring's counters as AF_XDP-style kernel counters: frames the ring
    /// had no slot for are `rx_ring_full`.
    pub fn kernel_stats(&mut self) -> XskStats {
        let drops = self.socket.stats().map(|s| s.drops).unwrap_or(0);
        XskStats {
            rx_ring_full: drops,
            ..XskStats::default()
        }
    }
}

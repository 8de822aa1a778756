//! A switch port on a kernel interface: one AF_XDP socket per receive
//! queue (so no flow lands on a queue nobody reads and slips past the
//! switch into the host stack), all on the owning worker's UMEM.

use std::io;

use super::xdp_owner::{self, Ownership, Use};
use super::xsk::{Socket, SocketConfig, Umem, XskStats, MAX_CHUNK_FRAME_LEN};
use super::{Driver, Offloads, PortError, PortSpec, PortStatus};
use crate::limits::VLAN_TAG_LEN;
use crate::wire::HEADER_LEN;

/// An open port: its sockets and what they got.
#[derive(Debug)]
pub struct AfXdpPort {
    /// Sockets, one per receive queue.
    pub sockets: Vec<Socket>,
    /// What was obtained.
    pub status: PortStatus,
    /// Round-robin cursor over sockets for transmit.
    tx_next: usize,
    /// The XDP program libxdp attached, recorded as ours. Declared after
    /// `sockets` so it drops after them: the last socket makes libxdp
    /// detach the program, then this removes the record (and the
    /// program, had libxdp left it).
    owner: Option<Ownership>,
}

/// Number of receive queues of `iface` (from sysfs).
pub fn rx_queues(iface: &str) -> io::Result<u32> {
    let n = std::fs::read_dir(format!("/sys/class/net/{iface}/queues"))?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
        .count();
    Ok(n.max(1) as u32)
}

impl AfXdpPort {
    /// Opens every receive queue of `spec.iface` on `umem`.
    pub fn open(
        spec: &PortSpec,
        umem: &Umem,
        cfg: SocketConfig,
        worker: usize,
    ) -> Result<AfXdpPort, PortError> {
        let ioerr = |source| PortError::Interface {
            iface: spec.iface.clone(),
            source,
        };
        let mtu = super::mtu(&spec.iface)?;
        let queues = rx_queues(&spec.iface).map_err(ioerr)?;
        // Refuses (touching nothing) if another switch or someone else
        // holds the XDP hook; holds the record lock until the program
        // libxdp attaches is recorded.
        let claim = xdp_owner::claim(&spec.iface, Use::AfXdp, spec.replace_foreign_xdp)?;
        let mut sockets = Vec::with_capacity(queues as usize);
        for q in 0..queues {
            sockets.push(Socket::new(umem, &spec.iface, q, cfg)?);
        }
        let owner = claim.record()?;
        let first = &sockets[0];
        let status = PortStatus {
            id: spec.id,
            iface: spec.iface.clone(),
            driver: Driver::AfXdp,
            queues,
            xdp: Some((first.attach(), first.bind())),
            offloads: Offloads::ChecksumRepair,
            mtu,
            max_frame_len: (mtu as usize + HEADER_LEN + VLAN_TAG_LEN).min(MAX_CHUNK_FRAME_LEN),
            frame_capacity: Driver::AfXdp.frame_capacity(),
            worker,
        };
        tracing::debug!(
            port = %spec.id, iface = %spec.iface, queues, xdp = %first.attach(), mode = %first.bind(), mtu,
            "port open"
        );
        Ok(AfXdpPort {
            sockets,
            status,
            tx_next: 0,
            owner,
        })
    }

    /// The id of the XDP program the port recorded as its own, if any.
    pub fn xdp_prog_id(&self) -> Option<u32> {
        self.owner.as_ref().map(Ownership::prog_id)
    }

    /// The socket to transmit on next (round robin over queues).
    #[inline]
    pub fn tx_socket(&mut self) -> &mut Socket {
        let i = self.tx_next % self.sockets.len();
        self.tx_next = self.tx_next.wrapping_add(1);
        &mut self.sockets[i]
    }

    /// Sum of the kernel counters of all sockets.
    pub fn kernel_stats(&self) -> XskStats {
        let mut t = XskStats::default();
        for s in &self.sockets {
            if let Ok(st) = s.statistics() {
                t.add(&st);
            }
        }
        t
    }
}

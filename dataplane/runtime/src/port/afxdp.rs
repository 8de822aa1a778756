//! A switch port on a kernel interface: one AF_XDP socket per receive
//! queue (so no flow lands on a queue nobody reads and slips past the
//! switch into the host stack), all on the owning worker's UMEM.
//!
//! Jumbo frames: a port whose interface MTU makes frames longer than one
//! UMEM chunk ([`MAX_CHUNK_FRAME_LEN`]) runs vswitch's own frags-aware
//! XDP program ([`FragsProgram`]) on multi-buffer sockets, native XDP
//! first, then generic. Where neither works (or the UMEM's first socket
//! could not get multi-buffer), it falls back to libxdp's default program
//! with frames capped at one chunk, and says so in its status and the
//! log. Other ports keep libxdp's default program: the common case stays
//! on the path most used.

use std::io;

use super::xdp_owner::{self, Ownership, Use};
use super::xdp_prog::FragsProgram;
use super::xsk::{
    self, Socket, SocketConfig, Umem, XdpAttach, XskStats, MAX_CHUNK_FRAME_LEN,
    MAX_MULTI_BUFFER_FRAME_LEN,
};
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
    /// Our frags-aware program, when the port runs it. Declared after
    /// `sockets`: they leave its map before it is detached.
    program: Option<FragsProgram>,
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
        let wanted = mtu as usize + HEADER_LEN + VLAN_TAG_LEN;
        let mut program = None;
        let mut sockets = Vec::new();
        if wanted > MAX_CHUNK_FRAME_LEN {
            match open_multi_buffer(spec, umem, cfg, queues) {
                Ok((p, s)) => (program, sockets) = (Some(p), s),
                Err(why) => tracing::warn!(
                    port = %spec.id, iface = %spec.iface, mtu,
                    "multi-buffer AF_XDP not available ({why}): frames are limited to {MAX_CHUNK_FRAME_LEN} bytes"
                ),
            }
        }
        if sockets.is_empty() {
            for q in 0..queues {
                sockets.push(Socket::new(umem, &spec.iface, q, cfg, None)?);
            }
        }
        let owner = claim.record()?;
        let first = &sockets[0];
        let multi_buffer = program.is_some() && first.multi_buffer();
        let max_frame_len = if multi_buffer {
            wanted.min(MAX_MULTI_BUFFER_FRAME_LEN)
        } else {
            wanted.min(MAX_CHUNK_FRAME_LEN)
        };
        let status = PortStatus {
            id: spec.id,
            iface: spec.iface.clone(),
            driver: Driver::AfXdp,
            queues,
            xdp: Some((first.attach(), first.bind())),
            offloads: Offloads::ChecksumRepair,
            mtu,
            max_frame_len,
            multi_buffer,
            frame_capacity: if multi_buffer {
                MAX_MULTI_BUFFER_FRAME_LEN
            } else {
                MAX_CHUNK_FRAME_LEN
            },
            worker,
        };
        tracing::debug!(
            port = %spec.id, iface = %spec.iface, queues, xdp = %first.attach(), mode = %first.bind(), mtu,
            multi_buffer, max_frame_len, "port open"
        );
        Ok(AfXdpPort {
            sockets,
            status,
            tx_next: 0,
            program,
            owner,
        })
    }

    /// Whether the port runs vswitch's own frags-aware XDP program.
    pub fn runs_own_program(&self) -> bool {
        self.program.is_some()
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

/// Attaches our frags-aware program (native XDP first when `cfg` prefers
/// it, then generic) and opens every queue's socket on it. Fails, leaving
/// nothing attached, when no mode works or the UMEM has no multi-buffer;
/// the error says why, for the log.
fn open_multi_buffer(
    spec: &PortSpec,
    umem: &Umem,
    cfg: SocketConfig,
    queues: u32,
) -> Result<(FragsProgram, Vec<Socket>), String> {
    if umem.multi_buffer() == Some(false) {
        return Err("the worker's UMEM was bound without XDP_USE_SG".into());
    }
    let ifindex = xsk::ifindex(&spec.iface).map_err(|e| e.to_string())?;
    let modes: &[XdpAttach] = if cfg.prefer_native {
        &[XdpAttach::Native, XdpAttach::Generic]
    } else {
        &[XdpAttach::Generic]
    };
    let mut why = Vec::new();
    for &mode in modes {
        let program = match FragsProgram::attach(ifindex, mode) {
            Ok(p) => p,
            Err(e) => {
                why.push(format!("{mode} XDP: {e}"));
                continue;
            }
        };
        let mut sockets = Vec::with_capacity(queues as usize);
        let opened = (0..queues).try_for_each(|q| {
            sockets.push(Socket::new(
                umem,
                &spec.iface,
                q,
                cfg,
                Some(program.own_program()),
            )?);
            Ok::<_, xsk::SocketError>(())
        });
        match opened {
            Ok(()) if sockets[0].multi_buffer() => {
                if mode == XdpAttach::Generic && cfg.prefer_native {
                    tracing::warn!(port = %spec.id, iface = %spec.iface, reasons = %why.join("; "),
                        "multi-buffer AF_XDP runs in generic XDP mode: native refused");
                }
                return Ok((program, sockets));
            }
            Ok(()) => return Err("the kernel refused XDP_USE_SG".into()),
            Err(e) => why.push(format!("{mode} XDP: {e}")),
        }
        // Sockets leave the map before the program is detached.
        drop(sockets);
        drop(program);
    }
    Err(why.join("; "))
}

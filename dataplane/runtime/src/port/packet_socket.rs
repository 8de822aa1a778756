//! AF_PACKET port I/O: `recvmmsg` receive (or, configured, a `TPACKET_V2`
//! receive ring) and `sendmmsg` transmit, all carrying a `virtio_net_hdr`
//! so GSO super-frames and partial checksums cross the switch without
//! being segmented or checksummed.
//!
//! Kernel references (the only ones cited here):
//! - `Documentation/networking/packet_mmap.rst` (ring setup, frame layout,
//!   `tp_status` hand-off protocol),
//! - `include/uapi/linux/if_packet.h` (`tpacket2_hdr`, `TP_STATUS_*`,
//!   `PACKET_*` socket options),
//! - `include/uapi/linux/virtio_net.h` (`struct virtio_net_hdr`).
//!
//! # Why libc and not rustix
//!
//! rustix does not cover AF_PACKET rings: it has no `PACKET_RX_RING`,
//! `PACKET_VERSION`, `PACKET_VNET_HDR`, `PACKET_RESERVE`,
//! `PACKET_STATISTICS` or `PACKET_ADD_MEMBERSHIP` options and no
//! `tpacket2_hdr`/`tpacket_req` types, so raw `setsockopt` through libc would
//! be needed anyway. Using libc for the whole path keeps one fd and errno
//! model instead of mixing two.
//!
//! # Receive-slot layout (TPACKET_V2, `SOCK_RAW`, `PACKET_VNET_HDR` on)
//!
//! Ring frames sit several to a 1 MiB block; each frame looks like this:
//!
//! ```text
//! 0             32            52                tp_mac-10  tp_mac           tp_mac+snaplen
//! | tpacket2_hdr | sockaddr_ll | pad + reserve ... | vnet hdr | Ethernet frame | ... slack |
//! ```
//!
//! For an Ethernet device the kernel puts the MAC header at
//! `TPACKET_ALIGN(TPACKET2_HDRLEN + 16) + PACKET_RESERVE + 10 - 14`, i.e.
//! `76 + reserve`, and the 10-byte `virtio_net_hdr` immediately before it
//! (measured on 6.18 in the integration test). Everything between byte 52
//! and `tp_mac` is headroom this module hands to the caller: the vnet
//! header is copied out first, so re-inserting a VLAN tag (4 bytes) or a
//! later tag push may overwrite it.
#![allow(unsafe_code)]

use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use tracing::{debug, trace, warn};
use vswitch_engine::offload::VnetHeader;

/// Size of `struct virtio_net_hdr` (without `num_buffers`), which is what
/// `PACKET_VNET_HDR` = 1 selects (`include/uapi/linux/virtio_net.h`, the
/// legacy header without `num_buffers`).
pub const VNET_HDR_LEN: usize = 10;

/// Most frames one `sendmmsg` call carries; longer slices are split.
pub const MAX_TX_BATCH: usize = 64;

/// Offset of the first byte after `tpacket2_hdr` + `sockaddr_ll` in a slot
/// (`TPACKET2_HDRLEN` in `include/uapi/linux/if_packet.h`). Bytes from here
/// to `tp_mac` are headroom.
const SLOT_DATA_OFF: usize = libc::TPACKET2_HDRLEN;

/// Smallest accepted frame size: a 64 KiB GSO frame plus the slot header,
/// `virtio_net_hdr`, alignment padding and the configured reserve fit.
/// (64 KiB + 4 KiB, a whole number of pages as `tp_block_size` must be.)
pub const MIN_FRAME_SIZE: u32 = 65536 + 4096;

/// 802.1Q TPID, used when the kernel does not report one
/// (`TP_STATUS_VLAN_TPID_VALID` clear, `include/uapi/linux/if_packet.h`).
use vswitch_engine::wire::TPID_8021Q as ETH_P_8021Q;

/// Bytes per ring block (see `PacketSocket::open`).
const RING_BLOCK: u32 = 1 << 20;

/// Offset of ring frame `slot` from the start of the mapping.
fn slot_offset(slot: usize, per_block: usize, block_size: usize, frame_size: usize) -> usize {
    (slot / per_block) * block_size + (slot % per_block) * frame_size
}

/// Value put in `tp_padding[0]` of a slot whose VLAN tag was moved in-line.
const TAG_RESTORED: u8 = 0x7a;

// `tpacket2_hdr` is 32 bytes (`include/uapi/linux/if_packet.h`).
const _: () = assert!(std::mem::size_of::<libc::tpacket2_hdr>() == 32);
const _: () = assert!(VnetHeader::LEN == VNET_HDR_LEN);

/// Accounts for `n` bytes inserted in front of the L3 header (a VLAN tag
/// put back in-line): `csum_start` and `hdr_len` are offsets from the
/// frame start, so they move with the headers.
fn shift_headers(v: &mut VnetHeader, n: u16) {
    if v.flags & VnetHeader::F_NEEDS_CSUM != 0 {
        v.csum_start = v.csum_start.wrapping_add(n);
    }
    if v.hdr_len != 0 {
        v.hdr_len = v.hdr_len.wrapping_add(n);
    }
}

fn vnet_bytes(v: &VnetHeader) -> [u8; VNET_HDR_LEN] {
    let mut b = [0u8; VNET_HDR_LEN];
    v.write(&mut b);
    b
}

/// An outer VLAN tag the kernel stripped and this module put back in-line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VlanTag {
    /// Tag protocol identifier (0x8100 or 0x88a8).
    pub tpid: u16,
    /// Tag control information (PCP, DEI, VID).
    pub tci: u16,
}

/// Errors from opening or querying a packet socket; each names the step.
#[derive(Debug, thiserror::Error)]
pub enum PacketError {
    /// The interface name is not a valid Linux interface name.
    #[error("invalid interface name {0:?}")]
    InvalidName(String),
    /// No interface with this name exists (in this network namespace).
    #[error("no such interface {name:?}: {source}")]
    NoSuchInterface {
        /// The name looked up.
        name: String,
        /// The OS error from `if_nametoindex`.
        #[source]
        source: io::Error,
    },
    /// The ring configuration is unusable.
    #[error("invalid packet ring config: {0}")]
    Config(&'static str),
    /// `socket(AF_PACKET, SOCK_RAW)` failed.
    #[error("socket(AF_PACKET, SOCK_RAW) failed: {0}")]
    Socket(#[source] io::Error),
    /// A `setsockopt` failed.
    #[error("setsockopt({name}) failed: {source}")]
    SetSockOpt {
        /// The option, e.g. `PACKET_RX_RING`.
        name: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A `getsockopt` failed.
    #[error("getsockopt({name}) failed: {source}")]
    GetSockOpt {
        /// The option, e.g. `PACKET_STATISTICS`.
        name: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// `bind` to the interface failed (`ENODEV`: no such ifindex).
    #[error("bind to ifindex {ifindex} failed: {source}")]
    Bind {
        /// The interface index.
        ifindex: u32,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// `mmap` of the receive ring failed.
    #[error("mmap of {len}-byte rx ring failed: {source}")]
    Mmap {
        /// The ring size in bytes.
        len: usize,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// Packet socket settings.
#[derive(Debug, Clone)]
pub struct PacketConfig {
    /// Bytes per ring frame (= per block). A multiple of the page size and
    /// at least [`MIN_FRAME_SIZE`] (the default).
    pub frame_size: u32,
    /// Number of ring frames (rounded up to whole 1 MiB blocks). Default
    /// 512.
    pub frame_count: u32,
    /// `PACKET_RESERVE`: extra headroom in front of each frame, so a VLAN
    /// tag can be put back or pushed in place. Default 64.
    pub reserve: u32,
    /// Join `PACKET_MR_PROMISC` so a real NIC delivers every MAC.
    pub promiscuous: bool,
    /// `PACKET_QDISC_BYPASS`: transmit straight to the driver queue.
    pub qdisc_bypass: bool,
    /// `SO_SNDBUF` (forced when privileged). Bounds in-flight tx bytes.
    pub sndbuf: u32,
    /// `SO_RCVBUF` (forced when privileged).
    pub rcvbuf: u32,
}

impl Default for PacketConfig {
    fn default() -> Self {
        Self {
            // The smallest slot a whole super-frame fits in.
            frame_size: MIN_FRAME_SIZE,
            // No ring: frames are read with recvmmsg (`recv_batch`). A
            // ring's fixed 68 KiB slots last about a millisecond of
            // MTU-sized frames, and its copy runs in softirq on the
            // sender's CPU; the socket buffer holds frames by their bytes
            // and the copy runs on the switch's CPU.
            frame_count: 0,
            reserve: 64,
            promiscuous: true,
            qdisc_bypass: false,
            sndbuf: 4 << 20,
            // About 240 super-frames or 7000 MTU-sized frames.
            rcvbuf: 16 << 20,
        }
    }
}

/// Cumulative `PACKET_STATISTICS` counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PacketStats {
    /// Frames the socket saw, including `drops` (the kernel adds drops to
    /// `tp_packets` before reporting, `include/uapi/linux/if_packet.h`
    /// `struct tpacket_stats`).
    pub packets: u64,
    /// Frames dropped because the ring had no free slot.
    pub drops: u64,
}

/// An AF_PACKET `SOCK_RAW` socket bound to one interface, with a
/// `TPACKET_V2` rx ring and `virtio_net_hdr` on both directions.
pub struct PacketSocket {
    // Field order: the ring is unmapped in `Drop::drop` before `fd` closes.
    ring: NonNull<u8>,
    ring_len: usize,
    frame_size: usize,
    /// Bytes per ring block and frames in each: frame `i` lies at
    /// `(i / per_block) * block_size + (i % per_block) * frame_size`.
    block_size: usize,
    per_block: usize,
    frame_count: usize,
    head: usize,
    ifindex: u32,
    stats: PacketStats,
    meta: Vec<SlotMeta>,
    fd: OwnedFd,
}

// SAFETY: the ring mapping is owned by this value alone (nothing else holds
// the pointer) and is valid from any thread; all access goes through
// `&mut self`, so moving the socket to a worker thread is sound.
unsafe impl Send for PacketSocket {}

impl std::fmt::Debug for PacketSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketSocket")
            .field("fd", &self.fd.as_raw_fd())
            .field("ifindex", &self.ifindex)
            .field("frame_size", &self.frame_size)
            .field("frame_count", &self.frame_count)
            .field("head", &self.head)
            .finish()
    }
}

/// Per-slot facts computed when a batch is taken.
#[derive(Debug, Clone, Copy)]
struct SlotMeta {
    /// Frame start, relative to `SLOT_DATA_OFF`.
    start: u32,
    /// Bytes of the frame in the slot (`tp_snaplen`, + 4 if a tag was put back).
    len: u32,
    /// Length on the wire (`tp_len`, + 4 if a tag was put back).
    wire_len: u32,
    vnet: VnetHeader,
    vlan: Option<VlanTag>,
}

fn os_err() -> io::Error {
    io::Error::last_os_error()
}

fn setsockopt<T>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    opt: libc::c_int,
    name: &'static str,
    val: &T,
) -> Result<(), PacketError> {
    // SAFETY: `val` points to a live `T` and we pass its exact size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            opt,
            (val as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(PacketError::SetSockOpt {
            name,
            source: os_err(),
        });
    }
    Ok(())
}

/// Looks up an interface index by name (in the caller's network namespace).
pub fn ifindex_by_name(name: &str) -> Result<u32, PacketError> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(PacketError::InvalidName(name.to_owned()));
    }
    let c = std::ffi::CString::new(name).map_err(|_| PacketError::InvalidName(name.to_owned()))?;
    // SAFETY: `c` is a valid NUL-terminated string for the call's duration.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        return Err(PacketError::NoSuchInterface {
            name: name.to_owned(),
            source: os_err(),
        });
    }
    Ok(idx)
}

impl PacketSocket {
    /// Opens a packet socket on the interface called `ifname`.
    pub fn open(ifname: &str, cfg: &PacketConfig) -> Result<Self, PacketError> {
        let ifindex = ifindex_by_name(ifname)?;
        Self::open_ifindex(ifindex, cfg)
    }

    /// Opens a packet socket on interface index `ifindex`.
    pub fn open_ifindex(ifindex: u32, cfg: &PacketConfig) -> Result<Self, PacketError> {
        // SAFETY: sysconf has no memory-safety preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let page = if page > 0 { page as u32 } else { 4096 };
        if cfg.frame_size < MIN_FRAME_SIZE || cfg.frame_size % page != 0 {
            return Err(PacketError::Config(
                "frame_size must be a page multiple >= MIN_FRAME_SIZE",
            ));
        }
        // frame_count 0: no ring; frames are read with `recv_batch`.
        let with_ring = cfg.frame_count > 0;
        if cfg.reserve > 4096 {
            return Err(PacketError::Config("reserve must be <= 4096"));
        }
        // Several frames per block: the kernel allocates each block as a
        // power-of-two run of pages, so a block of one 68 KiB frame would
        // cost 128 KiB; a 1 MiB block holds 15 such frames.
        let block = RING_BLOCK.max(cfg.frame_size);
        let per_block = block / cfg.frame_size;
        let blocks = cfg.frame_count.div_ceil(per_block);
        let frame_count = blocks * per_block;
        let ring_len = block as usize * blocks as usize;

        // Protocol 0: receive nothing until `bind` names ETH_P_ALL, so no
        // frame from another interface is queued before the ring and the
        // interface binding exist (packet_mmap.rst: bind after setting up
        // the ring).
        // SAFETY: plain syscall; the result is checked and owned below.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if raw < 0 {
            return Err(PacketError::Socket(os_err()));
        }
        // SAFETY: `raw` is a fresh fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let b = fd.as_fd();

        // Buffers: SO_*BUFFORCE ignores the rmem_max/wmem_max caps but needs
        // CAP_NET_ADMIN; fall back to the capped option.
        let sol = libc::SOL_SOCKET;
        let snd = cfg.sndbuf as libc::c_int;
        let rcv = cfg.rcvbuf as libc::c_int;
        if setsockopt(b, sol, libc::SO_SNDBUFFORCE, "SO_SNDBUFFORCE", &snd).is_err() {
            setsockopt(b, sol, libc::SO_SNDBUF, "SO_SNDBUF", &snd)?;
        }
        if setsockopt(b, sol, libc::SO_RCVBUFFORCE, "SO_RCVBUFFORCE", &rcv).is_err() {
            setsockopt(b, sol, libc::SO_RCVBUF, "SO_RCVBUF", &rcv)?;
        }

        let sp = libc::SOL_PACKET;
        let one: libc::c_int = 1;
        // Must precede PACKET_RX_RING: with a ring mapped the kernel refuses
        // it with EBUSY (measured on 6.18). It makes every slot carry a
        // `struct virtio_net_hdr` (`include/uapi/linux/virtio_net.h`) and
        // lets sends start with one, so GSO frames stay whole.
        setsockopt(b, sp, libc::PACKET_VNET_HDR, "PACKET_VNET_HDR", &one)?;
        if with_ring {
            // TPACKET_V2, not V3: V3 retires a block only when full or on a
            // timer, holding a lone frame back for milliseconds
            // (packet_mmap.rst, "TPACKET_V3 ... block timeout").
            let ver = libc::tpacket_versions::TPACKET_V2 as libc::c_int;
            setsockopt(b, sp, libc::PACKET_VERSION, "PACKET_VERSION", &ver)?;
            // Headroom in front of every frame (packet_mmap.rst,
            // PACKET_RESERVE; must be set before the ring).
            let reserve = cfg.reserve as libc::c_uint;
            setsockopt(b, sp, libc::PACKET_RESERVE, "PACKET_RESERVE", &reserve)?;
        } else {
            // The outer VLAN tag the kernel takes out of band comes as a
            // control message (`struct tpacket_auxdata`,
            // `include/uapi/linux/if_packet.h`).
            setsockopt(b, sp, libc::PACKET_AUXDATA, "PACKET_AUXDATA", &one)?;
        }
        // Never read back what we transmit ourselves
        // (`include/uapi/linux/if_packet.h`, PACKET_IGNORE_OUTGOING).
        setsockopt(
            b,
            sp,
            libc::PACKET_IGNORE_OUTGOING,
            "PACKET_IGNORE_OUTGOING",
            &one,
        )?;
        if cfg.qdisc_bypass {
            // packet_mmap.rst, "PACKET_QDISC_BYPASS".
            setsockopt(
                b,
                sp,
                libc::PACKET_QDISC_BYPASS,
                "PACKET_QDISC_BYPASS",
                &one,
            )?;
        }
        // Frames never straddle blocks; the kernel wants frame_nr to be
        // exactly frames-per-block x block_nr (packet_mmap.rst, "tp_block_size
        // must be a multiple of PAGE_SIZE", "tp_frame_nr must be exactly
        // frames_per_block*tp_block_nr").
        let ring = if with_ring {
            let req = libc::tpacket_req {
                tp_block_size: block,
                tp_block_nr: blocks,
                tp_frame_size: cfg.frame_size,
                tp_frame_nr: frame_count,
            };
            setsockopt(b, sp, libc::PACKET_RX_RING, "PACKET_RX_RING", &req)?;
            // SAFETY: maps the ring the kernel just allocated for this
            // socket; length is exactly block_size * block_nr
            // (packet_mmap.rst, "Mapping and use of the circular buffer").
            // The result is checked.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    ring_len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED | libc::MAP_POPULATE,
                    fd.as_raw_fd(),
                    0,
                )
            };
            if ptr == libc::MAP_FAILED {
                return Err(PacketError::Mmap {
                    len: ring_len,
                    source: os_err(),
                });
            }
            NonNull::new(ptr.cast::<u8>()).ok_or(PacketError::Mmap {
                len: ring_len,
                source: io::Error::from(io::ErrorKind::InvalidData),
            })?
        } else {
            NonNull::dangling()
        };
        // From here on `sock`'s Drop unmaps and closes on any error.
        let sock = Self {
            ring,
            ring_len: if with_ring { ring_len } else { 0 },
            frame_size: cfg.frame_size as usize,
            frame_count: if with_ring { frame_count as usize } else { 0 },
            block_size: block as usize,
            per_block: per_block as usize,
            head: 0,
            ifindex,
            stats: PacketStats::default(),
            meta: Vec::with_capacity(cfg.frame_count as usize),
            fd,
        };

        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = ifindex as libc::c_int;
        // SAFETY: `sll` is a valid sockaddr_ll and we pass its size.
        let rc = unsafe {
            libc::bind(
                sock.fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(PacketError::Bind {
                ifindex,
                source: os_err(),
            });
        }

        if cfg.promiscuous {
            // SAFETY: packet_mreq is plain data; all-zero is a valid value.
            let mut mr: libc::packet_mreq = unsafe { std::mem::zeroed() };
            mr.mr_ifindex = ifindex as libc::c_int;
            mr.mr_type = libc::PACKET_MR_PROMISC as libc::c_ushort;
            // Membership is dropped by the kernel when the socket closes.
            setsockopt(
                sock.fd.as_fd(),
                sp,
                libc::PACKET_ADD_MEMBERSHIP,
                "PACKET_ADD_MEMBERSHIP",
                &mr,
            )?;
        }
        debug!(
            ifindex,
            frame_size = cfg.frame_size,
            frame_count = cfg.frame_count,
            reserve = cfg.reserve,
            "AF_PACKET port open"
        );
        Ok(sock)
    }

    /// The interface index this socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Number of ring slots.
    pub fn frame_count(&self) -> usize {
        self.frame_count
    }

    fn slot_ptr(&self, slot: usize) -> *mut u8 {
        debug_assert!(slot < self.frame_count);
        // SAFETY: slot < frame_count, so the offset stays inside the
        // `blocks * block_size`-byte mapping (frames never straddle blocks).
        unsafe {
            self.ring.as_ptr().add(slot_offset(
                slot,
                self.per_block,
                self.block_size,
                self.frame_size,
            ))
        }
    }

    fn slot_status(&self, slot: usize) -> &AtomicU32 {
        // SAFETY: each slot starts with a page-aligned `tpacket2_hdr` whose
        // first field is the u32 `tp_status` the kernel also accesses
        // atomically; the mapping outlives `&self`.
        unsafe { AtomicU32::from_ptr(self.slot_ptr(slot).cast::<u32>()) }
    }

    /// Whether the slot at the ring head holds a frame (a cheap check to
    /// skip `poll(2)` when work is already waiting).
    pub fn rx_ready(&self) -> bool {
        if self.frame_count == 0 {
            return false;
        }
        // Acquire pairs with the kernel's write barrier before it sets
        // TP_STATUS_USER (packet_mmap.rst, "the status ... memory barrier").
        self.slot_status(self.head).load(Ordering::Acquire) & libc::TP_STATUS_USER != 0
    }

    /// Takes up to `max` received frames (clamped to the ring size) from the
    /// ring head, without copying. The frames stay in their slots until the
    /// returned batch is dropped or released.
    ///
    /// An outer VLAN tag the kernel stripped (`TP_STATUS_VLAN_VALID`) is put
    /// back in-line in place, and the vnet header adjusted to match.
    pub fn rx_batch(&mut self, max: usize) -> RxBatch<'_> {
        let max = max.min(self.frame_count);
        let mut meta = std::mem::take(&mut self.meta);
        meta.clear();
        let mut slot = self.head;
        while meta.len() < max {
            let status = self.slot_status(slot).load(Ordering::Acquire);
            if status & libc::TP_STATUS_USER == 0 {
                break;
            }
            meta.push(self.parse_slot(slot, status));
            slot = (slot + 1) % self.frame_count;
        }
        self.meta = meta;
        let first = self.head;
        let count = self.meta.len();
        RxBatch {
            sock: self,
            first,
            count,
        }
    }

    /// Reads a user-owned slot's header and vnet header and puts a stripped
    /// VLAN tag back in-line.
    fn parse_slot(&mut self, slot: usize, status: u32) -> SlotMeta {
        let base = self.slot_ptr(slot);
        // SAFETY: the slot is user-owned (TP_STATUS_USER observed with
        // Acquire), so the kernel does not write it; the header is the first
        // 32 bytes of the page-aligned slot.
        let h = unsafe { base.cast::<libc::tpacket2_hdr>().read() };
        let mac = usize::from(h.tp_mac);
        let mut snap = h.tp_snaplen as usize;
        let mut wire = h.tp_len as usize;
        if mac < SLOT_DATA_OFF + VNET_HDR_LEN || mac > self.frame_size {
            warn!(
                slot,
                tp_mac = mac,
                "packet ring slot with impossible tp_mac"
            );
            return SlotMeta {
                start: 0,
                len: 0,
                wire_len: wire.max(1) as u32,
                vnet: VnetHeader::default(),
                vlan: None,
            };
        }
        if mac + snap > self.frame_size {
            warn!(slot, tp_mac = mac, snap, "packet ring slot overruns frame");
            snap = self.frame_size - mac;
            wire = wire.max(snap + 1);
        }
        let mut vh = [0u8; VNET_HDR_LEN];
        // SAFETY: `mac - 10 >= SLOT_DATA_OFF` was checked, so the 10 bytes
        // lie inside this user-owned slot. The kernel writes the vnet header
        // at tp_mac - sizeof(struct virtio_net_hdr) (`virtio_net.h`; the
        // integration test checks csum_start/offset read from there).
        unsafe { std::ptr::copy_nonoverlapping(base.add(mac - VNET_HDR_LEN), vh.as_mut_ptr(), 10) };
        let mut vnet = VnetHeader::parse(&vh).unwrap_or_default();
        let mut start = mac;
        let mut vlan = None;
        let tag = (status & libc::TP_STATUS_VLAN_VALID != 0).then_some(VlanTag {
            tpid: if status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                h.tp_vlan_tpid
            } else {
                ETH_P_8021Q
            },
            tci: h.tp_vlan_tci,
        });
        if h.tp_padding[0] == TAG_RESTORED {
            // Re-delivered slot of a leaked batch: the header already
            // describes the frame with its tag in-line.
            vlan = tag;
        } else if let (Some(tag), true) = (tag, snap >= 12) {
            // The kernel hands raw receivers the outer tag out of band
            // (`tp_vlan_tci`/`tp_vlan_tpid`, TP_STATUS_VLAN_VALID and
            // TP_STATUS_VLAN_TPID_VALID in `include/uapi/linux/if_packet.h`);
            // the switch wants it in-line, 4 bytes after the MAC addresses.
            if mac < SLOT_DATA_OFF + VNET_HDR_LEN + 4 {
                warn!(slot, tp_mac = mac, "no headroom to restore VLAN tag");
                return SlotMeta {
                    start: 0,
                    len: 0,
                    wire_len: wire.max(1) as u32,
                    vnet,
                    vlan: None,
                };
            }
            start = mac - 4;
            snap += 4;
            wire += 4;
            shift_headers(&mut vnet, 4);
            vlan = Some(tag);
            let hp = base.cast::<libc::tpacket2_hdr>();
            // SAFETY: all writes stay inside this user-owned slot: the MAC
            // move covers [mac-4, mac+12) (snap >= 12 and mac + snap <=
            // frame_size), the vnet header goes to [mac-14, mac-4), above
            // SLOT_DATA_OFF by the check above, and the header fields are in
            // the slot's own `tpacket2_hdr`. `copy` handles the overlap. The
            // header is rewritten to describe the restored frame and marked
            // in `tp_padding` (which the kernel zeroes on every fill,
            // `include/uapi/linux/if_packet.h`), so parsing the slot again,
            // should a batch be leaked, yields the same frame instead of
            // inserting a second tag.
            unsafe {
                std::ptr::copy(base.add(mac), base.add(start), 12);
                let t = base.add(start + 12);
                std::ptr::copy_nonoverlapping(tag.tpid.to_be_bytes().as_ptr(), t, 2);
                std::ptr::copy_nonoverlapping(tag.tci.to_be_bytes().as_ptr(), t.add(2), 2);
                let v = vnet_bytes(&vnet);
                std::ptr::copy_nonoverlapping(v.as_ptr(), base.add(start - VNET_HDR_LEN), 10);
                std::ptr::addr_of_mut!((*hp).tp_mac).write(start as u16);
                std::ptr::addr_of_mut!((*hp).tp_snaplen).write(snap as u32);
                std::ptr::addr_of_mut!((*hp).tp_len).write(wire as u32);
                std::ptr::addr_of_mut!((*hp).tp_padding[0]).write(TAG_RESTORED);
            }
        }
        SlotMeta {
            start: (start - SLOT_DATA_OFF) as u32,
            len: snap as u32,
            wire_len: wire as u32,
            vnet,
            vlan,
        }
    }

    /// Receives up to `bufs.len()` (at most [`MAX_TX_BATCH`]) frames with one
    /// `recvmmsg`, for a socket opened without a ring (`frame_count` 0):
    /// frame `i` lands in `bufs[i]` at offset `headroom` (its virtio-net
    /// header read apart) and `out[i]` says where it is. An outer VLAN tag
    /// the kernel took out of band (`PACKET_AUXDATA`) is put back in-line,
    /// in 4 bytes of the headroom, the header's offsets moved with it.
    /// Returns how many frames arrived (0 when none is waiting).
    ///
    /// The copy into `bufs` runs here, on the caller's CPU, and the
    /// socket's receive buffer holds frames by their bytes: unlike a ring
    /// of fixed slots, it holds many small frames as well as a few
    /// super-frames.
    pub fn recv_batch(
        &mut self,
        bufs: &mut [&mut [u8]],
        headroom: usize,
        out: &mut [Received],
    ) -> usize {
        const AUX_WORDS: usize = 8;
        let n = bufs.len().min(out.len()).min(MAX_TX_BATCH);
        if n == 0 || headroom < 4 {
            return 0;
        }
        let mut vnets = [[0u8; VNET_HDR_LEN]; MAX_TX_BATCH];
        // u64 words: control messages must be aligned for cmsghdr.
        let mut aux = [[0u64; AUX_WORDS]; MAX_TX_BATCH];
        let mut iov = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; 2 * MAX_TX_BATCH];
        // SAFETY: mmsghdr is plain data; all-zero is a valid value.
        let mut msgs: [libc::mmsghdr; MAX_TX_BATCH] = unsafe { std::mem::zeroed() };
        for i in 0..n {
            let data = &mut bufs[i][headroom..];
            iov[2 * i] = libc::iovec {
                iov_base: vnets[i].as_mut_ptr().cast(),
                iov_len: VNET_HDR_LEN,
            };
            iov[2 * i + 1] = libc::iovec {
                iov_base: data.as_mut_ptr().cast(),
                iov_len: data.len(),
            };
            let m = &mut msgs[i].msg_hdr;
            m.msg_iov = iov[2 * i..].as_mut_ptr();
            m.msg_iovlen = 2;
            m.msg_control = aux[i].as_mut_ptr().cast();
            m.msg_controllen = std::mem::size_of_val(&aux[i]) as _;
        }
        // SAFETY: every msghdr points at two iovecs into live, distinct
        // buffers (`vnets[i]`, `bufs[i]`) and at its own control buffer,
        // all valid for the call; the kernel writes at most their lengths.
        let got = unsafe {
            libc::recvmmsg(
                self.fd.as_raw_fd(),
                msgs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if got <= 0 {
            return 0;
        }
        let got = got as usize;
        for i in 0..got {
            let m = &msgs[i];
            let total = m.msg_len as usize;
            let mut len = total.saturating_sub(VNET_HDR_LEN);
            let truncated = m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            let mut vnet = VnetHeader::parse(&vnets[i]).unwrap_or_default();
            let mut start = headroom;
            // SAFETY: the control buffer is ours and the kernel filled in
            // `msg_controllen` bytes of it; the CMSG_* helpers stay inside.
            let tag = unsafe { vlan_of(&m.msg_hdr) };
            if let (Some(tag), true) = (tag, len >= 12) {
                let buf = &mut bufs[i];
                buf.copy_within(headroom..headroom + 12, headroom - 4);
                buf[headroom + 8..headroom + 10].copy_from_slice(&tag.tpid.to_be_bytes());
                buf[headroom + 10..headroom + 12].copy_from_slice(&tag.tci.to_be_bytes());
                start -= 4;
                len += 4;
                shift_headers(&mut vnet, 4);
            }
            out[i] = Received {
                start,
                len,
                truncated,
                vnet,
            };
        }
        got
    }

    /// Sends `frames` with `sendmmsg`, each as `[vnet header, frame bytes]`,
    /// up to [`MAX_TX_BATCH`] per call. Frames are sent as-is (in-line VLAN
    /// tags stay in the data).
    ///
    /// Stops at the first back-pressure error (`EAGAIN`, `ENOBUFS`) or
    /// socket-level error; frames the kernel rejects individually
    /// (`EINVAL`, `EMSGSIZE`, ...) are skipped and counted. Frames after
    /// `sent + rejected` were not attempted.
    pub fn send_batch(&mut self, frames: &[TxFrame<'_>]) -> TxReport {
        let mut rep = TxReport::default();
        let fd = self.fd.as_raw_fd();
        let mut done = 0;
        while done < frames.len() {
            let chunk = &frames[done..frames.len().min(done + MAX_TX_BATCH)];
            let mut iov = [libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            }; 2 * MAX_TX_BATCH];
            // SAFETY: mmsghdr is plain data; all-zero is a valid value.
            let mut msgs: [libc::mmsghdr; MAX_TX_BATCH] = unsafe { std::mem::zeroed() };
            for (i, f) in chunk.iter().enumerate() {
                iov[2 * i] = libc::iovec {
                    iov_base: f.vnet.as_ptr().cast_mut().cast(),
                    iov_len: VNET_HDR_LEN,
                };
                iov[2 * i + 1] = libc::iovec {
                    iov_base: f.data.as_ptr().cast_mut().cast(),
                    iov_len: f.data.len(),
                };
            }
            for (i, m) in msgs.iter_mut().take(chunk.len()).enumerate() {
                m.msg_hdr.msg_iov = iov[2 * i..].as_mut_ptr();
                m.msg_hdr.msg_iovlen = 2;
            }
            // SAFETY: every msghdr points at two iovecs in `iov`, which point
            // at header bytes and frames borrowed from `frames`, all alive
            // for the call; the kernel only reads them (send direction).
            let rc = unsafe {
                libc::sendmmsg(
                    fd,
                    msgs.as_mut_ptr(),
                    chunk.len() as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if rc > 0 {
                rep.sent += rc as usize;
                done += rc as usize;
                continue;
            }
            let err = os_err();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                // The first remaining frame is bad by itself: skip it.
                Some(libc::EINVAL | libc::EMSGSIZE | libc::EFAULT | libc::EPROTO) => {
                    trace!(ifindex = self.ifindex, %err, len = chunk[0].data.len(), "tx frame rejected");
                    rep.rejected += 1;
                    done += 1;
                }
                _ => {
                    rep.error = Some(err);
                    break;
                }
            }
        }
        rep
    }

    /// Cumulative `PACKET_STATISTICS`. The kernel resets its counters on
    /// every read (`struct tpacket_stats`, `include/uapi/linux/if_packet.h`); this accumulates them so
    /// callers see monotonic totals.
    pub fn stats(&mut self) -> Result<PacketStats, PacketError> {
        let mut st = libc::tpacket_stats {
            tp_packets: 0,
            tp_drops: 0,
        };
        let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
        // SAFETY: `st` and `len` are valid for writes of the sizes given.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut st as *mut libc::tpacket_stats).cast(),
                &mut len,
            )
        };
        if rc < 0 {
            return Err(PacketError::GetSockOpt {
                name: "PACKET_STATISTICS",
                source: os_err(),
            });
        }
        self.stats.packets += u64::from(st.tp_packets);
        self.stats.drops += u64::from(st.tp_drops);
        Ok(self.stats)
    }
}

impl AsFd for PacketSocket {
    /// The fd for `poll(2)`: `POLLIN` when the ring head slot holds a frame.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for PacketSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Drop for PacketSocket {
    fn drop(&mut self) {
        if self.ring_len == 0 {
            // No ring was mapped (frames were read with recv_batch).
            return;
        }
        // SAFETY: `ring`/`ring_len` are exactly the mapping made in `open`;
        // no `RxBatch` can be alive (it borrows `self`), so nothing refers
        // to it any more. The fd closes afterwards when `fd` drops.
        let rc = unsafe { libc::munmap(self.ring.as_ptr().cast(), self.ring_len) };
        if rc < 0 {
            warn!(ifindex = self.ifindex, err = %os_err(), "munmap of packet ring failed");
        }
    }
}

/// Where [`PacketSocket::recv_batch`] put one frame.
#[derive(Debug, Clone, Copy, Default)]
pub struct Received {
    /// Offset of the frame in its buffer (the headroom, less 4 when a VLAN
    /// tag was put back).
    pub start: usize,
    /// Bytes of the frame in the buffer.
    pub len: usize,
    /// The buffer was too small for the frame: drop and count it.
    pub truncated: bool,
    /// Its virtio-net header (offsets moved with a restored tag).
    pub vnet: VnetHeader,
}

/// The outer VLAN tag of a received message, from its `PACKET_AUXDATA`
/// control message (`struct tpacket_auxdata`, TP_STATUS_VLAN_VALID and
/// TP_STATUS_VLAN_TPID_VALID in `include/uapi/linux/if_packet.h`).
///
/// # Safety
/// `m.msg_control` points at `m.msg_controllen` bytes the kernel filled.
unsafe fn vlan_of(m: &libc::msghdr) -> Option<VlanTag> {
    // SAFETY: as the caller promises; CMSG_* walk within msg_controllen.
    let mut c = unsafe { libc::CMSG_FIRSTHDR(m) };
    while !c.is_null() {
        // SAFETY: non-null cmsg inside the control buffer.
        let h = unsafe { &*c };
        if h.cmsg_level == libc::SOL_PACKET && h.cmsg_type == libc::PACKET_AUXDATA {
            // SAFETY: the payload of a PACKET_AUXDATA message is a
            // tpacket_auxdata; read unaligned as a copy.
            let aux: libc::tpacket_auxdata =
                unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(c).cast()) };
            if aux.tp_status & libc::TP_STATUS_VLAN_VALID == 0 {
                return None;
            }
            let tpid = if aux.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                aux.tp_vlan_tpid
            } else {
                ETH_P_8021Q
            };
            return Some(VlanTag {
                tpid,
                tci: aux.tp_vlan_tci,
            });
        }
        // SAFETY: as above.
        c = unsafe { libc::CMSG_NXTHDR(m, c) };
    }
    None
}

/// One frame to transmit: a vnet header and the frame bytes, which may live
/// anywhere (another port's ring slot, a copy buffer).
#[derive(Debug, Clone, Copy)]
pub struct TxFrame<'a> {
    /// The `virtio_net_hdr` bytes sent in front of the frame (all-zero:
    /// plain frame, no offloads).
    pub vnet: [u8; VNET_HDR_LEN],
    /// The Ethernet frame, VLAN tags in-line.
    pub data: &'a [u8],
}

/// Outcome of [`PacketSocket::send_batch`].
#[derive(Debug, Default)]
pub struct TxReport {
    /// Frames the kernel accepted.
    pub sent: usize,
    /// Frames the kernel refused individually (skipped).
    pub rejected: usize,
    /// The error that stopped the batch early, if any; frames after
    /// `sent + rejected` were not sent. `EAGAIN`/`ENOBUFS` mean back-pressure.
    pub error: Option<io::Error>,
}

impl TxReport {
    /// Whether the batch stopped on back-pressure (`EAGAIN`/`ENOBUFS`).
    pub fn would_block(&self) -> bool {
        matches!(
            self.error.as_ref().and_then(io::Error::raw_os_error),
            Some(libc::EAGAIN | libc::ENOBUFS)
        )
    }

    /// Whether the batch stopped because the interface is down or gone
    /// ([`super::is_link_error`]).
    pub fn link_down(&self) -> bool {
        self.error.as_ref().is_some_and(super::is_link_error)
    }
}

/// A batch of received frames still in their ring slots. Dropping it (or
/// calling [`RxBatch::release`]) hands every slot back to the kernel.
#[must_use = "dropping the batch releases its frames unread"]
pub struct RxBatch<'a> {
    sock: &'a mut PacketSocket,
    first: usize,
    count: usize,
}

impl std::fmt::Debug for RxBatch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RxBatch")
            .field("first", &self.first)
            .field("count", &self.count)
            .finish()
    }
}

impl<'a> RxBatch<'a> {
    /// Number of frames in the batch.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// All frames of the batch, as disjoint mutable windows; they may be
    /// held at the same time (e.g. to build one `send_batch`).
    pub fn frames(&mut self) -> RxFrames<'_> {
        RxFrames {
            ring: self.sock.ring,
            frame_size: self.sock.frame_size,
            frame_count: self.sock.frame_count,
            block_size: self.sock.block_size,
            per_block: self.sock.per_block,
            first: self.first,
            meta: &self.sock.meta[..self.count],
            idx: 0,
            _slots: PhantomData,
        }
    }

    /// Hands all slots back to the kernel now (same as dropping).
    pub fn release(self) {}
}

impl Drop for RxBatch<'_> {
    fn drop(&mut self) {
        let s = &mut *self.sock;
        for i in 0..self.count {
            let slot = (self.first + i) % s.frame_count;
            // Release orders our reads and in-place writes of the slot
            // before the kernel may reuse it (packet_mmap.rst: set
            // tp_status = TP_STATUS_KERNEL to return the frame).
            s.slot_status(slot)
                .store(libc::TP_STATUS_KERNEL, Ordering::Release);
        }
        s.head = (self.first + self.count) % s.frame_count;
    }
}

/// Iterator over an [`RxBatch`]'s frames.
#[derive(Debug)]
pub struct RxFrames<'b> {
    ring: NonNull<u8>,
    frame_size: usize,
    frame_count: usize,
    block_size: usize,
    per_block: usize,
    first: usize,
    meta: &'b [SlotMeta],
    idx: usize,
    _slots: PhantomData<&'b mut [u8]>,
}

impl<'b> Iterator for RxFrames<'b> {
    type Item = RxFrame<'b>;

    fn next(&mut self) -> Option<RxFrame<'b>> {
        let m = *self.meta.get(self.idx)?;
        let slot = (self.first + self.idx) % self.frame_count;
        self.idx += 1;
        // SAFETY: the slot is inside the mapping and user-owned until the
        // batch (mutably borrowed for 'b) is dropped; each slot is yielded
        // once per `frames()` call, and `frames()` takes `&mut RxBatch`, so
        // the windows never alias. The window starts after the slot header,
        // which only `RxBatch::drop` touches (after 'b ends).
        let buf = unsafe {
            std::slice::from_raw_parts_mut(
                self.ring.as_ptr().add(
                    slot_offset(slot, self.per_block, self.block_size, self.frame_size)
                        + SLOT_DATA_OFF,
                ),
                self.frame_size - SLOT_DATA_OFF,
            )
        };
        Some(RxFrame {
            buf,
            start: m.start as usize,
            len: m.len as usize,
            wire_len: m.wire_len as usize,
            vnet: m.vnet,
            vlan: m.vlan,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.meta.len() - self.idx;
        (n, Some(n))
    }
}

impl ExactSizeIterator for RxFrames<'_> {}

/// A received frame: a mutable window `buf[start..start + len]` into its
/// ring slot, with headroom before `start` and tailroom after it.
#[derive(Debug)]
pub struct RxFrame<'b> {
    buf: &'b mut [u8],
    start: usize,
    len: usize,
    wire_len: usize,
    vnet: VnetHeader,
    vlan: Option<VlanTag>,
}

impl<'b> RxFrame<'b> {
    /// The frame bytes (outer VLAN tag in-line if there was one).
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }

    /// The frame bytes, writable in place.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }

    /// The whole writable slot area; the frame is at `start()..start()+len()`.
    pub fn buf_mut(&mut self) -> &mut [u8] {
        self.buf
    }

    /// Offset of the frame in [`RxFrame::buf_mut`] (= usable headroom).
    pub fn start(&self) -> usize {
        self.start
    }

    /// Bytes of the frame present in the slot.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the slot holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Length of the frame as received (`tp_len`, + 4 for a restored tag).
    pub fn wire_len(&self) -> usize {
        self.wire_len
    }

    /// The ring cut the frame short (`tp_snaplen < tp_len`): drop and count
    /// it, never forward it.
    pub fn is_truncated(&self) -> bool {
        self.len < self.wire_len
    }

    /// The frame's `virtio_net_hdr` (adjusted for a restored tag).
    pub fn vnet(&self) -> VnetHeader {
        self.vnet
    }

    /// The outer tag the kernel stripped and that was put back in-line.
    pub fn restored_vlan(&self) -> Option<VlanTag> {
        self.vlan
    }

    /// Moves the window to `buf[start..start + len]` (after pushing or
    /// popping headers in place). Returns `false`, changing nothing, if it
    /// does not fit in the slot.
    pub fn set_window(&mut self, start: usize, len: usize) -> bool {
        match start.checked_add(len) {
            Some(end) if end <= self.buf.len() => {
                self.start = start;
                self.len = len;
                true
            }
            _ => false,
        }
    }

    /// The slot's bytes, the frame's window in them, and its length:
    /// what a switch builds its own frame view from, for as long as the
    /// batch borrow lasts.
    pub fn into_parts(self) -> (&'b mut [u8], usize, usize) {
        (self.buf, self.start, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restored_tag_moves_the_offsets() {
        let mut v = VnetHeader::parse(&[1, 1, 66, 0, 0xa8, 5, 34, 0, 16, 0]).unwrap();
        assert_eq!(v.gso_size, 1448);
        shift_headers(&mut v, 4);
        assert_eq!((v.csum_start, v.csum_offset, v.hdr_len), (38, 16, 70));
        assert_eq!(vnet_bytes(&v), [1, 1, 70, 0, 0xa8, 5, 38, 0, 16, 0]);
        let mut d = VnetHeader::default();
        shift_headers(&mut d, 4);
        assert_eq!(d, VnetHeader::default());
    }

    #[test]
    fn missing_interface_is_clear() {
        let e = PacketSocket::open("vspk-nope0", &PacketConfig::default()).unwrap_err();
        assert!(matches!(e, PacketError::NoSuchInterface { .. }), "{e}");
        assert!(e.to_string().contains("vspk-nope0"));
        let e = PacketSocket::open("this-name-is-too-long", &PacketConfig::default()).unwrap_err();
        assert!(matches!(e, PacketError::InvalidName(_)));
    }

    #[test]
    fn bad_config_rejected() {
        let cfg = PacketConfig {
            frame_size: 4096,
            ..PacketConfig::default()
        };
        assert!(matches!(
            PacketSocket::open_ifindex(1, &cfg),
            Err(PacketError::Config(_))
        ));
    }
}

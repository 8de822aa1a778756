//! The one place that touches AF_XDP: a UMEM and its sockets, over
//! libxdp (through `libxdp-sys`). Everything unsafe about rings and frame
//! memory is fenced in here; the rest of the engine sees UMEM offsets,
//! lengths and `&mut [u8]` chunks handed out under an ownership rule.
//!
//! Why libxdp-sys and not the xsk-rs wrapper: xsk-rs keeps a descriptor's
//! address private, so a frame can only be sent from where it was
//! received. Pushing an 802.1Q tag into the headroom needs "send from
//! address − 4", and sending one frame to several ports needs the same
//! address on several rings; both are plain descriptor writes here.
//!
//! Ownership rule for frame memory: a chunk belongs either to the kernel
//! (between a fill-ring or tx-ring submit and the matching rx or
//! completion-ring read) or to exactly one owner in userspace (a worker's
//! free list, a batch, a hand-off ring). The rule is kept by values, not
//! by callers' care: a slice over a chunk comes only from a
//! [`Chunk`] ([`Umem::chunk_mut`], [`Umem::chunk`]),
//! which only the owning worker's [`FramePool`](super::chunks::FramePool)
//! makes, one at a time per chunk; a fill ring takes only chunks that pool
//! gave up ([`ForFill`]); a lent chunk is written only under a claim
//! ([`UmemArea::write_claimed`]).
//!
//! Rings follow reserve → write → commit (and peek → read → release) with
//! `#[must_use]` guards, so a reserved slot cannot be forgotten.

#![allow(unsafe_code)]

use std::cell::{Cell, UnsafeCell};
use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;
use std::ptr::{self, NonNull};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use libxdp_sys as sys;
use vswitch_engine::PortSet;

use super::chunks::{Chunk, ForFill};
use crate::exchange::{Claim, Exchange, Refused};

/// Bytes per UMEM chunk (one frame buffer). 4096 is one page and the
/// largest chunk that native XDP on veth accepts (its peer MTU caps at
/// 3506 with one).
pub const FRAME_SIZE: usize = 4096;

/// Bytes reserved in front of received data: the kernel's
/// `XDP_PACKET_HEADROOM`. The engine needs 4 per pushed 802.1Q tag.
pub const HEADROOM: usize = 256;

/// Largest frame (without FCS) a chunk holds after its headroom.
pub const MAX_CHUNK_FRAME_LEN: usize = FRAME_SIZE - HEADROOM;

/// Most buffers (descriptors) one frame may span with multi-buffer
/// AF_XDP: the kernel's own bound, `MAX_SKB_FRAGS` (17) fragments after
/// the first buffer (net/xdp/xsk.c refuses longer transmit chains).
pub const MAX_FRAME_BUFFERS: usize = 18;

/// Largest frame (without FCS) a multi-buffer port carries: the largest
/// MTU a port may have (9216) with its Ethernet header and one 802.1Q
/// tag; three chunks hold it.
pub const MAX_MULTI_BUFFER_FRAME_LEN: usize = 9216 + 14 + 4;

/// `XDP_USE_SG` (bind flag) and `XDP_PKT_CONTD` (descriptor option) from
/// linux/if_xdp.h (newer than the bindings): a socket bound with the flag
/// receives and sends a frame as a chain of descriptors, each but the
/// last marked "continued".
const XDP_USE_SG: u16 = 1 << 4;
const XDP_PKT_CONTD: u32 = 1 << 0;

/// `XDP_FLAGS_*` from linux/if_link.h (not in the bindings).
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
const XDP_FLAGS_HW_MODE: u32 = 1 << 3;

/// Where the XDP program that feeds a socket runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpAttach {
    /// In the driver (native XDP).
    Native,
    /// In the generic network stack path (SKB mode).
    Generic,
}

/// How frames move between the NIC and the UMEM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpBind {
    /// The kernel copies frames in and out of the UMEM.
    Copy,
    /// The NIC DMAs straight into the UMEM.
    ZeroCopy,
}

impl std::fmt::Display for XdpAttach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            XdpAttach::Native => "native",
            XdpAttach::Generic => "generic",
        })
    }
}

impl std::fmt::Display for XdpBind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            XdpBind::Copy => "copy",
            XdpBind::ZeroCopy => "zero-copy",
        })
    }
}

/// Kernel counters of one socket (`XDP_STATISTICS`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XskStats {
    /// Frames dropped for reasons other than a full ring or empty fill ring.
    pub rx_dropped: u64,
    /// Invalid descriptors on the rx side.
    pub rx_invalid_descs: u64,
    /// Invalid descriptors on the tx side.
    pub tx_invalid_descs: u64,
    /// Frames dropped because the rx ring was full.
    pub rx_ring_full: u64,
    /// Times the fill ring was empty when a frame arrived.
    pub rx_fill_ring_empty_descs: u64,
    /// Times the tx ring was empty when the kernel looked.
    pub tx_ring_empty_descs: u64,
}

impl XskStats {
    /// Field-wise sum.
    pub fn add(&mut self, o: &XskStats) {
        self.rx_dropped += o.rx_dropped;
        self.rx_invalid_descs += o.rx_invalid_descs;
        self.tx_invalid_descs += o.tx_invalid_descs;
        self.rx_ring_full += o.rx_ring_full;
        self.rx_fill_ring_empty_descs += o.rx_fill_ring_empty_descs;
        self.tx_ring_empty_descs += o.tx_ring_empty_descs;
    }
}

fn neg_errno(rc: i32) -> io::Error {
    io::Error::from_raw_os_error(-rc)
}

/// The memory behind a UMEM: `frames` chunks of [`FRAME_SIZE`] bytes in
/// one anonymous mapping, and the [`Exchange`] through which its worker
/// lends chunks to other workers. It is separate from the kernel
/// registration ([`Umem`]) because it must outlive it: other workers write
/// hand-off frames into it, so it stays mapped until every worker is gone,
/// and a worker that rebuilds its UMEM registers the same memory again.
pub struct UmemArea {
    ptr: NonNull<u8>,
    len: usize,
    frames: u32,
    /// Unique per area for the process's life: a [`Chunk`] names its
    /// area by it, so a chunk of one area never opens another.
    id: u64,
    exchange: Exchange<Written>,
}

/// The next [`UmemArea`] id.
static NEXT_AREA: AtomicU64 = AtomicU64::new(1);

/// What a worker says about a chunk of another worker's UMEM it wrote a
/// frame into (at [`HEADROOM`]).
#[derive(Debug, Clone, Copy)]
pub struct Written {
    /// The frame's length.
    pub len: u32,
    /// The owner's ports to send it on.
    pub ports: PortSet,
}

// SAFETY: the mapping is plain memory owned by this struct until Drop; who
// may touch which chunk is governed by the ownership rule in the module
// docs and the exchange's contract, not by which thread holds the struct.
unsafe impl Send for UmemArea {}
// SAFETY: shared access only forms slices over chunks their holder owns
// (the module docs' rule): `write_claimed` only under a live claim of this
// area's exchange, `Umem::chunk_mut` only through the owning worker's
// `Chunk` values (port/chunks.rs), which never name a lent chunk.
unsafe impl Sync for UmemArea {}

impl std::fmt::Debug for UmemArea {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UmemArea")
            .field("frames", &self.frames)
            .field("exchange", &self.exchange)
            .finish()
    }
}

impl UmemArea {
    /// Maps `frames` chunks (lazily backed: pages are touched on use),
    /// with an exchange that lends up to `donations` of them at once and
    /// queues up to `inbox` written ones.
    pub fn new(frames: u32, donations: usize, inbox: usize) -> io::Result<UmemArea> {
        let len = frames as usize * FRAME_SIZE;
        // SAFETY: an anonymous private mapping: no file, no existing memory
        // is affected; the result is checked before use.
        let ptr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(ptr as *mut u8).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(UmemArea {
            ptr,
            len,
            frames,
            id: NEXT_AREA.fetch_add(1, Ordering::Relaxed),
            exchange: Exchange::new(donations, inbox),
        })
    }

    /// Number of chunks.
    pub fn frames(&self) -> u32 {
        self.frames
    }

    /// The area's id (unique in the process).
    pub(super) fn id(&self) -> u64 {
        self.id
    }

    /// The exchange that lends this area's chunks. Only port code sees it:
    /// the owner's side goes through its [`FramePool`](super::chunks::FramePool)
    /// (a raw donation could lend a chunk the owner still uses), peers use
    /// [`UmemArea::claim`].
    pub(super) fn exchange(&self) -> &Exchange<Written> {
        &self.exchange
    }

    /// Takes a chunk this area's owner lent, to write a frame into with
    /// [`UmemArea::write_claimed`] (the exchange's steps 2–4).
    pub fn claim(&self) -> Result<Claim<'_, Written>, Refused> {
        self.exchange.claim()
    }

    /// Whether no hand-off waits for the owner (a snapshot).
    pub fn inbox_is_empty(&self) -> bool {
        self.exchange.inbox_is_empty()
    }

    /// Copies `data` into the chunk `claim` holds, starting `start` bytes
    /// in. Returns `false` (writing nothing) if it would not fit, or if the
    /// claim is not of this area's exchange.
    ///
    /// This is the only way into a lent chunk: the claim is the proof that
    /// nobody else, the owner and the kernel included, uses the chunk
    /// until the claim ends (see [`crate::exchange`]).
    pub fn write_claimed(&self, claim: &Claim<'_, Written>, start: usize, data: &[u8]) -> bool {
        if !ptr::eq(claim.exchange(), &self.exchange) || claim.chunk() >= self.frames {
            return false;
        }
        let Some(end) = start.checked_add(data.len()) else {
            return false;
        };
        if end > FRAME_SIZE {
            return false;
        }
        let at = claim.chunk() as usize * FRAME_SIZE + start;
        debug_assert!(at + data.len() <= self.len);
        // SAFETY: in bounds: the chunk is below `frames` and start + len
        // fits in a chunk, checked above. Exclusive: a live claim of this
        // area's own exchange (checked above) means the owner has lent the
        // chunk and cannot use it again, rebuild or not, until the claim
        // is sent or dropped (the exchange's contract, steps 1–6), and no
        // other claim holds the same chunk (each donation is popped once).
        // `data` is a separate borrow, so the ranges cannot overlap.
        unsafe {
            ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.as_ptr().add(at), data.len());
        }
        true
    }
}

impl Drop for UmemArea {
    fn drop(&mut self) {
        // SAFETY: unmapping what `new` mapped; no UMEM, socket or writer
        // refers to it any more (they all hold an Arc to it).
        unsafe { libc::munmap(self.ptr.as_ptr() as *mut libc::c_void, self.len) };
    }
}

/// A UMEM: an [`UmemArea`] registered with the kernel. Its first socket
/// uses the fill and completion rings created with it. Sockets share
/// ownership of it, so it is deleted only after the last of them (libxdp
/// refuses otherwise).
pub struct Umem {
    inner: Rc<UmemInner>,
}

struct UmemInner {
    area: std::sync::Arc<UmemArea>,
    raw: NonNull<sys::xsk_umem>,
    // libxdp keeps pointers to these: boxed so they never move.
    first_fill: Box<UnsafeCell<sys::xsk_ring_prod>>,
    first_comp: Box<UnsafeCell<sys::xsk_ring_cons>>,
    first_taken: Cell<bool>,
    /// Whether the UMEM's first socket was bound with `XDP_USE_SG`: the
    /// kernel keeps multi-buffer per UMEM, and every socket sharing it
    /// inherits it (net/xdp/xsk.c, `xsk_bind`).
    multi_buffer: Cell<bool>,
}

impl std::fmt::Debug for Umem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Umem")
            .field("frames", &self.inner.area.frames)
            .field("sockets", &(Rc::strong_count(&self.inner) - 1))
            .finish()
    }
}

impl Umem {
    /// Registers `area` as a UMEM; fill and completion rings of the first
    /// socket get `ring_size` entries.
    pub fn new(area: std::sync::Arc<UmemArea>, ring_size: u32) -> io::Result<Umem> {
        // SAFETY: plain-old-data ring structs; libxdp fills them in.
        let first_fill = Box::new(UnsafeCell::new(unsafe { std::mem::zeroed() }));
        // SAFETY: as above.
        let first_comp = Box::new(UnsafeCell::new(unsafe { std::mem::zeroed() }));
        let cfg = sys::xsk_umem_config {
            fill_size: ring_size,
            comp_size: ring_size,
            frame_size: FRAME_SIZE as u32,
            frame_headroom: 0,
            flags: 0,
        };
        let mut raw: *mut sys::xsk_umem = ptr::null_mut();
        // SAFETY: the area is a live, page-aligned mapping of `len` bytes
        // that outlives the umem (UmemInner holds an Arc to it); the ring
        // structs are boxed inside the UmemInner that owns the umem, so
        // they outlive it and never move.
        let rc = unsafe {
            sys::xsk_umem__create(
                &mut raw,
                area.ptr.as_ptr() as *mut libc::c_void,
                area.len as u64,
                first_fill.get(),
                first_comp.get(),
                &cfg,
            )
        };
        if rc != 0 {
            return Err(neg_errno(rc));
        }
        let raw =
            NonNull::new(raw).ok_or_else(|| io::Error::other("xsk_umem__create returned null"))?;
        Ok(Umem {
            inner: Rc::new(UmemInner {
                area,
                raw,
                first_fill,
                first_comp,
                first_taken: Cell::new(false),
                multi_buffer: Cell::new(false),
            }),
        })
    }

    /// Number of chunks.
    pub fn frames(&self) -> u32 {
        self.inner.area.frames
    }

    /// Whether its sockets use multi-buffer AF_XDP (`XDP_USE_SG`): known
    /// once its first socket is bound, `None` before.
    pub fn multi_buffer(&self) -> Option<bool> {
        self.inner
            .first_taken
            .get()
            .then(|| self.inner.multi_buffer.get())
    }

    /// The UMEM address (offset from the area's start) of the first byte of
    /// `data`, a slice inside this UMEM's area; `None` for memory elsewhere.
    /// Drivers name transmit buffers by address: this turns a frame's
    /// bytes back into its descriptor.
    #[inline]
    pub fn addr_of(&self, data: &[u8]) -> Option<u64> {
        let area = &self.inner.area;
        let at = (data.as_ptr() as usize).checked_sub(area.ptr.as_ptr() as usize)?;
        (at + data.len() <= area.len).then_some(at as u64)
    }

    /// The whole chunk `chunk` names, to write. Several chunks may be
    /// open at once (one per `Chunk`); each slice lives as long as the
    /// borrow of its `Chunk` and of the UMEM.
    ///
    /// # Panics
    /// If `chunk` is of another area (another worker's pool): that is a
    /// bug, never a frame's doing.
    #[inline]
    pub fn chunk_mut<'a>(&'a self, chunk: &'a mut Chunk) -> &'a mut [u8] {
        let at = self.chunk_at(chunk);
        let area = &self.inner.area;
        debug_assert!(at + FRAME_SIZE <= area.len);
        // SAFETY: in bounds: `chunk_at` checked the chunk is of this area
        // and below its end. Exclusive for 'a: a `Chunk` is made only by
        // its area's `FramePool`, which makes at most one per chunk at a
        // time and none for a lent chunk (port/chunks.rs, module docs);
        // it is not Clone, and we hold its only `&mut` for 'a, so no
        // other slice over the chunk exists in this process until 'a
        // ends. The kernel writes only chunks given to a fill ring, which
        // takes only `ForFill` values the pool gave up (the chunk is then
        // out, and no `Chunk` names it until an rx descriptor returns
        // it). The mapping outlives 'a: `self` holds an Arc to the area.
        unsafe { std::slice::from_raw_parts_mut(area.ptr.as_ptr().add(at), FRAME_SIZE) }
    }

    /// The whole chunk `chunk` names, to read (as [`Umem::chunk_mut`]).
    #[inline]
    pub fn chunk<'a>(&'a self, chunk: &'a Chunk) -> &'a [u8] {
        let at = self.chunk_at(chunk);
        let area = &self.inner.area;
        debug_assert!(at + FRAME_SIZE <= area.len);
        // SAFETY: as in `chunk_mut`, with a shared borrow of the `Chunk`:
        // only shared slices over the chunk can exist for 'a.
        unsafe { std::slice::from_raw_parts(area.ptr.as_ptr().add(at), FRAME_SIZE) }
    }

    /// Where `chunk` starts in this UMEM's area; panics if it is not of
    /// this area. One compare per call: a `Chunk` of this area is always
    /// in bounds (its pool has one state per chunk of the area).
    #[inline]
    fn chunk_at(&self, chunk: &Chunk) -> usize {
        let area = &self.inner.area;
        assert!(
            chunk.area() == area.id && chunk.index() < area.frames,
            "a chunk of another UMEM area"
        );
        chunk.index() as usize * FRAME_SIZE
    }
}

impl Drop for UmemInner {
    fn drop(&mut self) {
        // SAFETY: the last Rc is gone, so no socket refers to the umem.
        // The memory stays mapped: the area is shared.
        let rc = unsafe { sys::xsk_umem__delete(self.raw.as_ptr()) };
        if rc != 0 {
            tracing::error!(error = %neg_errno(rc), "xsk_umem__delete failed");
        }
    }
}

/// What to try when binding a socket.
#[derive(Debug, Clone, Copy)]
pub struct SocketConfig {
    /// Entries of the rx, tx (and, for a queue's first socket, fill and
    /// completion) rings.
    pub ring_size: u32,
    /// Try native XDP before generic.
    pub prefer_native: bool,
    /// Try zero-copy before copy (only the UMEM's first socket chooses).
    pub prefer_zero_copy: bool,
}

/// One AF_XDP socket bound to (interface, queue), sharing its worker's
/// UMEM.
pub struct Socket {
    raw: NonNull<sys::xsk_socket>,
    // Keeps the UMEM alive until this socket is deleted (never read).
    _umem: Rc<UmemInner>,
    rx: Box<sys::xsk_ring_cons>,
    tx: Box<sys::xsk_ring_prod>,
    fill: RingRef<sys::xsk_ring_prod>,
    comp: RingRef<sys::xsk_ring_cons>,
    fd: RawFd,
    attach: XdpAttach,
    bind: XdpBind,
    multi_buffer: bool,
    /// Frames in the fill ring (ours until the kernel hands them back).
    pub in_fill: u32,
    /// Frames submitted to tx and not completed yet.
    pub in_tx: u32,
}

enum RingRef<T> {
    /// The UMEM's first rings (owned by the UMEM, which the socket keeps
    /// alive).
    Umem(*mut T),
    /// This socket's own (boxed so libxdp's pointer stays valid).
    Own(Box<T>),
}

impl<T> RingRef<T> {
    fn ptr(&mut self) -> *mut T {
        match self {
            RingRef::Umem(p) => *p,
            RingRef::Own(b) => &mut **b,
        }
    }
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("fd", &self.fd)
            .field("attach", &self.attach)
            .field("bind", &self.bind)
            .finish()
    }
}

/// Why a socket could not be created.
#[derive(Debug, thiserror::Error)]
#[error("cannot open AF_XDP socket on {iface} queue {queue}: {source}")]
pub struct SocketError {
    /// Interface name.
    pub iface: String,
    /// Queue index.
    pub queue: u32,
    /// The last error seen.
    #[source]
    pub source: io::Error,
}

/// An XDP program that the caller attached to the interface and whose
/// XSKMAP a socket registers itself in, instead of libxdp loading its
/// default program ([`Socket::new`]).
#[derive(Debug, Clone, Copy)]
pub struct OwnProgram {
    /// Where the program runs.
    pub attach: XdpAttach,
    /// The fd of its XSKMAP (one entry per receive queue).
    pub xskmap_fd: RawFd,
}

impl Socket {
    /// Creates a socket on `iface` queue `queue` sharing `umem`, trying
    /// native then generic XDP and (for the UMEM's first socket) zero-copy
    /// then copy, as `cfg` allows; with `program`, libxdp loads nothing
    /// and the socket joins that program's XSKMAP (in its mode).
    ///
    /// The UMEM's first socket asks for multi-buffer (`XDP_USE_SG`) first
    /// and goes without it if the kernel refuses: every later socket on
    /// the UMEM inherits the choice ([`Umem::multi_buffer`]). Multi-buffer
    /// costs nothing for frames that fit a chunk (one descriptor each),
    /// and a port that needs it may be opened later on the same UMEM.
    ///
    /// Retries `EBUSY` a few times: a queue freed a moment ago may not be
    /// released yet.
    pub fn new(
        umem: &Umem,
        iface: &str,
        queue: u32,
        cfg: SocketConfig,
        program: Option<OwnProgram>,
    ) -> Result<Socket, SocketError> {
        let err = |source| SocketError {
            iface: iface.to_string(),
            queue,
            source,
        };
        let name =
            CString::new(iface).map_err(|_| err(io::Error::from(io::ErrorKind::InvalidInput)))?;
        let attaches: &[XdpAttach] = match program {
            Some(OwnProgram {
                attach: XdpAttach::Native,
                ..
            }) => &[XdpAttach::Native],
            Some(OwnProgram {
                attach: XdpAttach::Generic,
                ..
            }) => &[XdpAttach::Generic],
            None if cfg.prefer_native => &[XdpAttach::Native, XdpAttach::Generic],
            None => &[XdpAttach::Generic],
        };
        let first = !umem.inner.first_taken.get();
        let binds: &[XdpBind] = match (first, cfg.prefer_zero_copy) {
            (true, true) => &[XdpBind::ZeroCopy, XdpBind::Copy],
            // A shared socket inherits the UMEM's mode; no flag allowed.
            _ => &[XdpBind::Copy],
        };
        // Only the first socket chooses (shared ones may pass no flag).
        let sgs: &[bool] = if first { &[true, false] } else { &[false] };
        let mut last = io::Error::other("no mode tried");
        for &attach in attaches {
            for (&bind, &sg) in binds.iter().flat_map(|b| sgs.iter().map(move |s| (b, s))) {
                for attempt in 0..8 {
                    match Self::try_create(umem, &name, queue, cfg, (attach, bind, sg), program) {
                        Ok(s) => {
                            if let Some(p) = program {
                                // SAFETY: raw is live; the map fd is the
                                // caller's, open for the call.
                                let rc = unsafe {
                                    sys::xsk_socket__update_xskmap(s.raw.as_ptr(), p.xskmap_fd)
                                };
                                if rc != 0 {
                                    return Err(err(neg_errno(rc)));
                                }
                            }
                            return Ok(s);
                        }
                        Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 7 => {
                            std::thread::sleep(std::time::Duration::from_millis(5 << attempt));
                            last = e;
                        }
                        Err(e) => {
                            tracing::debug!(iface, queue, %attach, %bind, sg, error = %e, "bind attempt failed");
                            last = e;
                            break;
                        }
                    }
                }
            }
        }
        Err(err(last))
    }

    fn try_create(
        umem: &Umem,
        name: &CString,
        queue: u32,
        cfg: SocketConfig,
        (attach, bind, sg): (XdpAttach, XdpBind, bool),
        program: Option<OwnProgram>,
    ) -> io::Result<Socket> {
        let first = !umem.inner.first_taken.get();
        // SAFETY: zeroed POD ring structs, filled in by libxdp.
        let mut rx: Box<sys::xsk_ring_cons> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: as above.
        let mut tx: Box<sys::xsk_ring_prod> = Box::new(unsafe { std::mem::zeroed() });
        let (mut fill, mut comp) = if first {
            (
                RingRef::Umem(umem.inner.first_fill.get()),
                RingRef::Umem(umem.inner.first_comp.get()),
            )
        } else {
            (
                // SAFETY: as above.
                RingRef::Own(Box::new(unsafe { std::mem::zeroed() })),
                // SAFETY: as above.
                RingRef::Own(Box::new(unsafe { std::mem::zeroed() })),
            )
        };
        let xdp_flags = match attach {
            XdpAttach::Native => XDP_FLAGS_DRV_MODE,
            XdpAttach::Generic => XDP_FLAGS_SKB_MODE,
        };
        let mut bind_flags = sys::XDP_USE_NEED_WAKEUP as u16;
        if first {
            bind_flags |= match bind {
                XdpBind::Copy => sys::XDP_COPY as u16,
                XdpBind::ZeroCopy => sys::XDP_ZEROCOPY as u16,
            };
            if sg {
                bind_flags |= XDP_USE_SG;
            }
        }
        let libxdp_flags = match program {
            Some(_) => sys::XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
            None => 0,
        };
        let sock_cfg = sys::xsk_socket_config {
            rx_size: cfg.ring_size,
            tx_size: cfg.ring_size,
            __bindgen_anon_1: sys::xsk_socket_config__bindgen_ty_1 { libxdp_flags },
            xdp_flags,
            bind_flags,
        };
        let mut raw: *mut sys::xsk_socket = ptr::null_mut();
        // SAFETY: every ring pointer is to a boxed struct that outlives the
        // socket (owned by it or by the umem, which outlives it); `name` is
        // a valid C string; umem.raw is live.
        let rc = unsafe {
            sys::xsk_socket__create_shared(
                &mut raw,
                name.as_ptr(),
                queue,
                umem.inner.raw.as_ptr(),
                &mut *rx,
                &mut *tx,
                fill.ptr(),
                comp.ptr(),
                &sock_cfg,
            )
        };
        if rc != 0 {
            return Err(neg_errno(rc));
        }
        let raw = NonNull::new(raw)
            .ok_or_else(|| io::Error::other("xsk_socket__create_shared returned null"))?;
        // SAFETY: raw is a live socket.
        let fd = unsafe { sys::xsk_socket__fd(raw.as_ptr()) };
        let bind = if first {
            bind
        } else {
            // Inherited from the first socket: ask the kernel.
            query_bind(fd).unwrap_or(XdpBind::Copy)
        };
        if first {
            umem.inner.first_taken.set(true);
            umem.inner.multi_buffer.set(sg);
        }
        Ok(Socket {
            raw,
            _umem: Rc::clone(&umem.inner),
            rx,
            tx,
            fill,
            comp,
            fd,
            attach,
            bind,
            multi_buffer: umem.inner.multi_buffer.get(),
            in_fill: 0,
            in_tx: 0,
        })
    }

    /// The socket's file descriptor (for poll).
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// Where its XDP program runs.
    pub fn attach(&self) -> XdpAttach {
        self.attach
    }

    /// How its frames are moved.
    pub fn bind(&self) -> XdpBind {
        self.bind
    }

    /// Whether it receives and sends frames as chains of descriptors
    /// (`XDP_USE_SG`, inherited from its UMEM's first socket).
    pub fn multi_buffer(&self) -> bool {
        self.multi_buffer
    }

    /// Free slots in the tx ring (at most `n` asked for): a chain of
    /// descriptors is reserved only whole.
    #[inline]
    pub fn tx_free(&mut self, n: u32) -> u32 {
        let ring: *mut sys::xsk_ring_prod = &mut *self.tx;
        // SAFETY: ring initialized by libxdp at creation.
        unsafe { sys::xsk_prod_nb_free(ring, n) }
    }

    /// Free slots in the fill ring.
    #[inline]
    pub fn fill_free(&mut self) -> u32 {
        // SAFETY: ring initialized by libxdp at creation.
        unsafe { sys::xsk_prod_nb_free(self.fill.ptr(), u32::MAX) }
    }

    /// Reserves up to `n` fill-ring slots.
    #[inline]
    pub fn fill_reserve(&mut self, n: u32) -> Produce<'_, FillSlot> {
        let ring = self.fill.ptr();
        produce(ring, n, &mut self.in_fill)
    }

    /// Reserves up to `n` tx-ring slots.
    #[inline]
    pub fn tx_reserve(&mut self, n: u32) -> Produce<'_, TxSlot> {
        let ring: *mut sys::xsk_ring_prod = &mut *self.tx;
        produce(ring, n, &mut self.in_tx)
    }

    /// Peeks up to `n` received descriptors.
    #[inline]
    pub fn rx_peek(&mut self, n: u32) -> Consume<'_, RxSlot> {
        let ring: *mut sys::xsk_ring_cons = &mut *self.rx;
        let mut idx = 0;
        // SAFETY: ring initialized at creation; idx out-param.
        let got = unsafe { sys::xsk_ring_cons__peek(ring, n, &mut idx) };
        Consume::new(ring, idx, got, &mut self.in_fill)
    }

    /// Peeks up to `n` completed tx addresses.
    #[inline]
    pub fn comp_peek(&mut self, n: u32) -> Consume<'_, CompSlot> {
        let ring = self.comp.ptr();
        let mut idx = 0;
        // SAFETY: ring initialized at creation; idx out-param.
        let got = unsafe { sys::xsk_ring_cons__peek(ring, n, &mut idx) };
        Consume::new(ring, idx, got, &mut self.in_tx)
    }

    /// Whether the kernel needs a `sendto` to process the tx ring.
    #[inline]
    pub fn tx_needs_wakeup(&mut self) -> bool {
        let ring: *mut sys::xsk_ring_prod = &mut *self.tx;
        // SAFETY: ring initialized at creation.
        unsafe { sys::xsk_ring_prod__needs_wakeup(ring) != 0 }
    }

    /// Whether the kernel needs a wakeup to look at the fill ring.
    #[inline]
    pub fn fill_needs_wakeup(&mut self) -> bool {
        let ring = self.fill.ptr();
        // SAFETY: ring initialized at creation.
        unsafe { sys::xsk_ring_prod__needs_wakeup(ring) != 0 }
    }

    /// Entries still waiting in the tx ring for the kernel.
    #[inline]
    pub fn tx_pending(&self) -> u32 {
        // SAFETY: producer/consumer point into the live mapped ring.
        unsafe {
            let prod = ptr::read_volatile(self.tx.producer);
            let cons = ptr::read_volatile(self.tx.consumer);
            prod.wrapping_sub(cons)
        }
    }

    /// Asks the kernel to transmit what is in the tx ring (copy mode sends
    /// only inside this call). Errors that mean "try again" are ignored;
    /// `ENETDOWN` (interface down) and `ENXIO` (socket unbound: the
    /// interface is gone) are returned, as [`super::is_link_error`] tells
    /// them: the ring will not drain until the link is back.
    pub fn kick_tx(&self) -> io::Result<()> {
        // SAFETY: plain syscall on our fd with no buffer.
        let rc =
            unsafe { libc::sendto(self.fd, ptr::null(), 0, libc::MSG_DONTWAIT, ptr::null(), 0) };
        if rc >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN | libc::EBUSY | libc::ENOBUFS) => Ok(()),
            _ => Err(e),
        }
    }

    /// Wakes the kernel to refill from the fill ring.
    pub fn kick_rx(&self) {
        // SAFETY: plain syscall on our fd with no buffer.
        unsafe {
            libc::recvfrom(
                self.fd,
                ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                ptr::null_mut(),
                ptr::null_mut(),
            );
        }
    }

    /// The kernel's counters for this socket.
    pub fn statistics(&self) -> io::Result<XskStats> {
        // SAFETY: zeroed POD, filled by getsockopt.
        let mut st: sys::xdp_statistics = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<sys::xdp_statistics>() as libc::socklen_t;
        // SAFETY: valid fd, out-buffer of the declared size.
        let rc = unsafe {
            libc::getsockopt(
                self.fd,
                libc::SOL_XDP,
                sys::XDP_STATISTICS as i32,
                &mut st as *mut _ as *mut libc::c_void,
                &mut len,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(XskStats {
            rx_dropped: st.rx_dropped,
            rx_invalid_descs: st.rx_invalid_descs,
            tx_invalid_descs: st.tx_invalid_descs,
            rx_ring_full: st.rx_ring_full,
            rx_fill_ring_empty_descs: st.rx_fill_ring_empty_descs,
            tx_ring_empty_descs: st.tx_ring_empty_descs,
        })
    }

    /// Chunks this socket's rings still hold: what a caller must take
    /// back when closing it.
    pub fn outstanding(&mut self) -> Outstanding {
        let mut out = Outstanding::default();
        // SAFETY: reading the live mapped rings between their consumer and
        // producer indexes; entries there are descriptors we wrote (fill,
        // tx) or the kernel wrote (rx, comp).
        unsafe {
            let fill = self.fill.ptr();
            let (c, p) = (ptr::read_volatile((*fill).consumer), (*fill).cached_prod);
            let mut i = c;
            while i != p {
                out.fill.push(*sys::xsk_ring_prod__fill_addr(fill, i));
                i = i.wrapping_add(1);
            }
            let rx: *mut sys::xsk_ring_cons = &mut *self.rx;
            let (c, p) = ((*rx).cached_cons, ptr::read_volatile((*rx).producer));
            let mut i = c;
            while i != p {
                out.received
                    .push((*sys::xsk_ring_cons__rx_desc(rx, i)).addr);
                i = i.wrapping_add(1);
            }
            let tx: *mut sys::xsk_ring_prod = &mut *self.tx;
            let (c, p) = (ptr::read_volatile((*tx).consumer), (*tx).cached_prod);
            let mut i = c;
            while i != p {
                out.sent.push((*sys::xsk_ring_prod__tx_desc(tx, i)).addr);
                i = i.wrapping_add(1);
            }
            let comp = self.comp.ptr();
            let (c, p) = ((*comp).cached_cons, ptr::read_volatile((*comp).producer));
            let mut i = c;
            while i != p {
                out.sent.push(*sys::xsk_ring_cons__comp_addr(comp, i));
                i = i.wrapping_add(1);
            }
        }
        out
    }
}

/// Chunks found in a socket's rings when it closes.
#[derive(Debug, Default)]
pub struct Outstanding {
    /// Given to the fill ring, never used: free chunks.
    pub fill: Vec<u64>,
    /// Received but not read: free chunks.
    pub received: Vec<u64>,
    /// Submitted for transmit (not sent, or sent and not reaped): one
    /// transmit reference each.
    pub sent: Vec<u64>,
}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: raw is live; after delete libxdp no longer touches our
        // ring boxes, which drop with us. `self.umem` keeps the UMEM
        // alive through the call and drops after it.
        unsafe { sys::xsk_socket__delete(self.raw.as_ptr()) };
    }
}

fn query_bind(fd: RawFd) -> Option<XdpBind> {
    #[repr(C)]
    struct XdpOptions {
        flags: u32,
    }
    let mut opts = XdpOptions { flags: 0 };
    let mut len = std::mem::size_of::<XdpOptions>() as libc::socklen_t;
    // SAFETY: valid fd and out-buffer of the declared size.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_XDP,
            sys::XDP_OPTIONS as i32,
            &mut opts as *mut _ as *mut libc::c_void,
            &mut len,
        )
    };
    (rc == 0).then_some(if opts.flags & sys::XDP_OPTIONS_ZEROCOPY != 0 {
        XdpBind::ZeroCopy
    } else {
        XdpBind::Copy
    })
}

/// A reserved run of producer-ring slots. Write each with `set`, then
/// `commit` how many were written; dropping without commit is a bug that
/// debug builds catch.
#[must_use = "reserved ring slots must be committed"]
pub struct Produce<'a, S: ProdSlot> {
    ring: *mut sys::xsk_ring_prod,
    idx: u32,
    n: u32,
    count: &'a mut u32,
    done: bool,
    _slot: std::marker::PhantomData<S>,
}

fn produce<S: ProdSlot>(ring: *mut sys::xsk_ring_prod, n: u32, count: &mut u32) -> Produce<'_, S> {
    let mut idx = 0;
    // SAFETY: ring initialized at creation; idx out-param.
    let got = unsafe { sys::xsk_ring_prod__reserve(ring, n, &mut idx) };
    Produce {
        ring,
        idx,
        n: got,
        count,
        done: false,
        _slot: std::marker::PhantomData,
    }
}

impl<S: ProdSlot> Produce<'_, S> {
    /// Slots reserved (may be fewer than asked).
    #[inline]
    pub fn len(&self) -> u32 {
        self.n
    }

    /// No slot was available.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Writes slot `i` (< `len()`).
    #[inline]
    pub fn set(&mut self, i: u32, value: S::Value) {
        assert!(i < self.n, "slot {i} outside the reservation of {}", self.n);
        // SAFETY: idx + i is inside the reserved (producer-owned) range.
        unsafe { S::write(self.ring, self.idx.wrapping_add(i), value) }
    }

    /// Hands the first `n` written slots to the kernel. Slots reserved
    /// but not committed are given back (libxdp has no cancel for
    /// producers, so reserve only what will be written).
    #[inline]
    pub fn commit(mut self, n: u32) {
        debug_assert!(n == self.n, "commit all reserved slots");
        // SAFETY: the first n reserved slots were written.
        unsafe { sys::xsk_ring_prod__submit(self.ring, n.min(self.n)) };
        *self.count += n.min(self.n);
        self.done = true;
    }
}

impl<S: ProdSlot> Drop for Produce<'_, S> {
    fn drop(&mut self) {
        debug_assert!(
            self.done || self.n == 0,
            "ring reservation dropped without commit"
        );
    }
}

/// A peeked run of consumer-ring entries. Read them with `get`, then
/// `release`.
#[must_use = "peeked ring entries must be released"]
pub struct Consume<'a, S: ConsSlot> {
    ring: *mut sys::xsk_ring_cons,
    idx: u32,
    n: u32,
    count: &'a mut u32,
    done: bool,
    _slot: std::marker::PhantomData<S>,
}

impl<'a, S: ConsSlot> Consume<'a, S> {
    fn new(ring: *mut sys::xsk_ring_cons, idx: u32, n: u32, count: &'a mut u32) -> Self {
        Consume {
            ring,
            idx,
            n,
            count,
            done: false,
            _slot: std::marker::PhantomData,
        }
    }

    /// Entries available.
    #[inline]
    pub fn len(&self) -> u32 {
        self.n
    }

    /// Nothing available.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Entry `i` (< `len()`).
    #[inline]
    pub fn get(&self, i: u32) -> S::Value {
        assert!(i < self.n, "entry {i} outside the peek of {}", self.n);
        // SAFETY: idx + i is inside the peeked (consumer-owned) range.
        unsafe { S::read(self.ring, self.idx.wrapping_add(i)) }
    }

    /// Gives the first `m` peeked entries back to the kernel and leaves
    /// the rest in the ring, to be peeked again (a frame whose chain of
    /// descriptors the peek cut).
    #[inline]
    pub fn release_first(mut self, m: u32) {
        let m = m.min(self.n);
        // SAFETY: un-peeks the last n - m of the entries this value peeked
        // (nothing else peeked since: the guard borrows the socket), then
        // releases the first m.
        unsafe {
            sys::xsk_ring_cons__cancel(self.ring, self.n - m);
            sys::xsk_ring_cons__release(self.ring, m);
        }
        *self.count = self.count.saturating_sub(m);
        self.done = true;
    }

    /// Gives every peeked entry back to the kernel.
    #[inline]
    pub fn release(mut self) {
        // SAFETY: releasing exactly what was peeked.
        unsafe { sys::xsk_ring_cons__release(self.ring, self.n) };
        *self.count = self.count.saturating_sub(self.n);
        self.done = true;
    }
}

impl<S: ConsSlot> Drop for Consume<'_, S> {
    fn drop(&mut self) {
        debug_assert!(
            self.done || self.n == 0,
            "ring peek dropped without release"
        );
    }
}

/// A producer-ring entry type.
pub trait ProdSlot {
    /// What is written.
    type Value;
    /// # Safety
    /// `idx` must be a reserved slot of `ring`.
    unsafe fn write(ring: *mut sys::xsk_ring_prod, idx: u32, v: Self::Value);
}

/// A consumer-ring entry type.
pub trait ConsSlot {
    /// What is read.
    type Value;
    /// # Safety
    /// `idx` must be a peeked entry of `ring`.
    unsafe fn read(ring: *mut sys::xsk_ring_cons, idx: u32) -> Self::Value;
}

/// One buffer of a frame, as rx and tx rings carry it: where it is, how
/// long, and whether the frame goes on in the next descriptor
/// (multi-buffer sockets only; `XDP_PKT_CONTD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Desc {
    /// UMEM address of the first byte.
    pub addr: u64,
    /// Bytes.
    pub len: u32,
    /// The frame continues in the next descriptor.
    pub more: bool,
}

impl Desc {
    /// A frame's only (or last) buffer.
    #[inline]
    pub fn last(addr: u64, len: u32) -> Desc {
        Desc {
            addr,
            len,
            more: false,
        }
    }
}

/// Fill ring: a chunk the worker's pool gave up.
pub struct FillSlot;
/// Tx ring: a [`Desc`].
pub struct TxSlot;
/// Rx ring: a [`Desc`].
pub struct RxSlot;
/// Completion ring: an address.
pub struct CompSlot;

impl ProdSlot for FillSlot {
    type Value = ForFill;
    #[inline]
    unsafe fn write(ring: *mut sys::xsk_ring_prod, idx: u32, v: ForFill) {
        // SAFETY: forwarded contract.
        unsafe { *sys::xsk_ring_prod__fill_addr(ring, idx) = v.base() };
    }
}

impl ProdSlot for TxSlot {
    type Value = Desc;
    #[inline]
    unsafe fn write(ring: *mut sys::xsk_ring_prod, idx: u32, v: Desc) {
        // SAFETY: forwarded contract.
        unsafe {
            let d = sys::xsk_ring_prod__tx_desc(ring, idx);
            (*d).addr = v.addr;
            (*d).len = v.len;
            (*d).options = if v.more { XDP_PKT_CONTD } else { 0 };
        }
    }
}

impl ConsSlot for RxSlot {
    type Value = Desc;
    #[inline]
    unsafe fn read(ring: *mut sys::xsk_ring_cons, idx: u32) -> Desc {
        // SAFETY: forwarded contract.
        unsafe {
            let d = sys::xsk_ring_cons__rx_desc(ring, idx);
            Desc {
                addr: (*d).addr,
                len: (*d).len,
                more: (*d).options & XDP_PKT_CONTD != 0,
            }
        }
    }
}

impl ConsSlot for CompSlot {
    type Value = u64;
    #[inline]
    unsafe fn read(ring: *mut sys::xsk_ring_cons, idx: u32) -> u64 {
        // SAFETY: forwarded contract.
        unsafe { *sys::xsk_ring_cons__comp_addr(ring, idx) }
    }
}

/// Where an attached XDP program runs (the kernel keeps one slot per
/// mode; native and generic never hold a program at the same time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpMode {
    /// In the driver.
    Native,
    /// In the generic network stack path.
    Generic,
    /// On the NIC.
    Offload,
}

impl XdpMode {
    /// The `ip link` keyword that removes a program in this mode.
    pub fn ip_link_keyword(self) -> &'static str {
        match self {
            XdpMode::Native => "xdpdrv",
            XdpMode::Generic => "xdpgeneric",
            XdpMode::Offload => "xdpoffload",
        }
    }

    fn flags(self) -> u32 {
        match self {
            XdpMode::Native => XDP_FLAGS_DRV_MODE,
            XdpMode::Generic => XDP_FLAGS_SKB_MODE,
            XdpMode::Offload => XDP_FLAGS_HW_MODE,
        }
    }
}

impl std::fmt::Display for XdpMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            XdpMode::Native => "native",
            XdpMode::Generic => "generic",
            XdpMode::Offload => "offload",
        })
    }
}

/// An XDP program attached to an interface: its kernel id (unique on the
/// machine while the program lives) and mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachedProgram {
    /// The program's id (`bpftool prog show id N`).
    pub id: u32,
    /// Where it runs.
    pub mode: XdpMode,
}

/// The XDP programs attached to interface `ifindex` (in this thread's
/// network namespace), one per mode in use; empty if none.
pub fn attached_programs(ifindex: u32) -> io::Result<Vec<AttachedProgram>> {
    // SAFETY: zeroed query opts with their size set, as libbpf expects.
    let mut opts: sys::bpf_xdp_query_opts = unsafe { std::mem::zeroed() };
    opts.sz = std::mem::size_of::<sys::bpf_xdp_query_opts>() as _;
    // SAFETY: opts is a valid, sized out-struct; a bad ifindex is an error.
    let rc = unsafe { sys::bpf_xdp_query(ifindex as i32, 0, &mut opts) };
    if rc != 0 {
        return Err(neg_errno(rc));
    }
    // The kernel reports each mode's program on its own, also when only
    // one is attached (net/core/rtnetlink.c, rtnl_xdp_fill).
    Ok([
        (opts.drv_prog_id, XdpMode::Native),
        (opts.skb_prog_id, XdpMode::Generic),
        (opts.hw_prog_id, XdpMode::Offload),
    ]
    .into_iter()
    .filter(|&(id, _)| id != 0)
    .map(|(id, mode)| AttachedProgram { id, mode })
    .collect())
}

/// An fd of program `id`, closed on drop; `None` if no such program.
struct ProgFd(i32);

impl ProgFd {
    fn get(id: u32) -> io::Result<Option<ProgFd>> {
        // SAFETY: no pointers; returns an fd we own or a negative errno.
        let fd = unsafe { sys::bpf_prog_get_fd_by_id(id) };
        match fd {
            fd if fd >= 0 => Ok(Some(ProgFd(fd))),
            e if -e == libc::ENOENT => Ok(None),
            e => Err(neg_errno(e)),
        }
    }
}

impl Drop for ProgFd {
    fn drop(&mut self) {
        // SAFETY: an fd this value owns, closed once.
        unsafe { libc::close(self.0) };
    }
}

/// The name program `id` was loaded with (at most 15 bytes), if it still
/// exists.
pub fn program_name(id: u32) -> Option<String> {
    let fd = ProgFd::get(id).ok().flatten()?;
    // SAFETY: zeroed POD out-struct.
    let mut info: sys::bpf_prog_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<sys::bpf_prog_info>() as u32;
    // SAFETY: valid prog fd; info and len describe a writable buffer.
    let rc = unsafe { sys::bpf_prog_get_info_by_fd(fd.0, &mut info, &mut len) };
    if rc != 0 {
        return None;
    }
    let name: Vec<u8> = info
        .name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    Some(String::from_utf8_lossy(&name).into_owned())
}

/// Detaches `prog` from interface `ifindex`, but only if it is still the
/// program attached there in its mode: the kernel compares and detaches
/// in one step (`XDP_FLAGS_REPLACE` with the expected program), so a
/// program someone attached in the meantime is never removed. Returns
/// whether `prog` was detached (false: it was gone or replaced).
pub fn detach_program(ifindex: u32, prog: &AttachedProgram) -> io::Result<bool> {
    let Some(fd) = ProgFd::get(prog.id)? else {
        return Ok(false);
    };
    // libbpf refuses opts whose bytes past the last field it knows (here
    // the bindings' tail padding) are not zero, and a zeroed struct does
    // not keep its padding zero once moved (padding is never copied
    // reliably): spell the padding out as a field, always 0.
    #[repr(C)]
    struct AttachOpts {
        sz: usize,
        old_prog_fd: i32,
        pad: u32,
    }
    const _: () = assert!(
        std::mem::size_of::<AttachOpts>() == std::mem::size_of::<sys::bpf_xdp_attach_opts>()
    );
    let opts = AttachOpts {
        sz: std::mem::size_of::<sys::bpf_xdp_attach_opts>(),
        // libbpf adds XDP_FLAGS_REPLACE when old_prog_fd is set.
        old_prog_fd: fd.0,
        pad: 0,
    };
    // SAFETY: valid ifindex (or an error); opts has the layout of
    // bpf_xdp_attach_opts (same size, sz and old_prog_fd at the same
    // offsets, both repr(C)) with its padding zero; the fd lives through
    // the call.
    let rc = unsafe {
        sys::bpf_xdp_detach(
            ifindex as i32,
            prog.mode.flags(),
            (&opts as *const AttachOpts).cast(),
        )
    };
    match rc {
        0 => Ok(true),
        // Another program is attached now, or none: not ours to remove.
        e if -e == libc::EEXIST || -e == libc::ENOENT => Ok(false),
        e => Err(neg_errno(e)),
    }
}

/// The kernel index of `iface`.
pub fn ifindex(iface: &str) -> io::Result<u32> {
    let name = CString::new(iface).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: valid C string.
    let idx = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if idx == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(idx)
}

/// Formats a C printf-style message (`vsnprintf` into a bounded buffer).
///
/// # Safety
/// `fmt` and `args` must be a format string and its matching va_list.
unsafe fn format_c(fmt: *const libc::c_char, args: *mut libc::c_void) -> String {
    unsafe extern "C" {
        fn vsnprintf(
            s: *mut libc::c_char,
            n: usize,
            fmt: *const libc::c_char,
            ap: *mut libc::c_void,
        ) -> libc::c_int;
    }
    let mut buf = [0u8; 512];
    // SAFETY: bounded write into a local buffer; fmt/args per the contract.
    let n = unsafe { vsnprintf(buf.as_mut_ptr() as *mut libc::c_char, buf.len(), fmt, args) };
    let len = (n.max(0) as usize).min(buf.len() - 1);
    String::from_utf8_lossy(&buf[..len]).trim_end().to_string()
}

/// Routes libxdp's and libbpf's messages (stderr by default) into tracing:
/// warnings as warnings, the rest at debug level.
pub fn route_library_logs() {
    unsafe extern "C" fn xdp_print(
        level: sys::libxdp_print_level,
        fmt: *const libc::c_char,
        args: *mut sys::__va_list_tag,
    ) -> libc::c_int {
        // SAFETY: fmt/args come straight from libxdp.
        let msg = unsafe { format_c(fmt, args as *mut libc::c_void) };
        // Without bpffs libxdp attaches programs directly instead of
        // through its dispatcher: expected on lab boxes, not a warning.
        let expected = msg.contains("bpffs");
        if level == sys::libxdp_print_level_LIBXDP_WARN && !expected {
            tracing::warn!(target: "libxdp", "{msg}");
        } else {
            tracing::debug!(target: "libxdp", "{msg}");
        }
        0
    }
    unsafe extern "C" fn bpf_print(
        level: libbpf_sys::libbpf_print_level,
        fmt: *const libc::c_char,
        args: *mut libbpf_sys::__va_list_tag,
    ) -> libc::c_int {
        // SAFETY: fmt/args come straight from libbpf.
        let msg = unsafe { format_c(fmt, args as *mut libc::c_void) };
        if level == libbpf_sys::LIBBPF_WARN {
            tracing::warn!(target: "libbpf", "{msg}");
        } else {
            tracing::debug!(target: "libbpf", "{msg}");
        }
        0
    }
    // SAFETY: installs callbacks with the signatures the libraries expect.
    unsafe {
        sys::libxdp_set_print(Some(xdp_print));
        libbpf_sys::libbpf_set_print(Some(bpf_print));
    }
}

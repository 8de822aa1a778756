//! C ABI of vswitch's engine: MAC learning, VLANs and the batch pipeline,
//! for dataplanes written in C (a DPDK application, a test tool).
//!
//! Everything C sees is declared in this file; `include/vswitch.h` is
//! generated from it by cbindgen (`tests/header.rs` checks that the
//! committed header matches). The engine behind the handle lives in
//! [`engine`].
//!
//! Conventions, for every exported function:
//! - it returns `VSW_OK` (0) or a negative `VSW_E*` code, and writes
//!   results through out-pointers only on success (unless documented);
//! - a NULL or misaligned pointer, an out-of-range number or an unknown
//!   enum value is `VSW_EINVAL`, checked before anything changes;
//! - a panic never unwinds into C: it is caught and returned as
//!   `VSW_EPANIC`, after which the engine refuses every call but
//!   `vsw_engine_free`.

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
// The C names are the API.
#![allow(non_camel_case_types)]

mod engine;

use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

use engine::Engine;

// ----- constants -----

/// Version of this C ABI. It changes whenever a function, a struct layout
/// or a constant's meaning changes incompatibly.
pub const VSW_ABI_VERSION: u32 = 1;

/// Success.
pub const VSW_OK: i32 = 0;
/// An argument is NULL, misaligned, out of range or malformed; nothing
/// was changed.
pub const VSW_EINVAL: i32 = -1;
/// The port or FDB entry named does not exist.
pub const VSW_ENOENT: i32 = -2;
/// The port already exists.
pub const VSW_EEXIST: i32 = -3;
/// No room: the FDB is full, or an output array is too small.
pub const VSW_ENOSPC: i32 = -4;
/// The FDB entry kept changing under concurrent updates; try again.
pub const VSW_EAGAIN: i32 = -5;
/// The library panicked (a bug). The panic was caught; the engine is now
/// unusable and every later call on it returns `VSW_EPANIC`. Free it.
pub const VSW_EPANIC: i32 = -6;

/// Ports per engine; port ids are `0..VSW_MAX_PORTS` and port sets are
/// `uint64_t` bitmaps (bit `i` = port `i`).
pub const VSW_MAX_PORTS: u32 = 64;
/// Most frames one `vsw_process` call takes.
pub const VSW_BATCH_MAX: usize = 64;
/// Bytes an 802.1Q tag adds: the headroom a frame needs in front of its
/// data for a tag to be pushed in place.
pub const VSW_TAG_LEN: usize = 4;
/// Default and largest `max_frame_len` of a port (bytes, without FCS,
/// tag included): a 65535-byte IP datagram behind an Ethernet header and
/// two tags. It says what the engine switches, not how big a buffer is:
/// frames live in the caller's buffers, of whatever capacity.
pub const VSW_MAX_FRAME_LEN: u32 = 65557;
/// Smallest `max_frame_len` accepted (the Ethernet minimum without FCS).
pub const VSW_MIN_FRAME_LEN: u32 = 60;
/// Smallest FDB capacity accepted by `vsw_engine_new`.
pub const VSW_FDB_CAPACITY_MIN: usize = 16;
/// Largest FDB capacity accepted by `vsw_engine_new`.
pub const VSW_FDB_CAPACITY_MAX: usize = 16777216;
/// Largest aging time in seconds (0 disables aging).
pub const VSW_AGING_MAX: u32 = 1000000;

/// Port mode: untagged in and out, in the one VLAN `vlan`.
pub const VSW_MODE_ACCESS: i32 = 1;
/// Port mode: the VLANs of `trunk_vlans` tagged, plus the native VLAN
/// `vlan` (0 = none) untagged.
pub const VSW_MODE_TRUNK: i32 = 2;
/// Port mode: every VLAN 1-4094 tagged (ESXi "VLAN 4095", VGT), plus the
/// native VLAN `vlan` (0 = none) untagged.
pub const VSW_MODE_GUEST: i32 = 3;

/// `vsw_fdb_flush` scope: every entry (`value` must be 0).
pub const VSW_FLUSH_ALL: i32 = 0;
/// `vsw_fdb_flush` scope: entries on port `value`.
pub const VSW_FLUSH_PORT: i32 = 1;
/// `vsw_fdb_flush` scope: entries in VLAN `value`.
pub const VSW_FLUSH_VLAN: i32 = 2;

/// `vsw_frame.drop_reason` of a frame that was not dropped.
pub const VSW_FORWARDED: i32 = -1;
/// Drop: shorter than an Ethernet header (14 bytes).
pub const VSW_DROP_RUNT: i32 = 0;
/// Drop: EtherType 0x8100 but fewer than 18 bytes.
pub const VSW_DROP_TRUNCATED_VLAN_TAG: i32 = 1;
/// Drop: 802.1ad (0x88a8) outer tag; QinQ is not switched.
pub const VSW_DROP_QINQ_UNSUPPORTED: i32 = 2;
/// Drop: 802.1Q tag with the reserved VID 4095.
pub const VSW_DROP_VLAN_RESERVED: i32 = 3;
/// Drop: a VLAN-tagged frame arrived on an access port.
pub const VSW_DROP_TAGGED_ON_ACCESS: i32 = 4;
/// Drop: a trunk received a VID outside its allowed set.
pub const VSW_DROP_VLAN_NOT_ALLOWED: i32 = 5;
/// Drop: untagged (or priority-tagged) frame on a trunk without native VLAN.
pub const VSW_DROP_UNTAGGED_NO_NATIVE: i32 = 6;
/// Drop: the ingress port is not configured.
pub const VSW_DROP_PORT_UNKNOWN: i32 = 7;
/// Drop: the destination was learned on the ingress port itself.
pub const VSW_DROP_SAME_PORT: i32 = 8;
/// Drop: no port other than the ingress port may receive the frame.
pub const VSW_DROP_NO_OUTPUT: i32 = 9;
/// Drop: larger than the ingress port's `max_frame_len` (the whole frame
/// dropped on receipt); or per-port: larger than an output port's (after
/// tagging; counted per port, shows in `vsw_frame.unsent_ports`).
pub const VSW_DROP_TOO_LARGE: i32 = 10;
/// Per-port drop: a second encoding was needed but no spare buffer was
/// left. Counted per port; shows in `vsw_frame.unsent_ports`.
pub const VSW_DROP_NO_SPARE_FRAME: i32 = 11;
/// Per-port drop of the threaded daemon (transmit ring full); never
/// produced by this library, listed so counter ids stay the same.
pub const VSW_DROP_TX_RING_FULL: i32 = 12;
/// Per-port drop of the threaded daemon (hand-off ring full); never
/// produced by this library, listed so counter ids stay the same.
pub const VSW_DROP_HANDOFF_FULL: i32 = 13;
/// The receive ring cut the frame short (port runtime only).
pub const VSW_DROP_TRUNCATED: i32 = 14;
/// Offload metadata that does not fit the frame.
pub const VSW_DROP_BAD_OFFLOAD: i32 = 15;
/// Per-port drop of the threaded daemon (the output port's interface is
/// down or gone); never produced by this library, listed so counter ids
/// stay the same.
pub const VSW_DROP_LINK_DOWN: i32 = 16;
/// Over a port's traffic shaping limits (the daemon's per-port shaping);
/// never produced by this library, listed so counter ids stay the same.
pub const VSW_DROP_SHAPED: i32 = 17;
/// Per-port drop of the threaded daemon (received on a mirror session's
/// output port, which takes only copies); never produced by this
/// library, listed so counter ids stay the same.
pub const VSW_DROP_MIRROR_OUTPUT: i32 = 18;
/// The port rejects forged transmits and the source is not its MAC
/// (daemon port policy; never produced by this library's ports).
pub const VSW_DROP_FORGED_SOURCE: i32 = 19;
/// The port rejects MAC changes and the unicast is for another MAC
/// (daemon port policy; never produced by this library's ports).
pub const VSW_DROP_MAC_CHANGE: i32 = 20;
/// The port is at its MAC limit and drops new sources (daemon port
/// policy; never produced by this library's ports).
pub const VSW_DROP_MAC_LIMIT: i32 = 21;
/// Number of drop reasons: valid reasons are `0..VSW_DROP_COUNT`.
pub const VSW_DROP_COUNT: i32 = 22;

/// Event: frames sent to one learned port (promiscuous copies included).
pub const VSW_EVENT_UNICAST: i32 = 0;
/// Event: frames flooded (broadcast, multicast, unknown unicast).
pub const VSW_EVENT_FLOOD: i32 = 1;
/// Event: the part of the floods that was unknown unicast.
pub const VSW_EVENT_UNKNOWN_UNICAST: i32 = 2;
/// Event: copies made into spare buffers for a second encoding.
pub const VSW_EVENT_EGRESS_COPIES: i32 = 3;
/// Event: new FDB entries learned.
pub const VSW_EVENT_FDB_LEARNED: i32 = 4;
/// Event: a learned MAC moved to another port.
pub const VSW_EVENT_FDB_MOVED: i32 = 5;
/// Event: learning refused because the FDB is full.
pub const VSW_EVENT_FDB_FULL: i32 = 6;
/// Event: learning skipped because of a concurrent insert of the same MAC.
pub const VSW_EVENT_FDB_RACE: i32 = 7;
/// Event: learning refused because the MAC is static on another port.
pub const VSW_EVENT_FDB_STATIC_CONFLICT: i32 = 8;
/// Event: frames handed to another worker (threaded daemon only; always 0 here).
pub const VSW_EVENT_HANDOFF: i32 = 9;
/// Partial checksums completed in software (port runtime only).
pub const VSW_EVENT_CSUM_COMPLETED: i32 = 10;
/// Segments cut in software from super-frames (port runtime only).
pub const VSW_EVENT_SW_SEGMENTS: i32 = 11;
/// Event: the FDB was full and an entry of the port holding the most
/// entries was evicted to make room.
pub const VSW_EVENT_FDB_EVICTED: i32 = 12;
/// Event: learning refused by a port's MAC limit (daemon port policy).
pub const VSW_EVENT_FDB_LIMIT: i32 = 13;
/// Event: learning refused while a port is held down by the MAC move
/// guard (daemon only).
pub const VSW_EVENT_FDB_HELD_DOWN: i32 = 14;
/// Number of events: valid events are `0..VSW_EVENT_COUNT`.
pub const VSW_EVENT_COUNT: i32 = 15;

// ----- types -----

/// An engine: FDB, port configuration, pipeline and counters. Opaque;
/// created by `vsw_engine_new`, destroyed by `vsw_engine_free`.
///
/// One engine is used by one thread at a time: the caller serializes all
/// calls on a handle (it may move between threads). Distinct engines are
/// independent and may be used from different threads at once.
pub struct vsw_engine {
    inner: Engine,
    poisoned: bool,
}

/// How one port switches. Fill it with `vsw_port_config_init`, then
/// change fields as needed.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct vsw_port_config {
    /// `VSW_MODE_ACCESS`, `VSW_MODE_TRUNK` or `VSW_MODE_GUEST`.
    pub mode: i32,
    /// Access: the port's VLAN (1-4094). Trunk and guest: the native VLAN
    /// for untagged frames (1-4094), or 0 for none (untagged frames drop).
    pub vlan: u16,
    /// Trunk only: NUL-terminated list of allowed VLANs such as
    /// "10,20,100-199" (spaces allowed around items; "" = none but the
    /// native VLAN); NULL = every VLAN 1-4094. Must be NULL for access and
    /// guest ports. Only read during the call; the caller keeps ownership.
    pub trunk_vlans: *const c_char,
    /// 1: learn source MACs of frames received here; 0: don't.
    pub learning: u8,
    /// 1: receive floods of unknown unicast; 0: only broadcast/multicast.
    pub flood_unknown_unicast: u8,
    /// 1: also receive a copy of every frame forwarded in this port's VLANs.
    pub promiscuous: u8,
    /// Largest frame the port takes and transmits (bytes without FCS, tag
    /// included; a super-frame by its largest segment),
    /// `VSW_MIN_FRAME_LEN..=VSW_MAX_FRAME_LEN`; 0 = `VSW_MAX_FRAME_LEN`.
    pub max_frame_len: u32,
}

/// One received frame, its result, and where its copy went.
///
/// Input fields: `buf`, `capacity`, `offset`, `len` (the data is
/// `buf[offset, offset + len)`; `buf[0, offset)` is headroom). The library
/// rewrites the data in place (802.1Q push or pop) and updates `offset`
/// and `len`; the other fields are outputs only.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct vsw_frame {
    /// The frame's buffer (caller-owned; borrowed for the call only).
    pub buf: *mut u8,
    /// Size of `buf` in bytes.
    pub capacity: usize,
    /// In: start of the data in `buf`. Out: start after the rewrite.
    pub offset: usize,
    /// In: length of the data. Out: length after the rewrite.
    pub len: usize,
    /// Out: `VSW_FORWARDED` (-1), or the `VSW_DROP_*` reason the frame died.
    pub drop_reason: i32,
    /// Out: index into the `spares` array of the copy of this frame, or -1.
    pub copy_spare: i32,
    /// Out: ports that transmit `buf[offset, offset + len)`.
    pub ports: u64,
    /// Out: ports that transmit the copy in `spares[copy_spare]` (the
    /// other 802.1Q encoding); 0 when there is no copy.
    pub copy_ports: u64,
    /// Out: ports the frame was switched to that get nothing: too large
    /// for the port (`VSW_DROP_TOO_LARGE`) or a copy was needed and no
    /// spare was left (`VSW_DROP_NO_SPARE_FRAME`).
    pub unsent_ports: u64,
}

/// A spare buffer the library may write a copy of a frame into, when its
/// output ports need two encodings (tagged and untagged).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct vsw_spare {
    /// The buffer (caller-owned; borrowed for the call only).
    pub buf: *mut u8,
    /// Size of `buf` in bytes.
    pub capacity: usize,
    /// In: where a copy's data starts in `buf` (`offset <= capacity`).
    pub offset: usize,
    /// Out: length of the copy at `buf[offset]`; written only for spares
    /// that a frame's `copy_spare` names.
    pub len: usize,
}

/// One FDB entry, as `vsw_fdb_entries` and `vsw_fdb_get` report it.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct vsw_fdb_entry {
    /// The MAC address, in wire order.
    pub mac: [u8; 6],
    /// The VLAN (1-4094).
    pub vlan: u16,
    /// The port frames for the MAC go to.
    pub port: u8,
    /// 1 for a static entry (never aged or moved), 0 for a learned one.
    pub is_static: u8,
    /// Seconds since the MAC was last seen (0 for static entries).
    pub age_secs: u32,
}

/// Traffic counters of one port since the engine was created.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct vsw_port_stats {
    /// Frames received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames transmitted (one per port per frame or copy).
    pub tx_packets: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Received frames dropped.
    pub rx_dropped: u64,
    /// Frames meant for this port but dropped at output.
    pub tx_dropped: u64,
}

/// What one `vsw_age_sweep` did.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct vsw_sweep_report {
    /// Slots emptied and available again.
    pub reclaimed: u64,
    /// Entries removed because they aged out.
    pub aged: u64,
    /// Entries removed because they were flushed or deleted.
    pub retired: u64,
    /// Slots still waiting to be reclaimed by a later sweep.
    pub pending: u64,
}

// ----- plumbing -----

/// Runs `f`, turning a panic into `on_panic`.
fn guard<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(on_panic)
}

/// Runs `f` on the engine behind `e`: `VSW_EINVAL` for a NULL or misaligned
/// handle, `VSW_EPANIC` for a poisoned engine or a panic (which poisons it).
///
/// # Safety
/// `e` is NULL or a live handle from `vsw_engine_new` that no other thread
/// is using.
unsafe fn with_engine(e: *mut vsw_engine, f: impl FnOnce(&mut Engine) -> Result<(), i32>) -> i32 {
    guard(VSW_EPANIC, || {
        if e.is_null() || !e.is_aligned() {
            return VSW_EINVAL;
        }
        // SAFETY: non-null and aligned; the caller guarantees it points to
        // a live engine from vsw_engine_new used by this thread only.
        let eng = unsafe { &mut *e };
        if eng.poisoned {
            return VSW_EPANIC;
        }
        match catch_unwind(AssertUnwindSafe(|| f(&mut eng.inner))) {
            Ok(Ok(())) => VSW_OK,
            Ok(Err(code)) => code,
            Err(_) => {
                eng.poisoned = true;
                VSW_EPANIC
            }
        }
    })
}

/// `p` as a writable reference, or `VSW_EINVAL` when NULL or misaligned.
///
/// # Safety
/// `p` is NULL or valid for reads and writes of one `T` for `'a`.
unsafe fn out_ref<'a, T>(p: *mut T) -> Result<&'a mut T, i32> {
    if p.is_null() || !p.is_aligned() {
        return Err(VSW_EINVAL);
    }
    // SAFETY: non-null and aligned; validity is the caller's contract.
    Ok(unsafe { &mut *p })
}

/// Reads a 6-byte MAC address.
///
/// # Safety
/// `mac` is NULL or valid for reads of 6 bytes.
unsafe fn read_mac(mac: *const u8) -> Result<[u8; 6], i32> {
    if mac.is_null() {
        return Err(VSW_EINVAL);
    }
    // SAFETY: non-null; u8 needs no alignment; 6 readable bytes is the
    // caller's contract.
    Ok(unsafe { mac.cast::<[u8; 6]>().read() })
}

// ----- library information -----

/// The ABI version this library implements (`VSW_ABI_VERSION` of the
/// header it was built with). Compare it with the header's at startup.
///
/// Never fails. Ownership: nothing is passed or returned by pointer.
/// Thread safety: callable from any thread at any time.
#[no_mangle]
pub extern "C" fn vsw_abi_version() -> u32 {
    VSW_ABI_VERSION
}

/// The library version ("0.1.0"), a static NUL-terminated string.
///
/// Never fails, never NULL. Ownership: the string is static; do not free.
/// Thread safety: callable from any thread at any time.
#[no_mangle]
pub extern "C" fn vsw_version() -> *const c_char {
    engine::VERSION.as_ptr()
}

/// A static description of a `VSW_OK` / `VSW_E*` code, e.g. "invalid
/// argument"; "unknown error code" for any other value.
///
/// Never fails, never NULL. Ownership: the string is static; do not free.
/// Thread safety: callable from any thread at any time.
#[no_mangle]
pub extern "C" fn vsw_strerror(code: i32) -> *const c_char {
    engine::strerror(code).as_ptr()
}

/// The stable counter name of a `VSW_DROP_*` reason ("runt",
/// "tagged_on_access", ...), the names the daemon's stats use.
///
/// Errors: NULL for a value outside `0..VSW_DROP_COUNT`. Ownership: the
/// string is static; do not free. Thread safety: any thread, any time.
#[no_mangle]
pub extern "C" fn vsw_drop_reason_name(reason: i32) -> *const c_char {
    guard(core::ptr::null(), || {
        engine::drop_from_code(reason).map_or(core::ptr::null(), |r| engine::drop_name(r).as_ptr())
    })
}

/// The stable counter name of a `VSW_EVENT_*` ("unicast", "flood", ...).
///
/// Errors: NULL for a value outside `0..VSW_EVENT_COUNT`. Ownership: the
/// string is static; do not free. Thread safety: any thread, any time.
#[no_mangle]
pub extern "C" fn vsw_event_name(event: i32) -> *const c_char {
    guard(core::ptr::null(), || {
        engine::event_from_code(event).map_or(core::ptr::null(), |e| engine::event_name(e).as_ptr())
    })
}

// ----- engine -----

/// Creates an engine with an empty FDB of `fdb_capacity` entries whose
/// learned entries age out after `aging_secs` seconds (0 = never), and no
/// ports. On success `*out` is the new handle; on error it is set to NULL
/// (when `out` itself is valid).
///
/// Errors: `VSW_EINVAL` if `out` is NULL, `fdb_capacity` is outside
/// `VSW_FDB_CAPACITY_MIN..=VSW_FDB_CAPACITY_MAX` or `aging_secs` exceeds
/// `VSW_AGING_MAX`; `VSW_EPANIC`. The FDB is allocated up front (about 20
/// bytes per entry); running out of memory aborts the process, as any
/// Rust allocation failure does.
///
/// Ownership: the caller owns the handle and must release it with
/// `vsw_engine_free`. Thread safety: callable from any thread.
///
/// # Safety
/// `out` is NULL or valid for writing one pointer.
#[no_mangle]
pub unsafe extern "C" fn vsw_engine_new(
    fdb_capacity: usize,
    aging_secs: u32,
    out: *mut *mut vsw_engine,
) -> i32 {
    guard(VSW_EPANIC, || {
        // SAFETY: the caller's contract on `out`.
        let out = match unsafe { out_ref(out) } {
            Ok(o) => o,
            Err(code) => return code,
        };
        *out = core::ptr::null_mut();
        match Engine::new(fdb_capacity, aging_secs) {
            Ok(inner) => {
                *out = Box::into_raw(Box::new(vsw_engine {
                    inner,
                    poisoned: false,
                }));
                VSW_OK
            }
            Err(code) => code,
        }
    })
}

/// Destroys an engine and everything it holds. NULL is a no-op.
///
/// Never fails. Ownership: takes back the handle; it must not be used
/// again (a second free is undefined behaviour). Thread safety: no other
/// call on this engine may be running or follow.
///
/// # Safety
/// `e` is NULL or a handle from `vsw_engine_new` not freed yet.
#[no_mangle]
pub unsafe extern "C" fn vsw_engine_free(e: *mut vsw_engine) {
    if e.is_null() || !e.is_aligned() {
        return;
    }
    // A panic while dropping leaks the engine instead of unwinding into C.
    guard((), || {
        // SAFETY: a live handle from vsw_engine_new (Box::into_raw), owned
        // by the caller, handed back here exactly once.
        drop(unsafe { Box::from_raw(e) });
    });
}

/// Changes the aging time of learned FDB entries (0 = never age); applies
/// at once, to existing entries too.
///
/// Errors: `VSW_EINVAL` for a NULL engine or `aging_secs > VSW_AGING_MAX`;
/// `VSW_EPANIC`. Ownership: `e` stays the caller's. Thread safety:
/// serialize with all other calls on `e`.
///
/// # Safety
/// `e` is NULL or a live engine handle.
#[no_mangle]
pub unsafe extern "C" fn vsw_set_aging(e: *mut vsw_engine, aging_secs: u32) -> i32 {
    // SAFETY: the caller's contract on `e`.
    unsafe { with_engine(e, |eng| eng.set_aging(aging_secs)) }
}

// ----- ports -----

/// Fills `*cfg` with the defaults for `mode` and `vlan`: learning on,
/// unknown-unicast floods on, not promiscuous, `trunk_vlans` NULL (every
/// VLAN for a trunk), `max_frame_len` 0 (the default).
///
/// Errors: `VSW_EINVAL` if `cfg` is NULL, `mode` is not a `VSW_MODE_*`, or
/// `vlan` is invalid for the mode (access: 1-4094; trunk, guest: 0-4094);
/// `*cfg` is then unchanged. Ownership: `*cfg` is the caller's, written
/// only. Thread safety: any thread (touches only `*cfg`).
///
/// # Safety
/// `cfg` is NULL or valid for writing one `vsw_port_config`.
#[no_mangle]
pub unsafe extern "C" fn vsw_port_config_init(
    cfg: *mut vsw_port_config,
    mode: i32,
    vlan: u16,
) -> i32 {
    guard(VSW_EPANIC, || {
        // SAFETY: the caller's contract on `cfg`.
        let cfg = match unsafe { out_ref(cfg) } {
            Ok(c) => c,
            Err(code) => return code,
        };
        let init = vsw_port_config {
            mode,
            vlan,
            trunk_vlans: core::ptr::null(),
            learning: 1,
            flood_unknown_unicast: 1,
            promiscuous: 0,
            max_frame_len: 0,
        };
        // SAFETY: trunk_vlans is NULL, so nothing else is read.
        match unsafe { engine::port_config(&init) } {
            Ok(_) => {
                *cfg = init;
                VSW_OK
            }
            Err(code) => code,
        }
    })
}

/// Adds port `port` (0-63) with configuration `*cfg`. Frames received on
/// a port that was never added are dropped (`VSW_DROP_PORT_UNKNOWN`).
///
/// Errors: `VSW_EINVAL` for a NULL engine or `cfg`, `port >= VSW_MAX_PORTS`
/// or an invalid configuration (unknown mode, VLAN outside 1-4094,
/// malformed or non-UTF-8 `trunk_vlans`, `trunk_vlans` on a non-trunk,
/// flag other than 0/1, bad `max_frame_len`); `VSW_EEXIST` if the port
/// exists; `VSW_EPANIC`. Ownership: `*cfg` and its string are only read
/// during the call. Thread safety: serialize with all other calls on `e`.
///
/// # Safety
/// `e` is NULL or a live engine handle; `cfg` is NULL or points to a
/// readable `vsw_port_config` whose `trunk_vlans` is NULL or a
/// NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn vsw_port_add(
    e: *mut vsw_engine,
    port: u8,
    cfg: *const vsw_port_config,
) -> i32 {
    // SAFETY: the caller's contract on `e` and `cfg`.
    unsafe {
        with_engine(e, |eng| {
            let cfg = engine::port_config_ptr(cfg)?;
            eng.port_add(port, cfg)
        })
    }
}

/// Reconfigures existing port `port` with `*cfg`. When its VLAN mode,
/// VLAN or trunk list changes, the MACs learned on it are flushed (static
/// entries stay). Refused, with nothing changed, when a static entry on
/// the port is in a VLAN the new configuration does not carry (delete the
/// entry first), as the daemon refuses it.
///
/// Errors: as `vsw_port_add` (`VSW_EINVAL` also for a stranded static
/// entry), with `VSW_ENOENT` if the port does not exist instead of
/// `VSW_EEXIST`. Ownership: `*cfg` and its string are
/// only read during the call. Thread safety: serialize with all other
/// calls on `e`.
///
/// # Safety
/// As `vsw_port_add`.
#[no_mangle]
pub unsafe extern "C" fn vsw_port_set(
    e: *mut vsw_engine,
    port: u8,
    cfg: *const vsw_port_config,
) -> i32 {
    // SAFETY: the caller's contract on `e` and `cfg`.
    unsafe {
        with_engine(e, |eng| {
            let cfg = engine::port_config_ptr(cfg)?;
            eng.port_set(port, cfg)
        })
    }
}

/// Removes port `port` and every FDB entry on it, static ones included.
/// Its counters are kept.
///
/// Errors: `VSW_EINVAL` for a NULL engine or `port >= VSW_MAX_PORTS`;
/// `VSW_ENOENT` if the port does not exist; `VSW_EPANIC`. Ownership: `e`
/// stays the caller's. Thread safety: serialize with all other calls on
/// `e`.
///
/// # Safety
/// `e` is NULL or a live engine handle.
#[no_mangle]
pub unsafe extern "C" fn vsw_port_remove(e: *mut vsw_engine, port: u8) -> i32 {
    // SAFETY: the caller's contract on `e`.
    unsafe { with_engine(e, |eng| eng.port_remove(port)) }
}

// ----- the packet path -----

/// Switches `n` frames received on port `ingress` at time `now` (seconds
/// on any clock that does not go backwards; only differences matter).
///
/// For each frame it learns the source MAC, decides where the frame goes
/// and rewrites it in place: an 802.1Q tag is pushed into the headroom
/// (offset moves back 4 bytes) or popped (offset moves forward 4), and
/// `offset`/`len` are updated. Then, per frame:
/// - dropped: `drop_reason` is a `VSW_DROP_*`, all bitmaps are 0;
/// - otherwise `drop_reason` is `VSW_FORWARDED` and `ports` lists the
///   ports that transmit `buf[offset, offset + len)`. When the output
///   ports need two encodings (some tagged, some untagged), the frame
///   keeps one and a copy in the other is written into the next unused
///   spare: `copy_spare` is its index in `spares`, `copy_ports` the ports
///   that transmit `spares[copy_spare].buf[offset, offset + len)`. With no
///   spare left, those ports land in `unsent_ports` (counted as
///   `VSW_DROP_NO_SPARE_FRAME`), as do ports the frame is too large for.
///
/// Spares are used in order: spares `0..*spares_used` hold copies, the
/// rest are untouched. A frame uses at most one, so `n_spares > n` never
/// helps; spares past the first `n` are not even looked at.
///
/// Headroom: give every frame `offset >= VSW_TAG_LEN`. A frame with less
/// is first moved inside its buffer to offset `VSW_TAG_LEN` when the
/// buffer has room after the data; otherwise a tag push is served from a
/// spare instead (the frame's own buffer then transmits nothing). Either
/// way a frame uses at most one spare: when both encodings are needed, the
/// buffer keeps the one that needs no room.
///
/// Errors (checked before any frame is touched; nothing changes):
/// `VSW_EINVAL` for a NULL engine, `ingress >= VSW_MAX_PORTS`,
/// `n > VSW_BATCH_MAX`, `frames` NULL with `n > 0`, `spares` NULL with
/// `n_spares > 0`, a frame or spare with a NULL `buf` or a window past
/// its `capacity`, or buffers that overlap each other or the arrays;
/// `VSW_EPANIC`. `n == 0` is a no-op success. A frame that cannot be
/// switched is not an error: it gets a `drop_reason`.
///
/// Ownership: all buffers stay the caller's; they are read and written
/// only during the call. Thread safety: serialize with all other calls
/// on `e`.
///
/// # Safety
/// `e` is NULL or a live engine handle; `frames` is NULL or points to `n`
/// writable `vsw_frame`s, `spares` is NULL or points to `n_spares`
/// writable `vsw_spare`s, each `buf` is valid for reads and writes of
/// `capacity` bytes; `spares_used` is NULL (not wanted) or writable.
#[no_mangle]
pub unsafe extern "C" fn vsw_process(
    e: *mut vsw_engine,
    ingress: u8,
    now: u32,
    frames: *mut vsw_frame,
    n: usize,
    spares: *mut vsw_spare,
    n_spares: usize,
    spares_used: *mut usize,
) -> i32 {
    // SAFETY: the caller's contract on every pointer.
    unsafe {
        with_engine(e, |eng| {
            eng.process(ingress, now, frames, n, spares, n_spares, spares_used)
        })
    }
}

// ----- FDB -----

/// Adds (or replaces) a static FDB entry: frames to `mac` in `vlan` go to
/// `port`, never aged, never moved by learning.
///
/// Errors: `VSW_EINVAL` for a NULL engine or `mac`, `vlan` outside
/// 1-4094, `port >= VSW_MAX_PORTS`, a group (multicast/broadcast) or zero
/// MAC, or a port that does not carry `vlan`; `VSW_ENOENT` if the port
/// does not exist; `VSW_ENOSPC` if the FDB is full; `VSW_EAGAIN`;
/// `VSW_EPANIC`. Ownership: `mac` (6 bytes) is only read. Thread safety:
/// serialize with all other calls on `e`.
///
/// # Safety
/// `e` is NULL or a live engine handle; `mac` is NULL or readable for 6
/// bytes.
#[no_mangle]
pub unsafe extern "C" fn vsw_fdb_add(
    e: *mut vsw_engine,
    mac: *const u8,
    vlan: u16,
    port: u8,
) -> i32 {
    // SAFETY: the caller's contract on `e` and `mac`.
    unsafe {
        with_engine(e, |eng| {
            let mac = read_mac(mac)?;
            eng.fdb_add(mac, vlan, port)
        })
    }
}

/// Deletes the FDB entry of (`mac`, `vlan`), static or learned, as seen
/// at time `now`.
///
/// Errors: `VSW_EINVAL` for a NULL engine or `mac` or `vlan` outside
/// 1-4094; `VSW_ENOENT` if there is no such entry; `VSW_EPANIC`.
/// Ownership: `mac` (6 bytes) is only read. Thread safety: serialize with
/// all other calls on `e`.
///
/// # Safety
/// `e` is NULL or a live engine handle; `mac` is NULL or readable for 6
/// bytes.
#[no_mangle]
pub unsafe extern "C" fn vsw_fdb_del(
    e: *mut vsw_engine,
    mac: *const u8,
    vlan: u16,
    now: u32,
) -> i32 {
    // SAFETY: the caller's contract on `e` and `mac`.
    unsafe {
        with_engine(e, |eng| {
            let mac = read_mac(mac)?;
            eng.fdb_del(mac, vlan, now)
        })
    }
}

/// Looks up the FDB entry of (`mac`, `vlan`) at time `now` into `*out`.
///
/// Errors: `VSW_EINVAL` for a NULL engine, `mac` or `out`, or `vlan`
/// outside 1-4094; `VSW_ENOENT` if there is no such entry (`*out`
/// unchanged); `VSW_EPANIC`. Ownership: `mac` is only read; `*out` is the
/// caller's, written on success. Thread safety: serialize with all other
/// calls on `e`.
///
/// # Safety
/// `e` is NULL or a live engine handle; `mac` is NULL or readable for 6
/// bytes; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vsw_fdb_get(
    e: *mut vsw_engine,
    mac: *const u8,
    vlan: u16,
    now: u32,
    out: *mut vsw_fdb_entry,
) -> i32 {
    // SAFETY: the caller's contract on every pointer.
    unsafe {
        with_engine(e, |eng| {
            let mac = read_mac(mac)?;
            let out = out_ref(out)?;
            *out = eng.fdb_get(mac, vlan, now)?;
            Ok(())
        })
    }
}

/// Removes every FDB entry in a scope: `VSW_FLUSH_ALL` (`value` 0),
/// `VSW_FLUSH_PORT` (`value` = port) or `VSW_FLUSH_VLAN` (`value` =
/// VLAN). Static entries go too only if `include_static` is 1. The freed
/// slots are reclaimed at once (a sweep at the latest `now` the engine
/// was given).
///
/// Errors: `VSW_EINVAL` for a NULL engine, an unknown scope, a `value`
/// out of range for it, or `include_static` other than 0/1; `VSW_EPANIC`.
/// Ownership: `e` stays the caller's. Thread safety: serialize with all
/// other calls on `e`.
///
/// # Safety
/// `e` is NULL or a live engine handle.
#[no_mangle]
pub unsafe extern "C" fn vsw_fdb_flush(
    e: *mut vsw_engine,
    scope: i32,
    value: u16,
    include_static: u8,
) -> i32 {
    // SAFETY: the caller's contract on `e`.
    unsafe { with_engine(e, |eng| eng.fdb_flush(scope, value, include_static)) }
}

/// Lists the FDB entries visible at time `now`, sorted by VLAN then MAC:
/// writes up to `cap` of them to `out` and the total number to `*n`.
/// With `out` NULL and `cap` 0 it only counts: `*n` is the total and the
/// call succeeds.
///
/// Errors: `VSW_EINVAL` for a NULL engine or `n`, or `out` NULL with
/// `cap > 0`; `VSW_ENOSPC` when `out` is given and there are more than
/// `cap` entries (the first `cap` are written and `*n` is the total);
/// `VSW_EPANIC`.
/// Ownership: `out` is the caller's array. Thread safety: serialize with
/// all other calls on `e`.
///
/// # Safety
/// `e` is NULL or a live engine handle; `out` is NULL or writable for
/// `cap` entries; `n` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vsw_fdb_entries(
    e: *mut vsw_engine,
    now: u32,
    out: *mut vsw_fdb_entry,
    cap: usize,
    n: *mut usize,
) -> i32 {
    // SAFETY: the caller's contract on every pointer.
    unsafe {
        with_engine(e, |eng| {
            let n = out_ref(n)?;
            let count_only = out.is_null() && cap == 0;
            let out = engine::out_slice(out, cap)?;
            match eng.fdb_entries(now, out, n) {
                Err(VSW_ENOSPC) if count_only => Ok(()),
                r => r,
            }
        })
    }
}

/// Ages the FDB at time `now`: removes learned entries not seen for the
/// aging time and reclaims the slots of flushed, deleted and aged
/// entries. Call it about once a second. `report` may be NULL; otherwise
/// it receives what was done.
///
/// Errors: `VSW_EINVAL` for a NULL engine or a misaligned `report`;
/// `VSW_EPANIC`. Ownership: `*report` is the caller's, written on
/// success. Thread safety: serialize with all other calls on `e`.
///
/// # Safety
/// `e` is NULL or a live engine handle; `report` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vsw_age_sweep(
    e: *mut vsw_engine,
    now: u32,
    report: *mut vsw_sweep_report,
) -> i32 {
    // SAFETY: the caller's contract on every pointer.
    unsafe {
        with_engine(e, |eng| {
            let report = if report.is_null() {
                None
            } else {
                Some(out_ref(report)?)
            };
            let r = eng.sweep(now);
            if let Some(out) = report {
                *out = r;
            }
            Ok(())
        })
    }
}

// ----- counters -----

/// Copies the counters of port `port` into `*out`. Any port id below
/// `VSW_MAX_PORTS` is valid (a port never added reads all zeros; a
/// removed port keeps its counts).
///
/// Errors: `VSW_EINVAL` for a NULL engine or `out`, or `port >=
/// VSW_MAX_PORTS`; `VSW_EPANIC`. Ownership: `*out` is the caller's,
/// written on success. Thread safety: serialize with all other calls on
/// `e`.
///
/// # Safety
/// `e` is NULL or a live engine handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vsw_port_counters(
    e: *mut vsw_engine,
    port: u8,
    out: *mut vsw_port_stats,
) -> i32 {
    // SAFETY: the caller's contract on every pointer.
    unsafe {
        with_engine(e, |eng| {
            let out = out_ref(out)?;
            *out = eng.port_counters(port)?;
            Ok(())
        })
    }
}

/// Writes to `*out` how many frames (or, for per-port reasons, output
/// copies) were dropped for `reason` (a `VSW_DROP_*`).
///
/// Errors: `VSW_EINVAL` for a NULL engine or `out`, or a `reason` outside
/// `0..VSW_DROP_COUNT`; `VSW_EPANIC`. Ownership: `*out` is the caller's,
/// written on success. Thread safety: serialize with all other calls on
/// `e`.
///
/// # Safety
/// `e` is NULL or a live engine handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vsw_drop_count(e: *mut vsw_engine, reason: i32, out: *mut u64) -> i32 {
    // SAFETY: the caller's contract on every pointer.
    unsafe {
        with_engine(e, |eng| {
            let out = out_ref(out)?;
            *out = eng.drop_count(reason)?;
            Ok(())
        })
    }
}

/// Writes to `*out` how often `event` (a `VSW_EVENT_*`) happened.
///
/// Errors: `VSW_EINVAL` for a NULL engine or `out`, or an `event` outside
/// `0..VSW_EVENT_COUNT`; `VSW_EPANIC`. Ownership: `*out` is the caller's,
/// written on success. Thread safety: serialize with all other calls on
/// `e`.
///
/// # Safety
/// `e` is NULL or a live engine handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vsw_event_count(e: *mut vsw_engine, event: i32, out: *mut u64) -> i32 {
    // SAFETY: the caller's contract on every pointer.
    unsafe {
        with_engine(e, |eng| {
            let out = out_ref(out)?;
            *out = eng.event_count(event)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests;

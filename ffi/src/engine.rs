//! The engine behind a `vsw_engine` handle, and the translations between
//! C values and the dataplane's types. Nothing here is exported to C.

use std::collections::hash_map::RandomState;
use std::ffi::CStr;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use arrayvec::ArrayVec;
use vswitch_engine::fdb::{Fdb, FdbConfig, FdbEntry, FdbError, FlushScope};
use vswitch_engine::limits::{
    BATCH_SIZE, FDB_CAPACITY_RANGE, MAX_AGING_SECS, MAX_FRAME_LEN, MAX_PORTS, VLAN_TAG_LEN,
};
use vswitch_engine::pipeline::{Disposition, FrameRef, Output};
use vswitch_engine::{
    DropReason, Engine as Rules, EngineError, EngineWorker, Event, Frame, Mac, PortConfig, PortId,
    PortSet, StaticEntry, Transmit, VlanId, VlanMode, VlanSet,
};

use crate::*;

// The header's numbers are literals (cbindgen copies them); they must be
// the engine's.
const _: () = {
    assert!(VSW_MAX_PORTS as usize == MAX_PORTS);
    assert!(VSW_BATCH_MAX == BATCH_SIZE);
    assert!(VSW_TAG_LEN == VLAN_TAG_LEN);
    assert!(VSW_MAX_FRAME_LEN as usize == MAX_FRAME_LEN);
    assert!(VSW_FDB_CAPACITY_MIN == *FDB_CAPACITY_RANGE.start());
    assert!(VSW_FDB_CAPACITY_MAX == *FDB_CAPACITY_RANGE.end());
    assert!(VSW_AGING_MAX == MAX_AGING_SECS);
    assert!(VSW_DROP_COUNT as usize == DropReason::COUNT);
    assert!(VSW_EVENT_COUNT as usize == Event::COUNT);
    // copy_spare is an i32 index below VSW_BATCH_MAX.
    assert!(BATCH_SIZE < i32::MAX as usize);
};

/// The library version as a C string.
pub(crate) const VERSION: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(s) => s,
        Err(_) => panic!("the package version has no NUL"),
    };

pub(crate) fn strerror(code: i32) -> &'static CStr {
    match code {
        VSW_OK => c"success",
        VSW_EINVAL => c"invalid argument",
        VSW_ENOENT => c"no such port or entry",
        VSW_EEXIST => c"port already exists",
        VSW_ENOSPC => c"no space left (FDB full or output array too small)",
        VSW_EAGAIN => c"entry busy, try again",
        VSW_EPANIC => c"internal error (panic caught); the engine is unusable",
        _ => c"unknown error code",
    }
}

// ----- drop reasons and events: exhaustive both ways, so a new engine
// variant fails to compile here until it gets a C number. -----

pub(crate) fn drop_code(r: DropReason) -> i32 {
    match r {
        DropReason::Runt => VSW_DROP_RUNT,
        DropReason::TruncatedVlanTag => VSW_DROP_TRUNCATED_VLAN_TAG,
        DropReason::QinQ => VSW_DROP_QINQ_UNSUPPORTED,
        DropReason::VlanReserved => VSW_DROP_VLAN_RESERVED,
        DropReason::TaggedOnAccess => VSW_DROP_TAGGED_ON_ACCESS,
        DropReason::VlanNotAllowed => VSW_DROP_VLAN_NOT_ALLOWED,
        DropReason::UntaggedNoNative => VSW_DROP_UNTAGGED_NO_NATIVE,
        DropReason::PortUnknown => VSW_DROP_PORT_UNKNOWN,
        DropReason::SamePort => VSW_DROP_SAME_PORT,
        DropReason::NoOutput => VSW_DROP_NO_OUTPUT,
        DropReason::TooLarge => VSW_DROP_TOO_LARGE,
        DropReason::NoSpareFrame => VSW_DROP_NO_SPARE_FRAME,
        DropReason::TxRingFull => VSW_DROP_TX_RING_FULL,
        DropReason::HandoffFull => VSW_DROP_HANDOFF_FULL,
        DropReason::Truncated => VSW_DROP_TRUNCATED,
        DropReason::BadOffload => VSW_DROP_BAD_OFFLOAD,
        DropReason::LinkDown => VSW_DROP_LINK_DOWN,
        DropReason::Shaped => VSW_DROP_SHAPED,
        DropReason::MirrorOutput => VSW_DROP_MIRROR_OUTPUT,
        DropReason::ForgedSource => VSW_DROP_FORGED_SOURCE,
        DropReason::MacChange => VSW_DROP_MAC_CHANGE,
        DropReason::MacLimit => VSW_DROP_MAC_LIMIT,
    }
}

pub(crate) fn drop_from_code(code: i32) -> Option<DropReason> {
    DropReason::ALL
        .iter()
        .copied()
        .find(|r| drop_code(*r) == code)
}

pub(crate) fn drop_name(r: DropReason) -> &'static CStr {
    match r {
        DropReason::Runt => c"runt",
        DropReason::TruncatedVlanTag => c"truncated_vlan_tag",
        DropReason::QinQ => c"qinq_unsupported",
        DropReason::VlanReserved => c"vlan_reserved",
        DropReason::TaggedOnAccess => c"tagged_on_access",
        DropReason::VlanNotAllowed => c"vlan_not_allowed",
        DropReason::UntaggedNoNative => c"untagged_no_native",
        DropReason::PortUnknown => c"port_unknown",
        DropReason::SamePort => c"same_port",
        DropReason::NoOutput => c"no_output",
        DropReason::TooLarge => c"too_large",
        DropReason::NoSpareFrame => c"no_spare_frame",
        DropReason::TxRingFull => c"tx_ring_full",
        DropReason::HandoffFull => c"handoff_full",
        DropReason::Truncated => c"truncated",
        DropReason::BadOffload => c"bad_offload",
        DropReason::LinkDown => c"link_down",
        DropReason::Shaped => c"shaped",
        DropReason::MirrorOutput => c"mirror_output",
        DropReason::ForgedSource => c"forged_source",
        DropReason::MacChange => c"mac_change",
        DropReason::MacLimit => c"mac_limit",
    }
}

pub(crate) fn event_code(e: Event) -> i32 {
    match e {
        Event::Unicast => VSW_EVENT_UNICAST,
        Event::Flood => VSW_EVENT_FLOOD,
        Event::UnknownUnicast => VSW_EVENT_UNKNOWN_UNICAST,
        Event::EgressCopies => VSW_EVENT_EGRESS_COPIES,
        Event::FdbLearned => VSW_EVENT_FDB_LEARNED,
        Event::FdbMoved => VSW_EVENT_FDB_MOVED,
        Event::FdbFull => VSW_EVENT_FDB_FULL,
        Event::FdbRace => VSW_EVENT_FDB_RACE,
        Event::FdbStaticConflict => VSW_EVENT_FDB_STATIC_CONFLICT,
        Event::Handoff => VSW_EVENT_HANDOFF,
        Event::ChecksumCompleted => VSW_EVENT_CSUM_COMPLETED,
        Event::SoftwareSegments => VSW_EVENT_SW_SEGMENTS,
        Event::FdbEvicted => VSW_EVENT_FDB_EVICTED,
        Event::FdbLimit => VSW_EVENT_FDB_LIMIT,
        Event::FdbHeldDown => VSW_EVENT_FDB_HELD_DOWN,
    }
}

pub(crate) fn event_from_code(code: i32) -> Option<Event> {
    Event::ALL.iter().copied().find(|e| event_code(*e) == code)
}

pub(crate) fn event_name(e: Event) -> &'static CStr {
    match e {
        Event::Unicast => c"unicast",
        Event::Flood => c"flood",
        Event::UnknownUnicast => c"unknown_unicast",
        Event::EgressCopies => c"egress_copies",
        Event::FdbLearned => c"fdb_learned",
        Event::FdbMoved => c"fdb_moved",
        Event::FdbFull => c"fdb_full",
        Event::FdbRace => c"fdb_race",
        Event::FdbStaticConflict => c"fdb_static_conflict",
        Event::Handoff => c"handoff",
        Event::ChecksumCompleted => c"csum_completed",
        Event::SoftwareSegments => c"sw_segments",
        Event::FdbEvicted => c"fdb_evicted",
        Event::FdbLimit => c"fdb_limit",
        Event::FdbHeldDown => c"fdb_held_down",
    }
}

fn fdb_error(e: FdbError) -> i32 {
    match e {
        FdbError::Capacity(_) | FdbError::Aging(_) => VSW_EINVAL,
        FdbError::TooManyReaders | FdbError::Full => VSW_ENOSPC,
        FdbError::Contended => VSW_EAGAIN,
    }
}

/// The engine's refusals as C codes: the same rules as the daemon's.
fn engine_error(e: EngineError) -> i32 {
    match e {
        EngineError::PortExists(_) => VSW_EEXIST,
        EngineError::NoPort(_) => VSW_ENOENT,
        EngineError::StrandsStatic(_)
        | EngineError::NotCarried { .. }
        | EngineError::NotUnicast(_)
        | EngineError::Mirror(_) => VSW_EINVAL,
        EngineError::Fdb(e) => fdb_error(e),
    }
}

// ----- argument translation -----

fn port_id(port: u8) -> Result<PortId, i32> {
    PortId::new(port as usize).ok_or(VSW_EINVAL)
}

fn vlan_id(vlan: u16) -> Result<VlanId, i32> {
    VlanId::new(vlan).ok_or(VSW_EINVAL)
}

fn flag(v: u8) -> Result<bool, i32> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(VSW_EINVAL),
    }
}

/// A port configuration from its C form, validated.
///
/// # Safety
/// `c.trunk_vlans` is NULL or a NUL-terminated string.
pub(crate) unsafe fn port_config(c: &vsw_port_config) -> Result<PortConfig, i32> {
    let native = match c.vlan {
        0 => None,
        v => Some(vlan_id(v)?),
    };
    let trunk_vlans = if c.trunk_vlans.is_null() {
        None
    } else {
        // SAFETY: non-null; NUL-terminated by the caller's contract.
        let s = unsafe { CStr::from_ptr(c.trunk_vlans) };
        Some(s.to_str().map_err(|_| VSW_EINVAL)?)
    };
    let mode = match c.mode {
        VSW_MODE_ACCESS if trunk_vlans.is_none() => VlanMode::Access(native.ok_or(VSW_EINVAL)?),
        VSW_MODE_TRUNK => VlanMode::Trunk {
            allowed: match trunk_vlans {
                Some(s) => s.parse::<VlanSet>().map_err(|_| VSW_EINVAL)?,
                None => VlanSet::all(),
            },
            native,
        },
        VSW_MODE_GUEST if trunk_vlans.is_none() => VlanMode::Guest { native },
        _ => return Err(VSW_EINVAL),
    };
    let mut cfg = PortConfig::new(mode);
    cfg.learning = flag(c.learning)?;
    cfg.flood_unknown_unicast = flag(c.flood_unknown_unicast)?;
    cfg.promiscuous = flag(c.promiscuous)?;
    cfg.max_frame_len = match c.max_frame_len {
        0 => MAX_FRAME_LEN,
        n if (VSW_MIN_FRAME_LEN..=VSW_MAX_FRAME_LEN).contains(&n) => n as usize,
        _ => return Err(VSW_EINVAL),
    };
    Ok(cfg)
}

/// [`port_config`] of a C pointer.
///
/// # Safety
/// `c` is NULL or points to a readable `vsw_port_config` whose
/// `trunk_vlans` is NULL or a NUL-terminated string.
pub(crate) unsafe fn port_config_ptr(c: *const vsw_port_config) -> Result<PortConfig, i32> {
    if c.is_null() || !c.is_aligned() {
        return Err(VSW_EINVAL);
    }
    // SAFETY: non-null, aligned, readable by the caller's contract; read
    // as a copy so nothing borrows the caller's memory.
    let c = unsafe { c.read() };
    // SAFETY: trunk_vlans as promised by the caller.
    unsafe { port_config(&c) }
}

/// `cap` writable elements at `p` (NULL allowed only when `cap` is 0).
///
/// # Safety
/// `p` is NULL or valid for writes of `cap` elements for `'a`, and no other
/// reference to them exists meanwhile.
pub(crate) unsafe fn out_slice<'a, T>(p: *mut T, cap: usize) -> Result<&'a mut [T], i32> {
    if cap == 0 {
        return Ok(&mut []);
    }
    if p.is_null() || !p.is_aligned() || cap > isize::MAX as usize / size_of::<T>().max(1) {
        return Err(VSW_EINVAL);
    }
    // SAFETY: non-null, aligned, size in range; validity for `cap`
    // elements is the caller's contract.
    Ok(unsafe { core::slice::from_raw_parts_mut(p, cap) })
}

/// Checks a buffer's window and returns its address range.
fn buffer_range(
    buf: *mut u8,
    capacity: usize,
    offset: usize,
    len: usize,
) -> Result<(usize, usize), i32> {
    let end_in_buf = offset.checked_add(len).ok_or(VSW_EINVAL)?;
    if buf.is_null() || capacity > isize::MAX as usize || end_in_buf > capacity {
        return Err(VSW_EINVAL);
    }
    let start = buf as usize;
    let end = start.checked_add(capacity).ok_or(VSW_EINVAL)?;
    Ok((start, end))
}

/// A C buffer as a byte slice.
///
/// # Safety
/// `buf` is valid for reads and writes of `capacity` bytes for `'a` and
/// nothing else references those bytes meanwhile.
unsafe fn bytes<'a>(buf: *mut u8, capacity: usize) -> &'a mut [u8] {
    if capacity == 0 {
        return &mut [];
    }
    // SAFETY: the caller's contract; buffer_range checked non-null and size.
    unsafe { core::slice::from_raw_parts_mut(buf, capacity) }
}

// ----- the engine -----

/// Most address ranges `vsw_process` checks for overlap: every frame and
/// spare buffer plus the two descriptor arrays.
const MAX_RANGES: usize = 2 * BATCH_SIZE + 2;

/// What one frame of a batch came to, before it is written back to C.
#[derive(Clone, Copy)]
struct FrameResult {
    drop_reason: i32,
    decided: PortSet,
    ports: PortSet,
    copy_ports: PortSet,
    copy_spare: i32,
}

impl Default for FrameResult {
    fn default() -> Self {
        FrameResult {
            drop_reason: VSW_FORWARDED,
            decided: PortSet::EMPTY,
            ports: PortSet::EMPTY,
            copy_ports: PortSet::EMPTY,
            copy_spare: -1,
        }
    }
}

/// One embedder's switch: the engine (private FDB, ports, rules) and one
/// worker, both driven from the caller's thread.
pub(crate) struct Engine {
    rules: Rules,
    worker: EngineWorker,
    /// The latest `now` any call gave: the clock of sweeps that control
    /// operations do on their own.
    last_now: u32,
}

// A handle may move between threads (calls are serialized by the caller).
const _: () = {
    const fn is_send<T: Send>() {}
    is_send::<Engine>();
};

impl Engine {
    pub(crate) fn new(capacity: usize, aging_secs: u32) -> Result<Engine, i32> {
        // A per-engine random hash seed keeps bucket collisions unpredictable.
        let seed = RandomState::new().build_hasher().finish();
        let rules = Rules::new(FdbConfig {
            capacity,
            aging_secs,
            seed,
        })
        .map_err(engine_error)?;
        let worker = rules.worker(Default::default()).map_err(engine_error)?;
        Ok(Engine {
            rules,
            worker,
            last_now: 0,
        })
    }

    fn fdb(&self) -> &Arc<Fdb> {
        self.rules.fdb()
    }

    fn touch(&mut self, now: u32) {
        self.last_now = now;
    }

    pub(crate) fn set_aging(&mut self, secs: u32) -> Result<(), i32> {
        self.fdb().set_aging_secs(secs).map_err(fdb_error)
    }

    pub(crate) fn port_add(&mut self, port: u8, cfg: PortConfig) -> Result<(), i32> {
        let id = port_id(port)?;
        self.rules.add_port(id, cfg, 0).map_err(engine_error)
    }

    pub(crate) fn port_set(&mut self, port: u8, cfg: PortConfig) -> Result<(), i32> {
        let id = port_id(port)?;
        self.rules
            .set_port(id, cfg, self.last_now)
            .map(|_| ())
            .map_err(engine_error)
    }

    pub(crate) fn port_remove(&mut self, port: u8) -> Result<(), i32> {
        let id = port_id(port)?;
        self.rules
            .remove_port(id, self.last_now)
            .map(|_| ())
            .map_err(engine_error)
    }

    pub(crate) fn fdb_add(&mut self, mac: [u8; 6], vlan: u16, port: u8) -> Result<(), i32> {
        let entry = StaticEntry {
            vlan: vlan_id(vlan)?,
            mac: Mac::new(mac),
            port: port_id(port)?,
        };
        self.rules.add_static(entry).map_err(engine_error)
    }

    pub(crate) fn fdb_del(&mut self, mac: [u8; 6], vlan: u16, now: u32) -> Result<(), i32> {
        let vlan = vlan_id(vlan)?;
        self.touch(now);
        if self.rules.remove_entry(vlan, Mac::new(mac), now) {
            Ok(())
        } else {
            Err(VSW_ENOENT)
        }
    }

    pub(crate) fn fdb_get(
        &mut self,
        mac: [u8; 6],
        vlan: u16,
        now: u32,
    ) -> Result<vsw_fdb_entry, i32> {
        let vlan = vlan_id(vlan)?;
        self.touch(now);
        self.fdb()
            .get(vlan, Mac::new(mac), now)
            .map(c_entry)
            .ok_or(VSW_ENOENT)
    }

    pub(crate) fn fdb_flush(
        &mut self,
        scope: i32,
        value: u16,
        include_static: u8,
    ) -> Result<(), i32> {
        let scope = match scope {
            VSW_FLUSH_ALL if value == 0 => FlushScope::All,
            VSW_FLUSH_PORT => {
                FlushScope::Port(port_id(u8::try_from(value).map_err(|_| VSW_EINVAL)?)?)
            }
            VSW_FLUSH_VLAN => FlushScope::Vlan(vlan_id(value)?),
            _ => return Err(VSW_EINVAL),
        };
        let include_static = flag(include_static)?;
        self.rules.flush(scope, include_static, self.last_now);
        Ok(())
    }

    pub(crate) fn fdb_entries(
        &mut self,
        now: u32,
        out: &mut [vsw_fdb_entry],
        n: &mut usize,
    ) -> Result<(), i32> {
        self.touch(now);
        let mut entries = self.fdb().entries(now);
        entries.sort_unstable_by_key(|e| (e.vlan, e.mac));
        for (dst, src) in out.iter_mut().zip(&entries) {
            *dst = c_entry(*src);
        }
        *n = entries.len();
        if entries.len() > out.len() {
            Err(VSW_ENOSPC)
        } else {
            Ok(())
        }
    }

    pub(crate) fn sweep(&mut self, now: u32) -> vsw_sweep_report {
        self.touch(now);
        let r = self.fdb().sweep(now);
        vsw_sweep_report {
            reclaimed: r.reclaimed as u64,
            aged: r.aged as u64,
            retired: r.retired as u64,
            pending: r.pending as u64,
        }
    }

    pub(crate) fn port_counters(&self, port: u8) -> Result<vsw_port_stats, i32> {
        let t = self.worker.stats().port(port_id(port)?).totals();
        Ok(vsw_port_stats {
            rx_packets: t.rx_packets,
            rx_bytes: t.rx_bytes,
            tx_packets: t.tx_packets,
            tx_bytes: t.tx_bytes,
            rx_dropped: t.rx_dropped,
            tx_dropped: t.tx_dropped,
        })
    }

    pub(crate) fn drop_count(&self, reason: i32) -> Result<u64, i32> {
        let r = drop_from_code(reason).ok_or(VSW_EINVAL)?;
        Ok(self.worker.stats().drops(r))
    }

    pub(crate) fn event_count(&self, event: i32) -> Result<u64, i32> {
        let e = event_from_code(event).ok_or(VSW_EINVAL)?;
        Ok(self.worker.stats().event(e))
    }

    /// `vsw_process`: validates everything, then switches the frames as one
    /// batch (see [`Self::run`]).
    ///
    /// # Safety
    /// As `vsw_process`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn process(
        &mut self,
        ingress: u8,
        now: u32,
        frames: *mut vsw_frame,
        n: usize,
        spares: *mut vsw_spare,
        n_spares: usize,
        spares_used: *mut usize,
    ) -> Result<(), i32> {
        let ingress = port_id(ingress)?;
        if n > BATCH_SIZE {
            return Err(VSW_EINVAL);
        }
        if n_spares > 0 && (spares.is_null() || !spares.is_aligned()) {
            return Err(VSW_EINVAL);
        }
        let spares_used = if spares_used.is_null() {
            None
        } else {
            // SAFETY: the caller's contract on `spares_used`.
            Some(unsafe { crate::out_ref(spares_used)? })
        };
        // SAFETY: the caller's contract: `n` writable frames.
        let frames = unsafe { out_slice(frames, n)? };
        // A frame uses at most one spare: the ones past `n` are never read.
        // SAFETY: the caller's contract: `n_spares` writable spares.
        let spares = unsafe { out_slice(spares, n_spares.min(n))? };

        // Validate every window, and that no two buffers (or a buffer and
        // a descriptor array) overlap: each becomes a `&mut [u8]`.
        let mut ranges: ArrayVec<(usize, usize), MAX_RANGES> = ArrayVec::new();
        for f in frames.iter() {
            ranges.push(buffer_range(f.buf, f.capacity, f.offset, f.len)?);
        }
        for s in spares.iter() {
            ranges.push(buffer_range(s.buf, s.capacity, s.offset, 0)?);
        }
        for (p, bytes) in [
            (frames.as_ptr() as usize, size_of_val(frames)),
            (spares.as_ptr() as usize, size_of_val(spares)),
        ] {
            ranges.push((p, p + bytes));
        }
        ranges.retain(|r| r.0 != r.1);
        ranges.sort_unstable();
        if ranges.windows(2).any(|w| w[0].1 > w[1].0) {
            return Err(VSW_EINVAL);
        }

        // Nothing can fail from here on.
        self.touch(now);
        let mut rx: ArrayVec<Frame<'_>, BATCH_SIZE> = ArrayVec::new();
        for f in frames.iter_mut() {
            // SAFETY: checked above: non-null, in range, not overlapping any
            // other buffer or the arrays; valid by the caller's contract.
            let buf = unsafe { bytes(f.buf, f.capacity) };
            let (mut start, len) = (f.offset, f.len);
            if start < VLAN_TAG_LEN && len + VLAN_TAG_LEN <= buf.len() {
                // Make headroom for a tag push by moving the data forward.
                buf.copy_within(start..start + len, VLAN_TAG_LEN);
                start = VLAN_TAG_LEN;
            }
            rx.push(Frame::new(buf, start, len).ok_or(VSW_EINVAL)?);
        }
        let mut sp: ArrayVec<Frame<'_>, BATCH_SIZE> = ArrayVec::new();
        for s in spares.iter() {
            // SAFETY: as for the frames above.
            let buf = unsafe { bytes(s.buf, s.capacity) };
            sp.push(Frame::new(buf, s.offset, 0).ok_or(VSW_EINVAL)?);
        }

        let mut results = [FrameResult::default(); BATCH_SIZE];
        let used = self.run(ingress, now, &mut rx, &mut sp, &mut results[..n]);

        for ((f, r), frame) in frames.iter_mut().zip(&results).zip(&rx) {
            f.offset = frame.start();
            f.len = frame.len();
            f.drop_reason = r.drop_reason;
            f.copy_spare = r.copy_spare;
            f.ports = r.ports.0;
            f.copy_ports = r.copy_ports.0;
            f.unsent_ports = r.decided.difference(r.ports.union(r.copy_ports)).0;
        }
        for (s, frame) in spares.iter_mut().zip(&sp).take(used) {
            s.len = frame.len();
        }
        if let Some(u) = spares_used {
            *u = used;
        }
        Ok(())
    }

    /// Switches the frames and fills in their results from the engine's
    /// outputs (each names its frame: at most one output of the frame's
    /// own buffer and one spare copy); returns the spares used.
    fn run(
        &mut self,
        ingress: PortId,
        now: u32,
        rx: &mut [Frame<'_>],
        spares: &mut [Frame<'_>],
        results: &mut [FrameResult],
    ) -> usize {
        results.fill(FrameResult::default());
        let snapshot = self.worker.load();
        let mut sink = Results(results);
        let out = self
            .worker
            .process(&snapshot, ingress, now, rx, spares, &mut sink);
        let dispositions = out.dispositions();
        debug_assert_eq!(dispositions.len(), rx.len());
        for (r, d) in sink.0.iter_mut().zip(dispositions) {
            match *d {
                Disposition::Forward(p) => r.decided = PortSet::one(p),
                Disposition::Flood(s) => r.decided = s,
                Disposition::Drop(reason) => r.drop_reason = drop_code(reason),
            }
        }
        out.spares_used()
    }
}

/// The C library's [`Transmit`]: it sends nothing itself, it records per
/// received frame which ports get its buffer and which get a spare copy.
struct Results<'r>(&'r mut [FrameResult]);

impl Transmit for Results<'_> {
    fn transmit(&mut self, o: &Output, _frame: &Frame<'_>) {
        let Some(r) = self.0.get_mut(o.origin as usize) else {
            return;
        };
        match o.frame {
            FrameRef::Rx(_) => r.ports = o.ports,
            FrameRef::Spare(j) => {
                r.copy_ports = o.ports;
                r.copy_spare = j as i32;
            }
        }
    }
}

fn c_entry(e: FdbEntry) -> vsw_fdb_entry {
    vsw_fdb_entry {
        mac: e.mac.octets(),
        vlan: e.vlan.get(),
        port: e.port.index() as u8,
        is_static: e.is_static as u8,
        age_secs: e.age_secs,
    }
}

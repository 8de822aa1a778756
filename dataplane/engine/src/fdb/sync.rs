//! The atomics the FDB is built on: `std`'s normally, loom's under
//! `--cfg loom` so the model checker sees every access. Under loom the
//! per-VLAN, per-port and reader arrays shrink so each explored execution
//! stays small; loom tests use VLAN IDs and ports below those sizes.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize};
#[cfg(loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize};
#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

pub(crate) use std::sync::atomic::Ordering;

/// Per-VLAN flush thresholds kept (indexed by VID).
#[cfg(not(loom))]
pub(crate) const VLAN_SLOTS: usize = 4096;
#[cfg(loom)]
pub(crate) const VLAN_SLOTS: usize = 8;

/// Per-port flush thresholds kept.
#[cfg(not(loom))]
pub(crate) const PORT_SLOTS: usize = crate::limits::MAX_PORTS;
#[cfg(loom)]
pub(crate) const PORT_SLOTS: usize = 4;

/// Reader announcement slots.
#[cfg(not(loom))]
pub(crate) const READER_SLOTS: usize = crate::limits::MAX_FDB_READERS;
#[cfg(loom)]
pub(crate) const READER_SLOTS: usize = 4;

/// Builds a boxed slice of atomics (loom's constructors are not `const`).
pub(crate) fn atomics(n: usize, init: u64) -> Box<[AtomicU64]> {
    (0..n).map(|_| AtomicU64::new(init)).collect()
}

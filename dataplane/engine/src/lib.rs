//! vswitch's packet engine: wire views, the shared FDB, VLAN semantics, the
//! batch pipeline, configuration snapshots and counters, behind one API
//! ([`Engine`] and [`EngineWorker`]) that every driver calls. Frames in,
//! decisions and rewritten frames out; no syscalls, no kernel interface:
//! it runs and is tested without one.
//!
//! The packet path ([`EngineWorker::process`]) never allocates, never
//! locks, never logs and never fails loudly: every way a frame can die is a
//! [`DropReason`] with a counter.
//!
//! Modules build on each other without circles: [`limits`] and [`vocab`]
//! at the ground floor; [`wire`], [`offload`], [`vlan`], [`stats`] on
//! them; then [`shaping`], [`port`], [`fdb`], [`frame`], [`snapshot`]; then
//! [`pipeline`]; then [`capture`]; then [`engine`] and [`mem`].

#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod capture;
pub mod engine;
pub mod fdb;
pub mod frame;
pub mod limits;
pub mod mem;
pub mod mirror;
pub mod offload;
pub mod pipeline;
pub mod policy;
pub mod port;
pub mod shaping;
pub mod snapshot;
pub mod stats;
pub mod trace;
pub mod vlan;
pub mod vocab;
pub mod wire;

pub use engine::{Engine, EngineError, EngineWorker, StaticEntry, Transmit};
pub use fdb::{Fdb, FdbConfig, FdbEntry, FdbError, FdbReader, FlushScope, Learn};
pub use frame::{Encoding, Frame};
pub use offload::Offload;
pub use pipeline::{BatchOutput, Disposition, FrameRef, Output};
pub use policy::{LimitPolicy, PortPolicy};
pub use port::PortConfig;
pub use snapshot::Snapshot;
pub use stats::WorkerStats;
pub use vlan::{VlanMode, VlanSet};
pub use vocab::{DropReason, Event, PortId, PortSet};
pub use wire::{Mac, Tci, VlanId};

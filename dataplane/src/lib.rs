//! vswitch's packet engine: wire views, the shared FDB, VLAN semantics, the
//! batch pipeline, ports and counters. Frames in, decisions and rewritten
//! frames out; it runs and is tested without any kernel interface.
//!
//! The packet path ([`pipeline::Pipeline::process`]) never allocates, never
//! locks, never logs and never fails loudly: every way a frame can die is a
//! [`stats::DropReason`] with a counter.

#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod fdb;
pub mod frame;
pub mod limits;
pub mod pipeline;
pub mod port;
pub mod snapshot;
pub mod stats;
pub mod switch;
pub mod vlan;
pub mod wire;
pub mod worker;

pub use fdb::{Fdb, FdbConfig, FdbEntry, FdbError, FdbReader, FlushScope, Learn};
pub use frame::{Encoding, Frame};
pub use pipeline::{BatchContext, BatchOutput, Disposition, FrameRef, Output, Pipeline};
pub use port::{PortConfig, PortId, PortSet};
pub use snapshot::Snapshot;
pub use stats::{DropReason, Event, WorkerStats};
pub use vlan::{VlanMode, VlanSet};
pub use wire::{Mac, Tci, VlanId};

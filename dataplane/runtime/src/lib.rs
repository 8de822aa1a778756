//! vswitch's port runtime: AF_XDP ports on kernel interfaces, pinned poll
//! workers that feed them through the engine ([`vswitch_engine`]), and the
//! running [`switch::Switch`]. Everything that talks to the kernel lives
//! here; every switching decision lives in the engine.
//!
//! The engine's modules are re-exported under the same names, so users of
//! the runtime name one crate.

#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod exchange;
pub mod port;
pub mod switch;
pub mod worker;

pub use vswitch_engine::{
    capture, engine, fdb, frame, limits, mem, mirror, offload, pipeline, shaping, snapshot, stats,
    vlan, vocab, wire,
};
// One frame through the pipeline, for `trace` (kept apart: one line to merge).
pub use vswitch_engine::trace;
pub use vswitch_engine::{policy, LimitPolicy, PortPolicy};
pub use vswitch_engine::{
    Disposition, DropReason, Encoding, Engine, EngineError, Event, Fdb, FdbConfig, FdbEntry,
    FdbError, FlushScope, Frame, Mac, PortConfig, PortId, PortSet, Snapshot, StaticEntry, Tci,
    VlanId, VlanMode, VlanSet,
};

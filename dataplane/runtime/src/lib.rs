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
    engine, fdb, frame, limits, mem, offload, pipeline, snapshot, stats, vlan, vocab, wire,
};
pub use vswitch_engine::{policy, LimitPolicy, PortPolicy};
pub use vswitch_engine::{
    Disposition, DropReason, Encoding, Engine, EngineError, Event, Fdb, FdbConfig, FdbEntry,
    FdbError, FlushScope, Frame, Mac, PortConfig, PortId, PortSet, Snapshot, StaticEntry, Tci,
    VlanId, VlanMode, VlanSet,
};

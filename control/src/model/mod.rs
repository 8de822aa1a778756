//! The typed control model: one type per group of settings, used alike by
//! the configuration file (TOML), the controller's running state, the
//! API's params and results, and vswitchctl.
//!
//! - [`value`]: VLAN ids, MACs and VLAN lists, parsed once at the edge
//!   (file, JSON, command line) and carried typed from there on.
//! - [`port`]: a port's settings ([`port::PortSettings`]), the partial
//!   update `port.set` applies ([`port::PortPatch`]) and the conversion
//!   into the engine's port configuration.
//! - [`shaping`]: a port's traffic shaping (`[port.shaping.egress]`) and
//!   `port.set`'s change to it.
//! - [`mirror`]: mirror sessions (`[[mirror]]`, `mirror.add`).
//! - [`switch`]: the `[switch]` and `[fdb]` settings and static FDB
//!   entries.
//!
//! Adding a port attribute means: a field in `PortSettings` (and a line in
//! its conversion and its table cells), a field in `PortPatch` (and a line
//! in `apply`), and its entry in `docs/api.md`.

pub mod mirror;
pub mod policy;
pub mod port;
pub mod shaping;
pub mod switch;
pub mod value;

//! The local control API: JSON-RPC 2.0 over a Unix socket, one object per
//! line. `server` accepts and frames, `methods` does the work against the
//! controller with the typed `params` and `results`, `client` is what
//! vswitchctl uses. `docs/api.md` documents every method.

pub mod capture;
pub mod client;
pub mod methods;
mod mirror;
pub mod params;
pub mod prometheus;
mod prometheus_mirror;
pub mod results;
pub mod rpc;
pub mod server;
pub mod trace;

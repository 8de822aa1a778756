//! The local control API: JSON-RPC 2.0 over a Unix socket, one object per
//! line. `server` accepts and frames, `methods` does the work against the
//! controller, `client` is what vswitchctl uses.

pub mod client;
pub mod methods;
pub mod prometheus;
pub mod rpc;
pub mod server;

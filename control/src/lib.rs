//! vswitch's control plane: the typed control model (settings as the
//! file, the API and the controller all see them), the configuration
//! file, the daemon's controller (configuration snapshots, aging,
//! statistics), the link watcher that makes ports follow their
//! interfaces, and its local control API.

#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod api;
pub mod capture_file;
pub mod config;
pub mod controller;
pub mod link;
pub mod metrics;
pub mod mirror_cli;
pub mod model;
pub mod move_guard;
pub mod table;

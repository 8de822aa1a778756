//! vswitch's control plane: the configuration contract, the daemon's
//! controller (configuration snapshots, aging, statistics) and its local
//! control API.

#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod api;
pub mod config;
pub mod controller;
pub mod table;

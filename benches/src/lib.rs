//! Shared helpers for the vswitch benchmarks.

//! Shared helpers for archrace's cross-crate tests (`tests/tests/*.rs`).

pub mod data;
pub mod gpu;
pub mod sampling;

//! The CPU forward pass: one layer loop for every architecture, driven by the `ModelSpec`. Plain, readable
//! loops; the oracle the GPU path is tested against.

pub mod forward;
pub mod mixers;
pub mod rwkv;
pub mod state;

pub use forward::CpuModel;
pub use state::{LayerState, State};

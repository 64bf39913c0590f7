//! Plain CPU twins of archrace's GPU kernels. Each function here has the same name as its WGSL kernel and
//! is the oracle that kernel is tested against: simple loops over slices, no SIMD, no threads.

pub mod compare;
pub mod model;
pub mod ops;

pub use archrace_model::rng::SplitMix64;
pub use compare::{compare, Mismatch, Tolerance};
pub use model::{CpuModel, State};
pub use ops::matvec_q8_0::matvec_q8_0;

//! archrace's GPU runtime: one wgpu device shared by every kernel, on native Vulkan and in the
//! browser's WebGPU, with the WGSL kernels of `shaders/` and their host-side dispatch code.

pub mod bench;
mod browser;
pub mod context;
pub mod error;
pub mod kernels;
pub mod layout;
pub mod pipelines;
pub mod readback;
pub mod runtime;
pub mod selftest;
pub mod shaders;
pub mod subgroups;

pub use context::{AdapterReport, ContextOptions, GpuContext, KeyLimits};
pub use error::GpuError;
pub use kernels::matvec::{Matvec, MatvecRun};
pub use runtime::{
    GpuModel, GpuSampling, GpuState, MemoryUse, PrefillLogits, StepOutput, StepResult, MAX_DECODE_HEAD_DIM,
    MAX_GPU_TOP_K, PREFILL_CHUNK,
};
pub use selftest::{matvec_q8_0_selftest, SelftestReport};
pub use shaders::{attn_lanes_kernel, attn_runs_kernel, Kernel, ShaderTarget};

//! The model runtime: weights on the GPU in their GGUF encoding, a state per sequence, and the decode
//! step that runs a whole model in one submit.

pub mod forward;
pub mod loop_budget;
mod mixers;
mod ops;
pub mod pool;
pub mod prefill;
pub mod profile;
pub mod recorder;
mod rwkv;
pub mod state;
pub mod weights;

pub use forward::{GpuModel, GpuSampling, StepOutput, StepResult, MAX_DECODE_HEAD_DIM, MAX_GPU_TOP_K};
pub use pool::{Category, MemoryUse, Pool};
pub use prefill::{attn_prefill_grid, attn_prefill_passes, PrefillLogits, PREFILL_CHUNK};
pub use profile::{KernelTime, StepProfile, TimingSource};
pub use state::{
    attn_chunk, attn_head_groups, GpuState, ATTN_GROUPS_GPU, ATTN_GROUPS_SOFTWARE, ATTN_HEADS_PER_GROUP,
    ATTN_ONE_CHUNK, KV_GROWTH,
};

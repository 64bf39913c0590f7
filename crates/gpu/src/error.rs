//! Typed errors of the GPU runtime.

/// Everything that can go wrong between asking for a GPU and reading a result back.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// No adapter at all: no WebGPU in this browser, or no Vulkan driver natively.
    #[error("no GPU adapter available: {0}")]
    NoAdapter(String),
    /// The adapter exists but refused a device.
    #[error("the GPU adapter refused to create a device: {0}")]
    RequestDevice(String),
    /// WGSL, pipeline or dispatch validation failed (a bug, or a limit of this device).
    #[error("GPU validation error in {what}: {message}")]
    Validation {
        /// What was being done.
        what: String,
        /// The driver's or wgpu's message.
        message: String,
    },
    /// The device was lost; nothing on it can be used any more.
    #[error("the GPU device was lost ({0}); reload the models or fall back to the CPU")]
    DeviceLost(String),
    /// The device ran out of memory.
    #[error("GPU out of memory in {0}")]
    OutOfMemory(String),
    /// Mapping a buffer for reading failed (device lost or destroyed).
    #[error("reading results back from the GPU failed: {0}")]
    Readback(String),
    /// A buffer larger than this device allows (a tensor, the KV cache, an activation).
    #[error("{what} needs {bytes} bytes, more than this device's limit of {limit} bytes per buffer")]
    TooLarge {
        /// What it was for.
        what: String,
        /// Bytes needed.
        bytes: u64,
        /// The device's limit.
        limit: u64,
    },
    /// The KV cache cannot grow to hold another token.
    #[error("the context is full at {tokens} tokens: {reason}")]
    ContextFull {
        /// Tokens that fit (the context now).
        tokens: usize,
        /// Why: the device limit or the caller's budget, with the numbers.
        reason: String,
    },
    /// A model feature the GPU runtime does not run yet.
    #[error("not supported on the GPU: {0}")]
    Unsupported(String),
    /// Bad model input (a token id outside the vocabulary).
    #[error("{0}")]
    Model(#[from] archrace_model::ModelError),
    /// Inputs whose shapes do not fit the kernel.
    #[error("bad kernel input: {0}")]
    BadInput(String),
}

impl GpuError {
    /// Converts an error popped from an error scope, naming what was being done.
    pub fn from_scope(what: &str, e: wgpu::Error) -> Self {
        match e {
            wgpu::Error::OutOfMemory { .. } => Self::OutOfMemory(what.to_string()),
            other => Self::Validation { what: what.to_string(), message: other.to_string() },
        }
    }
}

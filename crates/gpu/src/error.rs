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

/// The two error scopes a submit runs inside: out-of-memory, and validation above it.
pub(crate) struct ErrorScopes {
    oom: wgpu::ErrorScopeGuard,
    validation: wgpu::ErrorScopeGuard,
}

impl ErrorScopes {
    /// Pushes both scopes on `device`.
    pub(crate) fn push(device: &wgpu::Device) -> Self {
        let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        Self { oom, validation }
    }

    /// Pops both scopes now (validation first: it was pushed last) and returns a future of the first error
    /// they caught, named by `what`. Both pops are issued before either is awaited, and before the caller
    /// awaits anything else it asked of the device: in the browser each is a round trip to the GPU process,
    /// and one after another they added to every decode step.
    pub(crate) fn pop(self, what: &'static str) -> impl std::future::Future<Output = Result<(), GpuError>> {
        let (validation, oom) = (self.validation.pop(), self.oom.pop());
        async move {
            if let Some(e) = validation.await {
                return Err(GpuError::from_scope(what, e));
            }
            match oom.await {
                Some(e) => Err(GpuError::from_scope(what, e)),
                None => Ok(()),
            }
        }
    }
}

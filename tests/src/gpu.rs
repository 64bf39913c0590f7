//! Getting a GPU in tests: skip politely on a laptop without one, fail loudly in CI.

use archrace_gpu::GpuContext;

/// Set (to anything but `0`) in CI: a missing GPU adapter is then a test failure, not a skip.
pub const REQUIRE_GPU_VAR: &str = "ARCHRACE_REQUIRE_GPU";

/// Whether [`REQUIRE_GPU_VAR`] asks for a GPU.
pub fn gpu_required() -> bool {
    std::env::var(REQUIRE_GPU_VAR).is_ok_and(|v| v != "0")
}

/// A device for a GPU test, or `None` (with a message) when there is no adapter and none is required.
///
/// # Panics
/// When there is no adapter and [`REQUIRE_GPU_VAR`] is set.
pub async fn context_or_skip(test: &str) -> Option<GpuContext> {
    match GpuContext::new().await {
        Ok(ctx) => Some(ctx),
        Err(e) if !gpu_required() => {
            eprintln!("SKIPPED {test}: {e} (set {REQUIRE_GPU_VAR}=1 to make this a failure)");
            None
        }
        Err(e) => panic!("{test}: {e}, and {REQUIRE_GPU_VAR} requires a GPU (install mesa-vulkan-drivers)"),
    }
}

//! Getting a GPU in tests: skip politely on a laptop without one, fail loudly in CI.

use archrace_gpu::{ContextOptions, GpuContext};

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

/// The devices a test of a kernel with a subgroup twin runs on: the default one, and where that one uses
/// subgroup shuffles, the same adapter with subgroups turned off, so both twins of the row sums
/// (`shaders/lib/row_sum*.wgsl`) and of the workgroup reductions (`shaders/lib/reduce*.wgsl`) are
/// checked. Each comes with a name for failure messages. Empty (with a message) as [`context_or_skip`].
pub async fn subgroup_twins_or_skip(test: &str) -> Vec<(&'static str, GpuContext)> {
    let Some(ctx) = context_or_skip(test).await else { return Vec::new() };
    if !ctx.shader_target().subgroups() {
        return vec![("workgroup memory", ctx)];
    }
    let portable = GpuContext::with_options(ContextOptions { subgroups: false, ..Default::default() })
        .await
        .unwrap_or_else(|e| panic!("{test}: a second device on the same adapter: {e}"));
    vec![("subgroup shuffles", ctx), ("workgroup memory", portable)]
}

/// A device that makes a GPU's choices on whatever adapter runs the tests
/// ([`archrace_gpu::ContextOptions::software_tuning`] off): on lavapipe and SwiftShader, the kernels, sizes
/// and forms a real GPU's decode step and prefill take.
pub async fn gpu_tuned(test: &str) -> GpuContext {
    GpuContext::with_options(ContextOptions { software_tuning: false, ..Default::default() })
        .await
        .unwrap_or_else(|e| panic!("{test}: a device with a GPU's tuning on the same adapter: {e}"))
}

/// The devices a whole-model test runs on: the default one, and where that one is tuned for a software
/// adapter ([`GpuContext::software_tuning`]), the adapter once more with a GPU's tuning ([`gpu_tuned`]), so
/// the code real GPUs run is checked here too. Each comes with a name for failure messages; empty (with a
/// message) as [`context_or_skip`].
pub async fn tunings_or_skip(test: &str) -> Vec<(&'static str, GpuContext)> {
    let Some(ctx) = context_or_skip(test).await else { return Vec::new() };
    if !ctx.software_tuning() {
        return vec![("this adapter's tuning", ctx)];
    }
    let gpu = gpu_tuned(test).await;
    vec![("software tuning", ctx), ("a GPU's tuning", gpu)]
}

/// [`subgroup_twins_or_skip`]'s devices and, where they are tuned for a software adapter, the adapter once
/// more with a GPU's tuning ([`gpu_tuned`]), for kernels sized differently on software adapters (the row
/// norms: `archrace_gpu::shaders::norm_threads`), so both sizes are checked here.
pub async fn twins_and_gpu_sizes_or_skip(test: &str) -> Vec<(&'static str, GpuContext)> {
    let mut all = subgroup_twins_or_skip(test).await;
    if all.first().is_some_and(|(_, ctx)| ctx.software_tuning()) {
        all.push(("a GPU's sizes", gpu_tuned(test).await));
    }
    all
}

/// The devices a `matmul` test runs on: [`tunings_or_skip`]'s, then the adapter once for each other tile
/// `archrace bench --matmul-tiles` compares ([`archrace_gpu::kernels::matmul::MATMUL_TILES`]), so a tile a
/// real GPU's figures pick is one whose products are already checked. Each with a name.
pub async fn matmul_tiles_or_skip(test: &str) -> Vec<(String, GpuContext)> {
    use archrace_gpu::kernels::matmul::{MatmulTile, MATMUL_TILES};
    let mut all: Vec<(String, GpuContext)> =
        tunings_or_skip(test).await.into_iter().map(|(name, ctx)| (name.to_string(), ctx)).collect();
    if all.is_empty() {
        return all; // skipped
    }
    let taken: Vec<MatmulTile> = all.iter().map(|(_, ctx)| MatmulTile::of(ctx.shader_target())).collect();
    for tile in MATMUL_TILES.into_iter().filter(|t| !taken.contains(t)) {
        let options = ContextOptions { matmul_tile: Some(tile), software_tuning: false, ..Default::default() };
        let ctx = GpuContext::with_options(options)
            .await
            .unwrap_or_else(|e| panic!("{test}: a device with matmul tile {tile}: {e}"));
        all.push((format!("matmul tile {tile}"), ctx));
    }
    all
}

/// The activations the products apply as they write (the matvec's modes 5 to 11, `matmul_act`'s), each
/// with the `pointwise` op (`archrace_cpu::ops::pointwise`) that is its CPU twin.
pub const ACTIVATIONS: [(archrace_gpu::kernels::matvec::MatvecMode, u32); 7] = {
    use archrace_gpu::kernels::matvec::MatvecMode;
    [
        (MatvecMode::Tanh, 0),
        (MatvecMode::Sigmoid, 9),
        (MatvecMode::ReluSq, 5),
        (MatvecMode::Silu, 8),
        (MatvecMode::SigmoidBias, 1),
        (MatvecMode::Decay7, 2),
        (MatvecMode::Decay6, 3),
    ]
};

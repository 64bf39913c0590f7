//! The GPU sampler (`sample_top_k`) against the CPU's `Sampler`, natively and in the browser.

use archrace_gpu::kernels::oneshot::{run_kernel, Arg};
use archrace_gpu::kernels::params::SampleParams;
use archrace_gpu::{GpuContext, Kernel};
use archrace_model::link::RunSettings;
use archrace_model::{Sampler, SamplerConfig};

/// Settings that exercise every step of the sampler: the page's race (its min-p 0, no penalty); every
/// candidate of the largest top-k; a short top-k cut by top-p and min-p, with a repetition penalty; and
/// top-k 1.
pub fn sampler_configs() -> [SamplerConfig; 4] {
    let page = RunSettings::default();
    [
        SamplerConfig {
            temperature: page.temperature,
            top_k: page.top_k,
            top_p: page.top_p,
            min_p: 0.0,
            seed: 1,
            ..Default::default()
        },
        SamplerConfig { temperature: 1.5, top_k: 64, top_p: 1.0, min_p: 0.0, seed: 2, ..Default::default() },
        SamplerConfig {
            temperature: 0.5,
            top_k: 5,
            top_p: 0.5,
            min_p: 0.2,
            repeat_penalty: 1.3,
            seed: 3,
            ..Default::default()
        },
        SamplerConfig { temperature: 1.0, top_k: 1, seed: 4, ..Default::default() },
    ]
}

/// Runs `sample_top_k` on `logits` with the settings, penalty (for `history`) and next draw of the GPU's
/// sampler, and returns its pick beside the pick of the CPU's sampler (same settings and seed, advanced
/// together).
pub async fn gpu_and_cpu_picks(
    ctx: &GpuContext,
    (cpu, gpu): &mut (Sampler, Sampler),
    logits: &[f32],
    history: &[u32],
) -> (u32, u32) {
    let want = cpu.sample(logits, history);
    let penalized = gpu.penalized(history);
    let penalized_buf = [&penalized[..], &[0]].concat(); // never an empty binding
    let c = &gpu.config;
    let p = SampleParams {
        n: logits.len() as u32,
        out_index: 0,
        top_k: c.top_k as u32,
        n_recent: penalized.len() as u32,
        temperature: c.temperature,
        top_p: c.top_p,
        min_p: c.min_p,
        repeat_penalty: c.repeat_penalty,
        u: gpu.draw(),
    };
    let params: &[u32] = bytemuck::cast_slice(std::slice::from_ref(&p));
    let args = [
        (1, Arg::InOut(bytemuck::cast_slice(logits))),
        (2, Arg::In(bytemuck::cast_slice(&penalized_buf))),
        (3, Arg::Out(16)),
    ];
    let out = run_kernel(ctx, Kernel::SampleTopK, params, &args, [1, 1, 1]).await.expect("the sampler runs");
    (u32::from_le_bytes(out[1][..4].try_into().expect("a token")), want)
}

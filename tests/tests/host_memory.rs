//! Host memory over many decode steps, alone in its own test binary: the measure is the process's
//! resident set, which tests running in parallel threads of one binary would disturb.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::fixture;

use archrace_cpu::CpuModel;
use archrace_gguf::Gguf;
use archrace_gpu::GpuModel;
use archrace_tests::gpu::context_or_skip;

/// Host memory stays flat over hundreds of decode steps, for every architecture. This catches any
/// per-step leak of ours (bind groups, staging, parameters) and of the driver: lavapipe (Mesa 22.3) once
/// grew the process by ~0.2 MB per RMSNorm dispatch and ~0.7 MB per MoE-router dispatch, because it
/// compiled a new shader variant for the values of uniform-buffer parameters at every dispatch; kernels
/// now read their parameters from storage (see `archrace_gpu::runtime::recorder`). Measured now: 0 to
/// 16 KB over the 200 steps; the 2 MB bound fails any leak of 10 KB or more per step.
#[cfg(target_os = "linux")]
#[test]
fn decode_steps_do_not_grow_host_memory() {
    fn rss_kb() -> u64 {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        statm.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 4
    }
    let Some(ctx) = pollster::block_on(context_or_skip("host memory")) else { return };
    for file in ["llama-q8_0.gguf", "mamba-q8_0.gguf", "rwkv6-q8_0.gguf", "rwkv7-q8_0.gguf", "jamba-q8_0.gguf"] {
        let bytes = fixture(file);
        let g = Gguf::parse(&bytes).unwrap();
        let cpu = CpuModel::from_gguf(&g).unwrap();
        let gpu = pollster::block_on(GpuModel::new(&ctx, &cpu.spec, &cpu.weights)).unwrap();
        let mut state = gpu.new_state(&ctx).unwrap();
        let mut token = 1;
        for _ in 0..50 {
            token = pollster::block_on(gpu.greedy(&ctx, &mut state, Some(token))).unwrap();
        }
        let before = rss_kb();
        for _ in 0..200 {
            token = pollster::block_on(gpu.greedy(&ctx, &mut state, Some(token))).unwrap();
        }
        let grown = rss_kb().saturating_sub(before);
        eprintln!("{file}: host memory grew by {grown} KB over 200 decode steps");
        assert!(grown < 2 * 1024, "{file}: host memory grew by {grown} KB over 200 decode steps");
    }
}

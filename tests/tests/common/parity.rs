//! Running one kernel on host data and comparing it with its CPU twin, for the parity test binaries.

use archrace_cpu::{compare, Tolerance};
use archrace_gpu::kernels::oneshot::{run_kernel, Arg};
use archrace_gpu::{GpuContext, Kernel};

/// Same operations, another order of f32 additions (or f32 where the CPU sums in f64).
pub const TIGHT: Tolerance = Tolerance { abs: 1e-6, rel: 2e-5 };
/// exp, log, pow, sin and cos differ by a few ulps between the GPU and Rust's libm.
pub const TRANSCENDENTAL: Tolerance = Tolerance { abs: 1e-5, rel: 1e-4 };

/// f32s as the bytes a binding holds.
pub fn bytes(v: &[f32]) -> &[u8] {
    bytemuck::cast_slice(v)
}

/// Keys or values as a KV cache binding holds them: f32, or f16 (`x` then rounded to the f16 values the
/// cache holds, for the CPU twin to read the same).
pub fn kv_cache_bytes(x: &mut Vec<f32>, f16: bool) -> Vec<u8> {
    if !f16 {
        return bytes(x).to_vec();
    }
    let h: Vec<half::f16> = x.iter().map(|&a| half::f16::from_f32(a)).collect();
    *x = h.iter().map(|a| a.to_f32()).collect();
    h.iter().flat_map(|a| a.to_le_bytes()).collect()
}

/// Runs `k` once and returns every `Out` / `InOut` binding as f32s, in the order given; panics with the
/// kernel's name on an error.
pub fn run(ctx: &GpuContext, k: Kernel, params: &[u32], args: &[(u32, Arg)], groups: [u32; 3]) -> Vec<Vec<f32>> {
    let out =
        pollster::block_on(run_kernel(ctx, k, params, args, groups)).unwrap_or_else(|e| panic!("{}: {e}", k.name()));
    out.iter().map(|b| bytemuck::pod_collect_to_vec(b)).collect()
}

/// Panics with `what` and the first mismatch unless `got` is within `tol` of `expected`.
pub fn check(what: &str, expected: &[f32], got: &[f32], tol: Tolerance) {
    if let Err(m) = compare(expected, got, tol) {
        panic!("{what}: {m}");
    }
}

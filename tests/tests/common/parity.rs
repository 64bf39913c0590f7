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

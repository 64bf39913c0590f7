//! The device self-test: one real kernel on seeded data, checked against its CPU twin. The playground runs
//! it when the page opens, `archrace device` runs it natively, and the tests run it on lavapipe and in
//! headless Chromium.

use crate::{GpuContext, GpuError, Matvec};
use archrace_cpu::{compare, matvec_q8_0, SplitMix64, Tolerance};
use archrace_gguf::quant::q8_0::quantize_row;
use archrace_gguf::GgmlType;
use serde::Serialize;
use web_time::Instant;

/// How closely the GPU must match the CPU: only the order of f32 additions differs, so the error is a
/// few ulps of the largest output times the number of terms' square root.
pub const SELFTEST_TOLERANCE: Tolerance = Tolerance { abs: 1e-6, rel: 2e-5 };

/// The outcome of [`matvec_q8_0_selftest`].
#[derive(Clone, Debug, Serialize)]
pub struct SelftestReport {
    /// Kernel that ran.
    pub kernel: &'static str,
    /// Output length.
    pub rows: usize,
    /// Input length.
    pub cols: usize,
    /// Seed of the random weights and input.
    pub seed: u64,
    /// Whether every output was within [`SELFTEST_TOLERANCE`] of the CPU's.
    pub pass: bool,
    /// Largest |gpu - cpu|.
    pub max_abs_diff: f32,
    /// `max_abs_diff` over the largest |cpu| output.
    pub max_rel_diff: f32,
    /// The first mismatch, with index and both values, when it failed.
    pub mismatch: Option<String>,
    /// GPU time in milliseconds (submit to readback).
    pub gpu_ms: f64,
    /// CPU twin time in milliseconds.
    pub cpu_ms: f64,
    /// Where `gpu_ms` comes from.
    pub timing_source: &'static str,
}

/// Runs `matvec_q8_0` on a `rows x cols` matrix of seeded random weights (quantized to Q8_0) and a
/// random input, on the GPU and on the CPU, and compares the two.
pub async fn matvec_q8_0_selftest(
    ctx: &GpuContext,
    rows: usize,
    cols: usize,
    seed: u64,
) -> Result<SelftestReport, GpuError> {
    // The f32 matrix is made on the host first: refuse one the device could not hold before allocating it.
    let limit = ctx.report.limits.max_buffer_size;
    let bytes = rows.checked_mul(cols).and_then(|n| n.checked_mul(4)).filter(|&b| b as u64 <= limit);
    if rows == 0 || bytes.is_none() {
        return Err(GpuError::BadInput(format!(
            "a {rows} x {cols} self-test needs 1 to {limit} bytes of f32 weights (the device's largest buffer)"
        )));
    }
    let mut rng = SplitMix64::new(seed);
    let dense = rng.vec(rows * cols, -1.0, 1.0);
    let x = rng.vec(cols, -1.0, 1.0);
    let w = quantize_row(&dense).ok_or_else(|| GpuError::BadInput(format!("cols {cols} is not a multiple of 32")))?;

    let kernel = Matvec::new(ctx, GgmlType::Q8_0).await?;
    let w_bytes: &[u8] = bytemuck::cast_slice(&w);
    // One untimed run first, so the timing excludes first-use costs (pipeline JIT, allocation).
    kernel.run(ctx, w_bytes, &x, rows, cols).await?;
    let gpu = kernel.run(ctx, w_bytes, &x, rows, cols).await?;

    let start = Instant::now();
    let mut expected = vec![0.0; rows];
    matvec_q8_0(&w, &x, rows, cols, &mut expected);
    let cpu_ms = start.elapsed().as_secs_f64() * 1e3;

    let (pass, max_abs_diff, max_rel_diff, mismatch) = match compare(&expected, &gpu.y, SELFTEST_TOLERANCE) {
        Ok(a) => (true, a.max_abs_diff, a.max_rel_diff, None),
        Err(m) => (false, f32::NAN, f32::NAN, Some(m.to_string())),
    };
    Ok(SelftestReport {
        kernel: "matvec_q8_0",
        rows,
        cols,
        seed,
        pass,
        max_abs_diff,
        max_rel_diff,
        mismatch,
        gpu_ms: gpu.elapsed_ms,
        cpu_ms,
        timing_source: "wall clock",
    })
}

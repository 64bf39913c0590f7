//! `device`: the GPU adapter and the kernel self-test.

use super::{outln, print_json, CmdResult};
use archrace_gpu::{matvec_q8_0_selftest, GpuContext};

/// Prints the adapter report and the self-test; `Ok(false)` when the self-test failed.
pub fn device(json: bool, rows: usize, cols: usize, seed: u64) -> CmdResult {
    let (ctx, report) = pollster::block_on(async {
        let ctx = GpuContext::new().await?;
        let report = matvec_q8_0_selftest(&ctx, rows, cols, seed).await?;
        Ok::<_, archrace_gpu::GpuError>((ctx, report))
    })?;
    if json {
        let loops = serde_json::json!({ "loop_limit": ctx.loop_limit, "software_tuning": ctx.software_tuning() });
        print_json(&serde_json::json!({ "adapter": ctx.report, "runtime": loops, "selftest": report }))?;
        return Ok(report.pass);
    }
    let a = &ctx.report;
    let l = &a.limits;
    outln!("adapter   {} ({}, {})", a.name, a.backend, a.device_type)?;
    outln!("driver    {}", a.driver)?;
    outln!("features  shader-f16 {}  subgroups {}  timestamp-query {}", a.shader_f16, a.subgroups, a.timestamp_query)?;
    outln!("row sums  {}", a.row_sums)?;
    outln!("tuning    {}", if ctx.software_tuning() { "software adapter" } else { "GPU" })?;
    match ctx.loop_limit {
        Some(n) => outln!(
            "loops     cut short past {n} back-edges an invocation: prefill chunks and attention sized under it"
        )?,
        None => outln!("loops     no cap")?,
    }
    outln!(
        "limits    storage binding {} MiB, buffer {} MiB, {} storage buffers/stage, {} B workgroup memory, {} invocations/workgroup",
        l.max_storage_buffer_binding_size >> 20,
        l.max_buffer_size >> 20,
        l.max_storage_buffers_per_shader_stage,
        l.max_compute_workgroup_storage_size,
        l.max_compute_invocations_per_workgroup
    )?;
    outln!(
        "selftest  {} {}x{} seed {}: {}  max |gpu-cpu| {:.3e} ({:.3e} relative)  gpu {:.3} ms ({})  cpu {:.3} ms",
        report.kernel,
        report.rows,
        report.cols,
        report.seed,
        if report.pass { "PASS" } else { "FAIL" },
        report.max_abs_diff,
        report.max_rel_diff,
        report.gpu_ms,
        report.timing_source,
        report.cpu_ms
    )?;
    if let Some(m) = &report.mismatch {
        outln!("          {m}")?;
    }
    Ok(report.pass)
}

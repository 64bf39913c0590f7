//! Measurements for `archrace bench`: the adapter's copy bandwidth, each matvec encoding's effective
//! bandwidth as a fraction of it, and the cost of empty dispatches. Times come from GPU timestamps around
//! one pass of `reps` dispatches where the adapter has them, else from the wall clock around the submit;
//! every result says which.

use crate::kernels::matvec::{groups, MatvecLimits, MatvecParams};
use crate::kernels::params::{BenchParams, KernelParams};
use crate::pipelines::Pipelines;
use crate::runtime::profile::{Timestamps, TimingSource};
use crate::runtime::recorder::{Recorder, Timing};
use crate::runtime::{pool::STORAGE, Category, Pool};
use crate::{readback, GpuContext, GpuError, Kernel};
use archrace_gguf::GgmlType;
use serde::Serialize;
use web_time::Instant;

/// One timed kernel.
#[derive(Clone, Debug, Serialize)]
pub struct KernelBench {
    /// Kernel name.
    pub kernel: String,
    /// Bytes one run reads and writes.
    pub bytes: u64,
    /// Milliseconds per run.
    pub ms: f64,
    /// `bytes / ms`, in GB/s.
    pub gb_per_s: f64,
    /// Where `ms` comes from.
    pub source: TimingSource,
}

/// Runs `reps` copies of one dispatch in one submit and returns milliseconds per dispatch.
async fn time_dispatches<P: KernelParams>(
    ctx: &GpuContext,
    kernel: Kernel,
    params: &P,
    buffers: &[(u32, &wgpu::Buffer)],
    groups: [u32; 3],
    reps: usize,
) -> Result<(f64, TimingSource), GpuError> {
    let mut pipelines = Pipelines::default();
    pipelines.ensure(ctx, [kernel]).await?;
    let mut pool = Pool::default();
    let run = |timestamps: Option<&Timestamps>| -> Result<wgpu::CommandBuffer, GpuError> {
        let mut rec = Recorder::new(&pipelines);
        for _ in 0..reps {
            rec.dispatch(kernel, params, buffers, groups);
        }
        let params = Pool::default().create_params(ctx, "bench params", rec.params_len())?;
        let mut encoder = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("bench") });
        let timing = timestamps.map_or(Timing::None, |t| Timing::Whole(&t.set));
        rec.encode(&ctx.device, &ctx.queue, &params, &mut encoder, timing, None);
        if let Some(t) = timestamps {
            t.resolve(&mut encoder);
        }
        Ok(encoder.finish())
    };
    // A fence to wait on: a 16-byte read-back after the work.
    let fence =
        pool.create(ctx, "fence", 16, wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST, Category::Staging)?;
    let src = pool.create(ctx, "fence src", 16, STORAGE, Category::Scratch)?;
    let wait = || async {
        let mut e = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("fence") });
        e.copy_buffer_to_buffer(&src, 0, &fence, 0, 16);
        ctx.queue.submit([e.finish()]);
        readback::read_bytes(&ctx.device, &fence).await
    };
    // Warm-up (pipeline first use), then the measured run.
    ctx.queue.submit([run(None)?]);
    wait().await?;
    let timestamps = Timestamps::new(ctx, 2);
    let start = Instant::now();
    ctx.queue.submit([run(timestamps.as_ref())?]);
    wait().await?;
    let wall_ms = start.elapsed().as_secs_f64() * 1e3;
    Ok(match timestamps {
        Some(t) => (t.read_pairs_ms(ctx).await?[0] / reps as f64, TimingSource::GpuTimestamps),
        None => (wall_ms / reps as f64, TimingSource::WallClock),
    })
}

fn row(kernel: String, bytes: u64, (ms, source): (f64, TimingSource)) -> KernelBench {
    KernelBench { kernel, bytes, ms, gb_per_s: bytes as f64 / (ms * 1e6), source }
}

/// The `copy` kernel over `bytes` (read once, written once), and a check that it copied.
pub async fn copy_bandwidth(ctx: &GpuContext, bytes: u64, reps: usize) -> Result<KernelBench, GpuError> {
    let bytes = bytes.min(Pool::max_binding(ctx)) / 16 * 16;
    let mut pool = Pool::default();
    let data: Vec<u32> = (0..bytes / 4).map(|i| i as u32).collect();
    let src = pool.upload(ctx, "copy src", bytemuck::cast_slice(&data), Category::Scratch)?;
    let dst = pool.create(ctx, "copy dst", bytes, STORAGE, Category::Scratch)?;
    let n = (bytes / 16) as usize;
    let (gx, gy) = groups(n.div_ceil(256), ctx.report.limits.max_compute_workgroups_per_dimension);
    let timed = time_dispatches(
        ctx,
        Kernel::Copy,
        &BenchParams { n: n as u32, groups_x: gx },
        &[(1, &src), (2, &dst)],
        [gx, gy, 1],
        reps,
    )
    .await?;
    let staging = pool.create(
        ctx,
        "copy check",
        bytes,
        wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        Category::Staging,
    )?;
    let mut e = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("copy check") });
    e.copy_buffer_to_buffer(&dst, 0, &staging, 0, bytes);
    ctx.queue.submit([e.finish()]);
    let back = readback::read_bytes(&ctx.device, &staging).await?;
    if back != bytemuck::cast_slice::<u32, u8>(&data) {
        return Err(GpuError::BadInput(
            "the copy kernel did not copy: the bandwidth figure would be meaningless".into(),
        ));
    }
    Ok(row("copy".into(), 2 * bytes, timed))
}

/// `matvec_<ty>` over a `rows x cols` matrix of random encoded bytes (uploaded once), timed once per entry
/// of `row_threads`: with the runtime's threads per row group on this device (None), or with that many
/// (one of [`ROW_THREADS`](crate::kernels::matvec::ROW_THREADS)). Bytes = weights + x + y.
pub async fn matvec_bandwidth(
    ctx: &GpuContext,
    ty: GgmlType,
    (rows, cols): (usize, usize),
    reps: usize,
    weights: &[u8],
    row_threads: &[Option<usize>],
) -> Result<Vec<KernelBench>, GpuError> {
    let mut pool = Pool::default();
    let w = pool.upload(ctx, "bench W", &crate::layout::to_gpu_rows(ty, cols, weights), Category::Weights)?;
    let x = pool.upload(ctx, "bench x", &vec![0u8; cols * 4], Category::Scratch)?;
    let y = pool.create(ctx, "bench y", (rows * 4) as u64, STORAGE, Category::Scratch)?;
    let route = pool.create(ctx, "bench route", 16, STORAGE, Category::Scratch)?;
    let buffers = [(1, &w), (2, &x), (3, &y), (4, &route)];
    let bytes = weights.len() as u64 + 4 * (rows + cols) as u64;
    let mut out = Vec::with_capacity(row_threads.len());
    for &rt in row_threads {
        let mut p = MatvecParams::new(ty, rows, cols).with_row_threads(rt)?;
        let (gx, gy) = p.fit(Kernel::Matvec(ty), MatvecLimits::for_row_threads(ctx, rt));
        let timed = time_dispatches(ctx, Kernel::Matvec(ty), &p, &buffers, [gx, gy, 1], reps).await?;
        out.push(row(Kernel::Matvec(ty).name(), bytes, timed));
    }
    Ok(out)
}

/// Wall-clock milliseconds of `n` empty dispatches in one submit, submit to completion: what a decode
/// step's fixed overhead is compared with.
pub async fn empty_dispatches_ms(ctx: &GpuContext, n: usize) -> Result<f64, GpuError> {
    let mut pipelines = Pipelines::default();
    pipelines.ensure(ctx, [Kernel::Noop]).await?;
    let mut pool = Pool::default();
    let fence =
        pool.create(ctx, "fence", 16, wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST, Category::Staging)?;
    let src = pool.create(ctx, "fence src", 16, STORAGE, Category::Scratch)?;
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let start = Instant::now();
        let mut rec = Recorder::new(&pipelines);
        for _ in 0..n {
            rec.dispatch(Kernel::Noop, &BenchParams::default(), &[], [1, 1, 1]);
        }
        let params = pool.create_params(ctx, "noop params", rec.params_len())?;
        let mut e = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("noops") });
        rec.encode(&ctx.device, &ctx.queue, &params, &mut e, Timing::None, None);
        e.copy_buffer_to_buffer(&src, 0, &fence, 0, 16);
        ctx.queue.submit([e.finish()]);
        readback::read_bytes(&ctx.device, &fence).await?;
        best = best.min(start.elapsed().as_secs_f64() * 1e3);
    }
    Ok(best)
}

//! Where a decode step's or a prefill's time goes: GPU timestamps around each dispatch where the adapter has them
//! (`timestamp-query`), otherwise only the wall clock from submit to read-back. Every figure says which.

use crate::{readback, GpuContext, GpuError, Kernel};
use serde::Serialize;

/// Where a time comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimingSource {
    /// GPU timestamp queries (the GPU's own clock; excludes submission and read-back).
    GpuTimestamps,
    /// The host's clock around submit and read-back.
    WallClock,
}

/// One kernel's share of a step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KernelTime {
    /// Kernel name (`matvec_q4_0`, `attn_partial`, ...).
    pub kernel: String,
    /// Dispatches in the step.
    pub calls: usize,
    /// Milliseconds, all calls together.
    pub ms: f64,
}

/// A profiled decode step, or a profiled prefill (every chunk of it).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepProfile {
    /// Where `kernels` come from (always GPU timestamps when present).
    pub source: TimingSource,
    /// Dispatches in the step (the prefill).
    pub dispatches: usize,
    /// Sum of the kernels' GPU time (each in its own pass, so a little more than unprofiled).
    pub gpu_ms: f64,
    /// Per kernel, largest first; empty without timestamps.
    pub kernels: Vec<KernelTime>,
}

/// Most queries one set may hold (wgpu's limit).
pub const MAX_QUERIES: u32 = 4096;

/// A query set and the buffers to read it back.
pub struct Timestamps {
    /// The set.
    pub set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    staging: wgpu::Buffer,
    count: u32,
}

impl Timestamps {
    /// Room for `count` timestamps, or `None` when the adapter has no timestamp queries or `count` is
    /// beyond one set.
    pub fn new(ctx: &GpuContext, count: u32) -> Option<Self> {
        if !ctx.report.timestamp_query || count == 0 || count > MAX_QUERIES {
            return None;
        }
        let set = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count,
        });
        let size = 8 * count as u64;
        let resolve = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps resolve"),
            size,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps read-back"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Some(Self { set, resolve, staging, count })
    }

    /// Records resolving the set (after the timed passes).
    pub fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        encoder.resolve_query_set(&self.set, 0..self.count, &self.resolve, 0);
        encoder.copy_buffer_to_buffer(&self.resolve, 0, &self.staging, 0, 8 * self.count as u64);
    }

    /// Milliseconds between timestamps `2i` and `2i + 1`, for each i (after the submit).
    pub async fn read_pairs_ms(&self, ctx: &GpuContext) -> Result<Vec<f64>, GpuError> {
        let bytes = readback::read_bytes(&ctx.device, &self.staging).await?;
        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&bytes);
        let period_ns = ctx.queue.get_timestamp_period() as f64;
        Ok(ticks.chunks_exact(2).map(|p| p[1].saturating_sub(p[0]) as f64 * period_ns / 1e6).collect())
    }
}

/// One profiled submit (a decode step, or a prefill chunk): its kernels in dispatch order, and the
/// timestamps around each when it has them.
pub type SubmitTimes = (Vec<Kernel>, Option<Timestamps>);

impl StepProfile {
    /// The profile of a decode step or a whole prefill from its submits (after they were submitted): per
    /// kernel over every submit when each has timestamps, else the dispatches alone.
    pub async fn read(ctx: &GpuContext, submits: Vec<SubmitTimes>) -> Result<Self, GpuError> {
        let dispatches = submits.iter().map(|(k, _)| k.len()).sum();
        let (mut kernels, mut ms) = (Vec::new(), Vec::new());
        for (k, t) in &submits {
            let Some(t) = t else {
                return Ok(Self { source: TimingSource::WallClock, dispatches, gpu_ms: 0.0, kernels: Vec::new() });
            };
            ms.extend(t.read_pairs_ms(ctx).await?);
            kernels.extend_from_slice(k);
        }
        let gpu_ms = ms.iter().sum();
        Ok(Self { source: TimingSource::GpuTimestamps, dispatches, gpu_ms, kernels: by_kernel(&kernels, &ms) })
    }
}

/// Sums per-dispatch times by kernel name, largest first.
pub fn by_kernel(kernels: &[Kernel], ms: &[f64]) -> Vec<KernelTime> {
    let mut out: Vec<KernelTime> = Vec::new();
    for (k, &t) in kernels.iter().zip(ms) {
        let name = k.name();
        match out.iter_mut().find(|e| e.kernel == name) {
            Some(e) => {
                e.calls += 1;
                e.ms += t;
            }
            None => out.push(KernelTime { kernel: name, calls: 1, ms: t }),
        }
    }
    out.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    out
}

//! Running one kernel once on host data: how each kernel is tested against its CPU twin, through the
//! same recorder and parameter slots the decode step uses.

use crate::pipelines::Pipelines;
use crate::runtime::recorder::{Recorder, Timing};
use crate::runtime::{Category, Pool};
use crate::{readback, GpuContext, GpuError, Kernel};

/// One storage binding's contents.
pub enum Arg<'a> {
    /// Read by the kernel.
    In(&'a [u8]),
    /// Written by the kernel: this many zeroed bytes, read back.
    Out(usize),
    /// Read and written: these bytes, read back.
    InOut(&'a [u8]),
}

/// Runs `kernel` once with `params` and the storage bindings `args` (by binding number) over `groups`
/// workgroups, and returns the bytes of every `Out` and `InOut` binding, in the order given.
pub async fn run_kernel(
    ctx: &GpuContext,
    kernel: Kernel,
    params: &[u32],
    args: &[(u32, Arg<'_>)],
    groups: [u32; 3],
) -> Result<Vec<Vec<u8>>, GpuError> {
    let mut pipelines = Pipelines::default();
    pipelines.ensure(ctx, [kernel]).await?;
    let mut pool = Pool::default();
    let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let mut buffers = Vec::with_capacity(args.len());
    for (binding, arg) in args {
        let buf = match arg {
            Arg::In(bytes) | Arg::InOut(bytes) => pool.upload(ctx, "input", bytes, Category::Scratch)?,
            Arg::Out(n) => pool.create(ctx, "output", *n as u64, crate::runtime::pool::STORAGE, Category::Scratch)?,
        };
        buffers.push((*binding, buf));
    }
    let mut rec = Recorder::new(&pipelines);
    let refs: Vec<(u32, &wgpu::Buffer)> = buffers.iter().map(|(b, buf)| (*b, buf)).collect();
    rec.dispatch_words(kernel, params, &refs, groups);
    let params_buf = pool.create_params(ctx, "params", rec.params_len())?;
    let mut encoder =
        ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(kernel.entry_point()) });
    rec.encode(&ctx.device, &ctx.queue, &params_buf, &mut encoder, Timing::None, None);
    let mut staged = Vec::new();
    for ((_, arg), (_, buf)) in args.iter().zip(&buffers) {
        let len = match arg {
            Arg::In(_) => continue,
            Arg::Out(n) => *n,
            Arg::InOut(b) => b.len(),
        };
        let usage = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
        let staging = pool.create(ctx, "read-back", len as u64, usage, Category::Staging)?;
        encoder.copy_buffer_to_buffer(buf, 0, &staging, 0, staging.size());
        staged.push((staging, len));
    }
    ctx.queue.submit([encoder.finish()]);
    if let Some(e) = scope.pop().await {
        return Err(GpuError::from_scope(&kernel.name(), e));
    }
    let mut out = Vec::with_capacity(staged.len());
    for (staging, len) in staged {
        let mut bytes = readback::read_bytes(&ctx.device, &staging).await?;
        bytes.truncate(len);
        out.push(bytes);
    }
    Ok(out)
}

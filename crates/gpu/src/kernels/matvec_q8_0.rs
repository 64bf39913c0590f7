//! Host side of `shaders/matvec_q8_0.wgsl`: `y (rows) = W (rows, cols) @ x (cols)` with `W` in Q8_0 blocks.

use crate::{readback, GpuContext, GpuError, Kernel};
use archrace_gguf::{BlockQ8_0, QK8_0};
use bytemuck::{Pod, Zeroable};
use web_time::Instant;

/// The kernel's uniform block; mirrors `Params` in the WGSL file (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    blocks_per_row: u32,
    groups_x: u32,
}
const _: () = assert!(std::mem::size_of::<Params>() == 16);

/// The compiled `matvec_q8_0` pipeline.
pub struct MatvecQ8_0 {
    pipeline: wgpu::ComputePipeline,
}

/// One run's output and how long the GPU part took.
#[derive(Clone, Debug)]
pub struct MatvecRun {
    /// `y`, `rows` values.
    pub y: Vec<f32>,
    /// Milliseconds from submitting the dispatch to having `y` on the CPU (wall clock).
    pub elapsed_ms: f64,
}

impl MatvecQ8_0 {
    /// Compiles the kernel, turning shader or pipeline errors into [`GpuError::Validation`].
    pub async fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        let kernel = Kernel::MatvecQ8_0;
        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = ctx.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(kernel.name()),
            source: wgpu::ShaderSource::Wgsl(kernel.source().into()),
        });
        let pipeline = ctx.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(kernel.name()),
            layout: None,
            module: &module,
            entry_point: Some(kernel.name()),
            compilation_options: Default::default(),
            cache: None,
        });
        if let Some(e) = scope.pop().await {
            return Err(GpuError::from_scope(kernel.name(), e));
        }
        Ok(Self { pipeline })
    }

    /// Uploads `w` and `x`, runs the kernel once and reads `y` back.
    pub async fn run(
        &self,
        ctx: &GpuContext,
        w: &[BlockQ8_0],
        x: &[f32],
        rows: usize,
        cols: usize,
    ) -> Result<MatvecRun, GpuError> {
        if cols == 0 || !cols.is_multiple_of(QK8_0) {
            return Err(GpuError::BadInput(format!("cols {cols} is not a positive multiple of {QK8_0}")));
        }
        let blocks_per_row = cols / QK8_0;
        if w.len() != rows * blocks_per_row || x.len() != cols || rows == 0 {
            return Err(GpuError::BadInput(format!(
                "matvec_q8_0 of {rows}x{cols} needs {} blocks and {cols} inputs, got {} and {}",
                rows * blocks_per_row,
                w.len(),
                x.len()
            )));
        }
        let weight_bytes: &[u8] = bytemuck::cast_slice(w);
        let limit = ctx.report.limits.max_storage_buffer_binding_size;
        if weight_bytes.len() as u64 + 8 > limit {
            return Err(GpuError::BadInput(format!(
                "weights of {} bytes exceed this device's storage binding limit of {limit} bytes",
                weight_bytes.len()
            )));
        }
        let max_groups = ctx.report.limits.max_compute_workgroups_per_dimension as usize;
        let groups_x = rows.min(max_groups);
        let groups_y = rows.div_ceil(groups_x);
        let params = Params {
            rows: rows as u32,
            cols: cols as u32,
            blocks_per_row: blocks_per_row as u32,
            groups_x: groups_x as u32,
        };

        let device = &ctx.device;
        let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let params_buf = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("matvec_q8_0 params"),
            size: 16,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        ctx.queue.write_buffer(&params_buf, 0, bytemuck::bytes_of(&params));
        let w_buf = ctx.upload_bytes("matvec_q8_0 W", weight_bytes);
        let x_buf = ctx.upload_bytes("matvec_q8_0 x", bytemuck::cast_slice(x));
        let y_bytes = (rows * 4) as u64;
        let y_buf = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("matvec_q8_0 y"),
            size: y_bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("matvec_q8_0 staging"),
            size: y_bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("matvec_q8_0"),
            layout: &self.pipeline.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: params_buf.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: w_buf.as_entire_binding() },
                wgpu::BindGroupEntry {
                    binding: 2,
                    // Only the data, not the padding word: the kernel reads x as vec4s.
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &x_buf,
                        offset: 0,
                        size: std::num::NonZeroU64::new((cols * 4) as u64),
                    }),
                },
                wgpu::BindGroupEntry { binding: 3, resource: y_buf.as_entire_binding() },
            ],
        });
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("matvec_q8_0") });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("matvec_q8_0"),
                timestamp_writes: None,
            });
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(groups_x as u32, groups_y as u32, 1);
        }
        encoder.copy_buffer_to_buffer(&y_buf, 0, &staging, 0, y_bytes);
        let start = Instant::now();
        ctx.queue.submit([encoder.finish()]);
        if let Some(e) = scope.pop().await {
            return Err(GpuError::from_scope("matvec_q8_0 dispatch", e));
        }
        if let Some(e) = oom.pop().await {
            return Err(GpuError::from_scope("matvec_q8_0 dispatch", e));
        }
        let y = readback::read_f32(device, &staging).await?;
        let elapsed_ms = start.elapsed().as_secs_f64() * 1e3;
        Ok(MatvecRun { y, elapsed_ms })
    }
}

//! Host side of the `matvec_<type>` kernels: `y (rows) = W (rows, cols) @ x (cols)` with `W` read in its
//! GGUF encoding (rows in the GPU layout of [`crate::layout`]).

use crate::error::ErrorScopes;
use crate::kernels::params::{kernel_params, KernelParams};
use crate::{readback, GpuContext, GpuError, Kernel};
use archrace_gguf::GgmlType;
use web_time::Instant;

kernel_params! {
    /// The kernels' parameter block (every `matvec_*` entry point); mirrors `Params` in
    /// `shaders/lib/matvec.wgsl` (112 bytes).
    pub struct MatvecParams {
        /// Output length (`matvec_multi`: [`multi_rows`], each segment's rows rounded up to whole pairs).
        rows: u32,
        /// Input length.
        cols: u32,
        /// `cols / BLOCK`.
        blocks_per_row: u32,
        /// Workgroups along x.
        groups_x: u32,
        /// Bytes of one encoded row.
        row_bytes: u32,
        /// Byte offset of row 0.
        w_base: u32,
        /// Output offset, in values.
        y_off: u32,
        /// [`MatvecMode`] as u32.
        mode: u32,
        /// MoE expert slot, or [`NO_SLOT`].
        slot: u32,
        /// MoE experts per token.
        top_k: u32,
        /// MoE bytes per expert.
        expert_bytes: u32,
        /// Where x starts, in vec4s (4 values).
        x_off: u32,
        /// MoE: first expert in this buffer.
        expert_first: u32,
        /// MoE: experts in this buffer.
        expert_count: u32,
        /// Threads that share one row (a power of two up to the workgroup's 64): short rows leave the rest of
        /// the workgroup to other rows instead of idling.
        row_threads: u32,
        /// `matvec_swiglu`: bytes from a gate row to its up row.
        pair_bytes: u32,
        /// `matvec_conv`: Mamba's inner width `Di` (rows below it are x and are convolved).
        conv_inner: u32,
        /// `matvec_conv`: the conv kernel width `K`.
        conv_k: u32,
        /// `matvec_multi`: segments in its table.
        segments: u32,
        /// The normed twins ([`Kernel::norms_input`]): the RMSNorm's epsilon.
        norm_eps: f32,
        /// `matvec_rope`: q's rows `H D` (k's `H_kv D` follow, then v's).
        q_rows: u32,
        /// `matvec_rope`: `H_kv D`.
        kv_rows: u32,
        /// `matvec_rope`: the head width `D` (even).
        head_dim: u32,
        /// `matvec_rope`: dims rotated per head (0: no RoPE).
        n_rot: u32,
        /// `matvec_rope`: the layer's first `(cos, sin)` pair in the RoPE table.
        table_off: u32,
        /// `matvec_rope`: the first KV cache value written (`pos H_kv D`).
        kv_off: u32,
        /// `matvec_rope`: 1 where the cache holds f16 pairs, 0 for f32.
        kv_f16: u32,
        /// `matvec_rope`: the matrix's first row among q's, k's and v's rows (0 for q, or q, k and v as one
        /// matrix; `H D` for k; `(H + H_kv) D` for v).
        qkv_row: u32,
    }
}
const _: () = assert!(std::mem::size_of::<MatvecParams>() == 112);

/// The longest row the normed matvec twins normalise in workgroup memory (`XS` vec4s in
/// `shaders/lib/x_norm.wgsl`); a longer one keeps the norm's own dispatch.
pub const NORM_MAX_COLS: usize = 2048;

/// Words of one segment in a `matvec_multi` table (`SEGMENT` in `shaders/lib/matvec.wgsl`).
pub const SEGMENT_WORDS: usize = 8;

/// One product of a `matvec_multi` dispatch.
#[derive(Clone, Debug)]
pub struct Segment {
    /// Its rows (written after the previous segment's).
    pub rows: usize,
    /// Row length, in values.
    pub cols: usize,
    /// Encoded bytes of one row.
    pub row_bytes: usize,
    /// Byte offset of its first row in the weights' buffer.
    pub base: usize,
    /// Where its input starts in x, in values (a multiple of 4).
    pub x_off: usize,
    /// [`MatvecMode::Write`] or an activation (modes 5 to 11).
    pub mode: MatvecMode,
    /// Per-row bias for the activations that take one.
    pub bias: Option<Vec<f32>>,
}

/// The table `matvec_multi` reads from its route binding, for segments of encoding `ty`: one record of
/// [`SEGMENT_WORDS`] per segment (the layout is `shaders/lib/matvec.wgsl`'s), then the biases.
pub fn multi_table(ty: GgmlType, segments: &[Segment]) -> Vec<u32> {
    let mut table = Vec::new();
    let mut biases = Vec::new();
    let (mut end, mut paired_end) = (0, 0);
    for s in segments {
        debug_assert!(s.x_off.is_multiple_of(4), "x is read in vec4s");
        end += s.rows;
        paired_end += s.rows.next_multiple_of(2);
        let bias_at = SEGMENT_WORDS * segments.len() + biases.len();
        biases.extend(s.bias.iter().flatten().map(|b| b.to_bits()));
        let fields: [usize; SEGMENT_WORDS] =
            [end, s.cols / kernel_block(ty), s.row_bytes, s.base, s.x_off / 4, s.mode as usize, bias_at, paired_end];
        table.extend(fields.iter().map(|&v| v as u32));
    }
    table.extend(biases);
    table
}

/// The `rows` a `matvec_multi` dispatch of segments of these row counts takes: each segment's rounded up
/// to whole pairs, so that no pair of rows straddles two segments (the table's last field).
pub fn multi_rows(rows: impl IntoIterator<Item = usize>) -> usize {
    rows.into_iter().map(|r| r.next_multiple_of(2)).sum()
}

/// No MoE expert: the rows start at `w_base`.
pub const NO_SLOT: u32 = u32::MAX;

/// What the kernel does with the product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatvecMode {
    /// `y = W x`.
    Write = 0,
    /// `y += W x` (a residual connection).
    Add = 1,
    /// `y += route_weight[slot] * W x` (a MoE expert's share).
    AddRouted = 2,
    /// `y = SiLU(W x) * (W' x)`, `W'` the rows `pair_bytes` after `W`'s (gate and up in one dispatch): the
    /// `matvec_swiglu` entry point ([`Kernel::MatvecSwiglu`]).
    Swiglu = 3,
    /// `y += sum_s route_weight[s] * W_{expert_s} x_s` over every route slot (MoE's down projection):
    /// the `matvec_routed` entry point ([`Kernel::MatvecRouted`]).
    RoutedSum = 4,
    /// `y = tanh(W x)` (the activations of modes 5 to 11 are `shaders/pointwise.wgsl`'s, fused into the
    /// product's write; a bias is read per row from the route binding).
    Tanh = 5,
    /// `y = sigmoid(W x)`.
    Sigmoid = 6,
    /// `y = relu(W x)^2`.
    ReluSq = 7,
    /// `y = SiLU(W x)`.
    Silu = 8,
    /// `y = sigmoid(W x + bias)`.
    SigmoidBias = 9,
    /// `y = exp(-e^{-1/2} sigmoid(W x + bias))` (RWKV-7's decay).
    Decay7 = 10,
    /// `y = exp(-exp(W x + bias))` (RWKV-6's decay).
    Decay6 = 11,
    /// Mamba's in-projection with the conv step of its x channels: the `matvec_conv` entry point
    /// ([`Kernel::MatvecConv`]).
    Conv = 12,
    /// Attention's q/k/v product with RoPE and the KV cache append as its epilogue: the `matvec_rope` entry
    /// point ([`Kernel::MatvecRope`]).
    Rope = 13,
}

/// Threads in a `matvec` workgroup (`WG` in `shaders/lib/matvec.wgsl`).
pub const WORKGROUP: usize = 64;

/// Workgroups for `n` groups of work: x up to the device's per-dimension limit, the rest spilling into y.
pub fn groups(n: usize, max_per_dim: u32) -> (u32, u32) {
    let x = n.min(max_per_dim as usize).max(1);
    (x as u32, n.div_ceil(x) as u32)
}

/// Threads per row for rows of `blocks` kernel blocks: one per block, rounded up to a power of two, at most
/// the workgroup. (A row of 4 blocks, say a 4096 x 128 output matrix in Q8_0, then takes 4 threads and a
/// workgroup 16 rows, instead of 64 threads of which 60 idle.)
pub fn row_threads(blocks: usize) -> usize {
    blocks.next_power_of_two().clamp(1, WORKGROUP)
}

/// Every choice of threads per row the kernels take (powers of two up to the workgroup), for `bench` to
/// time against [`row_threads`]'s.
pub const ROW_THREADS: [usize; 7] = [1, 2, 4, 8, 16, 32, 64];

/// Most threads per row group on a software adapter ([`crate::GpuContext::software_tuning`]): its CPU threads
/// run a workgroup's invocations a subgroup at a time, and pay dearly for every step of a row's sum across
/// threads (shuffles, and barriers past a subgroup), where a thread taking more of a row's blocks costs
/// them nothing extra. Lavapipe, SmolLM2-135M (Q4_1) decode ms/token, runs alternated: up to 64 threads
/// per row 636-912, up to 8 238-287, 4 200-247, 2 149-194, 1 182-233; the workgroup-memory twin 705, 313
/// and 202 at 64, 8 and 2.
pub const SOFTWARE_ROW_THREADS: usize = 2;

/// What bounds a matvec dispatch on a device: workgroups per dimension (more spill into y) and threads per
/// row group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatvecLimits {
    pub max_per_dim: u32,
    pub max_row_threads: usize,
}

impl MatvecLimits {
    /// The limits on `ctx`'s device: [`SOFTWARE_ROW_THREADS`] threads per row on a software adapter.
    pub fn of(ctx: &GpuContext) -> Self {
        let max_row_threads = if ctx.software_tuning() { SOFTWARE_ROW_THREADS } else { WORKGROUP };
        Self { max_per_dim: ctx.report.limits.max_compute_workgroups_per_dimension, max_row_threads }
    }

    /// The limits on `ctx`'s device for a product with `row_threads` threads per row group where given
    /// ([`MatvecParams::with_row_threads`]: a choice made by hand, which the device's limit does not cut),
    /// else with the runtime's.
    pub fn for_row_threads(ctx: &GpuContext, row_threads: Option<usize>) -> Self {
        let limits = Self::of(ctx);
        match row_threads {
            Some(_) => Self { max_row_threads: WORKGROUP, ..limits },
            None => limits,
        }
    }

    /// Threads per row group the runtime gives rows of `blocks` kernel blocks on this device.
    pub fn row_threads(&self, blocks: usize) -> usize {
        row_threads(blocks).min(self.max_row_threads)
    }
}

impl MatvecMode {
    /// The kernel that computes this mode for encoding `ty`.
    pub fn kernel(self, ty: GgmlType) -> Kernel {
        match self {
            MatvecMode::Swiglu => Kernel::MatvecSwiglu(ty),
            MatvecMode::RoutedSum => Kernel::MatvecRouted(ty),
            MatvecMode::Conv => Kernel::MatvecConv(ty),
            MatvecMode::Rope => Kernel::MatvecRope(ty),
            _ => Kernel::Matvec(ty),
        }
    }

    /// The twin of [`MatvecMode::kernel`] that applies the model's RMSNorm to its input itself, where this
    /// mode has one (a plain write, SwiGLU, Mamba's in-projection with its conv, q/k/v with RoPE).
    pub fn normed_kernel(self, ty: GgmlType) -> Option<Kernel> {
        match self {
            MatvecMode::Write => Some(Kernel::MatvecNorm(ty)),
            MatvecMode::Swiglu => Some(Kernel::MatvecSwigluNorm(ty)),
            MatvecMode::Conv => Some(Kernel::MatvecConvNorm(ty)),
            MatvecMode::Rope => Some(Kernel::MatvecRopeNorm(ty)),
            _ => None,
        }
    }
}

impl MatvecParams {
    /// Parameters for a plain product over `rows x cols` of encoding `ty` (the dispatch is sized by
    /// [`MatvecParams::fit`], once the kernel is known).
    pub fn new(ty: GgmlType, rows: usize, cols: usize) -> Self {
        let blocks = cols / kernel_block(ty);
        Self {
            rows: rows as u32,
            cols: cols as u32,
            blocks_per_row: blocks as u32,
            row_bytes: crate::layout::row_bytes(ty, cols) as u32,
            slot: NO_SLOT,
            row_threads: row_threads(blocks) as u32,
            ..Self::default()
        }
    }

    /// These parameters with `row_threads` threads per row group where given (one of [`ROW_THREADS`]):
    /// any of them computes the same sums, in another order, at another speed.
    pub fn with_row_threads(mut self, row_threads: Option<usize>) -> Result<Self, GpuError> {
        if let Some(rt) = row_threads {
            if !ROW_THREADS.contains(&rt) {
                return Err(GpuError::BadInput(format!(
                    "{rt} threads per row: the matvec kernels take a power of two up to {WORKGROUP}"
                )));
            }
            self.row_threads = rt as u32;
        }
        Ok(self)
    }

    /// Sizes `kernel`'s dispatch over these parameters on a device of `limits`: a row group (`row_threads`
    /// threads, at most the device's) per row, or per pair of adjacent rows where the kernel takes them in
    /// pairs ([`Kernel::takes_row_pairs`]). Sets `groups_x` to the dispatch's x (the kernels find their row
    /// from it) and returns `(x, y)`.
    pub fn fit(&mut self, kernel: Kernel, limits: MatvecLimits) -> (u32, u32) {
        self.row_threads = self.row_threads.min(limits.max_row_threads as u32);
        let row_groups = match kernel.takes_row_pairs() {
            true => (self.rows as usize).div_ceil(2),
            false => self.rows as usize,
        };
        let (x, y) = groups(row_groups.div_ceil(WORKGROUP / self.row_threads as usize), limits.max_per_dim);
        self.groups_x = x;
        (x, y)
    }
}

/// A compiled `matvec` pipeline for one weight encoding.
pub struct Matvec {
    ty: GgmlType,
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

/// Weights per kernel block: the encoding's block, at least 4 (x is read as vec4s).
pub fn kernel_block(ty: GgmlType) -> usize {
    ty.block_size().max(4)
}

impl Matvec {
    /// Compiles the kernel for `ty`, turning shader or pipeline errors into [`GpuError::Validation`].
    pub async fn new(ctx: &GpuContext, ty: GgmlType) -> Result<Self, GpuError> {
        let pipeline = crate::pipelines::compile(ctx, Kernel::Matvec(ty)).await?;
        Ok(Self { ty, pipeline })
    }

    /// The encoding this pipeline reads.
    pub fn ty(&self) -> GgmlType {
        self.ty
    }

    /// Uploads `w` (GGUF-encoded rows, put in the GPU's layout) and `x`, runs the kernel once and reads `y`
    /// back.
    pub async fn run(
        &self,
        ctx: &GpuContext,
        w: &[u8],
        x: &[f32],
        rows: usize,
        cols: usize,
    ) -> Result<MatvecRun, GpuError> {
        self.run_with_row_threads(ctx, (w, x), (rows, cols), None).await
    }

    /// [`Matvec::run`] with `row_threads` threads per row group (one of [`ROW_THREADS`]) instead of the
    /// device's choice ([`MatvecLimits::row_threads`]), where given.
    pub async fn run_with_row_threads(
        &self,
        ctx: &GpuContext,
        (w, x): (&[u8], &[f32]),
        (rows, cols): (usize, usize),
        row_threads: Option<usize>,
    ) -> Result<MatvecRun, GpuError> {
        let block = kernel_block(self.ty);
        if cols == 0 || !cols.is_multiple_of(block) {
            return Err(GpuError::BadInput(format!(
                "cols {cols} is not a positive multiple of {block} for {}",
                self.ty
            )));
        }
        let row_bytes = self.ty.row_bytes(cols as u64).expect("cols checked") as usize;
        if rows == 0 || w.len() != rows * row_bytes || x.len() != cols {
            return Err(GpuError::BadInput(format!(
                "matvec {} of {rows}x{cols} needs {} weight bytes and {cols} inputs, got {} and {}",
                self.ty,
                rows * row_bytes,
                w.len(),
                x.len()
            )));
        }
        let limit = ctx.report.limits.max_storage_buffer_binding_size;
        if crate::runtime::pool::padded_len(crate::layout::row_bytes(self.ty, cols) * rows) > limit {
            return Err(GpuError::BadInput(format!(
                "weights of {} bytes exceed this device's storage binding limit of {limit} bytes",
                w.len()
            )));
        }
        let mut params = MatvecParams::new(self.ty, rows, cols).with_row_threads(row_threads)?;
        let limits = MatvecLimits::for_row_threads(ctx, row_threads);
        let (groups_x, groups_y) = params.fit(Kernel::Matvec(self.ty), limits);

        let device = &ctx.device;
        let scopes = ErrorScopes::push(device);
        let params_buf = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("matvec params"),
            size: std::mem::size_of::<MatvecParams>() as u64,
            usage: crate::runtime::recorder::PARAMS_USAGE,
            mapped_at_creation: false,
        });
        ctx.queue.write_buffer(&params_buf, 0, bytemuck::bytes_of(&params));
        let w_buf = ctx.upload_bytes("matvec W", &crate::layout::to_gpu_rows(self.ty, cols, w));
        let x_buf = ctx.upload_bytes("matvec x", bytemuck::cast_slice(x));
        let route_buf = ctx.upload_bytes("matvec route (unused)", &[0; 8]);
        let y_bytes = (rows * 4) as u64;
        let y_buf = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("matvec y"),
            size: y_bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("matvec staging"),
            size: y_bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("matvec"),
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
                wgpu::BindGroupEntry { binding: 4, resource: route_buf.as_entire_binding() },
            ],
        });
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("matvec") });
        {
            let mut pass = encoder
                .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("matvec"), timestamp_writes: None });
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(groups_x, groups_y, 1);
        }
        encoder.copy_buffer_to_buffer(&y_buf, 0, &staging, 0, y_bytes);
        let start = Instant::now();
        ctx.queue.submit([encoder.finish()]);
        let read = readback::start_read(&staging);
        let checked = scopes.pop("matvec dispatch");
        let bytes = read.finish(device).await;
        checked.await?;
        let y = bytemuck::pod_collect_to_vec(&bytes?);
        let elapsed_ms = start.elapsed().as_secs_f64() * 1e3;
        Ok(MatvecRun { y, elapsed_ms })
    }
}

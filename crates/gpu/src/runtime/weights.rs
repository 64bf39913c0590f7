//! A model's tensors on the GPU, in their GGUF encoding (no dequantized copy; rows in the GPU layout of
//! [`crate::layout`], which moves some encodings' quants ahead of their scales): matrices for the
//! matvec kernels, and the small vectors (norm weights, Mamba's conv, A, D, dt bias) as f32.

use super::pool::{Category, Pool};
use crate::kernels::matvec::kernel_block;
use crate::layout;
use crate::{GpuContext, GpuError, Kernel};
use archrace_cpu::ops::matmul::to_f32;
use archrace_gguf::GgmlType;
use archrace_model::weights::{AttnWeights, MambaWeights};
use archrace_model::{
    AttnSpec, Ffn, FfnWeights, MambaSpec, Mixer, MixerWeights, ModelSpec, ModelWeights, NormWeights, Rwkv6Weights,
    Rwkv7Weights, RwkvCommon, RwkvSpec, Tensor,
};

/// Consecutive rows of a matrix in one buffer. A matrix larger than the device lets a kernel bind is
/// split into parts (at expert boundaries for MoE tensors); each part is dispatched on its own.
#[derive(Clone, Debug)]
pub struct MatrixPart {
    /// The rows, in the GPU's layout of their encoding ([`crate::layout`]).
    pub buf: wgpu::Buffer,
    /// Byte offset of the part's first row in `buf`.
    pub base: usize,
    /// Index of its first row among all rows (experts stacked).
    pub first_row: usize,
    /// Rows in the part.
    pub rows: usize,
}

/// An encoded matrix `(rows, cols)`: ggml dims `[cols, rows]` (experts stacked as more rows).
#[derive(Clone, Debug)]
pub struct GpuMatrix {
    /// Its rows, in one buffer or several.
    pub parts: Vec<MatrixPart>,
    /// Encoding.
    pub ty: GgmlType,
    /// Output length of the product (per expert for MoE tensors).
    pub rows: usize,
    /// Input length.
    pub cols: usize,
}

impl GpuMatrix {
    /// Bytes of one row on the GPU ([`layout::row_bytes`]).
    pub fn row_bytes(&self) -> usize {
        layout::row_bytes(self.ty, self.cols)
    }

    /// Rows `start..start + n` of this matrix (of all stacked rows), sharing its buffers.
    pub fn rows(&self, start: usize, n: usize) -> GpuMatrix {
        let rb = self.row_bytes();
        let parts = self
            .parts
            .iter()
            .filter_map(|p| {
                let lo = start.max(p.first_row);
                let hi = (start + n).min(p.first_row + p.rows);
                (lo < hi).then(|| MatrixPart {
                    buf: p.buf.clone(),
                    base: p.base + (lo - p.first_row) * rb,
                    first_row: lo - start,
                    rows: hi - lo,
                })
            })
            .collect();
        GpuMatrix { parts, rows: n, ..self.clone() }
    }

    /// Bytes from this matrix's rows to `next`'s when both sit whole in one buffer, `next` right after
    /// this one (a fused upload): one dispatch can then read both.
    pub fn followed_by(&self, next: &GpuMatrix) -> Option<usize> {
        let ([a], [b]) = (&self.parts[..], &next.parts[..]) else { return None };
        let bytes = a.rows * self.row_bytes();
        let same = a.buf == b.buf && self.ty == next.ty && self.cols == next.cols;
        (same && b.base == a.base + bytes).then_some(bytes)
    }

    /// Bytes from this matrix's rows to `other`'s when both sit whole in one buffer, `other` after this one,
    /// of one shape and encoding (a gate and its up projection, whole or one expert's): one
    /// `matmul_swiglu` dispatch can then read both.
    pub fn paired_with(&self, other: &GpuMatrix) -> Option<usize> {
        let ([a], [b]) = (&self.parts[..], &other.parts[..]) else { return None };
        let same = a.buf == b.buf && self.ty == other.ty && self.cols == other.cols && self.rows == other.rows;
        (same && b.base >= a.base + a.rows * self.row_bytes()).then(|| b.base - a.base)
    }

    /// `ms` as one matrix of all their rows, when each follows the one before in one buffer
    /// ([`GpuMatrix::followed_by`]): Q, K and V in one product.
    pub fn joined(ms: &[&GpuMatrix]) -> Option<GpuMatrix> {
        let (first, rest) = ms.split_first()?;
        for pair in ms.windows(2) {
            pair[0].followed_by(pair[1])?;
        }
        let rows = first.rows + rest.iter().map(|m| m.rows).sum::<usize>();
        let part = MatrixPart { rows, ..first.parts[0].clone() };
        Some(GpuMatrix { parts: vec![part], rows, ..(*first).clone() })
    }
}

/// A norm's weight and optional bias, f32.
#[derive(Clone, Debug)]
pub struct GpuNorm {
    /// `(n)`.
    pub weight: wgpu::Buffer,
    /// `(n)`, LayerNorm only.
    pub bias: Option<wgpu::Buffer>,
}

/// A layer's mixer.
#[derive(Debug)]
pub enum GpuMixer {
    /// Self-attention.
    Attention(Box<AttentionGpu>),
    /// Mamba.
    Mamba(Box<MambaGpu>),
    /// RWKV-6 time-mix.
    Rwkv6(Box<Rwkv6Gpu>),
    /// RWKV-7 time-mix.
    Rwkv7(Box<Rwkv7Gpu>),
}

/// Self-attention on the GPU.
#[derive(Debug)]
pub struct AttentionGpu {
    /// Shape.
    pub spec: AttnSpec,
    /// `(H D, E)`.
    pub q: GpuMatrix,
    /// `(H_kv D, E)`.
    pub k: GpuMatrix,
    /// `(H_kv D, E)`.
    pub v: GpuMatrix,
    /// `(E, H D)`.
    pub o: GpuMatrix,
    /// q, k and v as one matrix `((H + 2 H_kv) D, E)`, when they were uploaded into one buffer (same
    /// encoding, within one binding): one product for all three.
    pub qkv: Option<GpuMatrix>,
}

impl AttentionGpu {
    /// The products of a decode step that take `rope_kv`'s work as their epilogue (`matvec_rope`: RoPE on q
    /// and k, k and v into the cache), each with its first row among q's, k's and v's: q, k and v as one
    /// matrix where they were uploaded as one, else each of them. `None` where heads have an odd width
    /// (rows pair within heads only for an even `D`) or a matrix is split over buffers: then the products,
    /// and `rope_kv` after them.
    pub fn rope_products(&self) -> Option<Vec<(&GpuMatrix, usize)>> {
        let (h, hkv, d) = (self.spec.n_head, self.spec.n_head_kv, self.spec.head_dim);
        let products = match &self.qkv {
            Some(qkv) => vec![(qkv, 0)],
            None => vec![(&self.q, 0), (&self.k, h * d), (&self.v, (h + hkv) * d)],
        };
        (d.is_multiple_of(2) && products.iter().all(|(m, _)| m.parts.len() == 1)).then_some(products)
    }
}

/// Mamba on the GPU.
#[derive(Debug)]
pub struct MambaGpu {
    /// Shape.
    pub spec: MambaSpec,
    /// `(2 Di, E)`.
    pub in_proj: GpuMatrix,
    /// `(R + 2N, Di)`.
    pub x_proj: GpuMatrix,
    /// `(Di, R)`.
    pub dt_proj: GpuMatrix,
    /// `(E, Di)`.
    pub out_proj: GpuMatrix,
    /// f32: conv w `(Di, K)`, conv b `(Di)`, dt bias `(Di)`, D `(Di)`, A `(Di, N)`, then Jamba's RMS norm
    /// weights on dt, B and C, one after another as in an x-projection row `(R + 2N)`.
    pub consts: wgpu::Buffer,
    /// Where Jamba's norm weights start in `consts` (values); `None` without them.
    pub norms_at: Option<usize>,
}

/// Time-mix tensors both RWKV versions have.
#[derive(Debug)]
pub struct RwkvCommonGpu {
    /// Heads and head size.
    pub spec: RwkvSpec,
    /// `(E, E)` each.
    pub receptance: GpuMatrix,
    /// Key.
    pub key: GpuMatrix,
    /// Value.
    pub value: GpuMatrix,
    /// Output.
    pub output: GpuMatrix,
    /// f32: the version's own per-channel vectors `(E)` each (RWKV-7: `k_k`, `k_a`, `r_k`), then the group
    /// norm's scale and bias `(E)` each.
    pub vectors: wgpu::Buffer,
    /// Where the group norm's scale starts in `vectors` (its bias follows).
    pub ln_at: usize,
}

/// RWKV-6 time-mix on the GPU.
#[derive(Debug)]
pub struct Rwkv6Gpu {
    /// Shared tensors.
    pub common: RwkvCommonGpu,
    /// `(E, E)`.
    pub gate: GpuMatrix,
    /// f32 `(6, E)`: lerp_x, then the static lerps of w, k, v, r, g.
    pub lerps: wgpu::Buffer,
    /// `(5 Dm, E)`.
    pub w1: GpuMatrix,
    /// Five `(E, Dm)` slices of one buffer.
    pub w2: Vec<GpuMatrix>,
    /// `(Dd, E)`, `(E, Dd)`.
    pub decay_w1: GpuMatrix,
    /// Decay LoRA up.
    pub decay_w2: GpuMatrix,
    /// f32 `(E)`.
    pub decay: wgpu::Buffer,
    /// f32 `(E)`: the bonus `u`.
    pub first: wgpu::Buffer,
}

/// RWKV-7 time-mix on the GPU.
#[derive(Debug)]
pub struct Rwkv7Gpu {
    /// Shared tensors.
    pub common: RwkvCommonGpu,
    /// f32 `(6, E)`: static lerps of r, w, k, v, a, g.
    pub lerps: wgpu::Buffer,
    /// Decay LoRA down and up; bias `w0` f32 `(E)`.
    pub w: (GpuMatrix, GpuMatrix, wgpu::Buffer),
    /// In-context learning rate LoRA; bias `a0`.
    pub a: (GpuMatrix, GpuMatrix, wgpu::Buffer),
    /// Value-residual LoRA; bias `v0`.
    pub v: (GpuMatrix, GpuMatrix, wgpu::Buffer),
    /// Gate LoRA.
    pub g: (GpuMatrix, GpuMatrix),
    /// The decode step's fused form, where the tensors allow it.
    pub decode: Option<Rwkv7Decode>,
}

/// `common.vectors`' RWKV-7 part: `k_k` at 0, `k_a` at `E`, `r_k` at `2 E` (the group norm follows at
/// `3 E`), as `wkv7_step` reads them.
pub const RWKV7_K_A: usize = 1;
/// `r_k`'s row in `common.vectors`.
pub const RWKV7_R_K: usize = 2;

/// Several products read by one `matvec_multi` dispatch: matrices of one encoding in one buffer, and
/// the table of their segments (rows, bytes, base, x offset, activation, bias; the layout is
/// `shaders/lib/matvec.wgsl`'s) with the biases after it.
#[derive(Debug)]
pub struct MultiProduct {
    /// The matrices' buffer.
    pub buf: wgpu::Buffer,
    /// Their encoding.
    pub ty: GgmlType,
    /// The table.
    pub table: wgpu::Buffer,
    /// Rows of each segment, in order.
    pub rows: Vec<usize>,
    /// The longest row, in kernel blocks.
    pub max_blocks: usize,
}

/// An RWKV-7 decode step in 6 dispatches besides the norms and shifts: r, k and v in one `matvec_multi`,
/// the four LoRA down-projections in one and their up-projections in one (the value residual's last, so
/// the first layer runs one segment fewer), `wkv7_step`, the output product.
#[derive(Debug)]
pub struct Rwkv7Decode {
    /// r, k, v from lerp rows 0, 2, 3 into `(3, E)`.
    pub rkv: MultiProduct,
    /// `tanh(L_1 W1)`, `L_4 A1`, `sigmoid(L_5 G1)`, `L_3 V1` into `(Dw + Da + Dg + Dv)`.
    pub down: MultiProduct,
    /// The decay `exp(-e^{-1/2} sigmoid(w0 + . W2))`, `a = sigmoid(a0 + . A2)`, `g = . G2` and the value
    /// mix `sigmoid(v0 + . V2)` into `(4, E)`.
    pub up: MultiProduct,
}

/// A layer's feed-forward.
#[derive(Debug)]
pub enum GpuFfn {
    /// None.
    None,
    /// SwiGLU.
    Dense {
        /// `(hidden, E)`.
        gate: GpuMatrix,
        /// `(hidden, E)`.
        up: GpuMatrix,
        /// `(E, hidden)`.
        down: GpuMatrix,
    },
    /// Mixture of SwiGLU experts.
    Moe {
        /// `(experts, E)`.
        router: GpuMatrix,
        /// Per expert `(hidden, E)`.
        gate: GpuMatrix,
        /// Per expert `(hidden, E)`.
        up: GpuMatrix,
        /// Per expert `(E, hidden)`.
        down: GpuMatrix,
        /// Experts.
        experts: usize,
        /// Experts per token.
        top_k: usize,
    },
    /// RWKV channel-mix.
    ChannelMix {
        /// f32 `(E)` lerp_k, then (v6) `(E)` lerp_r.
        lerps: wgpu::Buffer,
        /// `(hidden, E)`.
        key: GpuMatrix,
        /// `(E, hidden)`.
        value: GpuMatrix,
        /// v6: `(E, E)`.
        receptance: Option<GpuMatrix>,
    },
}

/// One layer.
#[derive(Debug)]
pub struct GpuLayer {
    /// Pre-mixer norm.
    pub attn_norm: GpuNorm,
    /// Mixer.
    pub mixer: GpuMixer,
    /// Pre-FFN norm.
    pub ffn_norm: Option<GpuNorm>,
    /// Feed-forward.
    pub ffn: GpuFfn,
}

/// All of a model's tensors on the GPU.
#[derive(Debug)]
pub struct GpuWeights {
    /// `(n_vocab, E)`.
    pub token_embd: GpuMatrix,
    /// RWKV's LayerNorm right after the embedding.
    pub token_embd_norm: Option<GpuNorm>,
    /// Final norm.
    pub output_norm: GpuNorm,
    /// `(n_vocab, E)`; shares `token_embd`'s buffer when the output is tied.
    pub output: GpuMatrix,
    /// Layers.
    pub layers: Vec<GpuLayer>,
}

fn matrix(pool: &mut Pool, ctx: &GpuContext, t: &Tensor, experts: usize) -> Result<GpuMatrix, GpuError> {
    let (cols, rows) = (t.row_len(), t.rows() / experts);
    let block = kernel_block(t.ty);
    if !cols.is_multiple_of(block) {
        return Err(GpuError::Unsupported(format!(
            "tensor {} has rows of {cols} values; the {} kernels need a multiple of {block}",
            t.name, t.ty
        )));
    }
    // Rows per part: as many as one binding holds (whole experts for MoE tensors).
    let (ggml_rb, rb) = (t.row_bytes(), layout::row_bytes(t.ty, cols));
    let unit = rows * rb; // bytes of one expert (or of the whole matrix)
    let limit = Pool::max_binding(ctx).saturating_sub(32) as usize; // padded_len's padding
    let rows_per_part = if experts > 1 { (limit / unit.max(1)) * rows } else { limit / rb.max(1) };
    if rows_per_part == 0 {
        return Err(GpuError::TooLarge {
            what: format!("one {} of tensor {}", if experts > 1 { "expert" } else { "row" }, t.name),
            bytes: if experts > 1 { unit } else { rb } as u64,
            limit: limit as u64,
        });
    }
    let total_rows = t.rows();
    let mut parts = Vec::new();
    for first_row in (0..total_rows).step_by(rows_per_part) {
        let n = rows_per_part.min(total_rows - first_row);
        let label =
            if total_rows > rows_per_part { format!("{} part {}", t.name, parts.len()) } else { t.name.clone() };
        let rows = &t.data[first_row * ggml_rb..(first_row + n) * ggml_rb];
        let buf = pool.upload(ctx, &label, &layout::to_gpu_rows(t.ty, cols, rows), Category::Weights)?;
        parts.push(MatrixPart { buf, base: 0, first_row, rows: n });
    }
    Ok(GpuMatrix { parts, ty: t.ty, rows, cols })
}

/// Tensors of one encoding uploaded into one buffer, one after another, so a decode step reads them in
/// one dispatch: as one product where they share a row length ([`GpuMatrix::followed_by`]: Q, K and V; gate
/// and up), or as the segments of a `matvec_multi` (RWKV-7's LoRA halves). `None` when they differ in
/// encoding or together exceed one binding: then each is uploaded on its own.
fn stacked(
    pool: &mut Pool,
    ctx: &GpuContext,
    ts: &[&Tensor],
    experts: usize,
    label: &str,
) -> Result<Option<Vec<GpuMatrix>>, GpuError> {
    let Some(first) = ts.first() else { return Ok(None) };
    let alike = ts.iter().all(|t| t.ty == first.ty && t.row_len().is_multiple_of(kernel_block(t.ty)));
    let gpu_bytes = |t: &Tensor| t.rows() * layout::row_bytes(t.ty, t.row_len());
    let bytes: usize = ts.iter().map(|t| gpu_bytes(t)).sum();
    let limit = Pool::max_binding(ctx).saturating_sub(32) as usize; // padded_len's padding
    if !alike || bytes > limit {
        return Ok(None);
    }
    let mut data = Vec::with_capacity(bytes);
    for t in ts {
        data.extend_from_slice(&layout::to_gpu_rows(t.ty, t.row_len(), t.data));
    }
    let buf = pool.upload(ctx, label, &data, Category::Weights)?;
    let mut base = 0;
    let views = ts
        .iter()
        .map(|t| {
            let part = MatrixPart { buf: buf.clone(), base, first_row: 0, rows: t.rows() };
            base += gpu_bytes(t);
            GpuMatrix { parts: vec![part], ty: t.ty, rows: t.rows() / experts, cols: t.row_len() }
        })
        .collect();
    Ok(Some(views))
}

/// [`stacked`], or each tensor on its own.
fn matrices<const N: usize>(
    pool: &mut Pool,
    ctx: &GpuContext,
    ts: [&Tensor; N],
    experts: usize,
    label: &str,
) -> Result<[GpuMatrix; N], GpuError> {
    let views = match stacked(pool, ctx, &ts, experts, label)? {
        Some(v) => v,
        None => ts.iter().map(|t| matrix(pool, ctx, t, experts)).collect::<Result<_, _>>()?,
    };
    Ok(views.try_into().unwrap_or_else(|_| unreachable!("one matrix per tensor")))
}

fn vector(pool: &mut Pool, ctx: &GpuContext, parts: &[&Tensor], label: &str) -> Result<wgpu::Buffer, GpuError> {
    let values: Vec<f32> = parts.iter().flat_map(|t| to_f32(t)).collect();
    pool.upload(ctx, label, bytemuck::cast_slice(&values), Category::Weights)
}

fn norm(pool: &mut Pool, ctx: &GpuContext, n: &NormWeights) -> Result<GpuNorm, GpuError> {
    let weight = vector(pool, ctx, &[&n.weight], &n.weight.name)?;
    let bias = n.bias.as_ref().map(|b| vector(pool, ctx, &[b], &b.name)).transpose()?;
    Ok(GpuNorm { weight, bias })
}

fn attention(pool: &mut Pool, ctx: &GpuContext, spec: AttnSpec, w: &AttnWeights) -> Result<GpuMixer, GpuError> {
    let [q, k, v] = matrices(pool, ctx, [&w.q, &w.k, &w.v], 1, &format!("{} k v", w.q.name))?;
    let qkv = GpuMatrix::joined(&[&q, &k, &v]);
    Ok(GpuMixer::Attention(Box::new(AttentionGpu { spec, q, k, v, o: matrix(pool, ctx, &w.o, 1)?, qkv })))
}

fn mamba(pool: &mut Pool, ctx: &GpuContext, spec: MambaSpec, w: &MambaWeights) -> Result<GpuMixer, GpuError> {
    let mut parts = vec![&w.conv1d, &w.conv1d_bias, &w.dt_bias, &w.d, &w.a];
    let norms_at = w.dt_b_c_norms.as_ref().map(|norms| {
        let at = parts.iter().map(|t| t.n_elements()).sum();
        parts.extend(norms);
        at
    });
    let consts = vector(pool, ctx, &parts, "mamba consts")?;
    Ok(GpuMixer::Mamba(Box::new(MambaGpu {
        spec,
        in_proj: matrix(pool, ctx, &w.in_proj, 1)?,
        x_proj: matrix(pool, ctx, &w.x_proj, 1)?,
        dt_proj: matrix(pool, ctx, &w.dt_proj, 1)?,
        out_proj: matrix(pool, ctx, &w.out_proj, 1)?,
        consts,
        norms_at,
    })))
}

/// The shared time-mix tensors, r, k and v in one buffer where they allow it, and the version's own
/// vectors `own` before the group norm's in `vectors`.
fn rwkv_common(
    pool: &mut Pool,
    ctx: &GpuContext,
    spec: RwkvSpec,
    c: &RwkvCommon,
    own: &[&Tensor],
) -> Result<RwkvCommonGpu, GpuError> {
    let label = format!("{} key value", c.receptance.name);
    let [receptance, key, value] = matrices(pool, ctx, [&c.receptance, &c.key, &c.value], 1, &label)?;
    let e = c.ln.weight.n_elements();
    let mut values: Vec<f32> = own.iter().chain([&&c.ln.weight]).flat_map(|t| to_f32(t)).collect();
    let ln_at = values.len() - e;
    match &c.ln.bias {
        Some(b) => values.extend(to_f32(b)),
        None => values.resize(values.len() + e, 0.0),
    }
    let vectors =
        pool.upload(ctx, &format!("{} vectors", c.ln.weight.name), bytemuck::cast_slice(&values), Category::Weights)?;
    Ok(RwkvCommonGpu { spec, receptance, key, value, output: matrix(pool, ctx, &c.output, 1)?, vectors, ln_at })
}

fn rwkv6(pool: &mut Pool, ctx: &GpuContext, spec: RwkvSpec, w: &Rwkv6Weights) -> Result<Rwkv6Gpu, GpuError> {
    let e = w.lerp_x.n_elements();
    let w2 = matrix(pool, ctx, &w.w2, 1)?;
    if !w2.cols.is_multiple_of(4) {
        return Err(GpuError::Unsupported(format!("RWKV-6 lerp LoRA width {} (a multiple of 4 is needed)", w2.cols)));
    }
    Ok(Rwkv6Gpu {
        common: rwkv_common(pool, ctx, spec, &w.common, &[])?,
        gate: matrix(pool, ctx, &w.gate, 1)?,
        lerps: vector(pool, ctx, &[&w.lerp_x, &w.lerp_fused], "rwkv6 lerps")?,
        w1: matrix(pool, ctx, &w.w1, 1)?,
        w2: (0..5).map(|j| w2.rows(j * e, e)).collect(),
        decay_w1: matrix(pool, ctx, &w.decay_w1, 1)?,
        decay_w2: matrix(pool, ctx, &w.decay_w2, 1)?,
        decay: vector(pool, ctx, &[&w.decay], "rwkv6 decay")?,
        first: vector(pool, ctx, &[&w.first], "rwkv6 u")?,
    })
}

fn rwkv7(pool: &mut Pool, ctx: &GpuContext, spec: RwkvSpec, w: &Rwkv7Weights) -> Result<Rwkv7Gpu, GpuError> {
    let common = rwkv_common(pool, ctx, spec, &w.common, &[&w.k_k, &w.k_a, &w.r_k])?;
    // The LoRA halves in decode order (the value residual's last), each group in one buffer if it can be.
    let downs = [&w.w[1], &w.a[1], &w.g[0], &w.v[1]];
    let [w1, a1, g1, v1] = matrices(pool, ctx, downs, 1, &format!("{} a1 g1 v1", w.w[1].name))?;
    let ups = [&w.w[2], &w.a[2], &w.g[1], &w.v[2]];
    let [w2, a2, g2, v2] = matrices(pool, ctx, ups, 1, &format!("{} a2 g2 v2", w.w[2].name))?;
    let bias = |pool: &mut Pool, t: &Tensor| vector(pool, ctx, &[t], &t.name);
    let decode = rwkv7_decode(pool, ctx, w, &common, [&w1, &a1, &g1, &v1], [&w2, &a2, &g2, &v2])?;
    Ok(Rwkv7Gpu {
        lerps: vector(pool, ctx, &[&w.lerp_fused], "rwkv7 lerps")?,
        w: (w1, w2, bias(pool, &w.w[0])?),
        a: (a1, a2, bias(pool, &w.a[0])?),
        v: (v1, v2, bias(pool, &w.v[0])?),
        g: (g1, g2),
        common,
        decode,
    })
}

/// The fused decode form of an RWKV-7 layer, when r, k and v share a buffer, each LoRA group shares one,
/// the LoRA widths keep x reads in whole vec4s, and the head fits `wkv7_step` (`None`: the layer decodes
/// kernel by kernel, as prefill does).
fn rwkv7_decode(
    pool: &mut Pool,
    ctx: &GpuContext,
    w: &Rwkv7Weights,
    c: &RwkvCommonGpu,
    downs: [&GpuMatrix; 4],
    ups: [&GpuMatrix; 4],
) -> Result<Option<Rwkv7Decode>, GpuError> {
    use crate::kernels::matvec::MatvecMode::{Decay7, Sigmoid, SigmoidBias, Tanh, Write};
    let e = c.key.cols;
    if c.spec.head_size > WKV7_STEP_MAX_HEAD || !e.is_multiple_of(4) || downs.iter().any(|m| !m.rows.is_multiple_of(4))
    {
        return Ok(None);
    }
    let lerp = |row: usize| row * e;
    let rkv = [(&c.receptance, lerp(0), Write, None), (&c.key, lerp(2), Write, None), (&c.value, lerp(3), Write, None)];
    let down_rows = [lerp(1), lerp(4), lerp(5), lerp(3)];
    let down_modes = [Tanh, Write, Sigmoid, Write];
    let down: Vec<_> = (0..4).map(|i| (downs[i], down_rows[i], down_modes[i], None)).collect();
    let mut x_off = 0;
    let up_biases = [Some(&w.w[0]), Some(&w.a[0]), None, Some(&w.v[0])];
    let up_modes = [Decay7, SigmoidBias, Write, SigmoidBias];
    let up: Vec<_> = (0..4)
        .map(|i| {
            let seg = (ups[i], x_off, up_modes[i], up_biases[i]);
            x_off += downs[i].rows;
            seg
        })
        .collect();
    let (Some(rkv), Some(down), Some(up)) = (
        multi_product(pool, ctx, &rkv, "rwkv7 r k v table")?,
        multi_product(pool, ctx, &down, "rwkv7 lora down table")?,
        multi_product(pool, ctx, &up, "rwkv7 lora up table")?,
    ) else {
        return Ok(None);
    };
    Ok(Some(Rwkv7Decode { rkv, down, up }))
}

/// Head sizes `wkv7_step` takes (`MAX_S` in `shaders/wkv7_step.wgsl`).
pub const WKV7_STEP_MAX_HEAD: usize = 256;

/// A [`MultiProduct`] of `segments` (matrix, x offset in values, activation, per-row bias), when the
/// matrices sit whole in one buffer in one encoding; `None` otherwise.
fn multi_product(
    pool: &mut Pool,
    ctx: &GpuContext,
    segments: &[(&GpuMatrix, usize, crate::kernels::matvec::MatvecMode, Option<&Tensor>)],
    label: &str,
) -> Result<Option<MultiProduct>, GpuError> {
    use crate::kernels::matvec::{multi_table, Segment};
    let Some((first, ..)) = segments.first() else { return Ok(None) };
    let [head] = first.parts.as_slice() else { return Ok(None) };
    let together = segments.iter().all(|(m, x_off, ..)| {
        matches!(m.parts.as_slice(), [p] if p.buf == head.buf) && m.ty == first.ty && x_off.is_multiple_of(4)
    });
    if !together {
        return Ok(None);
    }
    let records: Vec<Segment> = segments
        .iter()
        .map(|&(m, x_off, mode, bias)| Segment {
            rows: m.rows,
            cols: m.cols,
            row_bytes: m.row_bytes(),
            base: m.parts[0].base,
            x_off,
            mode,
            bias: bias.map(to_f32),
        })
        .collect();
    let table = pool.upload(ctx, label, bytemuck::cast_slice(&multi_table(first.ty, &records)), Category::Weights)?;
    Ok(Some(MultiProduct {
        buf: head.buf.clone(),
        ty: first.ty,
        table,
        rows: segments.iter().map(|s| s.0.rows).collect(),
        max_blocks: segments.iter().map(|s| s.0.cols / kernel_block(s.0.ty)).max().unwrap_or(1),
    }))
}

fn ffn(pool: &mut Pool, ctx: &GpuContext, spec: Ffn, w: &FfnWeights) -> Result<GpuFfn, GpuError> {
    Ok(match (spec, w) {
        (_, FfnWeights::None) => GpuFfn::None,
        (_, FfnWeights::Dense { gate, up, down }) => {
            let [gate, up] = matrices(pool, ctx, [gate, up], 1, &format!("{} up", gate.name))?;
            GpuFfn::Dense { gate, up, down: matrix(pool, ctx, down, 1)? }
        }
        (Ffn::Moe { experts, top_k, .. }, FfnWeights::Moe { router, gate_exps, up_exps, down_exps }) => {
            if top_k > 8 || experts > 256 {
                return Err(GpuError::Unsupported(format!(
                    "MoE with {experts} experts, top-{top_k} (the router kernel takes up to 256, top-8)"
                )));
            }
            let [gate, up] = matrices(pool, ctx, [gate_exps, up_exps], experts, &format!("{} up", gate_exps.name))?;
            GpuFfn::Moe {
                router: matrix(pool, ctx, router, 1)?,
                gate,
                up,
                down: matrix(pool, ctx, down_exps, experts)?,
                experts,
                top_k,
            }
        }
        (_, FfnWeights::ChannelMix { lerp_k, key, value, receptance }) => {
            let mut lerps = vec![lerp_k];
            lerps.extend(receptance.as_ref().map(|(lerp_r, _)| lerp_r));
            GpuFfn::ChannelMix {
                lerps: vector(pool, ctx, &lerps, "channel-mix lerps")?,
                key: matrix(pool, ctx, key, 1)?,
                value: matrix(pool, ctx, value, 1)?,
                receptance: receptance.as_ref().map(|(_, r)| matrix(pool, ctx, r, 1)).transpose()?,
            }
        }
        (_, FfnWeights::Moe { .. }) => return Err(GpuError::Unsupported("MoE weights without a MoE spec".into())),
    })
}

/// `types` sorted, each once (so pipelines compile in a fixed order).
fn distinct(mut types: Vec<GgmlType>) -> Vec<GgmlType> {
    types.sort_by_key(|t| *t as u32);
    types.dedup();
    types
}

impl GpuWeights {
    /// Every matrix encoding the model's matvecs read, so exactly those pipelines are compiled.
    pub fn matrix_types(&self) -> Vec<GgmlType> {
        let mut v = vec![self.token_embd.ty, self.output.ty];
        for l in &self.layers {
            let ms: Vec<&GpuMatrix> = match &l.mixer {
                GpuMixer::Attention(a) => vec![&a.q, &a.k, &a.v, &a.o],
                GpuMixer::Mamba(m) => vec![&m.in_proj, &m.x_proj, &m.dt_proj, &m.out_proj],
                GpuMixer::Rwkv6(r) => {
                    let c = &r.common;
                    let mut m =
                        vec![&c.receptance, &c.key, &c.value, &c.output, &r.gate, &r.w1, &r.decay_w1, &r.decay_w2];
                    m.extend(&r.w2);
                    m
                }
                GpuMixer::Rwkv7(r) => {
                    let c = &r.common;
                    vec![
                        &c.receptance,
                        &c.key,
                        &c.value,
                        &c.output,
                        &r.w.0,
                        &r.w.1,
                        &r.a.0,
                        &r.a.1,
                        &r.v.0,
                        &r.v.1,
                        &r.g.0,
                        &r.g.1,
                    ]
                }
            };
            v.extend(ms.iter().map(|m| m.ty));
            match &l.ffn {
                GpuFfn::None => {}
                GpuFfn::Dense { gate, up, down } => v.extend([gate.ty, up.ty, down.ty]),
                GpuFfn::Moe { router, gate, up, down, .. } => v.extend([router.ty, gate.ty, up.ty, down.ty]),
                GpuFfn::ChannelMix { key, value, receptance, .. } => {
                    v.extend([key.ty, value.ty]);
                    v.extend(receptance.as_ref().map(|r| r.ty));
                }
            }
        }
        distinct(v)
    }

    /// The encodings of the feed-forwards whose gate and up share a buffer (read by `matvec_swiglu`).
    pub fn paired_types(&self) -> Vec<GgmlType> {
        self.layer_types(|l| match &l.ffn {
            GpuFfn::Dense { gate, up, .. } | GpuFfn::Moe { gate, up, .. } => gate.followed_by(up).map(|_| gate.ty),
            _ => None,
        })
    }

    /// The encodings of the feed-forwards whose gate and up a prefill chunk reads in one `matmul_swiglu`
    /// dispatch ([`GpuMatrix::paired_with`]), dense or per expert.
    pub fn swiglu_chunk_types(&self) -> Vec<GgmlType> {
        self.layer_types(|l| match &l.ffn {
            GpuFfn::Dense { gate, up, .. } | GpuFfn::Moe { gate, up, .. } => gate.paired_with(up).map(|_| gate.ty),
            _ => None,
        })
    }

    /// Whether some feed-forward's chunk takes SwiGLU's gate and up as two products (not paired in one
    /// buffer), into scratch of their own.
    pub fn unpaired_swiglu(&self) -> bool {
        self.layers.iter().any(|l| match &l.ffn {
            GpuFfn::Dense { gate, up, .. } | GpuFfn::Moe { gate, up, .. } => gate.paired_with(up).is_none(),
            _ => false,
        })
    }

    /// The encodings of the MoE down projections whose experts run as one `matvec_routed` dispatch (those
    /// whose gate and up share a buffer).
    pub fn routed_types(&self) -> Vec<GgmlType> {
        self.layer_types(|l| match &l.ffn {
            GpuFfn::Moe { gate, up, down, .. } => gate.followed_by(up).map(|_| down.ty),
            _ => None,
        })
    }

    /// The encodings of the Mamba in-projections (read by `matvec_conv` in decode).
    pub fn conv_types(&self) -> Vec<GgmlType> {
        self.layer_types(|l| match &l.mixer {
            GpuMixer::Mamba(m) => Some(m.in_proj.ty),
            _ => None,
        })
    }

    /// The encodings of the q/k/v products that take RoPE and the KV cache append as their epilogue
    /// ([`AttentionGpu::rope_products`]).
    pub fn rope_types(&self) -> Vec<GgmlType> {
        let per_layer = self.layers.iter().flat_map(|l| match &l.mixer {
            GpuMixer::Attention(a) => a.rope_products().unwrap_or_default().iter().map(|(m, _)| m.ty).collect(),
            _ => Vec::new(),
        });
        distinct(per_layer.collect())
    }

    /// The normed matvec twins a decode step can run (`shaders/lib/x_norm.wgsl`): the output head's, and
    /// each layer's first products after its norms (attention's q/k/v in one buffer, or with RoPE in one
    /// buffer or three ([`Self::rope_types`]), Mamba's in-projection, a dense feed-forward's gate and up
    /// in one buffer).
    pub fn normed_kernels(&self) -> Vec<Kernel> {
        let mut v = vec![Kernel::MatvecNorm(self.output.ty)];
        for l in &self.layers {
            match &l.mixer {
                GpuMixer::Attention(a) => match a.rope_products() {
                    Some(products) => v.extend(products.iter().map(|(m, _)| Kernel::MatvecRopeNorm(m.ty))),
                    None => v.extend(a.qkv.as_ref().map(|qkv| Kernel::MatvecNorm(qkv.ty))),
                },
                GpuMixer::Mamba(m) => v.push(Kernel::MatvecConvNorm(m.in_proj.ty)),
                _ => {}
            }
            if let GpuFfn::Dense { gate, up, .. } = &l.ffn {
                if gate.followed_by(up).is_some() {
                    v.push(Kernel::MatvecSwigluNorm(gate.ty));
                }
            }
        }
        v.sort_by_key(|k| k.name());
        v.dedup();
        v
    }

    /// The encodings of RWKV-7's fused decode products (read by `matvec_multi`).
    pub fn multi_types(&self) -> Vec<GgmlType> {
        let per_layer = self.layers.iter().flat_map(|l| match &l.mixer {
            GpuMixer::Rwkv7(r) => r.decode.iter().flat_map(|d| [d.rkv.ty, d.down.ty, d.up.ty]).collect(),
            _ => Vec::new(),
        });
        distinct(per_layer.collect())
    }

    /// The encodings of the products a chunk activates as it writes them (`matmul_act`): RWKV's LoRA
    /// products with an activation and its channel-mix key.
    pub fn activated_types(&self) -> Vec<GgmlType> {
        let per_layer = self.layers.iter().flat_map(|l| {
            let mut types = match &l.mixer {
                GpuMixer::Rwkv6(r) => vec![r.w1.ty, r.gate.ty, r.decay_w1.ty, r.decay_w2.ty],
                GpuMixer::Rwkv7(r) => vec![r.w.0.ty, r.w.1.ty, r.g.0.ty, r.a.1.ty],
                _ => Vec::new(),
            };
            if let GpuFfn::ChannelMix { key, .. } = &l.ffn {
                types.push(key.ty);
            }
            types
        });
        distinct(per_layer.collect())
    }

    /// The distinct encodings `of` names over the layers, in a fixed order.
    fn layer_types(&self, of: impl Fn(&GpuLayer) -> Option<GgmlType>) -> Vec<GgmlType> {
        distinct(self.layers.iter().filter_map(of).collect())
    }

    /// Uploads every tensor, counting the bytes in `pool`.
    pub fn upload(pool: &mut Pool, ctx: &GpuContext, spec: &ModelSpec, w: &ModelWeights) -> Result<Self, GpuError> {
        let token_embd_norm = w.token_embd_norm.as_ref().map(|n| norm(pool, ctx, n)).transpose()?;
        let token_embd = matrix(pool, ctx, &w.token_embd, 1)?;
        let output = if spec.tied_output { token_embd.clone() } else { matrix(pool, ctx, &w.output, 1)? };
        let mut layers = Vec::with_capacity(spec.layers.len());
        for (ls, lw) in spec.layers.iter().zip(&w.layers) {
            let mixer = match (&ls.mixer, &lw.mixer) {
                (Mixer::Attention(s), MixerWeights::Attention(a)) => attention(pool, ctx, *s, a)?,
                (Mixer::Mamba(s), MixerWeights::Mamba(m)) => mamba(pool, ctx, *s, m)?,
                (Mixer::Rwkv(s), MixerWeights::Rwkv6(r)) => GpuMixer::Rwkv6(Box::new(rwkv6(pool, ctx, *s, r)?)),
                (Mixer::Rwkv(s), MixerWeights::Rwkv7(r)) => GpuMixer::Rwkv7(Box::new(rwkv7(pool, ctx, *s, r)?)),
                _ => {
                    return Err(GpuError::Unsupported(format!(
                        "layer {} of {:?}: mixer and tensors disagree",
                        layers.len(),
                        spec.arch
                    )))
                }
            };
            layers.push(GpuLayer {
                attn_norm: norm(pool, ctx, &lw.attn_norm)?,
                mixer,
                ffn_norm: lw.ffn_norm.as_ref().map(|n| norm(pool, ctx, n)).transpose()?,
                ffn: ffn(pool, ctx, ls.ffn, &lw.ffn)?,
            });
        }
        Ok(Self { token_embd, token_embd_norm, output_norm: norm(pool, ctx, &w.output_norm)?, output, layers })
    }
}

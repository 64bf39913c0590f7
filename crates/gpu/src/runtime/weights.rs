//! A model's tensors on the GPU, in their GGUF encoding (no dequantized copy): matrices for the
//! matvec kernels, and the small vectors (norm weights, Mamba's conv, A, D, dt bias) as f32.

use super::pool::{Category, Pool};
use crate::kernels::matvec::kernel_block;
use crate::{GpuContext, GpuError};
use archrace_cpu::ops::matmul::to_f32;
use archrace_gguf::GgmlType;
use archrace_model::weights::{AttnWeights, MambaWeights};
use archrace_model::{
    AttnSpec, Ffn, FfnWeights, MambaSpec, Mixer, MixerWeights, ModelSpec, ModelWeights, NormWeights, Tensor,
};

/// An encoded matrix `(rows, cols)`: ggml dims `[cols, rows]` (experts stacked as more rows).
#[derive(Clone, Debug)]
pub struct GpuMatrix {
    /// The bytes, as in the GGUF file.
    pub buf: wgpu::Buffer,
    /// Encoding.
    pub ty: GgmlType,
    /// Output length of the product (per expert for MoE tensors).
    pub rows: usize,
    /// Input length.
    pub cols: usize,
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
    Attention {
        /// Shape.
        spec: AttnSpec,
        /// `(H D, E)`, `(H_kv D, E)`, `(H_kv D, E)`, `(E, H D)`.
        q: GpuMatrix,
        /// Keys.
        k: GpuMatrix,
        /// Values.
        v: GpuMatrix,
        /// Output.
        o: GpuMatrix,
    },
    /// Mamba.
    Mamba {
        /// Shape.
        spec: MambaSpec,
        /// `(2 Di, E)`.
        in_proj: GpuMatrix,
        /// `(R + 2N, Di)`.
        x_proj: GpuMatrix,
        /// `(Di, R)`.
        dt_proj: GpuMatrix,
        /// `(E, Di)`.
        out_proj: GpuMatrix,
        /// f32: conv w `(Di, K)`, conv b `(Di)`, dt bias `(Di)`, D `(Di)`, A `(Di, N)`.
        consts: wgpu::Buffer,
        /// Jamba's RMS norms on dt, B and C.
        dt_b_c_norms: Option<[wgpu::Buffer; 3]>,
    },
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
    let buf = pool.upload(ctx, &t.name, t.data, Category::Weights)?;
    Ok(GpuMatrix { buf, ty: t.ty, rows, cols })
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
    Ok(GpuMixer::Attention {
        spec,
        q: matrix(pool, ctx, &w.q, 1)?,
        k: matrix(pool, ctx, &w.k, 1)?,
        v: matrix(pool, ctx, &w.v, 1)?,
        o: matrix(pool, ctx, &w.o, 1)?,
    })
}

fn mamba(pool: &mut Pool, ctx: &GpuContext, spec: MambaSpec, w: &MambaWeights) -> Result<GpuMixer, GpuError> {
    let consts = vector(pool, ctx, &[&w.conv1d, &w.conv1d_bias, &w.dt_bias, &w.d, &w.a], "mamba consts")?;
    let dt_b_c_norms = match &w.dt_b_c_norms {
        Some([a, b, c]) => Some([
            vector(pool, ctx, &[a], &a.name)?,
            vector(pool, ctx, &[b], &b.name)?,
            vector(pool, ctx, &[c], &c.name)?,
        ]),
        None => None,
    };
    Ok(GpuMixer::Mamba {
        spec,
        in_proj: matrix(pool, ctx, &w.in_proj, 1)?,
        x_proj: matrix(pool, ctx, &w.x_proj, 1)?,
        dt_proj: matrix(pool, ctx, &w.dt_proj, 1)?,
        out_proj: matrix(pool, ctx, &w.out_proj, 1)?,
        consts,
        dt_b_c_norms,
    })
}

fn ffn(pool: &mut Pool, ctx: &GpuContext, spec: Ffn, w: &FfnWeights) -> Result<GpuFfn, GpuError> {
    Ok(match (spec, w) {
        (_, FfnWeights::None) => GpuFfn::None,
        (_, FfnWeights::Dense { gate, up, down }) => GpuFfn::Dense {
            gate: matrix(pool, ctx, gate, 1)?,
            up: matrix(pool, ctx, up, 1)?,
            down: matrix(pool, ctx, down, 1)?,
        },
        (Ffn::Moe { experts, top_k, .. }, FfnWeights::Moe { router, gate_exps, up_exps, down_exps }) => {
            if top_k > 8 || experts > 256 {
                return Err(GpuError::Unsupported(format!(
                    "MoE with {experts} experts, top-{top_k} (the router kernel takes up to 256, top-8)"
                )));
            }
            GpuFfn::Moe {
                router: matrix(pool, ctx, router, 1)?,
                gate: matrix(pool, ctx, gate_exps, experts)?,
                up: matrix(pool, ctx, up_exps, experts)?,
                down: matrix(pool, ctx, down_exps, experts)?,
                experts,
                top_k,
            }
        }
        (_, FfnWeights::ChannelMix { .. }) | (_, FfnWeights::Moe { .. }) => {
            return Err(GpuError::Unsupported("RWKV channel-mix".into()));
        }
    })
}

impl GpuWeights {
    /// Uploads every tensor, counting the bytes in `pool`.
    pub fn upload(pool: &mut Pool, ctx: &GpuContext, spec: &ModelSpec, w: &ModelWeights) -> Result<Self, GpuError> {
        if w.token_embd_norm.is_some() {
            return Err(GpuError::Unsupported(format!(
                "{:?} (RWKV) models: the GPU runtime runs llama, mamba and jamba so far",
                spec.arch
            )));
        }
        let token_embd = matrix(pool, ctx, &w.token_embd, 1)?;
        let output = if spec.tied_output { token_embd.clone() } else { matrix(pool, ctx, &w.output, 1)? };
        let mut layers = Vec::with_capacity(spec.layers.len());
        for (ls, lw) in spec.layers.iter().zip(&w.layers) {
            let mixer = match (&ls.mixer, &lw.mixer) {
                (Mixer::Attention(s), MixerWeights::Attention(a)) => attention(pool, ctx, *s, a)?,
                (Mixer::Mamba(s), MixerWeights::Mamba(m)) => mamba(pool, ctx, *s, m)?,
                _ => return Err(GpuError::Unsupported(format!("{:?} (RWKV) time-mix", spec.arch))),
            };
            layers.push(GpuLayer {
                attn_norm: norm(pool, ctx, &lw.attn_norm)?,
                mixer,
                ffn_norm: lw.ffn_norm.as_ref().map(|n| norm(pool, ctx, n)).transpose()?,
                ffn: ffn(pool, ctx, ls.ffn, &lw.ffn)?,
            });
        }
        Ok(Self { token_embd, output_norm: norm(pool, ctx, &w.output_norm)?, output, layers })
    }
}

//! `ModelSpec`: the one description of a model, built from GGUF metadata in one place. Every layer is a
//! mixer (attention, Mamba or RWKV) and a feed-forward (dense, mixture of experts, RWKV channel-mix, or none
//! for Mamba), so a hybrid such as Jamba is data, not a special case.

use crate::meta::{Meta, MAX_DIM, MAX_LAYERS};
use crate::ModelError;
use archrace_gguf::{Gguf, GgufError};
use serde::Serialize;

/// The architectures archrace runs (`general.architecture`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// Transformer: RMSNorm, RoPE, grouped-query attention, SwiGLU.
    Llama,
    /// Mamba-1 selective state space model.
    Mamba,
    /// RWKV-6 (Finch).
    Rwkv6,
    /// RWKV-7 (Goose).
    Rwkv7,
    /// Jamba: Mamba and attention layers, dense and mixture-of-experts feed-forwards.
    Jamba,
}

impl Arch {
    /// From `general.architecture`.
    pub fn parse(name: &str) -> Result<Self, ModelError> {
        Ok(match name {
            "llama" => Arch::Llama,
            "mamba" => Arch::Mamba,
            "rwkv6" => Arch::Rwkv6,
            "rwkv7" => Arch::Rwkv7,
            "jamba" => Arch::Jamba,
            other => return Err(ModelError::UnknownArchitecture(other.to_string())),
        })
    }

    /// llama.cpp's name.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Mamba => "mamba",
            Arch::Rwkv6 => "rwkv6",
            Arch::Rwkv7 => "rwkv7",
            Arch::Jamba => "jamba",
        }
    }
}

/// Rotary position embedding, llama.cpp's "normal" mode: adjacent pairs `(2i, 2i+1)` rotate by
/// `pos * freq_scale * freq_base^(-2i / n_rot)` (RoFormer, Su et al. 2021, eq. 34).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RopeSpec {
    /// Rotated dimensions per head (the first `n_rot` of each head).
    pub n_rot: usize,
    /// Base of the frequencies.
    pub freq_base: f32,
    /// Linear position scaling (1 / `rope.scaling.factor`).
    pub freq_scale: f32,
}

/// Multi-head attention with grouped-query heads.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct AttnSpec {
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads (divides `n_head`).
    pub n_head_kv: usize,
    /// Dimensions per head.
    pub head_dim: usize,
    /// RoPE, or `None` (Jamba's attention has no positional encoding).
    pub rope: Option<RopeSpec>,
}

/// Mamba-1 mixer dimensions (Gu & Dao 2023, Algorithm 2).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MambaSpec {
    /// `d_inner` (E * expand).
    pub d_inner: usize,
    /// Causal convolution width.
    pub d_conv: usize,
    /// SSM state size `N`.
    pub d_state: usize,
    /// Rank of the `dt` projection.
    pub dt_rank: usize,
    /// RMS norms on dt, B and C (Jamba).
    pub dt_b_c_rms: bool,
}

/// RWKV time-mix dimensions.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RwkvSpec {
    /// 6 or 7.
    pub version: u8,
    /// Channels per head (the WKV state is head_size x head_size per head).
    pub head_size: usize,
    /// Heads (`n_embd / head_size`).
    pub n_head: usize,
}

/// A layer's token mixer.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Mixer {
    /// Self-attention.
    Attention(AttnSpec),
    /// Mamba selective SSM.
    Mamba(MambaSpec),
    /// RWKV time-mix.
    Rwkv(RwkvSpec),
}

/// A layer's feed-forward.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Ffn {
    /// No feed-forward (Mamba blocks).
    None,
    /// SwiGLU: `down(silu(gate x) * up x)`.
    Dense {
        /// Hidden size.
        hidden: usize,
    },
    /// Mixture of SwiGLU experts with a softmax router and top-k selection.
    Moe {
        /// Experts.
        experts: usize,
        /// Experts used per token.
        top_k: usize,
        /// Hidden size of each expert.
        hidden: usize,
    },
    /// RWKV channel-mix.
    ChannelMix {
        /// Hidden size.
        hidden: usize,
    },
}

/// One layer: a mixer and a feed-forward.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LayerSpec {
    /// Token mixer.
    pub mixer: Mixer,
    /// Feed-forward.
    pub ffn: Ffn,
}

/// Normalisation used throughout the model.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Norm {
    /// RMSNorm (Zhang & Sennrich 2019).
    Rms {
        /// Epsilon.
        eps: f32,
    },
    /// LayerNorm with bias (Ba et al. 2016).
    Layer {
        /// Epsilon.
        eps: f32,
    },
}

impl Norm {
    /// The epsilon, whichever the kind (Jamba's dt/B/C norms use the model's).
    pub fn eps(self) -> f32 {
        match self {
            Norm::Rms { eps } | Norm::Layer { eps } => eps,
        }
    }
}

/// The whole model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelSpec {
    /// Architecture.
    pub arch: Arch,
    /// `general.name`, or empty.
    pub name: String,
    /// Embedding width `E`.
    pub n_embd: usize,
    /// Vocabulary size (rows of `token_embd.weight`).
    pub n_vocab: usize,
    /// Training context length, when given.
    pub n_ctx_train: Option<usize>,
    /// Normalisation.
    pub norm: Norm,
    /// Whether the output projection reuses `token_embd.weight`.
    pub tied_output: bool,
    /// Sliding attention window, when the model has one (Mistral-style).
    pub sliding_window: Option<usize>,
    /// Layers, in order.
    pub layers: Vec<LayerSpec>,
}

impl ModelSpec {
    /// Builds the spec from a parsed GGUF: llama.cpp's metadata keys, checked against limits.
    pub fn from_gguf(g: &Gguf) -> Result<Self, ModelError> {
        let arch_name = g
            .get("general.architecture")
            .and_then(|v| v.as_str())
            .ok_or_else(|| GgufError::MissingKey("general.architecture".into()))?;
        let arch = Arch::parse(arch_name)?;
        let m = Meta { gguf: g, arch: arch_name };
        let n_embd = m.dim("embedding_length", MAX_DIM)?;
        let n_layers = m.dim("block_count", MAX_LAYERS)?;
        let embd = g.tensor("token_embd.weight").ok_or_else(|| GgufError::MissingTensor("token_embd.weight".into()))?;
        if embd.dims.len() != 2 || embd.dims[0] != n_embd as u64 {
            return Err(ModelError::ShapeMismatch {
                tensor: embd.name.clone(),
                expected: vec![n_embd as u64, embd.dims.get(1).copied().unwrap_or(0)],
                found: embd.dims.clone(),
            });
        }
        let n_vocab = embd.dims[1] as usize;
        let name = g.get("general.name").and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let n_ctx_train = m.opt_dim("context_length", u64::MAX)?;
        let tied_output = g.tensor("output.weight").is_none();

        let rms_eps = || m.positive("attention.layer_norm_rms_epsilon", MAX_EPS);
        let (norm, layers) = match arch {
            Arch::Llama => {
                let n_head = m.dim("attention.head_count", MAX_DIM)?;
                let heads_kv = m.per_layer("attention.head_count_kv", n_layers, MAX_DIM)?;
                let head_dim = divide(&m, "attention.head_count", n_embd, n_head)?;
                let n_rot = m.opt_dim("rope.dimension_count", MAX_DIM)?.unwrap_or(head_dim);
                if n_rot > head_dim || !n_rot.is_multiple_of(2) {
                    return Err(bad(&m, "rope.dimension_count", format!("{n_rot} rotated of {head_dim} per head")));
                }
                let rope = RopeSpec {
                    n_rot,
                    freq_base: m.opt_positive("rope.freq_base", f32::MAX)?.unwrap_or(10_000.0),
                    freq_scale: rope_freq_scale(&m)?,
                };
                let n_ff = m.dim("feed_forward_length", MAX_DIM)?;
                let layers = (0..n_layers)
                    .map(|i| {
                        let n_head_kv = heads_kv.as_ref().map_or(n_head, |v| v[i]);
                        Ok(LayerSpec {
                            mixer: Mixer::Attention(attn(&m, n_head, n_head_kv, head_dim, Some(rope))?),
                            ffn: Ffn::Dense { hidden: n_ff },
                        })
                    })
                    .collect::<Result<_, ModelError>>()?;
                (Norm::Rms { eps: rms_eps()? }, layers)
            }
            Arch::Mamba => {
                let mamba = mamba_spec(&m, n_embd)?;
                (
                    Norm::Rms { eps: rms_eps()? },
                    vec![LayerSpec { mixer: Mixer::Mamba(mamba), ffn: Ffn::None }; n_layers],
                )
            }
            Arch::Jamba => {
                let mamba = mamba_spec(&m, n_embd)?;
                let n_head = m.dim("attention.head_count", MAX_DIM)?;
                let head_dim = divide(&m, "attention.head_count", n_embd, n_head)?;
                let heads_kv = m
                    .per_layer("attention.head_count_kv", n_layers, MAX_DIM)?
                    .ok_or_else(|| GgufError::MissingKey(m.key("attention.head_count_kv")))?;
                let n_ff = m.dim("feed_forward_length", MAX_DIM)?;
                let experts = m.opt_dim("expert_count", 4096)?;
                let top_k = m.opt_dim("expert_used_count", 4096)?;
                let layers = (0..n_layers)
                    .map(|i| {
                        let mixer = match heads_kv[i] {
                            0 => Mixer::Mamba(mamba),
                            kv => Mixer::Attention(attn(&m, n_head, kv, head_dim, None)?),
                        };
                        // llama.cpp: a layer is MoE exactly when its router tensor is present.
                        let ffn = if g.tensor(&format!("blk.{i}.ffn_gate_inp.weight")).is_some() {
                            match (experts, top_k) {
                                (Some(e), Some(k)) if k <= e => Ffn::Moe { experts: e, top_k: k, hidden: n_ff },
                                _ => {
                                    return Err(bad(
                                        &m,
                                        "expert_used_count",
                                        "MoE layer without a valid expert_count/expert_used_count".into(),
                                    ))
                                }
                            }
                        } else {
                            Ffn::Dense { hidden: n_ff }
                        };
                        Ok(LayerSpec { mixer, ffn })
                    })
                    .collect::<Result<_, ModelError>>()?;
                (Norm::Rms { eps: rms_eps()? }, layers)
            }
            Arch::Rwkv6 | Arch::Rwkv7 => {
                let head_size = m.dim("wkv.head_size", MAX_DIM)?;
                let n_head = divide(&m, "wkv.head_size", n_embd, head_size)?;
                let n_ff = m.dim("feed_forward_length", MAX_DIM)?;
                let rwkv = RwkvSpec { version: if arch == Arch::Rwkv6 { 6 } else { 7 }, head_size, n_head };
                let layer = LayerSpec { mixer: Mixer::Rwkv(rwkv), ffn: Ffn::ChannelMix { hidden: n_ff } };
                (Norm::Layer { eps: m.positive("attention.layer_norm_epsilon", MAX_EPS)? }, vec![layer; n_layers])
            }
        };
        let sliding_window = m.opt_dim("attention.sliding_window", u64::MAX)?;
        check_blocks(g, &m, n_layers)?;
        Ok(Self { arch, name, n_embd, n_vocab, n_ctx_train, norm, tied_output, sliding_window, layers })
    }

    /// Number of layers.
    pub fn n_layers(&self) -> usize {
        self.layers.len()
    }

    /// The attention layers' dimensions, in layer order.
    pub fn attention_layers(&self) -> impl Iterator<Item = &AttnSpec> {
        self.layers.iter().filter_map(|l| match &l.mixer {
            Mixer::Attention(a) => Some(a),
            _ => None,
        })
    }
}

/// Largest norm epsilon accepted: real models use 1e-5 or 1e-6; 0.1 already flattens a norm.
const MAX_EPS: f32 = 0.1;

/// `block_count` must agree with the `blk.N.` tensors: every block in `0..n_layers` has tensors and none
/// lies beyond (llama.cpp would leave extra blocks unused and fail on missing ones).
fn check_blocks(g: &Gguf, m: &Meta, n_layers: usize) -> Result<(), ModelError> {
    let mut present = vec![false; n_layers];
    for t in &g.tensors {
        let Some(block) = t.name.strip_prefix("blk.").and_then(|r| r.split('.').next()) else { continue };
        match block.parse::<usize>() {
            Ok(i) if i < n_layers => present[i] = true,
            _ => {
                return Err(bad(
                    m,
                    "block_count",
                    format!("{n_layers} blocks, but the file has tensor {:?} beyond them", t.name),
                ))
            }
        }
    }
    match present.iter().position(|&p| !p) {
        Some(i) => Err(bad(m, "block_count", format!("{n_layers} blocks, but block {i} has no tensors"))),
        None => Ok(()),
    }
}

fn bad(m: &Meta, key: &str, reason: String) -> ModelError {
    ModelError::BadMetadata { key: m.key(key), reason }
}

/// `a / b` when `b` divides `a` exactly.
fn divide(m: &Meta, key: &str, a: usize, b: usize) -> Result<usize, ModelError> {
    if b == 0 || !a.is_multiple_of(b) {
        return Err(bad(m, key, format!("{b} does not divide the embedding width {a}")));
    }
    Ok(a / b)
}

fn attn(
    m: &Meta,
    n_head: usize,
    n_head_kv: usize,
    head_dim: usize,
    rope: Option<RopeSpec>,
) -> Result<AttnSpec, ModelError> {
    if n_head_kv == 0 || !n_head.is_multiple_of(n_head_kv) {
        return Err(bad(m, "attention.head_count_kv", format!("{n_head_kv} KV heads for {n_head} query heads")));
    }
    Ok(AttnSpec { n_head, n_head_kv, head_dim, rope })
}

fn rope_freq_scale(m: &Meta) -> Result<f32, ModelError> {
    let scaling = m.value("rope.scaling.type").and_then(|v| v.as_str());
    let factor = m.opt_float("rope.scaling.factor")?.or(m.opt_float("rope.scale_linear")?);
    let factor = factor.filter(|&f| f != 0.0); // llama.cpp reads a factor of 0 as "not set"
    match (scaling, factor) {
        (Some("none"), _) | (_, None) => Ok(1.0),
        (Some("linear") | None, Some(f)) if f > 0.0 => Ok(1.0 / f),
        (Some(other), _) => {
            Err(bad(m, "rope.scaling.type", format!("{other:?} scaling is not supported (linear only)")))
        }
        (None, Some(f)) => Err(bad(m, "rope.scaling.factor", format!("{f} is not positive"))),
    }
}

fn mamba_spec(m: &Meta, n_embd: usize) -> Result<MambaSpec, ModelError> {
    let spec = MambaSpec {
        d_inner: m.dim("ssm.inner_size", MAX_DIM)?,
        d_conv: m.dim("ssm.conv_kernel", 64)?,
        d_state: m.dim("ssm.state_size", 4096)?,
        dt_rank: m.dim("ssm.time_step_rank", MAX_DIM)?,
        dt_b_c_rms: m.flag("ssm.dt_b_c_rms") || m.arch == "jamba",
    };
    if spec.d_inner < n_embd {
        return Err(bad(m, "ssm.inner_size", format!("{} is smaller than the embedding {n_embd}", spec.d_inner)));
    }
    Ok(spec)
}

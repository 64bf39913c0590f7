//! The model's tensors, found by llama.cpp's names (`LLM_TENSOR_*` in `llama-arch.cpp`) and checked
//! against the shapes the spec implies. Tensors stay in their GGUF form (quantized bytes, in place).
//! Shapes are in ggml order: `[row length, rows, ...]`.

use crate::spec::{Arch, AttnSpec, Ffn, LayerSpec, MambaSpec, Mixer, ModelSpec, Norm, RwkvSpec};
use crate::ModelError;
use archrace_gguf::{GgmlType, Gguf, GgufError};

/// A tensor in its GGUF encoding.
#[derive(Clone, Debug)]
pub struct Tensor<'a> {
    /// GGUF name.
    pub name: String,
    /// Encoding.
    pub ty: GgmlType,
    /// ggml dims, innermost (row length) first.
    pub dims: Vec<u64>,
    /// Encoded bytes.
    pub data: &'a [u8],
}

impl<'a> Tensor<'a> {
    /// Row length (`dims[0]`).
    pub fn row_len(&self) -> usize {
        self.dims[0] as usize
    }

    /// Rows: the product of the outer dims.
    pub fn rows(&self) -> usize {
        self.dims[1..].iter().product::<u64>() as usize
    }

    /// Bytes per row.
    pub fn row_bytes(&self) -> usize {
        self.ty.row_bytes(self.dims[0]).expect("checked by the GGUF reader") as usize
    }

    /// Rows `start..start + n` as a 2-D tensor (e.g. one expert of a stacked `[E, hidden, experts]` tensor).
    pub fn row_range(&self, start: usize, n: usize) -> Tensor<'a> {
        let rb = self.row_bytes();
        Tensor {
            name: format!("{}[rows {start}..{}]", self.name, start + n),
            ty: self.ty,
            dims: vec![self.dims[0], n as u64],
            data: &self.data[start * rb..(start + n) * rb],
        }
    }

    /// Elements.
    pub fn n_elements(&self) -> usize {
        self.row_len() * self.rows()
    }
}

/// A norm's scale and optional bias.
#[derive(Clone, Debug)]
pub struct NormWeights<'a> {
    /// Scale `(E)`.
    pub weight: Tensor<'a>,
    /// Bias `(E)`, LayerNorm only.
    pub bias: Option<Tensor<'a>>,
}

/// Attention projections.
#[derive(Clone, Debug)]
pub struct AttnWeights<'a> {
    /// `[E, n_head * head_dim]`
    pub q: Tensor<'a>,
    /// `[E, n_head_kv * head_dim]`
    pub k: Tensor<'a>,
    /// `[E, n_head_kv * head_dim]`
    pub v: Tensor<'a>,
    /// `[n_head * head_dim, E]`
    pub o: Tensor<'a>,
}

/// Mamba mixer tensors.
#[derive(Clone, Debug)]
pub struct MambaWeights<'a> {
    /// `[E, 2 * d_inner]`: x and the gate z.
    pub in_proj: Tensor<'a>,
    /// `[d_conv, d_inner]`: one causal filter per channel.
    pub conv1d: Tensor<'a>,
    /// `[d_inner]`
    pub conv1d_bias: Tensor<'a>,
    /// `[d_inner, dt_rank + 2 * d_state]`: dt, B, C.
    pub x_proj: Tensor<'a>,
    /// `[dt_rank, d_inner]`
    pub dt_proj: Tensor<'a>,
    /// `[d_inner]`
    pub dt_bias: Tensor<'a>,
    /// `[d_state, d_inner]`: `A = -exp(A_log)`, already negated and exponentiated.
    pub a: Tensor<'a>,
    /// `[d_inner]`: skip connection `D`.
    pub d: Tensor<'a>,
    /// `[d_inner, E]`
    pub out_proj: Tensor<'a>,
    /// Jamba's RMS norms on dt `[dt_rank]`, B `[d_state]` and C `[d_state]`.
    pub dt_b_c_norms: Option<[Tensor<'a>; 3]>,
}

/// RWKV time-mix tensors shared by v6 and v7.
#[derive(Clone, Debug)]
pub struct RwkvCommon<'a> {
    /// `[E, E]`
    pub key: Tensor<'a>,
    /// `[E, E]`
    pub value: Tensor<'a>,
    /// `[E, E]`
    pub receptance: Tensor<'a>,
    /// `[E, E]`
    pub output: Tensor<'a>,
    /// Group norm over heads after the WKV, `[E]` scale and bias.
    pub ln: NormWeights<'a>,
}

/// RWKV-6 time-mix tensors (Peng et al. 2024, "Eagle and Finch", section 4).
#[derive(Clone, Debug)]
pub struct Rwkv6Weights<'a> {
    /// Key, value, receptance, output, group norm.
    pub common: RwkvCommon<'a>,
    /// `[E, E]`: the SiLU gate.
    pub gate: Tensor<'a>,
    /// `[E]`: mix of the data-dependent lerp input.
    pub lerp_x: Tensor<'a>,
    /// `[E, 1, 1, 5]`: static lerp for w, k, v, r, g.
    pub lerp_fused: Tensor<'a>,
    /// `[E, 5 * Dm]`: lerp LoRA down.
    pub w1: Tensor<'a>,
    /// `[Dm, E, 5]`: lerp LoRA up, one per w, k, v, r, g.
    pub w2: Tensor<'a>,
    /// `[E]`: decay bias.
    pub decay: Tensor<'a>,
    /// `[E, Dd]`: decay LoRA down.
    pub decay_w1: Tensor<'a>,
    /// `[Dd, E]`: decay LoRA up.
    pub decay_w2: Tensor<'a>,
    /// `[head_size, H]`: the bonus `u` of the current token.
    pub first: Tensor<'a>,
}

/// RWKV-7 time-mix tensors (Peng et al. 2025, "RWKV-7 Goose", section 4).
#[derive(Clone, Debug)]
pub struct Rwkv7Weights<'a> {
    /// Key, value, receptance, output, group norm.
    pub common: RwkvCommon<'a>,
    /// `[E, 1, 1, 6]`: static lerp for r, w, k, v, a, g.
    pub lerp_fused: Tensor<'a>,
    /// Decay LoRA: `w0 [E]`, `w1 [E, r]`, `w2 [r, E]`.
    pub w: [Tensor<'a>; 3],
    /// In-context learning rate LoRA: `a0`, `a1`, `a2`.
    pub a: [Tensor<'a>; 3],
    /// Value-residual LoRA: `v0`, `v1`, `v2` (unused in layer 0, which sets the residual).
    pub v: [Tensor<'a>; 3],
    /// Gate LoRA: `g1 [E, r]`, `g2 [r, E]`.
    pub g: [Tensor<'a>; 2],
    /// `[E]`: key normalisation scale `k_k`.
    pub k_k: Tensor<'a>,
    /// `[E]`: key replacement scale `k_a`.
    pub k_a: Tensor<'a>,
    /// `[E]` (`(H, head_size)`): the `r k` bonus.
    pub r_k: Tensor<'a>,
}

/// A layer's mixer tensors.
#[derive(Clone, Debug)]
// Built once per model and never moved in a hot path, so variant sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub enum MixerWeights<'a> {
    /// Self-attention.
    Attention(AttnWeights<'a>),
    /// Mamba.
    Mamba(MambaWeights<'a>),
    /// RWKV-6 time-mix.
    Rwkv6(Box<Rwkv6Weights<'a>>),
    /// RWKV-7 time-mix.
    Rwkv7(Box<Rwkv7Weights<'a>>),
}

/// A layer's feed-forward tensors.
#[derive(Clone, Debug)]
pub enum FfnWeights<'a> {
    /// None.
    None,
    /// SwiGLU: gate, up `[E, hidden]`, down `[hidden, E]`.
    Dense {
        /// `[E, hidden]`
        gate: Tensor<'a>,
        /// `[E, hidden]`
        up: Tensor<'a>,
        /// `[hidden, E]`
        down: Tensor<'a>,
    },
    /// Experts stacked in 3-D tensors, and the router.
    Moe {
        /// `[E, experts]`, F32 in llama.cpp files.
        router: Tensor<'a>,
        /// `[E, hidden, experts]`
        gate_exps: Tensor<'a>,
        /// `[E, hidden, experts]`
        up_exps: Tensor<'a>,
        /// `[hidden, E, experts]`
        down_exps: Tensor<'a>,
    },
    /// RWKV channel-mix: `value(relu(key(lerp_k x))^2)`, gated by `sigmoid(receptance(lerp_r x))` in v6.
    ChannelMix {
        /// `[E]`
        lerp_k: Tensor<'a>,
        /// `[E, hidden]`
        key: Tensor<'a>,
        /// `[hidden, E]`
        value: Tensor<'a>,
        /// v6 only: `lerp_r [E]` and `receptance [E, E]`.
        receptance: Option<(Tensor<'a>, Tensor<'a>)>,
    },
}

/// One layer's tensors.
#[derive(Clone, Debug)]
pub struct LayerWeights<'a> {
    /// Pre-mixer norm (`attn_norm`).
    pub attn_norm: NormWeights<'a>,
    /// Mixer.
    pub mixer: MixerWeights<'a>,
    /// Pre-FFN norm (`ffn_norm`), absent when there is no FFN.
    pub ffn_norm: Option<NormWeights<'a>>,
    /// Feed-forward.
    pub ffn: FfnWeights<'a>,
}

/// All tensors of a model.
#[derive(Clone, Debug)]
pub struct ModelWeights<'a> {
    /// `[E, n_vocab]`
    pub token_embd: Tensor<'a>,
    /// RWKV's LayerNorm right after the embedding.
    pub token_embd_norm: Option<NormWeights<'a>>,
    /// Final norm.
    pub output_norm: NormWeights<'a>,
    /// `[E, n_vocab]`: `output.weight`, or `token_embd.weight` when tied.
    pub output: Tensor<'a>,
    /// Layers.
    pub layers: Vec<LayerWeights<'a>>,
}

/// Looks tensors up and checks their shapes.
struct Finder<'g, 'a> {
    g: &'g Gguf<'a>,
}

impl<'a> Finder<'_, 'a> {
    fn get(&self, name: &str, dims: &[usize]) -> Result<Tensor<'a>, ModelError> {
        let t = self.g.tensor(name).ok_or_else(|| GgufError::MissingTensor(name.to_string()))?;
        // ggml drops trailing dims of 1 in some writers; compare with those removed.
        let trim = |d: &[u64]| {
            let mut v = d.to_vec();
            while v.len() > 1 && v.last() == Some(&1) {
                v.pop();
            }
            v
        };
        let expected: Vec<u64> = dims.iter().map(|&d| d as u64).collect();
        if trim(&t.dims) != trim(&expected) {
            return Err(ModelError::ShapeMismatch { tensor: name.to_string(), expected, found: t.dims.clone() });
        }
        let data = self.g.tensor_data(t);
        if let Some(index) = archrace_gguf::quant::first_non_finite(t.ty, data) {
            return Err(ModelError::NonFinite { tensor: name.to_string(), index });
        }
        Ok(Tensor { name: name.to_string(), ty: t.ty, dims: t.dims.clone(), data })
    }

    fn norm(&self, prefix: &str, n: usize, norm: Norm) -> Result<NormWeights<'a>, ModelError> {
        Ok(NormWeights {
            weight: self.get(&format!("{prefix}.weight"), &[n])?,
            bias: match norm {
                Norm::Layer { .. } => Some(self.get(&format!("{prefix}.bias"), &[n])?),
                Norm::Rms { .. } => None,
            },
        })
    }
}

impl<'a> ModelWeights<'a> {
    /// Finds every tensor `spec` needs in `g` and checks its shape.
    pub fn from_gguf(g: &Gguf<'a>, spec: &ModelSpec) -> Result<Self, ModelError> {
        if g.is_header_only() {
            return Err(ModelError::BadSetting {
                name: "weights",
                reason: "only the file's header was read: its tensors' bytes are not here".into(),
            });
        }
        let f = Finder { g };
        let (e, v) = (spec.n_embd, spec.n_vocab);
        let token_embd = f.get("token_embd.weight", &[e, v])?;
        let output = if spec.tied_output { token_embd.clone() } else { f.get("output.weight", &[e, v])? };
        let output_norm = f.norm("output_norm", e, spec.norm)?;
        let token_embd_norm = match spec.arch {
            Arch::Rwkv6 | Arch::Rwkv7 => Some(f.norm("token_embd_norm", e, spec.norm)?),
            _ => None,
        };
        let layers = spec
            .layers
            .iter()
            .enumerate()
            .map(|(i, layer)| layer_weights(&f, i, e, spec.norm, layer))
            .collect::<Result<_, _>>()?;
        Ok(Self { token_embd, token_embd_norm, output_norm, output, layers })
    }
}

fn layer_weights<'a>(
    f: &Finder<'_, 'a>,
    i: usize,
    e: usize,
    norm: Norm,
    layer: &LayerSpec,
) -> Result<LayerWeights<'a>, ModelError> {
    let p = |n: &str| format!("blk.{i}.{n}");
    let attn_norm = f.norm(&p("attn_norm"), e, norm)?;
    let ffn_norm_name = if matches!(layer.mixer, Mixer::Rwkv(_)) { p("attn_norm_2") } else { p("ffn_norm") };
    let mixer = match layer.mixer {
        Mixer::Attention(AttnSpec { n_head, n_head_kv, head_dim, .. }) => MixerWeights::Attention(AttnWeights {
            q: f.get(&p("attn_q.weight"), &[e, n_head * head_dim])?,
            k: f.get(&p("attn_k.weight"), &[e, n_head_kv * head_dim])?,
            v: f.get(&p("attn_v.weight"), &[e, n_head_kv * head_dim])?,
            o: f.get(&p("attn_output.weight"), &[n_head * head_dim, e])?,
        }),
        Mixer::Mamba(MambaSpec { d_inner, d_conv, d_state, dt_rank, dt_b_c_rms }) => {
            MixerWeights::Mamba(MambaWeights {
                in_proj: f.get(&p("ssm_in.weight"), &[e, 2 * d_inner])?,
                conv1d: f.get(&p("ssm_conv1d.weight"), &[d_conv, d_inner])?,
                conv1d_bias: f.get(&p("ssm_conv1d.bias"), &[d_inner])?,
                x_proj: f.get(&p("ssm_x.weight"), &[d_inner, dt_rank + 2 * d_state])?,
                dt_proj: f.get(&p("ssm_dt.weight"), &[dt_rank, d_inner])?,
                dt_bias: f.get(&p("ssm_dt.bias"), &[d_inner])?,
                a: f.get(&p("ssm_a"), &[d_state, d_inner])?,
                d: f.get(&p("ssm_d"), &[d_inner])?,
                out_proj: f.get(&p("ssm_out.weight"), &[d_inner, e])?,
                dt_b_c_norms: if dt_b_c_rms {
                    Some([
                        f.get(&p("ssm_dt_norm.weight"), &[dt_rank])?,
                        f.get(&p("ssm_b_norm.weight"), &[d_state])?,
                        f.get(&p("ssm_c_norm.weight"), &[d_state])?,
                    ])
                } else {
                    None
                },
            })
        }
        Mixer::Rwkv(spec) => rwkv_mixer(f, i, e, spec)?,
    };
    let (ffn_norm, ffn) = match layer.ffn {
        Ffn::None => (None, FfnWeights::None),
        Ffn::Dense { hidden } => (
            Some(f.norm(&ffn_norm_name, e, norm)?),
            FfnWeights::Dense {
                gate: f.get(&p("ffn_gate.weight"), &[e, hidden])?,
                up: f.get(&p("ffn_up.weight"), &[e, hidden])?,
                down: f.get(&p("ffn_down.weight"), &[hidden, e])?,
            },
        ),
        Ffn::Moe { experts, hidden, .. } => (
            Some(f.norm(&ffn_norm_name, e, norm)?),
            FfnWeights::Moe {
                router: f.get(&p("ffn_gate_inp.weight"), &[e, experts])?,
                gate_exps: f.get(&p("ffn_gate_exps.weight"), &[e, hidden, experts])?,
                up_exps: f.get(&p("ffn_up_exps.weight"), &[e, hidden, experts])?,
                down_exps: f.get(&p("ffn_down_exps.weight"), &[hidden, e, experts])?,
            },
        ),
        Ffn::ChannelMix { hidden } => (
            Some(f.norm(&ffn_norm_name, e, norm)?),
            FfnWeights::ChannelMix {
                lerp_k: f.get(&p("channel_mix_lerp_k.weight"), &[e])?,
                key: f.get(&p("channel_mix_key.weight"), &[e, hidden])?,
                value: f.get(&p("channel_mix_value.weight"), &[hidden, e])?,
                receptance: match layer.mixer {
                    Mixer::Rwkv(RwkvSpec { version: 6, .. }) => Some((
                        f.get(&p("channel_mix_lerp_r.weight"), &[e])?,
                        f.get(&p("channel_mix_receptance.weight"), &[e, e])?,
                    )),
                    _ => None,
                },
            },
        ),
    };
    Ok(LayerWeights { attn_norm, mixer, ffn_norm, ffn })
}

/// The rank of a LoRA pair `down [E, r]`, `up [r, E]`, read from the file and checked for consistency.
fn lora<'a>(f: &Finder<'_, 'a>, down: &str, up: &str, e: usize) -> Result<(Tensor<'a>, Tensor<'a>), ModelError> {
    let t = f.g.tensor(down).ok_or_else(|| GgufError::MissingTensor(down.to_string()))?;
    let rank = t.dims.get(1).copied().unwrap_or(0) as usize;
    if rank == 0 || rank > crate::meta::MAX_DIM as usize {
        return Err(ModelError::ShapeMismatch {
            tensor: down.to_string(),
            expected: vec![e as u64, 0],
            found: t.dims.clone(),
        });
    }
    Ok((f.get(down, &[e, rank])?, f.get(up, &[rank, e])?))
}

fn rwkv_mixer<'a>(f: &Finder<'_, 'a>, i: usize, e: usize, spec: RwkvSpec) -> Result<MixerWeights<'a>, ModelError> {
    let p = |n: &str| format!("blk.{i}.time_mix_{n}.weight");
    let common = RwkvCommon {
        key: f.get(&p("key"), &[e, e])?,
        value: f.get(&p("value"), &[e, e])?,
        receptance: f.get(&p("receptance"), &[e, e])?,
        output: f.get(&p("output"), &[e, e])?,
        ln: NormWeights {
            weight: f.get(&format!("blk.{i}.time_mix_ln.weight"), &[e])?,
            bias: Some(f.get(&format!("blk.{i}.time_mix_ln.bias"), &[e])?),
        },
    };
    Ok(if spec.version == 6 {
        let w1 = f.g.tensor(&p("w1")).ok_or_else(|| GgufError::MissingTensor(p("w1")))?;
        let mix5 = w1.dims.get(1).copied().unwrap_or(0) as usize;
        if mix5 == 0 || !mix5.is_multiple_of(5) {
            return Err(ModelError::ShapeMismatch {
                tensor: p("w1"),
                expected: vec![e as u64, 5],
                found: w1.dims.clone(),
            });
        }
        let (decay_w1, decay_w2) = lora(f, &p("decay_w1"), &p("decay_w2"), e)?;
        MixerWeights::Rwkv6(Box::new(Rwkv6Weights {
            common,
            gate: f.get(&p("gate"), &[e, e])?,
            lerp_x: f.get(&p("lerp_x"), &[e])?,
            lerp_fused: f.get(&p("lerp_fused"), &[e, 1, 1, 5])?,
            w1: f.get(&p("w1"), &[e, mix5])?,
            w2: f.get(&p("w2"), &[mix5 / 5, e, 5])?,
            decay: f.get(&p("decay"), &[e])?,
            decay_w1,
            decay_w2,
            first: f.get(&p("first"), &[spec.head_size, spec.n_head])?,
        }))
    } else {
        let (w1, w2) = lora(f, &p("w1"), &p("w2"), e)?;
        let (a1, a2) = lora(f, &p("a1"), &p("a2"), e)?;
        let (v1, v2) = lora(f, &p("v1"), &p("v2"), e)?;
        let (g1, g2) = lora(f, &p("g1"), &p("g2"), e)?;
        MixerWeights::Rwkv7(Box::new(Rwkv7Weights {
            common,
            lerp_fused: f.get(&p("lerp_fused"), &[e, 1, 1, 6])?,
            w: [f.get(&p("w0"), &[e])?, w1, w2],
            a: [f.get(&p("a0"), &[e])?, a1, a2],
            v: [f.get(&p("v0"), &[e])?, v1, v2],
            g: [g1, g2],
            k_k: f.get(&p("k_k"), &[e])?,
            k_a: f.get(&p("k_a"), &[e])?,
            r_k: f.get(&p("r_k"), &[e])?,
        }))
    })
}

//! The calculator: parameters, weight bytes, KV cache, recurrent state and scratch, every figure derived
//! from the `ModelSpec` (and, for a GGUF, its tensor types). These are the analytic numbers the playground
//! shows beside the GPU pool's measured ones.
//!
//! Formulas (E width, V vocab, L layers; per attention layer H query / H_kv KV heads of size D; per Mamba
//! layer Di inner, N state, K conv, R dt rank; per RWKV layer H heads of size S; F FFN hidden, X experts, k
//! used; b bytes per KV element, 2 for f16 and 4 for f32):
//! - KV cache per token = sum over attention layers of `2 * H_kv * D * b`; at context n, times n (times
//!   min(n, window) for the window-capped figure).
//! - Recurrent state = sum over Mamba layers of `4 * ((K - 1) * Di + Di * N)` plus over RWKV layers of
//!   `4 * (2 E + H S^2)` (f32 state: two token shifts and the WKV matrices).
//! - Scratch (decode, f32) = `4 * (3 E + max_layer + V + H_max * n)`: residual, normed input and mixer output,
//!   the widest intermediate of any layer, the logits, and one row of attention scores over the context.
//! - Parameters: counted from the tensors for a GGUF, or from the formula in [`spec_params`] for a config;
//!   active parameters leave out the `X - k` unused experts of every MoE layer.

use crate::spec::{Ffn, Mixer, ModelSpec};
use crate::state_spec::StateSpec;
use crate::ModelError;
use archrace_gguf::Gguf;
use serde::Serialize;
use std::collections::BTreeMap;

/// KV cache element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KvType {
    /// 2 bytes.
    F16,
    /// 4 bytes.
    F32,
}

impl KvType {
    /// Bytes per element.
    pub fn bytes(self) -> u64 {
        match self {
            KvType::F16 => 2,
            KvType::F32 => 4,
        }
    }
}

/// Every figure the calculator gives.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemoryReport {
    /// All parameters.
    pub params_total: u64,
    /// Parameters used per token (MoE: top-k experts only).
    pub params_active: u64,
    /// Bytes of all weights as stored (GGUF only; 0 for a config).
    pub weight_bytes: u64,
    /// Weight bytes by tensor type (GGUF only).
    pub weight_bytes_by_type: BTreeMap<String, u64>,
    /// KV element type.
    pub kv_type: KvType,
    /// KV cache bytes per token of context.
    pub kv_bytes_per_token: u64,
    /// Context length the figures are for.
    pub context: u64,
    /// KV cache bytes at `context` with full attention.
    pub kv_cache_bytes: u64,
    /// KV cache bytes at `context` capped by the sliding window, when the model has one.
    pub kv_cache_bytes_window: Option<u64>,
    /// Recurrent state bytes (conv + SSM, WKV), independent of the context.
    pub state_bytes: u64,
    /// Decode-time activation scratch at `context`.
    pub scratch_bytes: u64,
}

/// `(total, active)` parameters from the spec alone, in u128: a config's dimensions are only bounded one by
/// one, and their products can pass 2^64. RWKV's many small tensors are not modelled here (`None`): count
/// them from the GGUF.
pub fn spec_params(spec: &ModelSpec) -> Option<(u128, u128)> {
    let w = |x: usize| x as u128;
    let (e, v) = (w(spec.n_embd), w(spec.n_vocab));
    let mut total = v * e + e + if spec.tied_output { 0 } else { v * e };
    let mut unused = 0;
    for layer in &spec.layers {
        total += e; // attn_norm
        total += match layer.mixer {
            Mixer::Attention(a) => {
                let (q, kv) = (w(a.n_head) * w(a.head_dim), w(a.n_head_kv) * w(a.head_dim));
                e * q + 2 * e * kv + q * e
            }
            Mixer::Mamba(m) => {
                let (di, n, k, r) = (w(m.d_inner), w(m.d_state), w(m.d_conv), w(m.dt_rank));
                let norms = if m.dt_b_c_rms { r + 2 * n } else { 0 };
                e * 2 * di + di * k + di + di * (r + 2 * n) + r * di + di + di * n + di + di * e + norms
            }
            Mixer::Rwkv(_) => return None,
        };
        total += match layer.ffn {
            Ffn::None => 0,
            Ffn::Dense { hidden } => e + 3 * e * w(hidden),
            Ffn::Moe { experts, top_k, hidden } => {
                let per_expert = 3 * e * w(hidden);
                unused += w(experts - top_k) * per_expert;
                e + e * w(experts) + w(experts) * per_expert
            }
            Ffn::ChannelMix { .. } => return None,
        };
    }
    Some((total, total - unused))
}

/// Parameters counted from the tensors, with the unused experts left out of the active count. The file
/// holds every one of them, so the sums fit.
pub fn gguf_params(spec: &ModelSpec, g: &Gguf) -> (u64, u64) {
    let total: u64 = g.tensors.iter().map(|t| t.n_elements()).sum();
    let unused: u64 = spec
        .layers
        .iter()
        .map(|l| match l.ffn {
            Ffn::Moe { experts, top_k, hidden } => (experts - top_k) as u64 * 3 * spec.n_embd as u64 * hidden as u64,
            _ => 0,
        })
        .sum();
    (total, total.saturating_sub(unused))
}

/// KV cache bytes per token of context (at most 2^20 x 2 x 4 x 4096 bytes: dims are bounded by MAX_DIM,
/// layers by MAX_LAYERS).
pub fn kv_bytes_per_token(spec: &ModelSpec, kv: KvType) -> u64 {
    StateSpec::new(spec).kv_bytes_per_token(kv)
}

/// Recurrent state bytes (f32), in u128 (a config's d_inner x d_state x layers can pass 2^64).
fn state_bytes_wide(spec: &ModelSpec) -> u128 {
    StateSpec::new(spec).fixed_bytes()
}

/// Recurrent state bytes (f32), saturating at u64::MAX (`report` says when a figure does not fit).
pub fn state_bytes(spec: &ModelSpec) -> u64 {
    u64::try_from(state_bytes_wide(spec)).unwrap_or(u64::MAX)
}

/// Decode-time activation scratch at context `n` (f32), in u128.
fn scratch_bytes_wide(spec: &ModelSpec, n: u64) -> u128 {
    let w = |x: usize| x as u128;
    let e = w(spec.n_embd);
    let widest = spec
        .layers
        .iter()
        .map(|l| {
            let mixer = match l.mixer {
                Mixer::Attention(a) => 2 * (w(a.n_head) + w(a.n_head_kv)) * w(a.head_dim),
                Mixer::Mamba(m) => 4 * w(m.d_inner) + w(m.dt_rank) + 2 * w(m.d_state),
                Mixer::Rwkv(_) => 8 * e,
            };
            let ffn = match l.ffn {
                Ffn::None => 0,
                Ffn::Dense { hidden } | Ffn::ChannelMix { hidden } => 2 * w(hidden),
                Ffn::Moe { experts, hidden, .. } => 2 * w(hidden) + w(experts),
            };
            mixer.max(ffn)
        })
        .max()
        .unwrap_or(0);
    let heads = spec
        .layers
        .iter()
        .map(|l| match l.mixer {
            Mixer::Attention(a) => w(a.n_head),
            _ => 0,
        })
        .max()
        .unwrap_or(0);
    4 * (3 * e + widest + w(spec.n_vocab) + heads * n as u128)
}

/// Decode-time activation scratch at context `n` (f32), saturating at u64::MAX.
pub fn scratch_bytes(spec: &ModelSpec, n: u64) -> u64 {
    u64::try_from(scratch_bytes_wide(spec, n)).unwrap_or(u64::MAX)
}

/// A figure as u64, or an error naming it when it does not fit.
fn fit(what: impl Fn() -> String, x: u128) -> Result<u64, ModelError> {
    u64::try_from(x).map_err(|_| ModelError::TooLarge { what: what() })
}

/// The full report for `spec` at context `n`. With a GGUF, parameters and weight bytes come from its
/// tensors. A figure past 2^64 (an absurd config or context) is an error naming it, never a wrapped number.
pub fn report(spec: &ModelSpec, gguf: Option<&Gguf>, n: u64, kv: KvType) -> Result<MemoryReport, ModelError> {
    let (params_total, params_active, weight_bytes, weight_bytes_by_type) = match gguf {
        Some(g) => {
            let (t, a) = gguf_params(spec, g);
            let mut by_type = BTreeMap::new();
            for tensor in &g.tensors {
                *by_type.entry(tensor.ty.name().to_string()).or_insert(0) += tensor.size;
            }
            (t, a, by_type.values().sum(), by_type)
        }
        None => {
            let (t, a) = spec_params(spec).unwrap_or((0, 0));
            (
                fit(|| "the parameter count".into(), t)?,
                fit(|| "the active parameter count".into(), a)?,
                0,
                BTreeMap::new(),
            )
        }
    };
    let per_token = kv_bytes_per_token(spec, kv);
    let kv_at = |tokens: u64| fit(|| format!("the KV cache at {tokens} tokens"), per_token as u128 * tokens as u128);
    Ok(MemoryReport {
        params_total,
        params_active,
        weight_bytes,
        weight_bytes_by_type,
        kv_type: kv,
        kv_bytes_per_token: per_token,
        context: n,
        kv_cache_bytes: kv_at(n)?,
        kv_cache_bytes_window: spec.sliding_window.map(|w| kv_at(n.min(w as u64))).transpose()?,
        state_bytes: fit(|| "the recurrent state".into(), state_bytes_wide(spec))?,
        scratch_bytes: fit(|| format!("the scratch at {n} tokens"), scratch_bytes_wide(spec, n))?,
    })
}

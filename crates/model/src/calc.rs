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

/// `(total, active)` parameters from the spec alone. RWKV's many small tensors are not modelled here
/// (`None`): count them from the GGUF.
pub fn spec_params(spec: &ModelSpec) -> Option<(u64, u64)> {
    let (e, v) = (spec.n_embd as u64, spec.n_vocab as u64);
    let mut total = v * e + e + if spec.tied_output { 0 } else { v * e };
    let mut unused = 0;
    for layer in &spec.layers {
        total += e; // attn_norm
        total += match layer.mixer {
            Mixer::Attention(a) => {
                let (q, kv) = ((a.n_head * a.head_dim) as u64, (a.n_head_kv * a.head_dim) as u64);
                e * q + 2 * e * kv + q * e
            }
            Mixer::Mamba(m) => {
                let (di, n, k, r) = (m.d_inner as u64, m.d_state as u64, m.d_conv as u64, m.dt_rank as u64);
                let norms = if m.dt_b_c_rms { r + 2 * n } else { 0 };
                e * 2 * di + di * k + di + di * (r + 2 * n) + r * di + di + di * n + di + di * e + norms
            }
            Mixer::Rwkv(_) => return None,
        };
        total += match layer.ffn {
            Ffn::None => 0,
            Ffn::Dense { hidden } => e + 3 * e * hidden as u64,
            Ffn::Moe { experts, top_k, hidden } => {
                let per_expert = 3 * e * hidden as u64;
                unused += (experts - top_k) as u64 * per_expert;
                e + e * experts as u64 + experts as u64 * per_expert
            }
            Ffn::ChannelMix { .. } => return None,
        };
    }
    Some((total, total - unused))
}

/// Parameters counted from the tensors, with the unused experts left out of the active count.
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
    (total, total - unused)
}

/// KV cache bytes per token of context.
pub fn kv_bytes_per_token(spec: &ModelSpec, kv: KvType) -> u64 {
    spec.layers
        .iter()
        .map(|l| match l.mixer {
            Mixer::Attention(a) => 2 * (a.n_head_kv * a.head_dim) as u64 * kv.bytes(),
            _ => 0,
        })
        .sum()
}

/// Recurrent state bytes (f32).
pub fn state_bytes(spec: &ModelSpec) -> u64 {
    spec.layers
        .iter()
        .map(|l| match l.mixer {
            Mixer::Attention(_) => 0,
            Mixer::Mamba(m) => 4 * ((m.d_conv - 1) * m.d_inner + m.d_inner * m.d_state) as u64,
            Mixer::Rwkv(r) => 4 * (2 * spec.n_embd + r.n_head * r.head_size * r.head_size) as u64,
        })
        .sum()
}

/// Decode-time activation scratch at context `n` (f32).
pub fn scratch_bytes(spec: &ModelSpec, n: u64) -> u64 {
    let e = spec.n_embd;
    let widest = spec
        .layers
        .iter()
        .map(|l| {
            let mixer = match l.mixer {
                Mixer::Attention(a) => 2 * (a.n_head + a.n_head_kv) * a.head_dim,
                Mixer::Mamba(m) => 4 * m.d_inner + m.dt_rank + 2 * m.d_state,
                Mixer::Rwkv(_) => 8 * e,
            };
            let ffn = match l.ffn {
                Ffn::None => 0,
                Ffn::Dense { hidden } | Ffn::ChannelMix { hidden } => 2 * hidden,
                Ffn::Moe { experts, hidden, .. } => 2 * hidden + experts,
            };
            mixer.max(ffn)
        })
        .max()
        .unwrap_or(0) as u64;
    let heads = spec
        .layers
        .iter()
        .map(|l| match l.mixer {
            Mixer::Attention(a) => a.n_head,
            _ => 0,
        })
        .max()
        .unwrap_or(0) as u64;
    4 * (3 * e as u64 + widest + spec.n_vocab as u64 + heads * n)
}

/// The full report for `spec` at context `n`. With a GGUF, parameters and weight bytes come from its tensors.
pub fn report(spec: &ModelSpec, gguf: Option<&Gguf>, n: u64, kv: KvType) -> MemoryReport {
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
            (t, a, 0, BTreeMap::new())
        }
    };
    let per_token = kv_bytes_per_token(spec, kv);
    MemoryReport {
        params_total,
        params_active,
        weight_bytes,
        weight_bytes_by_type,
        kv_type: kv,
        kv_bytes_per_token: per_token,
        context: n,
        kv_cache_bytes: per_token * n,
        kv_cache_bytes_window: spec.sliding_window.map(|w| per_token * n.min(w as u64)),
        state_bytes: state_bytes(spec),
        scratch_bytes: scratch_bytes(spec, n),
    }
}

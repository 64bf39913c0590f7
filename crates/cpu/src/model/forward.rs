//! The forward pass over T tokens: embed, then every layer as its spec says, then the output head.
//! Prefill is T tokens in one call; decode is T = 1. Both go through the same state.

use super::mixers::{attention, ffn, mamba};
use super::rwkv::{channel_mix, time_mix_v6, time_mix_v7};
use super::state::{LayerState, State};
use crate::ops::matmul::{matmul, to_f32};
use crate::ops::norm::{layer_norm, rms_norm};
use archrace_gguf::{dequantize, Gguf};
use archrace_model::{Ffn, FfnWeights, Mixer, MixerWeights, ModelError, ModelSpec, ModelWeights, Norm, NormWeights};

/// A model ready to run on the CPU, borrowing its GGUF bytes.
pub struct CpuModel<'a> {
    /// The description.
    pub spec: ModelSpec,
    /// The tensors.
    pub weights: ModelWeights<'a>,
}

impl<'a> CpuModel<'a> {
    /// Spec and weights from a parsed GGUF.
    pub fn from_gguf(g: &Gguf<'a>) -> Result<Self, ModelError> {
        let spec = ModelSpec::from_gguf(g)?;
        let weights = ModelWeights::from_gguf(g, &spec)?;
        Ok(Self { spec, weights })
    }

    /// An empty state for this model.
    pub fn new_state(&self) -> State {
        State::new(&self.spec)
    }

    /// Runs `tokens` from `state` and returns their logits, `(T, n_vocab)` row-major.
    pub fn forward(&self, state: &mut State, tokens: &[u32]) -> Result<Vec<f32>, ModelError> {
        let spec = &self.spec;
        let (t, e) = (tokens.len(), spec.n_embd);
        let mut x = vec![0.0f32; t * e]; // (T, E)
        let embd = &self.weights.token_embd;
        for (row, &tok) in x.chunks_exact_mut(e).zip(tokens) {
            if tok as usize >= spec.n_vocab {
                return Err(ModelError::TokenOutOfRange { token: tok, n_vocab: spec.n_vocab });
            }
            let rb = embd.row_bytes();
            dequantize(embd.ty, &embd.data[tok as usize * rb..][..rb], row);
        }
        if let Some(n) = &self.weights.token_embd_norm {
            x = norm(&x, n, spec.norm);
        }
        // RWKV-7's value residual: layer 0's values, mixed into every later layer's.
        let mut v_first = None;
        for ((layer, lw), ls) in spec.layers.iter().zip(&self.weights.layers).zip(&mut state.layers) {
            let h = norm(&x, &lw.attn_norm, spec.norm);
            let h = match (&layer.mixer, &lw.mixer, &mut *ls) {
                (Mixer::Attention(s), MixerWeights::Attention(w), LayerState::Kv { k, v }) => {
                    attention(s, w, &h, t, state.pos, k, v)
                }
                (Mixer::Mamba(s), MixerWeights::Mamba(w), LayerState::Mamba { conv, ssm }) => {
                    mamba(s, w, &h, t, spec.norm.eps(), conv, ssm)
                }
                (Mixer::Rwkv(s), MixerWeights::Rwkv6(w), LayerState::Rwkv { att_shift, wkv, .. }) => {
                    time_mix_v6(s, w, &h, t, att_shift, wkv)
                }
                (Mixer::Rwkv(s), MixerWeights::Rwkv7(w), LayerState::Rwkv { att_shift, wkv, .. }) => {
                    time_mix_v7(s, w, &h, t, att_shift, wkv, &mut v_first)
                }
                _ => unreachable!("spec, weights and state are built from the same spec"),
            };
            add(&mut x, &h);
            if let Some(ffn_norm) = &lw.ffn_norm {
                let h = norm(&x, ffn_norm, spec.norm);
                let out = match (&lw.ffn, &mut *ls) {
                    (FfnWeights::ChannelMix { lerp_k, key, value, receptance }, LayerState::Rwkv { ffn_shift, .. }) => {
                        channel_mix(lerp_k, key, value, receptance.as_ref(), &h, t, ffn_shift)
                    }
                    (w, _) => {
                        let top_k = match layer.ffn {
                            Ffn::Moe { top_k, .. } => top_k,
                            _ => 0,
                        };
                        ffn(w, &h, t, e, top_k)
                    }
                };
                add(&mut x, &out);
            }
        }
        state.pos += t;
        let x = norm(&x, &self.weights.output_norm, spec.norm);
        let logits = matmul(&self.weights.output, &x, t);
        archrace_model::sample::finite_logits(&logits, spec.n_vocab, state.pos - t)?;
        Ok(logits)
    }
}

fn norm(x: &[f32], w: &NormWeights, kind: Norm) -> Vec<f32> {
    match kind {
        Norm::Rms { eps } => rms_norm(x, &to_f32(&w.weight), eps),
        Norm::Layer { eps } => {
            let b = w.bias.as_ref().map(to_f32).unwrap_or_else(|| vec![0.0; w.weight.n_elements()]);
            layer_norm(x, &to_f32(&w.weight), &b, eps)
        }
    }
}

fn add(x: &mut [f32], h: &[f32]) {
    for (a, b) in x.iter_mut().zip(h) {
        *a += b;
    }
}

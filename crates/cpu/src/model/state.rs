//! Decode state, an explicit type: a KV cache per attention layer, conv + SSM state per Mamba layer.

use archrace_model::{Mixer, ModelSpec};

/// One layer's state.
#[derive(Clone, Debug, PartialEq)]
pub enum LayerState {
    /// Keys and values of every past position: `(pos, n_head_kv * head_dim)` each, grown token by token.
    Kv {
        /// Keys.
        k: Vec<f32>,
        /// Values.
        v: Vec<f32>,
    },
    /// Mamba: the last `d_conv - 1` conv inputs `(d_conv - 1, d_inner)` and the SSM state `(d_inner, d_state)`.
    Mamba {
        /// Conv window.
        conv: Vec<f32>,
        /// `h`.
        ssm: Vec<f32>,
    },
    /// RWKV: the previous token's normed input to time-mix and to channel-mix `(E)` each, and the WKV state
    /// `(H, S, S)`.
    Rwkv {
        /// Time-mix token shift.
        att_shift: Vec<f32>,
        /// Channel-mix token shift.
        ffn_shift: Vec<f32>,
        /// WKV state.
        wkv: Vec<f32>,
    },
}

/// The whole model's state and how many tokens it has seen.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    /// Tokens consumed so far (the next token's position).
    pub pos: usize,
    /// Per layer.
    pub layers: Vec<LayerState>,
}

impl State {
    /// Bytes held, `(KV cache, recurrent state)`: the KV vectors' capacity and the Mamba/RWKV vectors.
    pub fn bytes(&self) -> (u64, u64) {
        let (mut kv, mut rec) = (0, 0);
        for l in &self.layers {
            match l {
                LayerState::Kv { k, v } => kv += 4 * (k.capacity() + v.capacity()) as u64,
                LayerState::Mamba { conv, ssm } => rec += 4 * (conv.len() + ssm.len()) as u64,
                LayerState::Rwkv { att_shift, ffn_shift, wkv } => {
                    rec += 4 * (att_shift.len() + ffn_shift.len() + wkv.len()) as u64
                }
            }
        }
        (kv, rec)
    }

    /// The empty state (no tokens seen) for `spec`.
    pub fn new(spec: &ModelSpec) -> Self {
        let layers = spec
            .layers
            .iter()
            .map(|l| match l.mixer {
                Mixer::Attention(_) => LayerState::Kv { k: Vec::new(), v: Vec::new() },
                Mixer::Mamba(m) => LayerState::Mamba {
                    conv: vec![0.0; (m.d_conv - 1) * m.d_inner],
                    ssm: vec![0.0; m.d_inner * m.d_state],
                },
                Mixer::Rwkv(r) => LayerState::Rwkv {
                    att_shift: vec![0.0; spec.n_embd],
                    ffn_shift: vec![0.0; spec.n_embd],
                    wkv: vec![0.0; r.n_head * r.head_size * r.head_size],
                },
            })
            .collect();
        Self { pos: 0, layers }
    }
}

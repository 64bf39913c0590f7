//! Decode state, an explicit type: a KV cache per attention layer, conv + SSM state per Mamba layer.

use archrace_model::{LayerStateSpec, ModelSpec, StateSpec};

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
        let zeros = |n: u64| vec![0.0; n as usize];
        let layers = StateSpec::new(spec)
            .layers
            .into_iter()
            .map(|l| match l {
                LayerStateSpec::Kv { .. } => LayerState::Kv { k: Vec::new(), v: Vec::new() },
                LayerStateSpec::Mamba { conv, ssm } => LayerState::Mamba { conv: zeros(conv), ssm: zeros(ssm) },
                LayerStateSpec::Rwkv { shift, wkv } => {
                    LayerState::Rwkv { att_shift: zeros(shift), ffn_shift: zeros(shift), wkv: zeros(wkv) }
                }
            })
            .collect();
        Self { pos: 0, layers }
    }
}

//! What a sequence keeps between tokens, layer by layer: the one place its sizes are computed. The
//! calculator, the CPU state and the GPU state all read it, so their figures cannot drift apart.

use crate::calc::KvType;
use crate::spec::{Mixer, ModelSpec};

/// One layer's state, in f32 values (the KV cache: values per token per tensor, stored in the cache's type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerStateSpec {
    /// Attention: keys and values of `row` values each per token (`H_kv D`), growing with the context.
    Kv {
        /// `H_kv D`.
        row: u64,
    },
    /// Mamba: the conv window `(K - 1, Di)` and the SSM state `(Di, N)` (Gu & Dao 2023, algorithm 2).
    Mamba {
        /// `(K - 1) Di`.
        conv: u64,
        /// `Di N`.
        ssm: u64,
    },
    /// RWKV: the time-mix and channel-mix token shifts `(E)` each, and the WKV state `(H, S, S)`.
    Rwkv {
        /// `E`, per shift.
        shift: u64,
        /// `H S S`.
        wkv: u64,
    },
}

impl LayerStateSpec {
    /// Recurrent values held whatever the context (0 for attention).
    pub fn fixed_values(self) -> u128 {
        match self {
            LayerStateSpec::Kv { .. } => 0,
            LayerStateSpec::Mamba { conv, ssm } => u128::from(conv) + u128::from(ssm),
            LayerStateSpec::Rwkv { shift, wkv } => 2 * u128::from(shift) + u128::from(wkv),
        }
    }
}

/// Every layer's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateSpec {
    /// Per layer, in order.
    pub layers: Vec<LayerStateSpec>,
}

impl StateSpec {
    /// The state of `spec`'s layers.
    pub fn new(spec: &ModelSpec) -> Self {
        let w = |x: usize| x as u64;
        let layers = spec
            .layers
            .iter()
            .map(|l| match l.mixer {
                Mixer::Attention(a) => LayerStateSpec::Kv { row: w(a.n_head_kv) * w(a.head_dim) },
                Mixer::Mamba(m) => LayerStateSpec::Mamba {
                    conv: w(m.d_conv.saturating_sub(1)) * w(m.d_inner),
                    ssm: w(m.d_inner) * w(m.d_state),
                },
                Mixer::Rwkv(r) => {
                    LayerStateSpec::Rwkv { shift: w(spec.n_embd), wkv: w(r.n_head) * w(r.head_size) * w(r.head_size) }
                }
            })
            .collect();
        Self { layers }
    }

    /// KV cache values per token, keys and values of every attention layer.
    pub fn kv_values_per_token(&self) -> u64 {
        self.layers
            .iter()
            .map(|l| match l {
                LayerStateSpec::Kv { row } => 2 * row,
                _ => 0,
            })
            .sum()
    }

    /// KV cache bytes per token in element type `kv`.
    pub fn kv_bytes_per_token(&self, kv: KvType) -> u64 {
        self.kv_values_per_token() * kv.bytes()
    }

    /// Bytes of the recurrent state (f32), whatever the context, in u128 (a config's `Di N` times its
    /// layers can pass 2^64).
    pub fn fixed_bytes(&self) -> u128 {
        4 * self.layers.iter().map(|l| l.fixed_values()).sum::<u128>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Arch, AttnSpec, Ffn, LayerSpec, MambaSpec, Norm, RwkvSpec};

    #[test]
    fn each_mixer_keeps_what_its_recurrence_needs() {
        let attn = Mixer::Attention(AttnSpec { n_head: 8, n_head_kv: 2, head_dim: 64, rope: None });
        let mamba = Mixer::Mamba(MambaSpec { d_inner: 512, d_state: 16, d_conv: 4, dt_rank: 16, dt_b_c_rms: false });
        let rwkv = Mixer::Rwkv(RwkvSpec { version: 7, n_head: 4, head_size: 64 });
        let spec = ModelSpec {
            arch: Arch::Jamba,
            name: String::new(),
            n_embd: 256,
            n_vocab: 100,
            n_ctx_train: None,
            norm: Norm::Rms { eps: 1e-5 },
            tied_output: false,
            sliding_window: None,
            layers: [attn, mamba, rwkv].into_iter().map(|mixer| LayerSpec { mixer, ffn: Ffn::None }).collect(),
        };
        let s = StateSpec::new(&spec);
        assert_eq!(
            s.layers,
            vec![
                LayerStateSpec::Kv { row: 128 },
                LayerStateSpec::Mamba { conv: 3 * 512, ssm: 512 * 16 },
                LayerStateSpec::Rwkv { shift: 256, wkv: 4 * 64 * 64 },
            ]
        );
        assert_eq!(s.kv_bytes_per_token(KvType::F16), 2 * 128 * 2);
        assert_eq!(s.fixed_bytes(), 4 * (3 * 512 + 512 * 16 + 2 * 256 + 4 * 64 * 64));
    }
}

//! Published models the calculator knows by name, as the `config.json` each was released with (the
//! fields the calculator reads). With these, `calc` reproduces the Jamba paper's Table 1 (Lieber et al.,
//! 2024, "Jamba: A Hybrid Transformer-Mamba Language Model"): the KV cache at 256K tokens in 16-bit.

use crate::calc::{kv_bytes_per_token, KvType};
use crate::{ModelError, ModelSpec};

/// A published model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preset {
    /// Short id (`llama-2-7b`).
    pub id: &'static str,
    /// What a reader calls it.
    pub label: &'static str,
    /// Its Hugging Face repository.
    pub repo: &'static str,
    /// The `config.json` fields the calculator reads.
    pub config: &'static str,
    /// The Jamba paper's Table 1 figure for it: KV cache at 256K tokens, 16-bit, in GB (2^30 bytes).
    pub table1_kv_gb: Option<u64>,
}

impl Preset {
    /// The model's spec.
    pub fn spec(&self) -> Result<ModelSpec, ModelError> {
        ModelSpec::from_hf_config(self.config)
    }
}

/// The context of the Jamba paper's Table 1.
pub const TABLE1_CONTEXT: u64 = 256 * 1024;

/// Every preset, in the order the Jamba paper's Table 1 lists them, then Mamba.
pub const PRESETS: [Preset; 5] = [
    Preset {
        id: "llama-2-7b",
        label: "Llama-2 7B",
        repo: "meta-llama/Llama-2-7b-hf",
        config: r#"{"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
            "num_key_value_heads": 32, "intermediate_size": 11008, "vocab_size": 32000, "max_position_embeddings": 4096,
            "rms_norm_eps": 1e-5, "tie_word_embeddings": false}"#,
        table1_kv_gb: Some(128),
    },
    Preset {
        id: "mistral-7b",
        label: "Mistral 7B",
        repo: "mistralai/Mistral-7B-v0.1",
        config: r#"{"model_type": "mistral", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
            "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 32000, "sliding_window": 4096,
            "max_position_embeddings": 32768, "rope_theta": 10000.0, "tie_word_embeddings": false}"#,
        table1_kv_gb: Some(32),
    },
    Preset {
        id: "mixtral-8x7b",
        label: "Mixtral 8x7B",
        repo: "mistralai/Mixtral-8x7B-v0.1",
        config: r#"{"model_type": "mixtral", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
            "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 32000, "num_local_experts": 8,
            "num_experts_per_tok": 2, "max_position_embeddings": 32768, "rope_theta": 1000000.0,
            "tie_word_embeddings": false}"#,
        table1_kv_gb: Some(32),
    },
    Preset {
        id: "jamba-v0.1",
        label: "Jamba v0.1",
        repo: "ai21labs/Jamba-v0.1",
        config: r#"{"model_type": "jamba", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
            "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 65536, "num_experts": 16,
            "num_experts_per_tok": 2, "attn_layer_period": 8, "attn_layer_offset": 4, "expert_layer_period": 2,
            "expert_layer_offset": 1, "mamba_d_state": 16, "mamba_d_conv": 4, "mamba_expand": 2,
            "mamba_dt_rank": 256, "tie_word_embeddings": false}"#,
        table1_kv_gb: Some(4),
    },
    Preset {
        id: "mamba-2.8b",
        label: "Mamba 2.8B",
        repo: "state-spaces/mamba-2.8b-hf",
        config: r#"{"model_type": "mamba", "hidden_size": 2560, "num_hidden_layers": 64, "vocab_size": 50280,
            "state_size": 16, "conv_kernel": 4, "expand": 2, "time_step_rank": "auto", "intermediate_size": 5120,
            "tie_word_embeddings": true}"#,
        table1_kv_gb: None,
    },
];

/// The preset with this id.
pub fn preset(id: &str) -> Option<Preset> {
    PRESETS.into_iter().find(|p| p.id == id)
}

/// How a KV cache stores its elements, as llama.cpp's `type_k`/`type_v` (the calculator's choices; the
/// runtime keeps f16 or f32).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvFormat {
    /// 4 bytes per element.
    F32,
    /// 2 bytes per element.
    F16,
    /// Blocks of 32 elements in 34 bytes (an f16 scale and 32 int8).
    Q8_0,
}

impl KvFormat {
    /// Every format, widest first.
    pub const ALL: [KvFormat; 3] = [KvFormat::F32, KvFormat::F16, KvFormat::Q8_0];

    /// Its llama.cpp name.
    pub fn name(self) -> &'static str {
        match self {
            KvFormat::F32 => "f32",
            KvFormat::F16 => "f16",
            KvFormat::Q8_0 => "q8_0",
        }
    }

    /// The format called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Bytes of the KV cache of `spec` at `tokens` tokens, in u128 (a context past 2^32 tokens of a large
    /// model passes 2^64). Q8_0 rows are whole blocks: each token's K and V rows round up to 32 elements.
    pub fn kv_cache_bytes(self, spec: &ModelSpec, tokens: u64) -> u128 {
        let per_token = match self {
            KvFormat::F32 => kv_bytes_per_token(spec, KvType::F32) as u128,
            KvFormat::F16 => kv_bytes_per_token(spec, KvType::F16) as u128,
            KvFormat::Q8_0 => crate::StateSpec::new(spec)
                .layers
                .iter()
                .map(|l| match l {
                    crate::LayerStateSpec::Kv { row } => 2 * (*row as u128).div_ceil(32) * 34,
                    _ => 0,
                })
                .sum(),
        };
        per_token * tokens as u128
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Jamba paper's Table 1, reproduced from the configs: KV cache at 256K tokens in 16-bit.
    #[test]
    fn presets_reproduce_the_jamba_papers_table_1() {
        let mut rows = Vec::new();
        for p in PRESETS {
            let spec = p.spec().unwrap();
            let bytes = KvFormat::F16.kv_cache_bytes(&spec, TABLE1_CONTEXT);
            if let Some(gb) = p.table1_kv_gb {
                assert_eq!(bytes, (gb as u128) << 30, "{}", p.label);
                rows.push((p.label, gb));
            } else {
                assert_eq!(bytes, 0, "{}: no attention, no KV cache", p.label);
            }
        }
        assert_eq!(
            rows,
            [("Llama-2 7B", 128), ("Mistral 7B", 32), ("Mixtral 8x7B", 32), ("Jamba v0.1", 4)],
            "Table 1's rows, in its order"
        );
    }

    #[test]
    fn kv_formats_scale_as_their_element_sizes() {
        let spec = preset("llama-2-7b").unwrap().spec().unwrap();
        let f32 = KvFormat::F32.kv_cache_bytes(&spec, 1000);
        assert_eq!(KvFormat::F16.kv_cache_bytes(&spec, 1000) * 2, f32);
        // 4096-wide rows are 128 blocks of 34 bytes: 34/128 of f32.
        assert_eq!(KvFormat::Q8_0.kv_cache_bytes(&spec, 1000) * 128, f32 * 34);
        assert_eq!(KvFormat::parse("q8_0"), Some(KvFormat::Q8_0));
        assert_eq!(KvFormat::parse("q4_0"), None);
    }

    #[test]
    fn presets_have_the_published_parameter_counts() {
        let params = |id: &str| crate::calc::spec_params(&preset(id).unwrap().spec().unwrap()).unwrap();
        let billions = |n: u128| n as f64 / 1e9;
        let (t, a) = params("llama-2-7b");
        assert!((6.6..6.9).contains(&billions(t)) && t == a, "{t}");
        let (t, a) = params("mixtral-8x7b");
        assert!((46.0..47.0).contains(&billions(t)) && (12.5..13.0).contains(&billions(a)), "{t} {a}");
        let (t, _) = params("mamba-2.8b");
        assert!((2.7..2.9).contains(&billions(t)), "{t}");
    }
}

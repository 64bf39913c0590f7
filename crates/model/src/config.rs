//! A `ModelSpec` from a Hugging Face `config.json` (`model_type` llama, mistral, mixtral, mamba, jamba), so
//! the calculator can size models that are not at hand as GGUF files.

use crate::meta::{MAX_DIM, MAX_LAYERS, MAX_VOCAB};
use crate::spec::{Arch, AttnSpec, Ffn, LayerSpec, MambaSpec, Mixer, ModelSpec, Norm, RopeSpec};
use crate::ModelError;
use serde_json::Value;

fn bad(key: &str, reason: impl Into<String>) -> ModelError {
    ModelError::BadMetadata { key: format!("config.json {key}"), reason: reason.into() }
}

/// The first of `keys` present, as a bounded positive integer.
fn dim(c: &Value, keys: &[&str], max: u64) -> Result<usize, ModelError> {
    opt_dim(c, keys, max)?.ok_or_else(|| bad(keys[0], "missing"))
}

fn opt_dim(c: &Value, keys: &[&str], max: u64) -> Result<Option<usize>, ModelError> {
    for k in keys {
        match c.get(k) {
            None | Some(Value::Null) => continue,
            Some(v) => {
                let n = v.as_u64().ok_or_else(|| bad(k, format!("{v} is not a non-negative integer")))?;
                if n == 0 || n > max {
                    return Err(bad(k, format!("{n} is outside 1..={max}")));
                }
                return Ok(Some(n as usize));
            }
        }
    }
    Ok(None)
}

fn float(c: &Value, key: &str, default: f32) -> f32 {
    c.get(key).and_then(Value::as_f64).map_or(default, |v| v as f32)
}

impl ModelSpec {
    /// Builds a spec from the text of a `config.json`.
    pub fn from_hf_config(text: &str) -> Result<Self, ModelError> {
        let c: Value = serde_json::from_str(text).map_err(|e| bad("", format!("not valid JSON: {e}")))?;
        let model_type = c.get("model_type").and_then(Value::as_str).ok_or_else(|| bad("model_type", "missing"))?;
        let e = dim(&c, &["hidden_size", "d_model"], MAX_DIM)?;
        let n_layers = dim(&c, &["num_hidden_layers", "n_layer"], MAX_LAYERS)?;
        let n_vocab = dim(&c, &["vocab_size"], MAX_VOCAB)?;
        let tied_output = c.get("tie_word_embeddings").and_then(Value::as_bool).unwrap_or(false);
        let eps = float(&c, "rms_norm_eps", float(&c, "layer_norm_epsilon", 1e-5));
        let attention = |rope: bool| -> Result<AttnSpec, ModelError> {
            let n_head = dim(&c, &["num_attention_heads"], MAX_DIM)?;
            let n_head_kv = opt_dim(&c, &["num_key_value_heads"], MAX_DIM)?.unwrap_or(n_head);
            let head_dim = match opt_dim(&c, &["head_dim"], MAX_DIM)? {
                Some(d) => d,
                None if e % n_head == 0 => e / n_head,
                None => return Err(bad("num_attention_heads", format!("{n_head} does not divide {e}"))),
            };
            if n_head % n_head_kv != 0 {
                return Err(bad("num_key_value_heads", format!("{n_head_kv} does not divide {n_head}")));
            }
            let rope = rope.then(|| RopeSpec {
                n_rot: head_dim,
                freq_base: float(&c, "rope_theta", 10_000.0),
                freq_scale: 1.0,
            });
            Ok(AttnSpec { n_head, n_head_kv, head_dim, rope })
        };
        let mamba = |prefix: &str| -> Result<MambaSpec, ModelError> {
            let key = |k: &str| format!("{prefix}{k}");
            let expand = opt_dim(&c, &[&key("expand")], 64)?.unwrap_or(2);
            let dt_rank = match c.get(key("dt_rank")).or(c.get("time_step_rank")) {
                Some(Value::String(s)) if s == "auto" => e.div_ceil(16),
                Some(v) => {
                    v.as_u64().filter(|&r| r > 0 && r <= MAX_DIM).ok_or_else(|| bad(&key("dt_rank"), format!("{v}")))?
                        as usize
                }
                None => e.div_ceil(16),
            };
            Ok(MambaSpec {
                d_inner: opt_dim(&c, &["intermediate_size"], MAX_DIM)?
                    .filter(|_| prefix.is_empty())
                    .unwrap_or(expand * e),
                d_conv: opt_dim(&c, &[&key("d_conv"), "conv_kernel"], 64)?.unwrap_or(4),
                d_state: opt_dim(&c, &[&key("d_state"), "state_size"], 4096)?.unwrap_or(16),
                dt_rank,
                dt_b_c_rms: prefix == "mamba_",
            })
        };
        let (arch, layers) = match model_type {
            "llama" | "mistral" => {
                let layer = LayerSpec {
                    mixer: Mixer::Attention(attention(true)?),
                    ffn: Ffn::Dense { hidden: dim(&c, &["intermediate_size"], MAX_DIM)? },
                };
                (Arch::Llama, vec![layer; n_layers])
            }
            "mixtral" => {
                let experts = dim(&c, &["num_local_experts"], 4096)?;
                let top_k = dim(&c, &["num_experts_per_tok"], experts as u64)?;
                let hidden = dim(&c, &["intermediate_size"], MAX_DIM)?;
                let layer =
                    LayerSpec { mixer: Mixer::Attention(attention(true)?), ffn: Ffn::Moe { experts, top_k, hidden } };
                (Arch::Llama, vec![layer; n_layers])
            }
            "mamba" => (Arch::Mamba, vec![LayerSpec { mixer: Mixer::Mamba(mamba("")?), ffn: Ffn::None }; n_layers]),
            "jamba" => {
                let attn = attention(false)?;
                let m = mamba("mamba_")?;
                let hidden = dim(&c, &["intermediate_size"], MAX_DIM)?;
                let experts = opt_dim(&c, &["num_experts"], 4096)?.unwrap_or(1);
                let top_k = opt_dim(&c, &["num_experts_per_tok"], experts as u64)?.unwrap_or(1);
                let period = |k: &str, d| opt_dim(&c, &[k], MAX_LAYERS).map(|v| v.unwrap_or(d));
                let (ap, ao) = (
                    period("attn_layer_period", 8)?,
                    c.get("attn_layer_offset").and_then(Value::as_u64).unwrap_or(4) as usize,
                );
                let (ep, eo) = (
                    period("expert_layer_period", 2)?,
                    c.get("expert_layer_offset").and_then(Value::as_u64).unwrap_or(1) as usize,
                );
                let layers = (0..n_layers)
                    .map(|i| LayerSpec {
                        mixer: if i % ap == ao { Mixer::Attention(attn) } else { Mixer::Mamba(m) },
                        ffn: if experts > 1 && i % ep == eo {
                            Ffn::Moe { experts, top_k, hidden }
                        } else {
                            Ffn::Dense { hidden }
                        },
                    })
                    .collect();
                (Arch::Jamba, layers)
            }
            other => return Err(ModelError::UnknownArchitecture(format!("config.json model_type {other:?}"))),
        };
        Ok(ModelSpec {
            arch,
            name: c.get("_name_or_path").and_then(Value::as_str).unwrap_or(model_type).to_string(),
            n_embd: e,
            n_vocab,
            n_ctx_train: opt_dim(&c, &["max_position_embeddings"], u64::MAX)?,
            norm: Norm::Rms { eps },
            tied_output,
            sliding_window: opt_dim(&c, &["sliding_window"], u64::MAX)?,
            layers,
        })
    }
}

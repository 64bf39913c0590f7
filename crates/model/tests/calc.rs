//! The calculator: parameter formulas agree with the tensors of the fixtures, and with published figures for
//! real configs (Mistral 7B, Mixtral 8x7B, Mamba-130m, Jamba v0.1); KV and state figures by hand.

use archrace_gguf::Gguf;
use archrace_model::calc::{gguf_params, report, spec_params, KvType};
use archrace_model::ModelSpec;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn spec_formula_counts_the_same_parameters_as_the_tensors() {
    for file in ["llama-q8_0.gguf", "mamba-f32.gguf", "jamba-q4_1.gguf"] {
        let bytes = fixture(file);
        let g = Gguf::parse(&bytes).unwrap();
        let spec = ModelSpec::from_gguf(&g).unwrap();
        let (t, a) = gguf_params(&spec, &g);
        assert_eq!(spec_params(&spec), Some((t as u128, a as u128)), "{file}");
    }
}

#[test]
fn fixture_figures_by_hand() {
    let bytes = fixture("jamba-f32.gguf");
    let g = Gguf::parse(&bytes).unwrap();
    let spec = ModelSpec::from_gguf(&g).unwrap();
    let r = report(&spec, Some(&g), 1000, KvType::F16).unwrap();
    // Two MoE layers leave 2 of 4 experts (3 * 64 * 128 weights each) unused per token.
    assert_eq!(r.params_total - r.params_active, 2 * 2 * 3 * 64 * 128);
    // One attention layer with 2 KV heads of 16: K and V, f16.
    assert_eq!(r.kv_bytes_per_token, 2 * 2 * 16 * 2);
    assert_eq!(r.kv_cache_bytes, 128 * 1000);
    // Three Mamba layers: conv window (4 - 1) x 128 and SSM 128 x 16, f32.
    assert_eq!(r.state_bytes, 3 * 4 * (3 * 128 + 128 * 16));
    assert_eq!(r.weight_bytes, g.tensors.iter().map(|t| t.size).sum::<u64>());
    assert_eq!(r.weight_bytes_by_type.keys().collect::<Vec<_>>(), ["F32"]);

    let bytes = fixture("rwkv7-q8_0.gguf");
    let g = Gguf::parse(&bytes).unwrap();
    let spec = ModelSpec::from_gguf(&g).unwrap();
    let r = report(&spec, Some(&g), 4096, KvType::F32).unwrap();
    assert_eq!((r.kv_cache_bytes, r.state_bytes), (0, 2 * 4 * (2 * 128 + 2 * 64 * 64)));
    assert_eq!(r.params_total, r.params_active);
    assert_eq!(r.weight_bytes_by_type.keys().collect::<Vec<_>>(), ["F32", "Q8_0"]);
}

#[test]
fn mistral_7b_config() {
    let spec = ModelSpec::from_hf_config(
        r#"{"model_type": "mistral", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
            "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 32000, "sliding_window": 4096,
            "max_position_embeddings": 32768, "rope_theta": 10000.0, "tie_word_embeddings": false}"#,
    )
    .unwrap();
    let r = report(&spec, None, 32768, KvType::F16).unwrap();
    assert_eq!(r.params_total, 7_241_732_096);
    assert_eq!(r.params_active, r.params_total);
    assert_eq!(r.kv_bytes_per_token, 131_072, "128 KiB per token in f16");
    assert_eq!(r.kv_cache_bytes, 4 << 30, "4 GiB at 32K");
    assert_eq!(r.kv_cache_bytes_window, Some(512 << 20), "capped at the 4096-token window");
}

#[test]
fn mixtral_8x7b_config() {
    let spec = ModelSpec::from_hf_config(
        r#"{"model_type": "mixtral", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
            "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 32000, "num_local_experts": 8,
            "num_experts_per_tok": 2}"#,
    )
    .unwrap();
    let r = report(&spec, None, 1, KvType::F16).unwrap();
    assert_eq!((r.params_total, r.params_active), (46_702_792_704, 12_879_925_248));
}

#[test]
fn mamba_130m_config() {
    let spec = ModelSpec::from_hf_config(
        r#"{"model_type": "mamba", "hidden_size": 768, "num_hidden_layers": 24, "vocab_size": 50280,
            "state_size": 16, "conv_kernel": 4, "expand": 2, "time_step_rank": "auto", "intermediate_size": 1536,
            "tie_word_embeddings": true}"#,
    )
    .unwrap();
    let r = report(&spec, None, 1 << 20, KvType::F16).unwrap();
    assert_eq!(r.params_total, 129_135_360);
    assert_eq!(r.kv_cache_bytes, 0, "no KV cache, whatever the context");
    assert_eq!(r.state_bytes, 24 * 4 * (3 * 1536 + 1536 * 16));
}

#[test]
fn jamba_v0_1_config() {
    let spec = ModelSpec::from_hf_config(
        r#"{"model_type": "jamba", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
            "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 65536, "num_experts": 16,
            "num_experts_per_tok": 2, "attn_layer_period": 8, "attn_layer_offset": 4, "expert_layer_period": 2,
            "expert_layer_offset": 1, "mamba_d_state": 16, "mamba_d_conv": 4, "mamba_expand": 2,
            "mamba_dt_rank": 256, "tie_word_embeddings": false}"#,
    )
    .unwrap();
    let attn = spec.layers.iter().filter(|l| matches!(l.mixer, archrace_model::Mixer::Attention(_))).count();
    assert_eq!(attn, 4, "one attention layer in eight");
    let r = report(&spec, None, 1, KvType::F16).unwrap();
    // Published: 52B total, 12B active.
    assert!((51.0e9..52.5e9).contains(&(r.params_total as f64)), "{}", r.params_total);
    assert!((11.5e9..12.5e9).contains(&(r.params_active as f64)), "{}", r.params_active);
    // KV cache is 1/8 of a 32-layer Transformer's with the same heads.
    assert_eq!(r.kv_bytes_per_token, 131_072 / 8);
}

#[test]
fn bad_configs_are_named() {
    assert!(ModelSpec::from_hf_config("{").is_err());
    let e = ModelSpec::from_hf_config(
        r#"{"model_type": "gpt2", "hidden_size": 8, "num_hidden_layers": 1, "vocab_size": 9}"#,
    );
    assert!(e.unwrap_err().to_string().contains("gpt2"));
    let e = ModelSpec::from_hf_config(
        r#"{"model_type": "llama", "hidden_size": 1099511627776, "num_hidden_layers": 1, "vocab_size": 9}"#,
    );
    assert!(e.unwrap_err().to_string().contains("hidden_size"));
}

#[test]
fn figures_past_64_bits_are_named_not_wrapped() {
    // Every dimension at its limit: 4096 layers of 4096 experts of 2^20 x 2^20. Each value passes the
    // per-key checks; the parameter count (~2^66) does not fit in 64 bits.
    let spec = ModelSpec::from_hf_config(
        r#"{"model_type": "mixtral", "hidden_size": 1048576, "num_hidden_layers": 4096, "num_attention_heads": 1,
            "intermediate_size": 1048576, "vocab_size": 4, "num_local_experts": 4096, "num_experts_per_tok": 1}"#,
    )
    .unwrap();
    let (total, active) = spec_params(&spec).unwrap();
    assert!(total > u64::MAX as u128 && active <= total);
    let e = report(&spec, None, 1, KvType::F16).unwrap_err();
    assert_eq!(e.to_string(), "the parameter count does not fit in 64 bits");
    // A real model at an absurd context: the KV cache product overflows, the message names it.
    let llama = ModelSpec::from_hf_config(
        r#"{"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
            "intermediate_size": 11008, "vocab_size": 32000}"#,
    )
    .unwrap();
    let e = report(&llama, None, u64::MAX, KvType::F16).unwrap_err();
    assert!(e.to_string().starts_with("the KV cache at 18446744073709551615 tokens does not fit"), "{e}");
    let r = report(&llama, None, 1 << 40, KvType::F16).unwrap();
    assert_eq!(r.kv_cache_bytes, 524_288 << 40);
}

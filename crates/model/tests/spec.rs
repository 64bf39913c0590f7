//! ModelSpec and ModelWeights on the shared fixtures, and on rewritten copies of them that break one
//! thing each: every broken file is a typed error naming the problem.

use archrace_gguf::{Gguf, GgufError, GgufWriter, Value};
use archrace_model::{Arch, Ffn, Mixer, ModelError, ModelSpec, ModelWeights};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn load(bytes: &[u8]) -> Result<ModelSpec, ModelError> {
    let g = Gguf::parse(bytes)?;
    let spec = ModelSpec::from_gguf(&g)?;
    ModelWeights::from_gguf(&g, &spec)?;
    Ok(spec)
}

/// A copy of `file` with metadata values replaced (`Some`) or dropped (`None`), and tensors dropped.
fn rewrite(file: &str, edit: &[(&str, Option<Value>)], drop_tensor: Option<&str>) -> Vec<u8> {
    let bytes = fixture(file);
    let g = Gguf::parse(&bytes).unwrap();
    let mut w = GgufWriter::new();
    for (k, v) in &g.metadata {
        match edit.iter().find(|(key, _)| key == k) {
            Some((_, Some(new))) => w.metadata(k, new.clone()),
            Some((_, None)) => &mut w,
            None => w.metadata(k, v.clone()),
        };
    }
    for t in g.tensors.iter().filter(|t| Some(t.name.as_str()) != drop_tensor) {
        w.tensor(&t.name, &t.dims, t.ty, g.tensor_data(t).to_vec());
    }
    w.to_bytes()
}

#[test]
fn fixtures_give_the_documented_layer_layouts() {
    let llama = load(&fixture("llama-q8_0.gguf")).unwrap();
    assert_eq!(
        (llama.arch, llama.n_embd, llama.n_vocab, llama.n_layers(), llama.tied_output),
        (Arch::Llama, 64, 262, 3, false)
    );
    match llama.layers[0].mixer {
        Mixer::Attention(a) => {
            assert_eq!((a.n_head, a.n_head_kv, a.head_dim), (4, 2, 16));
            assert_eq!(a.rope.unwrap().n_rot, 16);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(llama.layers[0].ffn, Ffn::Dense { hidden: 128 });

    let jamba = load(&fixture("jamba-q4_0.gguf")).unwrap();
    let kinds: Vec<(&str, &str)> = jamba
        .layers
        .iter()
        .map(|l| {
            let m = match l.mixer {
                Mixer::Attention(a) => {
                    assert!(a.rope.is_none(), "Jamba attention has no RoPE");
                    "attention"
                }
                Mixer::Mamba(m) => {
                    assert!(m.dt_b_c_rms);
                    "mamba"
                }
                Mixer::Rwkv(_) => "rwkv",
            };
            let f = match l.ffn {
                Ffn::Moe { experts: 4, top_k: 2, hidden: 128 } => "moe",
                Ffn::Dense { hidden: 128 } => "dense",
                other => panic!("{other:?}"),
            };
            (m, f)
        })
        .collect();
    assert_eq!(kinds, [("mamba", "dense"), ("mamba", "moe"), ("attention", "dense"), ("mamba", "moe")]);

    let mamba = load(&fixture("mamba-f32.gguf")).unwrap();
    assert!(mamba.layers.iter().all(|l| l.ffn == Ffn::None && matches!(l.mixer, Mixer::Mamba(m) if m.d_inner == 128 && m.d_state == 16 && m.d_conv == 4 && m.dt_rank == 4 && !m.dt_b_c_rms)));
    for (file, version) in [("rwkv6-q4_1.gguf", 6), ("rwkv7-q4_1.gguf", 7)] {
        let rwkv = load(&fixture(file)).unwrap();
        assert!(rwkv
            .layers
            .iter()
            .all(|l| matches!(l.mixer, Mixer::Rwkv(r) if r.version == version && r.head_size == 64 && r.n_head == 2)));
        assert!(rwkv.layers.iter().all(|l| l.ffn == Ffn::ChannelMix { hidden: 256 }));
    }
}

#[test]
fn unknown_architecture_is_named() {
    let b = rewrite("llama-f32.gguf", &[("general.architecture", Some(Value::String("gpt2".into())))], None);
    assert_eq!(load(&b).unwrap_err(), ModelError::UnknownArchitecture("gpt2".into()));
}

#[test]
fn missing_and_absurd_metadata_is_named() {
    let b = rewrite("llama-f32.gguf", &[("llama.block_count", None)], None);
    assert_eq!(load(&b).unwrap_err(), ModelError::Gguf(GgufError::MissingKey("llama.block_count".into())));
    let b = rewrite("llama-f32.gguf", &[("llama.embedding_length", Some(Value::U64(1 << 40)))], None);
    match load(&b).unwrap_err() {
        ModelError::BadMetadata { key, reason } => {
            assert!(key == "llama.embedding_length" && reason.contains("limit"), "{reason}")
        }
        e => panic!("{e}"),
    }
    let b = rewrite("llama-f32.gguf", &[("llama.attention.head_count_kv", Some(Value::U32(3)))], None);
    assert!(
        matches!(load(&b).unwrap_err(), ModelError::BadMetadata { key, .. } if key == "llama.attention.head_count_kv")
    );
    let b =
        rewrite("llama-f32.gguf", &[("llama.attention.layer_norm_rms_epsilon", Some(Value::String("x".into())))], None);
    assert!(matches!(load(&b).unwrap_err(), ModelError::Gguf(GgufError::WrongType { .. })));
    let b =
        rewrite("jamba-f32.gguf", &[("jamba.attention.head_count_kv", Some(Value::Array(vec![0u32; 3].into())))], None);
    assert!(
        matches!(load(&b).unwrap_err(), ModelError::BadMetadata { reason, .. } if reason.contains("3 values for 4 layers"))
    );
}

#[test]
fn shapes_that_disagree_with_metadata_and_missing_tensors_are_named() {
    let b = rewrite("llama-f32.gguf", &[("llama.embedding_length", Some(Value::U32(32)))], None);
    assert!(matches!(load(&b).unwrap_err(), ModelError::ShapeMismatch { tensor, .. } if tensor == "token_embd.weight"));
    let b = rewrite("llama-f32.gguf", &[("llama.feed_forward_length", Some(Value::U32(256)))], None);
    assert!(
        matches!(load(&b).unwrap_err(), ModelError::ShapeMismatch { tensor, .. } if tensor == "blk.0.ffn_gate.weight")
    );
    let b = rewrite("mamba-f32.gguf", &[], Some("blk.1.ssm_a"));
    assert_eq!(load(&b).unwrap_err(), ModelError::Gguf(GgufError::MissingTensor("blk.1.ssm_a".into())));
    // Without its output tensor, a llama model ties the output to the embedding.
    let b = rewrite("llama-f32.gguf", &[], Some("output.weight"));
    assert!(load(&b).unwrap().tied_output);
}

#[test]
fn values_that_would_give_nan_activations_are_refused() {
    for (file, key, value) in [
        ("llama-f32.gguf", "llama.attention.layer_norm_rms_epsilon", Value::F32(0.0)),
        ("llama-f32.gguf", "llama.attention.layer_norm_rms_epsilon", Value::F32(-1e-5)),
        ("mamba-f32.gguf", "mamba.attention.layer_norm_rms_epsilon", Value::F64(f64::NAN)),
        ("rwkv7-f32.gguf", "rwkv7.attention.layer_norm_epsilon", Value::F32(0.0)),
        ("llama-f32.gguf", "llama.rope.freq_base", Value::F32(0.0)),
        ("llama-f32.gguf", "llama.rope.freq_base", Value::F32(-10_000.0)),
    ] {
        let b = rewrite(file, &[(key, Some(value.clone()))], None);
        match load(&b).unwrap_err() {
            ModelError::BadMetadata { key: k, reason } => {
                assert_eq!(k, key);
                assert!(reason.contains("outside (0,") || reason.contains("not finite"), "{key} = {value:?}: {reason}");
            }
            e => panic!("{key} = {value:?}: {e}"),
        }
    }
}

#[test]
fn a_required_key_set_to_zero_is_named_as_zero_not_as_missing() {
    let b = rewrite("llama-f32.gguf", &[("llama.attention.head_count", Some(Value::U32(0)))], None);
    let e = load(&b).unwrap_err();
    assert_eq!(
        e,
        ModelError::BadMetadata {
            key: "llama.attention.head_count".into(),
            reason: "is 0; it must be at least 1".into()
        }
    );
    assert!(!e.to_string().contains("missing"), "{e}");
}

#[test]
fn block_count_must_match_the_blocks_in_the_file() {
    let b = rewrite("llama-f32.gguf", &[("llama.block_count", Some(Value::U32(2)))], None);
    match load(&b).unwrap_err() {
        ModelError::BadMetadata { key, reason } => {
            assert_eq!(key, "llama.block_count");
            assert!(reason.contains("2 blocks, but the file has tensor \"blk.2."), "{reason}");
        }
        e => panic!("{e}"),
    }
    let b = rewrite("mamba-f32.gguf", &[("mamba.block_count", Some(Value::U32(4096)))], None);
    match ModelSpec::from_gguf(&Gguf::parse(&b).unwrap()).unwrap_err() {
        ModelError::BadMetadata { reason, .. } => assert!(reason.contains("block 2 has no tensors"), "{reason}"),
        e => panic!("{e}"),
    }
}

#[test]
fn nan_or_infinite_weights_and_scales_are_refused_at_load() {
    for (file, tensor, element_bytes, poison) in [
        ("llama-f32.gguf", "blk.1.attn_q.weight", 4 * 5, f32::NAN.to_le_bytes().to_vec()),
        ("mamba-q8_0.gguf", "blk.0.ssm_in.weight", 34, 0x7c00u16.to_le_bytes().to_vec()),
    ] {
        let mut b = fixture(file);
        let g = Gguf::parse(&b).unwrap();
        let t = g.tensor(tensor).unwrap();
        let at = (g.data_offset + t.offset) as usize + element_bytes;
        drop(g);
        b[at..at + poison.len()].copy_from_slice(&poison);
        let e = load(&b).unwrap_err();
        let index = if file.contains("q8_0") { 32 } else { 5 };
        assert_eq!(e, ModelError::NonFinite { tensor: tensor.into(), index }, "{file}");
        assert!(e.to_string().contains("NaN or an infinity"), "{e}");
    }
}

//! `inspect` and `memory`.

use super::{outln, print_json, read, CmdResult};
use crate::KvTypeArg;
use archrace_gguf::Gguf;
use archrace_model::calc::{report, KvType, MemoryReport};
use archrace_model::{Ffn, Mixer, ModelSpec};
use std::path::Path;

fn kv_type(k: KvTypeArg) -> KvType {
    match k {
        KvTypeArg::F16 => KvType::F16,
        KvTypeArg::F32 => KvType::F32,
    }
}

/// A one-word description of a layer: `attention`, `mamba`, `rwkv6`... plus `+moe`.
fn layer_kind(l: &archrace_model::LayerSpec) -> String {
    let mixer = match l.mixer {
        Mixer::Attention(_) => "attention".to_string(),
        Mixer::Mamba(_) => "mamba".to_string(),
        Mixer::Rwkv(r) => format!("rwkv{}", r.version),
    };
    match l.ffn {
        Ffn::Moe { experts, top_k, .. } => format!("{mixer}+moe{top_k}/{experts}"),
        _ => mixer,
    }
}

/// `archrace inspect`.
pub fn inspect(path: &Path, context: Option<u64>, json: bool) -> CmdResult {
    let bytes = read(path)?;
    let g = Gguf::parse(&bytes)?;
    let spec = ModelSpec::from_gguf(&g)?;
    let context = context.unwrap_or_else(|| spec.n_ctx_train.map_or(4096, |c| (c as u64).min(4096)));
    let mem = report(&spec, Some(&g), context, KvType::F16)?;
    let kinds: Vec<String> = spec.layers.iter().map(layer_kind).collect();
    if json {
        print_json(&serde_json::json!({
            "file": path.display().to_string(),
            "gguf_version": g.version,
            "arch": spec.arch,
            "name": spec.name,
            "n_embd": spec.n_embd,
            "n_vocab": spec.n_vocab,
            "n_layers": spec.n_layers(),
            "n_ctx_train": spec.n_ctx_train,
            "layer_kinds": kinds,
            "spec": spec,
            "tensors": g.tensors.iter().map(|t| serde_json::json!({
                "name": t.name, "type": t.ty.name(), "dims": t.dims, "bytes": t.size
            })).collect::<Vec<_>>(),
            "memory": mem,
        }))?;
        return Ok(true);
    }
    outln!(
        "{}  ({}, GGUF v{})",
        if spec.name.is_empty() { "(unnamed)".to_string() } else { printable(&spec.name) },
        spec.arch.name(),
        g.version
    )?;
    outln!(
        "embedding {}  vocabulary {}  layers {}  training context {:?}",
        spec.n_embd,
        spec.n_vocab,
        spec.n_layers(),
        spec.n_ctx_train
    )?;
    for (i, (l, k)) in spec.layers.iter().zip(&kinds).enumerate() {
        let dims = match l.mixer {
            Mixer::Attention(a) => format!("{} heads / {} KV heads x {}", a.n_head, a.n_head_kv, a.head_dim),
            Mixer::Mamba(m) => {
                format!("d_inner {} d_state {} d_conv {} dt_rank {}", m.d_inner, m.d_state, m.d_conv, m.dt_rank)
            }
            Mixer::Rwkv(r) => format!("{} heads x {}", r.n_head, r.head_size),
        };
        outln!("  layer {i:>3}  {k:<16} {dims}")?;
    }
    print_memory(&mem)?;
    Ok(true)
}

/// Text from a file, safe for a terminal: control characters (escape sequences among them) are shown
/// escaped (`\u{1b}`), never sent raw.
fn printable(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

fn mib(b: u64) -> String {
    format!("{:.2} MiB", b as f64 / (1 << 20) as f64)
}

fn print_memory(m: &MemoryReport) -> Result<(), super::OutputError> {
    outln!("parameters {} total, {} active per token", m.params_total, m.params_active)?;
    if m.weight_bytes > 0 {
        let by_type: Vec<String> = m.weight_bytes_by_type.iter().map(|(t, b)| format!("{t} {}", mib(*b))).collect();
        outln!("weights    {} ({})", mib(m.weight_bytes), by_type.join(", "))?;
    }
    outln!(
        "KV cache   {} bytes/token, {} at context {} ({:?})",
        m.kv_bytes_per_token,
        mib(m.kv_cache_bytes),
        m.context,
        m.kv_type
    )?;
    if let Some(w) = m.kv_cache_bytes_window {
        outln!("           {} with the sliding window", mib(w))?;
    }
    outln!("state      {}", mib(m.state_bytes))?;
    outln!("scratch    {}", mib(m.scratch_bytes))
}

/// `archrace memory`: a GGUF (by its magic) or a config.json.
pub fn memory(path: &Path, context: u64, kv: KvTypeArg, json: bool) -> CmdResult {
    let bytes = read(path)?;
    let mem = if bytes.starts_with(b"GGUF") {
        let g = Gguf::parse(&bytes)?;
        report(&ModelSpec::from_gguf(&g)?, Some(&g), context, kv_type(kv))?
    } else {
        let neither = || {
            format!(
                "{} is neither a GGUF file (it does not start with \"GGUF\") nor a Hugging Face config.json (a \
                 JSON object)",
                path.display()
            )
        };
        let text = String::from_utf8(bytes).map_err(|_| neither())?;
        if !text.trim_start().starts_with('{') {
            return Err(neither().into());
        }
        let spec = ModelSpec::from_hf_config(&text)?;
        if archrace_model::calc::spec_params(&spec).is_none() {
            return Err("parameter formulas cover llama, mistral, mixtral, mamba and jamba configs".into());
        }
        report(&spec, None, context, kv_type(kv))?
    };
    if json {
        print_json(&mem)?;
    } else {
        print_memory(&mem)?;
    }
    Ok(true)
}

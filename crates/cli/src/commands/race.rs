//! `archrace race`: each model at each context length: fill the context from the race's filler text with
//! a prefill (timed: prefill tokens/s), then time `new_tokens` greedy decode steps; median ms/token,
//! tokens/s, and memory by category, measured and as the calculator predicts. The rules (filler text,
//! chunk, steps, statistic) are `archrace_model::race`'s, the page's too.

use super::engine::{Backend, Engine};
use super::{outln, print_json, read, CmdResult};
use archrace_gguf::Gguf;
use archrace_model::calc::{self, KvType};
use archrace_model::race::{median, tokens_per_s, Filler};
use archrace_model::Tokenizer;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// Tokens per forward call while the CPU fills a context (bounds its activations); the GPU prefills in
/// chunks of `race::PREFILL_CHUNK` whatever it is given (fewer where the device binds less or caps its
/// loops: `archrace_gpu::runtime::loop_budget`).
const CPU_FILL_BATCH: usize = 256;

/// Memory figures of one row.
#[derive(Serialize)]
struct Memory {
    weights: u64,
    /// Allocated (the cache's capacity; the calculator's row: what the context needs).
    kv_cache: u64,
    state: u64,
    scratch: u64,
}

/// One buffer of the GPU scratch.
#[derive(Serialize)]
struct ScratchBuffer {
    label: String,
    bytes: u64,
}

/// One (model, context) measurement.
#[derive(Serialize)]
struct Row {
    model: String,
    arch: String,
    backend: Backend,
    context: usize,
    /// Tokens filled on the way to this context, and how fast the prefill took them.
    prefill_tokens: usize,
    prefill_tokens_per_s: f64,
    /// With `--compare-fill`, on the first row: the same fill one decode step per token (GPU only).
    #[serde(skip_serializing_if = "Option::is_none")]
    step_fill_tokens_per_s: Option<f64>,
    ms_per_token: f64,
    tokens_per_s: f64,
    /// Bytes allocated, by category.
    memory: Memory,
    /// KV-cache bytes the context needs (what `memory.kv_cache` allocates room for).
    kv_cache_used: u64,
    /// The most bytes held at once so far (GPU: transients included, such as a KV cache while it moves to
    /// a larger buffer; CPU: the total now).
    memory_peak: u64,
    /// The calculator's figures at the same context (KV in the engine's type).
    analytic: Memory,
    /// GPU scratch by buffer, named by the part of the architecture that uses it (`attention:`, `mamba:`,
    /// `rwkv:`, `ffn:`, `moe:`, `step:`, `prefill:`), largest first; parts the model lacks keep 16 bytes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    scratch_buffers: Vec<ScratchBuffer>,
    /// Where a lane stopped: the typed error's message.
    #[serde(skip_serializing_if = "Option::is_none")]
    stopped: Option<String>,
}

/// `archrace race`.
pub fn race(
    models: &[impl AsRef<Path>],
    contexts: &[usize],
    new_tokens: usize,
    backend: Backend,
    kv: KvType,
    compare_fill: bool,
    json: bool,
) -> CmdResult {
    use archrace_model::race::{MAX_CONTEXT, MAX_DECODE_STEPS};
    if contexts.is_empty() || contexts[0] == 0 || contexts.windows(2).any(|w| w[0] >= w[1]) {
        return Err("--context needs ascending lengths of at least 1 token".into());
    }
    if contexts[contexts.len() - 1] > MAX_CONTEXT {
        return Err(format!(
            "--context {} is past the longest race context, {MAX_CONTEXT} tokens",
            contexts[contexts.len() - 1]
        )
        .into());
    }
    if !(1..=MAX_DECODE_STEPS).contains(&new_tokens) {
        return Err(format!("--new-tokens {new_tokens} is outside 1..={MAX_DECODE_STEPS}").into());
    }
    let mut rows = Vec::new();
    for path in models {
        let path = path.as_ref();
        let bytes = read(path)?;
        let g = Gguf::parse(&bytes)?;
        let mut engine = Engine::load(&g, backend, kv)?;
        let spec = engine.spec().clone();
        let weight_bytes: u64 = g.tensors.iter().map(|t| t.size).sum();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tokenizer = Tokenizer::from_gguf(&g)?;
        tokenizer.check_model(spec.n_vocab)?;
        if let Some(train) = spec.n_ctx_train.filter(|&t| t < contexts[contexts.len() - 1]) {
            super::warn(&format!(
                "{name}: contexts past its training context ({train} tokens) measure speed and memory; its text \
                 there means nothing"
            ));
        }
        let mut filler = Filler::default();
        let mut token = 0u32;
        let mut first = true;
        for &context in contexts {
            let mut stopped = None;
            let mut times = Vec::with_capacity(new_tokens);
            let (mut filled, mut fill_ms, mut step_fill) = (0usize, 0f64, None);
            let run = (|| -> Result<(), Box<dyn std::error::Error>> {
                if engine.pos() < context {
                    let fill = filler.take(&tokenizer, engine.pos(), context - engine.pos());
                    if fill.is_empty() {
                        return Err("the tokenizer makes no tokens of the filler text".into());
                    }
                    if compare_fill && first {
                        step_fill = engine.time_fill_by_step(&fill)?.map(|ms| tokens_per_s(fill.len(), ms));
                    }
                    // Timed to the last token's logits on the host, as the step-by-step fill is.
                    let before = engine.pos();
                    let start = Instant::now();
                    let done = match backend {
                        Backend::Gpu => engine.prefill(&fill).map(|_| ()),
                        Backend::Cpu => fill.chunks(CPU_FILL_BATCH).try_for_each(|batch| engine.feed(batch)),
                    };
                    filled = engine.pos() - before;
                    done?;
                    fill_ms = start.elapsed().as_secs_f64() * 1e3;
                    token = fill[fill.len() - 1];
                }
                for _ in 0..new_tokens {
                    let start = Instant::now();
                    token = engine.greedy(Some(token), token)?;
                    times.push(start.elapsed().as_secs_f64() * 1e3);
                }
                Ok(())
            })();
            first = false;
            if let Err(e) = run {
                stopped = Some(e.to_string());
            }
            let ms = median(times);
            let m = engine.memory(weight_bytes);
            let report = calc::report(&spec, Some(&g), engine.pos() as u64, engine.kv_type())?;
            let row = Row {
                model: name.clone(),
                arch: format!("{:?}", spec.arch).to_lowercase(),
                backend,
                context: engine.pos(),
                prefill_tokens: filled,
                prefill_tokens_per_s: tokens_per_s(filled, fill_ms),
                step_fill_tokens_per_s: step_fill,
                ms_per_token: ms,
                tokens_per_s: if ms > 0.0 { 1e3 / ms } else { 0.0 },
                memory: Memory {
                    weights: m.weights,
                    kv_cache: m.kv_cache,
                    state: m.state,
                    scratch: m.scratch + m.staging,
                },
                kv_cache_used: engine.kv_used(),
                memory_peak: engine.memory_peak(weight_bytes),
                analytic: Memory {
                    weights: report.weight_bytes,
                    kv_cache: report.kv_cache_bytes,
                    state: report.state_bytes,
                    scratch: report.scratch_bytes,
                },
                scratch_buffers: engine
                    .scratch_buffers()
                    .into_iter()
                    .map(|(label, bytes)| ScratchBuffer { label, bytes })
                    .collect(),
                stopped,
            };
            if !json {
                let step_fill = row.step_fill_tokens_per_s.map_or(String::new(), |r| {
                    format!(" (token by token {r:.1} tok/s: prefill {:.1}x)", row.prefill_tokens_per_s / r)
                });
                outln!(
                    "{:<24} {:>7} ctx {:>7}  prefill {:>6} tok at {:>9.1} tok/s{step_fill}  decode {:>9.3} ms/token {:>9.1} tok/s  weights {:>10} kv used {:>10} (calc {:>10}) allocated {:>10} state {:>8} scratch {:>8}{}",
                    row.model,
                    row.arch,
                    row.context,
                    row.prefill_tokens,
                    row.prefill_tokens_per_s,
                    row.ms_per_token,
                    row.tokens_per_s,
                    row.memory.weights,
                    row.kv_cache_used,
                    row.analytic.kv_cache,
                    row.memory.kv_cache,
                    row.memory.state,
                    row.memory.scratch,
                    row.stopped.as_deref().map(|s| format!("  STOPPED: {s}")).unwrap_or_default()
                )?;
            }
            let full = row.stopped.is_some();
            rows.push(row);
            if full {
                break;
            }
        }
        // What the scratch of the last row holds, by part of the architecture.
        if let Some(row) = rows.last().filter(|r| !json && !r.scratch_buffers.is_empty()) {
            let (used, placeholders): (Vec<&ScratchBuffer>, Vec<&ScratchBuffer>) =
                row.scratch_buffers.iter().partition(|b| b.bytes > 16);
            let list: Vec<String> = used.iter().map(|b| format!("{} {}", b.label, b.bytes)).collect();
            outln!(
                "{:<24} scratch by buffer (bytes): {}; {} placeholders of 16 for parts it lacks",
                row.model,
                list.join(", "),
                placeholders.len()
            )?;
        }
    }
    if json {
        print_json(&rows)?;
    }
    Ok(true)
}

//! `archrace race`: each model at each context length: fill the context (decode steps for now), then
//! time `new_tokens` greedy decode steps; median ms/token, tokens/s, and memory by category, measured
//! and as the calculator predicts.

use super::engine::{Backend, Engine};
use super::{median, print_json, read, CmdResult};
use archrace_cpu::SplitMix64;
use archrace_gguf::Gguf;
use archrace_model::calc::{self, KvType};
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// Tokens fed per call while filling a context (bounds the CPU's prefill activations).
const FILL_BATCH: usize = 256;

/// Memory figures of one row.
#[derive(Serialize)]
struct Memory {
    weights: u64,
    kv_cache: u64,
    state: u64,
    scratch: u64,
}

/// One (model, context) measurement.
#[derive(Serialize)]
struct Row {
    model: String,
    arch: String,
    backend: Backend,
    context: usize,
    ms_per_token: f64,
    tokens_per_s: f64,
    memory: Memory,
    /// The calculator's figures at the same context (f32 KV, as the runtime stores it).
    analytic: Memory,
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
    json: bool,
) -> CmdResult {
    if new_tokens == 0 || contexts.is_empty() || contexts.windows(2).any(|w| w[0] >= w[1]) {
        return Err("--context needs ascending lengths and --new-tokens at least 1".into());
    }
    let mut rows = Vec::new();
    for path in models {
        let path = path.as_ref();
        let bytes = read(path)?;
        let g = Gguf::parse(&bytes)?;
        let mut engine = Engine::load(&g, backend)?;
        let spec = engine.spec().clone();
        let weight_bytes: u64 = g.tensors.iter().map(|t| t.size).sum();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut rng = SplitMix64::new(1);
        let mut token = 0u32;
        for &context in contexts {
            let mut stopped = None;
            let mut times = Vec::with_capacity(new_tokens);
            let run = (|| -> Result<(), Box<dyn std::error::Error>> {
                while engine.pos() < context {
                    let n = (context - engine.pos()).min(FILL_BATCH);
                    let fill: Vec<u32> = (0..n).map(|_| (rng.next_u64() % spec.n_vocab as u64) as u32).collect();
                    engine.feed(&fill)?;
                    token = fill[n - 1];
                }
                for _ in 0..new_tokens {
                    let start = Instant::now();
                    token = engine.greedy(Some(token), token)?;
                    times.push(start.elapsed().as_secs_f64() * 1e3);
                }
                Ok(())
            })();
            if let Err(e) = run {
                stopped = Some(e.to_string());
            }
            let ms = median(times);
            let m = engine.memory(weight_bytes);
            let report = calc::report(&spec, Some(&g), engine.pos() as u64, KvType::F32);
            let row = Row {
                model: name.clone(),
                arch: format!("{:?}", spec.arch).to_lowercase(),
                backend,
                context: engine.pos(),
                ms_per_token: ms,
                tokens_per_s: if ms > 0.0 { 1e3 / ms } else { 0.0 },
                memory: Memory {
                    weights: m.weights,
                    kv_cache: m.kv_cache,
                    state: m.state,
                    scratch: m.scratch + m.staging,
                },
                analytic: Memory {
                    weights: report.weight_bytes,
                    kv_cache: report.kv_cache_bytes,
                    state: report.state_bytes,
                    scratch: report.scratch_bytes,
                },
                stopped,
            };
            if !json {
                println!(
                    "{:<24} {:>7} ctx {:>7}  {:>9.3} ms/token {:>9.1} tok/s  weights {:>10} kv {:>10} (calc {:>10}) state {:>8} scratch {:>8}{}",
                    row.model,
                    row.arch,
                    row.context,
                    row.ms_per_token,
                    row.tokens_per_s,
                    row.memory.weights,
                    row.memory.kv_cache,
                    row.analytic.kv_cache,
                    row.memory.state,
                    row.memory.scratch,
                    row.stopped.as_deref().map(|s| format!("  STOPPED: {s}")).unwrap_or_default()
                );
            }
            let full = row.stopped.is_some();
            rows.push(row);
            if full {
                break;
            }
        }
    }
    if json {
        print_json(&rows);
    }
    Ok(true)
}

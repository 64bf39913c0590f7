//! `logits` and `generate`, on the CPU reference or the GPU runtime.

use super::engine::{Backend, Engine};
use super::{out, outln, print_json, read, CmdResult};
use archrace_gguf::Gguf;
use archrace_model::{KvType, Sampler, SamplerConfig, StreamDecoder, Tokenizer};
use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

/// `archrace logits`.
pub fn logits(path: &Path, tokens: &[u32], backend: Backend, kv: KvType, json: bool) -> CmdResult {
    if tokens.is_empty() {
        return Err("--tokens needs at least one id".into());
    }
    let bytes = read(path)?;
    let g = Gguf::parse(&bytes)?;
    let mut engine = Engine::load(&g, backend, kv)?;
    let limit = archrace_model::race::context_limit(engine.spec());
    if tokens.len() > limit {
        return Err(format!("{} tokens are more than the model's context length, {limit}", tokens.len()).into());
    }
    let logits = engine.logits_all(tokens)?;
    let rows: Vec<&[f32]> = logits.chunks(engine.spec().n_vocab).collect();
    if json {
        print_json(&serde_json::json!({ "logits": rows }))?;
    } else {
        for (pos, row) in rows.iter().enumerate() {
            let best = archrace_model::sample::argmax(row);
            outln!("position {pos}: argmax {best} ({:.4})", row[best as usize])?;
        }
    }
    Ok(true)
}

/// `archrace generate`: prompt (BOS as the metadata says), prefill, then decode `n` tokens. On the GPU,
/// tokens are chosen on the device (greedy, or with temperature and top-k up to 64 using the CPU sampler's
/// seeded draws) and only each token id is read back; other settings read the logits back and sample on
/// the CPU with the same stream.
#[allow(clippy::too_many_arguments)]
pub fn generate(
    path: &Path,
    prompt: &str,
    n: usize,
    config: SamplerConfig,
    stop_at_eos: bool,
    backend: Backend,
    kv: KvType,
    json: bool,
) -> CmdResult {
    config.validate()?;
    let bytes = read(path)?;
    let g = Gguf::parse(&bytes)?;
    let mut engine = Engine::load(&g, backend, kv)?;
    let tok = Tokenizer::from_gguf(&g)?;
    tok.check_model(engine.spec().n_vocab)?;
    let greedy_on_device = backend == Backend::Gpu && config.temperature <= 0.0 && config.repeat_penalty == 1.0;
    let prompt_ids = tok.encode(prompt, tok.add_bos, false);
    if prompt_ids.is_empty() {
        return Err("the prompt is empty and the model adds no BOS: nothing to start from".into());
    }
    let limit = archrace_model::race::context_limit(engine.spec());
    if prompt_ids.len().saturating_add(n) > limit {
        return Err(format!(
            "the prompt's {} tokens and -n {n} pass the model's context length, {limit} tokens",
            prompt_ids.len()
        )
        .into());
    }
    let mut sampler = Sampler::new(config);
    let start = Instant::now();
    let mut last = engine.prefill(&prompt_ids)?;
    let prefill_s = start.elapsed().as_secs_f64();
    let mut device_next = None;
    let mut history = prompt_ids.clone();
    let mut ids = Vec::new();
    let mut stream = StreamDecoder::default();
    let decode_start = Instant::now();
    if !json {
        out!("{prompt}")?;
    }
    for _ in 0..n {
        let next = device_next.take().unwrap_or_else(|| sampler.sample(&last, &history));
        if stop_at_eos && Some(next) == tok.eos {
            break;
        }
        ids.push(next);
        history.push(next);
        if !json {
            out!("{}", stream.push(&tok, next))?;
        }
        if greedy_on_device {
            device_next = Some(engine.greedy(Some(next), next)?);
        } else if let Some(t) = engine.sample_on_device(next, &mut sampler, &history)? {
            device_next = Some(t);
        } else {
            last = engine.prefill(&[next])?;
        }
    }
    let decode_s = decode_start.elapsed().as_secs_f64();
    let tokens_per_s = if decode_s > 0.0 { ids.len() as f64 / decode_s } else { 0.0 };
    if json {
        print_json(&serde_json::json!({
            "prompt_ids": prompt_ids,
            "ids": ids,
            "text": tok.decode(&ids, false),
            "prefill_ms": prefill_s * 1e3,
            "decode_tokens_per_s": tokens_per_s,
            "backend": backend,
        }))?;
    } else {
        outln!()?;
        let _ = writeln!(
            std::io::stderr().lock(),
            "[{} prompt tokens in {:.1} ms, {} generated at {:.2} tokens/s, {backend:?}]",
            prompt_ids.len(),
            prefill_s * 1e3,
            ids.len(),
            tokens_per_s
        );
    }
    Ok(true)
}

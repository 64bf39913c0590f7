//! The bundled demo models (`public/models/`, made by `tools/train/run.sh`): each file loads and matches its
//! card (`public/models/cards.json`, from which the README's cards are written); archrace's CPU logits
//! match the training framework's (PyTorch's forward pass with the file's own weights, recorded in
//! `tests/fixtures/demo/`) within 1e-3; the GPU agrees with the CPU; a seeded generation of 32 tokens
//! reproduces the one `archrace generate` recorded when the models were made.
//!
//! That last golden was recorded by archrace itself, so it only proves nothing changed. Beside it, each
//! sampled token is checked independently: a sampler written plainly here in f64 from llama.cpp's rules
//! (top-k, top-p, min-p, temperature), given the same uniform draw, must pick the same token.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{ids, rel_err};

use archrace_cpu::CpuModel;
use archrace_gguf::Gguf;
use archrace_gpu::GpuModel;
use archrace_model::{calc, Ffn, Mixer, ModelSpec, Sampler, SamplerConfig, SplitMix64, Tokenizer};
use archrace_tests::gpu::context_or_skip;
use serde_json::Value as Json;
use std::path::PathBuf;

const ARCHS: [&str; 4] = ["llama", "mamba", "rwkv7", "jamba"];
const KINDS: [&str; 2] = ["q8_0", "q4_0"];
/// The cap on the whole folder.
const FOLDER_CAP: u64 = 40 * 1000 * 1000;

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../public/models")
}

fn model_bytes(file: &str) -> Vec<u8> {
    let path = models_dir().join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn demo_json(file: &str) -> Json {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo").join(file);
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn cards() -> Json {
    serde_json::from_slice(&model_bytes("cards.json")).unwrap()
}

/// `[mixer, feed-forward]` per layer, in the card's words.
fn layout(spec: &ModelSpec) -> Vec<[&'static str; 2]> {
    spec.layers
        .iter()
        .map(|l| {
            let mixer = match l.mixer {
                Mixer::Attention(_) => "attention",
                Mixer::Mamba(_) => "mamba",
                Mixer::Rwkv(_) => "rwkv",
            };
            let ffn = match l.ffn {
                Ffn::None => "none",
                Ffn::Dense { .. } => "dense",
                Ffn::Moe { .. } => "moe",
                Ffn::ChannelMix { .. } => "channel_mix",
            };
            [mixer, ffn]
        })
        .collect()
}

#[test]
fn bundled_models_match_their_cards() {
    let cards = cards();
    let readme = String::from_utf8(model_bytes("README.md")).unwrap();
    let mut folder = 0;
    for entry in std::fs::read_dir(models_dir()).unwrap() {
        folder += entry.unwrap().metadata().unwrap().len();
    }
    assert!(folder < FOLDER_CAP, "public/models holds {folder} bytes, over the {FOLDER_CAP}-byte cap");
    let mut active = Vec::new();
    for arch in ARCHS {
        let card = &cards[arch];
        assert_eq!(card["arch"], arch, "cards.json: {arch}");
        for kind in KINDS {
            let file = format!("{arch}-{kind}.gguf");
            let bytes = model_bytes(&file);
            let g = Gguf::parse(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
            let spec = ModelSpec::from_gguf(&g).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(spec.arch.name(), arch, "{file}: architecture");
            assert_eq!(spec.n_embd as u64, card["n_embd"].as_u64().unwrap(), "{file}: embedding width");
            assert_eq!(spec.n_vocab as u64, card["n_vocab"].as_u64().unwrap(), "{file}: vocabulary");
            let want: Vec<[String; 2]> = serde_json::from_value(card["layers"].clone()).unwrap();
            let got: Vec<[String; 2]> = layout(&spec).iter().map(|[m, f]| [m.to_string(), f.to_string()]).collect();
            assert_eq!(got, want, "{file}: layer layout");
            if let Some(&Ffn::Moe { experts, top_k, .. }) =
                spec.layers.iter().map(|l| &l.ffn).find(|f| matches!(f, Ffn::Moe { .. }))
            {
                assert_eq!(card["experts"], serde_json::json!([experts, top_k]), "{file}: experts");
            }
            let (total, act) = calc::gguf_params(&spec, &g);
            assert_eq!(total, card["params_total"].as_u64().unwrap(), "{file}: total parameters");
            assert_eq!(act, card["params_active"].as_u64().unwrap(), "{file}: active parameters");
            let tok = Tokenizer::from_gguf(&g).unwrap();
            assert_eq!(tok.n_vocab(), spec.n_vocab, "{file}: tokenizer size");
            let row = format!("| {arch} | {:.2}M / {:.2}M |", total as f64 / 1e6, act as f64 / 1e6);
            assert!(readme.contains(&row), "README.md lacks the row {row:?}");
            if kind == "q8_0" {
                active.push(act as f64);
            }
        }
    }
    // Matched budgets: active parameters within 10% of each other.
    let (lo, hi) = active.iter().fold((f64::MAX, 0f64), |(lo, hi), &a| (lo.min(a), hi.max(a)));
    assert!(hi / lo <= 1.10, "active parameters spread {lo}..{hi}, more than 10%");
    // Jamba's experts make its total exceed its active parameters, as in the paper.
    assert!(cards["jamba"]["params_total"].as_u64() > cards["jamba"]["params_active"].as_u64());
}

#[test]
fn bundled_models_match_pytorch_on_the_cpu() {
    for arch in ARCHS {
        for kind in KINDS {
            let golden = demo_json(&format!("{arch}-{kind}.torch.json"));
            let file = golden["model"].as_str().unwrap();
            let bytes = model_bytes(file);
            let g = Gguf::parse(&bytes).unwrap();
            let cpu = CpuModel::from_gguf(&g).unwrap();
            let tokens = ids(&golden["tokens"]);
            let logits = cpu.forward(&mut cpu.new_state(), &tokens).unwrap();
            let tolerance = golden["tolerance"].as_f64().unwrap() as f32;
            let n_vocab = cpu.spec.n_vocab;
            for (pos, row) in golden["positions"].as_array().unwrap().iter().zip(golden["logits"].as_array().unwrap()) {
                let pos = pos.as_u64().unwrap() as usize;
                let want: Vec<f32> = row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
                let got = &logits[pos * n_vocab..][..n_vocab];
                let err = rel_err(got, &want);
                assert!(
                    err <= tolerance,
                    "{file} position {pos}: CPU vs PyTorch relative error {err:.2e} > {tolerance}"
                );
            }
        }
    }
}

#[test]
fn bundled_models_generate_reproducibly() {
    for arch in ARCHS {
        let rec = demo_json(&format!("{arch}-q8_0.generation.json"));
        let file = rec["model"].as_str().unwrap();
        let bytes = model_bytes(file);
        let g = Gguf::parse(&bytes).unwrap();
        let cpu = CpuModel::from_gguf(&g).unwrap();
        let tok = Tokenizer::from_gguf(&g).unwrap();
        // `archrace generate --temp 0.8 --seed S` with its default top-k 40, top-p 0.95, min-p 0.05.
        let config =
            SamplerConfig { temperature: 0.8, seed: rec["seed"].as_u64().unwrap(), ..SamplerConfig::default() };
        let run = || {
            let mut draws = SplitMix64::new(config.seed);
            let mut sampler = Sampler::new(config.clone());
            let mut history = tok.encode(rec["prompt"].as_str().unwrap(), tok.add_bos, false);
            let mut state = cpu.new_state();
            let all = cpu.forward(&mut state, &history).unwrap();
            let mut last = all[all.len() - cpu.spec.n_vocab..].to_vec();
            let mut out = Vec::new();
            for _ in 0..rec["n"].as_u64().unwrap() {
                let next = sampler.sample(&last, &history);
                let want = reference_pick(&last, &config, draws.next_f32());
                assert!(want.contains(&next), "{file}: sampled {next}, the reference sampler {want:?}");
                out.push(next);
                history.push(next);
                last = cpu.forward(&mut state, &[next]).unwrap();
            }
            out
        };
        let first = run();
        assert_eq!(first, ids(&rec["ids"]), "{file}: the recorded seeded generation");
        assert_eq!(run(), first, "{file}: a second run with the same seed");
        eprintln!("{file}: {:?}", tok.decode(&first, false));
    }
}

/// The token llama.cpp's sampling rules pick from `logits` with the uniform draw `u`, computed in f64
/// independently of `archrace_model::sample`: candidates by logit (lowest id on ties), the top k, the
/// smallest prefix whose probability reaches top-p, those at least min-p times the likeliest, then the
/// first whose cumulative weight at the temperature passes `u` times the total. Two ids when `u` lies
/// within rounding of a boundary (either is right).
fn reference_pick(logits: &[f32], c: &SamplerConfig, u: f32) -> Vec<u32> {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    order.truncate(if c.top_k > 0 { c.top_k } else { order.len() });
    let max = f64::from(logits[order[0]]);
    let p: Vec<f64> = order.iter().map(|&i| (f64::from(logits[i]) - max).exp()).collect();
    let sum: f64 = p.iter().sum();
    let mut keep = order.len();
    let mut cumulative = 0.0;
    for (i, x) in p.iter().enumerate() {
        cumulative += x / sum;
        if cumulative >= f64::from(c.top_p) {
            keep = i + 1;
            break;
        }
    }
    keep = keep.min(p.iter().take_while(|&&x| x / p[0] >= f64::from(c.min_p)).count().max(1));
    let w: Vec<f64> =
        order[..keep].iter().map(|&i| ((f64::from(logits[i]) - max) / f64::from(c.temperature)).exp()).collect();
    let target = f64::from(u) * w.iter().sum::<f64>();
    let mut cumulative = 0.0;
    for (k, &x) in w.iter().enumerate() {
        cumulative += x;
        if cumulative > target {
            let near = |edge: f64| (edge - target).abs() <= 1e-5 * cumulative;
            let mut ids = vec![order[k] as u32];
            if near(cumulative) && k + 1 < keep {
                ids.push(order[k + 1] as u32);
            }
            if k > 0 && near(cumulative - x) {
                ids.push(order[k - 1] as u32);
            }
            return ids;
        }
    }
    vec![order[keep - 1] as u32]
}

#[test]
fn the_reference_sampler_follows_the_rules() {
    let c = SamplerConfig { temperature: 1.0, top_k: 3, top_p: 1.0, min_p: 0.0, ..SamplerConfig::default() };
    // Weights e^2, e^1, e^0 over the top three; the fourth is cut by top-k.
    let logits = [0.0f32, 2.0, 1.0, 1.9e-3, -5.0];
    let (e2, e1, e0) = (2f64.exp(), 1f64.exp(), 1f64);
    let total = e2 + e1 + e0;
    assert_eq!(reference_pick(&logits, &c, 0.0), [1]);
    assert_eq!(reference_pick(&logits, &c, ((e2 + 0.5 * e1) / total) as f32), [2]);
    assert_eq!(reference_pick(&logits, &c, 0.999), [3]);
    // min-p 0.5 keeps only the likeliest (e^1 / e^2 < 0.5): every draw picks it.
    assert_eq!(reference_pick(&logits, &SamplerConfig { min_p: 0.5, ..c.clone() }, 0.999), [1]);
    // It disagrees with a sampler that ignores top-k: the check can fail.
    assert_ne!(reference_pick(&logits, &SamplerConfig { top_k: 0, ..c }, 0.9999), [3]);
}

#[test]
fn bundled_models_on_gpu_match_the_cpu() {
    let Some(ctx) = pollster::block_on(context_or_skip("bundled models on the GPU")) else { return };
    for arch in ARCHS {
        let golden = demo_json(&format!("{arch}-q8_0.torch.json"));
        let file = golden["model"].as_str().unwrap();
        let bytes = model_bytes(file);
        let g = Gguf::parse(&bytes).unwrap();
        let cpu = CpuModel::from_gguf(&g).unwrap();
        let gpu =
            pollster::block_on(GpuModel::new(&ctx, &cpu.spec, &cpu.weights)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let mut state = gpu.new_state(&ctx).unwrap();
        state.kv_type = archrace_model::KvType::F32; // as llama.cpp's goldens (f32 K and V)
        let mut cpu_state = cpu.new_state();
        let mut worst = 0f32;
        // 24 validation tokens, then 8 greedy tokens chosen on each side: the same ids.
        let mut tokens = ids(&golden["tokens"])[..24].to_vec();
        let mut last = Vec::new();
        for (pos, &t) in tokens.iter().enumerate() {
            let got = pollster::block_on(gpu.logits(&ctx, &mut state, t)).unwrap();
            last = cpu.forward(&mut cpu_state, &[t]).unwrap();
            let err = rel_err(&got, &last);
            assert!(err <= 1e-4, "{file} position {pos}: GPU vs CPU relative error {err:.2e} > 1e-4");
            worst = worst.max(err);
        }
        let mut next = archrace_model::sample::argmax(&last);
        for _ in 0..8 {
            let on_gpu = pollster::block_on(gpu.greedy(&ctx, &mut state, Some(next))).unwrap();
            let on_cpu = archrace_model::sample::argmax(&cpu.forward(&mut cpu_state, &[next]).unwrap());
            tokens.push(next);
            assert_eq!(on_gpu, on_cpu, "{file}: greedy token after {tokens:?}");
            next = on_cpu;
        }
        eprintln!("{file} on GPU: worst relative error vs CPU {worst:.2e}");
    }
}

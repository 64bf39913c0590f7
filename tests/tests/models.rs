//! The CPU forward pass against llama.cpp's goldens (tests/fixtures, see its README): logits for every
//! prompt position within 1e-4 of the row's max |logit|, prefill (all tokens at once) equal to decode (one
//! token at a time) within 1e-5 relative, and greedy traces exact.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{fixture, ids, json, rel_err, QUANTS};

use archrace_cpu::CpuModel;
use archrace_gguf::Gguf;

fn check_logits(arch: &str) {
    for q in QUANTS {
        let file = format!("{arch}-{q}.gguf");
        let bytes = fixture(&file);
        let g = Gguf::parse(&bytes).unwrap();
        let model = CpuModel::from_gguf(&g).unwrap_or_else(|e| panic!("{file}: {e}"));
        let golden = json(&format!("{arch}-{q}.logits.json"));
        let tokens = ids(&golden["tokens"]);
        let n_vocab = golden["n_vocab"].as_u64().unwrap() as usize;
        assert_eq!(model.spec.n_vocab, n_vocab);

        let mut state = model.new_state();
        let prefill = model.forward(&mut state, &tokens).unwrap();
        let mut worst = 0f32;
        for (pos, row) in golden["logits"].as_array().unwrap().iter().enumerate() {
            let want: Vec<f32> = row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            let got = &prefill[pos * n_vocab..(pos + 1) * n_vocab];
            let err = rel_err(got, &want);
            assert!(err <= 1e-4, "{file} position {pos}: relative error {err:.2e} > 1e-4");
            worst = worst.max(err);
        }

        let mut state = model.new_state();
        for (pos, &tok) in tokens.iter().enumerate() {
            let step = model.forward(&mut state, &[tok]).unwrap();
            let err = rel_err(&step, &prefill[pos * n_vocab..(pos + 1) * n_vocab]);
            assert!(err <= 1e-5, "{file} position {pos}: decode vs prefill {err:.2e} > 1e-5");
        }
        eprintln!("{file}: worst relative error vs llama.cpp {worst:.2e}");
    }
}

fn check_greedy(arch: &str) {
    let file = format!("{arch}-f32.gguf");
    let bytes = fixture(&file);
    let g = Gguf::parse(&bytes).unwrap();
    let model = CpuModel::from_gguf(&g).unwrap();
    let trace = json(&format!("{arch}-f32.greedy.json"));
    let mut state = model.new_state();
    let mut logits = model.forward(&mut state, &ids(&trace["tokens"])).unwrap();
    let n_vocab = model.spec.n_vocab;
    let mut generated = Vec::new();
    for _ in 0..trace["n_generate"].as_u64().unwrap() {
        let last = &logits[logits.len() - n_vocab..];
        let next = (0..n_vocab).max_by(|&a, &b| last[a].total_cmp(&last[b]).then(b.cmp(&a))).unwrap() as u32;
        generated.push(next);
        logits = model.forward(&mut state, &[next]).unwrap();
    }
    assert_eq!(generated, ids(&trace["generated"]), "{file} greedy trace");
}

#[test]
fn llama_matches_llama_cpp() {
    check_logits("llama");
    check_greedy("llama");
}

#[test]
fn mamba_matches_llama_cpp() {
    check_logits("mamba");
    check_greedy("mamba");
}

#[test]
fn jamba_matches_llama_cpp() {
    check_logits("jamba");
    check_greedy("jamba");
}

#[test]
fn rwkv6_matches_llama_cpp() {
    check_logits("rwkv6");
    check_greedy("rwkv6");
}

#[test]
fn rwkv7_matches_llama_cpp() {
    check_logits("rwkv7");
    check_greedy("rwkv7");
}

#[test]
fn token_ids_outside_the_vocabulary_are_refused() {
    let bytes = fixture("llama-q4_0.gguf");
    let g = Gguf::parse(&bytes).unwrap();
    let model = CpuModel::from_gguf(&g).unwrap();
    let mut state = model.new_state();
    let err = model.forward(&mut state, &[1, 262]).unwrap_err();
    assert_eq!(err, archrace_model::ModelError::TokenOutOfRange { token: 262, n_vocab: 262 });
    assert_eq!(state.pos, 0, "a refused call leaves the state untouched");
}

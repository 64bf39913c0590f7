//! The tokenizers against llama.cpp: the tiny models' BPE on their prompt, and SmolLM2's real 49k-token
//! vocabulary (pre-tokenizer `smollm`) on 45 strings: ids exact, decoded text exact.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::fixture;

use archrace_gguf::Gguf;
use archrace_model::{StreamDecoder, Tokenizer};

#[test]
fn smollm2_tokenizes_every_case_like_llama_cpp() {
    let bytes = fixture("tokenizer-smollm2.gguf");
    let tok = Tokenizer::from_gguf(&Gguf::parse(&bytes).unwrap()).unwrap();
    assert_eq!(
        (tok.n_vocab(), tok.pre.as_str(), tok.bos, tok.eos, tok.add_bos),
        (49152, "smollm", Some(1), Some(2), false)
    );
    let cases: serde_json::Value = serde_json::from_slice(&fixture("tokenizer-smollm2.cases.json")).unwrap();
    let mut failures = Vec::new();
    for case in cases.as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = case["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let got = tok.encode(text, false, false);
        if got != want {
            failures.push(format!("{text:?}\n  llama.cpp {want:?}\n  archrace  {got:?}"));
        }
        assert_eq!(tok.decode(&want, false), case["decoded"].as_str().unwrap(), "decode {text:?}");
        // Streaming decode gives the same text, whatever the token boundaries inside characters.
        let mut stream = StreamDecoder::default();
        let streamed: String = want.iter().map(|&id| stream.push(&tok, id)).collect();
        assert_eq!(streamed, text, "stream decode {text:?}");
    }
    assert!(failures.is_empty(), "{} of 45 cases differ:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn tiny_models_tokenize_their_prompt_like_llama_cpp() {
    let golden: serde_json::Value = serde_json::from_slice(&fixture("llama-f32.logits.json")).unwrap();
    let want: Vec<u32> = golden["tokens"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
    for arch in ["llama", "mamba", "rwkv6", "rwkv7", "jamba"] {
        let bytes = fixture(&format!("{arch}-q4_0.gguf"));
        let tok = Tokenizer::from_gguf(&Gguf::parse(&bytes).unwrap()).unwrap();
        assert_eq!(tok.encode("The tigers in the river.", false, false), want, "{arch}");
        assert_eq!(tok.decode(&want, false), "The tigers in the river.");
    }
}

#[test]
fn special_tokens_are_parsed_only_when_asked() {
    let bytes = fixture("tokenizer-smollm2.gguf");
    let tok = Tokenizer::from_gguf(&Gguf::parse(&bytes).unwrap()).unwrap();
    let text = "<|im_start|>user\nHi";
    let plain = tok.encode(text, false, false);
    let special = tok.encode(text, false, true);
    assert!(plain.len() > special.len());
    let im_start = special[0];
    assert_eq!(tok.decode(&[im_start], true), "<|im_start|>");
    assert_eq!(tok.decode(&special[1..], false), "user\nHi");
    assert_eq!(tok.encode("Hi", true, false)[0], 1, "BOS first when asked");
}

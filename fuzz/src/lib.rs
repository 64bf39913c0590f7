//! Fuzz targets for everything that reads untrusted bytes or settings: the GGUF reader, metadata to
//! `ModelSpec` (and on to weights, the calculator and one CPU forward step), the tokenizers, the Hugging
//! Face `config.json` reader, the sampler and the race link parser. Each target takes any bytes and must
//! never panic, hang or allocate without bound; where a property holds for every input (a file we wrote
//! reads back the same, byte-level BPE decodes back to its text, greedy sampling is the argmax, a link
//! written from settings reads back to them), the target asserts it.
//!
//! `scripts/fuzz` runs them under libFuzzer (coverage-guided, on the stable toolchain); `cargo test`
//! replays the seeds and every input in `regressions/` through the same functions.

use archrace_cpu::CpuModel;
use archrace_gguf::{Gguf, GgufWriter, Strings, Value};
use archrace_model::{calc, KvType, ModelSpec, ModelWeights, Sampler, SamplerConfig, StreamDecoder, Tokenizer};
use std::sync::OnceLock;

/// A fuzz target: any bytes in, a panic on a bug.
pub type Target = fn(&[u8]);

/// Every target by name, as `scripts/fuzz` and the replay test know them.
pub const TARGETS: [(&str, Target); 6] = [
    ("gguf_reader", gguf_reader),
    ("model_spec", model_spec),
    ("tokenizer", tokenizer),
    ("hf_config", hf_config),
    ("sampler", sampler),
    ("race_link", race_link),
];

/// The fixture models (tests/fixtures, see its PROVENANCE.md) the structure-aware targets start from.
pub const MODELS: [(&str, &[u8]); 5] = [
    ("llama-q4_0", include_bytes!("../../tests/fixtures/llama-q4_0.gguf")),
    ("mamba-q4_0", include_bytes!("../../tests/fixtures/mamba-q4_0.gguf")),
    ("jamba-q4_0", include_bytes!("../../tests/fixtures/jamba-q4_0.gguf")),
    ("rwkv6-q4_0", include_bytes!("../../tests/fixtures/rwkv6-q4_0.gguf")),
    ("rwkv7-q4_0", include_bytes!("../../tests/fixtures/rwkv7-q4_0.gguf")),
];

const SMOLLM2: &[u8] = include_bytes!("../../tests/fixtures/tokenizer-smollm2.gguf");

/// The GGUF reader on raw bytes. A file that parses must give every tensor's bytes in place, and writing
/// what was read must read back to the same file.
pub fn gguf_reader(data: &[u8]) {
    let Ok(g) = Gguf::parse(data) else { return };
    for t in &g.tensors {
        assert_eq!(g.tensor_data(t).len() as u64, t.size, "{}", t.name);
        assert!(g.tensor(&t.name).is_some());
    }
    for (k, v) in &g.metadata {
        assert!(g.get(k).is_some(), "{k:?}");
        if let Some(a) = v.as_array() {
            assert_eq!(a.values().count(), a.len());
        }
    }
    let once = rewrite(&g);
    let again = rewrite(&Gguf::parse(&once).expect("a file archrace wrote reads back"));
    assert!(once == again, "writing a read file is not stable");
}

/// `g` written out again by `GgufWriter`.
fn rewrite(g: &Gguf) -> Vec<u8> {
    let mut w = GgufWriter::new();
    for (k, v) in &g.metadata {
        w.metadata(k, v.clone());
    }
    for t in &g.tensors {
        w.tensor(&t.name, &t.dims, t.ty, g.tensor_data(t).to_vec());
    }
    w.to_bytes()
}

/// Metadata to a runnable model. Bytes that start with `GGUF` are a file; anything else edits the
/// metadata of a fixture model (first byte: which; then 6-byte edits: key, operation, value), so the
/// fuzzer reaches the validation of every key with files that are otherwise well formed. A model that
/// loads must have calculator figures that fit and must run a CPU step.
pub fn model_spec(data: &[u8]) {
    if data.starts_with(b"GGUF") {
        return check_model(data);
    }
    let Some((&pick, edits)) = data.split_first() else { return };
    let base = Gguf::parse(MODELS[pick as usize % MODELS.len()].1).expect("fixture parses");
    let mut meta = base.metadata.clone();
    for e in edits.chunks_exact(6) {
        if meta.is_empty() {
            break;
        }
        let i = e[0] as usize % meta.len();
        let x = u32::from_le_bytes([e[2], e[3], e[4], e[5]]);
        meta[i].1 = match e[1] % 8 {
            0 => Value::U32(x),
            1 => Value::F32(f32::from_bits(x)),
            2 => Value::I32(x as i32),
            3 => Value::U64(u64::from(x) << (e[1] / 8 % 40)),
            4 => {
                meta.remove(i);
                continue;
            }
            5 => Value::Array(vec![x % 64; e[1] as usize / 8 % 8].into()),
            6 => Value::String(
                ["llama", "mamba", "jamba", "rwkv6", "rwkv7", "gpt2", "", "linear"][x as usize % 8].into(),
            ),
            _ => Value::Bool(x & 1 == 1),
        };
    }
    let mut w = GgufWriter::new();
    for (k, v) in &meta {
        w.metadata(k, v.clone());
    }
    for t in &base.tensors {
        w.tensor(&t.name, &t.dims, t.ty, base.tensor_data(t).to_vec());
    }
    check_model(&w.to_bytes());
}

fn check_model(bytes: &[u8]) {
    let Ok(g) = Gguf::parse(bytes) else { return };
    let Ok(spec) = ModelSpec::from_gguf(&g) else { return };
    if ModelWeights::from_gguf(&g, &spec).is_err() {
        return;
    }
    let r = calc::report(&spec, Some(&g), 4096, KvType::F16).expect("a loadable file's figures fit in 64 bits");
    assert!(r.params_active <= r.params_total);
    if let Ok(tok) = Tokenizer::from_gguf(&g) {
        let _ = tok.check_model(spec.n_vocab);
    }
    let cpu = CpuModel::from_gguf(&g).expect("a spec with weights makes a CPU model");
    let mut state = cpu.new_state();
    // Ids in range run: to logits, or to the typed error for activations that overflow.
    match cpu.forward(&mut state, &[0, (spec.n_vocab - 1) as u32]) {
        Ok(logits) => assert_eq!(logits.len(), 2 * spec.n_vocab),
        Err(archrace_model::ModelError::NonFiniteLogits { position }) => assert!(position < 2),
        Err(e) => panic!("ids in range run: {e}"),
    }
}

/// The tokenizers archrace meets: the fixtures' 262-token byte-level BPE, SmolLM2's 49,152-token BPE and a
/// SentencePiece vocabulary with byte fallback.
fn tokenizers() -> &'static [Tokenizer; 3] {
    static TOKENIZERS: OnceLock<[Tokenizer; 3]> = OnceLock::new();
    TOKENIZERS.get_or_init(|| {
        let load = |bytes: &[u8]| Tokenizer::from_gguf(&Gguf::parse(bytes).unwrap()).unwrap();
        [load(MODELS[0].1), load(SMOLLM2), load(&sentencepiece())]
    })
}

/// For each tokenizer, which bytes have a single-byte token.
fn byte_tokens() -> &'static [[bool; 256]; 3] {
    static BYTES: OnceLock<[[bool; 256]; 3]> = OnceLock::new();
    BYTES.get_or_init(|| {
        tokenizers().each_ref().map(|tok| {
            let mut has = [false; 256];
            for id in 0..tok.n_vocab() as u32 {
                if let [b] = tok.token_bytes(id, false)[..] {
                    has[b as usize] = true;
                }
            }
            has
        })
    })
}

/// A SentencePiece vocabulary: specials, all 256 byte tokens, and pieces with scores.
fn sentencepiece() -> Vec<u8> {
    let mut pieces: Vec<(String, f32, i32)> =
        vec![("<unk>".into(), 0.0, 2), ("<s>".into(), 0.0, 3), ("</s>".into(), 0.0, 3)];
    pieces.extend((0..=255u8).map(|b| (format!("<0x{b:02X}>"), 0.0, 6)));
    for (i, p) in
        ["\u{2581}", "e", "t", "h", "\u{2581}t", "he", "\u{2581}the", "in", "\u{2581}a", "é", "€"].iter().enumerate()
    {
        pieces.push((p.to_string(), -(i as f32), 1));
    }
    let mut w = GgufWriter::new();
    w.metadata("tokenizer.ggml.model", Value::String("llama".into()))
        .metadata(
            "tokenizer.ggml.tokens",
            Value::Array(pieces.iter().map(|p| p.0.as_str()).collect::<Strings>().into()),
        )
        .metadata("tokenizer.ggml.scores", Value::Array(pieces.iter().map(|p| p.1).collect::<Vec<f32>>().into()))
        .metadata("tokenizer.ggml.token_type", Value::Array(pieces.iter().map(|p| p.2).collect::<Vec<i32>>().into()))
        .metadata("tokenizer.ggml.bos_token_id", Value::U32(1))
        .metadata("tokenizer.ggml.eos_token_id", Value::U32(2));
    w.to_bytes()
}

/// Encoding and decoding. First byte: which tokenizer (low 2 bits), BOS (bit 2), special-token parsing
/// (bit 3); the rest is the text. Ids are in range; the complete vocabularies (SmolLM2's byte-level BPE,
/// the SentencePiece one with every byte token) decode back to the text. The same bytes as ids, in and
/// out of range, decode and stream without panicking.
pub fn tokenizer(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else { return };
    let which = (flags & 3) as usize % 3;
    let tok = &tokenizers()[which];
    let (bos, special) = (flags & 4 != 0, flags & 8 != 0);
    let text = String::from_utf8_lossy(rest);
    let ids = tok.encode(&text, bos, special);
    assert!(ids.iter().all(|&id| (id as usize) < tok.n_vocab()), "an id outside the vocabulary");
    // Lossless where every byte of the text has a token (as in llama.cpp, a byte without one is dropped:
    // SmolLM2's vocabulary lacks 21 of the 256), and for SentencePiece where the text holds no U+2581,
    // the character it writes spaces as (decoding turns every one back into a space, as llama.cpp does).
    let lossless = text.bytes().all(|b| byte_tokens()[which][b as usize]) && !(which == 2 && text.contains('\u{2581}'));
    if which > 0 && !special && lossless {
        assert_eq!(tok.decode(&ids, false), text, "encode then decode is not the identity");
    }
    let raw: Vec<u32> = rest.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let _ = tok.decode(&raw, true);
    let mut stream = StreamDecoder::default();
    for &id in raw.iter().take(1024) {
        let _ = stream.push(tok, id % (tok.n_vocab() as u32 + 8));
    }
}

/// The Hugging Face config reader and the calculator on what it gives: figures fit or are named as too
/// large, and active parameters never exceed the total.
pub fn hf_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(spec) = ModelSpec::from_hf_config(text) else { return };
    if let Some((total, active)) = calc::spec_params(&spec) {
        assert!(active <= total);
    }
    for n in [0, 1, 4096, 1 << 40, u64::MAX] {
        if let Ok(r) = calc::report(&spec, None, n, KvType::F16) {
            assert!(r.params_active <= r.params_total);
            assert_eq!(r.kv_cache_bytes, r.kv_bytes_per_token * n);
        }
    }
}

/// The sampler on any settings and logits (NaN and infinities included): settings that validate always
/// give an id inside the row, and greedy settings give the argmax.
pub fn sampler(data: &[u8]) {
    if data.len() < 24 {
        return;
    }
    let f = |i: usize| f32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
    let config = SamplerConfig {
        temperature: f(0),
        top_p: f(4),
        min_p: f(8),
        repeat_penalty: f(12),
        top_k: data[16] as usize,
        repeat_last_n: data[17] as usize,
        seed: u64::from(data[18]),
    };
    if config.validate().is_err() {
        return;
    }
    let logits: Vec<f32> =
        data[19..].chunks_exact(4).take(4096).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    if logits.is_empty() {
        return;
    }
    let history: Vec<u32> = data[19..].iter().take(64).map(|&b| u32::from(b) % (logits.len() as u32 + 2)).collect();
    let greedy = config.temperature == 0.0 && config.repeat_penalty == 1.0;
    let id = Sampler::new(config).sample(&logits, &history);
    assert!((id as usize) < logits.len(), "id {id} outside {} logits", logits.len());
    if greedy {
        assert_eq!(id, archrace_model::sample::argmax(&logits));
    }
}

/// The bundled models' ids, as the page knows them (`web/src/models.rs`).
const BUNDLED_IDS: [&str; 8] = ["llama", "mamba", "rwkv7", "jamba", "llama-q4", "mamba-q4", "rwkv7-q4", "jamba-q4"];

/// A shared race link (`archrace_model::link`) from any text: the settings it gives are always a race the
/// page can run (one to four lanes, every value in its range), writing them as a link and reading that
/// back gives the same settings, and percent-encoding any text decodes back to it.
pub fn race_link(data: &[u8]) {
    use archrace_model::link::{decode, encode, ModelSource, RaceSettings, RunSettings, MAX_LANES};
    let text = String::from_utf8_lossy(data);
    let defaults = RaceSettings {
        lanes: vec![ModelSource::Bundled("llama".into())],
        run: RunSettings { prompt: "Shall I".into(), ..RunSettings::default() },
        gpu_budget: None,
    };
    let bundled = |id: &str| BUNDLED_IDS.contains(&id);
    let s = RaceSettings::from_query(&text, defaults.clone(), bundled);
    assert!((1..=MAX_LANES).contains(&s.lanes.len()), "{} lanes", s.lanes.len());
    for lane in &s.lanes {
        match lane {
            ModelSource::Bundled(id) => assert!(bundled(id), "{id:?}"),
            ModelSource::Url(u) => assert!(!u.is_empty()),
        }
    }
    let r = &s.run;
    assert!((1..=4096).contains(&r.max_new_tokens) && (1..=64).contains(&r.top_k), "{r:?}");
    assert!((0.0..=5.0).contains(&r.temperature) && r.top_p > 0.0 && r.top_p <= 1.0, "{r:?}");
    assert!(r.kv_budget.is_none_or(|b| b >= 1024) && s.gpu_budget.is_none_or(|b| b >= 1 << 20));
    let link = s.to_query();
    assert_eq!(RaceSettings::from_query(&link, defaults, bundled), s, "{link}");
    assert_eq!(decode(&encode(&text)).as_deref(), Some(&*text));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Runs `target` on every file in `dir` (none when it does not exist), naming the file that fails.
    fn replay(target: Target, dir: &Path) -> usize {
        let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
        let mut n = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let result = std::panic::catch_unwind(|| target(&bytes));
            assert!(result.is_ok(), "{} fails on {}", dir.display(), path.display());
            n += 1;
        }
        n
    }

    /// Every committed crash (`regressions/<target>/`) and seed (`seeds/<target>/`) passes; the fixture
    /// models pass the file-level targets.
    #[test]
    fn seeds_and_regressions_replay() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for (name, target) in TARGETS {
            let n =
                replay(target, &root.join("regressions").join(name)) + replay(target, &root.join("seeds").join(name));
            eprintln!("{name}: {n} committed inputs");
        }
        for (name, bytes) in MODELS {
            gguf_reader(bytes);
            model_spec(bytes);
            eprintln!("{name}: reader and model targets pass");
        }
        for (i, _) in MODELS.iter().enumerate() {
            model_spec(&[i as u8]); // the fixture unchanged, through the edit path
        }
        tokenizer(b"\x01Hello, world! 123 \xc3\xa9t\xc3\xa9 \xe2\x82\xac");
        tokenizer(b"\x02 the heat in a \xe2\x82\xac\xf0\x9f\x98\x80");
    }

    /// The link target on a link that sets everything, on junk, on edge values (negative zero, a subnormal,
    /// the largest seed, a lone `%`) and on bytes that are not UTF-8.
    #[test]
    fn race_link_holds_on_links_and_junk() {
        race_link(b"?lanes=jamba,url:https%3A%2F%2Fx.org%2Fm.gguf,mamba-q4&prompt=To+be%2C&n=7&temp=0&topk=5&topp=0.5&seed=9&kvkib=96&kv=f32&gpumib=3");
        race_link(
            b"lanes=nosuch,,url:&n=-3&temp=NaN&topk=999&topp=0&seed=x&prompt=%E2%28&junk&kvkib=0&gpumib=99999999",
        );
        race_link(b"temp=-0&topp=1e-45&n=4096&seed=18446744073709551615&prompt=%");
        race_link(b"\xff\xfe&&==&lanes=%F0%9F%98%80");
    }
}

//! The `archrace` binary on the shared fixtures: each command's output, JSON shapes and exit codes.

mod common;

use common::TempDir;
use std::process::Command;

fn fixture(name: &str) -> String {
    format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs archrace; returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_archrace")).args(args).output().unwrap();
    (out.status.code().unwrap(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

fn json(args: &[&str]) -> serde_json::Value {
    let (code, out, err) = run(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}\n{out}"))
}

#[test]
fn inspect_lists_layers_and_memory() {
    let j = json(&["inspect", &fixture("jamba-q4_0.gguf"), "--json"]);
    assert_eq!(j["arch"], "jamba");
    assert_eq!(j["layer_kinds"], serde_json::json!(["mamba", "mamba+moe2/4", "attention", "mamba+moe2/4"]));
    assert!(j["memory"]["params_active"].as_u64() < j["memory"]["params_total"].as_u64());
    assert!(j["tensors"].as_array().unwrap().iter().any(|t| t["type"] == "Q4_0"));
}

#[test]
fn memory_from_gguf_and_from_config() {
    let j = json(&["memory", &fixture("llama-f32.gguf"), "--context", "1000", "--kv-type", "f32", "--json"]);
    assert_eq!(j["kv_cache_bytes"], 3 * 2 * 2 * 16 * 4 * 1000);
    for key in ["params_total", "params_active", "kv_cache_bytes", "state_bytes"] {
        assert!(j[key].is_u64(), "{key}");
    }
    let dir = TempDir::new("cli-config");
    let config = dir.file("config.json", br#"{"model_type": "mamba", "hidden_size": 768, "num_hidden_layers": 24, "vocab_size": 50280, "tie_word_embeddings": true}"#);
    let j = json(&["memory", &config, "--context", "65536", "--json"]);
    assert_eq!((j["params_total"].as_u64(), j["kv_cache_bytes"].as_u64()), (Some(129_135_360), Some(0)));
}

#[test]
fn tokenize_and_detokenize_round_trip() {
    let tok = fixture("tokenizer-smollm2.gguf");
    let (code, out, _) = run(&["tokenize", &tok, "--text", "The year 1999"]);
    assert_eq!((code, out.trim()), (0, "504,713,216,33,41,41,41"));
    let (code, out, _) = run(&["detokenize", &tok, "--ids", "504,713,216,33,41,41,41"]);
    assert_eq!((code, out.trim_end_matches('\n')), (0, "The year 1999"));
    let j = json(&["tokenize", &tok, "--text", "Hi", "--bos", "--json"]);
    assert_eq!(j["ids"][0], 1);
}

#[test]
fn logits_match_the_golden_and_generate_matches_the_greedy_trace() {
    let golden: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("mamba-q8_0.logits.json")).unwrap()).unwrap();
    let tokens: Vec<String> = golden["tokens"].as_array().unwrap().iter().map(|t| t.to_string()).collect();
    let j = json(&["logits", &fixture("mamba-q8_0.gguf"), "--tokens", &tokens.join(","), "--backend", "cpu", "--json"]);
    let rows = j["logits"].as_array().unwrap();
    assert_eq!(rows.len(), 16);
    let (got, want) = (rows[15].as_array().unwrap(), golden["logits"][15].as_array().unwrap());
    for (g, w) in got.iter().zip(want) {
        assert!((g.as_f64().unwrap() - w.as_f64().unwrap()).abs() < 1e-3);
    }
    let trace: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("rwkv7-f32.greedy.json")).unwrap()).unwrap();
    let j = json(&[
        "generate",
        &fixture("rwkv7-f32.gguf"),
        "--prompt",
        "The tigers in the river.",
        "-n",
        "24",
        "--temp",
        "0",
        "--json",
    ]);
    assert_eq!(j["prompt_ids"], trace["tokens"], "no BOS: add_bos_token is false");
    assert_eq!(j["ids"], trace["generated"]);
    // Sampling with a seed is reproducible.
    let sample = |seed: &str| {
        json(&[
            "generate",
            &fixture("llama-q4_1.gguf"),
            "--prompt",
            "The",
            "-n",
            "12",
            "--temp",
            "0.8",
            "--seed",
            seed,
            "--json",
        ])["ids"]
            .clone()
    };
    assert_eq!(sample("5"), sample("5"));
}

#[test]
fn bad_input_is_a_clear_error_with_exit_code_2() {
    let dir = TempDir::new("cli-bad");
    let truncated = dir.file("truncated.gguf", &std::fs::read(fixture("llama-q8_0.gguf")).unwrap()[..5000]);
    for (args, needle) in [
        (vec!["inspect", &truncated], "truncated"),
        (vec!["inspect", "/nonexistent.gguf"], "cannot read"),
        (vec!["logits", &fixture("llama-q8_0.gguf"), "--tokens", "5,9999"], "outside the vocabulary"),
        (vec!["memory", &fixture("README.md"), "--context", "8"], "neither a GGUF file"),
    ] {
        let (code, _, err) = run(&args);
        assert_eq!(code, 2, "{args:?}");
        assert!(err.starts_with("archrace: ") && err.contains(needle), "{args:?}: {err}");
    }
}

/// Whether a GPU adapter exists (lavapipe in CI, where `ARCHRACE_REQUIRE_GPU` makes its absence a failure).
fn gpu_available() -> bool {
    let (code, _, err) = run(&["device", "--json", "--rows", "64", "--cols", "64"]);
    if code == 0 {
        return true;
    }
    assert!(!std::env::var("ARCHRACE_REQUIRE_GPU").is_ok_and(|v| v != "0"), "no GPU, and one is required: {err}");
    eprintln!("SKIPPED GPU CLI test: {err}");
    false
}

/// `device --json` says how the runtime runs on the adapter: tuned for a software adapter where it is one,
/// and llvmpipe's loop cap (65,535 back-edges an invocation) where the adapter is llvmpipe.
#[test]
fn device_reports_the_runtime_choices() {
    let (code, out, err) = run(&["device", "--json", "--rows", "64", "--cols", "64"]);
    if code != 0 {
        assert!(!std::env::var("ARCHRACE_REQUIRE_GPU").is_ok_and(|v| v != "0"), "no GPU, and one is required: {err}");
        return;
    }
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["runtime"]["software_tuning"], json["adapter"]["software"], "{out}");
    let llvmpipe = json["adapter"]["name"].as_str().unwrap().starts_with("llvmpipe");
    let want = if llvmpipe { serde_json::json!(65535) } else { serde_json::Value::Null };
    assert_eq!(json["runtime"]["loop_limit"], want, "{out}");
}

#[test]
fn gpu_backend_logits_and_generate_agree_with_the_goldens() {
    if !gpu_available() {
        return;
    }
    let golden: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("jamba-q4_0.logits.json")).unwrap()).unwrap();
    let tokens: Vec<String> = golden["tokens"].as_array().unwrap().iter().map(|t| t.to_string()).collect();
    // llama.cpp's goldens were made with f32 K and V.
    let kv = ["--kv-type", "f32"];
    let args = ["logits", &fixture("jamba-q4_0.gguf"), "--tokens", &tokens.join(","), "--backend", "gpu", "--json"];
    let j = json(&[&args[..], &kv].concat());
    let rows = j["logits"].as_array().unwrap();
    assert_eq!(rows.len(), 16);
    for (pos, row) in rows.iter().enumerate() {
        let want = golden["logits"][pos].as_array().unwrap();
        let scale = want.iter().map(|v| v.as_f64().unwrap().abs()).fold(0.0, f64::max);
        for (g, w) in row.as_array().unwrap().iter().zip(want) {
            assert!((g.as_f64().unwrap() - w.as_f64().unwrap()).abs() <= 1e-4 * scale, "position {pos}");
        }
    }
    let trace: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("llama-f32.greedy.json")).unwrap()).unwrap();
    let prompt = "The tigers in the river.";
    let args = ["generate", &fixture("llama-f32.gguf"), "--prompt", prompt, "-n", "24", "--backend", "gpu", "--json"];
    let j = json(&[&args[..], &kv].concat());
    assert_eq!(j["backend"], "gpu");
    assert_eq!(j["ids"], trace["generated"], "greedy on the GPU reproduces llama.cpp's trace");
    // Sampled decoding reads the logits back and uses the CPU sampler's seeded stream: same ids as the CPU.
    let sample = |backend: &str| {
        let args =
            ["generate", &fixture("mamba-q8_0.gguf"), "--prompt", "The", "-n", "12", "--temp", "0.8", "--seed", "3"];
        json(&[&args[..], &["--backend", backend, "--json"]].concat())["ids"].clone()
    };
    assert_eq!(sample("gpu"), sample("cpu"));
}

#[test]
fn race_reports_speed_and_memory_per_context() {
    if !gpu_available() {
        return;
    }
    let (llama, mamba) = (fixture("llama-q4_0.gguf"), fixture("mamba-q4_0.gguf"));
    let j = json(&["race", &llama, &mamba, "--context", "8,300", "--new-tokens", "2", "--compare-fill", "--json"]);
    let rows = j.as_array().unwrap();
    assert_eq!(rows.len(), 4);
    for r in rows {
        assert!(r["ms_per_token"].as_f64().unwrap() > 0.0 && r["tokens_per_s"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["prefill_tokens_per_s"].as_f64().unwrap() > 0.0 && r["prefill_tokens"].as_u64().unwrap() > 0, "{r}");
        for key in ["weights", "kv_cache", "state", "scratch"] {
            assert!(r["memory"][key].is_u64() && r["analytic"][key].is_u64(), "{key}: {r}");
        }
        // Used KV is what the context needs, as the calculator says; allocated may hold more.
        assert_eq!(r["kv_cache_used"], r["analytic"]["kv_cache"], "{r}");
        let total: u64 =
            ["weights", "kv_cache", "state", "scratch"].iter().map(|k| r["memory"][k].as_u64().unwrap()).sum();
        assert!(r["memory_peak"].as_u64().unwrap() >= total, "{r}");
    }
    // The fill to the first context is also timed token by token, once per model.
    assert!(rows[0]["step_fill_tokens_per_s"].as_f64().unwrap() > 0.0, "{}", rows[0]);
    assert!(rows[1].get("step_fill_tokens_per_s").is_none(), "{}", rows[1]);
    // The second row's fill continues from the first: 300 - 8 tokens (the decode steps count too).
    assert_eq!(rows[1]["prefill_tokens"], 300 - 10);
    let (l_short, l_long, m_short, m_long) = (&rows[0], &rows[1], &rows[2], &rows[3]);
    assert_eq!((l_short["arch"].as_str(), m_long["arch"].as_str()), (Some("llama"), Some("mamba")));
    assert_eq!(l_long["context"], 302);
    // The Transformer's KV cache grows with the context (in chunks, so at least the analytic figure);
    // Mamba has none and a fixed state.
    let kv = |r: &serde_json::Value| r["memory"]["kv_cache"].as_u64().unwrap();
    assert!(kv(l_long) > kv(l_short) && kv(l_long) >= l_long["analytic"]["kv_cache"].as_u64().unwrap());
    assert_eq!((kv(m_short), kv(m_long)), (0, 0));
    assert_eq!(m_short["memory"]["state"], m_long["memory"]["state"]);
    assert_eq!(m_long["memory"]["state"], m_long["analytic"]["state"]);
}

#[test]
fn bench_reports_bandwidth_roofline_overhead_and_a_profile() {
    if !gpu_available() {
        return;
    }
    let j = json(&[
        "bench",
        &fixture("jamba-q4_0.gguf"),
        "--rows",
        "256",
        "--cols",
        "256",
        "--reps",
        "2",
        "--steps",
        "2",
        "--prefill",
        "40",
        "--json",
    ]);
    assert!(j["copy"]["gb_per_s"].as_f64().unwrap() > 0.0, "{j}");
    let matvec = j["matvec"].as_array().unwrap();
    assert_eq!(matvec.len(), 11);
    for m in matvec {
        assert!(m["fraction_of_copy"].as_f64().unwrap() > 0.0 && m["source"].is_string(), "{m}");
        // Every power of two up to one thread per block (at most 64), each timed, the runtime's among them.
        let sweep = m["by_row_threads"].as_array().unwrap();
        let swept: Vec<u64> = sweep.iter().map(|r| r["row_threads"].as_u64().unwrap()).collect();
        assert_eq!(swept, (0..swept.len()).map(|i| 1u64 << i).collect::<Vec<_>>(), "{m}");
        assert!(swept.contains(&m["row_threads"].as_u64().unwrap()), "{m}");
        assert!(sweep.iter().all(|r| r["gb_per_s"].as_f64().unwrap() > 0.0), "{m}");
    }
    // 256 columns: 64 vec4 blocks of f32 (up to 64 threads a row; the runtime takes 64 on a GPU, 2 on a
    // software adapter), one Q4_K super-block (one thread).
    let matvec_of = |kernel: &str| matvec.iter().find(|m| m["kernel"] == kernel).unwrap();
    let software = j["adapter"].as_str().unwrap().contains("llvmpipe");
    assert_eq!(matvec_of("matvec_f32")["row_threads"], if software { 2 } else { 64 });
    assert_eq!(matvec_of("matvec_f32")["by_row_threads"].as_array().unwrap().len(), 7);
    assert_eq!(matvec_of("matvec_q4_k")["row_threads"], 1);
    let model = &j["models"][0];
    assert_eq!(model["arch"], "jamba");
    for key in ["tokens_per_s", "roofline_tokens_per_s", "empty_dispatches_ms", "step_over_empty"] {
        assert!(model[key].as_f64().unwrap() > 0.0, "{key}: {model}");
    }
    // The host's part of a step is measured, and is part of the step, recorded ahead or in its turn.
    for (host, step) in [("host_ms", "ms_per_token"), ("host_ms_in_turn", "ms_per_token_in_turn")] {
        let h = model[host].as_f64().unwrap();
        assert!(h > 0.0 && h < model[step].as_f64().unwrap(), "{host}: {model}");
    }
    // The steps with the norms fused and apart, both timed: the default way is the steps above, and
    // keeping the norms apart costs dispatches.
    let (fused, apart) =
        (model["dispatches_fused_norms"].as_u64().unwrap(), model["dispatches_norms_apart"].as_u64().unwrap());
    assert!(apart > fused, "{model}");
    let way = if model["fused_norms"].as_bool().unwrap() { "fused_norms" } else { "norms_apart" };
    assert_eq!(model["dispatches_per_token"], model[format!("dispatches_{way}")], "{model}");
    assert_eq!(model["ms_per_token"], model[format!("ms_per_token_{way}")], "{model}");
    for key in ["ms_per_token_fused_norms", "ms_per_token_norms_apart"] {
        assert!(model[key].as_f64().unwrap() > 0.0, "{key}: {model}");
    }
    let profile = &model["profile"];
    assert_eq!(profile["dispatches"], model["dispatches_per_token"]);
    if profile["source"] == "gpu-timestamps" {
        let kernels = profile["kernels"].as_array().unwrap();
        let calls: u64 = kernels.iter().map(|k| k["calls"].as_u64().unwrap()).sum();
        assert_eq!(calls, model["dispatches_per_token"].as_u64().unwrap());
        assert!(kernels.iter().any(|k| k["kernel"] == "moe_norm_route"), "{profile}");
        // With the norms fused, every norm of a Jamba step is taken by the kernel after it: the normed
        // matvec twins (q/k/v, Mamba's in-projection, dense gate/up, output head), the router and the
        // scan. Apart (software adapters), the layers' norms are dispatches of their own.
        let has = |name: &str| kernels.iter().any(|k| k["kernel"] == name);
        let fused = model["fused_norms"].as_bool().unwrap();
        assert_eq!(has("matvec_conv_norm_q4_0"), fused, "{profile}");
        assert_eq!(has("norm"), !fused, "{profile}");
        let fixed = model["fixed_overhead_ms"].as_f64().unwrap();
        assert!(fixed >= 0.0 && fixed <= model["ms_per_token"].as_f64().unwrap(), "{model}");
        assert!(model["fixed_overhead_ratio"].as_f64().is_some(), "{model}");
    } else {
        assert!(model["fixed_overhead_ms"].is_null(), "{model}");
    }
    // The prefill from an empty context: timed, and profiled over its one chunk with the chunked kernels.
    let prefill = &model["prefill"];
    assert_eq!((prefill["tokens"].as_u64(), prefill["chunk"].as_u64()), (Some(40), Some(512)), "{prefill}");
    assert_eq!(prefill["batched"], true);
    let (ms, rate) = (prefill["ms"].as_f64().unwrap(), prefill["tokens_per_s"].as_f64().unwrap());
    assert!(ms > 0.0 && (rate - 40e3 / ms).abs() <= 1e-6 * rate, "{prefill}");
    let p = &prefill["profile"];
    if p["source"] == "gpu-timestamps" {
        let kernels = p["kernels"].as_array().unwrap();
        let calls: u64 = kernels.iter().map(|k| k["calls"].as_u64().unwrap()).sum();
        assert_eq!(calls, p["dispatches"].as_u64().unwrap(), "{p}");
        assert!(kernels.iter().any(|k| k["kernel"] == "matmul_q4_0"), "{p}");
    }
    // The runtime's matmul tile is named; the tiles are swept only when asked for.
    let tile = prefill["matmul_tile"].as_str().unwrap();
    assert_eq!(tile, if software { "64x64/16x16" } else { "64x64/4x4" }, "{prefill}");
    assert_eq!(prefill["by_matmul_tile"].as_array().map(Vec::len), Some(0), "{prefill}");
    // With --prefill 0, no prefill is timed.
    let j = json(&[
        "bench",
        &fixture("llama-q4_0.gguf"),
        "--rows",
        "256",
        "--cols",
        "256",
        "--reps",
        "1",
        "--steps",
        "1",
        "--prefill",
        "0",
        "--json",
    ]);
    assert!(j["models"][0]["prefill"].is_null(), "{j}");
}

/// `bench --matmul-tiles`: each model's prefill again on a device compiled for each tile the kernel takes.
#[test]
fn bench_times_the_prefill_with_every_matmul_tile() {
    if !gpu_available() {
        return;
    }
    let args = ["--rows", "256", "--cols", "256", "--reps", "1", "--steps", "1", "--matmul-tiles", "--json"];
    let j = json(&[&["bench", &fixture("llama-q4_0.gguf"), "--prefill", "24"][..], &args].concat());
    let tiles = j["models"][0]["prefill"]["by_matmul_tile"].as_array().unwrap();
    let names: Vec<&str> = tiles.iter().map(|t| t["matmul_tile"].as_str().unwrap()).collect();
    assert_eq!(names, ["64x64/4x4", "64x64/8x4", "64x64/4x8", "64x64/8x8", "32x32/4x4", "32x32/4x2"], "{j}");
    assert!(tiles.iter().all(|t| t["tokens_per_s"].as_f64().unwrap() > 0.0), "{j}");
    // Without a prefill to time, refused.
    let (code, _, err) = run(&[&["bench", &fixture("llama-q4_0.gguf"), "--prefill", "0"][..], &args].concat());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--matmul-tiles times the prefill"), "{err}");
}

#[test]
fn compare_checks_every_target_of_a_speed_run() {
    // One real run's files (tests/fixtures/speed-run/README.md): archrace and llama-bench on lavapipe.
    let files: Vec<String> = ["bench.json", "bench_big.json", "race.json", "llama_bench.jsonl"]
        .iter()
        .map(|f| fixture(&format!("speed-run/{f}")))
        .collect();
    let args: Vec<&str> = ["compare", "--json"].into_iter().chain(files.iter().map(String::as_str)).collect();
    let (code, out, err) = run(&args);
    // Lavapipe's matvecs are far from 0.70 of its copy bandwidth: a target is missed, exit code 1.
    assert_eq!(code, 1, "{err}");
    let checks: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let of = |target: &str| checks.iter().filter(|c| c["target"] == target).collect::<Vec<_>>();
    // Four encodings at two shapes, two depths for four models, pp and host for four models; all measured.
    let counts = ["matvec", "decode", "prefill", "host"].map(|t| of(t).len());
    assert_eq!(counts, [8, 8, 4, 4], "{out}");
    assert!(checks.iter().all(|c| c["met"].is_boolean()), "{out}");
    assert!(of("matvec").iter().all(|c| c["met"] == false), "{out}");

    // The ratios are the files' own figures divided: decode by the race row of the nearest context.
    let read = |f: &str| std::fs::read_to_string(fixture(&format!("speed-run/{f}"))).unwrap();
    let race: Vec<serde_json::Value> = serde_json::from_str(&read("race.json")).unwrap();
    let llama: Vec<serde_json::Value> =
        read("llama_bench.jsonl").lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let model_of =
        |t: &serde_json::Value| t["model_filename"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap();
    let mut expected = Vec::new();
    for t in llama.iter().filter(|t| t["n_gen"].as_u64() > Some(0)) {
        let depth = t["n_depth"].as_i64().unwrap();
        let row = race
            .iter()
            .filter(|r| r["model"].as_str() == Some(&model_of(t)))
            .min_by_key(|r| (r["context"].as_i64().unwrap() - depth).abs())
            .unwrap();
        expected.push(("decode", f(row, "tokens_per_s") / f(t, "avg_ts")));
    }
    for t in llama.iter().filter(|t| t["n_prompt"].as_u64() > Some(0)) {
        let first = race.iter().find(|r| r["model"].as_str() == Some(&model_of(t))).unwrap();
        expected.push(("prefill", f(first, "prefill_tokens_per_s") / f(t, "avg_ts")));
    }
    for (target, ratio) in expected {
        let found = of(target).iter().any(|c| (f(c, "ratio") - ratio).abs() <= 1e-9 * ratio);
        assert!(found, "{target} ratio {ratio} not in {out}");
    }

    // The text report: a table per target and the count.
    let text_args: Vec<&str> = args.iter().copied().filter(|a| *a != "--json").collect();
    let (code, text, _) = run(&text_args);
    assert_eq!(code, 1);
    assert!(text.contains("## decode:") && text.contains("| NO |"), "{text}");
    assert!(text.trim_end().ends_with("0 not measured"), "{text}");
    // Where each model's GPU time goes: a row per model of bench's file, its decode step's and its
    // prefill's dearest kernels.
    let bench: serde_json::Value = serde_json::from_str(&read("bench.json")).unwrap();
    for m in bench["models"].as_array().unwrap() {
        let name = m["model"].as_str().unwrap();
        let row = text.lines().find(|l| l.starts_with(&format!("| {name} | "))).unwrap_or_else(|| panic!("{text}"));
        let prefill = &m["prefill"];
        let top = |p: &serde_json::Value| p["kernels"][0]["kernel"].as_str().unwrap().to_string();
        let (step_top, prefill_top) = (top(&m["profile"]), top(&prefill["profile"]));
        let tokens = format!("{} tokens at {:.1} tok/s", prefill["tokens"], f(prefill, "tokens_per_s"));
        assert!(row.contains(&step_top) && row.contains(&prefill_top) && row.contains(&tokens), "{row}");
    }
    // Files of another kind are named errors.
    let (code, _, err) = run(&["compare", &fixture("llama-q4_0.logits.json")]);
    assert_eq!(code, 2);
    assert!(err.contains("llama-q4_0.logits.json"), "{err}");
}

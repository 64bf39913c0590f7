//! The `archrace` binary against hostile or careless input: each case must end with a clear message and
//! exit code 2 (or, for a reader that stopped reading, quietly), never a panic, a hang or a runaway read.

mod common;

use common::TempDir;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn fixture(name: &str) -> String {
    format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs archrace with `stdout`, killing it after `limit`; returns its output (a hang fails the test).
fn run_with(args: &[&str], stdout: Stdio, limit: Duration) -> Output {
    let mut child =
        Command::new(env!("CARGO_BIN_EXE_archrace")).args(args).stdout(stdout).stderr(Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().ok();
            panic!("{args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Runs archrace; returns (exit code, stderr). Every case must end within 60 s.
fn run(args: &[&str]) -> (i32, String) {
    let out = run_with(args, Stdio::null(), Duration::from_secs(60));
    (out.status.code().expect("exited, not killed by a signal"), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Asserts exit code 2, a message containing `needle`, and no panic.
fn refused(args: &[&str], needle: &str) {
    let (code, err) = run(args);
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    assert_eq!(code, 2, "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: expected {needle:?} in {err:?}");
}

#[cfg(unix)]
#[test]
fn paths_that_are_not_regular_files_are_refused_without_reading() {
    refused(&["inspect", "/dev/zero"], "not a regular file (a device)");
    refused(&["memory", "/dev/zero", "--context", "8"], "not a regular file (a device)");
    let dir = TempDir::new("hostile-special");
    refused(&["tokenize", dir.path().to_str().unwrap(), "--text", "a"], "not a regular file (a directory)");
    // A FIFO with no writer: opening it would block forever.
    let fifo = dir.path().join("model.gguf");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    refused(&["inspect", fifo.to_str().unwrap()], "not a regular file (a FIFO)");
}

#[test]
fn a_closed_pipe_ends_quietly_and_a_full_disk_is_an_error() {
    let model = fixture("llama-q8_0.gguf");
    // The read end is closed before archrace starts, so its first write fails with EPIPE.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    for args in [vec!["inspect", &model], vec!["inspect", &model, "--json"], vec!["tokenize", &model, "--text", "hi"]] {
        let out = run_with(&args, writer.try_clone().unwrap().into(), Duration::from_secs(60));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!((out.status.code(), err.as_ref()), (Some(0), ""), "{args:?}");
    }
    #[cfg(target_os = "linux")]
    for args in [vec!["inspect", &model], vec!["generate", &model, "--prompt", "hi", "-n", "2"]] {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let out = run_with(&args, full.into(), Duration::from_secs(60));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("cannot write output: No space left on device"), "{args:?}: {err}");
    }
}

#[test]
fn sampler_settings_out_of_range_are_named() {
    let m = fixture("llama-q8_0.gguf");
    for (flag, name) in [
        ("--temp=-1", "temperature"),
        ("--temp=NaN", "temperature"),
        ("--top-p=2", "top-p"),
        ("--min-p=5", "min-p"),
        ("--repeat-penalty=0", "repeat-penalty"),
    ] {
        refused(&["generate", &m, "--prompt", "a", "-n", "1", flag], &format!("archrace: {name}: "));
    }
}

#[test]
fn lengths_are_bounded_by_the_context() {
    let m = fixture("llama-q8_0.gguf"); // trained context: 2048 tokens
    refused(&["generate", &m, "--prompt", "a", "-n", "18446744073709551615"], "pass the model's context length, 2048");
    let long_prompt = "the king ".repeat(1500);
    refused(&["generate", &m, "--prompt", &long_prompt, "-n", "1"], "pass the model's context length, 2048");
    let many: Vec<String> = (0..2049).map(|i| (i % 200).to_string()).collect();
    refused(&["logits", &m, "--tokens", &many.join(",")], "more than the model's context length, 2048");
    refused(&["race", &m, "--backend", "cpu", "--context", "1000000000"], "past the longest race context, 262144");
    refused(&["race", &m, "--backend", "cpu", "--context", "0"], "at least 1 token");
    refused(&["race", &m, "--backend", "cpu", "--context", "16", "--new-tokens", "1000000"], "outside 1..=4096");
    refused(&["memory", &m, "--context", "18446744073709551615"], "does not fit in 64 bits");
}

/// The llama fixture with metadata entries replaced (or added).
fn llama_with(edit: &[(&str, archrace_gguf::Value)]) -> Vec<u8> {
    let bytes = std::fs::read(fixture("llama-f32.gguf")).unwrap();
    let g = archrace_gguf::Gguf::parse(&bytes).unwrap();
    let mut w = archrace_gguf::GgufWriter::new();
    for (k, v) in &g.metadata {
        w.metadata(k, edit.iter().find(|(key, _)| key == k).map_or(v.clone(), |(_, new)| new.clone()));
    }
    for (k, v) in edit.iter().filter(|(k, _)| g.get(k).is_none()) {
        w.metadata(k, v.clone());
    }
    for t in &g.tensors {
        w.tensor(&t.name, &t.dims, t.ty, g.tensor_data(t).to_vec());
    }
    w.to_bytes()
}

#[test]
fn file_text_is_escaped_for_the_terminal_and_a_short_tokenizer_is_refused() {
    use archrace_gguf::{Strings, Value};
    let name = "evil\u{1b}[2J\u{1b}]0;owned\u{7}";
    let dir = TempDir::new("hostile-text");
    let path = dir.file("escape.gguf", &llama_with(&[("general.name", Value::String(name.into()))]));
    let out = run_with(&["inspect", &path], Stdio::piped(), Duration::from_secs(60));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains('\u{1b}') && !text.contains('\u{7}'), "{text:?}");
    assert!(text.starts_with("evil\\u{1b}[2J\\u{1b}]0;owned\\u{7}  (llama"), "{text:?}");
    // 262 embedding rows, 200 tokens.
    let bytes = std::fs::read(fixture("llama-f32.gguf")).unwrap();
    let g = archrace_gguf::Gguf::parse(&bytes).unwrap();
    let tokens = g.get("tokenizer.ggml.tokens").unwrap().as_array().unwrap().as_strings().unwrap();
    let short: Strings = tokens.iter().take(200).collect();
    let types = g.get("tokenizer.ggml.token_type").cloned();
    drop(g);
    let mut edit = vec![("tokenizer.ggml.tokens", Value::Array(short.into()))];
    if let Some(Value::Array(t)) = types {
        let t: Vec<Value> = t.values().take(200).collect();
        let t: Vec<i32> = t.iter().map(|v| v.as_f64().unwrap() as i32).collect();
        edit.push(("tokenizer.ggml.token_type", Value::Array(t.into())));
    }
    let path = dir.file("short-vocab.gguf", &llama_with(&edit));
    refused(
        &["generate", &path, "--prompt", "a", "-n", "1"],
        "the tokenizer has 200 tokens but the model's embedding has 262 rows",
    );
}

#[test]
fn memory_names_a_file_that_is_neither_gguf_nor_a_config() {
    let dir = TempDir::new("hostile-kind");
    let path = dir.file("weights.safetensors", b"\x08\x00\x00\x00\x00\x00\x00\x00{}");
    refused(&["memory", &path, "--context", "8"], "neither a GGUF file");
    let path = dir.file("notes.txt", b"hello");
    refused(&["memory", &path, "--context", "8"], "neither a GGUF file");
    let path = dir.file("config.json", b"{\"model_type\": ");
    refused(&["memory", &path, "--context", "8"], "not valid JSON");
}

#[test]
fn gpu_benchmark_sizes_are_bounded_before_allocating() {
    // Without a GPU these end at "no adapter" instead; either way no 4 TB allocation, no panic.
    for (args, needle) in [
        (vec!["device", "--rows", "1000000", "--cols", "1000000"], "self-test needs 1 to"),
        (vec!["bench", "--rows", "1000000", "--cols", "1048576"], "does not fit the device's largest buffer"),
        (vec!["bench", "--context", "100000000"], "--context 100000000 is past 262144 tokens"),
        (vec!["bench", "--prefill", "100000000"], "--prefill 100000000 is past 262144 tokens"),
    ] {
        let (code, err) = run(&args);
        assert!(!err.contains("panicked") && !err.contains("memory allocation"), "{args:?}: {err}");
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle) || err.contains("adapter"), "{args:?}: {err}");
    }
}

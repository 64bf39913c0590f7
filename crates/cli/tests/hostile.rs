//! The `archrace` binary against hostile or careless input: each case must end with a clear message and
//! exit code 2 (or, for a reader that stopped reading, quietly), never a panic, a hang or a runaway read.

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
    let dir = std::env::temp_dir().join(format!("archrace-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    refused(&["tokenize", dir.to_str().unwrap(), "--text", "a"], "not a regular file (a directory)");
    // A FIFO with no writer: opening it would block forever.
    let fifo = dir.join("model.gguf");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    refused(&["inspect", fifo.to_str().unwrap()], "not a regular file (a FIFO)");
    std::fs::remove_dir_all(&dir).unwrap();
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

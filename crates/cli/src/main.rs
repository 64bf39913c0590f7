//! `archrace`: the native command line. Model commands (inspect, memory, tokenize, detokenize, logits,
//! generate, race) run on the CPU reference or, with `--backend gpu`, on our WGSL kernels; `device`
//! reports the GPU and checks a kernel on it. The interface is
//! stable: later tooling depends on it.

mod commands;

use clap::{Parser, Subcommand, ValueEnum};
use commands::OutputError;
use std::io::{ErrorKind, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "archrace", version, about = "Race Transformer, Mamba, RWKV and Jamba GGUF models on your GPU")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

use commands::engine::Backend;

/// KV cache element type for the calculator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KvTypeArg {
    /// 2 bytes per element.
    F16,
    /// 4 bytes per element.
    F32,
}

impl From<KvTypeArg> for archrace_model::KvType {
    fn from(k: KvTypeArg) -> Self {
        match k {
            KvTypeArg::F16 => archrace_model::KvType::F16,
            KvTypeArg::F32 => archrace_model::KvType::F32,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Architecture, per-layer kinds, dims, tensor types and the calculator's figures of a GGUF model.
    Inspect {
        /// The GGUF file.
        model: PathBuf,
        /// Context length for the memory figures (default: the model's training context, at most 4096).
        #[arg(long)]
        context: Option<u64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Parameters and memory (weights, KV cache, state, scratch) of a GGUF or a Hugging Face config.json.
    Memory {
        /// A GGUF file or a config.json.
        source: PathBuf,
        /// Context length.
        #[arg(long)]
        context: u64,
        /// KV cache element type.
        #[arg(long, value_enum, default_value = "f16")]
        kv_type: KvTypeArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Token ids of a text (no BOS unless --bos).
    Tokenize {
        /// The GGUF file (a vocab-only GGUF works).
        model: PathBuf,
        /// The text.
        #[arg(long)]
        text: String,
        /// Add BOS first.
        #[arg(long)]
        bos: bool,
        /// Treat special-token texts such as <|im_start|> as those tokens.
        #[arg(long)]
        special: bool,
        /// Print JSON with ids and token pieces.
        #[arg(long)]
        json: bool,
    },
    /// The text of token ids.
    Detokenize {
        /// The GGUF file.
        model: PathBuf,
        /// Comma-separated ids.
        #[arg(long, value_delimiter = ',')]
        ids: Vec<u32>,
    },
    /// Logits for every position of a token sequence.
    Logits {
        /// The GGUF file.
        model: PathBuf,
        /// Comma-separated token ids.
        #[arg(long, value_delimiter = ',')]
        tokens: Vec<u32>,
        /// Where to run.
        #[arg(long, value_enum, default_value = "cpu")]
        backend: Backend,
        /// KV cache element type on the GPU (f16 as llama.cpp's default; the CPU keeps f32).
        #[arg(long, value_enum, default_value = "f16")]
        kv_type: KvTypeArg,
        /// Print JSON (`{"logits": [[...], ...]}`).
        #[arg(long)]
        json: bool,
    },
    /// Generate text from a prompt.
    Generate {
        /// The GGUF file.
        model: PathBuf,
        /// The prompt (BOS is added as the model's metadata says).
        #[arg(long)]
        prompt: String,
        /// Tokens to generate.
        #[arg(short = 'n', long = "n-predict", default_value_t = 32)]
        n: usize,
        /// Temperature (0 = greedy).
        #[arg(long, default_value_t = 0.0)]
        temp: f32,
        /// Top-k (0 = off).
        #[arg(long, default_value_t = 40)]
        top_k: usize,
        /// Top-p (1 = off).
        #[arg(long, default_value_t = 0.95)]
        top_p: f32,
        /// Min-p (0 = off).
        #[arg(long, default_value_t = 0.05)]
        min_p: f32,
        /// Repetition penalty (1 = off).
        #[arg(long, default_value_t = 1.0)]
        repeat_penalty: f32,
        /// Seed of the sampler.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// KV cache element type on the GPU (f16 as llama.cpp's default; the CPU keeps f32).
        #[arg(long, value_enum, default_value = "f16")]
        kv_type: KvTypeArg,
        /// Stop at the end-of-sequence token.
        #[arg(long)]
        stop_at_eos: bool,
        /// Where to run.
        #[arg(long, value_enum, default_value = "cpu")]
        backend: Backend,
        /// Print JSON (`prompt_ids`, `ids`, `text`, timing).
        #[arg(long)]
        json: bool,
    },
    /// Race models: for each context length, fill the context, then time decode steps; report ms/token,
    /// tokens/s and memory by category (measured, and the calculator's figure).
    Race {
        /// GGUF files.
        #[arg(required = true)]
        models: Vec<PathBuf>,
        /// Context lengths, ascending.
        #[arg(long, value_delimiter = ',', default_value = "256,1024,4096")]
        context: Vec<usize>,
        /// Decode steps timed at each context length (the page's race times the same number).
        #[arg(long, default_value_t = archrace_model::race::DECODE_STEPS)]
        new_tokens: usize,
        /// Where to run.
        #[arg(long, value_enum, default_value = "gpu")]
        backend: Backend,
        /// KV cache element type on the GPU (f16 as llama.cpp's default; the CPU keeps f32).
        #[arg(long, value_enum, default_value = "f16")]
        kv_type: KvTypeArg,
        /// Also time the first context's fill one decode step per token (GPU), beside the prefill.
        #[arg(long)]
        compare_fill: bool,
        /// Print JSON rows.
        #[arg(long)]
        json: bool,
    },
    /// GPU figures: copy bandwidth, each matvec encoding's GB/s as a fraction of it, and per model decode
    /// tokens/s against the bytes-per-token roofline, per-token overhead against empty dispatches, prefill
    /// tokens/s, and per-kernel profiles of a decode step and of the prefill (GPU timestamps where the
    /// adapter has them).
    Bench {
        /// GGUF files to decode.
        models: Vec<PathBuf>,
        /// Rows of the matvec matrices.
        #[arg(long, default_value_t = 4096)]
        rows: usize,
        /// Columns of the matvec matrices (a multiple of 256).
        #[arg(long, default_value_t = 4096)]
        cols: usize,
        /// Dispatches per timed kernel.
        #[arg(long, default_value_t = 10)]
        reps: usize,
        /// Decode steps timed per model.
        #[arg(long, default_value_t = 16)]
        steps: usize,
        /// Context filled before timing the decode steps.
        #[arg(long, default_value_t = 0)]
        context: usize,
        /// Tokens of the timed and profiled prefill from an empty context, per model (0: none).
        #[arg(long, default_value_t = 512)]
        prefill: usize,
        /// Sum matvec rows in workgroup memory even where the device has subgroups (the portable twin
        /// every WebGPU device runs), to compare whole decode steps with and without them.
        #[arg(long)]
        no_subgroups: bool,
        /// Time each model's prefill again on a device compiled for each matmul tile the kernel takes
        /// (rows x tokens a workgroup, and a thread's share), to choose a GPU's tile from figures.
        #[arg(long)]
        matmul_tiles: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check the speed targets from one speed run's files: `bench --json` and `race --json` output beside
    /// llama.cpp's `llama-bench -o jsonl` on the same GGUF files (matvec fraction of copy, decode and
    /// prefill against llama.cpp, race against bench). Exit code 1 when a target is missed.
    Compare {
        /// The run's files, in any order (their kind is read from their content).
        files: Vec<PathBuf>,
        /// Print the checks as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the GPU adapter (name, backend, limits, features) and check a WGSL kernel against the CPU.
    Device {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Rows of the self-test matrix.
        #[arg(long, default_value_t = 1024)]
        rows: usize,
        /// Columns of the self-test matrix (a multiple of 32).
        #[arg(long, default_value_t = 1024)]
        cols: usize,
        /// Seed of the self-test data.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Inspect { model, context, json } => commands::inspect(&model, context, json),
        Command::Memory { source, context, kv_type, json } => commands::memory(&source, context, kv_type, json),
        Command::Tokenize { model, text, bos, special, json } => commands::tokenize(&model, &text, bos, special, json),
        Command::Detokenize { model, ids } => commands::detokenize(&model, &ids),
        Command::Logits { model, tokens, backend, kv_type, json } => {
            commands::logits(&model, &tokens, backend, kv_type.into(), json)
        }
        Command::Generate {
            model,
            prompt,
            n,
            temp,
            top_k,
            top_p,
            min_p,
            repeat_penalty,
            seed,
            kv_type,
            stop_at_eos,
            backend,
            json,
        } => {
            let config = archrace_model::SamplerConfig {
                temperature: temp,
                top_k,
                top_p,
                min_p,
                repeat_penalty,
                repeat_last_n: 64,
                seed,
            };
            commands::generate(&model, &prompt, n, config, stop_at_eos, backend, kv_type.into(), json)
        }
        Command::Race { models, context, new_tokens, backend, kv_type, compare_fill, json } => {
            commands::race(&models, &context, new_tokens, backend, kv_type.into(), compare_fill, json)
        }
        Command::Bench { models, rows, cols, reps, steps, context, prefill, no_subgroups, matmul_tiles, json } => {
            let shape = commands::BenchShape { rows, cols, reps, steps, context, prefill };
            commands::bench(&models, shape, !no_subgroups, matmul_tiles, json)
        }
        Command::Compare { files, json } => commands::compare(&files, json),
        Command::Device { json, rows, cols, seed } => commands::device(json, rows, cols, seed),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        // A reader that stopped reading (`| head`) is not an error: end quietly, as grep and ripgrep do.
        Err(e) if e.downcast_ref::<OutputError>().is_some_and(|o| o.0.kind() == ErrorKind::BrokenPipe) => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr().lock(), "archrace: {e}");
            ExitCode::from(2)
        }
    }
}

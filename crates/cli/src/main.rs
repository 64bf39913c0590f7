//! `archrace`: the native command line. For now it reports the GPU and checks a kernel on it; the model
//! commands (inspect, memory, tokenize, logits, generate, race) build on the same crates.

use archrace_gpu::{matvec_q8_0_selftest, GpuContext};
use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "archrace", version, about = "Race Transformer, Mamba, RWKV and Jamba GGUF models on your GPU")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    let cli = Cli::parse();
    match cli.command {
        Command::Device { json, rows, cols, seed } => match pollster::block_on(device(json, rows, cols, seed)) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(e) => {
                eprintln!("archrace: {e}");
                ExitCode::from(2)
            }
        },
    }
}

/// Prints the adapter report and the self-test; returns whether the self-test passed.
async fn device(json: bool, rows: usize, cols: usize, seed: u64) -> Result<bool, archrace_gpu::GpuError> {
    let ctx = GpuContext::new().await?;
    let report = matvec_q8_0_selftest(&ctx, rows, cols, seed).await?;
    if json {
        let out = serde_json::json!({ "adapter": ctx.report, "selftest": report });
        println!("{}", serde_json::to_string_pretty(&out).expect("serializable"));
    } else {
        let a = &ctx.report;
        let l = &a.limits;
        println!("adapter   {} ({}, {})", a.name, a.backend, a.device_type);
        println!("driver    {}", a.driver);
        println!(
            "features  shader-f16 {}  subgroups {}  timestamp-query {}",
            a.shader_f16, a.subgroups, a.timestamp_query
        );
        println!(
            "limits    storage binding {} MiB, buffer {} MiB, {} storage buffers/stage, {} B workgroup memory, {} invocations/workgroup",
            l.max_storage_buffer_binding_size >> 20,
            l.max_buffer_size >> 20,
            l.max_storage_buffers_per_shader_stage,
            l.max_compute_workgroup_storage_size,
            l.max_compute_invocations_per_workgroup
        );
        println!(
            "selftest  {} {}x{} seed {}: {}  max |gpu-cpu| {:.3e} ({:.3e} relative)  gpu {:.3} ms ({})  cpu {:.3} ms",
            report.kernel,
            report.rows,
            report.cols,
            report.seed,
            if report.pass { "PASS" } else { "FAIL" },
            report.max_abs_diff,
            report.max_rel_diff,
            report.gpu_ms,
            report.timing_source,
            report.cpu_ms
        );
        if let Some(m) = &report.mismatch {
            println!("          {m}");
        }
    }
    Ok(report.pass)
}

//! `archrace bench`: the adapter's copy bandwidth; every matvec encoding's effective bandwidth as a
//! fraction of it; and, per model, decode speed against the bytes-per-token roofline, the fixed
//! per-token overhead against the same number of empty dispatches, and where a step's time goes; and
//! prefill tokens/s from an empty context, with where the prefill's time goes.

use super::{median, outln, print_json, read, CmdResult};
use archrace_cpu::{CpuModel, SplitMix64};
use archrace_gguf::{GgmlType, Gguf};
use archrace_gpu::bench::{copy_bandwidth, empty_dispatches_ms, matvec_bandwidth, KernelBench};
use archrace_gpu::kernels::matmul::{MatmulTile, MATMUL_TILES};
use archrace_gpu::kernels::matvec::{kernel_block, row_threads, MatvecLimits, ROW_THREADS};
use archrace_gpu::runtime::{StepProfile, TimingSource};
use archrace_gpu::{ContextOptions, GpuContext, GpuError, GpuModel, GpuState, PrefillLogits, StepOutput};
use archrace_model::calc::{self, KvType};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Serialize)]
struct MatvecRow {
    #[serde(flatten)]
    bench: KernelBench,
    fraction_of_copy: f64,
    /// Where the device sums rows with subgroup shuffles: the same product with the portable
    /// workgroup-memory twin (a second device on the adapter), in the same run.
    portable_gb_per_s: Option<f64>,
    /// Threads per row group the runtime gives this shape on this device ([`MatvecLimits::row_threads`]:
    /// one per block up to 64, or up to 2 on a software adapter).
    row_threads: usize,
    /// The same product with every choice of threads per row group up to one per block (or 64; fewer
    /// threads, each taking more blocks), in the same run: what a device's run says about the runtime's
    /// choice.
    by_row_threads: Vec<RowThreadsRow>,
}

#[derive(Serialize)]
struct RowThreadsRow {
    row_threads: usize,
    gb_per_s: f64,
}

#[derive(Serialize)]
struct ModelRow {
    model: String,
    arch: String,
    context: usize,
    ms_per_token: f64,
    tokens_per_s: f64,
    bytes_per_token: u64,
    roofline_tokens_per_s: f64,
    fraction_of_roofline: f64,
    dispatches_per_token: usize,
    empty_dispatches_ms: f64,
    /// The whole step against the empty dispatches.
    step_over_empty: f64,
    /// The step's time outside its kernels (wall clock minus the kernels' GPU time, from timestamps):
    /// submission, scheduling, gaps between dispatches and the token's read-back. None without timestamps.
    fixed_overhead_ms: Option<f64>,
    /// `fixed_overhead_ms` against the empty dispatches (target: at most 2).
    fixed_overhead_ratio: Option<f64>,
    /// Host time per step before the GPU can start (median): writing the token and submitting the step
    /// recorded while the one before it ran. Part of `ms_per_token` no faster GPU removes.
    host_ms: f64,
    /// Steps each recorded in its own turn (`StepWork::record_ahead` off), timed in blocks alternating with
    /// the others: median ms per token, and host time before the GPU can start (writing, recording,
    /// encoding and submitting).
    ms_per_token_in_turn: f64,
    host_ms_in_turn: f64,
    /// Whether the steps above compute each RMSNorm in the product after it (the normed matvec twins),
    /// this device's default (`GpuModel::fused_norms`), or keep each norm a dispatch of its own.
    fused_norms: bool,
    /// Steps with the norms fused and apart (one of them the steps above; the other way timed in blocks
    /// rotating with the others): median ms per token, and the dispatches a step takes.
    ms_per_token_fused_norms: f64,
    dispatches_fused_norms: usize,
    ms_per_token_norms_apart: f64,
    dispatches_norms_apart: usize,
    profile: Option<StepProfile>,
    /// The prefill from an empty context (`--prefill` tokens), when asked for.
    prefill: Option<PrefillRow>,
}

/// A prefill of `tokens` tokens into an empty state, timed as `race` times its fill: from the call to the
/// last token's logits on the host.
#[derive(Serialize)]
struct PrefillRow {
    tokens: usize,
    /// Tokens per chunk (one submit each).
    chunk: usize,
    /// Whether the model runs the batched kernels ([`GpuModel::prefill_is_batched`]) or the decode step.
    batched: bool,
    /// Median of [`PREFILL_RUNS`] runs after a warm-up.
    ms: f64,
    tokens_per_s: f64,
    /// One more run with every dispatch timed (a pass each, so a little slower than unprofiled).
    profile: Option<StepProfile>,
    /// The `matmul` tile the device takes ([`MatmulTile::of`]).
    matmul_tile: String,
    /// With `--matmul-tiles`: the same prefill on a device compiled for each tile of [`MATMUL_TILES`]
    /// (unprofiled), for choosing a GPU's tile from figures.
    by_matmul_tile: Vec<MatmulTileRow>,
}

#[derive(Serialize)]
struct MatmulTileRow {
    matmul_tile: String,
    tokens_per_s: f64,
}

/// Timed prefills per model (after one warm-up).
const PREFILL_RUNS: usize = 3;

/// What `bench` measures: the matvec shape and repetitions, and per model the decode steps timed, the
/// context filled before them and the tokens of the prefill timed.
pub struct BenchShape {
    pub rows: usize,
    pub cols: usize,
    pub reps: usize,
    pub steps: usize,
    pub context: usize,
    pub prefill: usize,
}

/// Prefills `tokens` into fresh states: a warm-up (the chunk's buffers are made, each kernel's first use),
/// [`PREFILL_RUNS`] timed runs and, when `profiled`, a profiled one.
fn time_prefill(
    ctx: &GpuContext,
    model: &GpuModel,
    tokens: &[u32],
    profiled: bool,
) -> Result<PrefillRow, Box<dyn std::error::Error>> {
    let run = |profile: bool| -> Result<(f64, GpuState), GpuError> {
        let mut state = model.new_state(ctx)?;
        state.work.profile = profile;
        let start = Instant::now();
        pollster::block_on(model.prefill(ctx, &mut state, tokens, PrefillLogits::Last))?;
        Ok((start.elapsed().as_secs_f64() * 1e3, state))
    };
    let (_, warm) = run(false)?;
    let chunk = warm.work.prefill.as_ref().map_or(1, |p| p.chunk);
    drop(warm);
    let mut times = Vec::with_capacity(PREFILL_RUNS);
    for _ in 0..PREFILL_RUNS {
        times.push(run(false)?.0);
    }
    let profile = match profiled {
        true => run(true)?.1.work.last_profile.take(),
        false => None,
    };
    let ms = median(times);
    Ok(PrefillRow {
        tokens: tokens.len(),
        chunk,
        batched: model.prefill_is_batched(),
        ms,
        tokens_per_s: tokens.len() as f64 * 1e3 / ms,
        profile,
        matmul_tile: MatmulTile::of(ctx.shader_target()).to_string(),
        by_matmul_tile: Vec::new(),
    })
}

/// `tokens`' prefill of `cpu`'s model on a device compiled for each of `tiles`, unprofiled.
fn prefill_by_matmul_tile(
    tiles: &[(MatmulTile, GpuContext)],
    cpu: &CpuModel,
    tokens: &[u32],
) -> Result<Vec<MatmulTileRow>, Box<dyn std::error::Error>> {
    let mut rows = Vec::with_capacity(tiles.len());
    for (tile, ctx) in tiles {
        let model = pollster::block_on(GpuModel::new(ctx, &cpu.spec, &cpu.weights))?;
        let row = time_prefill(ctx, &model, tokens, false)?;
        rows.push(MatmulTileRow { matmul_tile: tile.to_string(), tokens_per_s: row.tokens_per_s });
    }
    Ok(rows)
}

#[derive(Serialize)]
struct Report {
    adapter: String,
    backend: String,
    /// How the matvecs add a row's partial sums ([`archrace_gpu::AdapterReport::row_sums`]).
    row_sums: String,
    /// The matvec matrices' shape.
    rows: usize,
    cols: usize,
    copy: KernelBench,
    matvec: Vec<MatvecRow>,
    models: Vec<ModelRow>,
}

/// `archrace bench`; with `matmul_tiles`, each model's prefill again on a device for each tile of
/// [`MATMUL_TILES`].
pub fn bench(models: &[PathBuf], shape: BenchShape, subgroups: bool, matmul_tiles: bool, json: bool) -> CmdResult {
    let BenchShape { rows, cols, reps, steps, context, prefill } = shape;
    if matmul_tiles && prefill == 0 {
        return Err("--matmul-tiles times the prefill: give --prefill a token count".into());
    }
    if rows == 0 || cols == 0 || !cols.is_multiple_of(256) || reps == 0 || steps == 0 {
        return Err("--rows and --reps and --steps must be positive and --cols a multiple of 256".into());
    }
    for (flag, n) in [("--context", context), ("--prefill", prefill)] {
        if n > archrace_model::race::MAX_CONTEXT {
            return Err(format!("{flag} {n} is past {} tokens", archrace_model::race::MAX_CONTEXT).into());
        }
    }
    let ctx = pollster::block_on(GpuContext::with_options(ContextOptions { subgroups, ..Default::default() }))?;
    // With subgroup row sums, the portable twin's matvecs too, for a ratio measured in one run.
    let portable = match ctx.shader_target().subgroups() {
        true => Some(pollster::block_on(GpuContext::with_options(ContextOptions {
            subgroups: false,
            ..Default::default()
        }))?),
        false => None,
    };
    let limit = ctx.report.limits.max_buffer_size;
    let Some(matrix_bytes) = rows.checked_mul(cols).and_then(|n| n.checked_mul(4)).filter(|&b| b as u64 <= limit)
    else {
        return Err(
            format!("a {rows} x {cols} f32 matrix does not fit the device's largest buffer, {limit} bytes").into()
        );
    };
    let copy = pollster::block_on(copy_bandwidth(&ctx, matrix_bytes as u64, reps))?;
    let mut rng = SplitMix64::new(1);
    let mut matvec = Vec::new();
    for ty in GgmlType::ALL {
        let bytes = ty.row_bytes(cols as u64).expect("whole blocks") as usize * rows;
        let mut w: Vec<u8> = (0..bytes).map(|_| rng.next_u64() as u8).collect();
        if matches!(ty, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16) {
            w.iter_mut().skip(1).step_by(2).for_each(|b| *b &= 0x3f); // finite values
        }
        // The runtime's choice on this device, then every choice up to one thread per block (or 64).
        let blocks = cols / kernel_block(ty);
        let chosen = MatvecLimits::of(&ctx).row_threads(blocks);
        let sweep: Vec<usize> = ROW_THREADS.into_iter().filter(|&rt| rt <= row_threads(blocks)).collect();
        let runs: Vec<Option<usize>> = std::iter::once(None).chain(sweep.iter().copied().map(Some)).collect();
        let mut timed = pollster::block_on(matvec_bandwidth(&ctx, ty, (rows, cols), reps, &w, &runs))?.into_iter();
        let bench = timed.next().expect("one run per entry");
        let by_row_threads = sweep
            .into_iter()
            .zip(timed)
            .map(|(rt, b)| RowThreadsRow { row_threads: rt, gb_per_s: b.gb_per_s })
            .collect();
        let fraction_of_copy = bench.gb_per_s / copy.gb_per_s;
        let portable_gb_per_s = match &portable {
            Some(p) => Some(pollster::block_on(matvec_bandwidth(p, ty, (rows, cols), reps, &w, &[None]))?[0].gb_per_s),
            None => None,
        };
        matvec.push(MatvecRow { bench, fraction_of_copy, portable_gb_per_s, row_threads: chosen, by_row_threads });
    }
    let tile_devices = match matmul_tiles {
        true => MATMUL_TILES
            .into_iter()
            .map(|tile| {
                let options = ContextOptions { subgroups, matmul_tile: Some(tile), ..Default::default() };
                Ok((tile, pollster::block_on(GpuContext::with_options(options))?))
            })
            .collect::<Result<Vec<_>, GpuError>>()?,
        false => Vec::new(),
    };
    let mut model_rows = Vec::new();
    for path in models {
        let bytes = read(path)?;
        let g = Gguf::parse(&bytes)?;
        let cpu = CpuModel::from_gguf(&g)?;
        let mut model = pollster::block_on(GpuModel::new(&ctx, &cpu.spec, &cpu.weights))?;
        let ids = |n: usize| (0..n).map(|i| (i % cpu.spec.n_vocab) as u32).collect::<Vec<u32>>();
        let prefill = match prefill {
            0 => None,
            n => {
                let tokens = ids(n);
                let mut row = time_prefill(&ctx, &model, &tokens, true)?;
                row.by_matmul_tile = prefill_by_matmul_tile(&tile_devices, &cpu, &tokens)?;
                Some(row)
            }
        };
        let mut state = model.new_state(&ctx)?;
        for t in ids(context) {
            pollster::block_on(model.step(&ctx, &mut state, Some(t), StepOutput::Nothing))?;
        }
        // Three ways, in rotating blocks over the same stretch of context: each step recorded while the one
        // before it runs (the default), each recorded in its own turn (for what recording ahead saves on
        // this device), and the default with the norms the other way than this device's default (fused
        // into the products after them, or each a dispatch of its own: for what the normed matvec twins
        // save). A block's first step straddles the switch and is not timed.
        let fused_norms = model.fused_norms();
        const BLOCK: usize = 4;
        let mut token = 1u32;
        let mut ways: [(Vec<f64>, Vec<f64>); 3] = Default::default();
        for block in 0.. {
            if ways.iter().all(|(times, _)| times.len() >= steps) {
                break;
            }
            let way = block % 3;
            let (times, host) = &mut ways[way];
            if times.len() >= steps {
                continue;
            }
            state.work.record_ahead = way != 1;
            model.set_fused_norms(fused_norms != (way == 2));
            for i in 0..BLOCK {
                let start = Instant::now();
                token = pollster::block_on(model.greedy(&ctx, &mut state, Some(token)))?;
                if i > 0 {
                    times.push(start.elapsed().as_secs_f64() * 1e3);
                    host.push(state.work.last_host_ms);
                }
            }
        }
        let [ahead, in_turn, other_norms] = ways;
        let (ms, host_ms) = (median(ahead.0), median(ahead.1));
        let (ms_in_turn, host_ms_in_turn) = (median(in_turn.0), median(in_turn.1));
        model.set_fused_norms(!fused_norms);
        let (ms_other_norms, dispatches_other_norms) = (median(other_norms.0), model.step_dispatches(&state));
        model.set_fused_norms(fused_norms);
        state.work.record_ahead = true;
        let timed_context = state.pos;
        let dispatches = model.step_dispatches(&state);
        let (fused, apart) = match fused_norms {
            true => ((ms, dispatches), (ms_other_norms, dispatches_other_norms)),
            false => ((ms_other_norms, dispatches_other_norms), (ms, dispatches)),
        };
        let empty = pollster::block_on(empty_dispatches_ms(&ctx, dispatches))?;
        // Profiled steps (a pass per dispatch, timestamps around each): the kernels' GPU time is the
        // median over as many steps as were timed, up to 8, like the wall time it is subtracted from.
        state.work.profile = true;
        let (mut kernel_ms, mut profile) = (Vec::new(), None);
        for _ in 0..steps.min(8) {
            token = pollster::block_on(model.greedy(&ctx, &mut state, Some(token)))?;
            if let Some(p) = state.work.last_profile.take() {
                kernel_ms.push(p.gpu_ms);
                profile = Some(p);
            }
        }
        state.work.profile = false;
        // Bytes a token must read: the active weights (MoE: top-k experts) and the KV cache so far.
        let report = calc::report(&cpu.spec, Some(&g), timed_context as u64, KvType::F32)?;
        let active =
            (report.weight_bytes as f64 * report.params_active as f64 / report.params_total.max(1) as f64) as u64;
        let bytes_per_token = active + report.kv_cache_bytes + report.state_bytes;
        let roofline = copy.gb_per_s * 1e9 / bytes_per_token as f64;
        let tokens_per_s = 1e3 / ms;
        let timestamps = profile.as_ref().is_some_and(|p| p.source == TimingSource::GpuTimestamps);
        let fixed_overhead_ms = timestamps.then(|| (ms - median(kernel_ms)).max(0.0));
        model_rows.push(ModelRow {
            model: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            arch: format!("{:?}", cpu.spec.arch).to_lowercase(),
            context: timed_context,
            ms_per_token: ms,
            tokens_per_s,
            bytes_per_token,
            roofline_tokens_per_s: roofline,
            fraction_of_roofline: tokens_per_s / roofline,
            dispatches_per_token: dispatches,
            empty_dispatches_ms: empty,
            step_over_empty: ms / empty,
            fixed_overhead_ms,
            fixed_overhead_ratio: fixed_overhead_ms.map(|f| f / empty),
            host_ms,
            ms_per_token_in_turn: ms_in_turn,
            host_ms_in_turn,
            fused_norms,
            ms_per_token_fused_norms: fused.0,
            dispatches_fused_norms: fused.1,
            ms_per_token_norms_apart: apart.0,
            dispatches_norms_apart: apart.1,
            profile,
            prefill,
        });
    }
    let report = Report {
        adapter: ctx.report.name.clone(),
        backend: ctx.report.backend.clone(),
        row_sums: ctx.report.row_sums.clone(),
        rows,
        cols,
        copy,
        matvec,
        models: model_rows,
    };
    if json {
        print_json(&report)?;
        return Ok(true);
    }
    outln!("adapter: {} ({}); matvec row sums: {}", report.adapter, report.backend, report.row_sums)?;
    let c = &report.copy;
    outln!("copy {:>12} bytes {:>9.3} ms {:>8.2} GB/s   [{:?}]", c.bytes, c.ms, c.gb_per_s, c.source)?;
    for m in &report.matvec {
        let b = &m.bench;
        let portable = match m.portable_gb_per_s {
            Some(p) => format!("   workgroup row sums {p:>8.2} GB/s (subgroup/workgroup {:.2}x)", b.gb_per_s / p),
            None => String::new(),
        };
        outln!(
            "{:<14} {:>10} bytes {:>9.3} ms {:>8.2} GB/s {:>6.1}% of copy   [{:?}]{portable}",
            b.kernel,
            b.bytes,
            b.ms,
            b.gb_per_s,
            100.0 * m.fraction_of_copy,
            b.source
        )?;
        let sweep: Vec<String> =
            m.by_row_threads.iter().map(|r| format!("{}: {:.2}", r.row_threads, r.gb_per_s)).collect();
        outln!("{:<14} GB/s by threads per row {} (the runtime's: {})", "", sweep.join(", "), m.row_threads)?;
    }
    for m in &report.models {
        outln!(
            "{} ({}) ctx {}: {:.3} ms/token, {:.1} tok/s; roofline {:.1} tok/s ({} bytes/token), {:.1}% of it; \
             {} dispatches/token, empty dispatches {:.3} ms, step/empty {:.2}x, fixed overhead {}; host {:.3} ms \
             before the GPU starts; each step recorded in its turn: {:.3} ms/token, host {:.3} ms; norms {} by \
             default; fused into the products after them {:.3} ms/token ({} dispatches), each a dispatch of its \
             own {:.3} ms/token ({} dispatches): fused/apart {:.2}x",
            m.model,
            m.arch,
            m.context,
            m.ms_per_token,
            m.tokens_per_s,
            m.roofline_tokens_per_s,
            m.bytes_per_token,
            100.0 * m.fraction_of_roofline,
            m.dispatches_per_token,
            m.empty_dispatches_ms,
            m.step_over_empty,
            match (m.fixed_overhead_ms, m.fixed_overhead_ratio) {
                (Some(ms), Some(r)) => format!("{ms:.3} ms = {r:.2}x empty (target <= 2x)"),
                _ => "n/a (no timestamps)".to_string(),
            },
            m.host_ms,
            m.ms_per_token_in_turn,
            m.host_ms_in_turn,
            if m.fused_norms { "fused" } else { "apart" },
            m.ms_per_token_fused_norms,
            m.dispatches_fused_norms,
            m.ms_per_token_norms_apart,
            m.dispatches_norms_apart,
            m.ms_per_token_fused_norms / m.ms_per_token_norms_apart
        )?;
        if let Some(p) = &m.profile {
            outln!("  step profile {}", profile_line(p))?;
        }
        if let Some(p) = &m.prefill {
            outln!(
                "  prefill {} tokens ({}, chunks of {}): {:.3} ms, {:.1} tok/s",
                p.tokens,
                if p.batched { "batched" } else { "token by token" },
                p.chunk,
                p.ms,
                p.tokens_per_s
            )?;
            if let Some(profile) = &p.profile {
                outln!("  prefill profile {}", profile_line(profile))?;
            }
            if !p.by_matmul_tile.is_empty() {
                let tiles: Vec<String> =
                    p.by_matmul_tile.iter().map(|t| format!("{}: {:.1}", t.matmul_tile, t.tokens_per_s)).collect();
                outln!("  prefill tok/s by matmul tile {} (the runtime's: {})", tiles.join(", "), p.matmul_tile)?;
            }
        }
    }
    Ok(true)
}

/// A profile in one line: where its figures come from, the GPU time and dispatches, the six dearest kernels.
fn profile_line(p: &StepProfile) -> String {
    let top: Vec<String> =
        p.kernels.iter().take(6).map(|k| format!("{} {:.3} ms x{}", k.kernel, k.ms, k.calls)).collect();
    format!("[{:?}] gpu {:.3} ms, {} dispatches: {}", p.source, p.gpu_ms, p.dispatches, top.join(", "))
}

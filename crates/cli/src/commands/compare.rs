//! `archrace compare`: the speed targets of issues 13 and 14, checked from the files of one speed run:
//! `archrace bench --json` and `archrace race --json` output, and llama.cpp's `llama-bench -o jsonl` on the
//! same GGUF files (matched by file name). Every figure is a ratio of two measured in that run:
//! - matvec: Q8_0, Q4_0, Q4_K and Q6_K at least 0.70 of the copy bandwidth (`bench`, per matrix shape);
//! - decode: `race` tokens/s at least llama.cpp's tg at the same depth (the race row whose context is
//!   nearest, within [`context_near`]);
//! - prefill: `race`'s fill from an empty context at least half of llama.cpp's pp at depth 0;
//! - host overhead: `race` ms/token (wall clock, sampling and read-back included) at most 1.10 of `bench`'s
//!   step time for the same model at a near context.
//!
//! A target with no figure on one side is listed as not measured, never as met. The text report ends with
//! where each model's GPU time goes (the decode step's and the prefill's profiles in `bench`'s file), so
//! a missed target comes with the kernels to look at.

use super::{outln, print_json, read, CmdResult};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Encodings whose matvec has the bandwidth target (the ones real models use).
const MATVEC_TARGETS: [&str; 4] = ["q8_0", "q4_0", "q4_k", "q6_k"];

/// A speed target: which ratio it checks, and its goal.
#[derive(Serialize, Debug, PartialEq, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// Matvec GB/s over copy GB/s.
    Matvec,
    /// race tokens/s over llama.cpp's tg tokens/s.
    Decode,
    /// race's fill tokens/s over llama.cpp's pp tokens/s.
    Prefill,
    /// race ms/token over bench's (the only goal that is a ceiling).
    Host,
}

impl Target {
    const ALL: [Target; 4] = [Target::Matvec, Target::Decode, Target::Prefill, Target::Host];

    fn goal(self) -> f64 {
        match self {
            Target::Matvec => 0.70,
            Target::Decode => 1.0,
            Target::Prefill => 0.5,
            Target::Host => 1.10,
        }
    }

    fn met(self, ratio: f64) -> bool {
        match self {
            Target::Host => ratio <= self.goal(),
            _ => ratio >= self.goal(),
        }
    }

    /// The report's heading for the target's table.
    fn heading(self) -> String {
        let (what, ratio) = match self {
            Target::Matvec => ("matvec", "GB/s over copy GB/s"),
            Target::Decode => ("decode", "archrace race tokens/s over llama.cpp tg tokens/s"),
            Target::Prefill => ("prefill", "archrace race fill tokens/s over llama.cpp pp tokens/s"),
            Target::Host => ("host overhead", "race ms/token over bench ms/token"),
        };
        let bound = if self == Target::Host { "<=" } else { ">=" };
        format!("{what}: {ratio} (target {bound} {:.2})", self.goal())
    }
}

/// `archrace bench --json`, the fields compared.
#[derive(Deserialize)]
struct BenchFile {
    adapter: String,
    /// Absent in files written before `bench` printed the shape.
    rows: Option<usize>,
    cols: Option<usize>,
    copy: BenchCopy,
    matvec: Vec<BenchMatvec>,
    models: Vec<BenchModel>,
}

#[derive(Deserialize)]
struct BenchCopy {
    gb_per_s: f64,
}

#[derive(Deserialize)]
struct BenchMatvec {
    kernel: String,
    gb_per_s: f64,
    /// The runtime's threads per row group, and the product timed with each choice up to it (absent in
    /// files written before `bench` timed them).
    row_threads: Option<usize>,
    #[serde(default)]
    by_row_threads: Vec<BenchRowThreads>,
}

#[derive(Deserialize)]
struct BenchRowThreads {
    row_threads: usize,
    gb_per_s: f64,
}

impl BenchMatvec {
    /// The fastest choice of threads per row group where another than the runtime's was faster, as it
    /// reads in a check: "(threads per row: the runtime's 64; 16 gave 0.81 of copy)".
    fn faster_row_threads(&self, copy_gb_per_s: f64) -> String {
        let best = self.by_row_threads.iter().max_by(|a, b| a.gb_per_s.total_cmp(&b.gb_per_s));
        match (self.row_threads, best) {
            (Some(chosen), Some(b)) if b.row_threads != chosen && b.gb_per_s > self.gb_per_s => format!(
                " (threads per row: the runtime's {chosen}; {} gave {:.2} of copy)",
                b.row_threads,
                b.gb_per_s / copy_gb_per_s
            ),
            _ => String::new(),
        }
    }
}

#[derive(Deserialize)]
struct BenchModel {
    model: String,
    context: usize,
    ms_per_token: f64,
    /// The decode step's profile.
    profile: Option<BenchProfile>,
    /// Absent in files written before `bench` timed a prefill.
    prefill: Option<BenchPrefill>,
}

#[derive(Deserialize)]
struct BenchPrefill {
    tokens: usize,
    tokens_per_s: f64,
    profile: Option<BenchProfile>,
}

#[derive(Deserialize)]
struct BenchProfile {
    gpu_ms: f64,
    dispatches: usize,
    kernels: Vec<BenchKernel>,
}

#[derive(Deserialize)]
struct BenchKernel {
    kernel: String,
    calls: usize,
    ms: f64,
}

impl BenchProfile {
    /// GPU time and dispatches, then the `n` dearest kernels with their share of the GPU time.
    fn summary(&self, n: usize) -> String {
        let top: Vec<String> = self
            .kernels
            .iter()
            .take(n)
            .map(|k| format!("{} x{} {:.0}%", k.kernel, k.calls, 100.0 * k.ms / self.gpu_ms.max(f64::MIN_POSITIVE)))
            .collect();
        match top.is_empty() {
            true => format!("{} dispatches (no timestamps)", self.dispatches),
            false => format!("{:.3} ms GPU, {} dispatches: {}", self.gpu_ms, self.dispatches, top.join(", ")),
        }
    }
}

/// Where each model's GPU time goes, from the bench files: a markdown table (empty when no file has a
/// profile).
fn profiles(inputs: &[Input]) -> String {
    let mut rows = String::new();
    for b in inputs.iter().filter_map(|i| if let Input::Bench(b) = i { Some(b) } else { None }) {
        for m in &b.models {
            let step = m.profile.as_ref().map_or("-".into(), |p| p.summary(4));
            let prefill = m.prefill.as_ref().map_or("-".into(), |p| {
                let profile = p.profile.as_ref().map_or(String::new(), |p| format!("; {}", p.summary(4)));
                format!("{} tokens at {:.1} tok/s{profile}", p.tokens, p.tokens_per_s)
            });
            rows += &format!("| {} | {} | {step} | {prefill} |\n", m.model, m.context);
        }
    }
    match rows.is_empty() {
        true => rows,
        false => format!(
            "\n## where the GPU time goes (bench profiles; share of the profiled GPU time)\n\n\
             | model | ctx | decode step | prefill from empty |\n|---|---|---|---|\n{rows}"
        ),
    }
}

/// One row of `archrace race --json`.
#[derive(Deserialize)]
struct RaceRow {
    model: String,
    context: usize,
    prefill_tokens: usize,
    prefill_tokens_per_s: f64,
    ms_per_token: f64,
    tokens_per_s: f64,
    stopped: Option<String>,
}

/// One line of `llama-bench -o jsonl`: a test of `n_prompt` prompt tokens (pp) or `n_gen` generated ones
/// (tg) after `n_depth` tokens of context.
#[derive(Deserialize)]
struct LlamaTest {
    model_filename: String,
    n_prompt: usize,
    n_gen: usize,
    #[serde(default)]
    n_depth: usize,
    avg_ts: f64,
}

/// What one input file held.
enum Input {
    Bench(BenchFile),
    /// Race rows, each with whether its fill started from an empty context (a model's first row).
    Race(Vec<(RaceRow, bool)>),
    Llama(Vec<LlamaTest>),
}

/// One target checked: `measured` against `reference` (ratio `measured / reference`), met when on the right
/// side of `goal`.
#[derive(Serialize, Debug, PartialEq)]
pub struct Check {
    pub target: Target,
    /// What was measured (model and depth, or encoding and shape).
    pub subject: String,
    pub measured: Option<f64>,
    pub reference: Option<f64>,
    pub ratio: Option<f64>,
    /// The ratio the target asks for: at least it (`host`: at most it); [`Target::goal`].
    pub goal: f64,
    /// None: a side is missing, so not measured.
    pub met: Option<bool>,
}

impl Check {
    fn new(target: Target, subject: String, measured: Option<f64>, reference: Option<f64>) -> Self {
        let ratio = match (measured, reference) {
            (Some(m), Some(r)) if r > 0.0 => Some(m / r),
            _ => None,
        };
        let met = ratio.map(|r| target.met(r));
        Check { target, subject, measured, reference, ratio, goal: target.goal(), met }
    }
}

/// How far a race row's context may be from the depth it stands for: a quarter of the depth, or 64
/// tokens at short depths (a race row's context counts its decode steps).
pub fn context_near(context: usize, depth: usize) -> bool {
    context.abs_diff(depth) <= (depth / 4).max(64)
}

fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// Reads one file of a speed run, telling its kind from its content.
fn parse(path: &Path, text: &str) -> Result<Input, String> {
    let named = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        let rows: Vec<RaceRow> =
            serde_json::from_str(text).map_err(|e| named(&format!("not `archrace race --json` rows ({e})")))?;
        let mut seen = std::collections::HashSet::new();
        return Ok(Input::Race(
            rows.into_iter()
                .map(|r| {
                    let first = seen.insert(r.model.clone());
                    (r, first)
                })
                .collect(),
        ));
    }
    if let Ok(bench) = serde_json::from_str::<BenchFile>(text) {
        return Ok(Input::Bench(bench));
    }
    let mut tests = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let test: LlamaTest = serde_json::from_str(line).map_err(|e| {
            named(&format!(
                "neither `archrace bench --json` nor `race --json` output, nor llama-bench JSONL (line {}: {e})",
                i + 1
            ))
        })?;
        tests.push(test);
    }
    if tests.is_empty() {
        return Err(named(&"empty: no bench, race or llama-bench figures"));
    }
    Ok(Input::Llama(tests))
}

/// The targets checked from the parsed files.
fn checks(inputs: &[Input]) -> Vec<Check> {
    let benches: Vec<&BenchFile> =
        inputs.iter().filter_map(|i| if let Input::Bench(b) = i { Some(b) } else { None }).collect();
    let race: Vec<&(RaceRow, bool)> =
        inputs.iter().filter_map(|i| if let Input::Race(r) = i { Some(r) } else { None }).flatten().collect();
    let llama: Vec<&LlamaTest> =
        inputs.iter().filter_map(|i| if let Input::Llama(t) = i { Some(t) } else { None }).flatten().collect();
    // Rows that finished (a lane that stopped at its memory wall has no decode figure for that context).
    let race_near = |model: &str, depth: usize| {
        race.iter()
            .map(|(r, _)| r)
            .filter(|r| r.model == model && r.stopped.is_none() && context_near(r.context, depth))
            .min_by_key(|r| r.context.abs_diff(depth))
    };
    let mut out = Vec::new();
    for b in &benches {
        let shape = match (b.rows, b.cols) {
            (Some(r), Some(c)) => format!("{r} x {c}"),
            _ => "shape not recorded".to_string(),
        };
        for enc in MATVEC_TARGETS {
            // GB/s against the copy's in the same run (bench's `fraction_of_copy`).
            let row = b.matvec.iter().find(|m| m.kernel == format!("matvec_{enc}"));
            let faster = row.map_or(String::new(), |m| m.faster_row_threads(b.copy.gb_per_s));
            let subject = format!("{enc} {shape} on {}{faster}", b.adapter);
            out.push(Check::new(Target::Matvec, subject, row.map(|m| m.gb_per_s), Some(b.copy.gb_per_s)));
        }
    }
    for t in llama.iter().filter(|t| t.n_gen > 0 && t.n_prompt == 0) {
        let model = file_name(&t.model_filename);
        let ours = race_near(model, t.n_depth);
        let subject = format!(
            "{model} tg{} at depth {} (race ctx {})",
            t.n_gen,
            t.n_depth,
            ours.map_or("-".into(), |r| r.context.to_string())
        );
        out.push(Check::new(Target::Decode, subject, ours.map(|r| r.tokens_per_s), Some(t.avg_ts)));
    }
    for t in llama.iter().filter(|t| t.n_prompt > 0 && t.n_gen == 0 && t.n_depth == 0) {
        let model = file_name(&t.model_filename);
        // The model's first race row fills from an empty context, as pp does; a fill of fewer than half
        // the prompt's tokens would time mostly the start of one chunk.
        let ours = race.iter().find(|(r, first)| *first && r.model == model && r.prefill_tokens * 2 >= t.n_prompt);
        let subject = format!(
            "{model} pp{} (race fill of {} tokens)",
            t.n_prompt,
            ours.map_or("-".into(), |(r, _)| r.prefill_tokens.to_string())
        );
        out.push(Check::new(Target::Prefill, subject, ours.map(|(r, _)| r.prefill_tokens_per_s), Some(t.avg_ts)));
    }
    for m in benches.iter().flat_map(|b| &b.models) {
        let ours = race_near(&m.model, m.context);
        let subject = format!(
            "{} race ms/token at ctx {} over bench's at ctx {}",
            m.model,
            ours.map_or("-".into(), |r| r.context.to_string()),
            m.context
        );
        out.push(Check::new(Target::Host, subject, ours.map(|r| r.ms_per_token), Some(m.ms_per_token)));
    }
    out
}

/// `archrace compare`.
pub fn compare(files: &[PathBuf], json: bool) -> CmdResult {
    if files.is_empty() {
        return Err("compare needs the files of a speed run (bench and race JSON, llama-bench JSONL)".into());
    }
    let mut inputs = Vec::new();
    for path in files {
        let bytes = read(path)?;
        let text = String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8 text", path.display()))?;
        inputs.push(parse(path, &text)?);
    }
    let checks = checks(&inputs);
    let missed = checks.iter().filter(|c| c.met == Some(false)).count();
    if json {
        print_json(&checks)?;
        return Ok(missed == 0);
    }
    let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    for target in Target::ALL {
        let rows: Vec<&Check> = checks.iter().filter(|c| c.target == target).collect();
        if rows.is_empty() {
            continue;
        }
        let heading = target.heading();
        outln!("\n## {heading}\n\n| subject | archrace | reference | ratio | met |\n|---|---|---|---|---|")?;
        for c in rows {
            let met = match c.met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "not measured",
            };
            outln!("| {} | {} | {} | {} | {met} |", c.subject, fmt(c.measured), fmt(c.reference), fmt(c.ratio))?;
        }
    }
    let met = checks.iter().filter(|c| c.met == Some(true)).count();
    let profiles = profiles(&inputs);
    if !profiles.is_empty() {
        outln!("{}", profiles.trim_end())?;
    }
    outln!("\ntargets: {met} met, {missed} missed, {} not measured", checks.len() - met - missed)?;
    Ok(missed == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks_of(files: &[&str]) -> Vec<Check> {
        let inputs: Vec<Input> = files.iter().map(|t| parse(Path::new("t"), t).unwrap()).collect();
        checks(&inputs)
    }

    const RACE: &str = r#"[
        {"model": "m.gguf", "context": 544, "prefill_tokens": 512, "prefill_tokens_per_s": 3000.0,
         "ms_per_token": 2.0, "tokens_per_s": 500.0},
        {"model": "m.gguf", "context": 4128, "prefill_tokens": 3552, "prefill_tokens_per_s": 9000.0,
         "ms_per_token": 2.5, "tokens_per_s": 400.0},
        {"model": "m.gguf", "context": 16416, "prefill_tokens": 12256, "prefill_tokens_per_s": 8000.0,
         "ms_per_token": 4.0, "tokens_per_s": 250.0, "stopped": "the KV budget ends at 16400 tokens"}
    ]"#;

    fn llama(pp: usize, tg: usize, depth: usize, ts: f64) -> String {
        format!(
            r#"{{"model_filename": "/tmp/x/m.gguf", "n_prompt": {pp}, "n_gen": {tg}, "n_depth": {depth}, "avg_ts": {ts}, "backends": "Vulkan"}}"#
        )
    }

    #[test]
    fn decode_is_compared_at_the_nearest_context_that_finished() {
        let jsonl = [llama(0, 64, 512, 400.0), llama(0, 64, 4096, 500.0), llama(0, 64, 16384, 200.0)].join("\n");
        let c = checks_of(&[RACE, &jsonl]);
        assert_eq!(c.len(), 3);
        assert_eq!((c[0].ratio, c[0].met), (Some(1.25), Some(true)), "{c:?}");
        assert_eq!((c[1].ratio, c[1].met), (Some(0.8), Some(false)), "{c:?}");
        // The 16K row stopped at the memory wall: no figure, and not counted as met.
        assert_eq!((c[2].measured, c[2].met), (None, None), "{c:?}");
    }

    #[test]
    fn prefill_takes_the_fill_from_an_empty_context() {
        let c = checks_of(&[RACE, &llama(512, 0, 0, 5000.0)]);
        assert_eq!(c.len(), 1);
        // The 512-token fill (3000 tok/s), not the faster later ones; 0.6 of pp512 meets the half target.
        assert_eq!((c[0].measured, c[0].ratio, c[0].met), (Some(3000.0), Some(0.6), Some(true)), "{c:?}");
        // A pp test at a depth is not the prefill target.
        assert!(checks_of(&[RACE, &llama(512, 0, 4096, 5000.0)]).is_empty());
    }

    #[test]
    fn host_overhead_and_matvec_targets() {
        let bench = r#"{"adapter": "gpu", "rows": 4096, "cols": 4096, "copy": {"gb_per_s": 3800.0},
            "matvec": [{"kernel": "matvec_q4_0", "gb_per_s": 2850.0, "row_threads": 64,
                        "by_row_threads": [{"row_threads": 32, "gb_per_s": 2000.0},
                                           {"row_threads": 64, "gb_per_s": 2800.0}]},
                       {"kernel": "matvec_q8_0", "gb_per_s": 1900.0, "row_threads": 64,
                        "by_row_threads": [{"row_threads": 16, "gb_per_s": 3040.0},
                                           {"row_threads": 64, "gb_per_s": 1800.0}]},
                       {"kernel": "matvec_f32", "gb_per_s": 3000.0}],
            "models": [{"model": "m.gguf", "context": 600, "ms_per_token": 1.6},
                       {"model": "other.gguf", "context": 600, "ms_per_token": 1.0}]}"#;
        let c = checks_of(&[bench, RACE]);
        let get = |subject: &str| c.iter().find(|c| c.subject.starts_with(subject)).unwrap();
        // GB/s against the copy's: 2850 / 3800 = 0.75.
        let q4 = get("q4_0 4096 x 4096");
        assert_eq!((q4.measured, q4.reference, q4.ratio, q4.met), (Some(2850.0), Some(3800.0), Some(0.75), Some(true)));
        assert_eq!(get("q8_0 4096 x 4096").met, Some(false));
        // Where another number of threads per row was faster, the check says so; where the runtime's
        // was the fastest, it says nothing.
        assert_eq!(
            get("q8_0").subject,
            "q8_0 4096 x 4096 on gpu (threads per row: the runtime's 64; 16 gave 0.80 of copy)"
        );
        assert_eq!(q4.subject, "q4_0 4096 x 4096 on gpu");
        // Q4_K and Q6_K were not in the file: not measured. F32 has no target.
        assert_eq!((get("q4_k").met, get("q6_k").met), (None, None));
        assert!(!c.iter().any(|c| c.subject.starts_with("f32")));
        // 2.0 ms/token in the race at ctx 544 against 1.6 at ctx 600: 1.25, over 1.10.
        let host = get("m.gguf race");
        assert_eq!((host.ratio, host.met), (Some(1.25), Some(false)), "{host:?}");
        // No race row for the other model.
        assert_eq!(get("other.gguf").met, None);
    }

    #[test]
    fn the_report_says_where_each_models_gpu_time_goes() {
        let bench = r#"{"adapter": "gpu", "copy": {"gb_per_s": 100.0}, "matvec": [],
            "models": [{"model": "m.gguf", "context": 512, "ms_per_token": 1.0,
              "profile": {"source": "gpu-timestamps", "gpu_ms": 0.8, "dispatches": 3, "kernels": [
                {"kernel": "matvec_q4_0", "calls": 2, "ms": 0.6}, {"kernel": "argmax", "calls": 1, "ms": 0.2}]},
              "prefill": {"tokens": 512, "chunk": 512, "batched": true, "ms": 20.0, "tokens_per_s": 25600.0,
                "profile": {"source": "gpu-timestamps", "gpu_ms": 18.0, "dispatches": 2, "kernels": [
                  {"kernel": "matmul_q4_0", "calls": 1, "ms": 13.5}, {"kernel": "attn_prefill", "calls": 1, "ms": 4.5}]}}},
              {"model": "old.gguf", "context": 512, "ms_per_token": 1.0}]}"#;
        let inputs = vec![parse(Path::new("b.json"), bench).unwrap()];
        let table = profiles(&inputs);
        let row = |model: &str| table.lines().find(|l| l.starts_with(&format!("| {model} "))).unwrap().to_string();
        assert_eq!(
            row("m.gguf"),
            "| m.gguf | 512 | 0.800 ms GPU, 3 dispatches: matvec_q4_0 x2 75%, argmax x1 25% | 512 tokens at 25600.0 \
             tok/s; 18.000 ms GPU, 2 dispatches: matmul_q4_0 x1 75%, attn_prefill x1 25% |"
        );
        // A file from before bench timed a prefill: its rows say so, and still parse.
        assert_eq!(row("old.gguf"), "| old.gguf | 512 | - | - |");
        // No bench file, no table.
        assert!(profiles(&[parse(Path::new("r.json"), RACE).unwrap()]).is_empty());
    }

    #[test]
    fn near_contexts() {
        assert!(context_near(544, 512) && context_near(16416, 16384) && context_near(60, 0));
        assert!(!context_near(4128, 512) && !context_near(200, 0));
    }

    #[test]
    fn files_of_another_kind_are_named_errors() {
        for text in ["", "{\"a\": 1}", "[{\"model\": 3}]", "not json"] {
            let e = parse(Path::new("run/x.json"), text).err().expect(text);
            assert!(e.starts_with("run/x.json: "), "{e}");
        }
    }
}

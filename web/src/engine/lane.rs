//! One lane: a model on the GPU (or the CPU where there is no WebGPU), its context, and what it is doing.
//! The scheduler asks each lane in turn for one [`Lane::slice`] of work.

use super::clock::now_ms;
use super::protocol::{Event, LaneId, LaneInfo, LayerCell, MemoryFigures, MixerKind, Point, RunSettings};
use archrace_cpu::{CpuModel, State};
use archrace_gguf::Gguf;
use archrace_gpu::{
    GpuContext, GpuError, GpuModel, GpuSampling, GpuState, PrefillLogits, StepOutput, StepResult, MAX_GPU_TOP_K,
};
use archrace_model::calc::{self, KvType};
use archrace_model::race::{self, Filler};
use archrace_model::{Ffn, Mixer, ModelSpec, Sampler, SamplerConfig, StreamDecoder, Tokenizer};
use std::collections::VecDeque;

/// Tokens a CPU lane feeds per slice while filling a context: its forward pass runs on the page's thread,
/// so its turn stays short (the page stays responsive, the other lanes get theirs).
pub const CPU_FILL_BATCH: usize = 16;
/// Tokens a GPU lane prefills per slice: one chunk of the race's rules, one submit, then a read-back (the
/// GPU works while the page's event loop goes on).
pub const GPU_FILL_BATCH: usize = race::PREFILL_CHUNK;
/// Decode steps timed after each context extension (the race's rules, as `archrace race`); the point is
/// their median.
pub const MEASURE_STEPS: usize = race::DECODE_STEPS;
/// Steps in the live ms/token median.
const SPEED_WINDOW: usize = 16;
/// A CPU lane's KV cache may grow to this many bytes (wasm32 has 4 GiB of memory in all).
pub const CPU_KV_BUDGET: u64 = 1 << 30;

/// Where the lane's model runs.
#[allow(clippy::large_enum_variant)]
enum Runner {
    /// Our WGSL kernels; the GGUF bytes were uploaded and dropped.
    Gpu { model: GpuModel, state: GpuState },
    /// The CPU reference compiled to wasm, reading the GGUF in place (so the lane keeps the bytes).
    Cpu { bytes: Vec<u8>, state: State },
}

/// What the lane is doing.
#[derive(Clone, Debug, PartialEq)]
pub enum Task {
    /// Nothing.
    Idle,
    /// Feeding tokens (the prompt, or filler text up to a context length); the last one is sampled and
    /// then `then` runs. `unread` more tokens of the filler follow `tokens`: they are tokenized a batch
    /// at a time as the feed reaches them, so a long extension never tokenizes the whole text in one turn
    /// of the page's event loop.
    Feed { tokens: VecDeque<u32>, unread: usize, total: usize, then: Box<Task> },
    /// Generating `left` more tokens, streaming their text.
    Generate { left: usize },
    /// Timing `left` more decode steps at this context, for a chart point.
    Measure { left: usize },
    /// Stopped at a limit; nothing more until a reset.
    Stopped,
}

/// Why a slice ended the lane's work early.
pub enum Halt {
    /// A limit (memory, device): the lane stops, the race goes on.
    Limit(String),
    /// A failure of this lane (bad model, a kernel error).
    Failed(String),
    /// The shared GPU device is gone: every GPU lane fails with it.
    DeviceLost(String),
}

impl From<GpuError> for Halt {
    fn from(e: GpuError) -> Self {
        match e {
            GpuError::ContextFull { .. } | GpuError::TooLarge { .. } | GpuError::OutOfMemory(_) => {
                Halt::Limit(e.to_string())
            }
            GpuError::DeviceLost(_) => Halt::DeviceLost(e.to_string()),
            other => Halt::Failed(other.to_string()),
        }
    }
}

/// A loaded lane.
pub struct Lane {
    /// Identity.
    pub id: LaneId,
    /// What the page shows about the model.
    pub info: LaneInfo,
    /// What the lane is doing.
    pub task: Task,
    spec: ModelSpec,
    tokenizer: Tokenizer,
    runner: Runner,
    weight_bytes: u64,
    sampler: Sampler,
    decoder: StreamDecoder,
    /// Every token fed so far.
    history: Vec<u32>,
    /// The token the next step feeds (the last one sampled).
    next: u32,
    /// Recent decode-step times, ms.
    times: Vec<f64>,
    /// The filler text in this model's tokens, and where it continues.
    filler: Option<Filler>,
    filler_at: usize,
    /// The current fill's tokens and the milliseconds this lane's own slices took for them.
    fill_tokens: usize,
    fill_ms: f64,
    /// The race's KV budget (the GPU state holds its own copy).
    kv_budget: Option<u64>,
}

impl Lane {
    /// Parses `bytes`, and uploads the model to `gpu` (or keeps it for the CPU where there is none).
    pub async fn load(id: LaneId, name: &str, bytes: Vec<u8>, gpu: Option<&GpuContext>) -> Result<Self, String> {
        let g = Gguf::parse(&bytes).map_err(|e| format!("{name} is not a usable GGUF: {e}"))?;
        let cpu = CpuModel::from_gguf(&g).map_err(|e| format!("{name}: {e}"))?;
        let tokenizer = Tokenizer::from_gguf(&g).map_err(|e| format!("{name} has no usable tokenizer: {e}"))?;
        tokenizer.check_model(cpu.spec.n_vocab).map_err(|e| format!("{name}: {e}"))?;
        let spec = cpu.spec.clone();
        let (params_total, params_active) = calc::gguf_params(&spec, &g);
        let weight_bytes = g.tensors.iter().map(|t| t.size).sum();
        let info = LaneInfo {
            name: if spec.name.is_empty() { name.to_string() } else { spec.name.clone() },
            arch: format!("{:?}", spec.arch).to_lowercase(),
            backend: if gpu.is_some() { "GPU (WebGPU)".into() } else { "CPU (no WebGPU)".into() },
            layers: layer_cells(&spec),
            params_total,
            params_active,
            n_vocab: spec.n_vocab,
            kv_bytes_per_token: calc::kv_bytes_per_token(&spec, KvType::F32),
        };
        let runner = match gpu {
            Some(ctx) => {
                let model = GpuModel::new(ctx, &spec, &cpu.weights).await.map_err(|e| format!("{name}: {e}"))?;
                let state = model.new_state(ctx).map_err(|e| format!("{name}: {e}"))?;
                drop(cpu);
                Runner::Gpu { model, state }
            }
            None => {
                let state = cpu.new_state();
                drop(cpu);
                Runner::Cpu { bytes, state }
            }
        };
        Ok(Self {
            id,
            info,
            task: Task::Idle,
            spec,
            tokenizer,
            runner,
            weight_bytes,
            sampler: Sampler::new(SamplerConfig::default()),
            decoder: StreamDecoder::default(),
            history: Vec::new(),
            next: 0,
            times: Vec::new(),
            filler: None,
            filler_at: 0,
            fill_tokens: 0,
            fill_ms: 0.0,
            kv_budget: None,
        })
    }

    /// Tokens in the context.
    pub fn pos(&self) -> usize {
        match &self.runner {
            Runner::Gpu { state, .. } => state.pos,
            Runner::Cpu { state, .. } => state.pos,
        }
    }

    /// Whether the lane has work to do.
    pub fn busy(&self) -> bool {
        !matches!(self.task, Task::Idle | Task::Stopped)
    }

    /// Forgets the context (a fresh state) and any task.
    pub fn reset(&mut self, gpu: Option<&GpuContext>) -> Result<(), String> {
        match (&mut self.runner, gpu) {
            (Runner::Gpu { model, state }, Some(ctx)) => *state = model.new_state(ctx).map_err(|e| e.to_string())?,
            (Runner::Cpu { state, .. }, _) => *state = State::new(&self.spec),
            (Runner::Gpu { .. }, None) => return Err("the GPU lane lost its device".into()),
        }
        self.task = Task::Idle;
        self.history.clear();
        self.times.clear();
        self.decoder = StreamDecoder::default();
        self.filler_at = 0;
        Ok(())
    }

    /// Starts a race from an empty context: feed the prompt, then generate.
    pub fn start(&mut self, settings: &RunSettings, gpu: Option<&GpuContext>) -> Result<(), String> {
        self.reset(gpu)?;
        self.kv_budget = settings.kv_budget;
        if let Runner::Gpu { state, .. } = &mut self.runner {
            state.kv_budget = settings.kv_budget;
            state.kv_type = if settings.kv_f16 { KvType::F16 } else { KvType::F32 };
        }
        let config = SamplerConfig {
            temperature: settings.temperature,
            top_k: settings.top_k.clamp(1, MAX_GPU_TOP_K),
            top_p: settings.top_p,
            min_p: 0.0,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: settings.seed,
        };
        config.validate().map_err(|e| e.to_string())?;
        self.sampler = Sampler::new(config);
        let mut prompt = self.tokenizer.encode(&settings.prompt, self.tokenizer.add_bos, false);
        if prompt.is_empty() {
            prompt.push(self.tokenizer.bos.unwrap_or(0));
        }
        prompt.retain(|&t| (t as usize) < self.spec.n_vocab);
        let total = prompt.len();
        let then = Box::new(if settings.max_new_tokens > 1 {
            Task::Generate { left: settings.max_new_tokens - 1 }
        } else {
            Task::Idle
        });
        self.task = Task::Feed { tokens: prompt.into(), unread: 0, total, then };
        Ok(())
    }

    /// Fills the context from the filler text up to `context` tokens, then times a few steps for a point.
    pub fn extend(&mut self, context: usize, text: &std::sync::Arc<str>) {
        if matches!(self.task, Task::Stopped) || context <= self.pos() {
            return;
        }
        let n = context - self.pos();
        // The tokens encoded so far are kept while the text stays the same.
        if self.filler.as_ref().is_none_or(|f| f.text() != &**text) {
            self.filler = Some(Filler::new(text.clone()));
        }
        // The first batch now (a tokenizer that makes no tokens of the text gives nothing to fill), the
        // rest as the feed reaches it.
        let first = self.take_filler(n.min(GPU_FILL_BATCH));
        if first.is_empty() {
            return;
        }
        let unread = n - first.len();
        self.task =
            Task::Feed { tokens: first, unread, total: n, then: Box::new(Task::Measure { left: MEASURE_STEPS }) };
        self.times.clear();
        (self.fill_tokens, self.fill_ms) = (0, 0.0);
    }

    /// The next `n` tokens of the filler (fewer only when its tokenizer makes none of the text).
    fn take_filler(&mut self, n: usize) -> VecDeque<u32> {
        let Some(filler) = self.filler.as_mut() else { return VecDeque::new() };
        let tokens = filler.take(&self.tokenizer, self.filler_at, n);
        self.filler_at += tokens.len();
        tokens.into()
    }

    /// Stops the current task (the context stays).
    pub fn stop(&mut self) {
        if self.busy() {
            self.task = Task::Idle;
        }
    }

    /// One turn of work: up to [`GPU_FILL_BATCH`] (GPU) or [`CPU_FILL_BATCH`] (CPU) fed tokens, or one timed
    /// decode step. Events go to `emit`.
    pub async fn slice(&mut self, gpu: Option<&GpuContext>, emit: &dyn Fn(Event)) -> Result<(), Halt> {
        match std::mem::replace(&mut self.task, Task::Idle) {
            Task::Idle | Task::Stopped => {}
            Task::Feed { mut tokens, mut unread, total, then } => {
                // A CPU lane feeds up to its budget, then the check below stops it where it is full.
                let batch = match self.runner {
                    Runner::Gpu { .. } => GPU_FILL_BATCH,
                    Runner::Cpu { .. } => CPU_FILL_BATCH,
                };
                if tokens.len() < batch && unread > 0 {
                    let more = self.take_filler(unread.min(batch - tokens.len()));
                    unread = if more.is_empty() { 0 } else { unread - more.len() };
                    tokens.extend(more);
                }
                let n = tokens.len().min(batch).min(self.cpu_room().unwrap_or(usize::MAX).max(1));
                self.check_budget(n)?;
                if tokens.len() + unread == total {
                    // The bar shows from the start: one GPU chunk can take seconds on a software adapter.
                    let what = "filling the context".to_string();
                    emit(Event::Progress { lane: self.id, what, done: 0, total: Some(total as u64) });
                }
                let batch: Vec<u32> = tokens.drain(..n).collect();
                let last_of_all = tokens.is_empty() && unread == 0;
                // The batch's last token is sampled: that synchronises with the GPU (fair turns, and the
                // progress is real), and after the last batch it is the first generated token. The slice
                // is timed alone (no other lane's work is queued meanwhile), so the fill rate is this
                // lane's own.
                let start = now_ms();
                let next = self.feed(gpu, &batch).await?;
                self.fill_ms += now_ms() - start;
                self.fill_tokens += batch.len();
                self.history.extend_from_slice(&batch);
                self.next = next;
                emit(Event::Progress {
                    lane: self.id,
                    what: format!(
                        "filling the context: {:.0} tokens/s",
                        race::tokens_per_s(self.fill_tokens, self.fill_ms)
                    ),
                    done: (total - tokens.len() - unread) as u64,
                    total: Some(total as u64),
                });
                if last_of_all {
                    if matches!(*then, Task::Generate { .. }) {
                        self.emit_token(next, emit);
                    }
                    self.emit_memory(emit);
                    self.task = *then;
                } else {
                    self.task = Task::Feed { tokens, unread, total, then };
                }
            }
            Task::Generate { left } => {
                let ms = self.timed_step(gpu).await?;
                self.push_time(ms);
                self.emit_token(self.next, emit);
                emit(Event::Speed { lane: self.id, ms_per_token: self.median_ms(), context: self.pos() });
                if left > 1 {
                    self.task = Task::Generate { left: left - 1 };
                } else {
                    self.emit_point(emit, false);
                }
                if left % 8 == 1 {
                    self.emit_memory(emit);
                }
            }
            Task::Measure { left } => {
                let ms = self.timed_step(gpu).await?;
                self.push_time(ms);
                emit(Event::Speed { lane: self.id, ms_per_token: self.median_ms(), context: self.pos() });
                if left > 1 {
                    self.task = Task::Measure { left: left - 1 };
                } else {
                    self.emit_memory(emit);
                    self.emit_point(emit, true);
                }
            }
        }
        Ok(())
    }

    /// Marks the lane stopped at a limit.
    pub fn halt(&mut self) {
        self.task = Task::Stopped;
    }

    /// The CPU lane's KV budget: the race's or [`CPU_KV_BUDGET`], whichever is smaller; `None` on the GPU
    /// (its runtime checks its own) or without attention.
    fn cpu_budget(&self) -> Option<u64> {
        let attention = self.info.kv_bytes_per_token > 0;
        (matches!(self.runner, Runner::Cpu { .. }) && attention)
            .then(|| self.kv_budget.map_or(CPU_KV_BUDGET, |b| b.min(CPU_KV_BUDGET)))
    }

    /// Tokens a CPU lane may still take.
    fn cpu_room(&self) -> Option<usize> {
        self.cpu_budget().map(|b| ((b / self.info.kv_bytes_per_token) as usize).saturating_sub(self.pos()))
    }

    /// A CPU lane refuses to grow its KV cache past its budget, with the numbers (as the GPU's
    /// `ContextFull` says them).
    fn check_budget(&self, more: usize) -> Result<(), Halt> {
        let (Some(budget), Some(room)) = (self.cpu_budget(), self.cpu_room()) else { return Ok(()) };
        if more > room {
            let per_token = self.info.kv_bytes_per_token;
            return Err(Halt::Limit(format!(
                "the context is full at {} tokens: a KV cache budget of {budget} bytes holds {} tokens at {per_token} bytes per token",
                self.pos(),
                budget / per_token,
            )));
        }
        Ok(())
    }

    /// Feeds `tokens` and returns the token sampled after the last one.
    async fn feed(&mut self, gpu: Option<&GpuContext>, tokens: &[u32]) -> Result<u32, Halt> {
        let (last, head) = tokens.split_last().expect("a batch has at least one token");
        let recent = recent(&self.history, tokens, self.sampler.config.repeat_last_n);
        match &mut self.runner {
            Runner::Gpu { model, state } => {
                let ctx = gpu.ok_or_else(|| Halt::Failed("the GPU lane lost its device".into()))?;
                model.prefill(ctx, state, head, PrefillLogits::None).await?;
                gpu_sample(ctx, model, state, &mut self.sampler, *last, &recent).await
            }
            Runner::Cpu { bytes, state } => {
                let logits = cpu_forward(bytes, state, tokens)?;
                Ok(cpu_pick(&mut self.sampler, &logits[logits.len() - self.spec.n_vocab..], &recent))
            }
        }
    }

    /// Feeds `self.next`, samples the token after it, and returns the wall-clock milliseconds the step
    /// took from submit to the sampled token being on the host.
    async fn timed_step(&mut self, gpu: Option<&GpuContext>) -> Result<f64, Halt> {
        self.check_budget(1)?;
        let recent = recent(&self.history, &[self.next], self.sampler.config.repeat_last_n);
        let start = now_ms();
        let next = match &mut self.runner {
            Runner::Gpu { model, state } => {
                let ctx = gpu.ok_or_else(|| Halt::Failed("the GPU lane lost its device".into()))?;
                gpu_sample(ctx, model, state, &mut self.sampler, self.next, &recent).await?
            }
            Runner::Cpu { bytes, state } => {
                let logits = cpu_forward(bytes, state, &[self.next])?;
                cpu_pick(&mut self.sampler, &logits, &recent)
            }
        };
        let ms = now_ms() - start;
        self.history.push(self.next);
        self.next = next;
        Ok(ms)
    }

    fn push_time(&mut self, ms: f64) {
        self.times.push(ms);
        if self.times.len() > SPEED_WINDOW {
            self.times.remove(0);
        }
    }

    /// Median of the recent step times, ms.
    fn median_ms(&self) -> f64 {
        race::median(self.times.clone())
    }

    fn emit_token(&mut self, id: u32, emit: &dyn Fn(Event)) {
        let text = self.decoder.push(&self.tokenizer, id);
        if !text.is_empty() {
            emit(Event::Text { lane: self.id, text });
        }
    }

    /// Memory now: measured and calculated.
    pub fn memory(&self) -> (MemoryFigures, MemoryFigures) {
        let measured = match &self.runner {
            Runner::Gpu { model, state } => {
                let m = model.memory(state);
                MemoryFigures {
                    weights: m.weights,
                    kv_cache: m.kv_cache,
                    state: m.state,
                    scratch: m.scratch + m.staging,
                }
            }
            Runner::Cpu { state, .. } => {
                let (kv, rec) = state.bytes();
                MemoryFigures { weights: self.weight_bytes, kv_cache: kv, state: rec, scratch: 0 }
            }
        };
        // The calculator's figures (KV in the lane's type: the GPU's f16 or f32, the CPU's f32); the weights
        // are the file's tensor bytes, counted at load since the GPU lane no longer holds the GGUF.
        let kv_type = match &self.runner {
            Runner::Gpu { state, .. } => state.kv_type,
            Runner::Cpu { .. } => KvType::F32,
        };
        // A loaded model at a context it holds: these products fit (the helpers saturate all the same).
        let n = self.pos() as u64;
        let analytic = MemoryFigures {
            weights: self.weight_bytes,
            kv_cache: calc::kv_bytes_per_token(&self.spec, kv_type).saturating_mul(n),
            state: calc::state_bytes(&self.spec),
            scratch: calc::scratch_bytes(&self.spec, n),
        };
        (measured, analytic)
    }

    /// The lane's memory event: measured, calculated, and the GPU scratch by buffer.
    pub fn memory_event(&self) -> Event {
        let (measured, analytic) = self.memory();
        let scratch = match &self.runner {
            Runner::Gpu { model, state } => model.scratch_buffers(state),
            Runner::Cpu { .. } => Vec::new(),
        };
        Event::Memory { lane: self.id, measured, analytic, scratch }
    }

    fn emit_memory(&self, emit: &dyn Fn(Event)) {
        emit(self.memory_event());
    }

    /// A chart point here; `after_fill`: it follows a context extension, whose fill rate it carries.
    fn emit_point(&self, emit: &dyn Fn(Event), after_fill: bool) {
        let (measured, _) = self.memory();
        let point = Point {
            context: self.pos(),
            ms_per_token: self.median_ms(),
            memory_bytes: measured.total(),
            prefill_tokens_per_s: if after_fill { race::tokens_per_s(self.fill_tokens, self.fill_ms) } else { 0.0 },
        };
        emit(Event::Point { lane: self.id, point });
    }
}

/// The last `n` tokens of `history` followed by `more`: what the repetition penalty looks at.
fn recent(history: &[u32], more: &[u32], n: usize) -> Vec<u32> {
    let mut r: Vec<u32> = history[history.len().saturating_sub(n)..].to_vec();
    r.extend_from_slice(more);
    r.split_off(r.len().saturating_sub(n))
}

/// Feeds `token` on the GPU and samples there (greedy at temperature 0); only the id comes back.
async fn gpu_sample(
    ctx: &GpuContext,
    model: &GpuModel,
    state: &mut GpuState,
    sampler: &mut Sampler,
    token: u32,
    recent: &[u32],
) -> Result<u32, Halt> {
    let c = &sampler.config;
    let out = if c.temperature <= 0.0 {
        StepOutput::Greedy
    } else {
        StepOutput::Sample(GpuSampling {
            temperature: c.temperature,
            top_k: c.top_k,
            top_p: c.top_p,
            min_p: c.min_p,
            repeat_penalty: c.repeat_penalty,
            penalized: sampler.penalized(recent),
            u: sampler.draw(),
        })
    };
    match model.step(ctx, state, Some(token), out).await? {
        StepResult::Token(t) => Ok(t),
        other => Err(Halt::Failed(format!("the GPU step returned {other:?} instead of a token"))),
    }
}

/// Runs `tokens` through the CPU reference, re-reading the GGUF's tensor index (cheap next to a forward).
fn cpu_forward(bytes: &[u8], state: &mut State, tokens: &[u32]) -> Result<Vec<f32>, Halt> {
    let g = Gguf::parse(bytes).map_err(|e| Halt::Failed(e.to_string()))?;
    let model = CpuModel::from_gguf(&g).map_err(|e| Halt::Failed(e.to_string()))?;
    model.forward(state, tokens).map_err(|e| Halt::Failed(e.to_string()))
}

/// The CPU sampler's choice (greedy at temperature 0).
fn cpu_pick(sampler: &mut Sampler, logits: &[f32], history: &[u32]) -> u32 {
    if sampler.config.temperature <= 0.0 {
        archrace_model::sample::argmax(logits)
    } else {
        sampler.sample(logits, history)
    }
}

/// The layer strip's cells.
pub fn layer_cells(spec: &ModelSpec) -> Vec<LayerCell> {
    spec.layers
        .iter()
        .map(|l| LayerCell {
            mixer: match l.mixer {
                Mixer::Attention(_) => MixerKind::Attention,
                Mixer::Mamba(_) => MixerKind::Mamba,
                Mixer::Rwkv(_) => MixerKind::Rwkv,
            },
            moe: match l.ffn {
                Ffn::Moe { experts, top_k, .. } => Some((experts, top_k)),
                _ => None,
            },
        })
        .collect()
}

//! One decode step of a whole model on the GPU: embed the token, run every layer as the spec says, norm,
//! project to logits, and either read the logits back or sample on the GPU and read back 4 bytes.
//! The step is one command encoder and one submit. The layer loop mirrors the CPU forward
//! (`archrace_cpu::model::forward`): norm, mixer, norm, feed-forward, with the mixers and feed-forwards in
//! `mixers.rs` (attention, Mamba, dense and MoE) and `rwkv.rs` (time-mix, channel-mix), kernel for kernel.

use super::ops::{NormedInput, Ops};
use super::pool::{MemoryUse, Pool};
use super::profile::{StepProfile, SubmitTimes, Timestamps};
use super::recorder::{Recorder, Timing, SLOT};
use super::rwkv::RwkvIo;
use super::state::{GpuState, LayerState};
use super::weights::{GpuMixer, GpuWeights};
use crate::error::ErrorScopes;
use crate::kernels::matmul::MatmulTile;
use crate::kernels::matvec::{MatvecLimits, MatvecMode, ROW_THREADS};
use crate::kernels::params::{ArgmaxParams, EmbedParams, SampleParams};
use crate::pipelines::Pipelines;
use crate::shaders::{wkv7_shape, Wkv7Shape};
use crate::{readback, GpuContext, GpuError, Kernel};
use archrace_cpu::ops::rope::rope_table;
use archrace_model::sample::finite_logits;
use archrace_model::{ModelError, ModelSpec, ModelWeights};
use web_time::Instant;

/// What `argmax` and `sample_top_k` write instead of a token when a logit is NaN or infinite
/// (`NON_FINITE` in `shaders/lib/reduce.wgsl`).
pub const NON_FINITE_TOKEN: u32 = 0xffff_fffe;

/// Most candidates the GPU sampler keeps (`MAX_TOP_K` in `shaders/sample_top_k.wgsl`).
pub const MAX_GPU_TOP_K: usize = 64;
/// Most distinct recent tokens the GPU sampler's repetition penalty takes.
pub const MAX_GPU_PENALIZED: usize = 1024;

/// Sampling with temperature on the GPU: the CPU sampler's settings, the tokens its repetition penalty
/// applies to (`Sampler::penalized`) and its uniform draw for this token (`Sampler::draw`).
#[derive(Clone, Debug, PartialEq)]
pub struct GpuSampling {
    /// `> 0`.
    pub temperature: f32,
    /// `1..=MAX_GPU_TOP_K`.
    pub top_k: usize,
    /// Top-p (1 = off).
    pub top_p: f32,
    /// Min-p (0 = off).
    pub min_p: f32,
    /// Repetition penalty (1 = off).
    pub repeat_penalty: f32,
    /// Distinct tokens to penalise.
    pub penalized: Vec<u32>,
    /// The draw in `[0, 1)`.
    pub u: f32,
}

impl GpuSampling {
    /// Whether the GPU sampler takes a temperature, a top-k and a number of penalised tokens:
    /// [`GpuModel::step`] refuses others with `BadInput`, and a caller samples those on the CPU.
    pub fn takes(temperature: f32, top_k: usize, n_penalized: usize) -> bool {
        temperature > 0.0 && (1..=MAX_GPU_TOP_K).contains(&top_k) && n_penalized <= MAX_GPU_PENALIZED
    }
}

/// What a step gives back.
#[derive(Clone, Debug, PartialEq)]
pub enum StepOutput {
    /// The logits `(n_vocab)`.
    Logits,
    /// The greedy next token, chosen on the GPU (4 bytes read back).
    Greedy,
    /// A token sampled on the GPU with temperature (4 bytes read back).
    Sample(GpuSampling),
    /// Nothing (filling the context): the step is submitted and not waited for.
    Nothing,
}

/// A step's result.
#[derive(Clone, Debug, PartialEq)]
pub enum StepResult {
    /// Logits.
    Logits(Vec<f32>),
    /// A token id.
    Token(u32),
    /// Submitted, nothing read.
    Submitted,
}

/// A decode step recorded and encoded ahead of its turn, while the step before it ran on the GPU
/// ([`StepWork::record_ahead`](super::state::StepWork::record_ahead)). Its parameters and RoPE table
/// were written to the queue then (after the step before it, in queue order); its token is whatever the
/// tokens buffer holds when it runs: the previous step's choice, or the token the caller writes.
pub struct NextStep {
    /// The position it runs at.
    pos: usize,
    /// The output it was recorded for ([`StepOutput`] without its sampling settings).
    output: std::mem::Discriminant<StepOutput>,
    /// Byte offset of `sample_top_k`'s parameter slot, rewritten with the step's own settings and draw.
    sample_slot: Option<u64>,
    commands: wgpu::CommandBuffer,
}

/// A model whose weights live on the GPU.
pub struct GpuModel {
    /// The description.
    pub spec: ModelSpec,
    /// The tensors.
    pub weights: GpuWeights,
    pub(super) pipelines: Pipelines,
    pool: Pool,
    pub(super) max_groups: u32,
    /// Most threads per matvec row group on this device ([`crate::kernels::matvec::MatvecLimits`]).
    max_row_threads: usize,
    /// Whether the products after an RMSNorm compute the norm themselves (the normed matvec twins), or
    /// the norm takes a dispatch of its own ([`GpuModel::set_fused_norms`]).
    fuse_norms: bool,
    /// The software adapters' attention decode twin for this model's heads, compiled where it applies
    /// ([`software_attention_runs`]).
    attn_runs: Option<Kernel>,
    /// Whether decode steps take it ([`GpuModel::set_attention_runs`]).
    use_attn_runs: bool,
    /// The software adapters' attention prefill twin for this model's heads, compiled where it applies
    /// ([`software_attention_lanes`]).
    attn_lanes: Option<Kernel>,
    /// Whether prefill chunks take it ([`GpuModel::set_attention_lanes`]).
    use_attn_lanes: bool,
    /// The device's loop cap ([`GpuContext::loop_limit`]), which sizes attention prefill's passes.
    loop_limit: Option<usize>,
    /// How `wkv7` shares out a head's state rows on this device.
    wkv7: Wkv7Shape,
    /// The `matmul` tile this device's kernels were compiled for.
    matmul_tile: MatmulTile,
}

/// The attention decode twin a software adapter takes for `spec`'s heads (`attn_partial_runs`, compiled for
/// the units per lane they need), where the device has subgroups and `spec` has attention layers whose
/// head dim it covers. `None` on GPUs: `attn_partial`, a thread per key and the tile's scores in workgroup
/// memory, is made for them, and a run of lanes per key would leave most of a warp's lanes waiting on
/// shuffles.
fn software_attention_runs(ctx: &GpuContext, spec: &ModelSpec) -> Option<Kernel> {
    if !ctx.software_tuning() {
        return None;
    }
    let subgroup_min = ctx.shader_target().subgroup_min?;
    let head_dim = spec.attention_layers().next()?.head_dim;
    crate::shaders::attn_runs_kernel(head_dim, subgroup_min)
}

/// The attention prefill twin a software adapter takes for `spec`'s heads (`attn_prefill_lanes`, compiled
/// for the units per lane its widest heads need), where `spec` has attention layers it covers (an even
/// head dim up to 128). `None` on GPUs: a lane walking every key for four queries leaves a GPU's threads
/// waiting on memory, where `attn_prefill` reads each key once for a workgroup's 16 (query, head) pairs.
fn software_attention_lanes(ctx: &GpuContext, spec: &ModelSpec) -> Option<Kernel> {
    if !ctx.software_tuning() {
        return None;
    }
    let widest = spec.attention_layers().map(|a| a.head_dim).max()?;
    let even = spec.attention_layers().all(|a| a.head_dim.is_multiple_of(2));
    even.then(|| crate::shaders::attn_lanes_kernel(widest)).flatten()
}

/// A u32 parameter field.
pub(super) fn u(v: usize) -> u32 {
    v as u32
}

impl GpuModel {
    /// Uploads the model's tensors in their GGUF encoding and compiles the kernels it needs.
    pub async fn new(ctx: &GpuContext, spec: &ModelSpec, w: &ModelWeights<'_>) -> Result<Self, GpuError> {
        ctx.check_lost()?;
        check_head_dims(spec)?;
        let oom = ctx.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let mut pool = Pool::default();
        let weights = GpuWeights::upload(&mut pool, ctx, spec, w);
        // The scope is popped whatever happened, so a refused upload leaves none open on the device.
        if let Some(e) = oom.pop().await {
            return Err(GpuError::from_scope("uploading the weights", e));
        }
        let weights = weights?;
        let types = weights.matrix_types();
        let mut pipelines = Pipelines::default();
        let kernels = types
            .iter()
            .flat_map(|&t| [Kernel::Matvec(t), Kernel::Matmul(t)])
            .chain(weights.paired_types().into_iter().map(Kernel::MatvecSwiglu))
            .chain(weights.routed_types().into_iter().map(Kernel::MatvecRouted))
            .chain(weights.conv_types().into_iter().map(Kernel::MatvecConv))
            .chain(weights.multi_types().into_iter().map(Kernel::MatvecMulti))
            .chain(weights.activated_types().into_iter().map(Kernel::MatmulAct))
            .chain(weights.swiglu_chunk_types().into_iter().map(Kernel::MatmulSwiglu))
            .chain(weights.rope_types().into_iter().map(Kernel::MatvecRope))
            .chain([Kernel::Embed(weights.token_embd.ty)])
            .chain(weights.normed_kernels().into_iter().filter(|_| super::ops::norm_fusable(spec, spec.n_embd)));
        // Per-encoding kernels only for the encodings the model reads; every other kernel once.
        let fixed = Kernel::all().into_iter().filter(|k| k.encoding().is_none() && !k.shaped_by_heads());
        let attn_runs = software_attention_runs(ctx, spec);
        let attn_lanes = software_attention_lanes(ctx, spec);
        pipelines.ensure(ctx, kernels.chain(fixed).chain(attn_runs).chain(attn_lanes)).await?;
        let max_groups = ctx.report.limits.max_compute_workgroups_per_dimension;
        // On a software adapter a workgroup's norm costs more than the dispatch it saves (lavapipe: decode
        // steps 10-18% slower with the normed twins); on a GPU, dispatches and their barriers are the dear part.
        let fuse_norms = !ctx.software_tuning();
        let max_row_threads = MatvecLimits::of(ctx).max_row_threads;
        Ok(Self {
            spec: spec.clone(),
            weights,
            pipelines,
            pool,
            max_groups,
            max_row_threads,
            fuse_norms,
            attn_runs,
            use_attn_runs: attn_runs.is_some(),
            attn_lanes,
            use_attn_lanes: attn_lanes.is_some(),
            loop_limit: ctx.loop_limit,
            wkv7: wkv7_shape(ctx.shader_target()),
            matmul_tile: MatmulTile::of(ctx.shader_target()),
        })
    }

    /// Whether a decode step's products after an RMSNorm compute the norm themselves (the normed matvec
    /// twins; the default on GPUs), or the norm takes a dispatch of its own (the default on software
    /// adapters, [`GpuContext::software_tuning`]). `archrace bench` times both. A step recorded ahead
    /// keeps the form it was recorded in.
    pub fn set_fused_norms(&mut self, on: bool) {
        self.fuse_norms = on;
    }

    /// Whether the products after an RMSNorm compute the norm themselves ([`GpuModel::set_fused_norms`]).
    pub fn fused_norms(&self) -> bool {
        self.fuse_norms
    }

    /// Most threads per matvec row group: 64 on GPUs, [`crate::kernels::matvec::SOFTWARE_ROW_THREADS`]
    /// on software adapters (the default, [`MatvecLimits::of`]); a power of two up to 64 (others are
    /// rounded down to one, 0 up to 1). Tests run a GPU's choice on the software adapters too. A step
    /// recorded ahead keeps the choice it was recorded with.
    pub fn set_max_row_threads(&mut self, n: usize) {
        self.max_row_threads = ROW_THREADS.into_iter().filter(|&rt| rt <= n).max().unwrap_or(1);
    }

    /// Most threads per matvec row group ([`GpuModel::set_max_row_threads`]).
    pub fn max_row_threads(&self) -> usize {
        self.max_row_threads
    }

    /// Whether a decode step's attention over an f16 cache takes `attn_partial_runs`, a run of subgroup
    /// lanes per key (`shaders/attention_runs.wgsl`), instead of `attn_partial`, a thread per key. It is
    /// the default, and only possible, on a software adapter with subgroups and heads it covers
    /// ([`crate::shaders::attn_runs_kernel`]); elsewhere `on` changes nothing. Tests turn it off to run a
    /// GPU's kernels on the software adapters. A step recorded ahead keeps the choice it was recorded with.
    pub fn set_attention_runs(&mut self, on: bool) {
        self.use_attn_runs = on && self.attn_runs.is_some();
    }

    /// Whether decode steps take `attn_partial_runs` ([`GpuModel::set_attention_runs`]).
    pub fn attention_runs(&self) -> bool {
        self.use_attn_runs
    }

    /// Whether a prefill chunk's attention over an f16 cache takes `attn_prefill_lanes`, a lane per four
    /// queries walking the keys (`shaders/attention_lanes.wgsl`), instead of `attn_prefill`. It is the
    /// default, and only possible, on a software adapter with heads it covers
    /// ([`crate::shaders::attn_lanes_kernel`]); elsewhere `on` changes nothing. Tests turn it off to run a
    /// GPU's kernel on the software adapters.
    pub fn set_attention_lanes(&mut self, on: bool) {
        self.use_attn_lanes = on && self.attn_lanes.is_some();
    }

    /// Whether prefill chunks take `attn_prefill_lanes` ([`GpuModel::set_attention_lanes`]).
    pub fn attention_lanes(&self) -> bool {
        self.use_attn_lanes
    }

    /// An empty state (no tokens seen).
    pub fn new_state(&self, ctx: &GpuContext) -> Result<GpuState, GpuError> {
        GpuState::new(ctx, &self.spec, &self.weights)
    }

    /// GPU bytes held by the model and `state`, by category.
    pub fn memory(&self, state: &GpuState) -> MemoryUse {
        self.pool.used() + state.pool.used()
    }

    /// The scratch `state` holds, by buffer (label, bytes), largest first: what the decode step (and a
    /// prefill chunk, once one ran) works in, named by the architecture part that uses it (`attention:`,
    /// `mamba:`, `rwkv:`, `ffn:`, `moe:`, `step:` for every model, `prefill:`). Parts the model does not
    /// have keep a 16-byte placeholder (a binding cannot be empty). Sums to [`GpuModel::memory`]'s scratch.
    pub fn scratch_buffers(&self, state: &GpuState) -> Vec<(String, u64)> {
        state.pool.buffers(super::pool::Category::Scratch)
    }

    /// The most GPU bytes the model and `state` have held at once: the weights and the state's peak, which
    /// counts a KV cache's old and new buffers while it grows.
    pub fn memory_peak(&self, state: &GpuState) -> u64 {
        self.pool.used().total() + state.pool.peak()
    }

    /// Runs `token` and returns its logits.
    pub async fn logits(&self, ctx: &GpuContext, state: &mut GpuState, token: u32) -> Result<Vec<f32>, GpuError> {
        match self.step(ctx, state, Some(token), StepOutput::Logits).await? {
            StepResult::Logits(l) => Ok(l),
            other => unreachable!("asked for logits, got {other:?}"),
        }
    }

    /// Runs `token` (or, with `None`, the token the previous step sampled, which never left the GPU) and
    /// returns the next token sampled on the GPU with `sampling`.
    pub async fn sample(
        &self,
        ctx: &GpuContext,
        state: &mut GpuState,
        token: Option<u32>,
        sampling: GpuSampling,
    ) -> Result<u32, GpuError> {
        match self.step(ctx, state, token, StepOutput::Sample(sampling)).await? {
            StepResult::Token(t) => Ok(t),
            other => unreachable!("asked for a token, got {other:?}"),
        }
    }

    /// Runs `token` (or, with `None`, the token the previous greedy step sampled, which never left the
    /// GPU) and returns the greedy next token.
    pub async fn greedy(&self, ctx: &GpuContext, state: &mut GpuState, token: Option<u32>) -> Result<u32, GpuError> {
        match self.step(ctx, state, token, StepOutput::Greedy).await? {
            StepResult::Token(t) => Ok(t),
            other => unreachable!("asked for a token, got {other:?}"),
        }
    }

    /// One decode step at position `state.pos`: one encoder, one submit.
    pub async fn step(
        &self,
        ctx: &GpuContext,
        state: &mut GpuState,
        token: Option<u32>,
        out: StepOutput,
    ) -> Result<StepResult, GpuError> {
        ctx.check_lost()?;
        let began = Instant::now();
        let spec = &self.spec;
        if let StepOutput::Sample(g) = &out {
            if !GpuSampling::takes(g.temperature, g.top_k, g.penalized.len()) {
                return Err(GpuError::BadInput(format!(
                    "GPU sampling takes temperature > 0, top-k 1..={MAX_GPU_TOP_K} and at most {MAX_GPU_PENALIZED} penalised tokens (got {}, {}, {})",
                    g.temperature,
                    g.top_k,
                    g.penalized.len()
                )));
            }
            if !g.penalized.is_empty() {
                ctx.queue.write_buffer(&state.work.scratch.penalized, 0, bytemuck::cast_slice(&g.penalized));
            }
        }
        if let Some(t) = token {
            if t as usize >= spec.n_vocab {
                return Err(ModelError::TokenOutOfRange { token: t, n_vocab: spec.n_vocab }.into());
            }
            ctx.queue.write_buffer(&state.work.scratch.tokens, 0, bytemuck::bytes_of(&t));
        }
        let scopes = ErrorScopes::push(&ctx.device);
        let submitted = match self.submit(ctx, state, &out) {
            Ok(s) => s,
            Err(e) => {
                let _ = scopes.pop("decode step").await;
                return Err(e);
            }
        };
        state.work.last_host_ms = began.elapsed().as_secs_f64() * 1e3;
        // Every wait at once: the result's map is asked for, then both error scopes are popped, before
        // anything is awaited. The read is finished before anything returns: a staging buffer with a map
        // pending cannot take the next step's copy.
        let read = match &out {
            StepOutput::Logits => Some(readback::start_read(&state.work.logits_staging)),
            StepOutput::Greedy | StepOutput::Sample(_) => Some(readback::start_read(&state.work.token_staging)),
            StepOutput::Nothing => None,
        };
        if read.is_some() {
            self.record_next(ctx, state, &out);
        }
        let checked = scopes.pop("decode step");
        let bytes = match read {
            Some(read) => Some(read.finish(&ctx.device).await),
            None => None,
        };
        let checked = checked.await;
        if checked.is_err() || matches!(bytes, Some(Err(_))) {
            state.work.next = None; // recorded after a step that failed: not to be run
        }
        if let Some(times) = submitted {
            state.work.last_profile = Some(StepProfile::read(ctx, vec![times]).await?);
        }
        checked?;
        let result = self.step_result(state, &out, bytes.transpose());
        match result {
            Err(GpuError::Readback(_)) => Err(ctx.check_lost().err().unwrap_or_else(|| result.unwrap_err())),
            other => other,
        }
    }

    /// Records and submits one step at `state.pos` (the token already written), inside the caller's error
    /// scopes; with `state.work.profile`, the kernels and the timestamps to read around each.
    fn submit(
        &self,
        ctx: &GpuContext,
        state: &mut GpuState,
        out: &StepOutput,
    ) -> Result<Option<SubmitTimes>, GpuError> {
        let next = state.work.next.take();
        // The step recorded ahead, if it is this one and the state still holds it as it was (the caller may
        // have changed the KV type since: the step in turn then says why it cannot run).
        if let Some(next) = next.filter(|n| {
            n.pos == state.pos
                && n.output == std::mem::discriminant(out)
                && !state.work.profile
                && state.holds(&self.weights, 1)
        }) {
            if let (Some(slot), StepOutput::Sample(g)) = (next.sample_slot, out) {
                let params = sample_params(&self.spec, g);
                ctx.queue.write_buffer(&state.work.scratch.params, slot, bytemuck::bytes_of(&params));
            }
            ctx.queue.submit([next.commands]);
            state.pos += 1;
            return Ok(None);
        }
        let rec = Recorder::new(&self.pipelines);
        let mut rec = self.reserve(ctx, state, rec, 1)?;
        self.write_rope_table(ctx, state);
        self.record(&mut rec, state, out);
        if rec.params_len() > state.work.scratch.params.size() {
            let size = rec.params_len().next_power_of_two();
            let new = state.pool.create_params(ctx, super::state::STEP_PARAMS, size)?;
            let old = std::mem::replace(&mut state.work.scratch.params, new);
            state.work.bind_groups.clear();
            state.pool.release_later(old, super::pool::Category::Scratch);
        }
        let kernels = rec.kernels();
        let timestamps = if state.work.profile { Timestamps::new(ctx, 2 * kernels.len() as u32) } else { None };
        let commands = self.encode(ctx, state, rec, out, timestamps.as_ref());
        ctx.queue.submit([commands]);
        state.pos += 1;
        Ok(state.work.profile.then_some((kernels, timestamps)))
    }

    /// Encodes a recorded step (writing its parameters to the queue) and the copy of its output to the
    /// staging buffer it is read from.
    fn encode(
        &self,
        ctx: &GpuContext,
        state: &mut GpuState,
        rec: Recorder,
        out: &StepOutput,
        timestamps: Option<&Timestamps>,
    ) -> wgpu::CommandBuffer {
        let mut encoder =
            ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("decode step") });
        let timing = timestamps.map_or(Timing::None, |t| Timing::PerDispatch(&t.set));
        rec.encode(
            &ctx.device,
            &ctx.queue,
            &state.work.scratch.params,
            &mut encoder,
            timing,
            Some(&mut state.work.bind_groups),
        );
        if let Some(t) = timestamps {
            t.resolve(&mut encoder);
        }
        match out {
            StepOutput::Logits => {
                let bytes = (self.spec.n_vocab * 4) as u64;
                encoder.copy_buffer_to_buffer(&state.work.scratch.logits, 0, &state.work.logits_staging, 0, bytes);
            }
            StepOutput::Greedy | StepOutput::Sample(_) => {
                encoder.copy_buffer_to_buffer(&state.work.scratch.tokens, 0, &state.work.token_staging, 0, 4)
            }
            StepOutput::Nothing => {}
        }
        encoder.finish()
    }

    /// Records and encodes the step after the one just submitted, with the same output, into
    /// `state.work.next`, so that its host work overlaps the GPU's work on this one. Not when it could not
    /// be dropped harmlessly: a KV cache would have to move, or the parameters outgrow their buffer.
    fn record_next(&self, ctx: &GpuContext, state: &mut GpuState, out: &StepOutput) {
        if !state.work.record_ahead || state.work.profile || !state.holds(&self.weights, 1) {
            return;
        }
        let mut rec = Recorder::new(&self.pipelines);
        self.record(&mut rec, state, out);
        if rec.params_len() > state.work.scratch.params.size() {
            return;
        }
        self.write_rope_table(ctx, state);
        let sample_slot = matches!(out, StepOutput::Sample(_)).then(|| rec.params_len() - SLOT as u64);
        let commands = self.encode(ctx, state, rec, out, None);
        state.work.next = Some(NextStep { pos: state.pos, output: std::mem::discriminant(out), sample_slot, commands });
    }

    /// Makes room in the KV caches for `n` more tokens ([`GpuState::reserve`]), recording the growth copies
    /// into `rec`, which it gives back. When a cache cannot grow, the copies of caches already moved are
    /// submitted on their own (their new buffers need the old contents) and the error is returned.
    pub(super) fn reserve<'p>(
        &self,
        ctx: &GpuContext,
        state: &mut GpuState,
        mut rec: Recorder<'p>,
        n: usize,
    ) -> Result<Recorder<'p>, GpuError> {
        let Err(e) = state.reserve(ctx, &self.weights, &mut rec, n) else { return Ok(rec) };
        let mut encoder =
            ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("kv growth") });
        rec.encode(&ctx.device, &ctx.queue, &state.work.scratch.params, &mut encoder, Timing::None, None);
        ctx.queue.submit([encoder.finish()]);
        Err(e)
    }

    /// Consumes `tokens` (filling the context): one submit per token, as [`GpuModel::step`] with
    /// [`StepOutput::Nothing`] would, but the device's error scopes are checked once for the batch, so the
    /// host does not wait for the GPU between tokens.
    pub async fn feed(&self, ctx: &GpuContext, state: &mut GpuState, tokens: &[u32]) -> Result<(), GpuError> {
        ctx.check_lost()?;
        let n_vocab = self.spec.n_vocab;
        if let Some(&t) = tokens.iter().find(|&&t| t as usize >= n_vocab) {
            return Err(ModelError::TokenOutOfRange { token: t, n_vocab }.into());
        }
        let scopes = ErrorScopes::push(&ctx.device);
        let mut result = Ok(());
        for &t in tokens {
            ctx.queue.write_buffer(&state.work.scratch.tokens, 0, bytemuck::bytes_of(&t));
            if let Err(e) = self.submit(ctx, state, &StepOutput::Nothing) {
                result = Err(e);
                break;
            }
        }
        let checked = scopes.pop("filling the context").await;
        result?;
        checked?;
        ctx.check_lost()
    }

    /// What the step just run gives back, from the bytes read from its staging buffer (`None` for
    /// [`StepOutput::Nothing`]).
    fn step_result(
        &self,
        state: &GpuState,
        out: &StepOutput,
        bytes: Result<Option<Vec<u8>>, GpuError>,
    ) -> Result<StepResult, GpuError> {
        let n_vocab = self.spec.n_vocab;
        let position = state.pos - 1; // the step just run
        Ok(match (out, bytes?) {
            (StepOutput::Logits, Some(bytes)) => {
                let mut l: Vec<f32> = bytemuck::pod_collect_to_vec(&bytes);
                l.truncate(n_vocab);
                finite_logits(&l, n_vocab, position)?;
                StepResult::Logits(l)
            }
            (StepOutput::Greedy | StepOutput::Sample(_), Some(bytes)) => match readback::first_u32(&bytes) {
                NON_FINITE_TOKEN => return Err(ModelError::NonFiniteLogits { position }.into()),
                t => StepResult::Token(t),
            },
            (StepOutput::Nothing, None) => StepResult::Submitted,
            (out, bytes) => unreachable!("step {out:?} read {:?} bytes", bytes.map(|b| b.len())),
        })
    }

    /// The kernels' view of this model (spec and the device's limits), for the mixers and feed-forwards.
    pub(super) fn ops(&self) -> Ops<'_> {
        let (max_groups, max_row_threads) = (self.max_groups, self.max_row_threads);
        let attn_runs = self.attn_runs.filter(|_| self.use_attn_runs);
        let attn_lanes = self.attn_lanes.filter(|_| self.use_attn_lanes);
        let (spec, fuse_norms, loop_limit) = (&self.spec, self.fuse_norms, self.loop_limit);
        let (wkv7, matmul_tile) = (self.wkv7, self.matmul_tile);
        Ops { spec, max_groups, max_row_threads, fuse_norms, attn_runs, attn_lanes, loop_limit, wkv7, matmul_tile }
    }

    /// The decode step's layer loop, as the CPU's (`archrace_cpu::model::forward`): norm, mixer, norm,
    /// feed-forward, each recorded by its own weights type.
    fn record(&self, rec: &mut Recorder, state: &GpuState, out: &StepOutput) {
        let (spec, w, sc, ops) = (&self.spec, &self.weights, &state.work.scratch, self.ops());
        self.embed(rec, &sc.tokens, &sc.h, &sc.x, 1);
        let first_rwkv7 = w.layers.iter().position(|l| matches!(l.mixer, GpuMixer::Rwkv7(_)));
        for (index, (lw, ls)) in w.layers.iter().zip(&state.layers).enumerate() {
            // RWKV's token shift applies the norm itself (`norm_shift`); attention and Mamba take it in their
            // first product, or read it from h.
            let input = NormedInput { x: &sc.x, norm: &lw.attn_norm, h: &sc.h };
            match (&lw.mixer, ls) {
                (GpuMixer::Attention(a), LayerState::Kv(Some(cache))) => a.record(
                    &ops,
                    rec,
                    sc,
                    input,
                    (state.pos, index, (state.work.attn_groups, state.work.attn_max_chunk)),
                    cache,
                ),
                (GpuMixer::Mamba(m), LayerState::Mamba { conv, ssm }) => m.record(&ops, rec, sc, input, (conv, ssm)),
                (GpuMixer::Rwkv6(m), LayerState::Rwkv { att_shift, wkv, .. }) => {
                    m.record(&ops, rec, &RwkvIo::decode(sc, &lw.attn_norm), att_shift, wkv);
                }
                (GpuMixer::Rwkv7(m), LayerState::Rwkv { att_shift, wkv, .. }) => {
                    let io = RwkvIo::decode(sc, &lw.attn_norm);
                    m.record(&ops, rec, &io, att_shift, wkv, first_rwkv7 == Some(index));
                }
                _ => {
                    unreachable!("weights and state are built from the same spec, and reserve_token filled the caches")
                }
            }
            let Some(ffn_norm) = &lw.ffn_norm else { continue };
            match ls {
                LayerState::Rwkv { ffn_shift, .. } => {
                    lw.ffn.channel_mix(&ops, rec, &RwkvIo::decode(sc, ffn_norm), ffn_shift)
                }
                _ => lw.ffn.record(&ops, rec, sc, ffn_norm),
            }
        }
        let input = NormedInput { x: &sc.x, norm: &w.output_norm, h: &sc.h };
        ops.matvec_normed(rec, input, &w.output, (&sc.logits, 0), MatvecMode::Write, 0, &sc.route);
        match out {
            StepOutput::Greedy => {
                let params = ArgmaxParams { n: u(spec.n_vocab), out_index: 0 };
                rec.dispatch(Kernel::Argmax, &params, &[(1, &sc.logits), (2, &sc.tokens)], [1, 1, 1]);
            }
            StepOutput::Sample(g) => {
                let buffers = [(1, &sc.logits), (2, &sc.penalized), (3, &sc.tokens)];
                rec.dispatch(Kernel::SampleTopK, &sample_params(spec, g), &buffers, [1, 1, 1]);
            }
            StepOutput::Logits | StepOutput::Nothing => {}
        }
    }

    /// The embedding rows of `t` tokens (`tokens[0..t]`) into `x` `(T, E)`; RWKV normalises the embedding:
    /// gathered into `h`, LayerNorm into `x`. One dispatch per part of the table; only the part holding a
    /// token writes its row.
    pub(super) fn embed(
        &self,
        rec: &mut Recorder,
        tokens: &wgpu::Buffer,
        h: &wgpu::Buffer,
        x: &wgpu::Buffer,
        t: usize,
    ) {
        let (e, te) = (self.spec.n_embd, &self.weights.token_embd);
        let row_bytes = te.row_bytes();
        let into = if self.weights.token_embd_norm.is_some() { h } else { x };
        for part in &te.parts {
            rec.dispatch(
                Kernel::Embed(te.ty),
                &EmbedParams {
                    cols: u(e),
                    row_bytes: u(row_bytes),
                    first_row: u(part.first_row),
                    rows: u(part.rows),
                    tok_index: 0,
                },
                &[(1, &part.buf), (2, tokens), (3, into)],
                [u(e.div_ceil(64)), u(t), 1],
            );
        }
        if let Some(n) = &self.weights.token_embd_norm {
            self.ops().norm_rows(rec, n, h, x, e, t);
        }
    }

    /// Dispatches one decode step of this model records at `state`'s position (for the overhead bench).
    pub fn step_dispatches(&self, state: &GpuState) -> usize {
        let mut rec = Recorder::new(&self.pipelines);
        self.record(&mut rec, state, &StepOutput::Greedy);
        rec.dispatches()
    }

    /// Uploads this position's RoPE `(cos, sin)` pairs for every attention layer (see `shaders/rope_kv.wgsl`).
    fn write_rope_table(&self, ctx: &GpuContext, state: &GpuState) {
        let pairs = rope_pairs(&self.spec);
        let mut table = Vec::new();
        for (index, layer) in self.spec.layers.iter().enumerate() {
            if let archrace_model::Mixer::Attention(archrace_model::AttnSpec { rope: Some(r), .. }) = &layer.mixer {
                table.resize(index * pairs * 2, 0.0);
                table.extend(rope_table(state.pos, r).into_iter().flat_map(|(c, s)| [c, s]));
            }
        }
        if !table.is_empty() {
            ctx.queue.write_buffer(&state.work.scratch.rope_table, 0, bytemuck::cast_slice(&table));
        }
    }
}

/// The largest attention head dimension the decode kernel takes: `MAX_UNITS` (4) units per thread of its
/// 64 in `shaders/attention.wgsl`, a unit two values of an even dimension (one value of an odd one).
pub const MAX_DECODE_HEAD_DIM: usize = 512;

/// A typed error for an attention layer whose heads the decode kernel cannot hold.
fn check_head_dims(spec: &ModelSpec) -> Result<(), GpuError> {
    for (i, l) in spec.layers.iter().enumerate() {
        if let archrace_model::Mixer::Attention(a) = &l.mixer {
            let most = if a.head_dim.is_multiple_of(2) { MAX_DECODE_HEAD_DIM } else { MAX_DECODE_HEAD_DIM / 2 };
            if a.head_dim > most {
                return Err(GpuError::Unsupported(format!(
                    "layer {i}: attention heads of {} values; the GPU decode kernel takes at most {most}",
                    a.head_dim
                )));
            }
        }
    }
    Ok(())
}

/// `sample_top_k`'s parameters for `g`.
fn sample_params(spec: &ModelSpec, g: &GpuSampling) -> SampleParams {
    SampleParams {
        n: u(spec.n_vocab),
        out_index: 0,
        top_k: u(g.top_k),
        n_recent: u(g.penalized.len()),
        temperature: g.temperature,
        top_p: g.top_p,
        min_p: g.min_p,
        repeat_penalty: g.repeat_penalty,
        u: g.u,
    }
}

/// RoPE pairs per layer in the table: the most any attention layer rotates.
pub(super) fn rope_pairs(spec: &ModelSpec) -> usize {
    let pairs = spec.layers.iter().filter_map(|l| match &l.mixer {
        archrace_model::Mixer::Attention(a) => a.rope.map(|r| r.n_rot / 2),
        _ => None,
    });
    pairs.max().unwrap_or(0).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gpu_sampler_takes_positive_temperatures_its_top_ks_and_penalty_lists() {
        assert!(GpuSampling::takes(0.8, 40, 0));
        assert!(GpuSampling::takes(1e-3, 1, 0));
        assert!(GpuSampling::takes(2.0, MAX_GPU_TOP_K, MAX_GPU_PENALIZED));
        for (temperature, top_k, n_penalized) in [
            (0.0, 40, 0),
            (-1.0, 40, 0),
            (f32::NAN, 40, 0),
            (0.8, 0, 0),
            (0.8, MAX_GPU_TOP_K + 1, 0),
            (0.8, 40, MAX_GPU_PENALIZED + 1),
        ] {
            assert!(!GpuSampling::takes(temperature, top_k, n_penalized), "{temperature} {top_k} {n_penalized}");
        }
    }
}

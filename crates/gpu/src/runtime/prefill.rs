//! Prefill: a token sequence through the model in chunks of up to `T` tokens, each chunk one command
//! encoder and one submit, leaving the same state (KV caches, conv and SSM states) as the token-by-token
//! path. Every layer runs once per chunk over all its tokens: matrix products read each weight tile once
//! for 64 tokens (`matmul_<type>`), attention streams over the cache with an online softmax
//! (`attn_prefill`), Mamba's conv and scan loop over the chunk's tokens inside one dispatch each, and a
//! MoE layer routes every token, lists each expert's tokens and runs each expert once over its list.
//! The layer loop has the decode step's shape (`forward.rs`): norm, mixer, norm, feed-forward.
//!
//! RWKV blocks are the decode step's own code (`rwkv.rs`) run with a token axis: their token shift and WKV
//! recurrences loop over the chunk's tokens inside one dispatch each. A model whose shapes the chunked
//! kernels do not take goes through the decode step token by token ([`GpuModel::prefill_is_batched`]).

use super::forward::rope_pairs;
use super::pool::{Category, Pool, STORAGE};
use super::profile::{StepProfile, SubmitTimes, Timestamps};
use super::recorder::{Recorder, Timing};
use super::rwkv::RwkvIo;
use super::state::{GpuState, LayerState, RwkvScratch, Widths};
use super::weights::{GpuFfn, GpuMixer, GpuWeights};
use crate::error::ErrorScopes;
use crate::kernels::matvec::MatvecMode;
use crate::{readback, GpuContext, GpuError, GpuModel};
use archrace_cpu::ops::rope::rope_table;
use archrace_model::{Mixer, ModelError, ModelSpec};

/// Tokens per chunk unless the caller sets `GpuState::prefill_chunk`.
pub const PREFILL_CHUNK: usize = 512;

/// Largest head dimension `attn_prefill` takes (`QV / 2` in `shaders/attention.wgsl`).
pub const MAX_PREFILL_HEAD_DIM: usize = 256;

/// The `attn_prefill` dispatch for a chunk of `t` tokens: `[query blocks, KV heads x head groups, 1]`.
/// As `shaders/attention.wgsl` lays out a workgroup: `nv` = min(4, 256 w / D) vec4 lanes (w = 2 for an
/// even head dim, else 1), each four queries of one head; `hb` = min(G, nv) of a KV head's G query heads
/// and `nv / hb` blocks of four queries per workgroup.
pub fn attn_prefill_grid(t: usize, n_head: usize, n_head_kv: usize, head_dim: usize) -> [u32; 3] {
    let w = if head_dim.is_multiple_of(2) { 2 } else { 1 };
    let nv = (256 * w / head_dim.max(1)).clamp(1, 4);
    let group = n_head / n_head_kv.max(1);
    let hb = group.clamp(1, nv);
    let queries = 4 * (nv / hb);
    let u = |x: usize| x as u32;
    [u(t.div_ceil(queries)), u(n_head_kv * group.div_ceil(hb)), 1]
}

/// Queries per workgroup of `attn_prefill_lanes` (`LANES` x `R` in `shaders/attention_lanes.wgsl`).
pub const ATTN_LANES_QUERIES: usize = 64;

/// The `attn_prefill` passes over a chunk's `keys` keys (the cache up to its last token), `per_pass` keys
/// at most each ([`crate::runtime::loop_budget::attn_prefill_keys_per_pass`]): `(from, to)` key ranges in
/// order. One pass unless a device caps its loops.
pub fn attn_prefill_passes(keys: usize, per_pass: usize) -> impl Iterator<Item = (usize, usize)> {
    let per = per_pass.max(1);
    (0..keys.div_ceil(per)).map(move |i| (i * per, ((i + 1) * per).min(keys)))
}

/// Which logits a prefill returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrefillLogits {
    /// None (filling the context).
    None,
    /// The last token's `(n_vocab)`.
    Last,
    /// Every token's `(tokens, n_vocab)`.
    All,
}

/// The working buffers of one prefill chunk of up to `chunk` tokens: the decode step's scratch with a
/// token axis, sized for the widest layer.
pub struct PrefillScratch {
    /// Tokens per chunk these buffers hold.
    pub chunk: usize,
    pub(super) tokens: wgpu::Buffer,
    pub(super) x: wgpu::Buffer,
    pub(super) h: wgpu::Buffer,
    pub(super) qkv: wgpu::Buffer,
    pub(super) q: wgpu::Buffer,
    pub(super) attn: wgpu::Buffer,
    pub(super) xz: wgpu::Buffer,
    pub(super) xc: wgpu::Buffer,
    pub(super) xdbc: wgpu::Buffer,
    pub(super) dbc: wgpu::Buffer,
    pub(super) dt: wgpu::Buffer,
    pub(super) y: wgpu::Buffer,
    pub(super) gate: wgpu::Buffer,
    pub(super) up: wgpu::Buffer,
    pub(super) act: wgpu::Buffer,
    pub(super) router: wgpu::Buffer,
    pub(super) route: wgpu::Buffer,
    pub(super) lists: wgpu::Buffer,
    pub(super) rope_table: wgpu::Buffer,
    /// `attn_prefill`'s softmax state between passes ([`attn_prefill_passes`]): m and l per (token, head).
    pub(super) attn_state: wgpu::Buffer,
    /// RWKV's, when the model has RWKV layers.
    pub(super) rwkv: Option<RwkvScratch>,
    /// `(chunk, n_vocab)` when every token's logits were asked for.
    pub(super) logits: Option<wgpu::Buffer>,
}

/// The widest buffer of a prefill chunk, in f32 values per token: a chunk of T tokens binds T times this
/// (or the logits' `n_vocab` per token when every token's are asked for).
fn widest_per_token(spec: &ModelSpec, w: &GpuWeights, all_logits: bool) -> usize {
    let wd = Widths::new(spec, w);
    let rwkv = if w.layers.iter().any(|l| matches!(l.mixer, GpuMixer::Rwkv6(_) | GpuMixer::Rwkv7(_))) {
        6 * spec.n_embd // the lerped inputs (6, T, E)
    } else {
        0
    };
    let lists = 3 * wd.experts; // X (1 + 2 T)
    let rope = 2 * spec.layers.len() * rope_pairs(spec);
    let logits = if all_logits { spec.n_vocab } else { 0 };
    let widths = [spec.n_embd, wd.qkv, 2 * wd.d_inner, wd.dbc, wd.hidden, lists, wd.lora, rwkv, rope];
    widths.into_iter().chain([logits]).max().unwrap_or(1)
}

/// The most tokens per chunk this device binds for this model (at least 1; a model whose decode step
/// fits has a chunk of 1 that fits, as its buffers are the decode step's).
pub fn chunk_that_fits(ctx: &GpuContext, spec: &ModelSpec, w: &GpuWeights, all_logits: bool) -> usize {
    let per_token = (widest_per_token(spec, w, all_logits) * 4) as u64;
    (Pool::max_binding(ctx) / per_token).max(1) as usize
}

impl PrefillScratch {
    fn new(
        ctx: &GpuContext,
        pool: &mut Pool,
        spec: &ModelSpec,
        w: &GpuWeights,
        chunk: usize,
    ) -> Result<Self, GpuError> {
        let wd = Widths::new(spec, w);
        let e = spec.n_embd;
        let rwkv = RwkvScratch::new(ctx, pool, spec, w, Some(chunk))?;
        // A part the model lacks keeps a 16-byte placeholder (a binding cannot be empty), not a chunk's.
        let has = |f: fn(&GpuMixer) -> bool| w.layers.iter().any(|l| f(&l.mixer));
        let attention = has(|m| matches!(m, GpuMixer::Attention(_)));
        let mamba = has(|m| matches!(m, GpuMixer::Mamba(_)));
        let moe = w.layers.iter().any(|l| matches!(l.ffn, GpuFfn::Moe { .. }));
        let ffn = w.layers.iter().any(|l| !matches!(l.ffn, GpuFfn::None));
        let unpaired = w.unpaired_swiglu(); // gate and up products of their own
        let mut s = |label: &str, values: usize, part: bool| {
            let bytes = if part { (chunk * values * 4) as u64 } else { 16 };
            pool.create(ctx, label, bytes, STORAGE, Category::Scratch)
        };
        Ok(Self {
            rwkv,
            chunk,
            tokens: s("prefill: tokens", 1, true)?,
            x: s("prefill: x", e, true)?,
            h: s("prefill: h", e, true)?,
            qkv: s("prefill: attention q, k, v", wd.qkv, attention)?,
            q: s("prefill: attention q", wd.heads, attention)?,
            attn: s("prefill: attention output", wd.heads, attention)?,
            attn_state: s(
                "prefill: attention softmax state between passes (m, l)",
                2 * spec.attention_layers().map(|a| a.n_head).max().unwrap_or(0),
                attention,
            )?,
            xz: s("prefill: mamba xz", 2 * wd.d_inner, mamba)?,
            xc: s("prefill: mamba conv output", wd.d_inner, mamba)?,
            xdbc: s("prefill: mamba dt, B, C", wd.dbc, mamba)?,
            dbc: s("prefill: mamba normed dt, B, C", wd.dbc, mamba)?,
            dt: s("prefill: mamba dt", wd.d_inner, mamba)?,
            y: s("prefill: mamba scan output", wd.d_inner, mamba)?,
            gate: s("prefill: ffn gate", wd.hidden, unpaired)?,
            up: s("prefill: ffn up", wd.hidden, unpaired)?,
            act: s("prefill: ffn activations", wd.hidden, ffn)?,
            router: s("prefill: moe router logits", wd.experts, moe)?,
            route: s("prefill: moe routes", 2 * wd.top_k, moe)?,
            lists: pool.create(
                ctx,
                "prefill: moe token lists per expert",
                if moe { ((wd.experts * (1 + 2 * chunk)) * 4) as u64 } else { 16 },
                STORAGE,
                Category::Scratch,
            )?,
            rope_table: pool.create(
                ctx,
                "prefill: RoPE cos/sin table",
                (chunk * 2 * spec.layers.len() * rope_pairs(spec) * 4) as u64,
                STORAGE,
                Category::Scratch,
            )?,
            logits: None,
        })
    }
}

impl PrefillScratch {
    /// Gives every buffer back to `pool` (freed once the work using them is done).
    fn release(self, pool: &mut Pool) {
        let all = [
            self.tokens,
            self.x,
            self.h,
            self.qkv,
            self.q,
            self.attn,
            self.xz,
            self.xc,
            self.xdbc,
            self.dbc,
            self.dt,
            self.y,
            self.gate,
            self.up,
            self.act,
            self.router,
            self.route,
            self.lists,
            self.rope_table,
            self.attn_state,
        ];
        let rwkv = self.rwkv.map(RwkvScratch::buffers).into_iter().flatten();
        for buf in all.into_iter().chain(rwkv).chain(self.logits) {
            pool.release_later(buf, Category::Scratch);
        }
    }
}

/// One product of a chunk: where X and Y are and how they are laid out (in values).
pub(super) struct Product<'a> {
    pub x: &'a wgpu::Buffer,
    pub x_off: usize,
    pub x_stride: usize,
    pub y: &'a wgpu::Buffer,
    pub y_off: usize,
    pub y_stride: usize,
    pub out: ProductOut<'a>,
}

/// How a chunk's product writes Y.
#[derive(Clone, Copy)]
pub(super) enum ProductOut<'a> {
    /// `Y = X W^T`.
    Write,
    /// `Y += X W^T` (a residual connection).
    Add,
    /// `Y = act(X W^T)`, an activation of [`MatvecMode`] 5 to 11 applied as Y is written, with its per-row
    /// bias where it takes one (`shaders/lib/activation.wgsl`).
    Activated(MatvecMode, Option<&'a wgpu::Buffer>),
    /// `Y = SiLU(X G^T) * (X U^T)`, the matrix G and U's rows this many bytes after G's
    /// ([`super::weights::GpuMatrix::paired_with`]).
    Swiglu(usize),
}

impl<'a> Product<'a> {
    /// X packed `(T, cols)` into Y packed `(T, rows)`.
    pub(super) fn packed(x: &'a wgpu::Buffer, cols: usize, y: &'a wgpu::Buffer, rows: usize) -> Self {
        Self { x, x_off: 0, x_stride: cols, y, y_off: 0, y_stride: rows, out: ProductOut::Write }
    }

    /// Writing Y from value `y_off` of each row on (one of several products sharing Y's rows).
    pub(super) fn at(mut self, y_off: usize) -> Self {
        self.y_off = y_off;
        self
    }

    /// Adding into Y instead of writing it (a residual connection).
    pub(super) fn adding(mut self) -> Self {
        self.out = ProductOut::Add;
        self
    }
}

impl GpuModel {
    /// Whether [`GpuModel::prefill`] runs this model in batched chunks: attention with a head dimension of
    /// at most [`MAX_PREFILL_HEAD_DIM`], and x-projection rows (Mamba) and LoRA slices (RWKV-6) that start
    /// at whole vec4s, which every model we know has. Others go token by token.
    pub fn prefill_is_batched(&self) -> bool {
        self.weights.layers.iter().all(|l| match &l.mixer {
            GpuMixer::Attention(a) => a.spec.head_dim <= MAX_PREFILL_HEAD_DIM,
            GpuMixer::Mamba(m) => (m.spec.dt_rank + 2 * m.spec.d_state).is_multiple_of(4),
            GpuMixer::Rwkv6(m) => (m.w1.rows / 5).is_multiple_of(4),
            GpuMixer::Rwkv7(_) => true,
        })
    }

    /// Runs `tokens` from `state.pos` on, in chunks of `state.work.prefill_chunk` tokens (one submit each), and
    /// returns the logits asked for: none, the last token's `(n_vocab)`, or every token's
    /// `(tokens, n_vocab)`. The state ends as [`GpuModel::step`] token by token would leave it. When the KV
    /// cache cannot grow (device limit or budget), the error is `ContextFull` and the state holds every
    /// chunk before the one that did not fit. With `state.work.profile`, a batched prefill times every
    /// dispatch of every chunk (a pass each) and puts the whole prefill's profile in
    /// `state.work.last_profile`.
    pub async fn prefill(
        &self,
        ctx: &GpuContext,
        state: &mut GpuState,
        tokens: &[u32],
        logits: PrefillLogits,
    ) -> Result<Vec<f32>, GpuError> {
        ctx.check_lost()?;
        let n_vocab = self.spec.n_vocab;
        if let Some(&t) = tokens.iter().find(|&&t| t as usize >= n_vocab) {
            return Err(ModelError::TokenOutOfRange { token: t, n_vocab }.into());
        }
        if tokens.is_empty() {
            return Ok(Vec::new());
        }
        if !self.prefill_is_batched() {
            return self.prefill_token_by_token(ctx, state, tokens, logits).await;
        }
        state.work.next = None; // a decode step recorded ahead is for the position prefill is about to fill
        let all = logits == PrefillLogits::All;
        // The chunk the caller asked for, or fewer tokens where the device binds less than a chunk needs or
        // caps the loops a chunk's recurrences take.
        let fits = chunk_that_fits(ctx, &self.spec, &self.weights, all);
        let loops = super::loop_budget::chunk_tokens(ctx.loop_limit, &self.spec.layers);
        let chunk = state.work.prefill_chunk.clamp(1, fits.min(loops));
        let stale = state.work.prefill.as_ref().is_none_or(|p| p.chunk != chunk || (all && p.logits.is_none()));
        if stale {
            if let Some(old) = state.work.prefill.take() {
                old.release(&mut state.pool);
            }
            let mut pool = std::mem::take(&mut state.pool);
            let made = PrefillScratch::new(ctx, &mut pool, &self.spec, &self.weights, chunk).and_then(|mut s| {
                if all {
                    let bytes = (chunk * n_vocab * 4) as u64;
                    s.logits = Some(pool.create(ctx, "prefill logits", bytes, STORAGE, Category::Scratch)?);
                }
                Ok(s)
            });
            state.pool = pool;
            state.work.prefill = Some(made?);
            state.work.bind_groups.clear();
        }
        let scopes = ErrorScopes::push(&ctx.device);
        let mut out = Vec::new();
        let mut result = Ok(());
        let mut timed = Vec::new();
        for (i, piece) in tokens.chunks(chunk).enumerate() {
            let is_last = (i + 1) * chunk >= tokens.len();
            let want = match logits {
                PrefillLogits::None => PrefillLogits::None,
                PrefillLogits::Last if is_last => PrefillLogits::Last,
                PrefillLogits::Last => PrefillLogits::None,
                PrefillLogits::All => PrefillLogits::All,
            };
            match self.submit_chunk(ctx, state, piece, want) {
                Ok(profiled) => timed.extend(profiled),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
            // A failed read-back ends the loop like a failed submit: the error scopes are popped below.
            let read = match want {
                PrefillLogits::None => Ok(()),
                PrefillLogits::Last => {
                    readback::read_f32(&ctx.device, &state.work.logits_staging).await.map(|mut l| {
                        l.truncate(n_vocab);
                        out = l;
                    })
                }
                PrefillLogits::All => {
                    let staging = state.work.prefill_staging.as_ref().expect("submit_chunk made it");
                    readback::read_f32(&ctx.device, staging).await.map(|mut l| {
                        l.truncate(piece.len() * n_vocab);
                        out.extend(l);
                    })
                }
            };
            if let Err(e) = read {
                result = Err(e);
                break;
            }
        }
        let checked = scopes.pop("prefill").await;
        result?;
        checked?;
        ctx.check_lost()?;
        if state.work.profile {
            state.work.last_profile = Some(StepProfile::read(ctx, timed).await?);
        }
        let rows = out.len() / n_vocab;
        archrace_model::sample::finite_logits(&out, n_vocab, state.pos - rows)?;
        Ok(out)
    }

    /// Prefill through the decode step, for models whose layers have no batched kernels yet.
    async fn prefill_token_by_token(
        &self,
        ctx: &GpuContext,
        state: &mut GpuState,
        tokens: &[u32],
        logits: PrefillLogits,
    ) -> Result<Vec<f32>, GpuError> {
        let (&last, rest) = tokens.split_last().expect("not empty");
        match logits {
            PrefillLogits::None => self.feed(ctx, state, tokens).await.map(|_| Vec::new()),
            PrefillLogits::Last => {
                self.feed(ctx, state, rest).await?;
                self.logits(ctx, state, last).await
            }
            PrefillLogits::All => {
                let mut out = Vec::with_capacity(tokens.len() * self.spec.n_vocab);
                for &t in tokens {
                    out.extend(self.logits(ctx, state, t).await?);
                }
                Ok(out)
            }
        }
    }

    /// Records and submits one chunk at `state.pos` (inside the caller's error scopes); with
    /// `state.work.profile`, its kernels and the timestamps around each (none where the adapter has no
    /// timestamp queries or the chunk has more dispatches than a query set holds).
    fn submit_chunk(
        &self,
        ctx: &GpuContext,
        state: &mut GpuState,
        tokens: &[u32],
        logits: PrefillLogits,
    ) -> Result<Option<SubmitTimes>, GpuError> {
        let t = tokens.len();
        let rec = Recorder::new(&self.pipelines);
        let mut rec = self.reserve(ctx, state, rec, t)?;
        if logits == PrefillLogits::All {
            let bytes = (t * self.spec.n_vocab * 4) as u64;
            if state.work.prefill_staging.as_ref().is_none_or(|s| s.size() < bytes) {
                let usage = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
                let chunk = state.work.prefill.as_ref().map_or(1, |p| p.chunk);
                let full = (chunk * self.spec.n_vocab * 4) as u64;
                let new =
                    state.pool.create(ctx, "prefill logits read-back", full.max(bytes), usage, Category::Staging)?;
                if let Some(old) = state.work.prefill_staging.replace(new) {
                    state.pool.release_later(old, Category::Staging);
                }
            }
        }
        let ps = state.work.prefill.as_ref().expect("prefill made the scratch");
        ctx.queue.write_buffer(&ps.tokens, 0, bytemuck::cast_slice(tokens));
        self.write_chunk_rope_table(ctx, ps, state.pos, t);
        self.record_chunk(&mut rec, state, t, logits);
        if rec.params_len() > state.work.scratch.params.size() {
            let size = rec.params_len().next_power_of_two();
            let new = state.pool.create_params(ctx, super::state::STEP_PARAMS, size)?;
            let old = std::mem::replace(&mut state.work.scratch.params, new);
            state.work.bind_groups.clear();
            state.pool.release_later(old, Category::Scratch);
        }
        let kernels = rec.kernels();
        let timestamps = match state.work.profile {
            true => Timestamps::new(ctx, 2 * kernels.len() as u32),
            false => None,
        };
        let mut encoder =
            ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("prefill chunk") });
        rec.encode(
            &ctx.device,
            &ctx.queue,
            &state.work.scratch.params,
            &mut encoder,
            timestamps.as_ref().map_or(Timing::None, |t| Timing::PerDispatch(&t.set)),
            Some(&mut state.work.bind_groups),
        );
        if let Some(t) = &timestamps {
            t.resolve(&mut encoder);
        }
        match logits {
            PrefillLogits::None => {}
            PrefillLogits::Last => {
                let bytes = (self.spec.n_vocab * 4) as u64;
                encoder.copy_buffer_to_buffer(&state.work.scratch.logits, 0, &state.work.logits_staging, 0, bytes);
            }
            PrefillLogits::All => {
                let bytes = (t * self.spec.n_vocab * 4) as u64;
                let src = state.work.prefill.as_ref().and_then(|p| p.logits.as_ref()).expect("made with the scratch");
                let dst = state.work.prefill_staging.as_ref().expect("made above");
                encoder.copy_buffer_to_buffer(src, 0, dst, 0, bytes);
            }
        }
        ctx.queue.submit([encoder.finish()]);
        state.pos += t;
        Ok(state.work.profile.then_some((kernels, timestamps)))
    }

    /// RoPE `(cos, sin)` pairs for positions `pos0 .. pos0 + t` of every attention layer: token `i`, layer
    /// `l`, pair `j` at `(i L + l) pairs + j` (the rope kernel's `table_stride` is `L pairs`).
    fn write_chunk_rope_table(&self, ctx: &GpuContext, ps: &PrefillScratch, pos0: usize, t: usize) {
        let pairs = rope_pairs(&self.spec);
        let layers = self.spec.layers.len();
        let mut table = vec![0f32; t * layers * pairs * 2];
        let mut any = false;
        for (index, layer) in self.spec.layers.iter().enumerate() {
            if let Mixer::Attention(archrace_model::AttnSpec { rope: Some(r), .. }) = &layer.mixer {
                any = true;
                for i in 0..t {
                    let at = (i * layers + index) * pairs * 2;
                    for (j, (c, s)) in rope_table(pos0 + i, r).into_iter().enumerate() {
                        table[at + 2 * j] = c;
                        table[at + 2 * j + 1] = s;
                    }
                }
            }
        }
        if any {
            ctx.queue.write_buffer(&ps.rope_table, 0, bytemuck::cast_slice(&table));
        }
    }

    /// A chunk's layer loop, the decode step's with a token axis: each mixer and feed-forward records its
    /// `record_chunk` (RWKV's blocks their `record`, over `t` tokens).
    fn record_chunk(&self, rec: &mut Recorder, state: &GpuState, t: usize, logits: PrefillLogits) {
        let (spec, w, ops) = (&self.spec, &self.weights, self.ops());
        let ps = state.work.prefill.as_ref().expect("prefill made the scratch");
        let e = spec.n_embd;
        self.embed(rec, &ps.tokens, &ps.h, &ps.x, t);
        let first_rwkv7 = w.layers.iter().position(|l| matches!(l.mixer, GpuMixer::Rwkv7(_)));
        let io =
            ps.rwkv.as_ref().map(|rw| RwkvIo { t, h: &ps.h, x: &ps.x, act: &ps.act, rw, route: &ps.route, norm: None });
        for (index, (lw, ls)) in w.layers.iter().zip(&state.layers).enumerate() {
            ops.norm_rows(rec, &lw.attn_norm, &ps.x, &ps.h, e, t);
            match (&lw.mixer, ls, &io) {
                (GpuMixer::Attention(a), LayerState::Kv(Some(cache)), _) => {
                    a.record_chunk(&ops, rec, ps, (state.pos, t, state.work.attn_pass_keys), index, cache)
                }
                (GpuMixer::Mamba(m), LayerState::Mamba { conv, ssm }, _) => m.record_chunk(&ops, rec, ps, t, conv, ssm),
                (GpuMixer::Rwkv6(m), LayerState::Rwkv { att_shift, wkv, .. }, Some(io)) => {
                    m.record(&ops, rec, io, att_shift, wkv)
                }
                (GpuMixer::Rwkv7(m), LayerState::Rwkv { att_shift, wkv, .. }, Some(io)) => {
                    m.record(&ops, rec, io, att_shift, wkv, first_rwkv7 == Some(index))
                }
                _ => unreachable!("weights, state and scratch come from one spec, and reserve filled the caches"),
            }
            let Some(ffn_norm) = &lw.ffn_norm else { continue };
            ops.norm_rows(rec, ffn_norm, &ps.x, &ps.h, e, t);
            match (ls, &io) {
                (LayerState::Rwkv { ffn_shift, .. }, Some(io)) => lw.ffn.channel_mix(&ops, rec, io, ffn_shift),
                _ => lw.ffn.record_chunk(&ops, rec, ps, t),
            }
        }
        match logits {
            PrefillLogits::All => {
                let out = ps.logits.as_ref().expect("made with the scratch");
                ops.norm_rows(rec, &w.output_norm, &ps.x, &ps.h, e, t);
                ops.matmul(rec, &w.output, t, Product::packed(&ps.h, e, out, spec.n_vocab), None);
            }
            PrefillLogits::Last => {
                let sc = &state.work.scratch;
                ops.norm(rec, &w.output_norm, &ps.x, (t - 1) * e, &ps.h, 0, e);
                ops.matvec(rec, &w.output, &ps.h, &sc.logits, 0, MatvecMode::Write, None, &sc.route);
            }
            PrefillLogits::None => {}
        }
    }
}

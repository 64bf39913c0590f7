//! A sequence's state on the GPU: KV caches that grow in chunks, recurrent state, and the scratch
//! buffers one decode step works in.

use super::pool::{Category, Pool, STORAGE};
use super::recorder::Recorder;
use super::weights::{GpuFfn, GpuMixer, GpuWeights};
use crate::{GpuContext, GpuError};
use archrace_model::{KvType, LayerStateSpec, ModelSpec, StateSpec};

/// Keys in the one chunk of a short context: up to this many, a decode step's attention is one
/// workgroup per head and needs no merge (`TILE` in `shaders/attention.wgsl`, also the most chunks).
pub const ATTN_ONE_CHUNK: usize = 256;

/// About how many (chunk, head group) workgroups a decode step's attention aims at on a GPU, past one chunk:
/// enough to keep a large one busy (an H200 has 132 multiprocessors).
pub const ATTN_GROUPS_GPU: usize = 1024;

/// The same on a software adapter, whose few CPU threads pay for every workgroup's barriers: longer
/// chunks, streamed in tiles (lavapipe: steps at 1-2K keys up to 17% slower at the GPU's figure).
pub const ATTN_GROUPS_SOFTWARE: usize = 16;

/// Query heads one workgroup of a decode step's attention serves (`HB` in `shaders/attention.wgsl`): heads
/// that share a KV head (grouped-query attention) read each key and value once for all of them.
pub const ATTN_HEADS_PER_GROUP: usize = 4;

/// Workgroups of a decode step's attention per chunk of keys: per KV head, its `n_head / n_head_kv` query
/// heads in groups of up to [`ATTN_HEADS_PER_GROUP`].
pub fn attn_head_groups(n_head: usize, n_head_kv: usize) -> usize {
    n_head_kv * (n_head / n_head_kv.max(1)).div_ceil(ATTN_HEADS_PER_GROUP)
}

/// Keys per chunk of a decode step's attention over `keys` keys with `head_groups` workgroups per chunk
/// ([`attn_head_groups`]; the split of flash-decoding, chosen from the context length): one chunk up to
/// [`ATTN_ONE_CHUNK`] keys; past that, a power of two of at least 64 keys (a key per thread) that gives
/// about `groups` workgroups over the head groups, no more than `max_chunk` keys (the device's loop cap:
/// [`super::loop_budget::decode_chunk_keys`]), and no more than [`ATTN_ONE_CHUNK`] chunks (`attn_combine`
/// weighs them in workgroup memory), which wins past `ATTN_ONE_CHUNK * max_chunk` keys.
pub fn attn_chunk(keys: usize, head_groups: usize, groups: usize, max_chunk: usize) -> usize {
    if keys <= ATTN_ONE_CHUNK {
        return ATTN_ONE_CHUNK;
    }
    let fill = (keys * head_groups).div_ceil(groups.max(1)).next_power_of_two();
    fill.max(64).min(max_chunk).max(keys.div_ceil(ATTN_ONE_CHUNK).next_power_of_two())
}
/// The KV cache grows by at least this many tokens at a time (and by a quarter of itself when larger),
/// so growth costs O(1) amortised copies per token without preallocating the maximum context.
pub const KV_GROWTH: usize = 256;

/// One attention layer's cache: `(capacity, H_kv D)` keys and values in the state's [`KvType`] (f16 packed
/// two per u32 word, or f32).
pub struct KvCache {
    /// Keys.
    pub k: wgpu::Buffer,
    /// Values.
    pub v: wgpu::Buffer,
    /// Tokens the buffers hold.
    pub capacity: usize,
    /// Values per token (`H_kv D`).
    pub row: usize,
    /// Its element type.
    pub kv_type: KvType,
}

/// One layer's state.
pub enum LayerState {
    /// Attention.
    Kv(Option<KvCache>),
    /// Mamba: conv window `(K - 1, Di)` and SSM state `(Di, N)`.
    Mamba {
        /// Conv window.
        conv: wgpu::Buffer,
        /// `h`.
        ssm: wgpu::Buffer,
    },
    /// RWKV: token-shift states `(E)` for time-mix and channel-mix, WKV state `(H, S, S)`.
    Rwkv {
        /// Time-mix shift.
        att_shift: wgpu::Buffer,
        /// Channel-mix shift.
        ffn_shift: wgpu::Buffer,
        /// WKV.
        wkv: wgpu::Buffer,
    },
}

/// RWKV's working buffers, `(E)` each unless noted.
pub struct RwkvScratch {
    /// Lerped inputs `(6, E)`.
    pub lerp: wgpu::Buffer,
    /// Token-shift difference.
    pub sx: wgpu::Buffer,
    /// Receptance, key, value, normalised key, in-context rate, decay, gate.
    pub r: wgpu::Buffer,
    /// Key.
    pub k: wgpu::Buffer,
    /// Value.
    pub v: wgpu::Buffer,
    /// RWKV-7 normalised key.
    pub kk: wgpu::Buffer,
    /// RWKV-7 in-context learning rate.
    pub a: wgpu::Buffer,
    /// Decay.
    pub decay: wgpu::Buffer,
    /// Gate.
    pub g: wgpu::Buffer,
    /// WKV output.
    pub o: wgpu::Buffer,
    /// RWKV-7 bonus.
    pub bonus: wgpu::Buffer,
    /// Group-norm output.
    pub y: wgpu::Buffer,
    /// LoRA hidden before and after its activation `(max LoRA width)`.
    pub lora_a: wgpu::Buffer,
    /// After the activation.
    pub lora_b: wgpu::Buffer,
    /// LoRA output.
    pub lora_o: wgpu::Buffer,
    /// RWKV-7 layer 0's values.
    pub v_first: wgpu::Buffer,
    /// RWKV-6 channel-mix receptance.
    pub rr: wgpu::Buffer,
    /// RWKV-7's fused decode: r, k, v `(3, E)` from one product (a placeholder in a prefill chunk).
    pub rkv: wgpu::Buffer,
    /// RWKV-7's fused decode: decay, a, g, value mix `(4, E)` from the LoRA up-projections.
    pub up: wgpu::Buffer,
}

impl RwkvScratch {
    /// Buffers for the decode step (`chunk` `None`: one token) or for a prefill chunk of `t` tokens
    /// (`Some(t)`, which may be 1), when the model has RWKV layers.
    pub fn new(
        ctx: &GpuContext,
        pool: &mut Pool,
        spec: &ModelSpec,
        w: &GpuWeights,
        chunk: Option<usize>,
    ) -> Result<Option<Self>, GpuError> {
        let (t, step) = (chunk.unwrap_or(1), chunk.is_none());
        if !w.layers.iter().any(|l| matches!(l.mixer, GpuMixer::Rwkv6(_) | GpuMixer::Rwkv7(_))) {
            return Ok(None);
        }
        let widths = Widths::new(spec, w);
        // A decode step holds every LoRA hidden at once (one product writes them all).
        let lora = if step { widths.lora.max(widths.lora_sum) } else { widths.lora };
        let e = spec.n_embd;
        // The decode step's buffers are `rwkv: ...`; a prefill chunk's (t tokens) are `prefill: rwkv ...`.
        let prefix = if step { "rwkv:" } else { "prefill: rwkv" };
        // A decode step whose every RWKV layer is RWKV-7 in the fused form reads only the lerps, the LoRA
        // hidden, r/k/v, the LoRA outputs, v_first and y (plus sx, which norm_shift writes): the
        // kernel-by-kernel buffers are placeholders. A prefill chunk never uses the fused ones.
        let fused = step
            && w.layers.iter().all(|l| match &l.mixer {
                GpuMixer::Rwkv6(_) => false,
                GpuMixer::Rwkv7(r) => r.decode.is_some(),
                _ => true,
            });
        let (by_kernel, fused_only) = (if fused { 0 } else { 1 }, usize::from(step));
        let mut s = |label: &str, n: usize| {
            pool.create(ctx, &format!("{prefix} {label}"), (t * n * 4) as u64, STORAGE, Category::Scratch)
        };
        Ok(Some(RwkvScratch {
            lerp: s("lerp", 6 * e)?,
            sx: s("sx", e)?,
            r: s("r", by_kernel * e)?,
            k: s("k", by_kernel * e)?,
            v: s("v", by_kernel * e)?,
            kk: s("kk", by_kernel * 2 * e)?,
            a: s("a", by_kernel * e)?,
            decay: s("decay", by_kernel * e)?,
            g: s("g", by_kernel * e)?,
            o: s("o", by_kernel * e)?,
            bonus: s("bonus", by_kernel * e)?,
            y: s("y", e)?,
            lora_a: s("lora a", lora)?,
            lora_b: s("lora b", by_kernel * lora)?,
            lora_o: s("lora out", by_kernel * e)?,
            v_first: s("v_first", e)?,
            rr: s("rr", by_kernel * e)?,
            rkv: s("r k v", fused_only * 3 * e)?,
            up: s("decay a g vmix", fused_only * 4 * e)?,
        }))
    }

    /// Every buffer, to give back to the pool.
    pub fn buffers(self) -> [wgpu::Buffer; 19] {
        [
            self.lerp,
            self.sx,
            self.r,
            self.k,
            self.v,
            self.kk,
            self.a,
            self.decay,
            self.g,
            self.o,
            self.bonus,
            self.y,
            self.lora_a,
            self.lora_b,
            self.lora_o,
            self.v_first,
            self.rr,
            self.rkv,
            self.up,
        ]
    }
}

/// Working buffers of one decode step, sized for the widest layer.
pub struct Scratch {
    /// Residual stream `(E)`.
    pub x: wgpu::Buffer,
    /// Normed input `(E)`.
    pub h: wgpu::Buffer,
    /// This token's query, key and value as the products write them, before RoPE and before `rope_kv`
    /// appends the key and value to the cache `((H + 2 H_kv) D)`.
    pub qkv: wgpu::Buffer,
    /// Query after RoPE `(H D)`.
    pub q: wgpu::Buffer,
    /// Attention output `(max H D)`.
    pub attn: wgpu::Buffer,
    /// Attention partials `(H, chunks, D + 2)`; grows with the context.
    pub partial: wgpu::Buffer,
    /// Mamba `(2 Di)`, `(Di)`, `(R + 2N)`, `(R + 2N)` normed, `(Di)`, `(Di)`.
    pub xz: wgpu::Buffer,
    /// Conv output.
    pub xc: wgpu::Buffer,
    /// x_proj output.
    pub xdbc: wgpu::Buffer,
    /// Jamba's normed dt, B, C.
    pub dbc: wgpu::Buffer,
    /// dt_proj output.
    pub dt: wgpu::Buffer,
    /// Scan output.
    pub y: wgpu::Buffer,
    /// FFN gate, up and gated `(max hidden)`.
    pub gate: wgpu::Buffer,
    /// Up.
    pub up: wgpu::Buffer,
    /// Gated `(experts per token, max hidden)`.
    pub act: wgpu::Buffer,
    /// Router logits `(experts)`.
    pub router: wgpu::Buffer,
    /// Chosen experts and weights `(2 top_k)`.
    pub route: wgpu::Buffer,
    /// Logits `(n_vocab)`.
    pub logits: wgpu::Buffer,
    /// Token slots: `[0]` is the token being embedded (written by the CPU or by the sampler).
    pub tokens: wgpu::Buffer,
    /// Parameter slots for the step's dispatches.
    pub params: wgpu::Buffer,
    /// RWKV's, when the model has RWKV layers.
    pub rwkv: Option<RwkvScratch>,
    /// RoPE `(cos, sin)` per layer and pair at the current position, uploaded with each step.
    pub rope_table: wgpu::Buffer,
    /// Token ids the sampler's repetition penalty applies to.
    pub penalized: wgpu::Buffer,
}

/// The state of one sequence.
pub struct GpuState {
    // What the sequence owns.
    /// Tokens consumed (the next token's position).
    pub pos: usize,
    /// What each layer keeps, sized once for the calculator, the CPU state and this one.
    pub state_spec: StateSpec,
    /// Per layer: its KV cache, or its recurrent state.
    pub layers: Vec<LayerState>,
    /// Most bytes the KV cache may take in all, when the caller sets a budget.
    pub kv_budget: Option<u64>,
    /// The KV cache's element type: f16 unless set (like llama.cpp's `type_k` / `type_v`), before the
    /// first token (a cache keeps the type it was made with).
    pub kv_type: KvType,
    /// Every buffer of this state, the sequence's and the step's, counted by category.
    pub pool: Pool,
    /// What a step borrows: working buffers, read-backs, cached bind groups and how steps run.
    pub work: StepWork,
}

/// What a decode step or a prefill chunk borrows from its state: nothing in it outlives a step's meaning
/// (a new sequence could reuse it as it is).
pub struct StepWork {
    /// The decode step's working buffers.
    pub scratch: Scratch,
    /// Read-back of one token id.
    pub token_staging: wgpu::Buffer,
    /// Read-back of the logits.
    pub logits_staging: wgpu::Buffer,
    /// Bind groups of the decode step, reused from token to token.
    pub bind_groups: super::recorder::BindGroupCache,
    /// Profile each decode step and prefill: GPU timestamps around every dispatch (one pass each), into
    /// `last_profile`.
    pub profile: bool,
    /// The last profiled decode step or prefill.
    pub last_profile: Option<super::profile::StepProfile>,
    /// Host time of the last decode step before the GPU could start, in ms: writing its inputs, recording,
    /// encoding and submitting, or, for a step recorded ahead, writing its inputs and submitting.
    pub last_host_ms: f64,
    /// Record and encode the next decode step while this one runs on the GPU (default on): a step's host
    /// work then overlaps the step before it. Off, every step is recorded in its turn.
    pub record_ahead: bool,
    /// The next decode step, recorded ahead ([`super::forward::NextStep`]); submitted if the next call is
    /// the step it was recorded for, dropped otherwise.
    pub next: Option<super::forward::NextStep>,
    /// Tokens per prefill chunk ([`super::prefill::PREFILL_CHUNK`] unless set).
    pub prefill_chunk: usize,
    /// About how many (chunk, head) workgroups a decode step's attention aims at past one chunk
    /// ([`attn_chunk`]): [`ATTN_GROUPS_GPU`], or [`ATTN_GROUPS_SOFTWARE`] on a software adapter
    /// ([`crate::GpuContext::software_tuning`]).
    pub attn_groups: usize,
    /// The most keys a decode step's attention workgroup takes ([`attn_chunk`]): `usize::MAX`, or under the
    /// device's loop cap ([`super::loop_budget::decode_chunk_keys`]).
    pub attn_max_chunk: usize,
    /// The most keys one attention prefill pass reads ([`super::prefill::attn_prefill_passes`]) besides the
    /// device's loop cap ([`super::loop_budget`]): `usize::MAX` unless set. Tests lower it.
    pub attn_pass_keys: usize,
    /// Prefill's working buffers, made by the first prefill (and again when the chunk changes).
    pub prefill: Option<super::prefill::PrefillScratch>,
    /// Read-back of a prefill chunk's logits, when every token's were asked for.
    pub prefill_staging: Option<wgpu::Buffer>,
}

/// The label of the attention partials (made here, grown by `reserve`).
const ATTN_PARTIAL: &str = "attention: partials per key chunk (H (D + 2) chunks), grows with the context";
/// The label of the step's parameter slots (made here, grown by a step with more dispatches).
pub(super) const STEP_PARAMS: &str = "step: kernel parameters (256 B per dispatch)";

fn max_of(spec: &ModelSpec, f: impl Fn(&archrace_model::LayerSpec) -> usize) -> usize {
    spec.layers.iter().map(f).max().unwrap_or(0).max(4)
}

/// The widest of each working vector over the model's layers, in values per token (at least 4 each): the
/// decode step's scratch is sized by these, and a prefill chunk's by these times its tokens.
pub(super) struct Widths {
    /// Query heads `H D`.
    pub heads: usize,
    /// Query, key and value of a token `(H + 2 H_kv) D`.
    pub qkv: usize,
    /// Mamba's inner width `Di`.
    pub d_inner: usize,
    /// Mamba's x-projection row: dt, B, C `(R + 2N)`.
    pub dbc: usize,
    /// Feed-forward hidden width (dense, per expert, or channel-mix).
    pub hidden: usize,
    /// MoE experts.
    pub experts: usize,
    /// MoE experts per token (at least 4).
    pub top_k: usize,
    /// MoE experts per token, at least 1: a decode step's activations hold one row per chosen expert.
    pub slots: usize,
    /// RWKV LoRA hidden width.
    pub lora: usize,
    /// RWKV-7's LoRA hidden widths together (a decode step's one down-projection writes them all).
    pub lora_sum: usize,
}

impl Widths {
    pub fn new(spec: &ModelSpec, w: &GpuWeights) -> Self {
        use archrace_model::{Ffn, Mixer};
        let moe = |f: fn(usize, usize) -> usize| {
            let widest = w.layers.iter().map(|l| match l.ffn {
                GpuFfn::Moe { experts, top_k, .. } => f(experts, top_k),
                _ => 0,
            });
            widest.max().unwrap_or(0).max(4)
        };
        let lora = w.layers.iter().map(|l| match &l.mixer {
            GpuMixer::Rwkv6(r) => r.w1.rows.max(r.decay_w1.rows),
            GpuMixer::Rwkv7(r) => r.w.0.rows.max(r.a.0.rows).max(r.v.0.rows).max(r.g.0.rows),
            _ => 0,
        });
        let lora_sum = w.layers.iter().map(|l| match &l.mixer {
            GpuMixer::Rwkv7(r) => r.w.0.rows + r.a.0.rows + r.v.0.rows + r.g.0.rows,
            _ => 0,
        });
        Self {
            heads: max_of(spec, |l| match l.mixer {
                Mixer::Attention(a) => a.n_head * a.head_dim,
                _ => 0,
            }),
            qkv: max_of(spec, |l| match l.mixer {
                Mixer::Attention(a) => (a.n_head + 2 * a.n_head_kv) * a.head_dim,
                _ => 0,
            }),
            d_inner: max_of(spec, |l| match l.mixer {
                Mixer::Mamba(m) => m.d_inner,
                _ => 0,
            }),
            dbc: max_of(spec, |l| match l.mixer {
                Mixer::Mamba(m) => m.dt_rank + 2 * m.d_state,
                _ => 0,
            }),
            hidden: max_of(spec, |l| match l.ffn {
                Ffn::Dense { hidden } | Ffn::Moe { hidden, .. } | Ffn::ChannelMix { hidden } => hidden,
                _ => 0,
            }),
            experts: moe(|experts, _| experts),
            top_k: moe(|_, top_k| top_k),
            slots: w
                .layers
                .iter()
                .map(|l| match l.ffn {
                    GpuFfn::Moe { top_k, .. } => top_k,
                    _ => 1,
                })
                .max()
                .unwrap_or(1),
            lora: lora.max().unwrap_or(0).max(4),
            lora_sum: lora_sum.max().unwrap_or(0),
        }
    }
}

impl GpuState {
    /// An empty state (no tokens seen) for `spec`, its KV caches empty.
    pub fn new(ctx: &GpuContext, spec: &ModelSpec, w: &GpuWeights) -> Result<Self, GpuError> {
        let mut pool = Pool::default();
        let f32s = |n: usize| (n * 4) as u64;
        let state_spec = StateSpec::new(spec);
        let mut state = |label: &str, n: u64| pool.create(ctx, label, 4 * n, STORAGE, Category::State);
        let layers = state_spec
            .layers
            .iter()
            .map(|&l| match l {
                LayerStateSpec::Mamba { conv, ssm } => Ok(LayerState::Mamba {
                    // At least one element: a kernel of 1 keeps no inputs, and a binding cannot be empty.
                    conv: state("mamba conv state", conv.max(1))?,
                    ssm: state("mamba ssm state", ssm)?,
                }),
                LayerStateSpec::Rwkv { shift, wkv } => Ok(LayerState::Rwkv {
                    att_shift: state("rwkv att shift", shift)?,
                    ffn_shift: state("rwkv ffn shift", shift)?,
                    wkv: state("wkv state", wkv)?,
                }),
                LayerStateSpec::Kv { .. } => Ok(LayerState::Kv(None)),
            })
            .collect::<Result<Vec<_>, GpuError>>()?;
        let wd = Widths::new(spec, w);
        let has_attention = w.layers.iter().any(|l| matches!(l.mixer, GpuMixer::Attention(_)));
        // A part the model lacks keeps a placeholder of one vec4 (a binding cannot be empty).
        let has_mamba = w.layers.iter().any(|l| matches!(l.mixer, GpuMixer::Mamba(_)));
        let has_moe = w.layers.iter().any(|l| matches!(l.ffn, GpuFfn::Moe { .. }));
        let only = |has: bool, n: usize| if has { n } else { 4 };
        macro_rules! s {
            ($label:expr, $n:expr) => {
                pool.create(ctx, $label, f32s($n), STORAGE, Category::Scratch)
            };
        }
        let rwkv = RwkvScratch::new(ctx, &mut pool, spec, w, None)?;
        let scratch = Scratch {
            rwkv,
            penalized: s!("step: penalized token ids", super::forward::MAX_GPU_PENALIZED)?,
            rope_table: s!("attention: RoPE cos/sin table", 2 * spec.layers.len() * super::forward::rope_pairs(spec))?,
            x: s!("step: residual stream x (E)", spec.n_embd)?,
            h: s!("step: normed input h (E)", spec.n_embd)?,
            qkv: s!("attention: q, k, v of the token ((H + 2 H_kv) D)", wd.qkv)?,
            q: s!("attention: q after RoPE (H D)", wd.heads)?,
            attn: s!("attention: output (H D)", wd.heads)?,
            partial: s!(ATTN_PARTIAL, if has_attention { wd.heads + 2 * 64 } else { 4 })?,
            xz: s!("mamba: in-projection x, z (2 Di)", only(has_mamba, 2 * wd.d_inner))?,
            xc: s!("mamba: conv output (Di)", wd.d_inner)?,
            xdbc: s!("mamba: x-projection dt, B, C (R + 2N)", wd.dbc)?,
            dbc: s!("mamba: normed dt, B, C (Jamba) (R + 2N)", wd.dbc)?,
            dt: s!("mamba: dt (Di)", wd.d_inner)?,
            y: s!("mamba: scan output (Di)", wd.d_inner)?,
            gate: s!("ffn: gate (hidden)", wd.hidden)?,
            up: s!("ffn: up (hidden)", wd.hidden)?,
            act: s!("ffn: SwiGLU activations (experts per token x hidden)", wd.hidden * wd.slots)?,
            router: s!("moe: router logits (experts)", wd.experts)?,
            route: s!("moe: chosen experts and weights", only(has_moe, 16))?,
            logits: s!("step: logits (vocabulary)", spec.n_vocab)?,
            tokens: s!("step: token slots", 4)?,
            params: pool.create_params(ctx, STEP_PARAMS, 64 * 256)?,
        };
        let staging = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
        let token_staging = pool.create(ctx, "token read-back", 4, staging, Category::Staging)?;
        let logits_staging = pool.create(ctx, "logits read-back", f32s(spec.n_vocab), staging, Category::Staging)?;
        Ok(Self {
            pos: 0,
            layers,
            kv_budget: None,
            kv_type: if kv_f16_possible(&state_spec) { KvType::F16 } else { KvType::F32 },
            state_spec,
            pool,
            work: StepWork {
                scratch,
                token_staging,
                logits_staging,
                bind_groups: Default::default(),
                profile: false,
                last_profile: None,
                last_host_ms: 0.0,
                record_ahead: true,
                next: None,
                prefill_chunk: super::prefill::PREFILL_CHUNK,
                attn_groups: if ctx.software_tuning() { ATTN_GROUPS_SOFTWARE } else { ATTN_GROUPS_GPU },
                attn_max_chunk: attn_max_chunk(ctx, spec),
                attn_pass_keys: usize::MAX,
                prefill: None,
                prefill_staging: None,
            },
        })
    }

    /// Makes room for one more token in every KV cache (see [`GpuState::reserve`]).
    pub fn reserve_token(&mut self, ctx: &GpuContext, w: &GpuWeights, rec: &mut Recorder) -> Result<(), GpuError> {
        self.reserve(ctx, w, rec, 1)
    }

    /// Whether [`GpuState::reserve`] of `n` more tokens would change nothing: every KV cache already holds
    /// them in the current type, and the attention partials fit. A step recorded ahead of its turn
    /// ([`StepWork::next`]) is only recorded then, since it may be dropped, and a cache it had moved would
    /// lose its contents.
    pub fn holds(&self, w: &GpuWeights, n: usize) -> bool {
        let need = self.pos + n;
        let mut partial_need = 0u64;
        for (ls, lw) in self.layers.iter().zip(&w.layers) {
            let (LayerState::Kv(cache), GpuMixer::Attention(a)) = (ls, &lw.mixer) else { continue };
            match cache {
                Some(c) if c.capacity >= need && c.kv_type == self.kv_type => {}
                _ => return false,
            }
            partial_need =
                partial_need.max(partial_bytes(&a.spec, need, (self.work.attn_groups, self.work.attn_max_chunk)));
        }
        partial_need <= self.work.scratch.partial.size()
    }

    /// Makes room for `n` more tokens in every KV cache, moving a cache that is too small into a larger
    /// buffer (the copy is recorded into `rec`, ahead of the dispatches that write the new tokens), and
    /// grows the attention partials. Fails with `ContextFull`, changing nothing that holds tokens, when the
    /// device's binding limit or the KV budget cannot hold `pos + n` tokens.
    pub fn reserve(&mut self, ctx: &GpuContext, w: &GpuWeights, rec: &mut Recorder, n: usize) -> Result<(), GpuError> {
        let need = self.pos + n;
        let limit = Pool::max_binding(ctx);
        if self.kv_type == KvType::F16 && !kv_f16_possible(&self.state_spec) {
            return Err(GpuError::BadInput("an f16 KV cache needs an even number of values per token (H_kv D)".into()));
        }
        let elem = self.kv_type.bytes();
        let per_token = self.state_spec.kv_bytes_per_token(self.kv_type);
        let mut partial_need = 0u64;
        for ((ls, lw), kept) in self.layers.iter_mut().zip(&w.layers).zip(&self.state_spec.layers) {
            let (LayerState::Kv(cache), GpuMixer::Attention(a), &LayerStateSpec::Kv { row }) = (ls, &lw.mixer, kept)
            else {
                continue;
            };
            let spec = &a.spec;
            let row = row as usize;
            partial_need =
                partial_need.max(partial_bytes(spec, need, (self.work.attn_groups, self.work.attn_max_chunk)));
            if let Some(c) = cache.as_ref().filter(|c| c.kv_type != self.kv_type) {
                return Err(GpuError::BadInput(format!(
                    "the KV cache holds {:?} values; its type is set before the first token",
                    c.kv_type
                )));
            }
            let capacity = cache.as_ref().map_or(0, |c| c.capacity);
            if need <= capacity {
                continue;
            }
            let grown = (capacity + (capacity / 4).max(KV_GROWTH)).max(need).div_ceil(KV_GROWTH) * KV_GROWTH;
            let row_bytes = row as u64 * elem;
            let by_device = (limit / row_bytes) as usize;
            let by_budget = self.kv_budget.map(|b| (b / per_token.max(1)) as usize);
            let fit = by_budget.map_or(by_device, |b| b.min(by_device));
            if need > fit {
                let reason = match by_budget {
                    Some(b) if b < by_device => format!(
                        "the KV cache budget of {} bytes holds {b} tokens at {per_token} bytes per token",
                        self.kv_budget.unwrap_or(0)
                    ),
                    _ => format!(
                        "one layer's keys take {row_bytes} bytes per token and this device binds at most {limit} bytes per buffer ({by_device} tokens)"
                    ),
                };
                return Err(GpuError::ContextFull { tokens: self.pos, reason });
            }
            let new_cap = grown.min(fit);
            let k = self.pool.create(ctx, "k cache", row_bytes * new_cap as u64, STORAGE, Category::KvCache)?;
            let v = self.pool.create(ctx, "v cache", row_bytes * new_cap as u64, STORAGE, Category::KvCache)?;
            if let Some(old) = cache.take() {
                let used = row_bytes * self.pos as u64;
                if used > 0 {
                    rec.copy(&old.k, 0, &k, 0, used);
                    rec.copy(&old.v, 0, &v, 0, used);
                }
                // Released after the copy is submitted: wgpu keeps the buffers alive until then.
                self.pool.release_later(old.k, Category::KvCache);
                self.pool.release_later(old.v, Category::KvCache);
            }
            *cache = Some(KvCache { k, v, capacity: new_cap, row, kv_type: self.kv_type });
            self.work.bind_groups.clear();
        }
        if partial_need > self.work.scratch.partial.size() {
            let grown = partial_need.max(self.work.scratch.partial.size() * 2);
            let old = std::mem::replace(
                &mut self.work.scratch.partial,
                self.pool.create(ctx, ATTN_PARTIAL, grown, STORAGE, Category::Scratch)?,
            );
            self.pool.release_later(old, Category::Scratch);
            self.work.bind_groups.clear();
        }
        Ok(())
    }
}

/// The most keys per decode attention workgroup on `ctx` for `spec`'s widest attention heads, whichever of
/// `attn_partial` and its software twin (`attn_partial_runs`, a lane's share of the head in the device's
/// smallest subgroups, or SwiftShader's 4 where there are none) takes them.
fn attn_max_chunk(ctx: &GpuContext, spec: &ModelSpec) -> usize {
    let head_dim = spec.attention_layers().map(|a| a.head_dim).max().unwrap_or(0);
    let lanes = ctx.shader_target().subgroup_min.unwrap_or(4) as usize;
    super::loop_budget::decode_chunk_keys(ctx.loop_limit, head_dim, lanes)
}

/// Bytes of attention partials a layer needs at `keys` keys: per head and chunk ([`attn_chunk`]), the
/// weighted sum of values `(D)`, the running max and the sum of weights.
fn partial_bytes(spec: &archrace_model::AttnSpec, keys: usize, (groups, max_chunk): (usize, usize)) -> u64 {
    let chunk = attn_chunk(keys, attn_head_groups(spec.n_head, spec.n_head_kv), groups, max_chunk);
    (spec.n_head * keys.div_ceil(chunk) * (spec.head_dim + 2) * 4) as u64
}

/// Whether every attention layer's rows pack into f16 pairs (an even `H_kv D`).
fn kv_f16_possible(state_spec: &StateSpec) -> bool {
    state_spec.layers.iter().all(|l| !matches!(l, LayerStateSpec::Kv { row } if row % 2 == 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_f16_cache_needs_every_attention_row_even() {
        let (kv, mamba) = (|row| LayerStateSpec::Kv { row }, LayerStateSpec::Mamba { conv: 3, ssm: 5 });
        assert!(kv_f16_possible(&StateSpec { layers: vec![mamba, kv(64), kv(2)] }));
        assert!(kv_f16_possible(&StateSpec { layers: vec![mamba] }), "no attention: nothing to pack");
        assert!(!kv_f16_possible(&StateSpec { layers: vec![kv(64), mamba, kv(7)] }));
    }
}

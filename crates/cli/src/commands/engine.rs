//! One model on one backend behind the same few calls, so `logits`, `generate` and `race` are written
//! once for the CPU reference and the GPU runtime.

use archrace_cpu::{CpuModel, State};
use archrace_gguf::Gguf;
use archrace_gpu::{GpuContext, GpuModel, GpuSampling, GpuState, MemoryUse, PrefillLogits};
use archrace_model::{KvType, ModelSpec, Sampler};
use clap::ValueEnum;
use std::error::Error;

/// Where a model runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The CPU reference (plain Rust loops).
    Cpu,
    /// Our WGSL kernels on the GPU wgpu finds (Vulkan natively).
    Gpu,
}

/// A loaded model and its sequence state.
#[allow(clippy::large_enum_variant)]
pub enum Engine<'a> {
    /// CPU reference.
    Cpu {
        /// Model.
        model: CpuModel<'a>,
        /// State.
        state: State,
    },
    /// GPU runtime.
    Gpu {
        /// Device.
        ctx: GpuContext,
        /// Model.
        model: GpuModel,
        /// State.
        state: GpuState,
    },
}

type Res<T> = Result<T, Box<dyn Error>>;

impl<'a> Engine<'a> {
    /// Loads `g` onto `backend`, the GPU's KV cache in `kv` (the CPU keeps f32).
    pub fn load(g: &Gguf<'a>, backend: Backend, kv: KvType) -> Res<Self> {
        let cpu = CpuModel::from_gguf(g)?;
        Ok(match backend {
            Backend::Cpu => {
                let state = cpu.new_state();
                Engine::Cpu { model: cpu, state }
            }
            Backend::Gpu => {
                let ctx = pollster::block_on(GpuContext::new())?;
                let model = pollster::block_on(GpuModel::new(&ctx, &cpu.spec, &cpu.weights))?;
                let mut state = model.new_state(&ctx)?;
                state.kv_type = kv;
                Engine::Gpu { ctx, model, state }
            }
        })
    }

    /// The model's description.
    pub fn spec(&self) -> &ModelSpec {
        match self {
            Engine::Cpu { model, .. } => &model.spec,
            Engine::Gpu { model, .. } => &model.spec,
        }
    }

    /// Tokens consumed so far.
    pub fn pos(&self) -> usize {
        match self {
            Engine::Cpu { state, .. } => state.pos,
            Engine::Gpu { state, .. } => state.pos,
        }
    }

    /// Logits of every one of `tokens`, `(T, n_vocab)`: one forward call on the CPU, a prefill on the GPU.
    pub fn logits_all(&mut self, tokens: &[u32]) -> Res<Vec<f32>> {
        match self {
            Engine::Cpu { model, state } => Ok(model.forward(state, tokens)?),
            Engine::Gpu { ctx, model, state } => {
                Ok(pollster::block_on(model.prefill(ctx, state, tokens, PrefillLogits::All))?)
            }
        }
    }

    /// Consumes `tokens` and returns the last one's logits (the GPU reads back only those).
    pub fn prefill(&mut self, tokens: &[u32]) -> Res<Vec<f32>> {
        if tokens.is_empty() {
            return Err("nothing to prefill".into());
        }
        match self {
            Engine::Cpu { model, state } => {
                let l = model.forward(state, tokens)?;
                Ok(l[l.len() - model.spec.n_vocab..].to_vec())
            }
            Engine::Gpu { ctx, model, state } => {
                Ok(pollster::block_on(model.prefill(ctx, state, tokens, PrefillLogits::Last))?)
            }
        }
    }

    /// Consumes `tokens` without reading anything back (filling a context): one forward call on the CPU, a
    /// prefill on the GPU (chunks of `archrace_model::race::PREFILL_CHUNK` tokens, one submit each).
    pub fn feed(&mut self, tokens: &[u32]) -> Res<()> {
        match self {
            Engine::Cpu { model, state } => {
                model.forward(state, tokens)?;
            }
            Engine::Gpu { ctx, model, state } => {
                pollster::block_on(model.prefill(ctx, state, tokens, PrefillLogits::None))?;
            }
        }
        Ok(())
    }

    /// On the GPU, the milliseconds a fresh state takes to consume `tokens` one decode step each (the path
    /// prefill replaces), measured to the last token's logits being on the host; `None` on the CPU, whose
    /// forward pass has no token-by-token path.
    pub fn time_fill_by_step(&mut self, tokens: &[u32]) -> Res<Option<f64>> {
        let kv = self.kv_type();
        let Engine::Gpu { ctx, model, .. } = self else { return Ok(None) };
        let (last, head) = tokens.split_last().ok_or("nothing to fill")?;
        let mut fresh = model.new_state(ctx)?;
        fresh.kv_type = kv;
        let start = std::time::Instant::now();
        pollster::block_on(model.feed(ctx, &mut fresh, head))?;
        pollster::block_on(model.logits(ctx, &mut fresh, *last))?;
        Ok(Some(start.elapsed().as_secs_f64() * 1e3))
    }

    /// The KV cache's element type.
    pub fn kv_type(&self) -> KvType {
        match self {
            Engine::Cpu { .. } => KvType::F32,
            Engine::Gpu { state, .. } => state.kv_type,
        }
    }

    /// Bytes of KV cache the tokens consumed so far need (the allocation may hold more).
    pub fn kv_used(&self) -> u64 {
        archrace_model::calc::kv_bytes_per_token(self.spec(), self.kv_type()) * self.pos() as u64
    }

    /// Consumes `token` and returns the greedy next token. On the GPU, `None` feeds the token the previous
    /// greedy step sampled, which never left the device.
    pub fn greedy(&mut self, token: Option<u32>, previous: u32) -> Res<u32> {
        match self {
            Engine::Cpu { model, state } => {
                let l = model.forward(state, &[token.unwrap_or(previous)])?;
                Ok(archrace_model::sample::argmax(&l))
            }
            Engine::Gpu { ctx, model, state } => Ok(pollster::block_on(model.greedy(ctx, state, token))?),
        }
    }

    /// Consumes `token` and returns the next token sampled on the GPU with `sampler`'s settings, its
    /// penalty list for `history` and its next draw; `None` where the GPU sampler does not take these
    /// settings (or on the CPU), in which case nothing was consumed.
    pub fn sample_on_device(&mut self, token: u32, sampler: &mut Sampler, history: &[u32]) -> Res<Option<u32>> {
        let Engine::Gpu { ctx, model, state } = self else { return Ok(None) };
        let c = &sampler.config;
        let penalized = sampler.penalized(history);
        if !GpuSampling::takes(c.temperature, c.top_k, penalized.len()) {
            return Ok(None);
        }
        let sampling = GpuSampling {
            temperature: c.temperature,
            top_k: c.top_k,
            top_p: c.top_p,
            min_p: c.min_p,
            repeat_penalty: c.repeat_penalty,
            penalized,
            u: sampler.draw(),
        };
        Ok(Some(pollster::block_on(model.sample(ctx, state, Some(token), sampling))?))
    }

    /// The most bytes held at once: the GPU pool's peak (transients included), or the CPU's total now.
    pub fn memory_peak(&self, weight_bytes: u64) -> u64 {
        match self {
            Engine::Gpu { model, state, .. } => model.memory_peak(state),
            Engine::Cpu { .. } => self.memory(weight_bytes).total(),
        }
    }

    /// The GPU scratch by buffer (label, bytes), largest first; empty on the CPU.
    pub fn scratch_buffers(&self) -> Vec<(String, u64)> {
        match self {
            Engine::Gpu { model, state, .. } => model.scratch_buffers(state),
            Engine::Cpu { .. } => Vec::new(),
        }
    }

    /// Memory held, by category: on the GPU the pool's bytes; on the CPU the state's vectors and the
    /// GGUF's tensor bytes (the CPU reads weights in place).
    pub fn memory(&self, weight_bytes: u64) -> MemoryUse {
        match self {
            Engine::Gpu { model, state, .. } => model.memory(state),
            Engine::Cpu { state, .. } => {
                let (kv, rec) = state.bytes();
                MemoryUse { weights: weight_bytes, kv_cache: kv, state: rec, scratch: 0, staging: 0 }
            }
        }
    }
}

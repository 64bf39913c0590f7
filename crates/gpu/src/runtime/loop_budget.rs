//! Sizing work under a driver's cap on loop iterations ([`crate::GpuContext::loop_limit`]).
//!
//! llvmpipe (lavapipe) counts every loop back-edge an invocation takes, all its loops together, and past
//! [`LLVMPIPE_LOOP_LIMIT`] makes every loop exit at its next back-edge: the kernel finishes early and its
//! outputs are silently wrong (a state row never written back, a token's sum cut short). Loops that the
//! shader compiler unrolls take no back-edges, but Mesa unrolls only constant trip counts up to 32 with
//! small bodies, so the counts here take no loop as unrolled.
//!
//! Three kinds of kernel loop over something that grows with the work:
//! - the chunked recurrences (`wkv6`, `wkv7`, `mamba_conv`, `mamba_scan`, `token_shift`, `moe_lists`) over
//!   a prefill chunk's tokens: the chunk is cut to fit ([`chunk_tokens`]);
//! - `attn_prefill` (and its software twin `attn_prefill_lanes`) over the keys before its queries: past
//!   [`attn_prefill_keys_per_pass`] ([`attn_lanes_keys_per_pass`]) keys it runs in passes, each taking the
//!   softmax state where the one before left it;
//! - a decode step's attention over a chunk of keys: chunks are cut ([`decode_chunk_keys`]).
//!
//! The samplers (`argmax`, `sample_top_k`) loop over the vocabulary, which nothing here cuts: they read it
//! a fixed number of times (`sample_top_k` at most nine, four ids a loop step), so the largest vocabulary a
//! model may have (`archrace_model::meta::MAX_VOCAB`, 4M) takes under 38,000 back-edges; a test samples
//! one that size on lavapipe.

use crate::{GpuContext, GpuError};
use archrace_model::{Ffn, LayerSpec, Mixer};
use wgpu::util::DeviceExt;

/// Loop back-edges an llvmpipe invocation may take (Mesa gallivm's `LP_MAX_TGSI_LOOP_ITERATIONS`).
pub const LLVMPIPE_LOOP_LIMIT: usize = 65_535;

/// Back-edges kept for the loops outside the counted ones (loading and storing a state row or a tile,
/// staging queries, workgroup reductions).
const MARGIN: usize = 2_048;

/// `wkv7`'s state rows in registers up to this head size (`REG_HEAD` in `shaders/wkv.wgsl`); its loops
/// over a row run this many times for narrower heads too.
const WKV7_REG_HEAD: usize = 64;

/// `mamba_scan`'s states in registers up to this size (`REG_STATE` in `shaders/mamba.wgsl`).
const MAMBA_REG_STATE: usize = 16;

/// `mamba_conv`'s window in registers for conv widths 2 up to this (`REG_CONV` in `shaders/mamba.wgsl`).
const MAMBA_REG_CONV: usize = 4;

/// The most tokens a prefill chunk of a model with these layers may hold under `limit` back-edges per
/// invocation (`usize::MAX` without a limit), a multiple of 64 (the matmul tile) where it is more than 64.
pub fn chunk_tokens(limit: Option<usize>, layers: &[LayerSpec]) -> usize {
    let Some(limit) = limit else { return usize::MAX };
    let per_token = layers.iter().map(|l| mixer_steps(&l.mixer).max(ffn_steps(&l.ffn))).max().unwrap_or(1);
    let tokens = (limit.saturating_sub(MARGIN) / per_token.max(1)).max(1);
    if tokens > 64 {
        tokens / 64 * 64
    } else {
        tokens
    }
}

/// Back-edges per token of a mixer's chunk kernels, the most of any of them: the token loop and the loops
/// inside it.
fn mixer_steps(mixer: &Mixer) -> usize {
    match mixer {
        // attn_prefill's loops run over keys and over a workgroup's fixed set of queries, not over the
        // chunk's tokens; rope_kv takes a thread per value.
        Mixer::Attention(_) => 1,
        // mamba_conv: two loops over the window a token (all REG_CONV slots when it fits them); mamba_scan:
        // the state (all REG_STATE slots when it fits them).
        Mixer::Mamba(m) => {
            let scan = if m.d_state <= MAMBA_REG_STATE { MAMBA_REG_STATE } else { m.d_state };
            let conv = if (2..=MAMBA_REG_CONV).contains(&m.d_conv) { 2 * MAMBA_REG_CONV } else { 2 * m.d_conv };
            1 + scan.max(conv)
        }
        // wkv6: the key column i of a thread's value column; token_shift: up to 6 lerps.
        Mixer::Rwkv(r) if r.version == 6 => 1 + r.head_size.max(6),
        // wkv7: two loops over the columns of the thread's state rows a token.
        Mixer::Rwkv(r) => 1 + 2 * r.head_size.max(WKV7_REG_HEAD),
    }
}

/// Back-edges per token of a feed-forward's chunk kernels: `moe_lists` looks at every token's top-k.
fn ffn_steps(ffn: &Ffn) -> usize {
    match ffn {
        Ffn::Moe { top_k, .. } => 1 + top_k,
        _ => 1,
    }
}

/// The most keys one `attn_prefill` pass may read under `limit` (`usize::MAX` without a limit), a multiple
/// of its 64-key tile. A tile takes its own step; the score loop over the D / 2 (or D, odd) units of a key,
/// with a loop over the 4 lanes in each; the tile maximum's loops (4 lanes of 8 runs, 8 maxima each); a
/// thread's 4 items, each with a loop over the tile's 64 keys; and the lanes' rescaling. Lavapipe reads
/// 70,000 keys right in passes of up to 20,480 at D = 64, where this gives 8,064.
pub fn attn_prefill_keys_per_pass(limit: Option<usize>, head_dim: usize) -> usize {
    let Some(limit) = limit else { return usize::MAX };
    let units = if head_dim.is_multiple_of(2) { head_dim / 2 } else { head_dim };
    let per_tile = 1 + 5 * units + 4 * (1 + 8 + 8) + 4 * (1 + 64) + 4 * 3;
    (limit.saturating_sub(MARGIN) / per_tile).max(1) * 64
}

/// The most keys one `attn_prefill_lanes` pass may read under `limit` (`usize::MAX` without a limit), for
/// lanes of `units` units (`DU` in `shaders/attention_lanes.wgsl`): a key takes its own step and two loops
/// over the units, counted at half again their trips. Lavapipe, 70,000 keys at 32 units: right in passes
/// of 700 keys, wrong in passes of 976 (so a key costs more than 67 back-edges there); this gives 654.
pub fn attn_lanes_keys_per_pass(limit: Option<usize>, units: usize) -> usize {
    let Some(limit) = limit else { return usize::MAX };
    (limit.saturating_sub(MARGIN) / (1 + 3 * units)).max(1)
}

/// The most keys a decode step's attention workgroup may take under `limit` (`usize::MAX` without a limit),
/// a power of two of at least 64, whichever kernel takes them: `attn_partial`, per 256-key tile four keys
/// a thread with a loop over a key's units in each, its exps, its reductions, and a thread's units with a
/// loop over its share of the tile's keys (4 units of them) in each; `attn_partial_runs`, its keys spread
/// over the workgroup's 64 / `lanes` runs (`lanes`: the device's smallest subgroup), a step a key and its
/// loops over the lane's units. Lavapipe, one chunk: `attn_partial` right at 32,768 keys and wrong at
/// 65,536 for D = 64 (right at 16,384, wrong at 32,768 for D = 128), where this gives 16,384 (8,192);
/// `attn_partial_runs` right at 65,536 for both.
pub fn decode_chunk_keys(limit: Option<usize>, head_dim: usize, lanes: usize) -> usize {
    let Some(limit) = limit else { return usize::MAX };
    let budget = limit.saturating_sub(MARGIN);
    let units = if head_dim.is_multiple_of(2) { head_dim / 2 } else { head_dim };
    let partial = budget / (20 * units + 32) * 256;
    let lanes = lanes.clamp(1, 64);
    let per_lane = units.div_ceil(lanes).next_power_of_two();
    let runs = budget * (64 / lanes) / (1 + 3 * per_lane);
    let keys = partial.min(runs).max(64);
    1 << keys.ilog2()
}

/// Runs `shaders/lib/loop_probe.wgsl` on `ctx`: one invocation's count of `outer` x `inner` loop iterations,
/// fewer where the driver caps an invocation's loops ([`GpuContext::loop_limit`]; tests check that the cap
/// the runtime assumes is the device's).
pub async fn loop_probe(ctx: &GpuContext, outer: u32, inner: u32) -> Result<u32, GpuError> {
    let device = &ctx.device;
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("loop_probe"),
        source: wgpu::ShaderSource::Wgsl(crate::shaders::LOOP_PROBE.into()),
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some("loop_probe"),
        layout: None,
        module: &module,
        entry_point: Some("loop_probe"),
        compilation_options: Default::default(),
        cache: None,
    });
    let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
    let trips = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("loop_probe trips"),
        contents: bytemuck::cast_slice(&[outer, inner]),
        usage: storage,
    });
    let count = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("loop_probe count"),
        size: 4,
        usage: storage,
        mapped_at_creation: false,
    });
    let staging = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("loop_probe staging"),
        size: 4,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let bind = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("loop_probe"),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[
            wgpu::BindGroupEntry { binding: 0, resource: trips.as_entire_binding() },
            wgpu::BindGroupEntry { binding: 1, resource: count.as_entire_binding() },
        ],
    });
    let mut encoder = device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(1, 1, 1);
    }
    encoder.copy_buffer_to_buffer(&count, 0, &staging, 0, 4);
    ctx.queue.submit([encoder.finish()]);
    if let Some(e) = scope.pop().await {
        return Err(GpuError::from_scope("loop_probe", e));
    }
    let words: Vec<u32> = bytemuck::pod_collect_to_vec(&crate::readback::read_bytes(device, &staging).await?);
    Ok(words[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use archrace_model::{AttnSpec, MambaSpec, RwkvSpec};

    fn layers(mixer: Mixer, ffn: Ffn) -> Vec<LayerSpec> {
        vec![LayerSpec { mixer, ffn }]
    }

    fn rwkv(version: u8) -> Mixer {
        Mixer::Rwkv(RwkvSpec { version, head_size: 64, n_head: 2 })
    }

    #[test]
    fn no_limit_cuts_nothing() {
        assert_eq!(chunk_tokens(None, &layers(rwkv(7), Ffn::None)), usize::MAX);
        assert_eq!(attn_prefill_keys_per_pass(None, 64), usize::MAX);
        assert_eq!(decode_chunk_keys(None, 64, 8), usize::MAX);
        assert_eq!(attn_lanes_keys_per_pass(None, 32), usize::MAX);
    }

    #[test]
    fn llvmpipe_cuts_rwkv7_chunks_below_512_and_leaves_the_others() {
        let limit = Some(LLVMPIPE_LOOP_LIMIT);
        // 129 back-edges a token: 512 tokens would take 66,048.
        assert_eq!(chunk_tokens(limit, &layers(rwkv(7), Ffn::None)), 448);
        assert!(chunk_tokens(limit, &layers(rwkv(6), Ffn::None)) >= 512);
        let mamba = MambaSpec { d_inner: 64, d_conv: 4, d_state: 16, dt_rank: 4, dt_b_c_rms: false };
        assert!(chunk_tokens(limit, &layers(Mixer::Mamba(mamba), Ffn::None)) >= 512);
        let attn = AttnSpec { n_head: 4, n_head_kv: 2, head_dim: 64, rope: None };
        let moe = Ffn::Moe { experts: 16, top_k: 2, hidden: 64 };
        assert!(chunk_tokens(limit, &layers(Mixer::Attention(attn), moe)) >= 512);
        for d in [16, 25, 64, 128, 256] {
            let pass = attn_prefill_keys_per_pass(limit, d);
            assert!(pass.is_multiple_of(64) && pass >= 4096, "head dim {d}: {pass} keys a pass");
            let chunk = decode_chunk_keys(limit, d, 8);
            assert!(chunk.is_power_of_two() && (4096..=65536).contains(&chunk), "head dim {d}: {chunk}");
        }
        assert_eq!(decode_chunk_keys(limit, 64, 8), 16384);
        assert_eq!(attn_lanes_keys_per_pass(limit, 32), 654);
        assert_eq!(decode_chunk_keys(limit, 128, 8), 8192);
    }

    #[test]
    fn tiny_limits_still_give_work() {
        assert_eq!(chunk_tokens(Some(10), &layers(rwkv(7), Ffn::None)), 1);
        assert_eq!(attn_prefill_keys_per_pass(Some(10), 64), 64);
        assert_eq!(decode_chunk_keys(Some(10), 64, 8), 64);
        assert_eq!(attn_lanes_keys_per_pass(Some(10), 32), 1);
    }
}

//! Prefill on the GPU (lavapipe in CI): its kernels against their CPU twins on seeded data, and whole
//! models against llama.cpp's goldens for every position, across chunk sizes, followed by decoding, and
//! over a context of thousands of tokens against the token-by-token path.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use archrace_cpu::ops::attention::attention;
use archrace_cpu::ops::matmul::matmul;
use archrace_cpu::ops::moe::{moe_route, swiglu};
use archrace_cpu::ops::norm::rms_norm;
use archrace_cpu::{CpuModel, SplitMix64};
use archrace_gguf::{GgmlType, Gguf};
use archrace_gpu::kernels::matmul::{list_offsets, MatmulParams, MatmulTile, TokenList};
use archrace_gpu::kernels::matvec::kernel_block;
use archrace_gpu::kernels::oneshot::{run_kernel, Arg};
use archrace_gpu::kernels::params::AttnParams;
use archrace_gpu::{layout, GpuContext, GpuError, GpuModel, Kernel, PrefillLogits, PREFILL_CHUNK};
use archrace_model::KvType;
use archrace_model::Tensor;
use archrace_tests::data::random_encoded;
use archrace_tests::gpu::{context_or_skip, matmul_tiles_or_skip, tunings_or_skip};
use common::parity::{bytes, check, kv_cache_bytes, run, TIGHT, TRANSCENDENTAL};
use common::{fixture, ids, json, rel_err, QUANTS};

fn params_words(p: &MatmulParams) -> Vec<u32> {
    bytemuck::cast_slice(std::slice::from_ref(p)).to_vec()
}

/// The tile `ctx`'s matmul kernels were compiled for, which sizes their grids.
fn tile(ctx: &GpuContext) -> MatmulTile {
    MatmulTile::of(ctx.shader_target())
}

/// Every encoding, over 70 rows (two row tiles) and 67 tokens (two token tiles), columns of whole blocks
/// that end inside a 32-column step where the encoding allows; then the same product adding into a
/// strided Y read from a strided X. With both tunings on a software adapter (its threads take 16 x 16 of a
/// tile each, a GPU's 4 x 4) and every tile `bench --matmul-tiles` compares
/// (`archrace_gpu::kernels::matmul::MatmulTile`).
#[test]
fn matmul_matches_matmul_for_every_encoding() {
    for (tuning, ctx) in pollster::block_on(matmul_tiles_or_skip("matmul parity")) {
        matmul_parity_for_every_encoding(&tuning, &ctx);
    }
}

fn matmul_parity_for_every_encoding(tuning: &str, ctx: &GpuContext) {
    let (rows, t) = (70usize, 67usize);
    for ty in GgmlType::ALL {
        let block = kernel_block(ty);
        let cols = if block == 4 { 36 } else { 2 * block };
        let mut rng = SplitMix64::new(100 + ty as u64);
        let w = random_encoded(ty, rows, cols, &mut rng);
        let x = rng.vec(t * cols, -1.0, 1.0);
        let tensor = Tensor { name: "w".into(), ty, dims: vec![cols as u64, rows as u64], data: &w };
        let want = matmul(&tensor, &x, t);
        let (gw, row_bytes) = (layout::to_gpu_rows(ty, cols, &w), layout::row_bytes(ty, cols) as u32);
        let p = MatmulParams {
            rows: rows as u32,
            cols: cols as u32,
            n_tokens: t as u32,
            row_bytes,
            x_stride: cols as u32 / 4,
            y_stride: rows as u32,
            ..Default::default()
        };
        let args = [(1, Arg::In(&gw)), (2, Arg::In(bytes(&x))), (3, Arg::Out(t * rows * 4)), (4, Arg::In(&[0; 4]))];
        let got = run(ctx, Kernel::Matmul(ty), &params_words(&p), &args, tile(ctx).workgroups(rows, t));
        check(&format!("{} plain, {tuning}", Kernel::Matmul(ty).name()), &want, &got[0], TIGHT);

        // X rows 8 values apart from column 4 on; Y rows 3 values wider, from offset 5, added into.
        let xs = cols + 8;
        let mut strided = vec![9.0f32; 4 + t * xs];
        for tok in 0..t {
            strided[4 + tok * xs..][..cols].copy_from_slice(&x[tok * cols..][..cols]);
        }
        let ys = rows + 3;
        let y0: Vec<f32> = (0..5 + t * ys).map(|i| (i % 7) as f32).collect();
        let mut want_add = y0.clone();
        for tok in 0..t {
            for r in 0..rows {
                want_add[5 + tok * ys + r] += want[tok * rows + r];
            }
        }
        let p = MatmulParams { x_off: 1, x_stride: xs as u32 / 4, y_off: 5, y_stride: ys as u32, mode: 1, ..p };
        let args =
            [(1, Arg::In(&gw)), (2, Arg::In(bytes(&strided))), (3, Arg::InOut(bytes(&y0))), (4, Arg::In(&[0; 4]))];
        let got = run(ctx, Kernel::Matmul(ty), &params_words(&p), &args, tile(ctx).workgroups(rows, t));
        check(&format!("{} strided, adding, {tuning}", Kernel::Matmul(ty).name()), &want_add, &got[0], TIGHT);
    }
}

/// `matmul_act`: the activations a chunk's product applies as it writes (RWKV's LoRA and channel-mix
/// products), against the CPU's product and then the same-numbered pointwise op, each row's bias read from
/// `bias_at` on (as for a split matrix's later part); with both tunings.
#[test]
fn matmul_act_matches_the_product_then_pointwise() {
    use archrace_cpu::ops::pointwise::pointwise;
    let modes = archrace_tests::gpu::ACTIVATIONS;
    for (tuning, ctx) in pollster::block_on(matmul_tiles_or_skip("matmul activations")) {
        let (rows, cols, t, bias_at) = (70usize, 64usize, 67usize, 5usize);
        let mut rng = SplitMix64::new(29);
        let x = rng.vec(t * cols, -1.0, 1.0);
        let bias = rng.vec(bias_at + rows, -1.0, 1.0);
        let token_bias: Vec<f32> = (0..t * rows).map(|i| bias[bias_at + i % rows]).collect();
        for ty in [GgmlType::F32, GgmlType::Q4_0] {
            let w = random_encoded(ty, rows, cols, &mut rng);
            let tensor = Tensor { name: "w".into(), ty, dims: vec![cols as u64, rows as u64], data: &w };
            let product = matmul(&tensor, &x, t);
            let gw = layout::to_gpu_rows(ty, cols, &w);
            for (mode, op) in modes {
                let mut want = vec![0.0; t * rows];
                pointwise(op, &product, &token_bias, &token_bias, &mut want);
                let p = MatmulParams {
                    rows: rows as u32,
                    cols: cols as u32,
                    n_tokens: t as u32,
                    row_bytes: layout::row_bytes(ty, cols) as u32,
                    x_stride: cols as u32 / 4,
                    y_stride: rows as u32,
                    mode: mode as u32,
                    bias_at: bias_at as u32,
                    ..Default::default()
                };
                let args = [
                    (1, Arg::In(&gw)),
                    (2, Arg::In(bytes(&x))),
                    (3, Arg::Out(t * rows * 4)),
                    (4, Arg::In(bytes(&bias))),
                ];
                let kernel = Kernel::MatmulAct(ty);
                let got = run(&ctx, kernel, &params_words(&p), &args, tile(&ctx).workgroups(rows, t));
                check(&format!("{} {mode:?}, {tuning}", kernel.name()), &want, &got[0], TRANSCENDENTAL);
            }
        }
    }
}

/// `matmul_swiglu`: a gate and an up projection in one buffer (up a few rows' bytes past the gate's end,
/// as an expert's slices of stacked tensors are), over 45 rows (two tiles of 32 rows of Y) and 67 tokens,
/// and through a gather list, against the CPU's two products and `silu(g) * u`; with both tunings.
#[test]
fn matmul_swiglu_matches_the_two_products_and_the_gate() {
    for (tuning, ctx) in pollster::block_on(matmul_tiles_or_skip("matmul swiglu")) {
        let (rows, t) = (45usize, 67usize);
        let mut rng = SplitMix64::new(37);
        for ty in [GgmlType::F32, GgmlType::Q4_0, GgmlType::Q6_K] {
            let cols = kernel_block(ty).max(32) * 2;
            let (gate, up) = (random_encoded(ty, rows, cols, &mut rng), random_encoded(ty, rows, cols, &mut rng));
            let x = rng.vec(t * cols, -1.0, 1.0);
            let tensor = |data| Tensor { name: "w".into(), ty, dims: vec![cols as u64, rows as u64], data };
            let (g, u) = (matmul(&tensor(&gate), &x, t), matmul(&tensor(&up), &x, t));
            let want: Vec<f32> = g.iter().zip(&u).map(|(g, u)| g / (1.0 + (-g).exp()) * u).collect();
            // [gate rows][3 rows of something else][up rows]
            let other = random_encoded(ty, 3, cols, &mut rng);
            let gap = layout::to_gpu_rows(ty, cols, &other);
            let gpu_gate = layout::to_gpu_rows(ty, cols, &gate);
            let w = [&gpu_gate[..], &gap, &layout::to_gpu_rows(ty, cols, &up)].concat();
            let p = MatmulParams {
                rows: rows as u32,
                cols: cols as u32,
                n_tokens: t as u32,
                row_bytes: layout::row_bytes(ty, cols) as u32,
                x_stride: cols as u32 / 4,
                y_stride: rows as u32,
                pair_bytes: (gpu_gate.len() + gap.len()) as u32,
                ..Default::default()
            };
            let kernel = Kernel::MatmulSwiglu(ty);
            let args = [(1, Arg::In(&w)), (2, Arg::In(bytes(&x))), (3, Arg::Out(t * rows * 4)), (4, Arg::In(&[0; 4]))];
            let got = run(&ctx, kernel, &params_words(&p), &args, tile(&ctx).swiglu_workgroups(rows, t));
            check(&format!("{}, {tuning}", kernel.name()), &want, &got[0], TRANSCENDENTAL);

            // Every third token of the chunk through a gather list, written compact.
            let listed: Vec<usize> = (0..t).step_by(3).collect();
            let mut lists = vec![0u32; 1 + 2 * t];
            let (count_at, ids_at, weights_at) = list_offsets(0, 1, t);
            lists[count_at as usize] = listed.len() as u32;
            for (n, &i) in listed.iter().enumerate() {
                lists[ids_at as usize + n] = i as u32;
            }
            let want: Vec<f32> = listed.iter().flat_map(|&i| want[i * rows..][..rows].to_vec()).collect();
            let p = MatmulParams { list: TokenList::Gather as u32, count_at, ids_at, weights_at, ..p };
            let args = [
                (1, Arg::In(&w)),
                (2, Arg::In(bytes(&x))),
                (3, Arg::Out(t * rows * 4)),
                (4, Arg::In(bytemuck::cast_slice(&lists))),
            ];
            let got = run(&ctx, kernel, &params_words(&p), &args, tile(&ctx).swiglu_workgroups(rows, t));
            check(&format!("{} gathered, {tuning}", kernel.name()), &want, &got[0][..want.len()], TRANSCENDENTAL);
        }
    }
}

/// A MoE expert's products through token lists: gathering the listed tokens' rows into a compact Y, and
/// scattering a compact X's products into the listed rows times their weights; with both tunings.
#[test]
fn matmul_gathers_and_scatters_through_token_lists() {
    for (tuning, ctx) in pollster::block_on(matmul_tiles_or_skip("matmul token lists")) {
        matmul_token_lists(&tuning, &ctx);
    }
}

fn matmul_token_lists(tuning: &str, ctx: &GpuContext) {
    let (rows, cols, t, experts, expert) = (20usize, 64usize, 70usize, 3usize, 1usize);
    let mut rng = SplitMix64::new(7);
    let w = random_encoded(GgmlType::Q8_0, rows, cols, &mut rng);
    let tensor = Tensor { name: "w".into(), ty: GgmlType::Q8_0, dims: vec![cols as u64, rows as u64], data: &w };
    let gw = layout::to_gpu_rows(GgmlType::Q8_0, cols, &w);
    let x = rng.vec(t * cols, -1.0, 1.0);
    let listed: Vec<usize> = (0..t).filter(|i| i % 3 != 1).collect(); // 47 tokens: crosses a token tile
    let weights: Vec<f32> = listed.iter().map(|&i| 0.25 + i as f32 / 100.0).collect();
    let mut lists = vec![0u32; experts * (1 + 2 * t)];
    let (count_at, ids_at, weights_at) = list_offsets(expert, experts, t);
    lists[count_at as usize] = listed.len() as u32;
    for (n, (&i, &wt)) in listed.iter().zip(&weights).enumerate() {
        lists[ids_at as usize + n] = i as u32;
        lists[weights_at as usize + n] = wt.to_bits();
    }
    let lists_bytes: &[u8] = bytemuck::cast_slice(&lists);
    let gathered: Vec<f32> = listed.iter().flat_map(|&i| x[i * cols..][..cols].to_vec()).collect();
    let want = matmul(&tensor, &gathered, listed.len());
    let p = MatmulParams {
        rows: rows as u32,
        cols: cols as u32,
        n_tokens: t as u32,
        row_bytes: layout::row_bytes(GgmlType::Q8_0, cols) as u32,
        x_stride: cols as u32 / 4,
        y_stride: rows as u32,
        list: TokenList::Gather as u32,
        count_at,
        ids_at,
        weights_at,
        ..Default::default()
    };
    let args = [(1, Arg::In(&gw)), (2, Arg::In(bytes(&x))), (3, Arg::Out(t * rows * 4)), (4, Arg::In(lists_bytes))];
    let got = run(ctx, Kernel::Matmul(GgmlType::Q8_0), &params_words(&p), &args, tile(ctx).workgroups(rows, t));
    check(&format!("matmul gather, {tuning}"), &want, &got[0][..listed.len() * rows], TIGHT);

    let y0 = rng.vec(t * rows, -1.0, 1.0);
    let compact = matmul(&tensor, &gathered, listed.len());
    let mut want = y0.clone();
    for (n, &i) in listed.iter().enumerate() {
        for r in 0..rows {
            want[i * rows + r] += weights[n] * compact[n * rows + r];
        }
    }
    let p = MatmulParams { list: TokenList::Scatter as u32, ..p };
    let args =
        [(1, Arg::In(&gw)), (2, Arg::In(bytes(&gathered))), (3, Arg::InOut(bytes(&y0))), (4, Arg::In(lists_bytes))];
    let got = run(ctx, Kernel::Matmul(GgmlType::Q8_0), &params_words(&p), &args, tile(ctx).workgroups(rows, t));
    check(&format!("matmul scatter, {tuning}"), &want, &got[0], TIGHT);
}

/// `attn_prefill` against the CPU's attention for every query of a chunk, each against its causal prefix:
/// chunks of 70 queries after 300 cached keys (several workgroups of queries, key tiles crossed) and of 5
/// from an empty cache (a workgroup's queries cut short); query heads per KV head 1, 2, 3, 4 and 6 (a
/// workgroup serves up to four heads: 6 takes a group of four and one of two; 3 leaves a lane idle); head
/// dims with four lanes (16, 64, 80, odd 25), three (160) and two (256); f32 and f16 caches (the CPU given
/// the f16-rounded keys and values); scores small and past e^s's f32 range; both twins of the reductions;
/// in one pass over the keys and in passes of a third of them (each taking the softmax state the one before
/// left: `attn_prefill_passes`); and the software adapters' twin `attn_prefill_lanes` on the f16 cases of
/// even head dims up to 128 (a lane per four queries; 24 leaves units of its lanes idle).
#[test]
fn attn_prefill_matches_attention_for_every_query() {
    use archrace_tests::gpu::subgroup_twins_or_skip;
    let mut lanes_checked = 0;
    for (twin, ctx) in pollster::block_on(subgroup_twins_or_skip("attn_prefill parity")) {
        eprintln!("attn_prefill parity: {twin}");
        let mut rng = SplitMix64::new(8);
        // Queries up to q_max: 2 for scores of a few units; 60 for scores past 88, whose e^s overflows f32
        // unless the running maximum is subtracted.
        let cases = [
            (4usize, 2usize, 16usize, false, 2.0f32),
            (4, 2, 64, true, 2.0),
            (4, 4, 80, false, 2.0),
            (6, 2, 64, true, 2.0),
            (4, 1, 32, true, 2.0),
            (12, 2, 16, false, 2.0),
            (3, 3, 25, false, 2.0),
            (4, 2, 160, true, 2.0),
            (2, 1, 256, false, 2.0),
            (4, 2, 16, false, 60.0),
            (4, 2, 16, true, 60.0),
            (2, 2, 128, true, 2.0),
            (4, 2, 24, true, 2.0),
        ];
        for (h, hkv, d, kv_f16, q_max) in cases {
            for (pos0, t) in [(300usize, 70usize), (0, 5)] {
                let n_keys = pos0 + t;
                let (p, q, k_bytes, v_bytes, want) = attn_case(&mut rng, (h, hkv, d), (pos0, t), kv_f16, q_max);
                // The software adapters' twin, for f16 caches and the even head dims it covers.
                let lanes = archrace_gpu::attn_lanes_kernel(d).filter(|_| kv_f16);
                for kernel in [Some(Kernel::AttnPrefill), lanes].into_iter().flatten() {
                    for per_pass in [n_keys, (n_keys / 3).max(1)] {
                        let got = attn_prefill_in_passes(&ctx, kernel, p, (&q, &k_bytes, &v_bytes), per_pass);
                        let what = format!(
                            "{}, heads {h}/{hkv} of {d}, f16 {kv_f16}, q to {q_max}, {t} queries after {pos0}, \
                             passes of {per_pass} keys",
                            kernel.name()
                        );
                        check(&what, &want, &got, TRANSCENDENTAL);
                        lanes_checked += usize::from(kernel != Kernel::AttnPrefill);
                    }
                }
            }
        }
    }
    // Six f16 shapes of even head dims up to 128 (units per lane 32, 32, 16, 8, 64, 16), two chunks each, in
    // one pass and in three, on each device.
    assert!(lanes_checked >= 6 * 2 * 2, "attn_prefill_lanes checked {lanes_checked} times");
}

/// Queries 70,000 keys into the cache: past what one llvmpipe invocation's loops may take (65,535
/// back-edges, all loops together; then every loop exits early and the output is wrong), so on lavapipe
/// `attn_prefill` and its software twin `attn_prefill_lanes` run in the passes `loop_budget` sizes for
/// the device, and match the CPU there (one pass elsewhere).
#[test]
fn attn_prefill_past_the_loop_limit_matches_attention() {
    use archrace_gpu::runtime::loop_budget::{attn_lanes_keys_per_pass, attn_prefill_keys_per_pass};
    let Some(ctx) = pollster::block_on(context_or_skip("attn_prefill past the loop limit")) else { return };
    let (h, hkv, d, pos0, t) = (4usize, 2usize, 64usize, 70_000usize, 3usize);
    let n_keys = pos0 + t;
    let (p, q, k_bytes, v_bytes, want) = attn_case(&mut SplitMix64::new(31), (h, hkv, d), (pos0, t), true, 2.0);
    let per_pass = attn_prefill_keys_per_pass(ctx.loop_limit, d).min(n_keys);
    if ctx.loop_limit.is_some() {
        assert!(per_pass < n_keys, "a loop cap of {:?} takes more than one pass of {per_pass}", ctx.loop_limit);
    }
    let got = attn_prefill_in_passes(&ctx, Kernel::AttnPrefill, p, (&q, &k_bytes, &v_bytes), per_pass);
    check(&format!("attn_prefill after {pos0} keys, passes of {per_pass}"), &want, &got, TRANSCENDENTAL);
    let lanes = archrace_gpu::attn_lanes_kernel(d).expect("D = 64 has lanes");
    let Kernel::AttnPrefillLanes(units) = lanes else { unreachable!() };
    let per_pass = attn_lanes_keys_per_pass(ctx.loop_limit, usize::from(units)).min(n_keys);
    let got = attn_prefill_in_passes(&ctx, lanes, p, (&q, &k_bytes, &v_bytes), per_pass);
    check(&format!("attn_prefill_lanes after {pos0} keys, passes of {per_pass}"), &want, &got, TRANSCENDENTAL);
}

/// A random chunk of `t` queries (up to `q_max`) after `pos0` cached keys, for heads `(H, H_kv, D)`: its
/// parameters, the queries, the cache's keys and values (f16 pairs or f32) and the CPU's attention of every
/// query over its causal prefix (given the f16-rounded keys and values).
fn attn_case(
    rng: &mut SplitMix64,
    (h, hkv, d): (usize, usize, usize),
    (pos0, t): (usize, usize),
    kv_f16: bool,
    q_max: f32,
) -> (AttnParams, Vec<f32>, Vec<u8>, Vec<u8>, Vec<f32>) {
    let n_keys = pos0 + t;
    let q = rng.vec(t * h * d, -q_max, q_max);
    let mut k = rng.vec(n_keys * hkv * d, -2.0, 2.0);
    let mut v = rng.vec(n_keys * hkv * d, -1.0, 1.0);
    let (k_bytes, v_bytes) = (kv_cache_bytes(&mut k, kv_f16), kv_cache_bytes(&mut v, kv_f16));
    let want = (0..t).flat_map(|i| attention(&q[i * h * d..][..h * d], &k, &v, pos0 + i + 1, h, hkv, d)).collect();
    let p = AttnParams {
        n_head: h as u32,
        n_head_kv: hkv as u32,
        head_dim: d as u32,
        scale: 1.0 / (d as f32).sqrt(),
        pos0: pos0 as u32,
        n_tokens: t as u32,
        kv_f16: u32::from(kv_f16),
        ..Default::default()
    };
    (p, q, k_bytes, v_bytes, want)
}

/// `attn_prefill` over `p`'s chunk in the passes `attn_prefill_passes` gives for `per_pass` keys, the
/// softmax state carried from pass to pass in its buffers (`partial` and `out`, read back and handed on):
/// the chunk's output.
fn attn_prefill_in_passes(
    ctx: &GpuContext,
    kernel: Kernel,
    mut p: AttnParams,
    (q, k, v): (&[f32], &[u8], &[u8]),
    per_pass: usize,
) -> Vec<f32> {
    use archrace_gpu::runtime::{attn_prefill_grid, attn_prefill_passes};
    let (t, h, hkv, d) = (p.n_tokens as usize, p.n_head as usize, p.n_head_kv as usize, p.head_dim as usize);
    let keys = p.pos0 as usize + t;
    let (mut state, mut out) = (vec![0u8; t * h * 2 * 4], vec![0u8; t * h * d * 4]);
    for (from, to) in attn_prefill_passes(keys, per_pass) {
        (p.keys_from, p.keys_to) = (from as u32, to as u32);
        (p.resume, p.finish) = (u32::from(from > 0), u32::from(to == keys));
        let params: &[u32] = bytemuck::cast_slice(std::slice::from_ref(&p));
        let args =
            [(1, Arg::In(bytes(q))), (2, Arg::In(k)), (3, Arg::In(v)), (4, Arg::InOut(&state)), (5, Arg::InOut(&out))];
        let grid = match kernel {
            Kernel::AttnPrefill => attn_prefill_grid(t, h, hkv, d),
            _ => [t.div_ceil(archrace_gpu::runtime::prefill::ATTN_LANES_QUERIES) as u32, h as u32, 1],
        };
        let got = pollster::block_on(run_kernel(ctx, kernel, params, &args, grid))
            .unwrap_or_else(|e| panic!("attn_prefill pass {from}..{to}: {e}"));
        (state, out) = (got[0].clone(), got[1].clone());
    }
    bytemuck::pod_collect_to_vec(&out)
}

/// RMSNorm of one field of wider rows (Jamba's B inside a chunk's x-projection rows), and of three
/// fields of each row in one dispatch, each with its own weights (Jamba's dt, B and C norms).
#[test]
fn norm_reads_and_writes_strided_rows_and_fields() {
    let Some(ctx) = pollster::block_on(context_or_skip("strided norm parity")) else { return };
    let (n, rows, stride, off, eps) = (16usize, 9usize, 40usize, 8usize, 1e-5f32);
    let mut rng = SplitMix64::new(10);
    let x = rng.vec(rows * stride, -3.0, 3.0);
    let w = rng.vec(stride, -1.0, 1.0);
    let field = |r: usize, at: usize, len: usize| x[r * stride + at..][..len].to_vec();
    let normed: Vec<f32> = (0..rows).flat_map(|r| rms_norm(&field(r, off, n), &w[..n], eps)).collect();
    let params = [n as u32, rows as u32, off as u32, off as u32, 0, eps.to_bits(), stride as u32, stride as u32];
    let args =
        [(1, Arg::In(bytes(&x))), (2, Arg::In(bytes(&w))), (3, Arg::In(bytes(&w))), (4, Arg::Out(rows * stride * 4))];
    let got = run(&ctx, Kernel::Norm, &params, &args, [rows as u32, 1, 1]);
    let got: Vec<f32> = (0..rows).flat_map(|r| got[0][r * stride + off..][..n].to_vec()).collect();
    check("strided norm", &normed, &got, TIGHT);

    // Fields of 8, 16 and 16 values (dt, B, C) fill each 40-value row.
    let (r, nb) = (8usize, 16usize);
    let mut want = Vec::new();
    for row in 0..rows {
        for (at, len) in [(0, r), (r, nb), (r + nb, nb)] {
            want.extend(rms_norm(&field(row, at, len), &w[at..at + len], eps));
        }
    }
    let params = [r, rows, 0, 0, 0, 0, stride, stride, nb, nb].map(|v| v as u32);
    let params = [&params[..5], &[eps.to_bits()], &params[6..]].concat();
    let got = run(&ctx, Kernel::Norm, &params, &args, [rows as u32, 3, 1]);
    check("norm of three fields per row", &want, &got[0], TIGHT);
}

/// Routing 40 tokens at once, their per-expert lists, and SwiGLU over more workgroups than one row of
/// the dispatch holds.
#[test]
fn moe_route_lists_and_swiglu_over_a_chunk_match_their_twins() {
    let Some(ctx) = pollster::block_on(context_or_skip("moe chunk parity")) else { return };
    let (experts, top_k, t) = (16usize, 2usize, 40usize);
    let mut rng = SplitMix64::new(12);
    let logits = rng.vec(t * experts, -2.0, 2.0);
    let params = [experts as u32, top_k as u32, t as u32];
    let route = pollster::block_on(run_kernel(
        &ctx,
        Kernel::MoeRoute,
        &params,
        &[(1, Arg::In(bytes(&logits))), (2, Arg::Out(t * 2 * top_k * 4))],
        [t as u32, 1, 1],
    ))
    .unwrap();
    let route: Vec<u32> = bytemuck::pod_collect_to_vec(&route[0]);
    let mut want_lists = vec![Vec::new(); experts];
    for i in 0..t {
        let want = moe_route(&logits[i * experts..][..experts], top_k);
        let got: Vec<usize> = route[i * 2 * top_k..][..top_k].iter().map(|&e| e as usize).collect();
        assert_eq!(got, want.iter().map(|w| w.0).collect::<Vec<_>>(), "token {i}'s experts");
        for (s, (e, p)) in want.into_iter().enumerate() {
            let wt = f32::from_bits(route[i * 2 * top_k + top_k + s]);
            assert!((wt - p).abs() <= 1e-5, "token {i} slot {s}: weight {wt} vs {p}");
            want_lists[e].push((i as u32, wt.to_bits()));
        }
    }
    let lists = pollster::block_on(run_kernel(
        &ctx,
        Kernel::MoeLists,
        &params,
        &[(2, Arg::In(bytemuck::cast_slice(&route))), (3, Arg::Out(experts * (1 + 2 * t) * 4))],
        [1, 1, 1],
    ))
    .unwrap();
    let lists: Vec<u32> = bytemuck::pod_collect_to_vec(&lists[0]);
    for (e, want) in want_lists.iter().enumerate() {
        let (count_at, ids_at, weights_at) = list_offsets(e, experts, t);
        let n = lists[count_at as usize] as usize;
        let got: Vec<(u32, u32)> =
            (0..n).map(|i| (lists[ids_at as usize + i], lists[weights_at as usize + i])).collect();
        assert_eq!(&got, want, "expert {e}'s list");
    }

    let n = 3 * 64 + 10;
    let (g, u) = (rng.vec(n, -6.0, 6.0), rng.vec(n, -1.0, 1.0));
    let args = [(1, Arg::In(bytes(&g))), (2, Arg::In(bytes(&u))), (3, Arg::Out(n * 4))];
    // Two workgroups per row of the dispatch: the rest spill into y.
    let got = run(&ctx, Kernel::Swiglu, &[n as u32, 128], &args, [2, 2, 1]);
    check("swiglu spilling into y", &swiglu(&g, &u), &got[0], TRANSCENDENTAL);
}

/// An f16 KV cache (the default) holds half the bytes of an f32 one, and llama and Jamba with it stay
/// close to llama.cpp's f32-KV logits at every position (prefill in chunks of 7, then decode).
#[test]
fn an_f16_kv_cache_halves_the_bytes_and_stays_close_to_f32() {
    let Some(ctx) = pollster::block_on(context_or_skip("f16 kv")) else { return };
    for file in ["llama-q8_0", "jamba-q8_0"] {
        let (_cpu, gpu) = load(&ctx, &format!("{file}.gguf"));
        let golden = json(&format!("{file}.logits.json"));
        let tokens = ids(&golden["tokens"]);
        let want = golden_rows(&golden);
        let n_vocab = gpu.spec.n_vocab;
        let mut f16 = gpu.new_state(&ctx).unwrap();
        assert_eq!(f16.kv_type, KvType::F16, "f16 unless set");
        f16.work.prefill_chunk = 7;
        let (head, tail) = tokens.split_at(tokens.len() - 4);
        let mut got = pollster::block_on(gpu.prefill(&ctx, &mut f16, head, PrefillLogits::All)).unwrap();
        for &tok in tail {
            got.extend(pollster::block_on(gpu.logits(&ctx, &mut f16, tok)).unwrap());
        }
        let worst =
            want.iter().enumerate().map(|(p, row)| rel_err(&got[p * n_vocab..][..n_vocab], row)).fold(0f32, f32::max);
        eprintln!("{file}: f16 KV vs llama.cpp's f32 KV, worst relative error {worst:.2e}");
        assert!(worst <= 2e-3, "{file}: f16 KV logits {worst:.2e} from llama.cpp's f32-KV ones");
        let mut f32s = gpu.new_state(&ctx).unwrap();
        f32s.kv_type = KvType::F32;
        pollster::block_on(gpu.prefill(&ctx, &mut f32s, &tokens, PrefillLogits::None)).unwrap();
        assert_eq!(2 * gpu.memory(&f16).kv_cache, gpu.memory(&f32s).kv_cache, "{file}");
        let err = pollster::block_on(async {
            f16.kv_type = KvType::F32; // too late: the cache holds f16 values
            gpu.logits(&ctx, &mut f16, 1).await
        })
        .unwrap_err();
        assert!(matches!(err, GpuError::BadInput(_)), "{err}");
    }
}

/// On a device that binds at most 12 KiB per buffer, prefill takes as many tokens per chunk as fit (a
/// 512-token chunk's buffers would not) and still matches llama.cpp at every position.
#[test]
fn prefill_shrinks_its_chunk_to_the_device_binding_limit() {
    let Some(mut ctx) = pollster::block_on(context_or_skip("prefill binding cap")) else { return };
    ctx.binding_cap = Some(12 * 1024);
    for file in ["llama-q8_0", "jamba-q8_0", "mamba-q8_0"] {
        let (_cpu, gpu) = load(&ctx, &format!("{file}.gguf"));
        let golden = json(&format!("{file}.logits.json"));
        let tokens = ids(&golden["tokens"]);
        let mut state = gpu.new_state(&ctx).unwrap();
        state.kv_type = KvType::F32; // as llama.cpp's goldens (f32 K and V)
        let got = pollster::block_on(gpu.prefill(&ctx, &mut state, &tokens, PrefillLogits::All))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let n_vocab = gpu.spec.n_vocab;
        for (pos, row) in golden_rows(&golden).iter().enumerate() {
            let err = rel_err(&got[pos * n_vocab..][..n_vocab], row);
            assert!(err <= 1e-4, "{file} position {pos}: {err:.2e}");
        }
        let chunk = state.work.prefill.as_ref().map(|p| p.chunk).unwrap();
        assert!(chunk < tokens.len() && chunk >= 1, "{file}: chunk {chunk}");
    }
}

/// Where q, k and v (or gate and up) cannot share one buffer (here: together they exceed an 8 KiB binding
/// cap), each is its own product into the same rows; prefill and then decode still match llama.cpp.
#[test]
fn q_k_v_and_gate_up_in_separate_buffers_give_the_same_logits() {
    use archrace_gpu::runtime::weights::{GpuFfn, GpuMixer};
    let Some(mut ctx) = pollster::block_on(context_or_skip("separate products")) else { return };
    for (cap, joined) in [(None, true), (Some(8 * 1024), false)] {
        ctx.binding_cap = cap;
        let (_cpu, gpu) = load(&ctx, "llama-q8_0.gguf");
        for l in &gpu.weights.layers {
            let (GpuMixer::Attention(a), GpuFfn::Dense { gate, up, .. }) = (&l.mixer, &l.ffn) else { panic!() };
            assert_eq!(a.qkv.is_some(), joined, "cap {cap:?}: q, k and v in one buffer");
            assert_eq!(gate.followed_by(up).is_some(), joined, "cap {cap:?}: gate and up in one buffer");
        }
        let golden = json("llama-q8_0.logits.json");
        let tokens = ids(&golden["tokens"]);
        let mut state = gpu.new_state(&ctx).unwrap();
        state.kv_type = KvType::F32; // as llama.cpp's goldens (f32 K and V)
        let (head, tail) = tokens.split_at(tokens.len() / 2);
        let mut got = pollster::block_on(gpu.prefill(&ctx, &mut state, head, PrefillLogits::All)).unwrap();
        for &tok in tail {
            got.extend(pollster::block_on(gpu.logits(&ctx, &mut state, tok)).unwrap());
        }
        let n_vocab = gpu.spec.n_vocab;
        for (pos, row) in golden_rows(&golden).iter().enumerate() {
            let err = rel_err(&got[pos * n_vocab..][..n_vocab], row);
            assert!(err <= 1e-4, "cap {cap:?} position {pos}: {err:.2e}");
        }
    }
}

fn load(ctx: &GpuContext, file: &str) -> (CpuModel<'static>, GpuModel) {
    let bytes: &'static [u8] = Box::leak(fixture(file).into_boxed_slice());
    let g = Box::leak(Box::new(Gguf::parse(bytes).unwrap()));
    let cpu = CpuModel::from_gguf(g).unwrap();
    let gpu = pollster::block_on(GpuModel::new(ctx, &cpu.spec, &cpu.weights)).unwrap_or_else(|e| panic!("{file}: {e}"));
    (cpu, gpu)
}

fn golden_rows(golden: &serde_json::Value) -> Vec<Vec<f32>> {
    let rows = golden["logits"].as_array().unwrap();
    rows.iter().map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect()).collect()
}

/// For every architecture and quant: prefill's logits for every position against llama.cpp's (1e-4 of
/// the row's largest, as decode); chunks of 1, 7 and 64 tokens, and chunks of 64 whose attention reads the
/// keys in passes of 5 (`GpuState::work.attn_pass_keys`), give the same logits within 1e-5; and a
/// prefill followed by greedy decoding on the GPU reproduces llama.cpp's greedy trace, with this adapter's
/// tuning and, on a software adapter, a GPU's too (its norm sizes, fused norms, threads per row).
fn check_prefill(arch: &str) {
    let tunings = pollster::block_on(tunings_or_skip(&format!("{arch} prefill")));
    let Some((_, ctx)) = tunings.first() else { return };
    for q in QUANTS {
        let file = format!("{arch}-{q}.gguf");
        let (_cpu, gpu) = load(ctx, &file);
        let golden = json(&format!("{arch}-{q}.logits.json"));
        let tokens = ids(&golden["tokens"]);
        let want = golden_rows(&golden);
        let n_vocab = gpu.spec.n_vocab;
        let mut by_chunk: Vec<Vec<f32>> = Vec::new();
        for (chunk, pass_keys) in [(64usize, usize::MAX), (7, usize::MAX), (1, usize::MAX), (64, 5)] {
            let mut state = gpu.new_state(ctx).unwrap();
            state.kv_type = KvType::F32; // as llama.cpp's goldens (f32 K and V)
            state.work.prefill_chunk = chunk;
            state.work.attn_pass_keys = pass_keys; // attention in passes of 5 keys, its softmax state carried
            let got = pollster::block_on(gpu.prefill(ctx, &mut state, &tokens, PrefillLogits::All))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(got.len(), tokens.len() * n_vocab);
            assert_eq!(state.pos, tokens.len());
            for (pos, row) in want.iter().enumerate() {
                let err = rel_err(&got[pos * n_vocab..][..n_vocab], row);
                let how = format!("chunk {chunk}, attention passes of {pass_keys} keys");
                assert!(err <= 1e-4, "{file} {how} position {pos}: prefill vs llama.cpp {err:.2e} > 1e-4");
                if let Some(first) = by_chunk.first() {
                    let first_row = &first[pos * n_vocab..][..n_vocab];
                    let err = rel_err(&got[pos * n_vocab..][..n_vocab], first_row);
                    assert!(err <= 1e-5, "{file} position {pos}: {how} vs chunk 64: {err:.2e} > 1e-5");
                }
            }
            by_chunk.push(got);
        }
        eprintln!(
            "{file}: prefill matches llama.cpp at every position in chunks of 64, 7 and 1, and with attention \
             in passes (batched: {})",
            gpu.prefill_is_batched()
        );
    }
    let file = format!("{arch}-f32.gguf");
    let trace = json(&format!("{arch}-f32.greedy.json"));
    let prompt = ids(&trace["tokens"]);
    for (tuning, ctx) in &tunings {
        let (_cpu, gpu) = load(ctx, &file);
        let mut state = gpu.new_state(ctx).unwrap();
        state.kv_type = KvType::F32; // as llama.cpp's goldens (f32 K and V)
        state.work.prefill_chunk = 5;
        let logits = pollster::block_on(gpu.prefill(ctx, &mut state, &prompt, PrefillLogits::Last)).unwrap();
        let mut next = archrace_model::sample::argmax(&logits);
        let mut generated = vec![next];
        while generated.len() < trace["n_generate"].as_u64().unwrap() as usize {
            next = pollster::block_on(gpu.greedy(ctx, &mut state, Some(next))).unwrap();
            generated.push(next);
        }
        assert_eq!(generated, ids(&trace["generated"]), "{file} ({tuning}): prefill, then greedy decoding on the GPU");
    }
}

#[test]
fn llama_prefill_matches_llama_cpp() {
    check_prefill("llama");
}

#[test]
fn mamba_prefill_matches_llama_cpp() {
    check_prefill("mamba");
}

#[test]
fn jamba_prefill_matches_llama_cpp() {
    check_prefill("jamba");
}

#[test]
fn rwkv6_prefill_matches_llama_cpp() {
    check_prefill("rwkv6");
}

#[test]
fn rwkv7_prefill_matches_llama_cpp() {
    check_prefill("rwkv7");
}

/// 3,000 tokens (past the first KV growth several times, across 6 chunks of 512) filled by prefill leave
/// the same state as filling them token by token: the next token's logits agree within 1e-4.
#[test]
fn a_long_llama_prefill_matches_the_token_by_token_path() {
    a_long_prefill_matches_the_token_by_token_path("llama-q8_0.gguf");
}

/// Jamba's, as llama's above: a test of its own, so the two (the longest of the suite) run side by side.
#[test]
fn a_long_jamba_prefill_matches_the_token_by_token_path() {
    a_long_prefill_matches_the_token_by_token_path("jamba-q8_0.gguf");
}

/// RWKV-7's state after 1,100 tokens of prefill (chunks of up to 512, as many as the device's loop cap
/// lets `wkv7` take: 448 on lavapipe, where 512 tokens of its two loops over a state row a token pass the
/// 65,535 back-edges llvmpipe allows an invocation, and the row was never written back) is the state
/// token by token: the next token's logits agree within 1e-4.
#[test]
fn a_long_rwkv7_prefill_matches_the_token_by_token_path() {
    let Some(ctx) = pollster::block_on(context_or_skip("long rwkv7 prefill")) else { return };
    let (_cpu, gpu) = load(&ctx, "rwkv7-q8_0.gguf");
    let mut rng = SplitMix64::new(23);
    let tokens: Vec<u32> = (0..1101).map(|_| (rng.next_u64() % gpu.spec.n_vocab as u64) as u32).collect();
    let (fill, last) = tokens.split_at(1100);
    let mut by_step = gpu.new_state(&ctx).unwrap();
    pollster::block_on(gpu.feed(&ctx, &mut by_step, fill)).unwrap();
    let want = pollster::block_on(gpu.logits(&ctx, &mut by_step, last[0])).unwrap();
    let mut by_chunk = gpu.new_state(&ctx).unwrap();
    pollster::block_on(gpu.prefill(&ctx, &mut by_chunk, fill, PrefillLogits::None)).unwrap();
    let chunk = by_chunk.work.prefill.as_ref().map_or(0, |p| p.chunk);
    let cap = archrace_gpu::runtime::loop_budget::chunk_tokens(ctx.loop_limit, &gpu.spec.layers);
    assert_eq!(chunk, PREFILL_CHUNK.min(cap), "the chunk, under the device's loop cap {:?}", ctx.loop_limit);
    let got = pollster::block_on(gpu.logits(&ctx, &mut by_chunk, last[0])).unwrap();
    let err = rel_err(&got, &want);
    assert!(err <= 1e-4, "next logits after a 1,100-token prefill in chunks of {chunk} vs token by token: {err:.2e}");
}

fn a_long_prefill_matches_the_token_by_token_path(file: &str) {
    let Some(ctx) = pollster::block_on(context_or_skip("long prefill")) else { return };
    let (_cpu, gpu) = load(&ctx, file);
    let mut rng = SplitMix64::new(21);
    let tokens: Vec<u32> = (0..3001).map(|_| (rng.next_u64() % gpu.spec.n_vocab as u64) as u32).collect();
    let (fill, last) = tokens.split_at(3000);
    let mut by_step = gpu.new_state(&ctx).unwrap();
    pollster::block_on(gpu.feed(&ctx, &mut by_step, fill)).unwrap();
    let want = pollster::block_on(gpu.logits(&ctx, &mut by_step, last[0])).unwrap();
    let mut by_chunk = gpu.new_state(&ctx).unwrap();
    pollster::block_on(gpu.prefill(&ctx, &mut by_chunk, fill, PrefillLogits::None)).unwrap();
    let got = pollster::block_on(gpu.logits(&ctx, &mut by_chunk, last[0])).unwrap();
    let err = rel_err(&got, &want);
    assert!(err <= 1e-4, "{file}: next logits after a 3,000-token prefill vs token by token: {err:.2e}");
    // Both caches hold the 3,001 tokens; prefill reserves a chunk ahead, so its capacity may differ.
    let per_token = gpu.memory(&by_step).kv_cache / by_step.layers.iter().map(kv_capacity).max().unwrap() as u64;
    let held = gpu.memory(&by_chunk).kv_cache / per_token;
    assert!((3001..=3001 * 5 / 4 + 512).contains(&(held as usize)), "{file}: prefill's cache holds {held} tokens");
    // Growing the cache held the old and the new buffers at once: the peak says so.
    let (now, peak) = (gpu.memory(&by_chunk).total(), gpu.memory_peak(&by_chunk));
    assert!(peak > now, "{file}: peak {peak} bytes, now {now}");
}

fn kv_capacity(l: &archrace_gpu::runtime::state::LayerState) -> usize {
    match l {
        archrace_gpu::runtime::state::LayerState::Kv(Some(c)) => c.capacity,
        _ => 0,
    }
}

/// A prefill that passes the KV budget stops with `ContextFull` at the last whole chunk, and the state
/// still decodes from there.
#[test]
fn a_prefill_past_the_kv_budget_stops_at_the_last_chunk() {
    let Some(ctx) = pollster::block_on(context_or_skip("prefill kv budget")) else { return };
    let (cpu, gpu) = load(&ctx, "llama-q4_0.gguf");
    let mut state = gpu.new_state(&ctx).unwrap();
    state.kv_type = KvType::F32; // as llama.cpp's goldens (f32 K and V)
                                 // llama fixture: 768 bytes per token; 300 tokens fit.
    state.kv_budget = Some(300 * 768);
    state.work.prefill_chunk = 128;
    let tokens: Vec<u32> = (0..400).map(|i| (i * 7 % 262) as u32).collect();
    let err = pollster::block_on(gpu.prefill(&ctx, &mut state, &tokens, PrefillLogits::None)).unwrap_err();
    match &err {
        GpuError::ContextFull { tokens, reason } => {
            assert_eq!(*tokens, 256, "two whole chunks of 128");
            assert!(reason.contains("300 tokens"), "{reason}");
        }
        other => panic!("expected ContextFull, got {other}"),
    }
    assert_eq!(state.pos, 256);
    let got = pollster::block_on(gpu.logits(&ctx, &mut state, tokens[256])).unwrap();
    let mut cpu_state = cpu.new_state();
    let want = cpu.forward(&mut cpu_state, &tokens[..257]).unwrap();
    let err = rel_err(&got, &want[256 * 262..]);
    assert!(err <= 1e-4, "decoding after the refused chunk: {err:.2e}");
}

/// A software adapter's attention prefill twin (`attn_prefill_lanes`: a lane per four queries walking the
/// keys, the default there for an f16 cache) and `attn_prefill` (GPUs' kernel) give the same logits at every
/// position, for llama (every layer attention) and Jamba (one), over 300 tokens in chunks of 64 whose
/// attention reads the keys in passes of 100; each way's chunks dispatch its own kernel.
#[test]
fn software_and_gpu_attention_prefill_agree() {
    let Some(ctx) = pollster::block_on(context_or_skip("attention lanes")) else { return };
    for name in ["llama-q8_0.gguf", "jamba-q8_0.gguf"] {
        let (_cpu, mut gpu) = load(&ctx, name);
        assert_eq!(gpu.attention_lanes(), ctx.software_tuning(), "{name}: the default follows the adapter");
        let mut rng = SplitMix64::new(12);
        let tokens: Vec<u32> = (0..300).map(|_| (rng.next_u64() % gpu.spec.n_vocab as u64) as u32).collect();
        let mut ways = Vec::new();
        for lanes in [true, false] {
            gpu.set_attention_lanes(lanes);
            assert_eq!(gpu.attention_lanes(), lanes && ctx.software_tuning(), "{name}");
            let mut state = gpu.new_state(&ctx).unwrap();
            assert_eq!(state.kv_type, KvType::F16, "the default cache");
            (state.work.prefill_chunk, state.work.attn_pass_keys, state.work.profile) = (64, 100, true);
            let logits = pollster::block_on(gpu.prefill(&ctx, &mut state, &tokens, PrefillLogits::All)).unwrap();
            let profile = state.work.last_profile.take().expect("a profiled prefill");
            let names: Vec<&str> = profile.kernels.iter().map(|k| k.kernel.as_str()).collect();
            if profile.source == archrace_gpu::runtime::TimingSource::GpuTimestamps {
                let took_lanes = names.iter().any(|n| n.starts_with("attn_prefill_lanes_"));
                assert_eq!(took_lanes, gpu.attention_lanes(), "{name}: the chunks' kernels {names:?}");
                assert_eq!(names.contains(&"attn_prefill"), !gpu.attention_lanes(), "{name}: {names:?}");
            }
            ways.push(logits);
        }
        let n_vocab = gpu.spec.n_vocab;
        for pos in 0..tokens.len() {
            let row = |w: &Vec<f32>| w[pos * n_vocab..][..n_vocab].to_vec();
            let err = rel_err(&row(&ways[0]), &row(&ways[1]));
            assert!(err <= 1e-4, "{name} position {pos}: attn_prefill_lanes vs attn_prefill {err:.2e}");
        }
    }
}

/// A profiled prefill (every dispatch timed in a pass of its own) gives the same logits as an unprofiled
/// one, and its profile covers every chunk: each chunk's dispatches, and with timestamps every dispatch's
/// kernel, the chunked kernels among them.
#[test]
fn a_profiled_prefill_times_every_dispatch_of_every_chunk() {
    let Some(ctx) = pollster::block_on(context_or_skip("profiled prefill")) else { return };
    let (_cpu, gpu) = load(&ctx, "jamba-q4_0.gguf");
    let tokens: Vec<u32> = (0..40).map(|i| (i * 11 % gpu.spec.n_vocab) as u32).collect();
    let prefill = |profile: bool, tokens: &[u32], logits: PrefillLogits| {
        let mut state = gpu.new_state(&ctx).unwrap();
        state.work.prefill_chunk = 16;
        state.work.profile = profile;
        let got = pollster::block_on(gpu.prefill(&ctx, &mut state, tokens, logits)).unwrap();
        (got, state.work.last_profile.take())
    };
    let (plain, none) = prefill(false, &tokens, PrefillLogits::Last);
    assert!(none.is_none(), "profiled without being asked");
    let (profiled, profile) = prefill(true, &tokens, PrefillLogits::Last);
    assert_eq!(profiled, plain, "profiling changed the logits");
    // Chunks of 16, 16 and 8 tokens: three chunks' dispatches, the last with the output head's.
    let (_, one) = prefill(true, &tokens[..16], PrefillLogits::None);
    let (profile, one) = (profile.unwrap(), one.unwrap());
    assert!(profile.dispatches > 3 * one.dispatches, "{} vs one chunk's {}", profile.dispatches, one.dispatches);
    if profile.source == archrace_gpu::runtime::TimingSource::GpuTimestamps {
        let calls: usize = profile.kernels.iter().map(|k| k.calls).sum();
        assert_eq!(calls, profile.dispatches);
        let summed: f64 = profile.kernels.iter().map(|k| k.ms).sum();
        assert!(profile.gpu_ms > 0.0 && (summed - profile.gpu_ms).abs() <= 1e-9 * profile.gpu_ms);
        // attn_prefill, or on a software adapter its twin attn_prefill_lanes_N.
        for kernel in ["matmul_q4_0", "attn_prefill", "mamba_scan", "moe_route"] {
            let found = profile.kernels.iter().any(|k| k.kernel.starts_with(kernel));
            assert!(found, "{kernel} not in {:?}", profile.kernels);
        }
    }
}

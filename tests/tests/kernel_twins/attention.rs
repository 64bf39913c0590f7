//! Attention decode: `rope_kv`, `attn_partial` and `attn_combine` (and the software adapters' twin
//! `attn_partial_runs`), up to the longest chunk the device's loop cap allows.

use crate::common::parity::{bytes, check, kv_cache_bytes, run, TIGHT, TRANSCENDENTAL};
use archrace_cpu::ops::attention::attention;
use archrace_cpu::SplitMix64;
use archrace_gpu::kernels::oneshot::{run_kernel, Arg};
use archrace_gpu::{attn_runs_kernel, Kernel};
use archrace_model::RopeSpec;
use archrace_tests::gpu::{context_or_skip, subgroup_twins_or_skip};

/// `rope_kv` against its twin: q, k and v of T tokens from one packed buffer, grouped-query heads, a
/// partial rotation from a per-token table (this layer's starting one pair in), the cache written in f16
/// pairs and in f32 at its token slots with the slots before left alone; without RoPE; heads of an odd
/// width (pairs that straddle threads, and q, k and v of odd lengths in an f32 cache).
#[test]
fn rope_kv_matches_its_twin() {
    use archrace_cpu::ops::rope::{rope_kv, rope_table};
    use archrace_model::KvType;
    let Some(ctx) = pollster::block_on(context_or_skip("rope_kv parity")) else { return };
    let pos0 = 123usize;
    let mut rng = SplitMix64::new(2);
    let cases = [
        (1usize, true, KvType::F32, (4usize, 2usize, 16usize)),
        (5, true, KvType::F16, (4, 2, 16)),
        (5, true, KvType::F32, (4, 2, 16)),
        (3, false, KvType::F16, (4, 2, 16)),
        (3, true, KvType::F16, (4, 2, 7)),
        (2, true, KvType::F32, (3, 1, 7)),
    ];
    for (t, rope, kv, (h, hkv, d)) in cases {
        let (qd, kd) = (h * d, hkv * d);
        // 12 of 16 dims rotated; 6 of 7.
        let spec = RopeSpec { n_rot: 12.min(d - 1), freq_base: 10000.0, freq_scale: 0.5 };
        let stride = qd + 2 * kd + 4; // a wider row than q, k and v need
        let src = rng.vec(t * stride, -3.0, 3.0);
        let rows =
            |off: usize, n: usize| -> Vec<f32> { (0..t).flat_map(|i| src[i * stride + off..][..n].to_vec()).collect() };
        let (mut q, mut k, mut v) = (rows(0, qd), rows(qd, kd), rows(qd + kd, kd));
        let positions: Vec<usize> = (pos0..pos0 + t).collect();
        rope_kv(&mut q, &mut k, &mut v, (h, hkv, d), &positions, rope.then_some(&spec), kv);
        // Per token: 8 pairs of another layer, then this layer's 6 (table_off 8, table_stride 14).
        let mut table = vec![9.0f32; t * 14 * 2];
        for i in 0..t {
            for (j, (c, s)) in rope_table(pos0 + i, &spec).into_iter().enumerate() {
                table[(i * 14 + 8 + j) * 2] = c;
                table[(i * 14 + 8 + j) * 2 + 1] = s;
            }
        }
        let (elem, f16) = if kv == KvType::F16 { (2, 1) } else { (4, 0) };
        let before = 2; // tokens already in the cache
        let cache_bytes = (before + t) * kd * elem;
        let (k0, v0) = (vec![0x5au8; cache_bytes], vec![0xa5u8; cache_bytes]);
        let n_rot = if rope { spec.n_rot } else { 0 };
        let params = [h, hkv, d, n_rot, 8, 14, before * kd, f16, t, stride].map(|x| x as u32);
        let args = [
            (1, Arg::In(bytes(&src))),
            (2, Arg::Out(t * qd * 4)),
            (3, Arg::In(bytes(&table))),
            (4, Arg::InOut(&k0)),
            (5, Arg::InOut(&v0)),
        ];
        let groups = [(qd.div_ceil(2) + 2 * kd.div_ceil(2)).div_ceil(64) as u32, t as u32, 1];
        let out = pollster::block_on(run_kernel(&ctx, Kernel::RopeKv, &params, &args, groups)).unwrap();
        let what = format!("rope_kv T={t} rope={rope} {kv:?} heads {h}/{hkv} of {d}");
        check(&format!("{what} q"), &q, &bytemuck::pod_collect_to_vec::<u8, f32>(&out[0]), TIGHT);
        for (name, got, want, old) in [("k", &out[1], &k, &k0), ("v", &out[2], &v, &v0)] {
            let at = before * kd * elem;
            assert_eq!(got[..at], old[..at], "{what} {name}: the slots before pos0 are untouched");
            let values: Vec<f32> = match kv {
                KvType::F16 => got[at..].chunks(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
                KvType::F32 => bytemuck::pod_collect_to_vec(&got[at..]),
            };
            // WGSL lets pack2x16float round either way at a tie: within one f16 step of the twin's.
            let tol = if kv == KvType::F16 { archrace_cpu::Tolerance { abs: 1e-6, rel: 1e-3 } } else { TIGHT };
            check(&format!("{what} {name}"), want, &values, tol);
        }
    }
}

/// Attention over one chunk of keys (attn_partial normalises and writes the output itself) and over
/// several (partials, then attn_combine).
/// `attn_partial` (and `attn_combine` past one chunk) against the CPU's attention: head dims even (pairs
/// per load: 16, 64 with four query heads to a KV head, 160 with more dims than threads) and odd (7, f32
/// only); query heads per KV head 1, 2, 3, 4 and 6 (a workgroup serves up to four: 6 takes a group of
/// four and one of two); f32 and f16 caches (the CPU given the f16-rounded keys and values), contexts of one chunk and
/// of many, in the chunks the runtime chooses on a GPU and on a software adapter, and in chunks of 1,000
/// keys (four tiles each). Where the device has subgroups, the software adapters' twin `attn_partial_runs`
/// takes the same f16 cases (its units per lane follow the head dim and the subgroup runs).
#[test]
fn attention_partials_and_combine_match_attention() {
    use archrace_gpu::kernels::params::AttnParams;
    use archrace_gpu::runtime::{attn_chunk, attn_head_groups, ATTN_GROUPS_GPU, ATTN_GROUPS_SOFTWARE};
    for (twin, ctx) in pollster::block_on(subgroup_twins_or_skip("attention parity")) {
        eprintln!("attention parity: {twin}");
        let mut rng = SplitMix64::new(3);
        let mut runs_checked = 0;
        for (h, hkv, d, kv_f16) in [
            (4usize, 2usize, 16usize, false),
            (8, 2, 64, true),
            (2, 2, 160, true),
            (3, 3, 7, false),
            (6, 2, 64, false),
            (12, 2, 32, true),
        ] {
            for n_keys in [1usize, 255, 257, 600, 3000] {
                let q = rng.vec(h * d, -2.0, 2.0);
                let mut k = rng.vec(n_keys * hkv * d, -2.0, 2.0);
                let mut v = rng.vec(n_keys * hkv * d, -1.0, 1.0);
                let (k_bytes, v_bytes) = (kv_cache_bytes(&mut k, kv_f16), kv_cache_bytes(&mut v, kv_f16));
                let want = attention(&q, &k, &v, n_keys, h, hkv, d);
                // The chunks a GPU and a software adapter run, and chunks of four tiles.
                let head_groups = attn_head_groups(h, hkv);
                let chunkings = [
                    Some(attn_chunk(n_keys, head_groups, ATTN_GROUPS_GPU, usize::MAX)),
                    Some(attn_chunk(n_keys, head_groups, ATTN_GROUPS_SOFTWARE, usize::MAX)),
                    (n_keys > 256).then_some(1000),
                ];
                for chunk_len in chunkings.into_iter().flatten() {
                    let chunks = n_keys.div_ceil(chunk_len);
                    let p = AttnParams {
                        n_head: h as u32,
                        n_head_kv: hkv as u32,
                        head_dim: d as u32,
                        n_keys: n_keys as u32,
                        n_chunks: chunks as u32,
                        scale: 1.0 / (d as f32).sqrt(),
                        kv_f16: u32::from(kv_f16),
                        chunk_len: chunk_len as u32,
                        ..Default::default()
                    };
                    let params: &[u32] = bytemuck::cast_slice(std::slice::from_ref(&p));
                    let partial_len = h * chunks * (d + 2) * 4;
                    let args = [
                        (1, Arg::In(bytes(&q))),
                        (2, Arg::In(&k_bytes)),
                        (3, Arg::In(&v_bytes)),
                        (4, Arg::Out(partial_len)),
                        (5, Arg::Out(h * d * 4)),
                    ];
                    let grid = [chunks as u32, head_groups as u32, 1];
                    // Software adapters' twin of attn_partial, where it applies: subgroups, f16 pairs.
                    let runs = ctx.shader_target().subgroup_min.and_then(|m| attn_runs_kernel(d, m));
                    let kernels = [Some(Kernel::AttnPartial), runs.filter(|_| kv_f16)];
                    for kernel in kernels.into_iter().flatten() {
                        let partial = run(&ctx, kernel, params, &args, grid);
                        let got = if chunks == 1 {
                            partial[1].clone()
                        } else {
                            let args = [(4, Arg::InOut(bytes(&partial[0]))), (5, Arg::Out(h * d * 4))];
                            run(&ctx, Kernel::AttnCombine, params, &args, [h as u32, 1, 1]).swap_remove(1)
                        };
                        let what = format!(
                            "{}, heads {h}/{hkv} of {d}, f16 {kv_f16}, {n_keys} keys in {chunks} chunks",
                            kernel.name()
                        );
                        check(&what, &want, &got, TRANSCENDENTAL);
                        runs_checked += usize::from(kernel != Kernel::AttnPartial);
                    }
                }
            }
        }
        // Three f16 shapes (units per lane 4, 16 and 2 on lavapipe's subgroups of 8), 5 contexts each.
        let expected = if ctx.shader_target().subgroups() { 3 * 5 } else { 0 };
        assert!(runs_checked >= expected, "{twin}: attn_partial_runs checked {runs_checked} times");
    }
}

/// A decode step's attention over one chunk of the most keys the runtime gives a workgroup under this
/// device's loop cap (`loop_budget::decode_chunk_keys`: 16,384 keys at D = 64 and 8,192 at D = 128 on
/// lavapipe, whose llvmpipe cuts an invocation's loops short past 65,535 back-edges; 16,384 where there is
/// no cap), for `attn_partial` and, with subgroups, `attn_partial_runs`: the CPU's attention.
#[test]
fn decode_attention_over_the_longest_chunk_matches_attention() {
    use archrace_gpu::kernels::params::AttnParams;
    use archrace_gpu::runtime::loop_budget::decode_chunk_keys;
    let Some(ctx) = pollster::block_on(context_or_skip("decode attention at the loop cap")) else { return };
    let lanes = ctx.shader_target().subgroup_min.unwrap_or(4) as usize;
    let mut rng = SplitMix64::new(33);
    for d in [64usize, 128] {
        let (h, hkv) = (4usize, 2usize);
        let n_keys = decode_chunk_keys(ctx.loop_limit, d, lanes).min(16384);
        let q = rng.vec(h * d, -2.0, 2.0);
        let mut k = rng.vec(n_keys * hkv * d, -2.0, 2.0);
        let mut v = rng.vec(n_keys * hkv * d, -1.0, 1.0);
        let (k_bytes, v_bytes) = (kv_cache_bytes(&mut k, true), kv_cache_bytes(&mut v, true));
        let want = attention(&q, &k, &v, n_keys, h, hkv, d);
        let p = AttnParams {
            n_head: h as u32,
            n_head_kv: hkv as u32,
            head_dim: d as u32,
            n_keys: n_keys as u32,
            n_chunks: 1,
            scale: 1.0 / (d as f32).sqrt(),
            kv_f16: 1,
            chunk_len: n_keys as u32,
            ..Default::default()
        };
        let params: &[u32] = bytemuck::cast_slice(std::slice::from_ref(&p));
        let args = [
            (1, Arg::In(bytes(&q))),
            (2, Arg::In(&k_bytes)),
            (3, Arg::In(&v_bytes)),
            (4, Arg::Out(h * (d + 2) * 4)),
            (5, Arg::Out(h * d * 4)),
        ];
        let runs = ctx.shader_target().subgroup_min.and_then(|m| attn_runs_kernel(d, m));
        for kernel in [Some(Kernel::AttnPartial), runs].into_iter().flatten() {
            let got = run(&ctx, kernel, params, &args, [1, (h / hkv).div_ceil(4) as u32 * hkv as u32, 1]);
            check(&format!("{}, D {d}, one chunk of {n_keys} keys", kernel.name()), &want, &got[1], TRANSCENDENTAL);
        }
    }
}

//! Every kernel of the decode step against its same-named CPU twin, on seeded data, on whatever native
//! adapter wgpu finds (lavapipe in CI). A failure names the index and both values.
#![cfg(not(target_arch = "wasm32"))]

use archrace_cpu::ops::attention::attention;
use archrace_cpu::ops::mamba::{mamba_conv, mamba_scan, mamba_scan_dt, ScanInputs};
use archrace_cpu::ops::matmul::matmul;
use archrace_cpu::ops::moe::{gate_up_swiglu, moe_norm_route, moe_route, swiglu};
use archrace_cpu::ops::norm::{layer_norm, rms_norm};
use archrace_cpu::SplitMix64;
use archrace_gguf::{dequantize, GgmlType};
use archrace_gpu::kernels::matvec::{MatvecLimits, MatvecMode, MatvecParams, WORKGROUP};
use archrace_gpu::kernels::oneshot::{run_kernel, Arg};
use archrace_gpu::{attn_runs_kernel, layout, Kernel};
use archrace_model::{RopeSpec, Tensor};
use archrace_tests::data::random_encoded;
use archrace_tests::gpu::{context_or_skip, subgroup_twins_or_skip, twins_and_gpu_sizes_or_skip};
use common::parity::{bytes, check, kv_cache_bytes, run, TIGHT, TRANSCENDENTAL};
use common::rel_err;

mod common;

/// The matvec twins run as a GPU sizes them (up to 64 threads per row group), whatever adapter runs the
/// tests: the software adapters' own choice (`SOFTWARE_ROW_THREADS`) runs in the whole-model tests.
const GPU_LIMITS: MatvecLimits = MatvecLimits { max_per_dim: 65535, max_row_threads: WORKGROUP };

#[test]
fn embed_matches_dequantize_for_every_encoding() {
    let Some(ctx) = pollster::block_on(context_or_skip("embed parity")) else { return };
    for ty in GgmlType::ALL {
        let cols = 2 * ty.block_size().max(4) + if ty.block_size() == 1 { 4 } else { 0 };
        let mut rng = SplitMix64::new(ty as u64);
        let w = random_encoded(ty, 5, cols, &mut rng);
        let row_bytes = ty.row_bytes(cols as u64).unwrap() as usize;
        let mut want = vec![0.0; cols];
        dequantize(ty, &w[3 * row_bytes..4 * row_bytes], &mut want);
        let params = [cols as u32, layout::row_bytes(ty, cols) as u32, 0, 5, 0];
        let gw = layout::to_gpu_rows(ty, cols, &w);
        let args = [(1, Arg::In(&gw)), (2, Arg::In(bytemuck::bytes_of(&3u32))), (3, Arg::Out(cols * 4))];
        let got = run(&ctx, Kernel::Embed(ty), &params, &args, [(cols as u32).div_ceil(64), 1, 1]);
        check(&Kernel::Embed(ty).name(), &want, &got[0], TIGHT);
    }
}

#[test]
fn norm_matches_rms_norm_and_layer_norm() {
    for (twin, ctx) in pollster::block_on(twins_and_gpu_sizes_or_skip("norm parity")) {
        eprintln!("norm parity: {twin}");
        let (n, rows, eps) = (300, 3, 1e-5f32);
        let mut rng = SplitMix64::new(1);
        let (x, w, b) = (rng.vec(n * rows, -3.0, 3.0), rng.vec(n, -1.0, 1.0), rng.vec(n, -1.0, 1.0));
        for (kind, want) in [(0, rms_norm(&x, &w, eps)), (1, layer_norm(&x, &w, &b, eps))] {
            let params = [n as u32, rows as u32, 0, 0, kind, eps.to_bits(), n as u32, n as u32];
            let args = [
                (1, Arg::In(bytes(&x))),
                (2, Arg::In(bytes(&w))),
                (3, Arg::In(bytes(&b))),
                (4, Arg::Out(n * rows * 4)),
            ];
            let got = run(&ctx, Kernel::Norm, &params, &args, [rows as u32, 1, 1]);
            check(&format!("norm kind {kind}"), &want, &got[0], TIGHT);
        }
    }
}

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

/// `matvec_conv`: Mamba's in-projection and the conv step of its x channels in one dispatch, against
/// `matmul` then `mamba_conv`; whole, and as a matrix split into two parts (the second from row 70).
#[test]
fn matvec_conv_matches_the_product_then_mamba_conv() {
    for (twin, ctx) in pollster::block_on(subgroup_twins_or_skip("matvec conv")) {
        let (di, k, cols) = (96usize, 4usize, 64usize);
        let mut rng = SplitMix64::new(24);
        let conv_w = rng.vec(di * k, -0.5, 0.5);
        let conv_b = rng.vec(di, -0.1, 0.1);
        let consts = [&conv_w[..], &conv_b, &rng.vec(3 * di, -1.0, 1.0)].concat();
        let x = rng.vec(cols, -1.0, 1.0);
        let conv_state = rng.vec((k - 1) * di, -1.0, 1.0);
        for ty in [GgmlType::F32, GgmlType::Q8_0] {
            let w = random_encoded(ty, 2 * di, cols, &mut rng);
            let m = Tensor { name: "in_proj".into(), ty, dims: vec![cols as u64, 2 * di as u64], data: &w };
            let xz = matmul(&m, &x, 1);
            let mut want_state = conv_state.clone();
            let want_xc = mamba_conv(&xz[..di], &conv_w, &conv_b, &mut want_state, k);
            let (gw, row_bytes) = (layout::to_gpu_rows(ty, cols, &w), layout::row_bytes(ty, cols));
            for parts in [vec![(0usize, 2 * di)], vec![(0, 71), (71, 2 * di - 71)]] {
                // odd parts: a last pair of one row
                let (mut y, mut state, mut xc) = (vec![0f32; 2 * di], conv_state.clone(), vec![0f32; di]);
                for &(first, rows) in &parts {
                    let mut p = MatvecParams::new(ty, rows, cols);
                    p.w_base = (first * row_bytes) as u32;
                    p.y_off = first as u32;
                    p.mode = MatvecMode::Conv as u32;
                    (p.conv_inner, p.conv_k) = (di as u32, k as u32);
                    let args = [
                        (1, Arg::In(&gw)),
                        (2, Arg::In(bytes(&x))),
                        (3, Arg::InOut(bytes(&y))),
                        (5, Arg::In(bytes(&consts))),
                        (6, Arg::InOut(bytes(&state))),
                        (7, Arg::InOut(bytes(&xc))),
                    ];
                    let (gx, gy) = p.fit(MatvecMode::Conv.kernel(ty), GPU_LIMITS);
                    let got = run(&ctx, MatvecMode::Conv.kernel(ty), bytemuck::cast_slice(&[p]), &args, [gx, gy, 1]);
                    (y, state, xc) = (got[0].clone(), got[1].clone(), got[2].clone());
                }
                let what = format!("matvec_conv_{ty} in {} parts", parts.len());
                check(&format!("{twin}: {what}: xz"), &xz, &y, TIGHT);
                check(&format!("{twin}: {what}: conv window"), &want_state, &state, TIGHT);
                check(&format!("{twin}: {what}: conv output"), &want_xc, &xc, TRANSCENDENTAL);
            }
        }
    }
}

#[test]
fn mamba_conv_and_scan_match_their_twins() {
    let Some(ctx) = pollster::block_on(context_or_skip("mamba parity")) else { return };
    let (di, k, n, r) = (96usize, 4usize, 16usize, 4usize);
    let mut rng = SplitMix64::new(4);
    let conv_w = rng.vec(di * k, -0.5, 0.5);
    let conv_b = rng.vec(di, -0.1, 0.1);
    let dt_bias = rng.vec(di, -2.0, 0.5);
    let d = rng.vec(di, -1.0, 1.0);
    let a: Vec<f32> = rng.vec(di * n, 0.0, 2.0).iter().map(|v| -v.exp()).collect();
    let consts = [&conv_w[..], &conv_b, &dt_bias, &d, &a].concat();
    let xz = rng.vec(2 * di, -2.0, 2.0);
    let conv_state = rng.vec((k - 1) * di, -1.0, 1.0);
    let params = [di, k, n, r, r + n].map(|x| x as u32);

    let mut want_state = conv_state.clone();
    let want_xc = mamba_conv(&xz[..di], &conv_w, &conv_b, &mut want_state, k);
    let args = [
        (1, Arg::In(bytes(&xz))),
        (2, Arg::In(bytes(&consts))),
        (3, Arg::InOut(bytes(&conv_state))),
        (4, Arg::Out(di * 4)),
    ];
    let got = run(&ctx, Kernel::MambaConv, &params, &args, [(di as u32).div_ceil(64), 1, 1]);
    check("mamba_conv state", &want_state, &got[0], TIGHT);
    check("mamba_conv output", &want_xc, &got[1], TRANSCENDENTAL);

    let dt = rng.vec(di, -3.0, 3.0);
    let dbc = rng.vec(r + 2 * n, -1.0, 1.0);
    let ssm = rng.vec(di * n, -1.0, 1.0);
    let inputs = ScanInputs {
        dt: &dt,
        dt_bias: &dt_bias,
        x: &want_xc,
        z: &xz[di..],
        b: &dbc[r..r + n],
        c: &dbc[r + n..],
        a: &a,
        d: &d,
    };
    let mut want_ssm = ssm.clone();
    let want_y = mamba_scan(&inputs, &mut want_ssm);
    let args = [
        (1, Arg::In(bytes(&xz))),
        (2, Arg::In(bytes(&consts))),
        (4, Arg::In(bytes(&want_xc))),
        (5, Arg::In(bytes(&dt))),
        (6, Arg::In(bytes(&dbc))),
        (7, Arg::InOut(bytes(&ssm))),
        (8, Arg::Out(di * 4)),
    ];
    let got = run(&ctx, Kernel::MambaScan, &params, &args, [(di as u32).div_ceil(64), 1, 1]);
    check("mamba_scan state", &want_ssm, &got[0], TRANSCENDENTAL);
    check("mamba_scan output", &want_y, &got[1], TRANSCENDENTAL);

    // The dt projection fused in front: W_dt (Di, R) in the dt binding, dt_low the dbc row's first R.
    let w_dt = rng.vec(di * r, -0.5, 0.5);
    let mut want_ssm = ssm.clone();
    let want_y = mamba_scan_dt(&w_dt, &dbc[..r], &inputs, None, &mut want_ssm);
    let fused = [di, k, n, r, r + n, 1, r + 2 * n, r, 0, 0].map(|x| x as u32);
    let args = [
        (1, Arg::In(bytes(&xz))),
        (2, Arg::In(bytes(&consts))),
        (4, Arg::In(bytes(&want_xc))),
        (5, Arg::In(bytes(&w_dt))),
        (6, Arg::In(bytes(&dbc))),
        (7, Arg::InOut(bytes(&ssm))),
        (8, Arg::Out(di * 4)),
    ];
    let got = run(&ctx, Kernel::MambaScanDt, &fused, &args, [(di as u32).div_ceil(64), 1, 1]);
    check("mamba_scan_dt state", &want_ssm, &got[0], TRANSCENDENTAL);
    check("mamba_scan_dt output", &want_y, &got[1], TRANSCENDENTAL);
    // Not the plain scan of a dt that was never projected.
    assert!(rel_err(&want_y, &mamba_scan(&inputs, &mut ssm.clone())) > 1e-2);

    // Jamba's dt, B and C norms applied by the scan: their weights after the other consts, laid out as a
    // dbc row; two tokens, so the second token's fields are normalised from its own row.
    let (t, eps) = (2usize, 1e-6f32);
    let norms = rng.vec(r + 2 * n, 0.5, 1.5);
    let consts_normed = [&consts[..], &norms].concat();
    let dbc2 = rng.vec(t * (r + 2 * n), -3.0, 3.0);
    let xz2 = rng.vec(t * 2 * di, -2.0, 2.0);
    let xc2 = rng.vec(t * di, -2.0, 2.0);
    let mut want_ssm = ssm.clone();
    let mut want_y = Vec::new();
    for tok in 0..t {
        let row = &dbc2[tok * (r + 2 * n)..][..r + 2 * n];
        let step = ScanInputs {
            x: &xc2[tok * di..][..di],
            z: &xz2[tok * 2 * di + di..][..di],
            b: &row[r..r + n],
            c: &row[r + n..],
            ..inputs
        };
        want_y.extend(mamba_scan_dt(&w_dt, &row[..r], &step, Some((&norms, eps)), &mut want_ssm));
    }
    let mut normed = fused;
    (normed[5], normed[8], normed[9]) = (t as u32, consts.len() as u32, eps.to_bits());
    let args = [
        (1, Arg::In(bytes(&xz2))),
        (2, Arg::In(bytes(&consts_normed))),
        (4, Arg::In(bytes(&xc2))),
        (5, Arg::In(bytes(&w_dt))),
        (6, Arg::In(bytes(&dbc2))),
        (7, Arg::InOut(bytes(&ssm))),
        (8, Arg::Out(t * di * 4)),
    ];
    let got = run(&ctx, Kernel::MambaScanDt, &normed, &args, [(di as u32).div_ceil(64), 1, 1]);
    check("mamba_scan_dt with norms, state", &want_ssm, &got[0], TRANSCENDENTAL);
    check("mamba_scan_dt with norms, output", &want_y, &got[1], TRANSCENDENTAL);
    // Not the scan of the fields as they are.
    let mut plain_ssm = ssm.clone();
    let plain: Vec<f32> = (0..t)
        .flat_map(|tok| {
            let row = &dbc2[tok * (r + 2 * n)..][..r + 2 * n];
            let step = ScanInputs {
                x: &xc2[tok * di..][..di],
                z: &xz2[tok * 2 * di + di..][..di],
                b: &row[r..r + n],
                c: &row[r + n..],
                ..inputs
            };
            mamba_scan_dt(&w_dt, &row[..r], &step, None, &mut plain_ssm)
        })
        .collect();
    assert!(rel_err(&want_y, &plain) > 1e-2);
}

#[test]
fn swiglu_and_moe_route_match_their_twins() {
    for (twin, ctx) in pollster::block_on(subgroup_twins_or_skip("ffn parity")) {
        eprintln!("ffn parity: {twin}");
        let mut rng = SplitMix64::new(5);
        let (g, u) = (rng.vec(1000, -6.0, 6.0), rng.vec(1000, -1.0, 1.0));
        let args = [(1, Arg::In(bytes(&g))), (2, Arg::In(bytes(&u))), (3, Arg::Out(4000))];
        let got = run(&ctx, Kernel::Swiglu, &[1000], &args, [16, 1, 1]);
        check("swiglu", &swiglu(&g, &u), &got[0], TRANSCENDENTAL);

        for (experts, top_k) in [(16usize, 2usize), (4, 2), (64, 8)] {
            let mut logits = rng.vec(experts, -2.0, 2.0);
            logits[experts - 1] = logits[1]; // a tie: the lower index wins
            let want = moe_route(&logits, top_k);
            let args = [(1, Arg::In(bytes(&logits))), (2, Arg::Out(2 * top_k * 4))];
            let out = pollster::block_on(run_kernel(
                &ctx,
                Kernel::MoeRoute,
                &[experts as u32, top_k as u32],
                &args,
                [1, 1, 1],
            ))
            .unwrap();
            let words: Vec<u32> = bytemuck::pod_collect_to_vec(&out[0]);
            let ids: Vec<usize> = words[..top_k].iter().map(|&i| i as usize).collect();
            assert_eq!(ids, want.iter().map(|w| w.0).collect::<Vec<_>>(), "moe_route ids, {experts} experts");
            let weights: Vec<f32> = words[top_k..].iter().map(|&b| f32::from_bits(b)).collect();
            check("moe_route weights", &want.iter().map(|w| w.1).collect::<Vec<_>>(), &weights, TRANSCENDENTAL);
        }
    }
}

/// `moe_norm_route` against its twin: two tokens' rows (one workgroup each), RMSNorm and LayerNorm, a row
/// width that is no multiple of the workgroup, and expert counts that share the workgroup evenly (16), not
/// as a power of two (6), or one thread each (256).
#[test]
fn moe_norm_route_matches_its_twin() {
    use archrace_model::Norm;
    for (twin, ctx) in pollster::block_on(subgroup_twins_or_skip("moe_norm_route parity")) {
        eprintln!("moe_norm_route parity: {twin}");
        let (e, t, eps) = (300usize, 2usize, 1e-5f32);
        let mut rng = SplitMix64::new(8);
        for (experts, top_k, kind) in [(16usize, 2usize, 0u32), (6, 2, 1), (256, 8, 0)] {
            let x = rng.vec(t * e, -3.0, 3.0);
            let (w, b) = (rng.vec(e, 0.5, 1.5), rng.vec(e, -0.5, 0.5));
            let router = rng.vec(experts * e, -1.0, 1.0);
            let norm = if kind == 0 { Norm::Rms { eps } } else { Norm::Layer { eps } };
            let params = [experts as u32, top_k as u32, t as u32, e as u32, kind, eps.to_bits()];
            let args = [
                (2, Arg::Out(t * 2 * top_k * 4)),
                (4, Arg::In(bytes(&x))),
                (5, Arg::In(bytes(&w))),
                (6, Arg::In(bytes(&b))),
                (7, Arg::In(bytes(&router))),
                (8, Arg::Out(t * e * 4)),
            ];
            let out =
                pollster::block_on(run_kernel(&ctx, Kernel::MoeNormRoute, &params, &args, [t as u32, 1, 1])).unwrap();
            let words: Vec<u32> = bytemuck::pod_collect_to_vec(&out[0]);
            let h: Vec<f32> = bytemuck::pod_collect_to_vec(&out[1]);
            for tok in 0..t {
                let (want_h, want) = moe_norm_route(&x[tok * e..][..e], norm, (&w, &b), &router, top_k);
                let what = format!("moe_norm_route, {experts} experts, norm kind {kind}, token {tok}");
                check(&format!("{what}: h"), &want_h, &h[tok * e..][..e], TIGHT);
                let slots = &words[tok * 2 * top_k..][..2 * top_k];
                let ids: Vec<usize> = slots[..top_k].iter().map(|&i| i as usize).collect();
                assert_eq!(ids, want.iter().map(|w| w.0).collect::<Vec<_>>(), "{what}: ids");
                let weights: Vec<f32> = slots[top_k..].iter().map(|&b| f32::from_bits(b)).collect();
                check(
                    &format!("{what}: weights"),
                    &want.iter().map(|w| w.1).collect::<Vec<_>>(),
                    &weights,
                    TRANSCENDENTAL,
                );
            }
        }
    }
}

#[test]
fn argmax_matches_its_twin_and_breaks_ties_low() {
    for (twin, ctx) in pollster::block_on(subgroup_twins_or_skip("argmax parity")) {
        eprintln!("argmax parity: {twin}");
        let mut rng = SplitMix64::new(6);
        // Planted maxima (a tie, to the lower index) at threads 44 and 64, then 45 and 65, then the last.
        let cases: [(usize, &[usize]); 5] =
            [(1, &[]), (262, &[]), (49_153, &[300, 40_000]), (49_153, &[301, 40_001]), (1000, &[999])];
        for (n, planted) in cases {
            let mut logits = rng.vec(n, -10.0, 10.0);
            for &at in planted {
                logits[at] = 11.0;
            }
            let want = archrace_model::sample::argmax(&logits);
            let args = [(1, Arg::In(bytes(&logits))), (2, Arg::Out(16))];
            let out = pollster::block_on(run_kernel(&ctx, Kernel::Argmax, &[n as u32, 0], &args, [1, 1, 1])).unwrap();
            assert_eq!(
                u32::from_le_bytes(out[0][..4].try_into().unwrap()),
                want,
                "{twin}: argmax over {n}, {planted:?}"
            );
        }
    }
}

/// The matvec's fused residual add and its MoE addressing: expert `route[slot]`'s rows, scaled by the
/// router's weight, added to y.
#[test]
fn matvec_adds_and_routes_to_the_chosen_expert() {
    for (twin, ctx) in pollster::block_on(subgroup_twins_or_skip("matvec modes")) {
        let (ty, rows, cols, experts) = (GgmlType::Q8_0, 8usize, 64usize, 4usize);
        let mut rng = SplitMix64::new(8);
        let w = random_encoded(ty, rows * experts, cols, &mut rng);
        let x = rng.vec(cols, -1.0, 1.0);
        let y0 = rng.vec(rows, -1.0, 1.0);
        let row_bytes = ty.row_bytes(cols as u64).unwrap() as usize;
        let expert = Tensor {
            name: "e2".into(),
            ty,
            dims: vec![cols as u64, rows as u64],
            data: &w[2 * rows * row_bytes..3 * rows * row_bytes],
        };
        let product = matmul(&expert, &x, 1);
        let weight = 0.375f32;
        let route = [7u32, 2, 0, weight.to_bits()]; // top_k 2: ids [7, 2], weights [0, 0.375]; slot 1
        for (mode, scale) in [(MatvecMode::Add, 1.0f32), (MatvecMode::AddRouted, weight)] {
            let mut p = MatvecParams::new(ty, rows, cols);
            p.mode = mode as u32;
            p.slot = 1;
            p.top_k = 2;
            p.expert_bytes = (rows * layout::row_bytes(ty, cols)) as u32;
            (p.expert_first, p.expert_count) = (0, experts as u32);
            let want: Vec<f32> = y0.iter().zip(&product).map(|(a, b)| a + scale * b).collect();
            let gw = layout::to_gpu_rows(ty, cols, &w);
            let args = [
                (1, Arg::In(&gw)),
                (2, Arg::In(bytes(&x))),
                (3, Arg::InOut(bytes(&y0))),
                (4, Arg::In(bytemuck::cast_slice(&route))),
            ];
            let (gx, gy) = p.fit(Kernel::Matvec(ty), GPU_LIMITS);
            let got = run(&ctx, Kernel::Matvec(ty), bytemuck::cast_slice(&[p]), &args, [gx, gy, 1]);
            check(&format!("{twin}: matvec {mode:?}"), &want, &got[0], TIGHT);
        }
    }
}

/// The normed twins (`matvec_norm`, `matvec_swiglu_norm`, `matvec_conv_norm`): each workgroup takes the
/// RMSNorm of the raw row itself, then the product, against `rms_norm` then the plain kernel's twin. Every
/// encoding for the plain product, with x read from an offset; rows of 288 values (72 vec4s: the
/// workgroup's 64 threads do not divide them) and of the longest the twins take, 2048; SwiGLU and the
/// conv step on two encodings.
#[test]
fn normed_matvec_twins_match_rms_norm_then_the_product() {
    use archrace_cpu::ops::mamba::mamba_conv;
    use archrace_gpu::kernels::matvec::NORM_MAX_COLS;
    for (twin, ctx) in pollster::block_on(subgroup_twins_or_skip("normed matvec")) {
        let (rows, eps) = (37usize, 1e-5f32);
        let mut rng = SplitMix64::new(31);
        // The normed twin of `mode` for rows `w` of encoding `ty` (GGUF-encoded), raw input `x`, norm weights
        // `g`: its name and y.
        let normed = |mode: MatvecMode, ty: GgmlType, mut p: MatvecParams, w: &[u8], x: &[f32], g: &[f32]| {
            p.norm_eps = eps;
            let gw = layout::to_gpu_rows(ty, p.cols as usize, w);
            let y = Arg::Out(p.rows as usize * 4);
            let args = [(1, Arg::In(&gw)), (2, Arg::In(bytes(x))), (3, y), (4, Arg::In(bytes(g)))];
            let kernel = mode.normed_kernel(ty).unwrap();
            let (gx, gy) = p.fit(kernel, GPU_LIMITS);
            (kernel.name(), run(&ctx, kernel, bytemuck::cast_slice(&[p]), &args, [gx, gy, 1]).swap_remove(0))
        };
        for (ty, cols) in
            GgmlType::ALL.iter().map(|&t| (t, 512)).chain([(GgmlType::Q4_0, 288), (GgmlType::Q8_0, NORM_MAX_COLS)])
        {
            let w = random_encoded(ty, rows, cols, &mut rng);
            let (x_off, x) = (8usize, rng.vec(8 + cols, -3.0, 3.0));
            let g = rng.vec(cols, -1.0, 1.0);
            let m = Tensor { name: "w".into(), ty, dims: vec![cols as u64, rows as u64], data: &w };
            let want = matmul(&m, &rms_norm(&x[x_off..], &g, eps), 1);
            let mut p = MatvecParams::new(ty, rows, cols);
            p.x_off = (x_off / 4) as u32;
            let (name, got) = normed(MatvecMode::Write, ty, p, &w, &x, &g);
            check(&format!("{twin}: {name} over {cols}"), &want, &got, TIGHT);
        }
        for ty in [GgmlType::Q4_K, GgmlType::Q8_0] {
            let cols = 256;
            let (x, g) = (rng.vec(cols, -3.0, 3.0), rng.vec(cols, -1.0, 1.0));
            let h = rms_norm(&x, &g, eps);
            let w = random_encoded(ty, 2 * rows, cols, &mut rng);
            let row_bytes = ty.row_bytes(cols as u64).unwrap() as usize;
            let half = |name: &str, i: usize| Tensor {
                name: name.into(),
                ty,
                dims: vec![cols as u64, rows as u64],
                data: &w[i * rows * row_bytes..(i + 1) * rows * row_bytes],
            };
            let want = gate_up_swiglu(&half("gate", 0), &half("up", 1), &h, 1);
            let mut p = MatvecParams::new(ty, rows, cols);
            p.pair_bytes = (rows * layout::row_bytes(ty, cols)) as u32;
            let (name, got) = normed(MatvecMode::Swiglu, ty, p, &w, &x, &g);
            check(&format!("{twin}: {name}"), &want, &got, TRANSCENDENTAL);

            // Mamba's in-projection (x then z rows) of the normed input, with the conv step of its x rows.
            let (di, k) = (48usize, 4usize);
            let (conv_w, conv_b) = (rng.vec(di * k, -0.5, 0.5), rng.vec(di, -0.1, 0.1));
            let consts = [&conv_w[..], &conv_b].concat();
            let conv_state = rng.vec((k - 1) * di, -1.0, 1.0);
            let w = random_encoded(ty, 2 * di, cols, &mut rng);
            let m = Tensor { name: "in_proj".into(), ty, dims: vec![cols as u64, 2 * di as u64], data: &w };
            let xz = matmul(&m, &h, 1);
            let mut want_state = conv_state.clone();
            let want_xc = mamba_conv(&xz[..di], &conv_w, &conv_b, &mut want_state, k);
            let mut p = MatvecParams::new(ty, 2 * di, cols);
            p.mode = MatvecMode::Conv as u32;
            (p.conv_inner, p.conv_k, p.norm_eps) = (di as u32, k as u32, eps);
            let gw = layout::to_gpu_rows(ty, cols, &w);
            let args = [
                (1, Arg::In(&gw)),
                (2, Arg::In(bytes(&x))),
                (3, Arg::Out(2 * di * 4)),
                (4, Arg::In(bytes(&g))),
                (5, Arg::In(bytes(&consts))),
                (6, Arg::InOut(bytes(&conv_state))),
                (7, Arg::Out(di * 4)),
            ];
            let kernel = MatvecMode::Conv.normed_kernel(ty).unwrap();
            let (gx, gy) = p.fit(kernel, GPU_LIMITS);
            let got = run(&ctx, kernel, bytemuck::cast_slice(&[p]), &args, [gx, gy, 1]);
            check(&format!("{twin}: {}: xz", kernel.name()), &xz, &got[0], TIGHT);
            check(&format!("{twin}: {}: conv window", kernel.name()), &want_state, &got[1], TIGHT);
            check(&format!("{twin}: {}: conv output", kernel.name()), &want_xc, &got[2], TRANSCENDENTAL);
        }
    }
}

/// `matvec_rope` and its normed twin against the product (of the RMSNorm of x, for the twin), then
/// `rope_kv`'s twin: every encoding, grouped-query heads, a partial rotation from the layer's part of the
/// table, the token's k and v written into f16 pairs and into f32 at its slot with the slots around it
/// left alone; without RoPE; rows of 2,048 values (64 threads to a pair of rows); q, k and v as one
/// matrix, and as three (a dispatch each, from their first rows).
#[test]
fn matvec_rope_twins_match_the_product_then_rope_kv() {
    use archrace_cpu::ops::rope::{rope_kv, rope_table};
    use archrace_gpu::kernels::matvec::NORM_MAX_COLS;
    use archrace_model::KvType;
    for (twin, ctx) in pollster::block_on(subgroup_twins_or_skip("matvec rope")) {
        let (h, hkv, d, pos, eps) = (4usize, 2usize, 16usize, 5usize, 1e-5f32);
        let (qd, kd, rows) = (h * d, hkv * d, (h + 2 * hkv) * d);
        let spec = RopeSpec { n_rot: 12, freq_base: 10000.0, freq_scale: 0.5 };
        // 8 pairs of another layer, then this layer's 6.
        let mut table = vec![9.0f32; 2 * 14];
        for (j, (c, s)) in rope_table(pos, &spec).into_iter().enumerate() {
            (table[(8 + j) * 2], table[(8 + j) * 2 + 1]) = (c, s);
        }
        let mut rng = SplitMix64::new(33);
        let cases = GgmlType::ALL.iter().enumerate().map(|(i, &t)| (t, 256, i % 2 == 0, true, i % 3 == 0));
        let more = [(GgmlType::Q8_0, NORM_MAX_COLS, true, true, true), (GgmlType::Q4_0, 256, true, false, false)];
        for (ty, cols, f16, rope, split) in cases.chain(more) {
            let w = random_encoded(ty, rows, cols, &mut rng);
            let (x, g) = (rng.vec(cols, -3.0, 3.0), rng.vec(cols, -1.0, 1.0));
            let m = Tensor { name: "qkv".into(), ty, dims: vec![cols as u64, rows as u64], data: &w };
            let gw = layout::to_gpu_rows(ty, cols, &w);
            let kv = if f16 { KvType::F16 } else { KvType::F32 };
            let elem = if f16 { 2 } else { 4 };
            let cache_bytes = (pos + 2) * kd * elem; // a slot after the token's, which must stay as it was
            let (k0, v0) = (vec![0x5au8; cache_bytes], vec![0xa5u8; cache_bytes]);
            for normed in [false, true] {
                let xin = if normed { rms_norm(&x, &g, eps) } else { x.clone() };
                let qkv = matmul(&m, &xin, 1);
                let (mut q, mut k, mut v) = (qkv[..qd].to_vec(), qkv[qd..qd + kd].to_vec(), qkv[qd + kd..].to_vec());
                rope_kv(&mut q, &mut k, &mut v, (h, hkv, d), &[pos], rope.then_some(&spec), kv);
                let kernel = match normed {
                    true => MatvecMode::Rope.normed_kernel(ty).unwrap(),
                    false => MatvecMode::Rope.kernel(ty),
                };
                // (first row, rows) of each dispatch; each writes its part of q, k and v.
                let dispatches = match split {
                    true => vec![(0, qd), (qd, kd), (qd + kd, kd)],
                    false => vec![(0, rows)],
                };
                let (mut q_out, mut k_out, mut v_out) = (Vec::new(), k0.clone(), v0.clone());
                for (first, n) in dispatches {
                    let mut p = MatvecParams::new(ty, n, cols);
                    p.mode = MatvecMode::Rope as u32;
                    (p.w_base, p.qkv_row) = ((first * layout::row_bytes(ty, cols)) as u32, first as u32);
                    (p.q_rows, p.kv_rows, p.head_dim) = (qd as u32, kd as u32, d as u32);
                    (p.n_rot, p.table_off, p.kv_off) = (if rope { 12 } else { 0 }, 8, (pos * kd) as u32);
                    (p.kv_f16, p.norm_eps) = (u32::from(f16), eps);
                    let mut args = vec![
                        (1, Arg::In(&gw)),
                        (2, Arg::In(bytes(&x))),
                        (3, Arg::Out(qd * 4)),
                        (5, Arg::In(bytes(&table))),
                        (6, Arg::InOut(&k_out)),
                        (7, Arg::InOut(&v_out)),
                    ];
                    if normed {
                        args.push((4, Arg::In(bytes(&g))));
                    }
                    let (gx, gy) = p.fit(kernel, GPU_LIMITS);
                    let params = bytemuck::cast_slice(std::slice::from_ref(&p));
                    let mut out = pollster::block_on(run_kernel(&ctx, kernel, params, &args, [gx, gy, 1])).unwrap();
                    if first == 0 {
                        q_out = out[0].clone();
                    }
                    (v_out, k_out) = (out.pop().unwrap(), out.pop().unwrap());
                }
                let what = format!("{twin}: {} over {cols}, rope {rope}, {kv:?}, split {split}", kernel.name());
                check(&format!("{what}: q"), &q, &bytemuck::pod_collect_to_vec::<u8, f32>(&q_out), TIGHT);
                for (name, got, want, old) in [("k", &k_out, &k, &k0), ("v", &v_out, &v, &v0)] {
                    let (at, end) = (pos * kd * elem, (pos + 1) * kd * elem);
                    assert_eq!(got[..at], old[..at], "{what}: {name}: the slots before the token's are untouched");
                    assert_eq!(got[end..], old[end..], "{what}: {name}: the slot after the token's is untouched");
                    let values: Vec<f32> = match kv {
                        KvType::F16 => {
                            got[at..end].chunks(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect()
                        }
                        KvType::F32 => bytemuck::pod_collect_to_vec(&got[at..end]),
                    };
                    // The sums' order may differ from the twin's: within one f16 step once rounded to f16.
                    let tol = if f16 { archrace_cpu::Tolerance { abs: 1e-6, rel: 1e-3 } } else { TIGHT };
                    check(&format!("{what}: {name}"), want, &values, tol);
                }
            }
        }
    }
}

/// `matvec_swiglu` reads a gate row and the up row `pair_bytes` after it in one dispatch, for every
/// encoding; for MoE, every chosen expert's gate and up rows (gate experts stacked, then up experts), one
/// expert per z, into consecutive rows of y.
#[test]
fn matvec_swiglu_matches_gate_up_swiglu_for_every_encoding() {
    for (twin, ctx) in pollster::block_on(subgroup_twins_or_skip("matvec swiglu")) {
        let (rows, cols, experts) = (37usize, 256usize, 3usize);
        let mut rng = SplitMix64::new(21);
        let x = rng.vec(cols, -1.0, 1.0);
        for ty in GgmlType::ALL {
            let row_bytes = ty.row_bytes(cols as u64).unwrap() as usize;
            let expert_bytes = rows * row_bytes;
            // Gate experts 0..3, then up experts 0..3, one buffer.
            let w = random_encoded(ty, 2 * experts * rows, cols, &mut rng);
            let pair = experts * expert_bytes;
            let expert_tensor = |name: &str, off: usize, e: usize| Tensor {
                name: name.into(),
                ty,
                dims: vec![cols as u64, rows as u64],
                data: &w[off + e * expert_bytes..off + (e + 1) * expert_bytes],
            };
            let want = |e: usize| gate_up_swiglu(&expert_tensor("gate", 0, e), &expert_tensor("up", pair, e), &x, 1);
            let (gw, gpu_expert) = (layout::to_gpu_rows(ty, cols, &w), rows * layout::row_bytes(ty, cols));
            // Dense (expert 0's rows), then MoE with experts 2 and 1 chosen.
            for (chosen, z) in [(vec![0usize], 1u32), (vec![2, 1], 2)] {
                let mut p = MatvecParams::new(ty, rows, cols);
                p.pair_bytes = (experts * gpu_expert) as u32;
                if z > 1 {
                    p.slot = 0;
                    p.top_k = z;
                    p.expert_bytes = gpu_expert as u32;
                    (p.expert_first, p.expert_count) = (0, experts as u32);
                }
                let route = [chosen[0] as u32, chosen[chosen.len() - 1] as u32, 0, 0];
                let args = [
                    (1, Arg::In(&gw)),
                    (2, Arg::In(bytes(&x))),
                    (3, Arg::Out(chosen.len() * rows * 4)),
                    (4, Arg::In(bytemuck::cast_slice(&route))),
                ];
                let (gx, gy) = p.fit(MatvecMode::Swiglu.kernel(ty), GPU_LIMITS);
                let got = run(&ctx, MatvecMode::Swiglu.kernel(ty), bytemuck::cast_slice(&[p]), &args, [gx, gy, z]);
                let want: Vec<f32> = chosen.iter().flat_map(|&e| want(e)).collect();
                check(&format!("{twin}: matvec_swiglu_{ty} (experts {chosen:?})"), &want, &got[0], TRANSCENDENTAL);
            }
        }
    }
}

/// `matvec_routed`: every chosen expert's down product of its own activations, weighted by the router
/// and added into y in one dispatch, against `routed_down`; an expert split into another part (here:
/// this buffer holds experts 0..2 only) is left to that part's dispatch.
#[test]
fn matvec_routed_matches_routed_down_for_every_encoding() {
    use archrace_cpu::ops::moe::routed_down;
    for (twin, ctx) in pollster::block_on(subgroup_twins_or_skip("matvec routed")) {
        // An odd row count: the last pair of rows is one row.
        let (n_embd, hidden, experts) = (41usize, 256usize, 4usize);
        let mut rng = SplitMix64::new(22);
        let acts = rng.vec(2 * hidden, -1.0, 1.0); // (top_k, hidden)
        let y0 = rng.vec(n_embd, -1.0, 1.0);
        for ty in GgmlType::ALL {
            let w = random_encoded(ty, experts * n_embd, hidden, &mut rng);
            let down =
                Tensor { name: "down".into(), ty, dims: vec![hidden as u64, (experts * n_embd) as u64], data: &w };
            let expert_bytes = n_embd * layout::row_bytes(ty, hidden);
            let gw = layout::to_gpu_rows(ty, hidden, &w);
            for (route, held) in [(vec![(3usize, 0.25f32), (1, 0.75)], experts), (vec![(1, 0.5), (3, 0.5)], 2)] {
                let mut p = MatvecParams::new(ty, n_embd, hidden);
                p.slot = 0;
                p.top_k = 2;
                p.expert_bytes = expert_bytes as u32;
                (p.expert_first, p.expert_count) = (0, held as u32);
                let kept: Vec<(usize, f32)> =
                    route.iter().map(|&(e, wt)| (e, if e < held { wt } else { 0.0 })).collect();
                let sum = routed_down(&down, &kept, &acts, n_embd);
                let want: Vec<f32> = y0.iter().zip(&sum).map(|(a, b)| a + b).collect();
                let words = [route[0].0 as u32, route[1].0 as u32, route[0].1.to_bits(), route[1].1.to_bits()];
                let args = [
                    (1, Arg::In(&gw)),
                    (2, Arg::In(bytes(&acts))),
                    (3, Arg::InOut(bytes(&y0))),
                    (4, Arg::In(bytemuck::cast_slice(&words))),
                ];
                let (gx, gy) = p.fit(MatvecMode::RoutedSum.kernel(ty), GPU_LIMITS);
                let got = run(&ctx, MatvecMode::RoutedSum.kernel(ty), bytemuck::cast_slice(&[p]), &args, [gx, gy, 1]);
                check(&format!("{twin}: matvec_routed_{ty} {route:?} of {held} experts"), &want, &got[0], TIGHT);
            }
        }
    }
}

/// The activations a matvec applies as it writes (RWKV's LoRA and channel-mix steps in decode), against
/// the product followed by the same-numbered pointwise op, with a per-row bias from the route binding.
#[test]
fn matvec_activations_match_product_then_pointwise() {
    use archrace_cpu::ops::pointwise::pointwise;
    for (twin, ctx) in pollster::block_on(subgroup_twins_or_skip("matvec activations")) {
        let (rows, cols) = (40usize, 64usize);
        let mut rng = SplitMix64::new(23);
        let x = rng.vec(cols, -1.0, 1.0);
        let bias = rng.vec(rows, -1.0, 1.0);
        let modes = [
            (MatvecMode::Tanh, 0),
            (MatvecMode::Sigmoid, 9),
            (MatvecMode::ReluSq, 5),
            (MatvecMode::Silu, 8),
            (MatvecMode::SigmoidBias, 1),
            (MatvecMode::Decay7, 2),
            (MatvecMode::Decay6, 3),
        ];
        for ty in [GgmlType::F32, GgmlType::Q8_0] {
            let w = random_encoded(ty, rows, cols, &mut rng);
            let m = Tensor { name: "w".into(), ty, dims: vec![cols as u64, rows as u64], data: &w };
            let product = matmul(&m, &x, 1);
            for (mode, op) in modes {
                let mut want = vec![0.0; rows];
                pointwise(op, &product, &bias, &bias, &mut want);
                let mut p = MatvecParams::new(ty, rows, cols);
                p.mode = mode as u32;
                let gw = layout::to_gpu_rows(ty, cols, &w);
                let args =
                    [(1, Arg::In(&gw)), (2, Arg::In(bytes(&x))), (3, Arg::Out(rows * 4)), (4, Arg::In(bytes(&bias)))];
                let (gx, gy) = p.fit(mode.kernel(ty), GPU_LIMITS);
                let got = run(&ctx, mode.kernel(ty), bytemuck::cast_slice(&[p]), &args, [gx, gy, 1]);
                check(&format!("{twin}: matvec_{ty} {mode:?}"), &want, &got[0], TRANSCENDENTAL);
            }
        }
    }
}

/// `matvec_multi` against its twin, for every encoding: three products of different row counts and row
/// lengths packed in one buffer, each reading its own stretch of x and writing after the one before, with
/// RWKV-7's decay (a bias), no activation, and a biased sigmoid; then the first two alone (as an RWKV-7
/// first layer runs its LoRA groups without the last segment).
#[test]
fn matvec_multi_matches_its_twin_for_every_encoding() {
    use archrace_cpu::ops::matmul::{matvec_multi, MultiSegment};
    use archrace_gpu::kernels::matvec::{multi_rows, multi_table, row_threads, Segment, NO_SLOT, WORKGROUP};
    for (twin, ctx) in pollster::block_on(subgroup_twins_or_skip("matvec multi")) {
        let mut rng = SplitMix64::new(31);
        for ty in GgmlType::ALL {
            let block = ty.block_size().max(4).max(32);
            let shapes = [(37usize, 2 * block), (20, 4 * block), (9, block)]; // (rows, cols)
            let modes = [(MatvecMode::Decay7, 2u32), (MatvecMode::Write, 11), (MatvecMode::SigmoidBias, 1)];
            let x_offs = [8usize, 0, 4 * block];
            let x = rng.vec(8 * block, -1.0, 1.0);
            // One buffer of the segments' rows in the GPU's layout; the GGUF rows for the twin.
            let (mut gw, mut ggml) = (Vec::new(), Vec::new());
            let mut segments = Vec::new();
            for (i, &(rows, cols)) in shapes.iter().enumerate() {
                let base = gw.len();
                let w = random_encoded(ty, rows, cols, &mut rng);
                gw.extend_from_slice(&layout::to_gpu_rows(ty, cols, &w));
                ggml.push(w);
                let bias = (modes[i].0 != MatvecMode::Write).then(|| rng.vec(rows, -1.0, 1.0));
                let row_bytes = layout::row_bytes(ty, cols);
                segments.push(Segment { rows, cols, row_bytes, base, x_off: x_offs[i], mode: modes[i].0, bias });
            }
            let tensors: Vec<Tensor> = segments
                .iter()
                .zip(&ggml)
                .map(|(s, w)| Tensor { name: "segment".into(), ty, dims: vec![s.cols as u64, s.rows as u64], data: w })
                .collect();
            for n in [3usize, 2] {
                let twins: Vec<MultiSegment> = (0..n)
                    .map(|i| MultiSegment {
                        w: &tensors[i],
                        x_off: x_offs[i],
                        op: modes[i].1,
                        bias: segments[i].bias.as_deref(),
                    })
                    .collect();
                let want = matvec_multi(&twins, &x);
                let table = multi_table(ty, &segments[..n]);
                let rows: usize = segments[..n].iter().map(|s| s.rows).sum();
                let dispatch_rows = multi_rows(segments[..n].iter().map(|s| s.rows));
                let blocks =
                    shapes.iter().map(|s| s.1).max().unwrap() / archrace_gpu::kernels::matvec::kernel_block(ty);
                // Threads per row as decode picks them (several pairs a workgroup), and a whole workgroup a
                // pair, where a dispatch of one pair too few would leave rows unwritten.
                for rt in [row_threads(blocks), WORKGROUP] {
                    let mut p = MatvecParams {
                        rows: dispatch_rows as u32,
                        slot: NO_SLOT,
                        row_threads: rt as u32,
                        segments: n as u32,
                        ..Default::default()
                    };
                    let (gx, gy) = p.fit(Kernel::MatvecMulti(ty), GPU_LIMITS);
                    let args = [
                        (1, Arg::In(&gw)),
                        (2, Arg::In(bytes(&x))),
                        (3, Arg::Out(rows * 4)),
                        (4, Arg::In(bytemuck::cast_slice(&table))),
                    ];
                    let got = run(&ctx, Kernel::MatvecMulti(ty), bytemuck::cast_slice(&[p]), &args, [gx, gy, 1]);
                    let what = format!("{twin}: matvec_multi_{ty}, {n} segments, {rt} threads a row");
                    check(&what, &want, &got[0], TRANSCENDENTAL);
                }
            }
        }
    }
}

#[test]
fn pointwise_matches_its_twin_for_every_op() {
    let Some(ctx) = pollster::block_on(context_or_skip("pointwise parity")) else { return };
    let n = 200;
    let mut rng = SplitMix64::new(9);
    let (a, b, c, out0) =
        (rng.vec(n + 3, -3.0, 3.0), rng.vec(n + 5, -3.0, 3.0), rng.vec(n, -3.0, 3.0), rng.vec(n + 2, -1.0, 1.0));
    for op in 0..=12u32 {
        let mut want = out0[2..].to_vec();
        archrace_cpu::ops::pointwise::pointwise(op, &a[3..], &b[5..], &c, &mut want);
        let params = [n as u32, op, 3, 5, 0, 2];
        let args =
            [(1, Arg::In(bytes(&a))), (2, Arg::In(bytes(&b))), (3, Arg::In(bytes(&c))), (4, Arg::InOut(bytes(&out0)))];
        let got = run(&ctx, Kernel::Pointwise, &params, &args, [4, 1, 1]);
        check(&format!("pointwise op {op}"), &want, &got[0][2..], TRANSCENDENTAL);
    }
}

#[test]
fn rwkv_kernels_match_their_twins() {
    use archrace_cpu::model::rwkv::{group_norm, rwkv7_bonus, rwkv7_prep, token_shift, wkv6, wkv7};
    for (twin, ctx) in pollster::block_on(subgroup_twins_or_skip("rwkv parity")) {
        eprintln!("rwkv parity: {twin}");
        // Head sizes of RWKV-7 (64: wkv7 keeps a state row in registers), wider (96) and narrower (24).
        for (h, s) in [(3usize, 64usize), (2, 96), (2, 24)] {
            let e = h * s;
            let mut rng = SplitMix64::new(10);
            let mut vecs = |n: usize, lo: f32, hi: f32| rng.vec(n, lo, hi);
            let (x, prev, mix) = (vecs(e, -1.0, 1.0), vecs(e, -1.0, 1.0), vecs(2 * e, 0.0, 1.0));
            let (r, k, v) = (vecs(e, -1.0, 1.0), vecs(e, -1.0, 1.0), vecs(e, -1.0, 1.0));
            let (w, u, a) = (vecs(e, 0.5, 1.0), vecs(e, -1.0, 1.0), vecs(e, 0.0, 1.0));
            let (k_k, k_a, r_k, g) = (vecs(e, 0.5, 1.5), vecs(e, 0.5, 1.5), vecs(e, -1.0, 1.0), vecs(e, -1.0, 1.0));
            let state = vecs(h * s * s, -0.5, 0.5);
            let groups = [(e as u32).div_ceil(64), 1, 1];
            let hs = [h as u32, s as u32];

            let mut want_prev = prev.clone();
            let sx = token_shift(&x, e, &mut want_prev);
            let want_lerp: Vec<f32> = (0..2 * e).map(|i| x[i % e] + sx[i % e] * mix[i]).collect();
            let args = [
                (1, Arg::In(bytes(&x))),
                (2, Arg::InOut(bytes(&prev))),
                (3, Arg::In(bytes(&mix))),
                (4, Arg::Out(2 * e * 4)),
                (5, Arg::Out(e * 4)),
            ];
            let got = run(&ctx, Kernel::TokenShift, &[e as u32, 2], &args, groups);
            check("token_shift state", &want_prev, &got[0], TIGHT);
            check("token_shift lerps", &want_lerp, &got[1], TIGHT);
            check("token_shift sx", &sx, &got[2], TIGHT);

            let (ln_w, ln_b) = (vecs(e, 0.5, 1.5), vecs(e, -0.5, 0.5));
            for extra in [false, true] {
                let mut want = group_norm(&x, h, &ln_w, &ln_b);
                for i in 0..e {
                    want[i] = (want[i] + if extra { r_k[i] } else { 0.0 }) * g[i];
                }
                let params = [s as u32, extra as u32, 64e-5f32.to_bits()];
                let args = [
                    (1, Arg::In(bytes(&x))),
                    (2, Arg::In(bytes(&ln_w))),
                    (3, Arg::In(bytes(&ln_b))),
                    (4, Arg::In(bytes(&r_k))),
                    (5, Arg::In(bytes(&g))),
                    (6, Arg::Out(e * 4)),
                ];
                let got = run(&ctx, Kernel::GroupNorm, &params, &args, [h as u32, 1, 1]);
                check(&format!("group_norm (extra: {extra})"), &want, &got[0], TIGHT);
            }

            let mut want_state = state.clone();
            let want = wkv6(&r, &k, &v, &w, &u, &mut want_state, h, s);
            let args = [
                (1, Arg::In(bytes(&r))),
                (2, Arg::In(bytes(&w))),
                (3, Arg::InOut(bytes(&k))),
                (4, Arg::In(bytes(&v))),
                (5, Arg::InOut(bytes(&state))),
                (6, Arg::Out(e * 4)),
                (7, Arg::In(bytes(&u))),
            ];
            let got = run(&ctx, Kernel::Wkv6, &hs, &args, groups);
            check("wkv6 state", &want_state, &got[1], TIGHT);
            check("wkv6 output", &want, &got[2], TIGHT);

            let mut want_k = k.clone();
            let want_kk = rwkv7_prep(&mut want_k, &a, &k_k, &k_a, s);
            let args = [
                (3, Arg::InOut(bytes(&k))),
                (7, Arg::In(bytes(&a))),
                (8, Arg::Out(2 * e * 4)),
                (9, Arg::In(bytes(&k_k))),
                (10, Arg::In(bytes(&k_a))),
            ];
            let got = run(&ctx, Kernel::Rwkv7Prep, &hs, &args, [h as u32, 1, 1]);
            check("rwkv7_prep k", &want_k, &got[0], TIGHT);
            check("rwkv7_prep [kk, kk a]", &want_kk, &got[1], TIGHT);

            let mut want_state = state.clone();
            let want = wkv7(&r, &w, &want_k, &v, &want_kk, &mut want_state, h, s);
            let args = [
                (1, Arg::In(bytes(&r))),
                (2, Arg::In(bytes(&w))),
                (3, Arg::InOut(bytes(&want_k))),
                (4, Arg::In(bytes(&v))),
                (5, Arg::InOut(bytes(&state))),
                (6, Arg::Out(e * 4)),
                (8, Arg::InOut(bytes(&want_kk))),
            ];
            let got = run(&ctx, Kernel::Wkv7, &hs, &args, groups);
            check("wkv7 state", &want_state, &got[1], TIGHT);
            check("wkv7 output", &want, &got[2], TIGHT);

            let want = rwkv7_bonus(&r, &k, &v, &r_k, s);
            let args = [
                (1, Arg::In(bytes(&r))),
                (3, Arg::InOut(bytes(&k))),
                (4, Arg::In(bytes(&v))),
                (6, Arg::Out(e * 4)),
                (10, Arg::In(bytes(&r_k))),
            ];
            let got = run(&ctx, Kernel::Rwkv7Bonus, &hs, &args, [h as u32, 1, 1]);
            check("rwkv7_bonus", &want, &got[1], TIGHT);
        }
    }
}

/// `norm_shift` against its twin: a row width that is no multiple of the workgroup, RMSNorm and LayerNorm,
/// six lerps, the shift state replaced by the normed row.
#[test]
fn norm_shift_matches_its_twin() {
    use archrace_cpu::model::rwkv::norm_shift;
    use archrace_model::Norm;
    for (twin, ctx) in pollster::block_on(twins_and_gpu_sizes_or_skip("norm_shift parity")) {
        eprintln!("norm_shift parity: {twin}");
        let (e, n_mix, eps) = (300usize, 6usize, 1e-5f32);
        let mut rng = SplitMix64::new(32);
        for kind in [0u32, 1] {
            let (x, prev, mix) = (rng.vec(e, -3.0, 3.0), rng.vec(e, -1.0, 1.0), rng.vec(n_mix * e, 0.0, 1.0));
            let (w, b) = (rng.vec(e, 0.5, 1.5), rng.vec(e, -0.5, 0.5));
            let norm = if kind == 0 { Norm::Rms { eps } } else { Norm::Layer { eps } };
            let mut want_prev = prev.clone();
            let (want_lerps, want_sx) = norm_shift(&x, norm, (&w, &b), &mix, &mut want_prev);
            let args = [
                (1, Arg::In(bytes(&x))),
                (2, Arg::InOut(bytes(&prev))),
                (3, Arg::In(bytes(&mix))),
                (4, Arg::Out(n_mix * e * 4)),
                (5, Arg::Out(e * 4)),
                (6, Arg::In(bytes(&w))),
                (7, Arg::In(bytes(&b))),
            ];
            let params = [e as u32, n_mix as u32, 1, kind, eps.to_bits()];
            let got = run(&ctx, Kernel::NormShift, &params, &args, [1, 1, 1]);
            check(&format!("norm_shift kind {kind}: state"), &want_prev, &got[0], TIGHT);
            check(&format!("norm_shift kind {kind}: lerps"), &want_lerps, &got[1], TIGHT);
            check(&format!("norm_shift kind {kind}: sx"), &want_sx, &got[2], TIGHT);
        }
    }
}

/// `wkv7_step` against its twin: three heads of 64 and two of 96 (more channels than threads), the first
/// layer (v_first written) and a later one (the value residual read from it).
#[test]
fn wkv7_step_matches_its_twin() {
    use archrace_cpu::model::rwkv::{wkv7_step, Wkv7StepInputs};
    for (twin, ctx) in pollster::block_on(subgroup_twins_or_skip("wkv7_step parity")) {
        eprintln!("wkv7_step parity: {twin}");
        let mut rng = SplitMix64::new(33);
        for (h, s) in [(3usize, 64usize), (2, 96)] {
            let e = h * s;
            let rkv = rng.vec(3 * e, -1.0, 1.0);
            let mut up = rng.vec(e, 0.5, 1.0); // decay
            up.extend(rng.vec(e, 0.0, 1.0)); // a
            up.extend(rng.vec(e, -1.0, 1.0)); // g
            up.extend(rng.vec(e, 0.0, 1.0)); // value mix
            let mut consts = rng.vec(2 * e, 0.5, 1.5); // k_k, k_a
            consts.extend(rng.vec(e, -1.0, 1.0)); // r_k
            consts.extend(rng.vec(e, 0.5, 1.5)); // ln w
            consts.extend(rng.vec(e, -0.5, 0.5)); // ln b
            let state = rng.vec(h * s * s, -0.5, 0.5);
            let v_first = rng.vec(e, -1.0, 1.0);
            let row = |a: &[f32], i: usize| a[i * e..(i + 1) * e].to_vec();
            let (r, k, v) = (row(&rkv, 0), row(&rkv, 1), row(&rkv, 2));
            let (w, a, g, v_mix) = (row(&up, 0), row(&up, 1), row(&up, 2), row(&up, 3));
            let (k_k, k_a, r_k, ln_w, ln_b) =
                (row(&consts, 0), row(&consts, 1), row(&consts, 2), row(&consts, 3), row(&consts, 4));
            let inputs = Wkv7StepInputs {
                r: &r,
                k: &k,
                v: &v,
                w: &w,
                a: &a,
                g: &g,
                v_mix: &v_mix,
                k_k: &k_k,
                k_a: &k_a,
                r_k: &r_k,
                ln_w: &ln_w,
                ln_b: &ln_b,
            };
            for first in [true, false] {
                let (mut want_state, mut want_first) = (state.clone(), v_first.clone());
                let want = wkv7_step(&inputs, &mut want_state, &mut want_first, first, h, s);
                let args = [
                    (1, Arg::In(bytes(&rkv))),
                    (2, Arg::In(bytes(&up))),
                    (3, Arg::In(bytes(&consts))),
                    (4, Arg::InOut(bytes(&state))),
                    (5, Arg::InOut(bytes(&v_first))),
                    (6, Arg::Out(e * 4)),
                ];
                let params = [h as u32, s as u32, first as u32, 64e-5f32.to_bits()];
                let got = run(&ctx, Kernel::Wkv7Step, &params, &args, [h as u32, 1, 1]);
                let what = format!("wkv7_step, {h} heads of {s}, first {first}");
                check(&format!("{what}: state"), &want_state, &got[0], TIGHT);
                check(&format!("{what}: v_first"), &want_first, &got[1], TIGHT);
                check(&format!("{what}: output"), &want, &got[2], TRANSCENDENTAL);
            }
        }
    }
}

/// The GPU sampler draws what the CPU sampler draws from the same logits, settings and seed: the host
/// passes the CPU stream's one draw per token.
#[test]
fn sample_top_k_matches_the_cpu_sampler() {
    use archrace_model::{Sampler, SamplerConfig};
    for (twin, ctx) in pollster::block_on(subgroup_twins_or_skip("sampler parity")) {
        eprintln!("sampler parity: {twin}");
        let mut rng = SplitMix64::new(11);
        let n = 1000;
        let history: Vec<u32> = (0..80).map(|_| (rng.next_u64() % n as u64) as u32).collect();
        let configs = [
            SamplerConfig { temperature: 0.8, seed: 1, ..SamplerConfig::default() },
            SamplerConfig { temperature: 1.5, top_k: 64, top_p: 1.0, min_p: 0.0, seed: 2, ..SamplerConfig::default() },
            SamplerConfig {
                temperature: 0.5,
                top_k: 5,
                top_p: 0.5,
                min_p: 0.2,
                repeat_penalty: 1.3,
                seed: 3,
                ..SamplerConfig::default()
            },
            SamplerConfig { temperature: 1.0, top_k: 1, seed: 4, ..SamplerConfig::default() },
        ];
        for config in configs {
            let (mut cpu, mut gpu) = (Sampler::new(config.clone()), Sampler::new(config.clone()));
            for draw in 0..20 {
                // Peaked logits with ties, so top-p, min-p and the tie order all matter.
                let logits: Vec<f32> = (0..n).map(|_| (rng.uniform(-4.0, 4.0) * 4.0).round() / 4.0).collect();
                let want = cpu.sample(&logits, &history);
                let penalized = gpu.penalized(&history);
                let penalized_buf = [&penalized[..], &[0]].concat(); // never an empty binding
                let params = [
                    n as u32,
                    0,
                    config.top_k as u32,
                    penalized.len() as u32,
                    config.temperature.to_bits(),
                    config.top_p.to_bits(),
                    config.min_p.to_bits(),
                    config.repeat_penalty.to_bits(),
                    gpu.draw().to_bits(),
                ];
                let args = [
                    (1, Arg::InOut(bytes(&logits))),
                    (2, Arg::In(bytemuck::cast_slice(&penalized_buf))),
                    (3, Arg::Out(16)),
                ];
                let out = pollster::block_on(run_kernel(&ctx, Kernel::SampleTopK, &params, &args, [1, 1, 1])).unwrap();
                let got = u32::from_le_bytes(out[1][..4].try_into().unwrap());
                assert_eq!(got, want, "{config:?}, draw {draw}");
            }
        }
    }
}

//! The matvec family, for every encoding: plain, with a fused residual add and MoE addressing, the normed
//! twins, with RoPE, SwiGLU, routed, with activations, multi, with the conv step; and the embedding gather.

use crate::common::parity::{bytes, check, run, TIGHT, TRANSCENDENTAL};
use archrace_cpu::ops::mamba::mamba_conv;
use archrace_cpu::ops::matmul::matmul;
use archrace_cpu::ops::moe::gate_up_swiglu;
use archrace_cpu::ops::norm::rms_norm;
use archrace_cpu::SplitMix64;
use archrace_gguf::{dequantize, GgmlType};
use archrace_gpu::kernels::matvec::{MatvecLimits, MatvecMode, MatvecParams, WORKGROUP};
use archrace_gpu::kernels::oneshot::{run_kernel, Arg};
use archrace_gpu::{layout, Kernel};
use archrace_model::{RopeSpec, Tensor};
use archrace_tests::data::random_encoded;
use archrace_tests::gpu::{context_or_skip, subgroup_twins_or_skip};

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
        let modes = archrace_tests::gpu::ACTIVATIONS;
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

//! RWKV's kernels: pointwise ops, token shift, WKV-6 and -7, group norm, `norm_shift`, `wkv7_step`, for a
//! decode step's token and over a prefill chunk's.

use crate::common::parity::{bytes, check, run, TIGHT, TRANSCENDENTAL};
use archrace_cpu::SplitMix64;
use archrace_gpu::kernels::oneshot::Arg;
use archrace_gpu::{GpuContext, Kernel};
use archrace_tests::gpu::{context_or_skip, twins_and_gpu_sizes_or_skip};

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
    // Op 3 (RWKV-6's decay) over a chunk of 3 tokens with b and c per-channel constants repeating over the
    // tokens, spilling into y (two workgroups per row of the dispatch).
    let (e, t) = (128usize, 3usize);
    let n = t * e;
    let (x, u) = (rng.vec(n, -3.0, 3.0), rng.vec(e, -3.0, 3.0));
    let decay: Vec<f32> = (0..n).map(|i| u[i % e]).collect();
    let mut want = vec![0.0; n];
    archrace_cpu::ops::pointwise::pointwise(3, &x, &decay, &decay, &mut want);
    let args = [(1, Arg::In(bytes(&x))), (2, Arg::In(bytes(&u))), (3, Arg::In(bytes(&u))), (4, Arg::Out(n * 4))];
    let params = [n as u32, 3, 0, 0, 0, 0, e as u32, e as u32, 128];
    let got = run(&ctx, Kernel::Pointwise, &params, &args, [2, (n as u32).div_ceil(128), 1]);
    check("pointwise with a repeating operand", &want, &got[0], TRANSCENDENTAL);
}

/// Token shift, group norm, the WKV recurrences and RWKV-7's prep and bonus over 1 token (a decode step) and
/// over 3 (a prefill chunk) in one dispatch each, against the twins stepped token by token: heads of RWKV-7's
/// 64 (wkv7 keeps a state row in registers), wider (96) and narrower (22: no multiple of four rows, so a
/// software adapter's last thread of a head runs two); both twins of the reductions and both of wkv7's
/// shapes (archrace_gpu::shaders::wkv7_shape: a GPU's row a thread, a software adapter's four).
#[test]
fn rwkv_kernels_match_their_twins() {
    for (twin, ctx) in pollster::block_on(twins_and_gpu_sizes_or_skip("rwkv parity")) {
        for (h, s, t) in [(3usize, 64usize, 1usize), (2, 96, 1), (2, 22, 1), (2, 64, 3), (2, 22, 3)] {
            eprintln!("rwkv parity: {twin}, {h} heads of {s}, {t} tokens");
            rwkv_kernels_match(&ctx, h, s, t);
        }
    }
}

fn rwkv_kernels_match(ctx: &GpuContext, h: usize, s: usize, t: usize) {
    use archrace_cpu::model::rwkv::{group_norm, rwkv7_bonus, rwkv7_prep, token_shift, wkv6, wkv7};
    let e = h * s;
    let what = format!("{h} heads of {s}, {t} tokens");
    let mut rng = SplitMix64::new(10 + t as u64);
    let mut vecs = |n: usize, lo: f32, hi: f32| rng.vec(n, lo, hi);
    let (x, prev, mix) = (vecs(t * e, -1.0, 1.0), vecs(e, -1.0, 1.0), vecs(2 * e, 0.0, 1.0));
    let (r, k, v) = (vecs(t * e, -1.0, 1.0), vecs(t * e, -1.0, 1.0), vecs(t * e, -1.0, 1.0));
    let (w, u, a) = (vecs(t * e, 0.5, 1.0), vecs(e, -1.0, 1.0), vecs(t * e, 0.0, 1.0));
    let (k_k, k_a, r_k) = (vecs(e, 0.5, 1.5), vecs(e, 0.5, 1.5), vecs(e, -1.0, 1.0));
    let (bonus, g) = (vecs(t * e, -1.0, 1.0), vecs(t * e, -1.0, 1.0));
    let (ln_w, ln_b) = (vecs(e, 0.5, 1.5), vecs(e, -0.5, 0.5));
    let state = vecs(h * s * s, -0.5, 0.5);
    let groups = [(e as u32).div_ceil(64), 1, 1];
    let hst = [h as u32, s as u32, t as u32];
    let tok = |v: &[f32], i: usize| v[i * e..][..e].to_vec();

    // Token shift: lerps (2, T, E), sx (T, E), the state ends at the last token's x.
    let mut want_prev = prev.clone();
    let (mut want_lerp, mut want_sx) = (vec![0.0; 2 * t * e], Vec::new());
    for i in 0..t {
        let sx = token_shift(&tok(&x, i), e, &mut want_prev);
        for j in 0..2 {
            for c in 0..e {
                want_lerp[(j * t + i) * e + c] = x[i * e + c] + sx[c] * mix[j * e + c];
            }
        }
        want_sx.extend(sx);
    }
    let args = [
        (1, Arg::In(bytes(&x))),
        (2, Arg::InOut(bytes(&prev))),
        (3, Arg::In(bytes(&mix))),
        (4, Arg::Out(2 * t * e * 4)),
        (5, Arg::Out(t * e * 4)),
    ];
    let got = run(ctx, Kernel::TokenShift, &[e as u32, 2, t as u32], &args, groups);
    check(&format!("{what}: token_shift state"), &want_prev, &got[0], TIGHT);
    check(&format!("{what}: token_shift lerps"), &want_lerp, &got[1], TIGHT);
    check(&format!("{what}: token_shift sx"), &want_sx, &got[2], TIGHT);

    // Group norm per (head, token), then with a per-token bonus added, times the gate.
    for extra in [false, true] {
        let mut want = Vec::new();
        for i in 0..t {
            let n = group_norm(&tok(&x, i), h, &ln_w, &ln_b);
            want.extend((0..e).map(|c| (n[c] + if extra { bonus[i * e + c] } else { 0.0 }) * g[i * e + c]));
        }
        let args = [
            (1, Arg::In(bytes(&x))),
            (2, Arg::In(bytes(&ln_w))),
            (3, Arg::In(bytes(&ln_b))),
            (4, Arg::In(bytes(&bonus))),
            (5, Arg::In(bytes(&g))),
            (6, Arg::Out(t * e * 4)),
        ];
        let params = [s as u32, extra as u32, 64e-5f32.to_bits(), h as u32];
        let got = run(ctx, Kernel::GroupNorm, &params, &args, [h as u32, t as u32, 1]);
        check(&format!("{what}: group_norm (bonus: {extra})"), &want, &got[0], TIGHT);
    }

    // WKV-6 over the tokens, the bonus u per channel.
    let mut want_state = state.clone();
    let mut want = Vec::new();
    for i in 0..t {
        want.extend(wkv6(&tok(&r, i), &tok(&k, i), &tok(&v, i), &tok(&w, i), &u, &mut want_state, h, s));
    }
    let args = [
        (1, Arg::In(bytes(&r))),
        (2, Arg::In(bytes(&w))),
        (3, Arg::InOut(bytes(&k))),
        (4, Arg::In(bytes(&v))),
        (5, Arg::InOut(bytes(&state))),
        (6, Arg::Out(t * e * 4)),
        (7, Arg::In(bytes(&u))),
    ];
    let got = run(ctx, Kernel::Wkv6, &hst, &args, groups);
    check(&format!("{what}: wkv6 state"), &want_state, &got[1], TIGHT);
    check(&format!("{what}: wkv6 output"), &want, &got[2], TIGHT);

    // RWKV-7: prep per (head, token) into [kk (T, E), kk a (T, E)], then WKV-7 and the bonus.
    let (mut want_k, mut want_kk, mut want_kka) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..t {
        let mut ki = tok(&k, i);
        let both = rwkv7_prep(&mut ki, &tok(&a, i), &k_k, &k_a, s);
        want_kk.extend_from_slice(&both[..e]);
        want_kka.extend_from_slice(&both[e..]);
        want_k.extend(ki);
    }
    let args = [
        (3, Arg::InOut(bytes(&k))),
        (7, Arg::In(bytes(&a))),
        (8, Arg::Out(2 * t * e * 4)),
        (9, Arg::In(bytes(&k_k))),
        (10, Arg::In(bytes(&k_a))),
    ];
    let got = run(ctx, Kernel::Rwkv7Prep, &hst, &args, [h as u32, t as u32, 1]);
    check(&format!("{what}: rwkv7_prep k"), &want_k, &got[0], TIGHT);
    check(&format!("{what}: rwkv7_prep [kk, kk a]"), &[&want_kk[..], &want_kka].concat(), &got[1], TIGHT);
    let kk_all = got[1].clone();
    let mut want_state = state.clone();
    let mut want = Vec::new();
    for i in 0..t {
        let both = [tok(&want_kk, i), tok(&want_kka, i)].concat();
        want.extend(wkv7(&tok(&r, i), &tok(&w, i), &tok(&want_k, i), &tok(&v, i), &both, &mut want_state, h, s));
    }
    let args = [
        (1, Arg::In(bytes(&r))),
        (2, Arg::In(bytes(&w))),
        (3, Arg::InOut(bytes(&want_k))),
        (4, Arg::In(bytes(&v))),
        (5, Arg::InOut(bytes(&state))),
        (6, Arg::Out(t * e * 4)),
        (8, Arg::InOut(bytes(&kk_all))),
    ];
    let wkv7_groups = archrace_gpu::shaders::wkv7_shape(ctx.shader_target()).groups(h, s);
    let got = run(ctx, Kernel::Wkv7, &hst, &args, wkv7_groups);
    check(&format!("{what}: wkv7 state"), &want_state, &got[1], TIGHT);
    check(&format!("{what}: wkv7 output"), &want, &got[2], TIGHT);
    let want: Vec<f32> =
        (0..t).flat_map(|i| rwkv7_bonus(&tok(&r, i), &tok(&want_k, i), &tok(&v, i), &r_k, s)).collect();
    let args = [
        (1, Arg::In(bytes(&r))),
        (3, Arg::InOut(bytes(&want_k))),
        (4, Arg::In(bytes(&v))),
        (6, Arg::Out(t * e * 4)),
        (10, Arg::In(bytes(&r_k))),
    ];
    let got = run(ctx, Kernel::Rwkv7Bonus, &hst, &args, [h as u32, t as u32, 1]);
    check(&format!("{what}: rwkv7_bonus"), &want, &got[1], TIGHT);
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

/// `wkv7_step` against its twin in both of wkv7's shapes (a GPU's row a thread, a software adapter's four):
/// three heads of 64, two of 96 (more rows than a GPU's threads) and two of 22 (no multiple of four rows),
/// the first layer (v_first written) and a later one (the value residual read from it).
#[test]
fn wkv7_step_matches_its_twin() {
    use archrace_cpu::model::rwkv::{wkv7_step, Wkv7StepInputs};
    for (twin, ctx) in pollster::block_on(twins_and_gpu_sizes_or_skip("wkv7_step parity")) {
        eprintln!("wkv7_step parity: {twin}");
        let mut rng = SplitMix64::new(33);
        for (h, s) in [(3usize, 64usize), (2, 96), (2, 22)] {
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

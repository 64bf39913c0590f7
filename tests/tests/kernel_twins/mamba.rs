//! Mamba's conv step and selective scans, for one token (a decode step) and over a chunk of tokens (prefill),
//! against the twins stepped token by token.

use crate::common::parity::{bytes, check, run, TIGHT, TRANSCENDENTAL};
use crate::common::rel_err;
use archrace_cpu::ops::mamba::{mamba_conv, mamba_scan, mamba_scan_dt, ScanInputs};
use archrace_cpu::SplitMix64;
use archrace_gpu::kernels::oneshot::Arg;
use archrace_gpu::{GpuContext, Kernel};
use archrace_tests::gpu::context_or_skip;

/// `mamba_conv`, `mamba_scan` and `mamba_scan_dt` (the dt projection in front; with and without Jamba's dt,
/// B and C norms) over 1 and 6 tokens, with states of 16 and 5 (the scans keep them in registers) and 24
/// (past them: read and written per token), and conv widths of 4 and 2 (`mamba_conv` keeps the window in
/// registers) and 6 (past it); a chunk's dbc rows padded after C.
#[test]
fn mamba_conv_and_scans_match_their_twins() {
    let Some(ctx) = pollster::block_on(context_or_skip("mamba parity")) else { return };
    for (t, n, k) in [(1usize, 16usize, 4usize), (1, 24, 4), (6, 5, 4), (6, 16, 2), (6, 24, 6)] {
        eprintln!("mamba parity: {t} tokens, state {n}, conv width {k}");
        conv_and_scans_match(&ctx, Case { t, n, k });
    }
}

/// Tokens, state size and conv width of one parity case.
struct Case {
    t: usize,
    n: usize,
    k: usize,
}

fn conv_and_scans_match(ctx: &GpuContext, Case { t, n, k }: Case) {
    let (di, r) = (96usize, 8usize);
    let row = r + 2 * n + if t > 1 { 3 } else { 0 }; // one token's dt, B, C (and padding)
    let what = format!("T {t}, N {n}, K {k}");
    let mut rng = SplitMix64::new(11 + (n * 7 + k) as u64);
    let conv_w = rng.vec(di * k, -0.5, 0.5);
    let conv_b = rng.vec(di, -0.1, 0.1);
    let dt_bias = rng.vec(di, -2.0, 0.5);
    let d = rng.vec(di, -1.0, 1.0);
    let a: Vec<f32> = rng.vec(di * n, 0.0, 2.0).iter().map(|v| -v.exp()).collect();
    let consts = [&conv_w[..], &conv_b, &dt_bias, &d, &a].concat();
    let xz = rng.vec(t * 2 * di, -2.0, 2.0);
    let conv_state = rng.vec((k - 1) * di, -1.0, 1.0);
    let dt = rng.vec(t * di, -3.0, 3.0);
    let dbc = rng.vec(t * row, -3.0, 3.0);
    let ssm = rng.vec(di * n, -1.0, 1.0);
    let w_dt = rng.vec(di * r, -0.5, 0.5);
    let norms = rng.vec(r + 2 * n, 0.5, 1.5);
    let eps = 1e-6f32;
    // MambaParams: d_inner, d_conv, d_state, b_off, c_off, n_tokens, dbc_stride, dt_rank, norm_at, eps.
    let params = [di, k, n, r, r + n, t, row, r, 0, 0].map(|x| x as u32);
    let groups = [(di as u32).div_ceil(64), 1, 1];

    // The conv over the tokens.
    let mut want_conv = conv_state.clone();
    let want_xc: Vec<f32> =
        (0..t).flat_map(|i| mamba_conv(&xz[i * 2 * di..][..di], &conv_w, &conv_b, &mut want_conv, k)).collect();
    let args = [
        (1, Arg::In(bytes(&xz))),
        (2, Arg::In(bytes(&consts))),
        (3, Arg::InOut(bytes(&conv_state))),
        (4, Arg::Out(t * di * 4)),
    ];
    let got = run(ctx, Kernel::MambaConv, &params, &args, groups);
    check(&format!("{what}: mamba_conv state"), &want_conv, &got[0], TIGHT);
    check(&format!("{what}: mamba_conv output"), &want_xc, &got[1], TRANSCENDENTAL);

    // Token i's scan inputs (dt from the `dt` buffer; mamba_scan_dt's twin projects its own).
    let inputs = |i: usize| ScanInputs {
        dt: &dt[i * di..][..di],
        dt_bias: &dt_bias,
        x: &want_xc[i * di..][..di],
        z: &xz[i * 2 * di + di..][..di],
        b: &dbc[i * row + r..][..n],
        c: &dbc[i * row + r + n..][..n],
        a: &a,
        d: &d,
    };

    // The scan of dt as given.
    let mut want_ssm = ssm.clone();
    let plain: Vec<f32> = (0..t).flat_map(|i| mamba_scan(&inputs(i), &mut want_ssm)).collect();
    let args = scan_args(&dt, [&xz, &consts, &want_xc, &dbc, &ssm], t * di * 4);
    let got = run(ctx, Kernel::MambaScan, &params, &args, groups);
    check(&format!("{what}: mamba_scan state"), &want_ssm, &got[0], TRANSCENDENTAL);
    check(&format!("{what}: mamba_scan output"), &plain, &got[1], TRANSCENDENTAL);

    // The dt projection in front: W_dt (Di, R) in the dt binding, dt_low each dbc row's first R values;
    // then with Jamba's norms too, their weights after the other consts, laid out as a dbc row.
    let consts_normed = [&consts[..], &norms].concat();
    let mut normed = params;
    (normed[8], normed[9]) = (consts.len() as u32, eps.to_bits());
    let mut by_norms = Vec::new();
    for (norm, p, consts) in [(None, &params, &consts), (Some((&norms[..], eps)), &normed, &consts_normed)] {
        let how = format!("{what}: mamba_scan_dt, norms {}", norm.is_some());
        let mut want_ssm = ssm.clone();
        let want: Vec<f32> =
            (0..t).flat_map(|i| mamba_scan_dt(&w_dt, &dbc[i * row..][..r], &inputs(i), norm, &mut want_ssm)).collect();
        let args = scan_args(&w_dt, [&xz, consts, &want_xc, &dbc, &ssm], t * di * 4);
        let got = run(ctx, Kernel::MambaScanDt, p, &args, groups);
        check(&format!("{how}: state"), &want_ssm, &got[0], TRANSCENDENTAL);
        check(&format!("{how}: output"), &want, &got[1], TRANSCENDENTAL);
        // Not the plain scan of a dt that was never projected.
        assert!(rel_err(&want, &plain) > 1e-2, "{how}: the same as the plain scan");
        by_norms.push(want);
    }
    // Nor the scan of the fields as they are.
    assert!(rel_err(&by_norms[0], &by_norms[1]) > 1e-2, "{what}: the norms changed nothing");
}

/// The scans' bindings: `dt_binding` (dt, or mamba_scan_dt's W_dt), then xz, consts, the conv output, dbc
/// and the SSM state; `out` bytes of y.
fn scan_args<'a>(dt_binding: &'a [f32], rest: [&'a [f32]; 5], out: usize) -> [(u32, Arg<'a>); 7] {
    let [xz, consts, xc, dbc, ssm] = rest;
    [
        (1, Arg::In(bytes(xz))),
        (2, Arg::In(bytes(consts))),
        (4, Arg::In(bytes(xc))),
        (5, Arg::In(bytes(dt_binding))),
        (6, Arg::In(bytes(dbc))),
        (7, Arg::InOut(bytes(ssm))),
        (8, Arg::Out(out)),
    ]
}

//! Mamba's conv step and selective scan.

use crate::common::parity::{bytes, check, run, TIGHT, TRANSCENDENTAL};
use crate::common::rel_err;
use archrace_cpu::ops::mamba::{mamba_conv, mamba_scan, mamba_scan_dt, ScanInputs};
use archrace_cpu::SplitMix64;
use archrace_gpu::kernels::oneshot::Arg;
use archrace_gpu::Kernel;
use archrace_tests::gpu::context_or_skip;

/// Conv, scan and the scan with the dt projection (and Jamba's norms) in front, for one token (two with
/// norms), with states of 16 and 5 (the scans keep them in registers) and 24 (past them).
#[test]
fn mamba_conv_and_scan_match_their_twins() {
    let Some(ctx) = pollster::block_on(context_or_skip("mamba parity")) else { return };
    for n in [16, 5, 24] {
        eprintln!("mamba parity: state {n}");
        conv_and_scans_match(&ctx, n);
    }
}

fn conv_and_scans_match(ctx: &archrace_gpu::GpuContext, n: usize) {
    let (di, k, r) = (96usize, 4usize, 4usize);
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
    let got = run(ctx, Kernel::MambaConv, &params, &args, [(di as u32).div_ceil(64), 1, 1]);
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
    let got = run(ctx, Kernel::MambaScan, &params, &args, [(di as u32).div_ceil(64), 1, 1]);
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
    let got = run(ctx, Kernel::MambaScanDt, &fused, &args, [(di as u32).div_ceil(64), 1, 1]);
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
    let got = run(ctx, Kernel::MambaScanDt, &normed, &args, [(di as u32).div_ceil(64), 1, 1]);
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

//! GPU kernels against their CPU twins on seeded data, on whatever native adapter wgpu finds (lavapipe
//! in CI).
#![cfg(not(target_arch = "wasm32"))]

use archrace_cpu::{compare, matvec_q8_0, SplitMix64};
use archrace_gguf::quant::q8_0::quantize_row;
use archrace_gpu::selftest::SELFTEST_TOLERANCE;
use archrace_gpu::{matvec_q8_0_selftest, GpuError, MatvecQ8_0};
use archrace_tests::gpu::context_or_skip;

#[test]
fn matvec_q8_0_matches_cpu_twin_across_shapes() {
    let Some(ctx) = pollster::block_on(context_or_skip("matvec_q8_0 parity")) else {
        return;
    };
    let kernel = pollster::block_on(MatvecQ8_0::new(&ctx)).unwrap();
    // Shapes: one block; odd rows with blocks at 2-mod-4 byte offsets; more blocks per row than threads
    // per workgroup; more rows than one dispatch dimension holds (65535), which uses the y dimension.
    for (seed, &(rows, cols)) in [(1, 32), (7, 96), (64, 4096 + 32), (65_537, 32)].iter().enumerate() {
        let mut rng = SplitMix64::new(seed as u64);
        let w = quantize_row(&rng.vec(rows * cols, -1.0, 1.0)).unwrap();
        let x = rng.vec(cols, -2.0, 2.0);
        let mut expected = vec![0.0; rows];
        matvec_q8_0(&w, &x, rows, cols, &mut expected);
        let got = pollster::block_on(kernel.run(&ctx, &w, &x, rows, cols)).unwrap();
        if let Err(m) = compare(&expected, &got.y, SELFTEST_TOLERANCE) {
            panic!("matvec_q8_0 {rows}x{cols} (seed {seed}): {m}");
        }
    }
}

#[test]
fn matvec_q8_0_rejects_shapes_that_do_not_fit() {
    let Some(ctx) = pollster::block_on(context_or_skip("matvec_q8_0 bad input")) else {
        return;
    };
    let kernel = pollster::block_on(MatvecQ8_0::new(&ctx)).unwrap();
    let w = quantize_row(&[0.5; 64]).unwrap();
    for (rows, cols, x_len) in [(1, 48, 48), (2, 64, 64), (1, 64, 32), (0, 64, 64)] {
        let err = pollster::block_on(kernel.run(&ctx, &w, &vec![1.0; x_len], rows, cols)).unwrap_err();
        assert!(matches!(err, GpuError::BadInput(_)), "{rows}x{cols}: {err}");
    }
}

#[test]
fn selftest_passes_and_reports_timings() {
    let Some(ctx) = pollster::block_on(context_or_skip("selftest")) else {
        return;
    };
    let report = pollster::block_on(matvec_q8_0_selftest(&ctx, 256, 1024, 42)).unwrap();
    assert!(report.pass, "{:?}", report.mismatch);
    assert!(report.gpu_ms > 0.0 && report.cpu_ms >= 0.0, "{report:?}");
    assert!(report.max_rel_diff <= SELFTEST_TOLERANCE.rel, "{report:?}");
}

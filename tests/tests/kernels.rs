//! GPU kernels against their CPU twins on seeded data, on whatever native adapter wgpu finds (lavapipe
//! in CI).
#![cfg(not(target_arch = "wasm32"))]

use archrace_cpu::ops::matmul::matmul;
use archrace_cpu::{compare, SplitMix64, Tolerance};
use archrace_gguf::GgmlType;
use archrace_gpu::selftest::SELFTEST_TOLERANCE;
use archrace_gpu::{matvec_q8_0_selftest, GpuError, Matvec};
use archrace_model::Tensor;
use archrace_tests::data::random_encoded;
use archrace_tests::gpu::context_or_skip;

/// Only the order of f32 additions differs between the GPU and the CPU twin.
const MATVEC_TOLERANCE: Tolerance = Tolerance { abs: 1e-6, rel: 5e-5 };

#[test]
fn matvec_matches_cpu_twin_for_every_encoding_and_shape() {
    let Some(ctx) = pollster::block_on(context_or_skip("matvec parity")) else { return };
    for ty in GgmlType::ALL {
        let kernel = pollster::block_on(Matvec::new(&ctx, ty)).unwrap_or_else(|e| panic!("{ty}: {e}"));
        let block = ty.block_size().max(4);
        // One block (one thread per row, 64 rows per workgroup, 63 of them past the end); odd rows
        // (unaligned block starts for 18-, 22-, 34- and 210-byte blocks) sharing a workgroup 4 threads
        // each; more blocks per row than threads per workgroup; many short rows; and (F32 only, to keep
        // the weights small) more workgroups than one dispatch dimension holds (65535), spilling into y.
        let mut shapes = vec![(1, block), (7, 3 * block), (33, 72 * block.min(64)), (65_537, block)];
        if ty == GgmlType::F32 {
            shapes.push((65_537, 33 * block));
        }
        for (seed, &(rows, cols)) in shapes.iter().enumerate() {
            let cols = cols.div_ceil(block) * block;
            let mut rng = SplitMix64::new(seed as u64 + 100 * ty as u64);
            let w = random_encoded(ty, rows, cols, &mut rng);
            let x = rng.vec(cols, -2.0, 2.0);
            let tensor = Tensor { name: "w".into(), ty, dims: vec![cols as u64, rows as u64], data: &w };
            let expected = matmul(&tensor, &x, 1);
            let got = pollster::block_on(kernel.run(&ctx, &w, &x, rows, cols)).unwrap();
            if let Err(m) = compare(&expected, &got.y, MATVEC_TOLERANCE) {
                panic!("matvec_{} {rows}x{cols} (seed {seed}): {m}", ty.name().to_lowercase());
            }
        }
    }
}

#[test]
fn matvec_rejects_shapes_that_do_not_fit() {
    let Some(ctx) = pollster::block_on(context_or_skip("matvec bad input")) else { return };
    let kernel = pollster::block_on(Matvec::new(&ctx, GgmlType::Q8_0)).unwrap();
    let w = vec![0u8; 2 * 34];
    for (rows, cols, x_len) in [(1, 48, 48), (2, 64, 64), (1, 64, 32), (0, 64, 64)] {
        let err = pollster::block_on(kernel.run(&ctx, &w, &vec![1.0; x_len], rows, cols)).unwrap_err();
        assert!(matches!(err, GpuError::BadInput(_)), "{rows}x{cols}: {err}");
    }
}

#[test]
fn selftest_passes_and_reports_timings() {
    let Some(ctx) = pollster::block_on(context_or_skip("selftest")) else { return };
    let report = pollster::block_on(matvec_q8_0_selftest(&ctx, 256, 1024, 42)).unwrap();
    assert!(report.pass, "{:?}", report.mismatch);
    assert!(report.gpu_ms > 0.0 && report.cpu_ms >= 0.0, "{report:?}");
    assert!(report.max_rel_diff <= SELFTEST_TOLERANCE.rel, "{report:?}");
}

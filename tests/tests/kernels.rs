//! GPU kernels against their CPU twins on seeded data, on whatever native adapter wgpu finds (lavapipe
//! in CI).
#![cfg(not(target_arch = "wasm32"))]

use archrace_cpu::ops::matmul::matmul;
use archrace_cpu::{compare, SplitMix64, Tolerance};
use archrace_gguf::GgmlType;
use archrace_gpu::kernels::matvec::{kernel_block, row_threads, ROW_THREADS};
use archrace_gpu::selftest::SELFTEST_TOLERANCE;
use archrace_gpu::{matvec_q8_0_selftest, GpuError, Matvec};
use archrace_model::Tensor;
use archrace_tests::data::random_encoded;
use archrace_tests::gpu::{context_or_skip, subgroup_twins_or_skip};

/// Only the order of f32 additions differs between the GPU and the CPU twin.
const MATVEC_TOLERANCE: Tolerance = Tolerance { abs: 1e-6, rel: 5e-5 };

#[test]
fn matvec_matches_cpu_twin_for_every_encoding_and_shape() {
    for (twin, ctx) in pollster::block_on(subgroup_twins_or_skip("matvec parity")) {
        matvec_matches_cpu_twin_on(&ctx, twin);
    }
}

fn matvec_matches_cpu_twin_on(ctx: &archrace_gpu::GpuContext, twin: &str) {
    for ty in GgmlType::ALL {
        let kernel = pollster::block_on(Matvec::new(ctx, ty)).unwrap_or_else(|e| panic!("{ty}: {e}"));
        let block = ty.block_size().max(4);
        // Sized as on a GPU (one thread per block up to 64, whatever this adapter's own choice;
        // `matvec_matches_cpu_twin_with_any_threads_per_row` runs every other). Rows in pairs
        // (`block_dot2`). One block (one thread per pair, 64 pairs per workgroup, all but one past the end,
        // whose second row is missing); odd rows (unaligned block starts for 18-, 22-, 34- and 210-byte
        // blocks) sharing a workgroup 4 threads each; rows of 16 threads (wider than lavapipe's and
        // SwiftShader's subgroups: the subgroup twin's cross-subgroup step, several row groups a
        // workgroup); more blocks per row than threads per workgroup; many short rows; and (F32 only, to
        // keep the weights small) more workgroups than one dispatch dimension holds (65535), spilling
        // into y.
        let mut shapes = vec![(1, block), (7, 3 * block), (19, 13 * block), (33, 72 * block.min(64)), (65_537, block)];
        if ty == GgmlType::F32 {
            shapes.push((131_075, 33 * block));
        }
        for (seed, &(rows, cols)) in shapes.iter().enumerate() {
            let cols = cols.div_ceil(block) * block;
            let mut rng = SplitMix64::new(seed as u64 + 100 * ty as u64);
            let w = random_encoded(ty, rows, cols, &mut rng);
            let x = rng.vec(cols, -2.0, 2.0);
            let tensor = Tensor { name: "w".into(), ty, dims: vec![cols as u64, rows as u64], data: &w };
            let expected = matmul(&tensor, &x, 1);
            let gpu_threads = Some(row_threads(cols / block));
            let got =
                pollster::block_on(kernel.run_with_row_threads(ctx, (&w, &x), (rows, cols), gpu_threads)).unwrap();
            if let Err(m) = compare(&expected, &got.y, MATVEC_TOLERANCE) {
                panic!("matvec_{} {rows}x{cols} (seed {seed}, {twin}): {m}", ty.name().to_lowercase());
            }
        }
    }
}

/// `bench` times the products with every choice of threads per row group (`ROW_THREADS`); each must
/// compute the same sums as the twin, whatever share of a row's blocks each thread takes.
#[test]
fn matvec_matches_cpu_twin_with_any_threads_per_row() {
    for (twin, ctx) in pollster::block_on(subgroup_twins_or_skip("matvec row threads")) {
        for ty in GgmlType::ALL {
            let kernel = pollster::block_on(Matvec::new(&ctx, ty)).unwrap();
            // 9 rows (an odd last pair) of 72 blocks (or 9 super-blocks): with 64 threads per row group
            // some threads take two blocks, with 1 one thread takes them all.
            let (rows, cols) = (9, kernel_block(ty) * if ty.block_size() >= 256 { 9 } else { 72 });
            let mut rng = SplitMix64::new(7 + ty as u64);
            let w = random_encoded(ty, rows, cols, &mut rng);
            let x = rng.vec(cols, -2.0, 2.0);
            let tensor = Tensor { name: "w".into(), ty, dims: vec![cols as u64, rows as u64], data: &w };
            let expected = matmul(&tensor, &x, 1);
            for rt in ROW_THREADS {
                let got =
                    pollster::block_on(kernel.run_with_row_threads(&ctx, (&w, &x), (rows, cols), Some(rt))).unwrap();
                if let Err(m) = compare(&expected, &got.y, MATVEC_TOLERANCE) {
                    panic!("matvec_{} with {rt} threads a row ({twin}): {m}", ty.name().to_lowercase());
                }
            }
        }
        let kernel = pollster::block_on(Matvec::new(&ctx, GgmlType::F32)).unwrap();
        let err = pollster::block_on(kernel.run_with_row_threads(&ctx, (&[0; 64], &[0.0; 16]), (1, 16), Some(3)));
        assert!(matches!(err, Err(GpuError::BadInput(ref m)) if m.contains("power of two")), "{err:?}");
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

/// Where the adapter has subgroups (lavapipe and SwiftShader's Vulkan do), the probe accepts them and the
/// matvecs sum rows with shuffles, so the parity tests check both twins of the row sums; where it has
/// none, the portable twin, saying why.
#[test]
fn subgroup_row_sums_are_chosen_where_the_adapter_has_them() {
    let Some(ctx) = pollster::block_on(context_or_skip("row sums")) else { return };
    let how = &ctx.report.row_sums;
    if ctx.report.subgroups {
        assert!(ctx.shader_target().subgroups(), "{how}");
        assert!(how.starts_with("subgroup shuffles (subgroups of "), "{how}");
    } else {
        assert!(!ctx.shader_target().subgroups() && how.starts_with("workgroup memory ("), "{how}");
    }
    let portable = pollster::block_on(archrace_gpu::GpuContext::with_options(archrace_gpu::ContextOptions {
        subgroups: false,
        ..Default::default()
    }))
    .unwrap();
    assert!(!portable.shader_target().subgroups());
    assert!(portable.report.row_sums.starts_with("workgroup memory ("), "{}", portable.report.row_sums);
}

/// The loop cap the runtime sizes its work under (`GpuContext::loop_limit`) is the device's: one
/// invocation's 300 x 400 = 120,000 loop iterations all run where none is assumed, and stop just short of
/// the cap where one is (llvmpipe's 65,535 back-edges, all loops together: on lavapipe).
#[test]
fn the_loop_cap_the_runtime_assumes_is_the_devices() {
    use archrace_gpu::runtime::loop_budget::loop_probe;
    let Some(ctx) = pollster::block_on(context_or_skip("loop cap")) else { return };
    let count = pollster::block_on(loop_probe(&ctx, 300, 400)).unwrap() as usize;
    let name = &ctx.report.name;
    match ctx.loop_limit {
        None => assert_eq!(count, 120_000, "{name}: no loop cap assumed, yet the loops stopped after {count}"),
        Some(limit) => {
            assert!((limit * 9 / 10..=limit).contains(&count), "{name}: a cap of {limit} assumed, {count} ran")
        }
    }
}

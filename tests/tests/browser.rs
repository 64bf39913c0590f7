//! In the browser (headless Chromium, SwiftShader WebGPU): the same kernel, the same CPU twin.
//! Run with `cargo test --target wasm32-unknown-unknown -p archrace-tests --test browser` (scripts/dev test).
#![cfg(target_arch = "wasm32")]

use archrace_gguf::GgmlType;
use archrace_gpu::{matvec_q8_0_selftest, GpuContext, GpuError, Matvec};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn webgpu_adapter_exists_and_reports_limits() {
    let ctx = GpuContext::new().await.expect("a WebGPU adapter (Chromium needs --enable-unsafe-webgpu)");
    assert_eq!(ctx.report.backend, "BrowserWebGpu");
    assert!(ctx.report.limits.max_storage_buffer_binding_size >= 128 << 20, "{:?}", ctx.report);
}

#[wasm_bindgen_test]
async fn matvec_q8_0_matches_cpu_on_webgpu() {
    let ctx = GpuContext::new().await.expect("a WebGPU adapter");
    let report = matvec_q8_0_selftest(&ctx, 96, 512 + 32, 3).await.expect("selftest runs");
    assert!(report.pass, "{:?}", report.mismatch);
}

#[wasm_bindgen_test]
async fn matvec_q8_0_rejects_mismatched_shapes_on_webgpu() {
    let ctx = GpuContext::new().await.expect("a WebGPU adapter");
    let kernel = Matvec::new(&ctx, GgmlType::Q8_0).await.expect("pipeline");
    let w = vec![0u8; 2 * 34];
    let err = kernel.run(&ctx, &w, &[1.0; 64], 3, 64).await.unwrap_err();
    assert!(matches!(err, GpuError::BadInput(_)), "{err}");
}

#[wasm_bindgen_test]
async fn matvec_matches_cpu_for_every_encoding_on_webgpu() {
    use archrace_cpu::{compare, ops::matmul::matmul, SplitMix64, Tolerance};
    let ctx = GpuContext::new().await.expect("a WebGPU adapter");
    for ty in GgmlType::ALL {
        let kernel = Matvec::new(&ctx, ty).await.unwrap_or_else(|e| panic!("{ty}: {e}"));
        let (rows, cols) = (5, 2 * ty.block_size().max(4));
        let mut rng = SplitMix64::new(ty as u64);
        let w = archrace_tests::data::random_encoded(ty, rows, cols, &mut rng);
        let x = rng.vec(cols, -2.0, 2.0);
        let tensor = archrace_model::Tensor { name: "w".into(), ty, dims: vec![cols as u64, rows as u64], data: &w };
        let got = kernel.run(&ctx, &w, &x, rows, cols).await.expect("runs");
        if let Err(m) = compare(&matmul(&tensor, &x, 1), &got.y, Tolerance { abs: 1e-6, rel: 5e-5 }) {
            panic!("matvec_{} on WebGPU: {m}", ty.name().to_lowercase());
        }
    }
}

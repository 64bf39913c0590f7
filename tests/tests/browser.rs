//! In the browser (headless Chromium, SwiftShader WebGPU): the same kernel, the same CPU twin.
//! Run with `cargo test --target wasm32-unknown-unknown -p archrace-tests --test browser` (scripts/dev test).
#![cfg(target_arch = "wasm32")]

use archrace_gguf::quant::q8_0::quantize_row;
use archrace_gpu::{matvec_q8_0_selftest, GpuContext, GpuError, MatvecQ8_0};
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
    let kernel = MatvecQ8_0::new(&ctx).await.expect("pipeline");
    let w = quantize_row(&[1.0; 64]).unwrap();
    let err = kernel.run(&ctx, &w, &[1.0; 64], 3, 64).await.unwrap_err();
    assert!(matches!(err, GpuError::BadInput(_)), "{err}");
}

//! Detecting WebGPU, opening the one device every lane shares, and running the kernel self-test.

use crate::state::{CheckState, DeviceState};
use archrace_gpu::{matvec_q8_0_selftest, GpuContext, GpuError};
use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// Self-test matrix: small enough for a software adapter (SwiftShader) to finish in well under a second.
pub const SELFTEST_ROWS: usize = 256;
/// Self-test columns (a multiple of 32).
pub const SELFTEST_COLS: usize = 1024;
/// Self-test seed, fixed so every visitor runs the same check.
pub const SELFTEST_SEED: u64 = 42;

/// What the visitor reads when the race falls back to the CPU.
const CPU_FALLBACK: &str = "The race runs on the CPU instead (the same Rust code, compiled to WebAssembly), labelled \
                            \u{201c}CPU (no WebGPU)\u{201d}: slower, but the memory story is the same.";

/// Whether the browser exposes `navigator.gpu` at all.
pub fn browser_has_webgpu() -> bool {
    web_sys::window()
        .map(|w| w.navigator())
        .and_then(|n| js_sys::Reflect::get(&n, &"gpu".into()).ok())
        .is_some_and(|gpu| !gpu.is_undefined() && !gpu.is_null())
}

/// The feature names of the browser's own default adapter (`GPUAdapter.features`), sorted; empty when
/// there is none. wgpu's WebGPU backend maps only some features, so the device panel shows these too.
pub async fn browser_adapter_features() -> Vec<String> {
    async fn inner() -> Option<Vec<String>> {
        let navigator = web_sys::window()?.navigator();
        let gpu = js_sys::Reflect::get(&navigator, &"gpu".into()).ok()?;
        let request: js_sys::Function = js_sys::Reflect::get(&gpu, &"requestAdapter".into()).ok()?.dyn_into().ok()?;
        let promise: js_sys::Promise = request.call0(&gpu).ok()?.dyn_into().ok()?;
        let adapter = wasm_bindgen_futures::JsFuture::from(promise).await.ok()?;
        if adapter.is_null() || adapter.is_undefined() {
            return None;
        }
        let features = js_sys::Reflect::get(&adapter, &"features".into()).ok()?;
        let mut names: Vec<String> = js_sys::try_iter(&features).ok()??.filter_map(|v| v.ok()?.as_string()).collect();
        names.sort();
        Some(names)
    }
    inner().await.unwrap_or_default()
}

/// Opens a WebGPU device: the context, or what the visitor reads and the technical detail.
pub async fn open_device() -> Result<GpuContext, (String, Option<String>)> {
    if !browser_has_webgpu() {
        return Err((
            "This browser does not expose WebGPU (navigator.gpu is missing); a current Chrome, Edge or Safari, \
             or Firefox with WebGPU enabled, has it."
                .into(),
            None,
        ));
    }
    match GpuContext::new().await {
        Ok(ctx) => Ok(ctx),
        Err(e @ GpuError::NoAdapter(_)) => Err((
            "WebGPU is present but gave no adapter: it may be disabled, or blocklisted for this GPU.".into(),
            Some(e.to_string()),
        )),
        Err(e) => Err(("WebGPU gave an adapter but no device.".into(), Some(e.to_string()))),
    }
}

/// Probes the GPU, writing what it finds into `device`; the device when there is one.
pub async fn probe(device: RwSignal<DeviceState>) -> Option<GpuContext> {
    match open_device().await {
        Ok(ctx) => {
            let browser_features = browser_adapter_features().await;
            device.set(DeviceState::Ready { report: ctx.report.clone(), browser_features });
            Some(ctx)
        }
        Err((reason, detail)) => {
            device.set(DeviceState::NoWebGpu { reason: format!("{reason} {CPU_FALLBACK}"), detail });
            None
        }
    }
}

/// Runs the kernel self-test on `ctx` (or records that there is no GPU to run it on).
pub async fn self_test(ctx: Option<&GpuContext>, check: RwSignal<CheckState>) {
    let Some(ctx) = ctx else {
        check.set(CheckState::Unavailable);
        return;
    };
    check.set(CheckState::Running);
    match matvec_q8_0_selftest(ctx, SELFTEST_ROWS, SELFTEST_COLS, SELFTEST_SEED).await {
        Ok(report) => check.set(CheckState::Done(report)),
        Err(e) => check.set(CheckState::Error(e.to_string())),
    }
}

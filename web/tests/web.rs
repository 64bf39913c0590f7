//! Component tests in the browser: the whole app mounts, probes WebGPU, shows the adapter and the kernel
//! check's verdict. Run by `scripts/dev test` with wasm-bindgen-test-runner in headless Chromium.
#![cfg(target_arch = "wasm32")]

use archrace_gpu::{AdapterReport, KeyLimits};
use archrace_web::components::AdapterFacts;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

/// A fresh element to mount into.
fn fresh_root() -> web_sys::HtmlElement {
    let el: web_sys::HtmlElement = document().create_element("section").unwrap().unchecked_into();
    document().body().unwrap().append_child(&el).unwrap();
    el
}

async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window().unwrap().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms).unwrap();
    });
    wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
}

fn text_of(root: &web_sys::HtmlElement, testid: &str) -> Option<String> {
    root.query_selector(&format!("[data-testid={testid}]")).unwrap().and_then(|e| e.text_content())
}

#[wasm_bindgen_test]
async fn app_shows_adapter_and_kernel_verdict() {
    let root = fresh_root();
    let _handle = leptos::mount::mount_to(root.clone(), archrace_web::App);
    let mut verdict = None;
    for _ in 0..600 {
        verdict = text_of(&root, "selftest-verdict");
        if verdict.is_some() || text_of(&root, "selftest-error").is_some() || text_of(&root, "no-webgpu").is_some() {
            break;
        }
        sleep_ms(50).await;
    }
    assert_eq!(verdict.as_deref(), Some("PASS"), "page said: {:?}", root.text_content());
    let backend = text_of(&root, "adapter-backend").unwrap();
    assert!(backend.starts_with("BrowserWebGpu"), "{backend}");
}

#[wasm_bindgen_test]
fn adapter_facts_render_features_and_limits() {
    let report = AdapterReport {
        name: String::new(),
        driver: "test".into(),
        backend: "BrowserWebGpu".into(),
        device_type: "Cpu".into(),
        software: true,
        shader_f16: false,
        subgroups: false,
        timestamp_query: true,
        row_sums: "workgroup memory (no subgroups on this device)".into(),
        limits: KeyLimits {
            max_storage_buffer_binding_size: 1 << 30,
            max_buffer_size: 1 << 30,
            max_storage_buffers_per_shader_stage: 10,
            max_compute_workgroup_storage_size: 32768,
            max_compute_invocations_per_workgroup: 256,
            max_compute_workgroups_per_dimension: 65535,
        },
    };
    let root = fresh_root();
    let features = vec!["subgroups".to_string(), "timestamp-query".to_string()];
    let _handle = leptos::mount::mount_to(root.clone(), move || {
        view! { <AdapterFacts report=report.clone() browser_features=features.clone()/> }
    });
    assert_eq!(text_of(&root, "adapter-name").unwrap(), "(not disclosed by the browser)");
    assert!(text_of(&root, "feature-shader-f16").unwrap().starts_with("no"));
    // The device said no, the browser said yes: the browser's list wins, with a note.
    assert_eq!(text_of(&root, "feature-subgroups").unwrap(), "yes (offered by the browser; this device has it off)");
    assert_eq!(text_of(&root, "browser-features").unwrap(), "subgroups, timestamp-query");
    assert_eq!(text_of(&root, "row-sums").unwrap(), "workgroup memory (no subgroups on this device)");
    assert!(text_of(&root, "norm-dispatches").unwrap().starts_with("each in a dispatch of its own"));
    assert!(root.text_content().unwrap().contains("1024 MiB"));
}

/// A body whose length the server does not give (a stream: no Content-Length) is refused at the chunk
/// that would take it past the cap, with no more than the cap ever read; one within the cap comes whole.
#[wasm_bindgen_test]
async fn a_streamed_body_without_a_length_is_capped() {
    use archrace_web::engine::fetch::read_body;
    use std::cell::Cell;
    let size = 200u32 << 10;
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::new_with_length(size));
    let blob = web_sys::Blob::new_with_u8_array_sequence(&parts).unwrap();
    let streamed = || web_sys::Response::new_with_opt_readable_stream(Some(&blob.stream())).unwrap();
    assert_eq!(streamed().headers().get("content-length").unwrap(), None, "a stream has no length");
    let (read, cap) = (Cell::new(0u64), 100u64 << 10);
    let err = read_body(&streamed(), "stream://body", None, &|n, _| read.set(n), cap).await.unwrap_err();
    assert!(err.contains("stream://body") && err.contains("a lane takes at most"), "{err}");
    assert!(read.get() <= cap, "read {} bytes past a cap of {cap}", read.get());
    let whole = read_body(&streamed(), "stream://body", None, &|_, _| {}, 2 * size as u64).await.unwrap();
    assert_eq!(whole.len(), size as usize);
}

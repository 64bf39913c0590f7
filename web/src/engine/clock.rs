//! Time in the browser: a millisecond clock and a yield to the event loop.

/// Milliseconds since the page opened (`performance.now()`; sub-millisecond where the browser allows).
pub fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map(|p| p.now()).unwrap_or(0.0)
}

/// Resolves after `ms` milliseconds (0: on the next turn of the event loop, letting the page paint and
/// handle input between pieces of work).
pub async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

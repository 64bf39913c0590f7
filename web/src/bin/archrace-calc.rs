//! The light runtime: the widgets that need no GPU (`<archrace-kv-calculator>`, `<archrace-layer-stack>`),
//! without wgpu, the kernels or the engine, for pages that embed only those. `public/archrace.js` loads it
//! for them; the build (a Trunk post-build hook, `scripts/build-light`) puts it beside the full runtime.

use wasm_bindgen::prelude::*;

fn main() {
    archrace_web::panic::install();
}

/// Mounts a calculator or a layer stack into `element` (as the full runtime's `mount`).
#[wasm_bindgen]
pub fn mount(element: web_sys::Element, options: JsValue) -> Result<(), JsValue> {
    let options: archrace_web::widgets::WidgetOptions =
        serde_wasm_bindgen::from_value(options).map_err(|e| JsValue::from_str(&format!("widget options: {e}")))?;
    archrace_web::widgets::mount_light_widget(element, options).map_err(|e| JsValue::from_str(&e))
}

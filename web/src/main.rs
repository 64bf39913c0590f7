//! The entry points: the playground mounts itself where `index.html` has `#archrace-playground`; on any
//! other page (the showcase, a documentation page) nothing mounts until `public/archrace.js` calls
//! [`mount`] for a widget.

use wasm_bindgen::prelude::*;

fn main() {
    archrace_web::panic::install();
    let playground = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("archrace-playground"))
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
    if let Some(root) = playground {
        leptos::mount::mount_to(root, archrace_web::App).forget();
    }
}

/// Mounts a widget into `element`: `options` is an object of strings (`widget`, `base`, and the
/// widget's attributes: `models`, `context`, `prompt`, `tokens`, `max-context`, `model`, `preset`).
#[wasm_bindgen]
pub fn mount(element: web_sys::Element, options: JsValue) -> Result<(), JsValue> {
    let options: archrace_web::widgets::WidgetOptions =
        serde_wasm_bindgen::from_value(options).map_err(|e| JsValue::from_str(&format!("widget options: {e}")))?;
    archrace_web::widgets::mount_widget(element, options).map_err(|e| JsValue::from_str(&e))
}

//! Panics go to the console (console_error_panic_hook) and onto the page, never to a silent dead page.

use wasm_bindgen::JsCast;

/// Installs the hook. Call once, before mounting.
pub fn install() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        show_fatal(&info.to_string());
    }));
}

/// Shows `message` in the page's `#fatal` banner (present in `index.html` before the app mounts).
pub fn show_fatal(message: &str) {
    let Some(el) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("fatal"))
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    else {
        return;
    };
    el.set_text_content(Some(&format!(
        "archrace stopped with an internal error (details in the browser console):\n{message}\nReload the page to start again."
    )));
    el.set_hidden(false);
}

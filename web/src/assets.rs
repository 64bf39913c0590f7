//! Where the site's own files (bundled models, filler text) are. The playground finds them beside the page;
//! a widget on someone else's page finds them beside the script that defined it, so a documentation page
//! anywhere can embed one.

use std::cell::RefCell;

thread_local! {
    /// The absolute URL of the folder holding `archrace.js` (ending in `/`), once a widget has set it.
    static BASE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Resolves the site's files against `base` (an absolute URL) from now on. A base that is not an absolute
/// URL is refused, and the files stay relative to the page.
pub fn set_base(base: &str) -> Result<(), String> {
    let parsed = web_sys::Url::new(base).map_err(|_| format!("the widget script's URL {base:?} is not absolute"))?;
    let mut href = parsed.href();
    if !href.ends_with('/') {
        // A file's URL: its folder.
        href.truncate(href.rfind('/').map_or(href.len(), |i| i + 1));
    }
    BASE.with_borrow_mut(|b| *b = Some(href));
    Ok(())
}

/// The URL of the site's file at `path` (relative to the site's root, e.g. `public/models/x.gguf`).
pub fn asset_url(path: &str) -> String {
    BASE.with_borrow(|b| match b {
        Some(base) => join(base, path),
        None => path.to_string(),
    })
}

/// `path` resolved against the folder `base`, as the browser resolves a relative link.
fn join(base: &str, path: &str) -> String {
    web_sys::Url::new_with_base(path, base).map(|u| u.href()).unwrap_or_else(|_| format!("{base}{path}"))
}

//! "Embed": the current race as a snippet for another page, in both forms (the custom element with its
//! script tag, and an iframe for hosts that cannot load scripts), with a copy button for each.

use crate::engine::{ModelSource, RunSettings};
use crate::race_state::{linked_sources, LanesCtx, RunCtx, SettingsCtx, CONTEXT_STEPS};
use crate::url_state::encode;
use leptos::prelude::*;

/// Escapes text for a double-quoted HTML attribute.
fn attribute(s: &str) -> String {
    s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The models as a widget's `models` attribute: bundled ids, or URLs.
fn models_attribute(sources: &[ModelSource]) -> String {
    sources
        .iter()
        .map(|s| match s {
            ModelSource::Bundled(id) => id.clone(),
            ModelSource::Url(u) => u.clone(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The custom-element snippet and the iframe snippet for a race of `sources` with `run`'s prompt and
/// length, extending to `contexts`, served from `base` (the folder of the playground, ending in `/`).
pub fn embed_snippets(base: &str, sources: &[ModelSource], run: &RunSettings, contexts: &[usize]) -> (String, String) {
    let models = models_attribute(sources);
    let context = contexts.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(",");
    let element = format!(
        "<script type=\"module\" src=\"{base}archrace.js\"></script>\n<archrace-race models=\"{}\" context=\"{context}\" \
         tokens=\"{}\" prompt=\"{}\"></archrace-race>",
        attribute(&models),
        run.max_new_tokens,
        attribute(&run.prompt)
    );
    let src = format!(
        "{base}embed.html?widget=race&models={}&context={}&tokens={}&prompt={}",
        encode(&models),
        encode(&context),
        run.max_new_tokens,
        encode(&run.prompt)
    );
    let iframe = format!(
        "<iframe src=\"{}\" title=\"archrace: a race of language-model architectures\" width=\"100%\" height=\"760\" \
         loading=\"lazy\" style=\"border: 0\"></iframe>",
        attribute(&src)
    );
    (element, iframe)
}

/// The folder of this page, as an absolute URL ending in `/`.
fn page_folder() -> String {
    web_sys::window()
        .and_then(|w| w.location().href().ok())
        .and_then(|href| web_sys::Url::new_with_base("./", &href).ok())
        .map(|u| u.href())
        .unwrap_or_default()
}

/// One snippet with its copy button.
#[component]
fn Snippet(label: &'static str, testid: &'static str, code: Signal<String>) -> impl IntoView {
    let copied = RwSignal::new(false);
    let copy = move |_| {
        let text = code.get_untracked();
        leptos::task::spawn_local(async move {
            if let Some(w) = web_sys::window() {
                let done = wasm_bindgen_futures::JsFuture::from(w.navigator().clipboard().write_text(&text)).await;
                copied.set(done.is_ok());
            }
        });
    };
    view! {
        <div class="snippet">
            <p><strong>{label}</strong>" "
                <button on:click=copy data-testid=format!("{testid}-copy")>{move || if copied.get() { "Copied" } else { "Copy" }}</button>
            </p>
            <pre><code data-testid=testid>{code}</code></pre>
        </div>
    }
}

/// The embed panel: hidden until asked for.
#[component]
pub fn EmbedPanel() -> impl IntoView {
    let SettingsCtx(settings) = expect_context::<SettingsCtx>();
    let LanesCtx(lanes) = expect_context::<LanesCtx>();
    let run = expect_context::<RunCtx>();
    let open = RwSignal::new(false);
    let snippets = Memo::new(move |_| {
        let all = lanes.get();
        all.iter().for_each(|l| l.source.track());
        let sources = linked_sources(&all);
        // The contexts this race has reached, or the first two steps.
        let reached = run.next_step.get().clamp(2, CONTEXT_STEPS.len());
        settings.with(|s| embed_snippets(&page_folder(), &sources, &s.run, &CONTEXT_STEPS[..reached]))
    });
    view! {
        <section class="card embed" aria-labelledby="embed-title">
            <h2 id="embed-title">"Embed this race"</h2>
            <button data-testid="embed" aria-expanded=move || open.get().to_string() on:click=move |_| open.update(|o| *o = !*o)>
                {move || if open.get() { "Hide the snippets" } else { "Show the snippets" }}
            </button>
            <Show when=move || open.get()>
                <p class="muted">"Paste into a documentation page. The race starts when the reader clicks Run, on the reader's GPU; "
                    <a href="showcase.html">"the showcase"</a>" shows every widget."</p>
                <Snippet label="Custom element" testid="embed-element" code=Signal::derive(move || snippets.get().0)/>
                <Snippet label="iframe (for hosts without scripts)" testid="embed-iframe" code=Signal::derive(move || snippets.get().1)/>
            </Show>
        </section>
    }
}

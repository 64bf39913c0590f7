//! The playground's pieces as widgets for other pages: a race, a memory chart, a KV-cache calculator and a
//! layer stack. `public/archrace.js` defines them as custom elements (`<archrace-race>`, …) and calls
//! [`mount_widget`] with the element's attributes; hosts that prefer code call its `mount(element,
//! options)`. Each widget renders into its own shadow root with its own styles, never touches the host
//! page's URL, history, styles or other elements, and shows its failures inside itself.

pub mod kv_calculator;
pub mod layer_stack;
pub mod memory_chart;
pub mod model_header;
pub mod race;
pub mod shared;

pub use kv_calculator::KvCalculator;
pub use layer_stack::LayerStack;
pub use memory_chart::MemoryChart;
pub use model_header::{model_header, ModelHeader};
pub use race::RaceWidget;

use crate::engine::ModelSource;
use leptos::prelude::*;
use serde::Deserialize;
use wasm_bindgen::JsCast;

/// The page's styles (its `:root` colours become the shadow host's) and the widgets' own, inside every
/// widget's shadow root.
fn styles() -> String {
    include_str!("../../style.css").replace(":root", ":host") + include_str!("widgets.css")
}

/// A widget's settings: the custom element's attributes (all strings, as HTML gives them) or the object
/// given to `mount`. Missing or malformed values fall back to defaults.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "kebab-case")]
pub struct WidgetOptions {
    /// `race`, `memory-chart`, `kv-calculator` or `layer-stack`.
    pub widget: String,
    /// The URL of the folder holding `archrace.js`: bundled models and text are found there.
    pub base: Option<String>,
    /// Comma-separated bundled ids (`llama,mamba`) or GGUF URLs.
    pub models: Option<String>,
    /// One model (the layer stack).
    pub model: Option<String>,
    /// Comma-separated contexts the race extends to (`256,4096`).
    pub context: Option<String>,
    /// The race's prompt.
    pub prompt: Option<String>,
    /// Tokens each lane generates.
    pub tokens: Option<String>,
    /// The memory chart's largest context.
    pub max_context: Option<String>,
    /// The calculator's first model (a preset id or a bundled id).
    pub preset: Option<String>,
}

/// Which widget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WidgetKind {
    /// `<archrace-race>`.
    Race,
    /// `<archrace-memory-chart>`.
    MemoryChart,
    /// `<archrace-kv-calculator>`.
    KvCalculator,
    /// `<archrace-layer-stack>`.
    LayerStack,
}

impl WidgetKind {
    /// The kind named `name` (the custom element's name without `archrace-`).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "race" => Self::Race,
            "memory-chart" => Self::MemoryChart,
            "kv-calculator" => Self::KvCalculator,
            "layer-stack" => Self::LayerStack,
            _ => return None,
        })
    }
}

/// Model sources from a comma-separated list: bundled ids, or URLs (`url:` prefix optional). Unknown ids
/// are kept as errors for the widget to show.
pub fn parse_models(list: &str) -> Vec<Result<ModelSource, String>> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .take(crate::url_state::MAX_LANES)
        .map(|item| {
            let url = item.strip_prefix("url:").unwrap_or(item);
            if crate::models::bundled(item).is_some() {
                Ok(ModelSource::Bundled(item.to_string()))
            } else if url.contains('/') || url.ends_with(".gguf") {
                Ok(ModelSource::Url(url.to_string()))
            } else {
                let known: Vec<&str> = crate::models::all().map(|b| b.id).collect();
                Err(format!("there is no bundled model called {item:?} (bundled: {})", known.join(", ")))
            }
        })
        .collect()
}

/// [`parse_models`] split into the sources to load and the errors to show.
pub fn models_and_errors(list: &str) -> (Vec<ModelSource>, Vec<String>) {
    let (mut sources, mut errors) = (Vec::new(), Vec::new());
    for item in parse_models(list) {
        match item {
            Ok(source) => sources.push(source),
            Err(e) => errors.push(e),
        }
    }
    (sources, errors)
}

/// Positive integers from a comma-separated list, in order, each at most `max`.
pub fn parse_counts(list: &str, max: u64) -> Vec<u64> {
    list.split(',').filter_map(|c| c.trim().parse::<u64>().ok()).filter(|&c| (1..=max).contains(&c)).collect()
}

/// Mounts the widget `options.widget` into `host`'s shadow root (made open if it has none; emptied if
/// it has), with its styles. The widget lives as long as the page.
pub fn mount_widget(host: web_sys::Element, options: WidgetOptions) -> Result<(), String> {
    mount_with(host, options, |kind, options| {
        Ok(match kind {
            WidgetKind::Race => view! { <RaceWidget options/> }.into_any(),
            WidgetKind::MemoryChart => view! { <MemoryChart options/> }.into_any(),
            WidgetKind::KvCalculator => view! { <KvCalculator options/> }.into_any(),
            WidgetKind::LayerStack => view! { <LayerStack options/> }.into_any(),
        })
    })
}

/// Mounts the widgets that need no GPU (the calculator and the layer stack): what the light runtime
/// (`archrace-calc`, without wgpu and the kernels) serves.
pub fn mount_light_widget(host: web_sys::Element, options: WidgetOptions) -> Result<(), String> {
    mount_with(host, options, |kind, options| match kind {
        WidgetKind::KvCalculator => Ok(view! { <KvCalculator options/> }.into_any()),
        WidgetKind::LayerStack => Ok(view! { <LayerStack options/> }.into_any()),
        other => Err(format!("the light runtime has no {other:?} widget: load archrace-web for it")),
    })
}

/// Mounts what `render` makes of `options` into `host`'s shadow root, with the widgets' styles.
fn mount_with(
    host: web_sys::Element,
    options: WidgetOptions,
    render: impl FnOnce(WidgetKind, WidgetOptions) -> Result<AnyView, String> + 'static,
) -> Result<(), String> {
    if let Some(base) = &options.base {
        crate::assets::set_base(base)?;
    }
    let kind = WidgetKind::parse(&options.widget)
        .ok_or_else(|| format!("archrace has no widget called {:?}", options.widget))?;
    let root = match host.shadow_root() {
        Some(root) => root,
        None => host
            .attach_shadow(&web_sys::ShadowRootInit::new(web_sys::ShadowRootMode::Open))
            .map_err(|e| format!("cannot attach a shadow root to <{}>: {e:?}", host.tag_name().to_lowercase()))?,
    };
    root.set_inner_html("");
    let document = host.owner_document().ok_or("the element is not in a document")?;
    let style = document.create_element("style").map_err(|e| format!("{e:?}"))?;
    style.set_text_content(Some(&styles()));
    root.append_child(&style).map_err(|e| format!("{e:?}"))?;
    let container: web_sys::HtmlElement =
        document.create_element("div").map_err(|e| format!("{e:?}"))?.unchecked_into();
    container.set_class_name("archrace-widget");
    root.append_child(&container).map_err(|e| format!("{e:?}"))?;
    let handle = leptos::mount::mount_to(container, move || match render(kind, options) {
        Ok(view) => view,
        Err(e) => view! { <p class="error" role="alert" data-testid="widget-error">{e}</p> }.into_any(),
    });
    handle.forget();
    Ok(())
}

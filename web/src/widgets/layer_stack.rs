//! `<archrace-layer-stack model="jamba">`: a model's layers as a stack (attention, Mamba or RWKV; dense or
//! a mixture of experts with top-k of n), with its total and active parameters, from the GGUF header.

use super::model_header::{model_header, ModelHeader};
use super::{parse_models, WidgetOptions};
use crate::components::{LayerStrip, StripLegend};
use crate::engine::protocol::MixerKind;
use leptos::prelude::*;

/// "1 attention, 7 Mamba; 4 MoE (top-2 of 16)".
pub fn layer_summary(h: &ModelHeader) -> String {
    let count = |k: MixerKind| h.layers.iter().filter(|c| c.mixer == k).count();
    let mut parts: Vec<String> =
        [(MixerKind::Attention, "attention"), (MixerKind::Mamba, "Mamba"), (MixerKind::Rwkv, "RWKV")]
            .into_iter()
            .filter_map(|(k, name)| Some(count(k)).filter(|&n| n > 0).map(|n| format!("{n} {name}")))
            .collect();
    let moe: Vec<(usize, usize)> = h.layers.iter().filter_map(|c| c.moe).collect();
    if let Some(&(e, k)) = moe.first() {
        parts.push(format!("{} with a mixture of experts (top-{k} of {e})", moe.len()));
    }
    format!("{} layers: {}", h.layers.len(), parts.join(", "))
}

/// The layer stack.
#[component]
pub fn LayerStack(
    /// `model`: a bundled id or a GGUF URL.
    options: WidgetOptions,
) -> impl IntoView {
    let model = options.model.or(options.models).unwrap_or_else(|| "jamba".into());
    let header = RwSignal::new(None::<Result<ModelHeader, String>>);
    match parse_models(&model).into_iter().next() {
        Some(Ok(source)) => leptos::task::spawn_local(async move { header.set(Some(model_header(&source).await)) }),
        Some(Err(e)) => header.set(Some(Err(e))),
        None => header.set(Some(Err("no model given (model=\"jamba\")".into()))),
    }
    view! {
        <section class="widget stack card" aria-label="Layer stack" data-testid="layer-stack">
            {move || match header.get() {
                None => view! { <p class="muted">"reading the model's header…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error" role="alert" data-testid="widget-error">{e}</p> }.into_any(),
                Some(Ok(h)) => {
                    let (t, a) = (h.report.params_total, h.report.params_active);
                    let params = if t == a {
                        format!("{t} parameters")
                    } else {
                        format!("{t} parameters, {a} active per token ({:.0}%)", 100.0 * a as f64 / t as f64)
                    };
                    view! {
                        <h3>{format!("{} · {}", h.spec.arch.name(), h.name)}</h3>
                        <p data-testid="stack-summary">{layer_summary(&h)}</p>
                        <LayerStrip layers=h.layers.clone()/>
                        <p data-testid="stack-params">{params}</p>
                        <StripLegend/>
                    }
                    .into_any()
                }
            }}
        </section>
    }
}

//! The layer-stack strip: one cell per layer, coloured by mixer, marked where the feed-forward is MoE.

use crate::engine::protocol::{LayerCell, MixerKind};
use leptos::prelude::*;

/// CSS class and legend word of a mixer.
pub fn mixer_name(m: MixerKind) -> &'static str {
    match m {
        MixerKind::Attention => "attention",
        MixerKind::Mamba => "mamba",
        MixerKind::Rwkv => "rwkv",
    }
}

/// Shows the model's layers left to right (layer 0 first), so Jamba's one attention layer among Mamba
/// layers and its mixture-of-experts layers are visible at a glance.
#[component]
pub fn LayerStrip(
    /// One cell per layer.
    layers: Vec<LayerCell>,
) -> impl IntoView {
    let n = layers.len();
    let cells = layers
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let kind = mixer_name(c.mixer);
            let title = match c.moe {
                Some((e, k)) => format!("layer {i}: {kind}, MoE feed-forward (top-{k} of {e} experts)"),
                None => format!("layer {i}: {kind}"),
            };
            view! {
                <span class=format!("cell {kind}") class:moe=c.moe.is_some() title=title.clone() aria-label=title>
                    {c.moe.map(|(e, k)| format!("{k}/{e}"))}
                </span>
            }
        })
        .collect_view();
    view! {
        <div class="strip" data-testid="layer-strip" role="img" aria-label=format!("{n} layers")>{cells}</div>
    }
}

/// The key to the strips' colours, shown once above the lanes.
#[component]
pub fn StripLegend() -> impl IntoView {
    view! {
        <p class="strip-legend">
            "Layers, first to last: "
            <span class="cell attention"></span>" attention "
            <span class="cell mamba"></span>" Mamba "
            <span class="cell rwkv"></span>" RWKV; "
            <span class="cell mamba moe">"k/n"</span>" a mixture-of-experts feed-forward that runs k of its n experts per token."
        </p>
    }
}

//! One lane: the model, its layer strip, its text streaming in, live speed and memory, and its picker.

use super::explainer::Explainer;
use super::layer_strip::LayerStrip;
use super::model_picker::ModelPicker;
use crate::chart::fmt_bytes;
use crate::engine::{Command, MemoryFigures, ModelSource};
use crate::race_state::{remove_lane, EngineCtx, LaneModel, LanesCtx};
use leptos::prelude::*;

/// Parameters in millions (or thousands for the tiny ones).
fn fmt_params(n: u64) -> String {
    if n >= 1_000_000 {
        format!("{:.1}M", n as f64 / 1e6)
    } else {
        format!("{:.1}K", n as f64 / 1e3)
    }
}

/// A lane card, in the colour of its chart line (picked by its id).
#[component]
pub fn LaneCard(
    /// The lane's signals.
    lane: LaneModel,
) -> impl IntoView {
    let index = lane.id;
    let LanesCtx(lanes) = expect_context::<LanesCtx>();
    let EngineCtx(engine) = expect_context::<EngineCtx>();
    let arch = move || lane.info.with(|i| i.as_ref().map(|i| i.arch.clone()).unwrap_or_default());
    let remove = move |_| {
        if remove_lane(lanes, lane.id) {
            if let Some(e) = engine.get_untracked() {
                e.send(Command::Remove { lane: lane.id });
            }
        }
    };
    view! {
        <article class=format!("lane lane-{index}") data-testid="lane" data-arch=arch>
            <header class="lane-head">
                <span class="swatch" aria-hidden="true"></span>
                <h3>
                    {move || lane.info.with(|i| match i {
                        Some(i) => format!("{} · {}", i.arch, i.name),
                        None if lane.consent.with(Option::is_some) => "not loaded".to_string(),
                        None => "loading…".to_string(),
                    })}
                </h3>
                <button class="icon" title="Remove this lane" aria-label="Remove this lane" on:click=remove
                    disabled=move || lanes.with(|l| l.len() <= 1)>"×"</button>
            </header>
            <ModelPicker lane/>
            <LaneConsent lane/>
            <LaneProgress lane/>
            {move || lane.error.get().map(|e| view! { <p class="error" role="alert" data-testid="lane-error">{e}</p> })}
            {move || lane.info.get().map(|info| {
                view! {
                    <p class="meta">
                        <span class="backend" data-testid="lane-backend">{info.backend.clone()}</span>
                        " · " {info.layers.len()} " layers · params "
                        <span title="stored in the file">{fmt_params(info.params_total)}</span> " total, "
                        <span title="used per token">{fmt_params(info.params_active)}</span> " active"
                    </p>
                    <LayerStrip layers=info.layers.clone()/>
                    <Explainer arch=info.arch.clone()/>
                }
            })}
            <LaneSpeed lane/>
            <pre class="text" data-testid="lane-text">{move || lane.text.get()}</pre>
            {move || lane.stopped.get().map(|(why, at)| view! {
                <p class="stopped" role="status" data-testid="lane-stopped" data-context=at>"Stopped: " {why}</p>
            })}
            <LaneMemory lane/>
        </article>
    }
}

/// A shared link's model from another site: the host and size, and nothing downloaded until the reader
/// clicks.
#[component]
fn LaneConsent(lane: LaneModel) -> impl IntoView {
    let EngineCtx(engine) = expect_context::<EngineCtx>();
    move || {
        lane.consent.get().map(|c| {
            let size = match c.size {
                Some(bytes) => fmt_bytes(bytes),
                None => "size not given".to_string(),
            };
            let url = c.url.clone();
            let accept = move |_| {
                lane.consent.set(None);
                match engine.get_untracked() {
                    Some(e) => e.send(Command::Load { lane: lane.id, source: ModelSource::Url(url.clone()) }),
                    None => lane.error.set(Some("the engine is not ready yet: wait for the device check".into())),
                }
            };
            view! {
                <div class="consent" role="group" aria-label="Model from another site" data-testid="lane-consent">
                    <p>
                        "This link loads a model from " <strong data-testid="consent-host">{c.host.clone()}</strong>
                        " (" <span data-testid="consent-size">{size}</span> "), another site than this page. "
                        "It downloads only if you choose to."
                    </p>
                    <p class="muted consent-url">{c.url.clone()}</p>
                    <button data-testid="consent-load" on:click=accept>"Load from " {c.host.clone()}</button>
                </div>
            }
        })
    }
}

/// A progress bar for downloads, uploads and context fills.
#[component]
fn LaneProgress(
    /// The lane.
    lane: LaneModel,
) -> impl IntoView {
    let EngineCtx(engine) = expect_context::<EngineCtx>();
    let cancel = move |_| {
        if let Some(e) = engine.get_untracked() {
            e.send(Command::Cancel { lane: lane.id });
        }
    };
    move || {
        lane.progress.get().map(|p| {
            let label = match p.total {
                Some(t) if p.what.starts_with("downloading") => {
                    format!("{}: {} of {}", p.what, fmt_bytes(p.done), fmt_bytes(t))
                }
                Some(t) => format!("{}: {} of {} tokens", p.what, p.done, t),
                None if p.done > 0 => format!("{}: {}", p.what, fmt_bytes(p.done)),
                None => p.what.clone(),
            };
            view! {
                <div class="progress" data-testid="lane-progress">
                    <progress max=p.total.unwrap_or(0).max(1) value=p.done hidden=p.total.is_none()></progress>
                    <span>{label}</span>
                    <button class="cancel" data-testid="lane-cancel" on:click=cancel>"Cancel"</button>
                </div>
            }
        })
    }
}

/// Live tokens/s and ms/token.
#[component]
fn LaneSpeed(
    /// The lane.
    lane: LaneModel,
) -> impl IntoView {
    view! {
        <p class="speed" data-testid="lane-tps">
            {move || match lane.speed.get() {
                Some((ms, ctx)) if ms > 0.0 => view! {
                    <strong>{format!("{:.1}", 1000.0 / ms)}</strong> " tokens/s · "
                    {format!("{ms:.2}")} " ms/token at " {ctx} " tokens"
                }
                .into_any(),
                _ => view! { <span class="muted">"— tokens/s"</span> }.into_any(),
            }}
        </p>
    }
}

/// Memory by category: what the lane allocated (the GPU pool's buffers, or the CPU state's vectors) beside
/// what its context uses as the calculator derives it (a KV cache grows in chunks, so it allocates ahead).
#[component]
fn LaneMemory(
    /// The lane.
    lane: LaneModel,
) -> impl IntoView {
    let row = |name: &'static str, m: u64, a: u64| {
        view! { <tr><th scope="row">{name}</th><td>{fmt_bytes(m)}</td><td>{fmt_bytes(a)}</td></tr> }
    };
    view! {
        <table class="memory" data-testid="lane-memory">
            <thead><tr><th scope="col">"Memory"</th><th scope="col" title="buffers this lane holds">"allocated"</th><th scope="col" title="what the context needs, by the calculator">"used (calc.)"</th></tr></thead>
            <tbody>
                {move || lane.memory.get().map(|(m, a): (MemoryFigures, MemoryFigures)| view! {
                    {row("weights", m.weights, a.weights)}
                    {row("KV cache", m.kv_cache, a.kv_cache)}
                    {row("state", m.state, a.state)}
                    {row("scratch", m.scratch, a.scratch)}
                    <tr class="total"><th scope="row">"total"</th><td>{fmt_bytes(m.total())}</td><td>{fmt_bytes(a.total())}</td></tr>
                })}
            </tbody>
        </table>
        <ScratchBuffers lane/>
    }
}

/// What the GPU scratch holds, by buffer: the parts of this architecture that use it. A part the model
/// lacks keeps a 16-byte placeholder; those are counted, not listed.
#[component]
fn ScratchBuffers(
    /// The lane.
    lane: LaneModel,
) -> impl IntoView {
    move || {
        let buffers = lane.scratch.get();
        (!buffers.is_empty()).then(|| {
            let placeholders = buffers.iter().filter(|(_, b)| *b <= 16).count();
            let items = buffers
                .into_iter()
                .filter(|(_, b)| *b > 16)
                .map(|(label, bytes)| view! { <li><span>{label}</span>": "{fmt_bytes(bytes)}</li> })
                .collect_view();
            view! {
                <details class="scratch" data-testid="lane-scratch">
                    <summary>"What the scratch holds"</summary>
                    <ul>{items}</ul>
                    {(placeholders > 0).then(|| view! {
                        <p class="muted">{format!("and {placeholders} placeholders of 16 B for parts this model does not have")}</p>
                    })}
                </details>
            }
        })
    }
}

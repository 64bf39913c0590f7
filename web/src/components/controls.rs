//! The race controls: prompt, length and sampling; start, stop, reset; lanes; extending the context.

use crate::chart::fmt_tokens;
use crate::engine::{Command, ModelSource};
use crate::models::DEFAULT_RACE;
use crate::race_state::{add_lane, EngineCtx, LaneModel, LaneSource, LanesCtx, RunCtx, SettingsCtx, CONTEXT_STEPS};
use crate::url_state::MAX_LANES;
use leptos::prelude::*;

/// The filler text beside the page (`public/text/`, see its README).
pub const FILLER_URL: &str = "public/text/shakespeare.txt";

/// Starts a race in every loaded lane with the current settings.
pub fn start_race(lanes: &[LaneModel], settings: SettingsCtx, engine: EngineCtx, run: RunCtx) {
    let Some(e) = engine.0.get_untracked() else { return };
    for l in lanes {
        l.clear_run();
    }
    run.next_step.set(0);
    run.running.set(true);
    e.send(Command::Start(settings.0.get_untracked().run));
}

/// A numeric input bound to one field of the settings.
#[component]
fn NumberField(
    /// Label text.
    label: &'static str,
    /// Current value.
    value: Signal<String>,
    /// Writes a typed value back.
    set: Callback<String>,
    /// `min` attribute.
    min: &'static str,
    /// `max` attribute.
    max: &'static str,
    /// `step` attribute.
    step: &'static str,
) -> impl IntoView {
    view! {
        <label class="field">
            <span>{label}</span>
            <input type="number" min=min max=max step=step prop:value=value
                on:change=move |ev| set.run(event_target_value(&ev))/>
        </label>
    }
}

/// The controls panel.
#[component]
pub fn RaceControls() -> impl IntoView {
    let settings = expect_context::<SettingsCtx>();
    let engine = expect_context::<EngineCtx>();
    let run = expect_context::<RunCtx>();
    let LanesCtx(lanes) = expect_context::<LanesCtx>();
    let s = settings.0;
    let field = move |get: fn(&crate::engine::RunSettings) -> String| Signal::derive(move || s.with(|s| get(&s.run)));
    let start = move |_| start_race(&lanes.get_untracked(), settings, engine, run);
    let stop = move |_| {
        if let Some(e) = engine.0.get_untracked() {
            e.send(Command::Stop);
        }
        run.running.set(false);
    };
    let reset = move |_| {
        if let Some(e) = engine.0.get_untracked() {
            e.send(Command::Reset);
        }
        lanes.get_untracked().iter().for_each(LaneModel::clear_run);
        run.next_step.set(0);
        run.running.set(false);
    };
    // The filler text is fetched once (it is a static file beside the models, not in the wasm) and sent
    // to the engine before every extension (a restarted engine needs it again; the same text is kept).
    let filler = StoredValue::new_local(None::<String>);
    let extend = move |_| {
        let i = run.next_step.get_untracked();
        let (Some(e), Some(&context)) = (engine.0.get_untracked(), CONTEXT_STEPS.get(i)) else { return };
        run.next_step.set(i + 1);
        run.running.set(true);
        leptos::task::spawn_local(async move {
            if filler.with_value(Option::is_none) {
                match crate::engine::fetch::fetch_text(&crate::assets::asset_url(FILLER_URL)).await {
                    Ok(text) => filler.set_value(Some(text)),
                    Err(message) => {
                        lanes.get_untracked().iter().for_each(|l| l.error.set(Some(message.clone())));
                        run.running.set(false);
                        return;
                    }
                }
            }
            if let Some(text) = filler.get_value() {
                e.send(Command::Filler { text });
            }
            e.send(Command::Extend { context });
        });
    };
    let add = move |_| {
        let used = lanes.with_untracked(|l| l.len());
        let b = DEFAULT_RACE[used % DEFAULT_RACE.len()];
        let source = ModelSource::Bundled(b.id.into());
        if let Some(lane) = add_lane(lanes, LaneSource::Linked(source.clone())) {
            if let Some(e) = engine.0.get_untracked() {
                e.send(Command::Load { lane: lane.id, source });
            }
        }
    };
    view! {
        <section class="controls card" aria-label="Race controls">
            <label class="prompt">
                <span>"Prompt"</span>
                <textarea rows="2" data-testid="prompt" prop:value=move || s.with(|s| s.run.prompt.clone())
                    on:change=move |ev| s.update(|s| s.run.prompt = event_target_value(&ev))></textarea>
            </label>
            <div class="fields">
                <NumberField label="New tokens" min="1" max="4096" step="1" value=field(|r| r.max_new_tokens.to_string())
                    set=Callback::new(move |v: String| if let Ok(v) = v.parse::<usize>() { s.update(|s| s.run.max_new_tokens = v.clamp(1, 4096)) })/>
                <NumberField label="Temperature" min="0" max="5" step="0.1" value=field(|r| r.temperature.to_string())
                    set=Callback::new(move |v: String| if let Ok(v) = v.parse::<f32>() { s.update(|s| s.run.temperature = v.clamp(0.0, 5.0)) })/>
                <NumberField label="Top-k" min="1" max="64" step="1" value=field(|r| r.top_k.to_string())
                    set=Callback::new(move |v: String| if let Ok(v) = v.parse::<usize>() { s.update(|s| s.run.top_k = v.clamp(1, 64)) })/>
                <NumberField label="Top-p" min="0.01" max="1" step="0.01" value=field(|r| r.top_p.to_string())
                    set=Callback::new(move |v: String| if let Ok(v) = v.parse::<f32>() { s.update(|s| s.run.top_p = v.clamp(0.01, 1.0)) })/>
                <NumberField label="Seed" min="0" max="4294967295" step="1" value=field(|r| r.seed.to_string())
                    set=Callback::new(move |v: String| if let Ok(v) = v.parse::<u64>() { s.update(|s| s.run.seed = v) })/>
                <NumberField label="KV budget, KiB/lane" min="0" max="1073741824" step="64"
                    value=field(|r| r.kv_budget.map(|b| (b / 1024).to_string()).unwrap_or_default())
                    set=Callback::new(move |v: String| {
                        let kib = v.trim().parse::<u64>().unwrap_or(0);
                        s.update(|s| s.run.kv_budget = (kib > 0).then_some(kib * 1024));
                    })/>
                <label class="field">
                    <span>"KV cache (GPU)"</span>
                    <select data-testid="kv-type"
                        prop:value=move || if s.with(|s| s.run.kv_f16) { "f16" } else { "f32" }
                        on:change=move |ev| { let f16 = event_target_value(&ev) != "f32"; s.update(|s| s.run.kv_f16 = f16) }>
                        <option value="f16">"f16"</option>
                        <option value="f32">"f32"</option>
                    </select>
                </label>
            </div>
            <div class="buttons">
                <button class="primary" data-testid="start" on:click=start disabled=move || engine.0.with(Option::is_none)>"Start"</button>
                <button data-testid="stop" on:click=stop disabled=move || !run.running.get()>"Stop"</button>
                <button data-testid="reset" on:click=reset>"Reset"</button>
                <button data-testid="extend-context" on:click=extend
                    disabled=move || { engine.0.with(Option::is_none) || run.next_step.get() >= CONTEXT_STEPS.len() }>
                    {move || match CONTEXT_STEPS.get(run.next_step.get()) {
                        Some(&c) => format!("Extend context to {}", fmt_tokens(c as f64)),
                        None => "Context at its largest step".to_string(),
                    }}
                </button>
                <button data-testid="add-lane" on:click=add disabled=move || { lanes.with(|l| l.len() >= MAX_LANES) }>"Add lane"</button>
            </div>
            <p class="hint">
                "Extending fills every lane's context from Shakespeare (public domain), then times "
                {crate::engine::lane::MEASURE_STEPS} " decode steps for a point on each chart. Lanes take turns, one step each, so the race measures the models, not the scheduling. "
                "A KV budget (empty: the device's limit) plays a smaller GPU: attention lanes hit its wall, recurrent ones never do. It applies from the next Start."
            </p>
        </section>
    }
}

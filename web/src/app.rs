//! The page: the race (controls, lanes, charts), the visitor's GPU, and a kernel checked against the CPU.

use crate::components::{start_race, DevicePanel, KernelCheck, LaneCard, RaceCharts, RaceControls, StripLegend};
use crate::engine::{self, Command};
use crate::probe::{probe, self_test};
use crate::race_state::{apply_event, linked_sources, EngineCtx, LaneModel, LaneSource, LanesCtx, RunCtx, SettingsCtx};
use crate::state::{CheckCtx, CheckState, DeviceCtx, DeviceState};
use crate::url_state::RaceSettings;
use leptos::prelude::*;
use std::rc::Rc;

/// The page's query string (`?…`), empty outside a browser.
fn location_search() -> String {
    web_sys::window().and_then(|w| w.location().search().ok()).unwrap_or_default()
}

/// Replaces the URL's query without a reload or a history entry.
fn write_query(query: &str) {
    if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&format!("?{query}")));
    }
}

/// The whole playground. Reads the settings from the URL, probes the GPU, starts the engine on it (or on
/// the CPU), loads every lane, and starts the race as soon as all lanes have loaded.
#[component]
pub fn App() -> impl IntoView {
    let device = RwSignal::new(DeviceState::Probing);
    let check = RwSignal::new(CheckState::Waiting);
    let settings = RwSignal::new(RaceSettings::from_query(&location_search()));
    let lanes = RwSignal::new(
        settings
            .get_untracked()
            .lanes
            .into_iter()
            .enumerate()
            .map(|(i, s)| LaneModel::new(i as u32, LaneSource::Linked(s)))
            .collect::<Vec<_>>(),
    );
    let engine = RwSignal::new(None);
    let run = RunCtx { running: RwSignal::new(false), next_step: RwSignal::new(0) };
    provide_context(DeviceCtx(device));
    provide_context(CheckCtx(check));
    provide_context(SettingsCtx(settings));
    provide_context(LanesCtx(lanes));
    provide_context(EngineCtx(engine));
    provide_context(run);

    leptos::task::spawn_local(async move {
        let gpu = probe(device).await.map(Rc::new);
        self_test(gpu.as_deref(), check).await;
        let handle = engine::spawn(gpu, move |event| apply_event(lanes, run, event));
        for lane in lanes.get_untracked() {
            if let LaneSource::Linked(source) = lane.source.get_untracked() {
                handle.send(Command::Load { lane: lane.id, source });
            }
        }
        engine.set(Some(handle));
    });

    // The default race starts by itself once every lane has loaded (or failed to).
    let auto_start = StoredValue::new(true);
    Effect::new(move |_| {
        let all = lanes.get();
        let ready = engine.with(Option::is_some) && !all.is_empty() && all.iter().all(LaneModel::settled);
        if ready && auto_start.get_value() {
            auto_start.set_value(false);
            start_race(&all, SettingsCtx(settings), EngineCtx(engine), run);
        }
    });

    // The URL follows the settings and the lanes' models.
    Effect::new(move |_| {
        let all = lanes.get();
        all.iter().for_each(|l| l.source.track());
        let sources = linked_sources(&all);
        let mut s = settings.get();
        if !sources.is_empty() {
            s.lanes = sources;
        }
        write_query(&s.to_query());
    });

    view! {
        <main>
            <header class="intro">
                <h1>"archrace"</h1>
                <p>
                    "Transformer, Mamba, RWKV and Jamba language models racing side by side on your own GPU, "
                    "with WGSL kernels running quantized GGUF weights. Attention's KV cache grows with every "
                    "token; Mamba's and RWKV's state stays flat. Extend the context and watch the charts."
                </p>
            </header>
            <RaceControls/>
            <StripLegend/>
            <section class="lanes" aria-label="Lanes">
                <For each=move || lanes.get() key=|l| l.id let:lane>
                    <LaneCard lane/>
                </For>
            </section>
            <RaceCharts/>
            <div class="diagnostics">
                <DevicePanel/>
                <KernelCheck/>
            </div>
        </main>
    }
}

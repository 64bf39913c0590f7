//! The page: the race (controls, lanes, charts), the visitor's GPU, and a kernel checked against the CPU.

use crate::components::{
    start_race, CachePanel, DevicePanel, EmbedPanel, KernelCheck, LaneCard, RaceCharts, RaceControls, StripLegend,
};
use crate::engine::fetch::{foreign_host, remote_size};
use crate::engine::{self, Command, ModelSource};
use crate::probe::{probe, self_test};
use crate::race_state::{
    apply_event, linked_sources, Consent, EngineCtx, LaneModel, LaneSource, LanesCtx, RunCtx, SettingsCtx,
};
use crate::state::{CheckCtx, CheckState, DeviceCtx, DeviceState};
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

/// Probes the GPU (a new device each time), runs the kernel self-test, starts an engine on it and loads
/// every lane: bundled and same-site models at once, another site's only after the reader's consent, a
/// file from disk only when picked again (its bytes are not kept).
async fn start_engine(
    first: bool,
    budget: Option<u64>,
    device: RwSignal<DeviceState>,
    check: RwSignal<CheckState>,
    lanes: RwSignal<Vec<LaneModel>>,
    run: RunCtx,
    engine: RwSignal<Option<engine::EngineHandle>>,
) {
    let gpu = probe(device).await.map(|mut ctx| {
        ctx.memory_budget = budget;
        Rc::new(ctx)
    });
    self_test(gpu.as_deref(), check).await;
    let handle = engine::spawn(gpu, move |event| apply_event(lanes, run, event));
    for lane in lanes.get_untracked() {
        match lane.source.get_untracked() {
            // Still waiting for the reader.
            _ if lane.consent.with_untracked(Option::is_some) => {}
            // A shared link's model on another site waits for the reader (host and size first). After a
            // restart, a model the reader already let in loads again.
            LaneSource::Linked(ModelSource::Url(url)) if first => match foreign_host(&url) {
                Some(host) => ask_consent(lane, url, host),
                None => handle.send(Command::Load { lane: lane.id, source: ModelSource::Url(url) }),
            },
            LaneSource::Linked(source) => handle.send(Command::Load { lane: lane.id, source }),
            LaneSource::File(name) => lane.error.set(Some(format!("{name} came from this computer: pick it again"))),
        }
    }
    engine.set(Some(handle));
}

/// Shows the lane's consent question, and asks the server for the size meanwhile.
fn ask_consent(lane: LaneModel, url: String, host: String) {
    lane.consent.set(Some(Consent { url: url.clone(), host, size: None }));
    leptos::task::spawn_local(async move {
        let size = remote_size(&url).await;
        lane.consent.update(|c| {
            if let Some(c) = c.as_mut().filter(|c| c.url == url) {
                c.size = size;
            }
        });
    });
}

/// The whole playground. Reads the settings from the URL, probes the GPU, starts the engine on it (or on
/// the CPU), loads every lane, and starts the race as soon as all lanes have loaded.
#[component]
pub fn App() -> impl IntoView {
    let device = RwSignal::new(DeviceState::Probing);
    let check = RwSignal::new(CheckState::Waiting);
    let settings = RwSignal::new(crate::url_state::race_from_query(&location_search()));
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
    let run = RunCtx { running: RwSignal::new(false), next_step: RwSignal::new(0), device_lost: RwSignal::new(None) };
    provide_context(DeviceCtx(device));
    provide_context(CheckCtx(check));
    provide_context(SettingsCtx(settings));
    provide_context(LanesCtx(lanes));
    provide_context(EngineCtx(engine));
    provide_context(run);

    // The race starts by itself once every lane has loaded (or failed, or waits for the reader): on the
    // first visit, and again after a restart on a new device.
    let auto_start = StoredValue::new(true);
    let start = move |first: bool| {
        let budget = settings.get_untracked().gpu_budget;
        leptos::task::spawn_local(start_engine(first, budget, device, check, lanes, run, engine));
    };
    start(true);
    let restart = move || {
        run.device_lost.set(None);
        if let Some(old) = engine.get_untracked() {
            old.shutdown();
        }
        engine.set(None);
        auto_start.set_value(true);
        for lane in lanes.get_untracked() {
            lane.info.set(None);
            lane.error.set(None);
            lane.memory.set(None);
            lane.clear_run();
        }
        start(false);
    };

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
                    "token; Mamba's and RWKV's state stays flat. Extend the context and watch the charts. "
                    <a href="showcase.html" data-testid="to-showcase">"The showcase"</a>
                    " explains what they trade, with these pieces embedded as widgets."
                </p>
            </header>
            {move || run.device_lost.get().map(|why| view! {
                <div class="device-lost" role="alert" data-testid="device-lost">
                    <p>"Every lane stopped: " {why}</p>
                    <button data-testid="restart-device" on:click=move |_| restart()>"Restart on a new device"</button>
                </div>
            })}
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
                <CachePanel/>
                <EmbedPanel/>
            </div>
        </main>
    }
}

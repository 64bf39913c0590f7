//! `<archrace-race models="llama,mamba" context="256,4096" prompt="..." tokens="64">`: a compact race with
//! a Run button. Nothing is downloaded before the click. The lanes run on the page's one device
//! ([`super::shared`]); two races on one page take turns, so each one's figures are its own.

use super::shared::{forget_device, shared_device, take_turn};
use super::{models_and_errors, parse_counts, WidgetOptions};
use crate::chart::{fmt_bytes, fmt_tokens};
use crate::components::{LayerStrip, RaceCharts};
use crate::engine::clock::sleep_ms;
use crate::engine::{self, Command, EngineHandle, ModelSource, RunSettings};
use crate::race_state::{apply_event, EngineCtx, LaneModel, LaneSource, LanesCtx, RunCtx, SettingsCtx};
use crate::url_state::RaceSettings;
use leptos::prelude::*;

/// Where a widget's race is.
#[derive(Clone, Debug, PartialEq)]
pub enum RaceStatus {
    /// Not started (nothing downloaded yet).
    Idle,
    /// Another race on the page holds the device.
    Waiting,
    /// Opening the device, downloading and uploading the models.
    Loading,
    /// Generating, or filling the context to the given step.
    Running(String),
    /// Finished.
    Done,
    /// Stopped by the reader.
    Stopped,
    /// Could not run (no WebGPU, a lost device, no model loaded).
    Failed(String),
}

impl RaceStatus {
    /// The `data-state` the widget shows (what tests and host pages read).
    pub fn key(&self) -> &'static str {
        match self {
            RaceStatus::Idle => "idle",
            RaceStatus::Waiting => "waiting",
            RaceStatus::Loading => "loading",
            RaceStatus::Running(_) => "running",
            RaceStatus::Done => "done",
            RaceStatus::Stopped => "stopped",
            RaceStatus::Failed(_) => "failed",
        }
    }
}

/// A race's signals and engine, owned by one widget.
#[derive(Clone, Copy)]
pub struct RaceRig {
    /// The lanes.
    pub lanes: RwSignal<Vec<LaneModel>>,
    /// The engine, once the first run opened the device.
    pub engine: RwSignal<Option<EngineHandle>>,
    /// Running / device-lost flags, as the playground's.
    pub run: RunCtx,
    /// Prompt and sampling.
    pub settings: RwSignal<RaceSettings>,
    /// Where the race is.
    pub status: RwSignal<RaceStatus>,
    /// The reader asked to stop: the run ends after the lanes' current slices.
    pub stop_asked: RwSignal<bool>,
}

/// Polls `done` every 50 ms until it holds.
async fn until(done: impl Fn() -> bool) {
    while !done() {
        sleep_ms(50).await;
    }
}

impl RaceRig {
    /// A rig with one lane per source (call inside a component: the signals belong to it).
    pub fn new(sources: Vec<ModelSource>, run: RunSettings) -> Self {
        let lanes =
            sources.iter().enumerate().map(|(i, s)| LaneModel::new(i as u32, LaneSource::Linked(s.clone()))).collect();
        Self {
            lanes: RwSignal::new(lanes),
            engine: RwSignal::new(None),
            run: RunCtx {
                running: RwSignal::new(false),
                next_step: RwSignal::new(0),
                device_lost: RwSignal::new(None),
            },
            settings: RwSignal::new(RaceSettings { lanes: sources, run, gpu_budget: None }),
            status: RwSignal::new(RaceStatus::Idle),
            stop_asked: RwSignal::new(false),
        }
    }

    /// Makes the rig's signals the context of the components below (lanes, charts).
    pub fn provide(&self) {
        provide_context(LanesCtx(self.lanes));
        provide_context(EngineCtx(self.engine));
        provide_context(SettingsCtx(self.settings));
        provide_context(self.run);
    }

    /// Whether every lane stopped working: the run ended, or every lane failed or hit its wall.
    fn settled(&self) -> bool {
        !self.run.running.get_untracked()
            || self
                .lanes
                .get_untracked()
                .iter()
                .all(|l| l.error.with_untracked(Option::is_some) || l.stopped.with_untracked(Option::is_some))
    }

    /// Waits for the device, loads the models (the first time), generates, then extends the context to
    /// each of `contexts` in turn, holding the page's device throughout.
    pub async fn run(self, contexts: Vec<u64>) {
        self.stop_asked.set(false);
        self.status.set(RaceStatus::Waiting);
        let _turn = take_turn().await;
        self.status.set(RaceStatus::Loading);
        let gpu = match shared_device().await {
            Ok(gpu) => gpu,
            Err(why) => return self.status.set(RaceStatus::Failed(format!("No WebGPU here, so no race: {why}"))),
        };
        let lanes = self.lanes;
        if self.engine.with_untracked(Option::is_none) {
            let run = self.run;
            let handle = engine::spawn(Some(gpu), move |event| apply_event(lanes, run, event));
            for (lane, source) in lanes.get_untracked().iter().zip(self.settings.get_untracked().lanes) {
                handle.send(Command::Load { lane: lane.id, source });
            }
            self.engine.set(Some(handle));
        }
        until(|| lanes.get_untracked().iter().all(LaneModel::settled)).await;
        if !lanes.get_untracked().iter().any(|l| l.info.with_untracked(Option::is_some)) {
            return self.status.set(RaceStatus::Failed("no model loaded (see the lanes)".into()));
        }
        let Some(engine) = self.engine.get_untracked() else { return };
        lanes.get_untracked().iter().for_each(LaneModel::clear_run);
        self.status.set(RaceStatus::Running("generating".into()));
        self.run.running.set(true);
        engine.send(Command::Start(self.settings.get_untracked().run));
        until(|| self.settled()).await;
        if !contexts.is_empty() {
            match crate::engine::fetch::fetch_text(&crate::assets::asset_url(crate::components::FILLER_URL)).await {
                Ok(text) => engine.send(Command::Filler { text }),
                Err(e) => return self.status.set(RaceStatus::Failed(e)),
            }
        }
        for context in contexts {
            if self.run.device_lost.with_untracked(Option::is_some) || self.stop_asked.get_untracked() {
                break;
            }
            self.status.set(RaceStatus::Running(format!("filling the context to {}", fmt_tokens(context as f64))));
            self.run.running.set(true);
            engine.send(Command::Extend { context: context as usize });
            until(|| self.settled()).await;
        }
        if let Some(why) = self.run.device_lost.get_untracked() {
            // The next run opens a new device.
            forget_device();
            engine.shutdown();
            self.engine.set(None);
            self.run.device_lost.set(None);
            return self
                .status
                .set(RaceStatus::Failed(format!("the GPU device was lost: {why}. Run again for a new one.")));
        }
        self.status.set(if self.stop_asked.get_untracked() { RaceStatus::Stopped } else { RaceStatus::Done });
    }

    /// Stops the race after the lanes' current slices (the models stay loaded; Run starts again).
    pub fn stop(&self) {
        self.stop_asked.set(true);
        if let Some(engine) = self.engine.get_untracked() {
            engine.send(Command::Stop);
        }
    }
}

/// One lane, compact: model, layers, text, speed and memory.
#[component]
fn WidgetLane(
    /// The lane's signals.
    lane: LaneModel,
    /// What the lane loads (shown until it has).
    source: String,
) -> impl IntoView {
    view! {
        <article class=format!("lane lane-{}", lane.id) data-testid="lane">
            <header class="lane-head">
                <span class="swatch" aria-hidden="true"></span>
                <h4>{move || lane.info.with(|i| i.as_ref().map(|i| format!("{} · {}", i.arch, i.name)).unwrap_or_else(|| source.clone()))}</h4>
            </header>
            {move || lane.info.get().map(|i| view! { <LayerStrip layers=i.layers/> })}
            {move || lane.progress.get().map(|p| view! { <p class="muted">{p.what}</p> })}
            {move || lane.error.get().map(|e| view! { <p class="error" role="alert" data-testid="lane-error">{e}</p> })}
            <p class="text" data-testid="lane-text">{move || lane.text.get()}</p>
            <p class="meta">
                <span data-testid="lane-speed">{move || lane.speed.get().map(|(ms, at)| format!("{:.0} tokens/s at {} tokens", 1000.0 / ms, fmt_tokens(at as f64)))}</span>
                {move || lane.memory.get().map(|(m, _)| format!(" · {} held", fmt_bytes(m.total())))}
                {move || lane.stopped.get().map(|(why, at)| format!(" · stopped at {}: {why}", fmt_tokens(at as f64)))}
            </p>
        </article>
    }
}

/// The race widget.
#[component]
pub fn RaceWidget(
    /// `models`, `context`, `prompt`, `tokens`.
    options: WidgetOptions,
) -> impl IntoView {
    let (sources, errors) = models_and_errors(options.models.as_deref().unwrap_or("llama,mamba"));
    let mut contexts =
        parse_counts(options.context.as_deref().unwrap_or("256,1024"), archrace_model::race::MAX_CONTEXT as u64);
    // A context only grows: the steps in order, each once.
    contexts.sort_unstable();
    contexts.dedup();
    let mut run = crate::url_state::default_race().run;
    if let Some(p) = options.prompt.filter(|p| !p.trim().is_empty()) {
        run.prompt = p;
    }
    if let Some(n) = options.tokens.and_then(|t| t.trim().parse::<usize>().ok()) {
        run.max_new_tokens = n.clamp(1, 4096);
    }
    let rig = RaceRig::new(sources.clone(), run);
    rig.provide();
    let playground = crate::assets::asset_url(&format!("index.html?{}", rig.settings.get_untracked().to_query()));
    let status = rig.status;
    let busy = move || matches!(status.get(), RaceStatus::Waiting | RaceStatus::Loading | RaceStatus::Running(_));
    let contexts_label = contexts.iter().map(|&c| fmt_tokens(c as f64)).collect::<Vec<_>>().join(", ");
    let start = move |_| {
        let contexts = contexts.clone();
        leptos::task::spawn_local(rig.run(contexts));
    };
    let lanes = rig.lanes.get_untracked().into_iter().zip(sources.iter().map(|s| match s {
        ModelSource::Bundled(id) => id.clone(),
        ModelSource::Url(u) => u.rsplit('/').next().unwrap_or(u).to_string(),
    }));
    view! {
        <section class="widget race card" aria-label="Architecture race" data-testid="race-widget" data-state=move || status.get().key()>
            <div class="widget-bar">
                <button class="primary" data-testid="run" on:click=start disabled=busy>
                    {move || if status.get() == RaceStatus::Idle { "Run the race" } else { "Run again" }}
                </button>
                <span class="status" role="status" data-testid="race-status">{move || match status.get() {
                    RaceStatus::Idle => format!("Generates {} tokens per lane, then fills the context to {contexts_label}.", rig.settings.get_untracked().run.max_new_tokens),
                    RaceStatus::Waiting => "Waiting for the other race on this page to finish…".into(),
                    RaceStatus::Loading => "Loading the models onto your GPU…".into(),
                    RaceStatus::Running(what) => format!("Racing: {what}…"),
                    RaceStatus::Done => "Done.".into(),
                    RaceStatus::Stopped => "Stopped.".into(),
                    RaceStatus::Failed(why) => why,
                }}</span>
                <button data-testid="stop" on:click=move |_| rig.stop()
                    disabled=move || !matches!(status.get(), RaceStatus::Running(_))>"Stop"</button>
                <a href=playground target="_blank" rel="noopener" data-testid="open-playground">"Open in playground"</a>
            </div>
            {errors.into_iter().map(|e| view! { <p class="error" role="alert" data-testid="widget-error">{e}</p> }).collect_view()}
            <div class="lanes">
                {lanes.map(|(lane, source)| view! { <WidgetLane lane source/> }).collect_view()}
            </div>
            <RaceCharts/>
        </section>
    }
}

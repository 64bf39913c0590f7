//! The race's state on the page: one [`LaneModel`] of signals per lane, the settings, the engine handle,
//! and how engine events land in them.

use crate::engine::{EngineHandle, Event, LaneId, LaneInfo, MemoryFigures, ModelSource, Point};
use crate::url_state::{RaceSettings, MAX_LANES};
use leptos::prelude::*;

/// Context lengths the "extend context" control steps through.
pub use archrace_model::race::CONTEXT_STEPS;

/// Progress of long work on a lane.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// What is happening.
    pub what: String,
    /// Done so far.
    pub done: u64,
    /// Out of.
    pub total: Option<u64>,
}

/// One lane's signals (all `Copy` handles, so the struct is too).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LaneModel {
    /// Identity (the key of the keyed list and the engine's lane id).
    pub id: LaneId,
    /// Where the model comes from (a picked file shows as its name).
    pub source: RwSignal<LaneSource>,
    /// The loaded model.
    pub info: RwSignal<Option<LaneInfo>>,
    /// Generated text so far.
    pub text: RwSignal<String>,
    /// Live ms/token and the context it was measured at.
    pub speed: RwSignal<Option<(f64, usize)>>,
    /// Measured and calculated memory.
    pub memory: RwSignal<Option<(MemoryFigures, MemoryFigures)>>,
    /// The GPU scratch by buffer (label, bytes), largest first.
    pub scratch: RwSignal<Vec<(String, u64)>>,
    /// Chart points, in the order measured.
    pub points: RwSignal<Vec<Point>>,
    /// Why the lane stopped at a limit, and where.
    pub stopped: RwSignal<Option<(String, usize)>>,
    /// What failed.
    pub error: RwSignal<Option<String>>,
    /// Work in progress.
    pub progress: RwSignal<Option<Progress>>,
    /// A shared link's model from another site, waiting for the reader's click.
    pub consent: RwSignal<Option<Consent>>,
}

/// A model from another site that a shared link asks to load: nothing is downloaded until the reader
/// agrees, having seen the host and the size.
#[derive(Clone, Debug, PartialEq)]
pub struct Consent {
    /// The model's URL.
    pub url: String,
    /// Its host, as the reader should judge it.
    pub host: String,
    /// Its size from a HEAD request's Content-Length, once known (`None` while asking or when the server
    /// does not say).
    pub size: Option<u64>,
}

/// A lane's model source as the page knows it.
#[derive(Clone, Debug, PartialEq)]
pub enum LaneSource {
    /// Linkable: bundled or URL.
    Linked(ModelSource),
    /// A file from the visitor's disk (not linkable).
    File(String),
}

impl LaneModel {
    /// A fresh lane.
    pub fn new(id: LaneId, source: LaneSource) -> Self {
        Self {
            id,
            source: RwSignal::new(source),
            info: RwSignal::new(None),
            text: RwSignal::new(String::new()),
            speed: RwSignal::new(None),
            memory: RwSignal::new(None),
            scratch: RwSignal::new(Vec::new()),
            points: RwSignal::new(Vec::new()),
            stopped: RwSignal::new(None),
            error: RwSignal::new(None),
            progress: RwSignal::new(None),
            consent: RwSignal::new(None),
        }
    }

    /// Clears what a run produced (the model stays).
    pub fn clear_run(&self) {
        self.text.set(String::new());
        self.speed.set(None);
        self.points.set(Vec::new());
        self.stopped.set(None);
    }

    /// Whether the lane has settled after loading: ready, failed, or waiting for the reader's consent.
    pub fn settled(&self) -> bool {
        self.info.with(Option::is_some) || self.error.with(Option::is_some) || self.consent.with(Option::is_some)
    }
}

/// The page's lanes, in display order.
#[derive(Clone, Copy)]
pub struct LanesCtx(pub RwSignal<Vec<LaneModel>>);

/// The settings (mirrored into the URL).
#[derive(Clone, Copy)]
pub struct SettingsCtx(pub RwSignal<RaceSettings>);

/// The engine, once the device probe has decided GPU or CPU.
#[derive(Clone, Copy)]
pub struct EngineCtx(pub RwSignal<Option<EngineHandle>>);

/// Whether lanes are working, and the next context step's index.
#[derive(Clone, Copy)]
pub struct RunCtx {
    /// Some lane is busy.
    pub running: RwSignal<bool>,
    /// Index into [`CONTEXT_STEPS`] of the next extension.
    pub next_step: RwSignal<usize>,
    /// Why the GPU device went away, while the page offers a new one.
    pub device_lost: RwSignal<Option<String>>,
}

/// Adds a lane (up to [`MAX_LANES`]) and returns it; `None` when full.
pub fn add_lane(lanes: RwSignal<Vec<LaneModel>>, source: LaneSource) -> Option<LaneModel> {
    if lanes.with_untracked(|l| l.len()) >= MAX_LANES {
        return None;
    }
    // The smallest free id: it is also the lane's colour, so lanes never share one.
    let id = lanes.with_untracked(|l| (0..).find(|id| l.iter().all(|m| m.id != *id)).unwrap_or(0));
    let lane = LaneModel::new(id, source);
    lanes.update(|l| l.push(lane));
    Some(lane)
}

/// Removes a lane; the last one stays (a race needs a lane).
pub fn remove_lane(lanes: RwSignal<Vec<LaneModel>>, id: LaneId) -> bool {
    let mut removed = false;
    lanes.update(|l| {
        if l.len() > 1 {
            let before = l.len();
            l.retain(|m| m.id != id);
            removed = l.len() < before;
        }
    });
    removed
}

/// The linkable sources of the lanes, for the URL.
pub fn linked_sources(lanes: &[LaneModel]) -> Vec<ModelSource> {
    lanes
        .iter()
        .filter_map(|l| match l.source.get_untracked() {
            LaneSource::Linked(s) => Some(s),
            LaneSource::File(_) => None,
        })
        .collect()
}

/// Writes an engine event into the lanes' signals.
pub fn apply_event(lanes: RwSignal<Vec<LaneModel>>, run: RunCtx, event: Event) {
    let find = |id: LaneId| lanes.with_untracked(|l| l.iter().find(|m| m.id == id).copied());
    match event {
        Event::Progress { lane, what, done, total } => {
            if let Some(l) = find(lane) {
                let finished = total.is_some_and(|t| done >= t) && what.starts_with("filling");
                l.progress.set(if finished { None } else { Some(Progress { what, done, total }) });
            }
        }
        Event::Ready { lane, info } => {
            if let Some(l) = find(lane) {
                l.info.set(Some(info));
                l.error.set(None);
                l.progress.set(None);
                l.clear_run();
            }
        }
        Event::Text { lane, text } => {
            if let Some(l) = find(lane) {
                l.text.update(|t| t.push_str(&text));
            }
        }
        Event::Speed { lane, ms_per_token, context } => {
            if let Some(l) = find(lane) {
                l.speed.set(Some((ms_per_token, context)));
            }
        }
        Event::Memory { lane, measured, analytic, scratch } => {
            if let Some(l) = find(lane) {
                l.memory.set(Some((measured, analytic)));
                l.scratch.set(scratch);
            }
        }
        Event::Point { lane, point } => {
            if let Some(l) = find(lane) {
                l.points.update(|p| p.push(point));
            }
        }
        Event::Stopped { lane, reason, context } => {
            if let Some(l) = find(lane) {
                l.stopped.set(Some((reason, context)));
                l.progress.set(None);
            }
        }
        Event::Error { lane, message } => {
            if let Some(l) = find(lane) {
                l.error.set(Some(message));
                l.progress.set(None);
            }
        }
        Event::Cancelled { lane } => {
            if let Some(l) = find(lane) {
                l.progress.set(None);
            }
        }
        Event::Idle => run.running.set(false),
        Event::DeviceLost { message } => {
            run.running.set(false);
            run.device_lost.set(Some(message));
        }
    }
}

//! The race engine: lanes, one shared GPU device, and a scheduler that gives every lane one turn per
//! round. The page talks to it only through [`Command`] and [`Event`] (see `protocol`), so it can move
//! into a web worker without the page changing.
//!
//! Fairness: each round, every busy lane does one slice (one timed decode step, or up to
//! [`lane::GPU_FILL_BATCH`] prefilled tokens, [`lane::CPU_FILL_BATCH`] on the CPU, ending in a read-back),
//! in lane order, and the engine yields to the browser's event loop between rounds. A lane's step is timed from its submit to its token being on the
//! host, and no other lane's work is queued on the GPU during it, so each lane's ms/token is its own.

pub mod clock;
pub mod fetch;
pub mod lane;
pub mod protocol;

use crate::models;
use archrace_gpu::GpuContext;
use clock::sleep_ms;
use futures::channel::mpsc::{unbounded, TryRecvError, UnboundedReceiver, UnboundedSender};
use futures::StreamExt;
use lane::{Halt, Lane};
pub use protocol::{Command, Event, LaneId, LaneInfo, MemoryFigures, ModelSource, Point, RunSettings};
use std::rc::Rc;

/// Messages into the engine's loop: the page's commands, and downloads finishing.
enum Msg {
    Command(Command),
    /// The page has a new engine (after a lost device): this one ends.
    Shutdown,
    Fetched {
        lane: LaneId,
        ticket: u64,
        name: String,
        result: Result<Vec<u8>, String>,
    },
}

/// The page's end of the engine.
#[derive(Clone)]
pub struct EngineHandle {
    tx: UnboundedSender<Msg>,
}

impl EngineHandle {
    /// Sends a command; events come back through the callback given to [`spawn`].
    pub fn send(&self, command: Command) {
        let _ = self.tx.unbounded_send(Msg::Command(command));
    }

    /// Ends the engine: its downloads are aborted and its lanes dropped (with their GPU buffers).
    pub fn shutdown(&self) {
        let _ = self.tx.unbounded_send(Msg::Shutdown);
    }
}

/// Starts the engine on this thread's event loop. `gpu` is the one device all lanes share (`None`: every
/// lane runs on the CPU).
pub fn spawn(gpu: Option<Rc<GpuContext>>, emit: impl Fn(Event) + 'static) -> EngineHandle {
    let (tx, rx) = unbounded();
    let engine = Engine {
        gpu,
        emit: Rc::new(emit),
        lanes: Vec::new(),
        downloads: Vec::new(),
        tx: tx.clone(),
        next_ticket: 0,
        filler: None,
        owe_idle: false,
    };
    wasm_bindgen_futures::spawn_local(engine.run(rx));
    EngineHandle { tx }
}

/// A download in flight.
struct Download {
    lane: LaneId,
    ticket: u64,
    abort: web_sys::AbortController,
}

struct Engine {
    gpu: Option<Rc<GpuContext>>,
    emit: Rc<dyn Fn(Event)>,
    /// Loaded lanes, in the page's order of loading.
    lanes: Vec<Lane>,
    /// The download each lane waits for, and how to abort it (a newer load makes an older download's
    /// result stale).
    downloads: Vec<Download>,
    tx: UnboundedSender<Msg>,
    next_ticket: u64,
    /// The text contexts are filled from, once the page has sent it.
    filler: Option<std::sync::Arc<str>>,
    /// A Start or Extend came in: the page waits for `Idle` even when no lane had work to do (every lane
    /// already past the context, stopped at its wall, or not loaded).
    owe_idle: bool,
}

impl Engine {
    async fn run(mut self, mut rx: UnboundedReceiver<Msg>) {
        let mut was_busy = false;
        loop {
            let busy = self.lanes.iter().any(Lane::busy);
            if busy {
                self.owe_idle = false;
            } else if was_busy || std::mem::take(&mut self.owe_idle) {
                (self.emit)(Event::Idle);
            }
            was_busy = busy;
            let msg = if busy {
                match rx.try_recv() {
                    Ok(m) => Some(m),
                    Err(TryRecvError::Closed) => return,
                    Err(TryRecvError::Empty) => None,
                }
            } else {
                match rx.next().await {
                    Some(m) => Some(m),
                    None => return,
                }
            };
            match msg {
                Some(Msg::Shutdown) => {
                    for d in self.downloads.drain(..) {
                        d.abort.abort();
                    }
                    return;
                }
                Some(m) => self.handle(m).await,
                None => {
                    self.round().await;
                    sleep_ms(0).await;
                }
            }
        }
    }

    /// One slice for every busy lane.
    async fn round(&mut self) {
        let gpu = self.gpu.clone();
        let emit = self.emit.clone();
        let mut lost = None;
        for lane in self.lanes.iter_mut().filter(|l| l.busy()) {
            let mut halt = lane.slice(gpu.as_deref(), &*emit).await.err();
            if let (Some(Halt::Failed(_)), Some(ctx)) = (&halt, &gpu) {
                // A read-back can fail before the browser reports the device lost: give it a moment.
                sleep_ms(20).await;
                if let Err(e) = ctx.check_lost() {
                    halt = Some(Halt::DeviceLost(e.to_string()));
                }
            }
            match halt {
                None => {}
                Some(Halt::Limit(reason)) => {
                    lane.halt();
                    emit(Event::Stopped { lane: lane.id, reason, context: lane.pos() });
                }
                Some(Halt::Failed(message)) => {
                    lane.halt();
                    emit(Event::Error { lane: lane.id, message });
                }
                Some(Halt::DeviceLost(message)) => {
                    lost = Some(message);
                    break;
                }
            }
        }
        if let Some(message) = lost {
            // One device serves every lane: when it goes, every lane (all are GPU lanes) goes with it.
            for lane in self.lanes.iter_mut() {
                lane.halt();
                emit(Event::Error { lane: lane.id, message: message.clone() });
            }
            self.lanes.clear();
            emit(Event::DeviceLost { message });
        }
    }

    async fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Command(Command::Load { lane, source }) => self.fetch(lane, source),
            Msg::Command(Command::LoadBytes { lane, name, bytes }) => {
                self.forget(lane);
                self.install(lane, &name, bytes).await;
            }
            Msg::Command(Command::Remove { lane }) => self.forget(lane),
            Msg::Command(Command::Start(settings)) => {
                self.owe_idle = true;
                let gpu = self.gpu.clone();
                for lane in &mut self.lanes {
                    if let Err(message) = lane.start(&settings, gpu.as_deref()) {
                        lane.halt();
                        (self.emit)(Event::Error { lane: lane.id, message });
                    }
                }
            }
            Msg::Command(Command::Filler { text }) => {
                if self.filler.as_deref() != Some(text.as_str()) {
                    self.filler = Some(text.into());
                }
            }
            Msg::Command(Command::Extend { context }) => match self.filler.clone() {
                Some(text) => {
                    self.owe_idle = true;
                    self.lanes.iter_mut().for_each(|lane| lane.extend(context, &text));
                }
                None => {
                    for lane in &self.lanes {
                        let message = "no filler text to extend the context with (it is fetched first)".to_string();
                        (self.emit)(Event::Error { lane: lane.id, message });
                    }
                    (self.emit)(Event::Idle);
                }
            },
            Msg::Command(Command::Stop) => {
                for lane in self.lanes.iter_mut().filter(|l| l.busy()) {
                    lane.stop();
                    (self.emit)(Event::Cancelled { lane: lane.id });
                }
            }
            Msg::Command(Command::Cancel { lane }) => {
                let downloading = self.downloads.iter().any(|d| d.lane == lane);
                self.abort_download(lane);
                if let Some(l) = self.lanes.iter_mut().find(|l| l.id == lane) {
                    l.stop();
                }
                (self.emit)(Event::Cancelled { lane });
                if downloading {
                    (self.emit)(Event::Error { lane, message: "download cancelled".into() });
                }
            }
            Msg::Command(Command::Reset) => {
                let gpu = self.gpu.clone();
                for lane in &mut self.lanes {
                    if let Err(message) = lane.reset(gpu.as_deref()) {
                        (self.emit)(Event::Error { lane: lane.id, message });
                    }
                }
            }
            Msg::Fetched { lane, ticket, name, result } => {
                if !self.downloads.iter().any(|d| d.lane == lane && d.ticket == ticket) {
                    return; // replaced, removed or cancelled while downloading
                }
                self.downloads.retain(|d| d.lane != lane);
                match result {
                    Ok(bytes) => self.install(lane, &name, bytes).await,
                    Err(message) => (self.emit)(Event::Error { lane, message }),
                }
            }
            Msg::Shutdown => {} // handled by the loop
        }
    }

    /// Drops a lane's model and aborts any download it waits for.
    fn forget(&mut self, lane: LaneId) {
        self.lanes.retain(|l| l.id != lane);
        self.abort_download(lane);
    }

    fn abort_download(&mut self, lane: LaneId) {
        for d in self.downloads.iter().filter(|d| d.lane == lane) {
            d.abort.abort();
        }
        self.downloads.retain(|d| d.lane != lane);
    }

    /// Starts downloading a lane's model; the loop installs it when it arrives.
    fn fetch(&mut self, lane: LaneId, source: ModelSource) {
        self.forget(lane);
        let (url, name, cache) = match &source {
            ModelSource::Bundled(id) => match models::bundled(id) {
                Some(b) => (b.url(), b.file.to_string(), false),
                None => {
                    (self.emit)(Event::Error { lane, message: format!("there is no bundled model called {id:?}") });
                    return;
                }
            },
            ModelSource::Url(url) => (url.clone(), url.rsplit('/').next().unwrap_or(url).to_string(), true),
        };
        let abort = match web_sys::AbortController::new() {
            Ok(a) => a,
            Err(e) => {
                (self.emit)(Event::Error { lane, message: format!("cannot download here: {e:?}") });
                return;
            }
        };
        self.next_ticket += 1;
        let ticket = self.next_ticket;
        let signal = abort.signal();
        self.downloads.push(Download { lane, ticket, abort });
        let (tx, emit) = (self.tx.clone(), self.emit.clone());
        wasm_bindgen_futures::spawn_local(async move {
            let progress =
                |done, total| emit(Event::Progress { lane, what: format!("downloading {name}"), done, total });
            let notice = |what: String| {
                web_sys::console::warn_1(&what.clone().into());
                emit(Event::Progress { lane, what, done: 0, total: None });
            };
            let result = fetch::fetch_model(&url, cache, &signal, &progress, &notice).await;
            let _ = tx.unbounded_send(Msg::Fetched { lane, ticket, name, result });
        });
    }

    /// Parses and uploads a model, replacing the lane's old one.
    async fn install(&mut self, lane: LaneId, name: &str, bytes: Vec<u8>) {
        (self.emit)(Event::Progress { lane, what: format!("uploading {name} to the GPU"), done: 0, total: None });
        match Lane::load(lane, name, bytes, self.gpu.as_deref()).await {
            Ok(l) => {
                (self.emit)(Event::Ready { lane, info: l.info.clone() });
                (self.emit)(l.memory_event());
                self.lanes.retain(|x| x.id != lane);
                self.lanes.push(l);
            }
            Err(message) => (self.emit)(Event::Error { lane, message }),
        }
    }
}

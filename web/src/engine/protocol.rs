//! The engine's command/event interface. The page sends [`Command`]s and renders [`Event`]s; nothing else
//! crosses, and both are plain serde data, so the engine can move into a web worker unchanged.

use serde::{Deserialize, Serialize};

/// A lane's identity, chosen by the page: unique among the lanes that exist (a removed lane's id may
/// come back for a new lane; the engine forgets everything about a lane on `Remove`).
pub type LaneId = u32;

/// Where a lane's model comes from, and a race's sampling and length settings: the link's types
/// (`archrace_model::link`), shared with the URL parser.
pub use archrace_model::link::{ModelSource, RunSettings};

/// Memory by category, bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryFigures {
    /// Model tensors.
    pub weights: u64,
    /// KV cache (attention layers).
    pub kv_cache: u64,
    /// Recurrent state (Mamba conv/SSM, RWKV shifts and WKV).
    pub state: u64,
    /// Activations, logits, read-back.
    pub scratch: u64,
}

impl MemoryFigures {
    /// All categories together.
    pub fn total(&self) -> u64 {
        self.weights + self.kv_cache + self.state + self.scratch
    }
}

/// What kind of layer a cell of the layer strip is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MixerKind {
    /// Self-attention.
    Attention,
    /// Mamba selective SSM.
    Mamba,
    /// RWKV time-mix.
    Rwkv,
}

/// One layer as the lane's strip shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerCell {
    /// Token mixer.
    pub mixer: MixerKind,
    /// `Some((experts, top_k))` where the feed-forward is a mixture of experts.
    pub moe: Option<(usize, usize)>,
}

/// A loaded model, as a lane describes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LaneInfo {
    /// `general.name` or the file name.
    pub name: String,
    /// llama, mamba, rwkv6, rwkv7 or jamba.
    pub arch: String,
    /// "GPU (WebGPU)" or "CPU (no WebGPU)".
    pub backend: String,
    /// One cell per layer.
    pub layers: Vec<LayerCell>,
    /// Parameters in the file.
    pub params_total: u64,
    /// Parameters one token uses (unchosen experts left out).
    pub params_active: u64,
    /// Vocabulary size.
    pub n_vocab: usize,
    /// KV bytes per token of context (0 without attention).
    pub kv_bytes_per_token: u64,
}

/// One measured point of a lane's curve.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Tokens in the context when measured.
    pub context: usize,
    /// Median milliseconds per decoded token there.
    pub ms_per_token: f64,
    /// Bytes held there (all categories).
    pub memory_bytes: u64,
    /// Tokens per second of the fill that reached this context (0 when the point follows generation).
    pub prefill_tokens_per_s: f64,
}

/// What the page tells the engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Load a model into a lane (replacing what was there).
    Load {
        /// Lane.
        lane: LaneId,
        /// Where from.
        source: ModelSource,
    },
    /// Load a model the visitor picked from disk or dropped on the lane.
    LoadBytes {
        /// Lane.
        lane: LaneId,
        /// File name.
        name: String,
        /// The GGUF.
        bytes: Vec<u8>,
    },
    /// Drop a lane and its GPU buffers.
    Remove {
        /// Lane.
        lane: LaneId,
    },
    /// Start generating in every loaded lane from a fresh context.
    Start(RunSettings),
    /// The text contexts are filled from (the page fetches `public/text/shakespeare.txt` and sends it before
    /// extending; the wasm does not carry it).
    Filler {
        /// The text.
        text: String,
    },
    /// Fill every running lane's context up to `context` tokens (from the filler text), then measure.
    Extend {
        /// Target context length, tokens.
        context: usize,
    },
    /// Stop what every lane is doing (the contexts stay).
    Stop,
    /// Cancel one lane's download, or stop its work (the context stays).
    Cancel {
        /// Lane.
        lane: LaneId,
    },
    /// Forget every lane's context and measurements (the models stay loaded).
    Reset,
}

/// What the engine tells the page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// Work in progress on a lane: downloading, uploading, filling the context.
    Progress {
        /// Lane.
        lane: LaneId,
        /// What is happening, for the visitor.
        what: String,
        /// Done so far (bytes or tokens).
        done: u64,
        /// Out of (when known).
        total: Option<u64>,
    },
    /// A lane's model is loaded and ready.
    Ready {
        /// Lane.
        lane: LaneId,
        /// The model.
        info: LaneInfo,
    },
    /// Text the lane generated (a UTF-8 piece; more follow).
    Text {
        /// Lane.
        lane: LaneId,
        /// Piece.
        text: String,
    },
    /// Live speed.
    Speed {
        /// Lane.
        lane: LaneId,
        /// Median of the recent decode steps.
        ms_per_token: f64,
        /// Tokens in the context.
        context: usize,
    },
    /// Memory now: measured (the GPU pool, or the CPU state) and as the calculator predicts.
    Memory {
        /// Lane.
        lane: LaneId,
        /// Measured.
        measured: MemoryFigures,
        /// Calculated.
        analytic: MemoryFigures,
        /// GPU scratch by buffer (label, bytes), largest first, labelled by the part that uses it; empty
        /// on the CPU.
        scratch: Vec<(String, u64)>,
    },
    /// A new point for the charts.
    Point {
        /// Lane.
        lane: LaneId,
        /// Where and what.
        point: Point,
    },
    /// The lane cannot go on (memory wall, device limit): it stops, the others go on.
    Stopped {
        /// Lane.
        lane: LaneId,
        /// Why, with the numbers.
        reason: String,
        /// Tokens it held when it stopped.
        context: usize,
    },
    /// The lane failed (bad file, network, device): the message names the problem.
    Error {
        /// Lane.
        lane: LaneId,
        /// What went wrong.
        message: String,
    },
    /// The lane's download or work was cancelled.
    Cancelled {
        /// Lane.
        lane: LaneId,
    },
    /// Every lane has finished what it was asked to do.
    Idle,
    /// The GPU device is gone (every lane has failed with it); a new device can be asked for.
    DeviceLost {
        /// Why, as the browser said.
        message: String,
    },
}

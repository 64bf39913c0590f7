//! The page's shared state, as newtype contexts so two signals of the same type cannot be confused.

use archrace_gpu::{AdapterReport, SelftestReport};
use leptos::prelude::*;

/// What we know about the visitor's GPU.
#[derive(Clone, Debug, PartialEq)]
pub enum DeviceState {
    /// Still asking the browser.
    Probing,
    /// No WebGPU here: a plain reason for the visitor, and the technical detail when there is one.
    NoWebGpu {
        /// What the visitor reads.
        reason: String,
        /// The browser's or wgpu's own words.
        detail: Option<String>,
    },
    /// A device is ready.
    Ready {
        /// What wgpu reports about the adapter.
        report: AdapterReport,
        /// The browser adapter's own feature names (wgpu does not map all of them, e.g. `subgroups`).
        browser_features: Vec<String>,
    },
}

/// The kernel self-test's progress.
#[derive(Clone, Debug)]
pub enum CheckState {
    /// Waiting for a device.
    Waiting,
    /// Not run: there is no GPU to run it on.
    Unavailable,
    /// Running on the GPU and the CPU.
    Running,
    /// Finished (passed or failed: see the report).
    Done(SelftestReport),
    /// Could not run (the error is shown).
    Error(String),
}

/// Context: the device panel's state.
#[derive(Clone, Copy)]
pub struct DeviceCtx(pub RwSignal<DeviceState>);

/// Context: the kernel check's state.
#[derive(Clone, Copy)]
pub struct CheckCtx(pub RwSignal<CheckState>);

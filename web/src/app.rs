//! The page: what archrace is, the visitor's GPU, and a kernel checked against the CPU.

use crate::components::{DevicePanel, KernelCheck};
use crate::probe::probe_and_check;
use crate::state::{CheckCtx, CheckState, DeviceCtx, DeviceState};
use leptos::prelude::*;

/// The whole playground. Provides the shared state and starts probing the GPU as soon as it mounts.
#[component]
pub fn App() -> impl IntoView {
    let device = RwSignal::new(DeviceState::Probing);
    let check = RwSignal::new(CheckState::Waiting);
    provide_context(DeviceCtx(device));
    provide_context(CheckCtx(check));
    leptos::task::spawn_local(probe_and_check(device, check));
    view! {
        <main>
            <header>
                <h1>"archrace"</h1>
                <p>
                    "Transformer, Mamba, RWKV and Jamba language models racing side by side on your own GPU, "
                    "with WGSL kernels running quantized GGUF weights. Attention's KV cache grows with every "
                    "token; Mamba's and RWKV's state stays flat. The race charts both."
                </p>
            </header>
            <DevicePanel/>
            <KernelCheck/>
        </main>
    }
}

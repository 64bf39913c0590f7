//! The device panel: adapter, backend, key limits and the optional features archrace cares about.

use crate::state::{DeviceCtx, DeviceState};
use archrace_gpu::AdapterReport;
use leptos::prelude::*;

/// Shows the WebGPU adapter, or says plainly that there is none and why.
#[component]
pub fn DevicePanel() -> impl IntoView {
    let DeviceCtx(device) = expect_context::<DeviceCtx>();
    view! {
        <section class="card" data-testid="device-panel">
            <h2>"Your GPU"</h2>
            {move || match device.get() {
                DeviceState::Probing => view! { <p class="status">"Asking the browser for WebGPU…"</p> }.into_any(),
                DeviceState::NoWebGpu { reason, detail } => view! {
                    <p class="status error" data-testid="no-webgpu">"No WebGPU. " {reason}</p>
                    <p class="status" data-testid="timing-source">"Race timings: wall clock, per token, on the CPU."</p>
                    {detail.map(|d| view! { <details><summary>"Details"</summary><code>{d}</code></details> })}
                }
                .into_any(),
                DeviceState::Ready { report, browser_features } => {
                    view! { <AdapterFacts report browser_features/> }.into_any()
                }
            }}
        </section>
    }
}

/// One yes/no feature, coloured.
#[component]
fn Flag(
    /// Whether the adapter has the feature.
    on: bool,
) -> impl IntoView {
    view! { <span class=if on { "yes" } else { "no" }>{if on { "yes" } else { "no" }}</span> }
}

/// The adapter's facts as a definition list.
#[component]
pub fn AdapterFacts(
    /// What the adapter reported through wgpu.
    report: AdapterReport,
    /// The browser adapter's own feature names; empty where unknown.
    browser_features: Vec<String>,
) -> impl IntoView {
    let browser_has = |f: &str| browser_features.iter().any(|b| b == f);
    // The device asks for `subgroups` whenever the browser offers it (archrace_gpu's context does, past
    // wgpu 30); should a device still come without it, the panel says that the kernels cannot use it.
    let subgroups = report.subgroups || browser_has("subgroups");
    let subgroups_note =
        if subgroups && !report.subgroups { " (offered by the browser; this device has it off)" } else { "" };
    let all_features = if browser_features.is_empty() { "—".to_string() } else { browser_features.join(", ") };
    let l = report.limits.clone();
    let mib = |b: u64| format!("{} MiB", b >> 20);
    let name = if report.name.is_empty() { "(not disclosed by the browser)".to_string() } else { report.name.clone() };
    view! {
        <dl class="facts">
            <dt>"Adapter"</dt><dd data-testid="adapter-name">{name}</dd>
            <dt>"Backend"</dt><dd data-testid="adapter-backend">{report.backend.clone()} " (" {report.device_type.clone()} ")"</dd>
            <dt>"Driver"</dt><dd>{report.driver.clone()}</dd>
            <dt>"shader-f16"</dt><dd data-testid="feature-shader-f16"><Flag on=report.shader_f16/> " (not required: f16 stays packed in u32)"</dd>
            <dt>"subgroups"</dt><dd data-testid="feature-subgroups"><Flag on=subgroups/>{subgroups_note}</dd>
            <dt>"Matvec row sums"</dt><dd data-testid="row-sums">{report.row_sums.clone()}</dd>
            <dt>"Norms"</dt>
            <dd data-testid="norm-dispatches">
                {if report.software {
                    "each in a dispatch of its own (a software adapter: here a dispatch costs less than a norm in every workgroup)"
                } else {
                    "computed by the product after each norm (RMSNorm models): no dispatch of their own"
                }}
            </dd>
            <dt>"timestamp-query"</dt><dd data-testid="feature-timestamp-query"><Flag on=report.timestamp_query/></dd>
            <dt>"Race timings"</dt>
            <dd data-testid="timing-source">
                "wall clock, per token, from submit to the sampled token on the CPU (what a reader waits for)"
                {if report.timestamp_query { "; GPU timestamps are available for per-kernel profiles (archrace bench)" } else { "; no GPU timestamps here" }}
            </dd>
            <dt>"Storage binding"</dt><dd>{mib(l.max_storage_buffer_binding_size)}</dd>
            <dt>"Buffer"</dt><dd>{mib(l.max_buffer_size)}</dd>
            <dt>"Storage buffers / stage"</dt><dd>{l.max_storage_buffers_per_shader_stage}</dd>
            <dt>"Workgroup memory"</dt><dd>{l.max_compute_workgroup_storage_size} " bytes"</dd>
            <dt>"Invocations / workgroup"</dt><dd>{l.max_compute_invocations_per_workgroup}</dd>
            <dt>"All features"</dt><dd class="features" data-testid="browser-features">{all_features}</dd>
        </dl>
    }
}

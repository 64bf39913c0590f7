//! The kernel check: a Q8_0 matrix-vector product on the GPU, compared with the same product on the CPU.

use crate::state::{CheckCtx, CheckState};
use archrace_gpu::SelftestReport;
use leptos::prelude::*;

/// Shows whether the WGSL kernel matched its CPU twin, by how much, and how long each took.
#[component]
pub fn KernelCheck() -> impl IntoView {
    let CheckCtx(check) = expect_context::<CheckCtx>();
    view! {
        <section class="card" data-testid="kernel-check">
            <h2>"Kernel check: " <code>"matvec_q8_0"</code></h2>
            {move || match check.get() {
                CheckState::Waiting => view! { <p class="status">"Waiting for a GPU…"</p> }.into_any(),
                CheckState::Unavailable => {
                    view! { <p class="status" data-testid="selftest-unavailable">"Not run: no WebGPU on this page."</p> }
                        .into_any()
                }
                CheckState::Running => view! { <p class="status">"Running on the GPU and the CPU…"</p> }.into_any(),
                CheckState::Error(e) => view! { <p class="status error" data-testid="selftest-error">{e}</p> }.into_any(),
                CheckState::Done(report) => view! { <CheckResult report/> }.into_any(),
            }}
        </section>
    }
}

/// A finished self-test.
#[component]
pub fn CheckResult(
    /// The self-test's outcome.
    report: SelftestReport,
) -> impl IntoView {
    let verdict = if report.pass { "PASS" } else { "FAIL" };
    view! {
        <p class="status">
            <span class=if report.pass { "pass" } else { "fail" } data-testid="selftest-verdict">{verdict}</span>
            " — a " {report.rows} "×" {report.cols} " Q8_0 matrix (seed " {report.seed}
            ") times a vector, on the GPU and on the CPU."
        </p>
        <dl class="facts">
            <dt>"Max |GPU − CPU|"</dt>
            <dd data-testid="selftest-max-diff">{format!("{:.2e} ({:.2e} of the largest output)", report.max_abs_diff, report.max_rel_diff)}</dd>
            <dt>"GPU"</dt><dd data-testid="selftest-gpu-ms">{format!("{:.2} ms", report.gpu_ms)} " (" {report.timing_source} ", submit to readback)"</dd>
            <dt>"CPU (wasm)"</dt><dd>{format!("{:.2} ms", report.cpu_ms)}</dd>
        </dl>
        {report.mismatch.map(|m| view! { <p class="error">{m}</p> })}
    }
}

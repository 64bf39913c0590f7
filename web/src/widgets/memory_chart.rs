//! `<archrace-memory-chart models="llama,jamba" max-context="262144">`: memory against context for each
//! model, calculated at once from its GGUF header (weights, KV cache in f16, recurrent state, scratch: no GPU
//! needed), with the figures the reader's GPU measures added on "Measure".

use super::model_header::{model_header, ModelHeader};
use super::race::{RaceRig, RaceStatus};
use super::{models_and_errors, parse_counts, WidgetOptions};
use crate::chart::{fmt_bytes, fmt_tokens};
use crate::components::{LineChart, Series};
use archrace_model::calc::scratch_bytes;
use archrace_model::race::{CONTEXT_STEPS, MAX_CONTEXT};
use leptos::prelude::*;

/// Contexts the calculated lines pass through: powers of two from 64 to `max`.
pub fn chart_contexts(max: u64) -> Vec<u64> {
    (6..=40).map(|k| 1u64 << k).take_while(|&c| c <= max.max(64)).collect()
}

/// Bytes of every category at context `n`: weights, KV cache (f16), state, scratch.
pub fn categories(h: &ModelHeader, n: u64) -> [u64; 4] {
    let kv = h.report.kv_bytes_per_token.saturating_mul(n);
    [h.report.weight_bytes, kv, h.report.state_bytes, scratch_bytes(&h.spec, n)]
}

/// The largest context the "Measure" run fills to: the race's steps up to `max`, at most 4K (a quick run
/// on a documentation page).
const MEASURE_UP_TO: u64 = 4096;

/// The memory chart.
#[component]
pub fn MemoryChart(
    /// `models`, `max-context`.
    options: WidgetOptions,
) -> impl IntoView {
    let max = options
        .max_context
        .as_deref()
        .and_then(|m| parse_counts(m, 1 << 40).first().copied())
        .unwrap_or(MAX_CONTEXT as u64);
    let (sources, errors) = models_and_errors(options.models.as_deref().unwrap_or("llama,mamba,rwkv7,jamba"));
    let headers = RwSignal::new(vec![None::<Result<ModelHeader, String>>; sources.len()]);
    for (i, source) in sources.iter().cloned().enumerate() {
        leptos::task::spawn_local(async move {
            let got = model_header(&source).await;
            headers.update(|h| h[i] = Some(got));
        });
    }
    let rig = RaceRig::new(sources, measure_settings());
    rig.provide();
    let analytic = Signal::derive(move || {
        let mut series: Vec<Series> = headers.with(|hs| {
            hs.iter()
                .enumerate()
                .filter_map(|(i, h)| {
                    let h = h.as_ref()?.as_ref().ok()?;
                    Some(Series {
                        name: format!("{} ({}), calculated", h.spec.arch.name(), h.name),
                        index: i,
                        points: chart_contexts(max)
                            .into_iter()
                            .map(|n| (n as f64, categories(h, n).iter().sum::<u64>() as f64 / (1 << 20) as f64))
                            .collect(),
                        stopped: None,
                    })
                })
                .collect()
        });
        for lane in rig.lanes.get() {
            let points: Vec<(f64, f64)> = lane
                .points
                .with(|p| p.iter().map(|p| (p.context as f64, p.memory_bytes as f64 / (1 << 20) as f64)).collect());
            if !points.is_empty() {
                let name = lane
                    .info
                    .with(|i| i.as_ref().map(|i| format!("{} ({}), measured", i.arch, i.name)).unwrap_or_default());
                series.push(Series {
                    name,
                    index: lane.id as usize,
                    points,
                    stopped: lane.stopped.with(|s| s.as_ref().map(|(_, at)| *at as f64)),
                });
            }
        }
        series
    });
    let measure_steps: Vec<u64> =
        CONTEXT_STEPS.iter().map(|&c| c as u64).filter(|&c| c <= max.min(MEASURE_UP_TO)).collect();
    let status = rig.status;
    let measure = move |_| {
        leptos::task::spawn_local(rig.run(measure_steps.clone()));
    };
    let table = move || {
        headers.with(|hs| {
            hs.iter()
                .enumerate()
                .map(|(i, h)| match h {
                    None => view! { <tr><td colspan="5" class="muted">"reading a header…"</td></tr> }.into_any(),
                    Some(Err(e)) => view! { <tr><td colspan="5" class="error" role="alert" data-testid="widget-error">{e.clone()}</td></tr> }.into_any(),
                    Some(Ok(h)) => {
                        let [w, kv, s, x] = categories(h, max);
                        view! {
                            <tr class=format!("lane-{i}") data-testid="memory-row">
                                <th scope="row"><span class="swatch"></span>{format!("{} ({})", h.spec.arch.name(), h.name)}</th>
                                <td>{fmt_bytes(w)}</td><td data-testid="memory-kv">{fmt_bytes(kv)}</td><td>{fmt_bytes(s)}</td><td>{fmt_bytes(x)}</td>
                            </tr>
                        }
                        .into_any()
                    }
                })
                .collect_view()
        })
    };
    view! {
        <section class="widget memory card" aria-label="Memory by context" data-testid="memory-chart" data-state=move || status.get().key()>
            {errors.into_iter().map(|e| view! { <p class="error" role="alert" data-testid="widget-error">{e}</p> }).collect_view()}
            <LineChart title="Memory against context" y_label="MiB: weights + KV cache (f16) + state + scratch" testid="chart-memory-widget" data=analytic/>
            <div class="table-scroll">
                <table class="calc-table">
                    <caption>{format!("By category at {} tokens", fmt_tokens(max as f64))}</caption>
                    <thead><tr><th scope="col">"Model"</th><th scope="col">"Weights"</th><th scope="col">"KV cache"</th><th scope="col">"State"</th><th scope="col">"Scratch"</th></tr></thead>
                    <tbody>{table}</tbody>
                </table>
            </div>
            <div class="widget-bar">
                <button data-testid="measure" on:click=measure
                    disabled=move || matches!(status.get(), RaceStatus::Waiting | RaceStatus::Loading | RaceStatus::Running(_))>
                    "Measure on this GPU"
                </button>
                <span class="status" role="status">{move || match status.get() {
                    RaceStatus::Idle => "Calculated from each file's header; measuring loads the models and fills their contexts.".to_string(),
                    RaceStatus::Waiting => "Waiting for the other race on this page…".into(),
                    RaceStatus::Loading => "Loading the models onto your GPU…".into(),
                    RaceStatus::Running(what) => format!("Measuring: {what}…"),
                    RaceStatus::Done => "Measured points added.".into(),
                    RaceStatus::Stopped => "Stopped.".into(),
                    RaceStatus::Failed(why) => why,
                }}</span>
            </div>
        </section>
    }
}

/// A measuring run generates only a few tokens: its points come from the context steps.
fn measure_settings() -> crate::engine::RunSettings {
    let mut run = crate::url_state::default_race().run;
    run.max_new_tokens = 4;
    run
}

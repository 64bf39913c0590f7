//! The three race charts on shared axes: ms/token, memory and prefill tokens/s against context length
//! (log x), one line per lane in its lane colour, a cross where a lane stopped.

use crate::chart::{fmt_tick, fmt_tokens, LinearScale, LogScale};
use crate::race_state::{LaneModel, LanesCtx};
use leptos::prelude::*;

const W: f64 = 560.0;
const H: f64 = 300.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 44.0;

/// One lane's line.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Colour index (the lane's position).
    pub index: usize,
    /// (context, value) in measurement order.
    pub points: Vec<(f64, f64)>,
    /// The context length where the lane stopped at a limit, if it did (marked with a cross at the last
    /// value, joined to the line by a dashed segment).
    pub stopped: Option<f64>,
}

/// What a chart plots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Median ms per decoded token.
    Latency,
    /// Bytes held (all categories), shown in MiB.
    Memory,
    /// Tokens per second of the fill that reached the context (points after an extension only).
    Prefill,
}

/// The lanes' series for `metric`.
pub fn series(lanes: &[LaneModel], metric: Metric) -> Vec<Series> {
    lanes
        .iter()
        .map(|l| Series {
            name: l
                .info
                .with(|i| i.as_ref().map(|i| format!("{} ({})", i.arch, i.name)).unwrap_or_else(|| "loading".into())),
            index: l.id as usize,
            points: l.points.with(|p| {
                p.iter()
                    .filter(|p| metric != Metric::Prefill || p.prefill_tokens_per_s > 0.0)
                    .map(|p| {
                        let y = match metric {
                            Metric::Latency => p.ms_per_token,
                            Metric::Memory => p.memory_bytes as f64 / (1 << 20) as f64,
                            Metric::Prefill => p.prefill_tokens_per_s,
                        };
                        (p.context as f64, y)
                    })
                    .collect()
            }),
            stopped: l.stopped.with(|s| s.as_ref().map(|(_, at)| *at as f64)),
        })
        .collect()
}

/// The three charts, fed from the lanes.
#[component]
pub fn RaceCharts() -> impl IntoView {
    let LanesCtx(lanes) = expect_context::<LanesCtx>();
    let latency = Signal::derive(move || series(&lanes.get(), Metric::Latency));
    let memory = Signal::derive(move || series(&lanes.get(), Metric::Memory));
    let prefill = Signal::derive(move || series(&lanes.get(), Metric::Prefill));
    view! {
        <section class="charts">
            <LineChart title="Time per token" y_label="ms / token" testid="chart-latency" data=latency/>
            <LineChart title="Memory held" y_label="MiB allocated (weights + KV cache + state + scratch)" testid="chart-memory" data=memory/>
            <LineChart title="Filling the context" y_label="prefill tokens / s, to reach that context" testid="chart-prefill" data=prefill/>
        </section>
    }
}

/// A line chart with a log2 context axis, a linear y axis from zero, labels, units and a legend.
#[component]
pub fn LineChart(
    /// Heading above the chart.
    title: &'static str,
    /// The y axis' label, with its unit.
    y_label: &'static str,
    /// `data-testid` of the `<svg>`.
    testid: &'static str,
    /// The lines.
    data: Signal<Vec<Series>>,
) -> impl IntoView {
    let plot = move || {
        let data = data.get();
        let xs = data.iter().flat_map(|s| s.points.iter().map(|p| p.0).chain(s.stopped));
        let x = LogScale::covering(xs, 64.0, 4096.0, LEFT, W - RIGHT);
        let y = LinearScale::covering(data.iter().flat_map(|s| s.points.iter().map(|p| p.1)), H - BOTTOM, TOP);
        let grid_x = x
            .ticks()
            .into_iter()
            .map(|t| {
                let px = x.map(t);
                view! {
                    <line class="grid" x1=px x2=px y1=TOP y2=H - BOTTOM/>
                    <text class="tick" x=px y=H - BOTTOM + 16.0 text-anchor="middle">{fmt_tokens(t)}</text>
                }
            })
            .collect_view();
        let grid_y = y
            .ticks()
            .into_iter()
            .map(|t| {
                let py = y.map(t);
                view! {
                    <line class="grid" x1=LEFT x2=W - RIGHT y1=py y2=py/>
                    <text class="tick" x=LEFT - 6.0 y=py + 4.0 text-anchor="end">{fmt_tick(t)}</text>
                }
            })
            .collect_view();
        let lines = data
            .iter()
            .map(|s| {
                let pts: Vec<(f64, f64)> = s.points.iter().map(|&(cx, cy)| (x.map(cx), y.map(cy))).collect();
                let path = pts.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect::<Vec<_>>().join(" ");
                let dots = pts
                    .iter()
                    .zip(&s.points)
                    .map(|(&(a, b), &(cx, cy))| {
                        view! {
                            <circle class="dot" cx=a cy=b r="3.5" data-testid="chart-point">
                                <title>{format!("{}: {} tokens, {}", s.name, cx, fmt_tick(cy))}</title>
                            </circle>
                        }
                    })
                    .collect_view();
                let stop = s.stopped.zip(pts.last().copied()).map(|(at, (a0, b))| {
                    let a = x.map(at);
                    view! {
                        <line class="stop-lead" x1=a0 y1=b x2=a y2=b/>
                        <path class="stop" d=format!("M{} {}l10 10m0 -10l-10 10", a - 5.0, b - 5.0) data-testid="chart-stop">
                            <title>{format!("{} stopped at {} tokens", s.name, at)}</title>
                        </path>
                    }
                });
                view! { <g class=format!("series lane-{}", s.index)><polyline points=path/>{dots}{stop}</g> }
            })
            .collect_view();
        let legend = data
            .iter()
            .map(|s| view! { <li class=format!("lane-{}", s.index)><span class="swatch"></span>{s.name.clone()}</li> })
            .collect_view();
        view! {
            <svg viewBox=format!("0 0 {W} {H}") role="img" aria-label=title data-testid=testid>
                {grid_x}{grid_y}
                <line class="axis" x1=LEFT x2=W - RIGHT y1=H - BOTTOM y2=H - BOTTOM/>
                <line class="axis" x1=LEFT x2=LEFT y1=TOP y2=H - BOTTOM/>
                <text class="label" x=(LEFT + W - RIGHT) / 2.0 y=H - 6.0 text-anchor="middle">"context length (tokens, log scale)"</text>
                {lines}
            </svg>
            <ul class="legend">{legend}</ul>
        }
    };
    view! {
        <figure class="chart card">
            <figcaption><strong>{title}</strong> <span class="muted">" — " {y_label}</span></figcaption>
            {plot}
        </figure>
    }
}

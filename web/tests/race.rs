//! The race's stateful parts in the browser: URL state, lanes, chart scaling and drawing, the layer strip,
//! and the engine driven through its command/event interface on Chromium's WebGPU and on the wasm CPU.
//! Run by `scripts/dev test` with wasm-bindgen-test-runner in headless Chromium.
#![cfg(target_arch = "wasm32")]

use archrace_gpu::GpuContext;
use archrace_web::chart::{fmt_bytes, fmt_tokens, nice_ceil, LinearScale, LogScale};
use archrace_web::components::{LayerStrip, LineChart, Series};
use archrace_web::engine::lane::layer_cells;
use archrace_web::engine::{self, Command, Event, ModelSource, RunSettings};
use archrace_web::race_state::{add_lane, linked_sources, remove_lane, LaneModel, LaneSource};
use archrace_web::url_state::{default_race, race_from_query, RaceSettings, MAX_LANES};
use leptos::prelude::*;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const LLAMA: &[u8] = include_bytes!("../../tests/fixtures/llama-q8_0.gguf");
/// The filler text the page fetches (`public/text/shakespeare.txt`); the engine is handed it.
const FILLER: &str = include_str!("../../public/text/shakespeare.txt");
const JAMBA: &[u8] = include_bytes!("../../tests/fixtures/jamba-q8_0.gguf");

fn fresh_root() -> web_sys::HtmlElement {
    let document = web_sys::window().unwrap().document().unwrap();
    let el: web_sys::HtmlElement = document.create_element("section").unwrap().unchecked_into();
    document.body().unwrap().append_child(&el).unwrap();
    el
}

/// The page reads a shared link over its own defaults and bundled models. (The format itself, every setting
/// and bad values, is tested natively in `archrace_model::link`, and fuzzed.)
#[wasm_bindgen_test]
fn url_state_reads_links_over_the_pages_defaults_and_bundled_models() {
    assert_eq!(race_from_query(""), default_race());
    assert_eq!(default_race().lanes.len(), 4, "one lane per architecture");
    let s = RaceSettings {
        lanes: vec![ModelSource::Bundled("jamba".into()), ModelSource::Url("https://h.example/m.gguf".into())],
        run: RunSettings { max_new_tokens: 7, ..RunSettings::default() },
        gpu_budget: Some(3 << 20),
    };
    assert_eq!(race_from_query(&s.to_query()), s);
    let lanes = race_from_query("?lanes=nosuch,mamba").lanes;
    assert_eq!(lanes, vec![ModelSource::Bundled("mamba".into())], "an id the page does not bundle is dropped");
    assert_eq!(race_from_query("lanes=llama,llama,mamba,rwkv7,jamba").lanes.len(), MAX_LANES);
}

#[wasm_bindgen_test]
fn lanes_add_and_remove() {
    let owner = Owner::new();
    owner.with(|| {
        let lanes = RwSignal::new(vec![LaneModel::new(0, LaneSource::Linked(ModelSource::Bundled("llama".into())))]);
        let b = add_lane(lanes, LaneSource::File("mine.gguf".into())).unwrap();
        let c = add_lane(lanes, LaneSource::Linked(ModelSource::Url("https://x.example/m.gguf".into()))).unwrap();
        let d = add_lane(lanes, LaneSource::Linked(ModelSource::Bundled("jamba".into()))).unwrap();
        assert_eq!((b.id, c.id, d.id), (1, 2, 3));
        assert!(add_lane(lanes, LaneSource::Linked(ModelSource::Bundled("mamba".into()))).is_none(), "four at most");
        // A local file cannot be linked; the others keep their order.
        assert_eq!(
            linked_sources(&lanes.get_untracked()),
            vec![
                ModelSource::Bundled("llama".into()),
                ModelSource::Url("https://x.example/m.gguf".into()),
                ModelSource::Bundled("jamba".into())
            ]
        );
        assert!(remove_lane(lanes, 1));
        assert!(!remove_lane(lanes, 1), "already gone");
        // The freed id (and so the freed colour) is the next one used.
        assert_eq!(add_lane(lanes, LaneSource::Linked(ModelSource::Bundled("rwkv7".into()))).unwrap().id, 1);
        for id in [0, 1, 2] {
            assert!(remove_lane(lanes, id));
        }
        assert!(!remove_lane(lanes, 3), "the last lane stays");
        assert_eq!(lanes.get_untracked().len(), 1);
    });
}

#[wasm_bindgen_test]
fn chart_scales_and_labels() {
    let x = LogScale::covering([300.0, 5000.0], 64.0, 4096.0, 10.0, 410.0);
    assert_eq!((x.lo, x.hi), (64.0, 8192.0));
    assert_eq!(x.map(64.0), 10.0);
    assert_eq!(x.map(8192.0), 410.0);
    assert!((x.map((64.0f64 * 8192.0).sqrt()) - 210.0).abs() < 1e-9, "log midpoint");
    assert_eq!(x.ticks(), vec![64.0, 256.0, 1024.0, 4096.0]);
    let wide = LogScale::covering([262144.0], 64.0, 4096.0, 0.0, 1.0);
    assert_eq!(wide.hi, 262144.0);
    let y = LinearScale::covering([0.3, 173.0], 300.0, 20.0);
    assert_eq!(y.max, 200.0);
    assert_eq!(y.map(0.0), 300.0);
    assert_eq!(y.map(200.0), 20.0);
    assert_eq!(y.ticks(), vec![0.0, 40.0, 80.0, 120.0, 160.0, 200.0]);
    assert_eq!(LinearScale::covering([], 1.0, 0.0).max, 1.0, "empty chart still has an axis");
    assert_eq!([nice_ceil(0.21), nice_ceil(1000.0), nice_ceil(1001.0), nice_ceil(3.0)], [0.25, 1000.0, 2000.0, 5.0]);
    assert_eq!(
        [fmt_tokens(300.0), fmt_tokens(4096.0), fmt_tokens(262144.0), fmt_tokens(1048576.0)],
        ["300", "4K", "256K", "1M"]
    );
    assert_eq!([fmt_bytes(812), fmt_bytes(154_624), fmt_bytes(3_735_552)], ["812 B", "151 KiB", "3.56 MiB"]);
}

#[wasm_bindgen_test]
fn line_chart_draws_points_stops_and_legend() {
    let root = fresh_root();
    let data = Signal::derive(|| {
        vec![
            Series {
                name: "llama (a)".into(),
                index: 0,
                points: vec![(256.0, 3.0), (1024.0, 5.0), (4096.0, 9.0)],
                stopped: Some(6000.0),
            },
            Series { name: "mamba (b)".into(), index: 1, points: vec![(256.0, 2.0), (1024.0, 2.1)], stopped: None },
        ]
    });
    let _h = leptos::mount::mount_to(root.clone(), move || {
        view! { <LineChart title="t" y_label="ms / token" testid="chart-test" data/> }
    });
    let svg = root.query_selector("[data-testid=chart-test]").unwrap().expect("the svg");
    assert_eq!(svg.query_selector_all("[data-testid=chart-point]").unwrap().length(), 5);
    assert_eq!(svg.query_selector_all("[data-testid=chart-stop]").unwrap().length(), 1, "only the stopped lane");
    assert_eq!(svg.query_selector_all("polyline").unwrap().length(), 2);
    // The cross sits where the lane stopped (6000 tokens), right of its last point (4096).
    let stop = svg.query_selector("[data-testid=chart-stop]").unwrap().unwrap();
    assert!(stop.text_content().unwrap().contains("stopped at 6000 tokens"));
    let lead = svg.query_selector(".stop-lead").unwrap().unwrap();
    let (x1, x2): (f64, f64) =
        (lead.get_attribute("x1").unwrap().parse().unwrap(), lead.get_attribute("x2").unwrap().parse().unwrap());
    assert!(x2 > x1 + 10.0, "{x1} -> {x2}");
    let text = root.text_content().unwrap();
    for label in ["256", "1K", "4K", "context length", "llama (a)", "mamba (b)", "ms / token"] {
        assert!(text.contains(label), "{label:?} missing from {text:?}");
    }
}

#[wasm_bindgen_test]
fn layer_strip_shows_jamba_layout() {
    let g = archrace_gguf::Gguf::parse(JAMBA).unwrap();
    let spec = archrace_model::ModelSpec::from_gguf(&g).unwrap();
    let root = fresh_root();
    let cells = layer_cells(&spec);
    let _h = leptos::mount::mount_to(root.clone(), move || view! { <LayerStrip layers=cells.clone()/> });
    let classes: Vec<String> = (0..4)
        .map(|i| {
            root.query_selector_all(".cell").unwrap().item(i).unwrap().unchecked_into::<web_sys::Element>().class_name()
        })
        .collect();
    assert_eq!(classes, ["cell mamba", "cell mamba moe", "cell attention", "cell mamba moe"]);
    assert_eq!(root.query_selector_all(".cell").unwrap().length(), 4);
    assert!(root.text_content().unwrap().contains("2/4"), "MoE cells say top-k of experts");
}

/// Collects an engine's events.
#[derive(Clone, Default)]
struct Log(Rc<RefCell<Vec<Event>>>);

impl Log {
    /// Waits (up to `secs`) until `done` holds for the events so far.
    async fn until(&self, secs: u32, what: &str, done: impl Fn(&[Event]) -> bool) {
        for _ in 0..secs * 20 {
            if done(&self.0.borrow()) {
                return;
            }
            engine::clock::sleep_ms(50).await;
        }
        panic!("timed out waiting for {what}; events: {:?}", self.0.borrow());
    }

    fn take(&self) -> Vec<Event> {
        std::mem::take(&mut self.0.borrow_mut())
    }
}

fn greedy(n: usize) -> RunSettings {
    RunSettings {
        prompt: "The tigers".into(),
        max_new_tokens: n,
        temperature: 0.0,
        top_k: 40,
        top_p: 1.0,
        seed: 1,
        kv_budget: None,
        // f32 on the GPU too, so the two backends' greedy text can be compared token for token.
        kv_f16: false,
    }
}

/// Loads llama in lane 7, races `n` greedy tokens, extends the context to 48; returns the generated text
/// and the events.
async fn race_llama(gpu: Option<Rc<GpuContext>>, n: usize) -> (String, Vec<Event>) {
    let log = Log::default();
    let sink = log.clone();
    let engine = engine::spawn(gpu, move |e| sink.0.borrow_mut().push(e));
    engine.send(Command::LoadBytes { lane: 7, name: "llama-q8_0.gguf".into(), bytes: LLAMA.to_vec() });
    log.until(60, "Ready", |e| e.iter().any(|e| matches!(e, Event::Ready { lane: 7, .. }))).await;
    engine.send(Command::Start(greedy(n)));
    log.until(120, "the first Point", |e| e.iter().any(|e| matches!(e, Event::Point { .. }))).await;
    engine.send(Command::Filler { text: FILLER.into() });
    engine.send(Command::Extend { context: 48 });
    log.until(120, "the second Point", |e| e.iter().filter(|e| matches!(e, Event::Point { .. })).count() == 2).await;
    log.until(10, "Idle", |e| e.last() == Some(&Event::Idle)).await;
    let events = log.take();
    let text: String = events
        .iter()
        .filter_map(|e| if let Event::Text { text, .. } = e { Some(text.as_str()) } else { None })
        .collect();
    (text, events)
}

#[wasm_bindgen_test]
async fn engine_races_on_webgpu_and_matches_the_wasm_cpu() {
    let gpu = Rc::new(GpuContext::new().await.expect("Chromium's WebGPU (SwiftShader)"));
    let (gpu_text, events) = race_llama(Some(gpu), 6).await;
    let (cpu_text, cpu_events) = race_llama(None, 6).await;
    // Greedy decoding through the engine: the same text on the GPU and on the CPU.
    assert!(!gpu_text.is_empty());
    assert_eq!(gpu_text, cpu_text);
    let info =
        events.iter().find_map(|e| if let Event::Ready { info, .. } = e { Some(info.clone()) } else { None }).unwrap();
    assert_eq!((info.arch.as_str(), info.layers.len(), info.backend.as_str()), ("llama", 3, "GPU (WebGPU)"));
    let points: Vec<_> =
        events.iter().filter_map(|e| if let Event::Point { point, .. } = e { Some(*point) } else { None }).collect();
    // "The tigers" is 7 tokens (84 257 256 105 103 260 115, as llama.cpp splits it); the first generated
    // token comes from the prompt's last step, the other 5 are each fed; then filled to 48 and 8 more timed.
    assert_eq!(points.iter().map(|p| p.context).collect::<Vec<_>>(), vec![7 + 5, 48 + 8]);
    assert!(points.iter().all(|p| p.ms_per_token > 0.0 && p.memory_bytes > 150_000), "{points:?}");
    // The extension's point carries its fill rate (the lane's own slices, prefilled on the GPU); the
    // point after generation has none.
    assert!(points[0].prefill_tokens_per_s == 0.0 && points[1].prefill_tokens_per_s > 0.0, "{points:?}");
    let memory = events.iter().rev().find_map(|e| {
        if let Event::Memory { measured, analytic, scratch, .. } = e {
            Some((*measured, *analytic, scratch.clone()))
        } else {
            None
        }
    });
    let (measured, analytic, scratch) = memory.unwrap();
    // The GPU scratch, by buffer: llama's attention parts, and within the scratch figure (which also
    // counts the read-back buffers).
    let scratch_sum: u64 = scratch.iter().map(|(_, b)| b).sum();
    assert!(scratch_sum > 0 && scratch_sum <= measured.scratch, "{scratch:?}");
    assert!(scratch.iter().any(|(label, b)| label.starts_with("attention:") && *b > 16), "{scratch:?}");
    assert!(scratch.iter().all(|(label, b)| !label.starts_with("mamba:") || *b <= 16), "{scratch:?}");
    let cpu_scratch =
        cpu_events.iter().find_map(|e| if let Event::Memory { scratch, .. } = e { Some(scratch) } else { None });
    assert_eq!(cpu_scratch.map(Vec::len), Some(0), "the CPU lane has no GPU scratch");
    assert!(measured.weights >= analytic.weights && measured.weights < analytic.weights + analytic.weights / 100);
    assert!(measured.kv_cache >= analytic.kv_cache, "the pool holds at least what the calculator says");
    assert!(cpu_events.iter().any(|e| matches!(e, Event::Ready { info, .. } if info.backend == "CPU (no WebGPU)")));
}

#[wasm_bindgen_test]
async fn engine_cancels_a_context_fill() {
    let log = Log::default();
    let sink = log.clone();
    let engine = engine::spawn(None, move |e| sink.0.borrow_mut().push(e));
    engine.send(Command::LoadBytes { lane: 3, name: "llama-q8_0.gguf".into(), bytes: LLAMA.to_vec() });
    engine.send(Command::Start(greedy(2)));
    engine.send(Command::Filler { text: FILLER.into() });
    engine.send(Command::Extend { context: 100_000 });
    log.until(60, "filling", |e| {
        e.iter().any(|e| matches!(e, Event::Progress { what, .. } if what.starts_with("filling")))
    })
    .await;
    engine.send(Command::Cancel { lane: 3 });
    log.until(30, "Idle", |e| e.last() == Some(&Event::Idle)).await;
    let events = log.take();
    assert!(events.contains(&Event::Cancelled { lane: 3 }));
    let filled = events
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::Progress { done, total: Some(t), .. } => Some((*done, *t)),
            _ => None,
        })
        .unwrap();
    assert!(filled.0 < filled.1, "cancelled before the end: {filled:?}");
    assert!(!events.iter().any(|e| matches!(e, Event::Point { point, .. } if point.context > 1000)));
}

#[wasm_bindgen_test]
async fn engine_stops_a_lane_at_the_memory_wall_and_reports_bad_files() {
    let mut ctx = GpuContext::new().await.expect("Chromium's WebGPU (SwiftShader)");
    // A device whose bindings hold 12 KiB: llama's KV cache fits 96 tokens.
    ctx.binding_cap = Some(12 << 10);
    let log = Log::default();
    let sink = log.clone();
    let engine = engine::spawn(Some(Rc::new(ctx)), move |e| sink.0.borrow_mut().push(e));
    engine.send(Command::LoadBytes { lane: 0, name: "llama-q8_0.gguf".into(), bytes: LLAMA.to_vec() });
    engine.send(Command::LoadBytes { lane: 1, name: "broken.gguf".into(), bytes: LLAMA[..1000].to_vec() });
    log.until(60, "Ready", |e| e.iter().any(|e| matches!(e, Event::Ready { lane: 0, .. }))).await;
    let broken = log.0.borrow().iter().find_map(|e| {
        if let Event::Error { lane: 1, message } = e {
            Some(message.clone())
        } else {
            None
        }
    });
    assert!(broken.as_deref().is_some_and(|m| m.contains("broken.gguf") && m.contains("GGUF")), "{broken:?}");
    engine.send(Command::Start(greedy(2)));
    engine.send(Command::Filler { text: FILLER.into() });
    engine.send(Command::Extend { context: 256 });
    log.until(240, "Stopped", |e| e.iter().any(|e| matches!(e, Event::Stopped { .. }))).await;
    let (reason, context) = log
        .0
        .borrow()
        .iter()
        .find_map(
            |e| if let Event::Stopped { reason, context, .. } = e { Some((reason.clone(), *context)) } else { None },
        )
        .unwrap();
    assert_eq!(context, 96, "{reason}");
    assert!(reason.contains("96"), "the message names how many tokens fit: {reason}");
}

#[wasm_bindgen_test]
async fn a_lost_device_fails_every_gpu_lane_with_a_message() {
    let ctx = Rc::new(GpuContext::new().await.expect("Chromium's WebGPU (SwiftShader)"));
    let log = Log::default();
    let sink = log.clone();
    let engine = engine::spawn(Some(ctx.clone()), move |e| sink.0.borrow_mut().push(e));
    engine.send(Command::LoadBytes { lane: 0, name: "llama-q8_0.gguf".into(), bytes: LLAMA.to_vec() });
    engine.send(Command::LoadBytes { lane: 1, name: "jamba-q8_0.gguf".into(), bytes: JAMBA.to_vec() });
    log.until(60, "Ready", |e| e.iter().filter(|e| matches!(e, Event::Ready { .. })).count() == 2).await;
    engine.send(Command::Start(greedy(500)));
    log.until(60, "text", |e| e.iter().any(|e| matches!(e, Event::Speed { .. }))).await;
    ctx.device.destroy();
    log.until(60, "both lanes failing", |e| e.iter().filter(|e| matches!(e, Event::Error { .. })).count() >= 2).await;
    let events = log.take();
    for lane in [0, 1] {
        let message = events.iter().find_map(|e| match e {
            Event::Error { lane: l, message } if *l == lane => Some(message.clone()),
            _ => None,
        });
        assert!(message.as_deref().is_some_and(|m| m.to_lowercase().contains("lost")), "lane {lane}: {message:?}");
    }
}

/// A Start or Extend that gives no lane work (here: a context the lane is already past) still ends in
/// `Idle`, so a page or widget waiting for the run never waits forever.
#[wasm_bindgen_test]
async fn a_command_with_nothing_to_do_still_ends_idle() {
    let log = Log::default();
    let sink = log.clone();
    let engine = engine::spawn(None, move |e| sink.0.borrow_mut().push(e));
    engine.send(Command::LoadBytes { lane: 0, name: "llama-q8_0.gguf".into(), bytes: LLAMA.to_vec() });
    log.until(60, "Ready", |e| e.iter().any(|e| matches!(e, Event::Ready { .. }))).await;
    engine.send(Command::Start(greedy(3)));
    log.until(60, "Idle after the race", |e| e.last() == Some(&Event::Idle)).await;
    let idles = |e: &[Event]| e.iter().filter(|e| **e == Event::Idle).count();
    let before = idles(&log.take());
    assert_eq!(before, 1);
    engine.send(Command::Filler { text: FILLER.into() });
    engine.send(Command::Extend { context: 2 });
    log.until(10, "Idle after an extension to a context already passed", |e| idles(e) == 1).await;
    let events = log.take();
    assert!(!events.iter().any(|e| matches!(e, Event::Point { .. } | Event::Progress { .. })), "{events:?}");
}

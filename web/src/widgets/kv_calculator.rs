//! `<archrace-kv-calculator>`: parameters (total and active), weights, the KV cache by context and KV
//! type, and the recurrent state, for a published model (its `config.json`), a bundled demo model, a pasted
//! `config.json` or a GGUF URL (its header only, by range requests). Pure arithmetic from
//! `archrace_model::calc`: no GPU. With the presets it reproduces the Jamba paper's Table 1.

use super::model_header::model_header;
use super::WidgetOptions;
use crate::chart::{fmt_bytes, fmt_tokens};
use crate::engine::ModelSource;
use archrace_model::calc::{spec_params, state_bytes};
use archrace_model::presets::{preset, KvFormat, PRESETS, TABLE1_CONTEXT};
use archrace_model::{Mixer, ModelSpec};
use leptos::prelude::*;

/// A model the calculator describes.
#[derive(Clone, Debug, PartialEq)]
struct Described {
    label: String,
    spec: ModelSpec,
    /// (total, active), when known (RWKV configs are counted only from a GGUF).
    params: Option<(u128, u128)>,
    /// Bytes of the weights as stored (a GGUF only).
    weight_bytes: Option<u64>,
}

impl Described {
    fn from_config(label: &str, text: &str) -> Result<Self, String> {
        let spec = ModelSpec::from_hf_config(text).map_err(|e| e.to_string())?;
        Ok(Self { label: label.to_string(), params: spec_params(&spec), weight_bytes: None, spec })
    }
}

/// Where the calculator's model comes from (the picker's value).
#[derive(Clone, Debug, PartialEq)]
enum Pick {
    Preset(&'static str),
    Bundled(&'static str),
    Config,
    Url,
}

impl Pick {
    fn value(&self) -> String {
        match self {
            Pick::Preset(id) => format!("preset:{id}"),
            Pick::Bundled(id) => format!("bundled:{id}"),
            Pick::Config => "config".into(),
            Pick::Url => "url".into(),
        }
    }

    fn parse(value: &str) -> Self {
        if let Some(p) = value.strip_prefix("preset:").and_then(preset) {
            return Pick::Preset(p.id);
        }
        if let Some(b) = value.strip_prefix("bundled:").and_then(crate::models::bundled) {
            return Pick::Bundled(b.id);
        }
        if let Some(p) = preset(value) {
            return Pick::Preset(p.id);
        }
        if let Some(b) = crate::models::bundled(value) {
            return Pick::Bundled(b.id);
        }
        match value {
            "config" => Pick::Config,
            "url" => Pick::Url,
            _ => Pick::Preset(PRESETS[3].id),
        }
    }
}

/// Bytes, saturating at what u64 holds (a context of 2^40 tokens of a large model).
fn bytes(v: u128) -> String {
    match u64::try_from(v) {
        Ok(v) => fmt_bytes(v),
        Err(_) => "more than 16 EiB".into(),
    }
}

/// Parameters as people write them: 6.74B, 2.2M.
fn fmt_count(n: u128) -> String {
    let n = n as f64;
    if n >= 1e9 {
        format!("{:.2}B", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.2}M", n / 1e6)
    } else {
        format!("{:.1}K", n / 1e3)
    }
}

/// The Jamba paper's Table 1, computed from the presets' configs beside the paper's figures.
#[component]
fn TableOne() -> impl IntoView {
    let rows = PRESETS
        .iter()
        .filter_map(|p| {
            let paper = p.table1_kv_gb?;
            let spec = p.spec().ok()?;
            let ours = KvFormat::F16.kv_cache_bytes(&spec, TABLE1_CONTEXT);
            let gb = ours as f64 / (1u64 << 30) as f64;
            let agrees = ours == (paper as u128) << 30;
            Some(view! {
                <tr data-testid="table1-row" data-model=p.id data-agrees=agrees.to_string()>
                    <th scope="row">{p.label}</th>
                    <td data-testid="table1-ours">{format!("{gb:.0} GB")}</td>
                    <td>{format!("{paper} GB")}</td>
                    <td>{if agrees { "✓ same" } else { "✗ differs" }}</td>
                </tr>
            })
        })
        .collect_view();
    view! {
        <table class="calc-table" data-testid="table1">
            <caption>
                "KV cache at 256K tokens, 16-bit, computed here from each model's config.json, beside Table 1 of the "
                "Jamba paper (Lieber et al., 2024). GB are 2^30 bytes, as the paper counts them."
            </caption>
            <thead><tr><th scope="col">"Model"</th><th scope="col">"archrace"</th><th scope="col">"Paper"</th><th scope="col">""</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

/// The calculator.
#[component]
pub fn KvCalculator(
    /// `preset` picks the first model.
    options: WidgetOptions,
) -> impl IntoView {
    let pick = RwSignal::new(Pick::parse(options.preset.as_deref().unwrap_or("jamba-v0.1")));
    let context = RwSignal::new(TABLE1_CONTEXT);
    let format = RwSignal::new(KvFormat::F16);
    let config_text = RwSignal::new(String::new());
    let url_text = RwSignal::new(String::new());
    // What the picked model is, once known; `generation` drops a slow header that a newer pick replaced.
    let described = RwSignal::new(None::<Result<Described, String>>);
    let generation = StoredValue::new(0u64);
    let describe = move |p: Pick| {
        generation.update_value(|g| *g += 1);
        let mine = generation.get_value();
        let header = |source: ModelSource| {
            described.set(None);
            leptos::task::spawn_local(async move {
                let got = model_header(&source).await.map(|h| Described {
                    label: h.name,
                    params: Some((h.report.params_total as u128, h.report.params_active as u128)),
                    weight_bytes: Some(h.report.weight_bytes),
                    spec: h.spec,
                });
                if generation.get_value() == mine {
                    described.set(Some(got));
                }
            });
        };
        match p {
            Pick::Preset(id) => described.set(Some(match preset(id) {
                Some(p) => Described::from_config(p.label, p.config),
                None => Err(format!("there is no preset called {id:?}")),
            })),
            Pick::Bundled(id) => header(ModelSource::Bundled(id.into())),
            Pick::Config => match config_text.get_untracked().trim() {
                "" => described.set(Some(Err("paste a config.json above".into()))),
                text => described.set(Some(Described::from_config("pasted config.json", text))),
            },
            Pick::Url => match url_text.get_untracked().trim() {
                "" => described
                    .set(Some(Err("give a GGUF URL above (its server must allow this page to read it)".into()))),
                url => header(ModelSource::Url(url.to_string())),
            },
        }
    };
    Effect::new(move |_| describe(pick.get()));

    let options_view = PRESETS
        .iter()
        .map(|p| view! { <option value=Pick::Preset(p.id).value()>{format!("{} ({})", p.label, p.repo)}</option> })
        .chain(crate::models::all().map(|b| {
            view! { <option value=Pick::Bundled(b.id).value()>{format!("archrace demo: {}", b.label)}</option> }
        }))
        .collect_view();

    let figures = move || {
        described.get().map(|d| match d {
            Err(e) => view! { <p class="error" role="alert" data-testid="calc-error">{e}</p> }.into_any(),
            Ok(d) => {
                let n = context.get();
                let f = format.get();
                let kv = f.kv_cache_bytes(&d.spec, n);
                let per_token = f.kv_cache_bytes(&d.spec, 1);
                let state = state_bytes(&d.spec) as u128;
                let attn = d.spec.layers.iter().filter(|l| matches!(l.mixer, Mixer::Attention(_))).count();
                let params = match d.params {
                    Some((t, a)) if t == a => fmt_count(t),
                    Some((t, a)) => format!("{} total, {} active per token", fmt_count(t), fmt_count(a)),
                    None => "counted from a GGUF only".into(),
                };
                let weights = d.weight_bytes.map(|w| w as u128);
                let total = weights.unwrap_or(0) + kv + state;
                view! {
                    <table class="calc-table" data-testid="calc-figures">
                        <caption>{format!("{} at {} tokens, KV cache in {}", d.label, fmt_tokens(n as f64), f.name())}</caption>
                        <tbody>
                            <tr><th scope="row">"Parameters"</th><td data-testid="calc-params">{params}</td></tr>
                            <tr><th scope="row">"Layers"</th><td>{format!("{} ({attn} with attention)", d.spec.layers.len())}</td></tr>
                            <tr><th scope="row">"Weights"</th><td>{weights.map(bytes).unwrap_or_else(|| "as stored in a GGUF (a config does not say)".into())}</td></tr>
                            <tr><th scope="row">"KV cache per token"</th><td data-testid="calc-kv-per-token">{bytes(per_token)}</td></tr>
                            <tr><th scope="row">{format!("KV cache at {}", fmt_tokens(n as f64))}</th><td data-testid="calc-kv">{bytes(kv)}</td></tr>
                            <tr><th scope="row">"Recurrent state"</th><td data-testid="calc-state">{bytes(state)}{(state > 0).then_some(" (f32, whatever the context)")}</td></tr>
                            <tr><th scope="row">"Together"</th><td data-testid="calc-total">{bytes(total)}{weights.is_none().then_some(" without the weights")}</td></tr>
                        </tbody>
                    </table>
                }
                .into_any()
            }
        })
    };

    view! {
        <section class="widget calc card" aria-label="KV cache calculator" data-testid="kv-calculator">
            <h3>"KV cache calculator"</h3>
            <div class="fields">
                <label class="field wide">
                    <span>"Model"</span>
                    <select data-testid="calc-model" prop:value=move || pick.get().value()
                        on:change=move |ev| pick.set(Pick::parse(&event_target_value(&ev)))>
                        {options_view}
                        <option value="config">"Paste a config.json…"</option>
                        <option value="url">"A GGUF URL (header only)…"</option>
                    </select>
                </label>
                <label class="field">
                    <span>"Context (tokens)"</span>
                    <input type="number" min="1" max="1099511627776" step="1" data-testid="calc-context"
                        prop:value=move || context.get().to_string()
                        on:change=move |ev| {
                            if let Ok(v) = event_target_value(&ev).trim().parse::<u64>() {
                                context.set(v.clamp(1, 1 << 40))
                            }
                        }/>
                </label>
                <label class="field">
                    <span>"KV type"</span>
                    <select data-testid="calc-kv-type" prop:value=move || format.get().name()
                        on:change=move |ev| {
                            if let Some(f) = KvFormat::parse(&event_target_value(&ev)) {
                                format.set(f)
                            }
                        }>
                        {KvFormat::ALL.map(|f| view! { <option value=f.name()>{f.name()}</option> }).collect_view()}
                    </select>
                </label>
            </div>
            <Show when=move || pick.get() == Pick::Config>
                <label class="field wide">
                    <span>"config.json (Hugging Face: llama, mistral, mixtral, mamba, jamba)"</span>
                    <textarea rows="6" data-testid="calc-config" prop:value=move || config_text.get()
                        on:change=move |ev| { config_text.set(event_target_value(&ev)); describe(Pick::Config) }></textarea>
                </label>
            </Show>
            <Show when=move || pick.get() == Pick::Url>
                <label class="field wide">
                    <span>"GGUF URL (only its header is read, with range requests)"</span>
                    <input type="url" data-testid="calc-url" prop:value=move || url_text.get()
                        on:change=move |ev| { url_text.set(event_target_value(&ev)); describe(Pick::Url) }/>
                </label>
            </Show>
            <div aria-live="polite">
                {move || if described.with(Option::is_none) { Some(view! { <p class="muted">"reading the header…"</p> }) } else { None }}
                {figures}
            </div>
            <TableOne/>
        </section>
    }
}

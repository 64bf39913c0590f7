//! A lane's model picker: a bundled model, a GGUF by URL, or a file from disk (picker or drag-and-drop).

use crate::engine::fetch::MAX_MODEL_BYTES;
use crate::engine::{Command, ModelSource};
use crate::models;
use crate::race_state::{EngineCtx, LaneModel, LaneSource};
use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// Replaces the lane's model: clears what it showed and asks the engine to load.
fn load(lane: LaneModel, engine: Option<crate::engine::EngineHandle>, source: LaneSource, command: Command) {
    lane.source.set(source);
    lane.info.set(None);
    lane.error.set(None);
    lane.memory.set(None);
    lane.clear_run();
    match engine {
        Some(e) => e.send(command),
        None => lane.error.set(Some("the engine is not ready yet: wait for the device check".into())),
    }
}

/// Reads a picked or dropped file and loads it into the lane.
fn load_file(lane: LaneModel, engine: Option<crate::engine::EngineHandle>, file: web_sys::File) {
    let name = file.name();
    if file.size() > MAX_MODEL_BYTES as f64 {
        lane.error.set(Some(format!(
            "{name} is {} MiB; a lane takes at most {} MiB",
            file.size() as u64 >> 20,
            MAX_MODEL_BYTES >> 20
        )));
        return;
    }
    leptos::task::spawn_local(async move {
        match wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await {
            Ok(buffer) => {
                let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
                let command = Command::LoadBytes { lane: lane.id, name: name.clone(), bytes };
                load(lane, engine, LaneSource::File(name), command);
            }
            Err(e) => lane.error.set(Some(format!("could not read {name}: {e:?}"))),
        }
    });
}

/// The picker. What it loads goes through the engine; the choice is mirrored into the URL by the app.
#[component]
pub fn ModelPicker(
    /// The lane it belongs to.
    lane: LaneModel,
) -> impl IntoView {
    let EngineCtx(engine) = expect_context::<EngineCtx>();
    let mode = RwSignal::new(match lane.source.get_untracked() {
        LaneSource::Linked(ModelSource::Bundled(id)) => id,
        LaneSource::Linked(ModelSource::Url(_)) => "url".to_string(),
        LaneSource::File(_) => "file".to_string(),
    });
    let url = RwSignal::new(match lane.source.get_untracked() {
        LaneSource::Linked(ModelSource::Url(u)) => u,
        _ => String::new(),
    });
    let load_linked = move |source: ModelSource| {
        let command = Command::Load { lane: lane.id, source: source.clone() };
        load(lane, engine.get_untracked(), LaneSource::Linked(source), command);
    };
    let on_select = move |ev: leptos::ev::Event| {
        let v = event_target_value(&ev);
        mode.set(v.clone());
        if models::bundled(&v).is_some() {
            load_linked(ModelSource::Bundled(v));
        }
    };
    let on_url = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let u = url.get_untracked().trim().to_string();
        if !u.is_empty() {
            load_linked(ModelSource::Url(u));
        }
    };
    let on_file = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        if let Some(file) = input.files().and_then(|f| f.get(0)) {
            load_file(lane, engine.get_untracked(), file);
        }
    };
    let dragging = RwSignal::new(false);
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        dragging.set(false);
        if let Some(file) = ev.data_transfer().and_then(|d| d.files()).and_then(|f| f.get(0)) {
            mode.set("file".into());
            load_file(lane, engine.get_untracked(), file);
        }
    };
    view! {
        <div class="picker" class:dragging=dragging
            on:dragover=move |ev: leptos::ev::DragEvent| { ev.prevent_default(); dragging.set(true); }
            on:dragleave=move |_| dragging.set(false)
            on:drop=on_drop>
            <label>
                <span class="visually-hidden">"Model"</span>
                <select data-testid="model-picker" on:change=on_select prop:value=move || mode.get()>
                    {models::all().map(|b| view! { <option value=b.id>{b.label}</option> }).collect_view()}
                    <option value="url">"GGUF from a URL…"</option>
                    <option value="file">"GGUF from this computer…"</option>
                </select>
            </label>
            <Show when=move || mode.get() == "url">
                <form class="url" on:submit=on_url>
                    <input type="url" placeholder="https://…/model.gguf" data-testid="model-url" required
                        prop:value=move || url.get() on:input=move |ev| url.set(event_target_value(&ev))/>
                    <button type="submit" data-testid="model-url-load">"Load"</button>
                </form>
            </Show>
            <Show when=move || mode.get() == "file">
                <input type="file" accept=".gguf" data-testid="model-file" on:change=on_file/>
                <span class="hint">"or drop a .gguf here"</span>
            </Show>
        </div>
    }
}

/// The element an event fired on, as `T`.
fn event_target<T: JsCast>(ev: &leptos::ev::Event) -> T {
    ev.target().expect("an input event has a target").unchecked_into()
}

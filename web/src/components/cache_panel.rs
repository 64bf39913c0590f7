//! Downloaded models kept in the browser (the Cache API): each with its size and when it was stored,
//! removable one by one or all at once.

use crate::chart::fmt_bytes;
use crate::engine::fetch::{list_cached, remove_cached, CachedModel};
use leptos::prelude::*;

/// The cache panel. It reads the cache when shown and after every removal.
#[component]
pub fn CachePanel() -> impl IntoView {
    let entries = RwSignal::new(None::<Result<Vec<CachedModel>, String>>);
    let refresh = move || leptos::task::spawn_local(async move { entries.set(Some(list_cached().await)) });
    let remove = move |url: Option<String>| {
        leptos::task::spawn_local(async move {
            if let Err(e) = remove_cached(url.as_deref()).await {
                entries.set(Some(Err(e)));
                return;
            }
            entries.set(Some(list_cached().await));
        })
    };
    refresh();
    view! {
        <section class="card" data-testid="cache-panel" aria-labelledby="cache-title">
            <h2 id="cache-title">"Downloaded models"</h2>
            <p class="muted">
                "Models loaded by URL stay in this browser, so a reload does not download them again. "
                "The bundled models are not kept here."
            </p>
            {move || match entries.get() {
                None => view! { <p class="status">"Reading the cache…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => {
                    view! { <p class="status" data-testid="cache-empty">"Nothing downloaded yet."</p> }.into_any()
                }
                Some(Ok(list)) => view! {
                    <table class="cache-list">
                        <thead><tr><th scope="col">"Model"</th><th scope="col">"Size"</th><th scope="col">"Stored"</th><th></th></tr></thead>
                        <tbody>
                            {list.into_iter().map(|m| {
                                let url = m.url.clone();
                                let name = m.url.rsplit('/').next().unwrap_or(&m.url).to_string();
                                view! {
                                    <tr data-testid="cache-entry" data-url=m.url.clone()>
                                        <td title=m.url.clone()>{name.clone()}</td>
                                        <td>{fmt_bytes(m.bytes)}</td>
                                        <td>{m.stored.get(..16).unwrap_or(&m.stored).replace('T', " ")}</td>
                                        <td>
                                            <button data-testid="cache-remove" aria-label=format!("Remove {name} from the cache")
                                                on:click=move |_| remove(Some(url.clone()))>"Remove"</button>
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                    <button data-testid="cache-clear" on:click=move |_| remove(None)>"Remove all"</button>
                }
                .into_any(),
            }}
            <button class="secondary" data-testid="cache-refresh" on:click=move |_| refresh()>"Refresh"</button>
        </section>
    }
}

//! The widgets in the browser: their attribute parsing, the embed snippets, a model described from its
//! header alone, and a calculator mounted into a shadow root reproducing the Jamba paper's Table 1.
#![cfg(target_arch = "wasm32")]

use archrace_web::components::embed_snippets;
use archrace_web::engine::ModelSource;
use archrace_web::url_state::{decode, default_race};
use archrace_web::widgets::layer_stack::layer_summary;
use archrace_web::widgets::memory_chart::{categories, chart_contexts};
use archrace_web::widgets::model_header::describe;
use archrace_web::widgets::{mount_widget, parse_counts, parse_models, WidgetKind, WidgetOptions};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const JAMBA: &[u8] = include_bytes!("../../public/models/jamba-q8_0.gguf");

#[wasm_bindgen_test]
fn model_lists_take_bundled_ids_and_urls() {
    let got = parse_models("llama, mamba-q4,url:https://x.org/m.gguf,https://y.org/a/b,nope");
    assert_eq!(got[0], Ok(ModelSource::Bundled("llama".into())));
    assert_eq!(got[1], Ok(ModelSource::Bundled("mamba-q4".into())));
    assert_eq!(got[2], Ok(ModelSource::Url("https://x.org/m.gguf".into())));
    assert_eq!(got[3], Ok(ModelSource::Url("https://y.org/a/b".into())));
    assert_eq!(got.len(), 4, "at most four lanes");
    assert!(parse_models("nope")[0].as_ref().unwrap_err().contains("\"nope\""));
    assert_eq!(parse_counts("256, 4096,x,0,99999999", 1 << 20), [256, 4096]);
    assert!(parse_counts("", 10).is_empty());
    assert_eq!(WidgetKind::parse("kv-calculator"), Some(WidgetKind::KvCalculator));
    assert_eq!(WidgetKind::parse("app"), None);
}

#[wasm_bindgen_test]
fn embed_snippets_carry_the_race() {
    let mut run = default_race().run;
    run.prompt = "To be, \"or\" <not> & so".into();
    run.max_new_tokens = 48;
    let sources = [ModelSource::Bundled("llama".into()), ModelSource::Url("https://h.org/m.gguf".into())];
    let (element, iframe) = embed_snippets("https://site.org/archrace/", &sources, &run, &[256, 1024]);
    assert!(element.starts_with("<script type=\"module\" src=\"https://site.org/archrace/archrace.js\"></script>"));
    assert!(element.contains("models=\"llama,https://h.org/m.gguf\" context=\"256,1024\" tokens=\"48\""), "{element}");
    assert!(element.contains("prompt=\"To be, &quot;or&quot; &lt;not&gt; &amp; so\""), "{element}");
    // The iframe's query gives the same race back.
    let src = iframe.split("src=\"").nth(1).unwrap().split('"').next().unwrap().replace("&amp;", "&");
    let query = src.split_once('?').unwrap().1;
    let get = |k: &str| query.split('&').find_map(|p| p.strip_prefix(&format!("{k}="))).and_then(decode).unwrap();
    assert_eq!(get("widget"), "race");
    assert_eq!(parse_models(&get("models")), sources.iter().cloned().map(Ok).collect::<Vec<_>>());
    assert_eq!(get("context"), "256,1024");
    assert_eq!(get("prompt"), run.prompt);
}

#[wasm_bindgen_test]
fn a_header_alone_describes_the_model() {
    let g = archrace_gguf::Gguf::parse(JAMBA).unwrap();
    let head = &JAMBA[..g.data_offset as usize];
    let h = describe("x/jamba.gguf", head, JAMBA.len() as u64).unwrap();
    assert_eq!(layer_summary(&h), "8 layers: 1 attention, 7 Mamba, 4 with a mixture of experts (top-2 of 16)");
    assert!(h.report.params_active < h.report.params_total);
    assert_eq!(h.report.weight_bytes, g.tensors.iter().map(|t| t.size).sum::<u64>());
    // Only the attention layer's KV grows with the context.
    let [w, kv, s, _] = categories(&h, 1024);
    assert_eq!((w, kv), (h.report.weight_bytes, 1024 * h.report.kv_bytes_per_token));
    assert!(s > 0 && kv > 0);
    assert_eq!(chart_contexts(1000), [64, 128, 256, 512]);
    // A head cut inside the header is named, not guessed.
    let e = describe("x/jamba.gguf", &head[..head.len() / 2], JAMBA.len() as u64).unwrap_err();
    assert!(e.contains("x/jamba.gguf") && e.contains("truncated"), "{e}");
}

async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window().unwrap().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms).unwrap();
    });
    wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
}

#[wasm_bindgen_test]
async fn calculator_mounts_in_its_own_shadow_root() {
    let document = web_sys::window().unwrap().document().unwrap();
    let host = document.create_element("archrace-test-host").unwrap();
    document.body().unwrap().append_child(&host).unwrap();
    let before = document.query_selector_all("style").unwrap().length();
    let options =
        WidgetOptions { widget: "kv-calculator".into(), preset: Some("mistral-7b".into()), ..Default::default() };
    mount_widget(host.clone(), options).unwrap();
    sleep_ms(50).await;
    let root = host.shadow_root().expect("a shadow root");
    let rows = root.query_selector_all("[data-testid=table1-row]").unwrap();
    assert_eq!(rows.length(), 4);
    for i in 0..rows.length() {
        let row: web_sys::Element = rows.get(i).unwrap().unchecked_into();
        assert_eq!(row.get_attribute("data-agrees").as_deref(), Some("true"));
    }
    let kv = root.query_selector("[data-testid=calc-kv]").unwrap().unwrap().text_content().unwrap();
    assert_eq!(kv, "32.0 GiB", "Mistral 7B at 256K in f16");
    assert_eq!(document.query_selector_all("style").unwrap().length(), before, "no style reaches the host page");
    let e = mount_widget(host, WidgetOptions { widget: "nope".into(), ..Default::default() }).unwrap_err();
    assert!(e.contains("\"nope\""));
}

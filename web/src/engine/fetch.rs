//! Getting a GGUF over HTTP: streamed with progress, size-checked before it is held, cached in the
//! browser's Cache API so a reload does not download it again, and every failure said plainly.

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// The largest model a lane takes (wasm32 has 4 GiB of memory, and the CPU fallback keeps the bytes).
pub const MAX_MODEL_BYTES: u64 = 1536 << 20;
/// The Cache API bucket for downloaded models.
const CACHE_NAME: &str = "archrace-models-v1";

/// The host of `url` when it lies on another site than this page (another origin): a shared link's model
/// from there is only fetched after the reader agrees. `None` for this page's own origin (the bundled
/// models) and for a URL the browser cannot parse (the download then fails with its own message).
pub fn foreign_host(url: &str) -> Option<String> {
    let location = web_sys::window()?.location();
    let parsed = web_sys::Url::new_with_base(url, &location.href().ok()?).ok()?;
    // A URL without a host (`data:`, `blob:`) is named by its scheme.
    (parsed.origin() != location.origin().ok()?)
        .then(|| Some(parsed.host()).filter(|h| !h.is_empty()).unwrap_or(parsed.protocol()))
}

/// The size a server gives for `url` (a HEAD request's Content-Length), without downloading it.
pub async fn remote_size(url: &str) -> Option<u64> {
    let init = web_sys::RequestInit::new();
    init.set_method("HEAD");
    let response = request(url, &init).await.ok()?;
    response.headers().get("content-length").ok().flatten()?.parse().ok()
}

/// Fetches `url`, calling `progress(done, total)` as bytes arrive. `cache` keeps (and reuses) a copy; a
/// cached copy that no longer parses as GGUF is dropped, said through `notice`, and downloaded again.
/// `abort` cancels the download.
pub async fn fetch_model(
    url: &str,
    cache: bool,
    abort: &web_sys::AbortSignal,
    progress: &dyn Fn(u64, Option<u64>),
    notice: &dyn Fn(String),
) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let bucket = if cache { open_cache(&window).await } else { None };
    if let Some(bucket) = &bucket {
        if let Some(bytes) = cached(bucket, url).await {
            match archrace_gguf::Gguf::parse(&bytes) {
                Ok(_) => {
                    progress(bytes.len() as u64, Some(bytes.len() as u64));
                    return Ok(bytes);
                }
                Err(e) => {
                    let _ = JsFuture::from(bucket.delete_with_str(url)).await;
                    notice(format!("the cached copy of {url} no longer parses ({e}): dropped it, downloading again"));
                }
            }
        }
    }
    let init = web_sys::RequestInit::new();
    init.set_signal(Some(abort));
    let response = request(url, &init).await?;
    let total = response.headers().get("content-length").ok().flatten().and_then(|v| v.parse::<u64>().ok());
    if let Some(t) = total {
        if t > MAX_MODEL_BYTES {
            return Err(too_large(url, t, MAX_MODEL_BYTES));
        }
    }
    let bytes = read_body(&response, url, total, progress, MAX_MODEL_BYTES).await?;
    if let Some(bucket) = &bucket {
        store(bucket, url, &bytes).await;
    }
    Ok(bytes)
}

/// The first read of a header: most GGUF headers (metadata and tensor infos) fit; one with a large
/// vocabulary takes a few MiB and a few doublings.
const HEADER_FIRST_READ: u64 = 256 << 10;
/// The most a header may take before the reader gives up (a 256K-token vocabulary with merges is ~20 MiB).
pub const MAX_HEADER_BYTES: u64 = 64 << 20;

/// A GGUF's header, read with HTTP range requests (the first 256 KiB, doubling while the header runs
/// on), without downloading the weights: its head and the whole file's length, for
/// [`archrace_gguf::Gguf::parse_header`]. A server that ignores `Range` sends the whole file, which is
/// taken only up to [`MAX_MODEL_BYTES`].
pub async fn fetch_header(url: &str) -> Result<(Vec<u8>, u64), String> {
    let mut want = HEADER_FIRST_READ;
    loop {
        let headers = web_sys::Headers::new().map_err(|e| describe(&e))?;
        headers.set("range", &format!("bytes=0-{}", want - 1)).map_err(|e| describe(&e))?;
        let init = web_sys::RequestInit::new();
        init.set_headers(&headers);
        let response = request(url, &init).await?;
        let header = |name: &str| response.headers().get(name).ok().flatten();
        // `Content-Range: bytes 0-N/TOTAL` on a 206; the whole file's Content-Length on a 200.
        let partial = response.status() == 206;
        let file_len = match (partial, header("content-range"), header("content-length")) {
            (true, Some(range), _) => range.rsplit('/').next().and_then(|t| t.trim().parse::<u64>().ok()),
            (false, _, Some(len)) => len.parse::<u64>().ok(),
            _ => None,
        };
        if !partial && file_len.is_some_and(|t| t > MAX_MODEL_BYTES) {
            return Err(format!(
                "{url}: the server ignored the range request and would send all {} MiB; archrace reads a \
                 header from servers that answer range requests (HTTP 206)",
                file_len.unwrap_or(0) >> 20
            ));
        }
        let head = read_body(&response, url, None, &|_, _| {}, MAX_MODEL_BYTES).await?;
        // A 206 from another site whose Content-Range the page may not read (no Access-Control-Expose-
        // Headers): the file's length is unknown, so no tensor is refused for lying past it.
        let file_len = match file_len {
            Some(len) => len.max(head.len() as u64),
            None if partial => u64::MAX,
            None => head.len() as u64,
        };
        match archrace_gguf::Gguf::parse_header(&head, file_len) {
            Err(archrace_gguf::GgufError::Truncated { .. })
                if partial && want < MAX_HEADER_BYTES && want < file_len =>
            {
                want = (want * 2).min(MAX_HEADER_BYTES);
            }
            Err(e) => return Err(format!("{url}: {e}")),
            Ok(_) => return Ok((head, file_len)),
        }
    }
}

/// A small text file of the site (the filler text), read whole.
pub async fn fetch_text(url: &str) -> Result<String, String> {
    let response = request(url, &web_sys::RequestInit::new()).await?;
    let text = JsFuture::from(response.text().map_err(|e| describe(&e))?).await.map_err(|e| describe(&e))?;
    text.as_string().ok_or_else(|| format!("{url} is not text"))
}

/// The response to a request for `url`, when it is a success (2xx); otherwise the failure in words: the
/// network or CORS, or the HTTP status.
async fn request(url: &str, init: &web_sys::RequestInit) -> Result<web_sys::Response, String> {
    let window = web_sys::window().ok_or("no window")?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str_and_init(url, init))
        .await
        .map_err(|e| {
            format!(
                "could not fetch {url}: the network failed, or the server does not allow this page to read \
                 it (it must send Access-Control-Allow-Origin). Browser said: {}",
                describe(&e)
            )
        })?
        .dyn_into()
        .map_err(|_| "fetch gave something that is not a Response".to_string())?;
    if !response.ok() {
        return Err(format!("{url}: HTTP {} {}", response.status(), response.status_text()));
    }
    Ok(response)
}

/// Reads the body chunk by chunk, refusing to pass `cap` bytes ([`MAX_MODEL_BYTES`] for a model): a body
/// whose length the server does not give (or gives wrongly) is cut off at the chunk that would pass it,
/// so no more than `cap` bytes are ever held.
pub async fn read_body(
    response: &web_sys::Response,
    url: &str,
    total: Option<u64>,
    progress: &dyn Fn(u64, Option<u64>),
    cap: u64,
) -> Result<Vec<u8>, String> {
    let body = response.body().ok_or_else(|| format!("{url}: the response has no body"))?;
    let reader: web_sys::ReadableStreamDefaultReader =
        body.get_reader().dyn_into().map_err(|_| "the body gave no default reader".to_string())?;
    let mut bytes = Vec::with_capacity(total.unwrap_or(0).min(cap) as usize);
    loop {
        let chunk = JsFuture::from(reader.read())
            .await
            .map_err(|e| format!("{url}: the download broke off after {} bytes: {}", bytes.len(), describe(&e)))?;
        if Reflect::get(&chunk, &"done".into()).ok().and_then(|d| d.as_bool()).unwrap_or(true) {
            break;
        }
        let value: Uint8Array = Reflect::get(&chunk, &"value".into())
            .ok()
            .and_then(|v| v.dyn_into().ok())
            .ok_or_else(|| format!("{url}: a body chunk was not bytes"))?;
        if bytes.len() as u64 + value.length() as u64 > cap {
            let _ = reader.cancel();
            return Err(too_large(url, bytes.len() as u64 + value.length() as u64, cap));
        }
        let at = bytes.len();
        bytes.resize(at + value.length() as usize, 0);
        value.copy_to(&mut bytes[at..]);
        progress(bytes.len() as u64, total);
    }
    Ok(bytes)
}

fn too_large(url: &str, bytes: u64, cap: u64) -> String {
    format!("{url} is {} MiB; a lane takes at most {} MiB", bytes >> 20, cap >> 20)
}

/// The browser's words for a rejected promise.
fn describe(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

async fn open_cache(window: &web_sys::Window) -> Option<web_sys::Cache> {
    let storage = window.caches().ok()?;
    JsFuture::from(storage.open(CACHE_NAME)).await.ok()?.dyn_into().ok()
}

async fn cached(bucket: &web_sys::Cache, url: &str) -> Option<Vec<u8>> {
    let hit = JsFuture::from(bucket.match_with_str(url)).await.ok()?;
    let response: web_sys::Response = hit.dyn_into().ok()?;
    let buffer = JsFuture::from(response.array_buffer().ok()?).await.ok()?;
    Some(Uint8Array::new(&buffer).to_vec())
}

/// The header that records when a copy was stored.
const STORED_HEADER: &str = "x-archrace-stored";

/// Keeps a copy, with its size and the time it was stored; a full quota only costs the next visit a
/// download.
async fn store(bucket: &web_sys::Cache, url: &str, bytes: &[u8]) {
    let Ok(headers) = web_sys::Headers::new() else { return };
    let _ = headers.set("content-length", &bytes.len().to_string());
    let _ = headers.set(STORED_HEADER, &String::from(js_sys::Date::new_0().to_iso_string()));
    let init = web_sys::ResponseInit::new();
    init.set_headers(&headers);
    let Ok(response) = web_sys::Response::new_with_opt_u8_array_and_init(Some(&mut bytes.to_vec()), &init) else {
        return;
    };
    let _ = JsFuture::from(bucket.put_with_str(url, &response)).await;
}

/// A model in the browser's cache.
#[derive(Clone, Debug, PartialEq)]
pub struct CachedModel {
    /// Where it was downloaded from.
    pub url: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// When it was stored (ISO 8601), empty for a copy stored before the time was recorded.
    pub stored: String,
}

/// Every cached model, in the cache's order.
pub async fn list_cached() -> Result<Vec<CachedModel>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let bucket = open_cache(&window).await.ok_or("this browser gives the page no Cache API")?;
    let requests: js_sys::Array = JsFuture::from(bucket.keys())
        .await
        .map_err(|e| format!("cannot list the cache: {}", describe(&e)))?
        .dyn_into()
        .map_err(|_| "the cache's keys are not a list".to_string())?;
    let mut out = Vec::new();
    for request in requests.iter() {
        let Ok(request) = request.dyn_into::<web_sys::Request>() else { continue };
        let url = request.url();
        let Ok(hit) = JsFuture::from(bucket.match_with_request(&request)).await else { continue };
        let Ok(response) = hit.dyn_into::<web_sys::Response>() else { continue };
        let header = |name: &str| response.headers().get(name).ok().flatten();
        let bytes = match header("content-length").and_then(|v| v.parse().ok()) {
            Some(n) => n,
            // An entry without the header: measure it.
            None => match response.array_buffer().map(JsFuture::from) {
                Ok(f) => f.await.map(|b| js_sys::ArrayBuffer::from(b).byte_length() as u64).unwrap_or(0),
                Err(_) => 0,
            },
        };
        out.push(CachedModel { url, bytes, stored: header(STORED_HEADER).unwrap_or_default() });
    }
    Ok(out)
}

/// Removes one cached model (`Some(url)`) or all of them (`None`).
pub async fn remove_cached(url: Option<&str>) -> Result<(), String> {
    let window = web_sys::window().ok_or("no window")?;
    let result = match url {
        Some(url) => {
            let bucket = open_cache(&window).await.ok_or("this browser gives the page no Cache API")?;
            JsFuture::from(bucket.delete_with_str(url)).await
        }
        None => {
            let storage = window.caches().map_err(|e| describe(&e))?;
            JsFuture::from(storage.delete(CACHE_NAME)).await
        }
    };
    result.map(|_| ()).map_err(|e| format!("cannot remove from the cache: {}", describe(&e)))
}

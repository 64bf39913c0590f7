//! The race's settings as a URL query, so a race can be shared as a link:
//! `?lanes=llama,mamba,url:https%3A%2F%2Fexample.org%2Fm.gguf&prompt=...&n=32&temp=0.8&topk=40&topp=0.95&seed=1`,
//! plus `&kvkib=N` when the race sets a KV cache budget per lane (in KiB), and `&kv=f32` when GPU lanes keep
//! an f32 KV cache instead of f16, and `&gpumib=N` when the race plays a GPU with N MiB of memory (every
//! model and state on the device together; past it a lane fails as on a full device).
//! Unknown keys are ignored and bad values fall back to the defaults, so any link opens a working page.

use crate::engine::{ModelSource, RunSettings};
use crate::models::DEFAULT_RACE;

/// Most lanes on the page.
pub const MAX_LANES: usize = 4;

/// Everything the URL carries.
#[derive(Clone, Debug, PartialEq)]
pub struct RaceSettings {
    /// One model source per lane (1..=4). A local file cannot be linked: its lane falls back to the
    /// first bundled model in the link.
    pub lanes: Vec<ModelSource>,
    /// Prompt, length and sampling.
    pub run: RunSettings,
    /// Bytes of GPU memory the race may use on the device (`None`: the device decides).
    pub gpu_budget: Option<u64>,
}

impl Default for RaceSettings {
    fn default() -> Self {
        Self {
            lanes: DEFAULT_RACE.iter().map(|b| ModelSource::Bundled(b.id.into())).collect(),
            run: RunSettings {
                prompt: "Shall I compare thee to a summer's day?".into(),
                max_new_tokens: 32,
                temperature: 0.8,
                top_k: 40,
                top_p: 0.95,
                seed: 1,
                kv_budget: None,
                kv_f16: true,
            },
            gpu_budget: None,
        }
    }
}

impl RaceSettings {
    /// The query string (without `?`).
    pub fn to_query(&self) -> String {
        let lanes: Vec<String> = self
            .lanes
            .iter()
            .map(|s| match s {
                ModelSource::Bundled(id) => encode(id),
                ModelSource::Url(u) => format!("url:{}", encode(u)),
            })
            .collect();
        let r = &self.run;
        let mut budget = r.kv_budget.map(|b| format!("&kvkib={}", b / 1024)).unwrap_or_default();
        if !r.kv_f16 {
            budget.push_str("&kv=f32");
        }
        if let Some(b) = self.gpu_budget {
            budget.push_str(&format!("&gpumib={}", b >> 20));
        }
        format!(
            "lanes={}&prompt={}&n={}&temp={}&topk={}&topp={}&seed={}{budget}",
            lanes.join(","),
            encode(&r.prompt),
            r.max_new_tokens,
            r.temperature,
            r.top_k,
            r.top_p,
            r.seed
        )
    }

    /// Reads a query string (with or without `?`); what is missing or malformed keeps its default.
    pub fn from_query(query: &str) -> Self {
        let mut s = Self::default();
        for pair in query.trim_start_matches('?').split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let r = &mut s.run;
            match key {
                "lanes" => {
                    let lanes: Vec<ModelSource> = value
                        .split(',')
                        .filter_map(|l| match l.strip_prefix("url:") {
                            Some(u) => decode(u).filter(|u| !u.is_empty()).map(ModelSource::Url),
                            None => {
                                decode(l).filter(|id| crate::models::bundled(id).is_some()).map(ModelSource::Bundled)
                            }
                        })
                        .take(MAX_LANES)
                        .collect();
                    if !lanes.is_empty() {
                        s.lanes = lanes;
                    }
                }
                "prompt" => r.prompt = decode(value).unwrap_or_else(|| r.prompt.clone()),
                "n" => set(&mut r.max_new_tokens, value, |v| (1..=4096).contains(v)),
                "temp" => set(&mut r.temperature, value, |v| (0.0..=5.0).contains(v)),
                "topk" => set(&mut r.top_k, value, |v| (1..=64).contains(v)),
                "topp" => set(&mut r.top_p, value, |v| *v > 0.0 && *v <= 1.0),
                "seed" => set(&mut r.seed, value, |_| true),
                "kvkib" => {
                    let mut kib = 0u64;
                    set(&mut kib, value, |v| (1..=1 << 30).contains(v));
                    r.kv_budget = (kib > 0).then_some(kib * 1024);
                }
                "kv" => r.kv_f16 = value != "f32",
                "gpumib" => {
                    let mut mib = 0u64;
                    set(&mut mib, value, |v| (1..=1 << 20).contains(v));
                    s.gpu_budget = (mib > 0).then_some(mib << 20);
                }
                _ => {}
            }
        }
        s
    }
}

/// Parses `value` into `slot` when it parses and `ok` accepts it.
fn set<T: std::str::FromStr>(slot: &mut T, value: &str, ok: impl Fn(&T) -> bool) {
    if let Some(v) = value.parse::<T>().ok().filter(|v| ok(v)) {
        *slot = v;
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Undoes [`encode`] (and `+` for a space, as forms write it); `None` for broken escapes or bad UTF-8.
pub fn decode(s: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(s.len());
    let mut it = s.bytes();
    while let Some(b) = it.next() {
        match b {
            b'%' => {
                let hex = [it.next()?, it.next()?];
                bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
            }
            b'+' => bytes.push(b' '),
            b => bytes.push(b),
        }
    }
    String::from_utf8(bytes).ok()
}

//! A race as a link: its lanes, prompt, sampling and budgets as a URL query, so a race can be shared:
//! `?lanes=llama,mamba,url:https%3A%2F%2Fexample.org%2Fm.gguf&prompt=...&n=32&temp=0.8&topk=40&topp=0.95&seed=1`,
//! plus `&kvkib=N` when the race sets a KV cache budget per lane (in KiB), `&kv=f32` when GPU lanes keep
//! an f32 KV cache instead of f16, and `&gpumib=N` when the race plays a GPU with N MiB of memory (every
//! model and state on the device together; past it a lane fails as on a full device).
//! Unknown keys are ignored and bad values fall back to the defaults, so any link opens a working page.
//! The page (`archrace-web`) supplies its defaults and its bundled models; the parser lives here, with no
//! browser in it, so it is fuzzed natively (`fuzz/`, target `race_link`).

use serde::{Deserialize, Serialize};

/// Most lanes in a race.
pub const MAX_LANES: usize = 4;

/// Where a lane's model comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ModelSource {
    /// One of the models bundled with the site (`public/models/<file>`), by its id.
    Bundled(String),
    /// A GGUF anywhere on the web (needs CORS); cached in the browser after the first download.
    Url(String),
}

/// Sampling and length settings of one race.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    /// The prompt every lane starts from.
    pub prompt: String,
    /// Tokens each lane generates.
    pub max_new_tokens: usize,
    /// 0 = greedy.
    pub temperature: f32,
    /// Keep the k most likely tokens (1..=64, the GPU sampler's limit).
    pub top_k: usize,
    /// Nucleus threshold (1 = off).
    pub top_p: f32,
    /// Seed of every lane's sampler.
    pub seed: u64,
    /// Most bytes each lane's KV cache may take (a smaller GPU's memory wall, made visible); `None`: the
    /// device's own limits.
    pub kv_budget: Option<u64>,
    /// GPU lanes keep their KV cache in f16 (half the bytes, as llama.cpp's default); `false`: f32. CPU
    /// lanes keep f32.
    #[serde(default = "yes")]
    pub kv_f16: bool,
}

fn yes() -> bool {
    true
}

impl Default for RunSettings {
    /// The page's race without a query: a sonnet's first line, 32 tokens, llama.cpp's usual sampling
    /// (temperature 0.8, top-k 40, top-p 0.95), seed 1, no KV budget, an f16 KV cache.
    fn default() -> Self {
        Self {
            prompt: "Shall I compare thee to a summer's day?".into(),
            max_new_tokens: 32,
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            seed: 1,
            kv_budget: None,
            kv_f16: true,
        }
    }
}

/// Everything a link carries.
#[derive(Clone, Debug, PartialEq)]
pub struct RaceSettings {
    /// One model source per lane (1..=[`MAX_LANES`]). A local file cannot be linked: its lane falls back
    /// to the first bundled model in the link.
    pub lanes: Vec<ModelSource>,
    /// Prompt, length and sampling.
    pub run: RunSettings,
    /// Bytes of GPU memory the race may use on the device (`None`: the device decides).
    pub gpu_budget: Option<u64>,
}

/// The ranges a link's values must fall in (outside them the default stays).
const MAX_NEW_TOKENS: usize = 4096;
const MAX_TEMPERATURE: f32 = 5.0;
const MAX_TOP_K: usize = 64;
const MAX_KV_KIB: u64 = 1 << 30;
const MAX_GPU_MIB: u64 = 1 << 20;

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

    /// Reads a query string (with or without `?`) over `defaults`: what is missing or malformed keeps the
    /// default, and a lane names a bundled model only when `bundled` knows its id.
    pub fn from_query(query: &str, defaults: RaceSettings, bundled: impl Fn(&str) -> bool) -> Self {
        let mut s = defaults;
        for pair in query.trim_start_matches('?').split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let r = &mut s.run;
            match key {
                "lanes" => {
                    let lanes: Vec<ModelSource> = value
                        .split(',')
                        .filter_map(|l| match l.strip_prefix("url:") {
                            Some(u) => decode(u).filter(|u| !u.is_empty()).map(ModelSource::Url),
                            None => decode(l).filter(|id| bundled(id)).map(ModelSource::Bundled),
                        })
                        .take(MAX_LANES)
                        .collect();
                    if !lanes.is_empty() {
                        s.lanes = lanes;
                    }
                }
                "prompt" => r.prompt = decode(value).unwrap_or_else(|| r.prompt.clone()),
                "n" => set(&mut r.max_new_tokens, value, |v| (1..=MAX_NEW_TOKENS).contains(v)),
                "temp" => set(&mut r.temperature, value, |v| (0.0..=MAX_TEMPERATURE).contains(v)),
                "topk" => set(&mut r.top_k, value, |v| (1..=MAX_TOP_K).contains(v)),
                "topp" => set(&mut r.top_p, value, |v| *v > 0.0 && *v <= 1.0),
                "seed" => set(&mut r.seed, value, |_| true),
                "kvkib" => {
                    let mut kib = 0u64;
                    set(&mut kib, value, |v| (1..=MAX_KV_KIB).contains(v));
                    r.kv_budget = (kib > 0).then_some(kib * 1024);
                }
                "kv" => r.kv_f16 = value != "f32",
                "gpumib" => {
                    let mut mib = 0u64;
                    set(&mut mib, value, |v| (1..=MAX_GPU_MIB).contains(v));
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

#[cfg(test)]
mod tests {
    use super::*;

    const BUNDLED: [&str; 4] = ["llama", "mamba", "rwkv7", "jamba"];

    fn defaults() -> RaceSettings {
        RaceSettings {
            lanes: BUNDLED.iter().map(|id| ModelSource::Bundled(id.to_string())).collect(),
            run: RunSettings { prompt: "Shall I compare thee".into(), ..RunSettings::default() },
            gpu_budget: None,
        }
    }

    fn read(query: &str) -> RaceSettings {
        RaceSettings::from_query(query, defaults(), |id| BUNDLED.contains(&id))
    }

    #[test]
    fn every_setting_round_trips() {
        let s = RaceSettings {
            lanes: vec![
                ModelSource::Bundled("jamba".into()),
                ModelSource::Url("https://h.example/a b,c.gguf?x=1&y=%2F".into()),
                ModelSource::Bundled("mamba".into()),
            ],
            run: RunSettings {
                prompt: "To be, or not: 100% & ünïcode + more\nline".into(),
                max_new_tokens: 7,
                temperature: 0.0,
                top_k: 5,
                top_p: 0.5,
                seed: 99,
                kv_budget: Some(96 << 10),
                kv_f16: false,
            },
            gpu_budget: Some(3 << 20),
        };
        let q = s.to_query();
        assert!(!q.contains(' ') && !q.contains('\n'), "{q}");
        assert_eq!(read(&q), s);
        assert_eq!(read(&format!("?{q}")), s);
        assert_eq!(read(""), defaults());
    }

    #[test]
    fn bad_values_keep_the_defaults() {
        let s = read("?lanes=nosuch,,&n=-3&temp=NaN&topk=999&topp=0&seed=x&prompt=%E2%28&junk&kvkib=0&gpumib=99999999");
        assert_eq!(s, defaults());
        assert_eq!(read("lanes=llama,llama,mamba,rwkv7,jamba").lanes.len(), MAX_LANES);
        assert_eq!(read("prompt=%4"), defaults(), "a broken escape");
        assert_eq!(read("lanes=url:").lanes, defaults().lanes, "an empty URL");
    }
}

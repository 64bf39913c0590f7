//! The race's settings as a URL query, so a race can be shared as a link. The format and its parser are
//! `archrace_model::link` (fuzzed natively there); this module gives them the page's defaults and its
//! bundled models.

use crate::engine::{ModelSource, RunSettings};
use crate::models::DEFAULT_RACE;
pub use archrace_model::link::{decode, encode, RaceSettings, MAX_LANES};

/// The race a page without a query opens: one lane per architecture, a sonnet's first line.
pub fn default_race() -> RaceSettings {
    RaceSettings {
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

/// Reads a query string (with or without `?`) over [`default_race`], with the bundled models' ids.
pub fn race_from_query(query: &str) -> RaceSettings {
    RaceSettings::from_query(query, default_race(), |id| crate::models::bundled(id).is_some())
}

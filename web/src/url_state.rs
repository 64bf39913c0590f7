//! The race's settings as a URL query, so a race can be shared as a link. The format and its parser are
//! `archrace_model::link` (fuzzed natively there); this module gives them the page's defaults and its
//! bundled models.

use crate::engine::{ModelSource, RunSettings};
use crate::models::DEFAULT_RACE;
pub use archrace_model::link::{decode, encode, RaceSettings, MAX_LANES};

/// The race a page without a query opens: one lane per architecture, [`RunSettings::default`].
pub fn default_race() -> RaceSettings {
    RaceSettings {
        lanes: DEFAULT_RACE.iter().map(|b| ModelSource::Bundled(b.id.into())).collect(),
        run: RunSettings::default(),
        gpu_budget: None,
    }
}

/// Reads a query string (with or without `?`) over [`default_race`], with the bundled models' ids.
pub fn race_from_query(query: &str) -> RaceSettings {
    RaceSettings::from_query(query, default_race(), |id| crate::models::bundled(id).is_some())
}

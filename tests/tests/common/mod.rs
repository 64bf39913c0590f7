//! Reading the shared llama.cpp goldens (`tests/fixtures`, see its PROVENANCE.md), for the native test
//! binaries that include this module (`mod common;`). Not every binary uses every helper.
#![allow(dead_code)]

pub mod parity;

use serde_json::Value as Json;
use std::path::PathBuf;

/// The quant types every fixture model comes in.
pub const QUANTS: [&str; 4] = ["f32", "q8_0", "q4_0", "q4_1"];

/// A fixture file's bytes.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A JSON fixture.
pub fn json(name: &str) -> Json {
    serde_json::from_slice(&fixture(name)).unwrap()
}

/// A JSON array of token ids.
pub fn ids(v: &Json) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

/// max |a - b| over a row, divided by the row's max |b|; infinite when either row holds a NaN or an
/// infinity, or their lengths differ (so a broken row can never compare as close).
pub fn rel_err(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() || a.iter().chain(b).any(|v| !v.is_finite()) {
        return f32::INFINITY;
    }
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

//! The shared llama.cpp fixtures (tests/fixtures, see PROVENANCE.md) read with our GGUF reader: every file
//! parses, its tensor types are the ones its README lists, and every quantized tensor dequantizes to within
//! its format's rounding step of the F32 original it was made from.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::fixture;

use archrace_gguf::{dequantize, GgmlType, Gguf};
use std::collections::BTreeMap;

/// `file -> "Q8_0x23, F32x7"` from the README's table.
fn readme_tensor_types() -> BTreeMap<String, String> {
    let readme = String::from_utf8(fixture("README.md")).unwrap();
    readme
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells.len() > 3 && cells[1].ends_with(".gguf") && cells[2].contains('x'))
                .then(|| (cells[1].to_string(), cells[2].to_string()))
        })
        .collect()
}

fn dequantized(g: &Gguf, name: &str) -> Vec<f32> {
    let t = g.tensor(name).unwrap();
    let mut out = vec![0.0; t.n_elements() as usize];
    dequantize(t.ty, g.tensor_data(t), &mut out);
    out
}

#[test]
fn every_fixture_parses_with_the_listed_tensor_types() {
    let table = readme_tensor_types();
    assert_eq!(table.len(), 20, "README table rows: {table:?}");
    for (file, listed) in &table {
        let bytes = fixture(file);
        let g = Gguf::parse(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        let mut counts: BTreeMap<GgmlType, usize> = BTreeMap::new();
        for t in &g.tensors {
            *counts.entry(t.ty).or_default() += 1;
        }
        let mut found: Vec<String> = counts.iter().map(|(ty, n)| format!("{ty}x{n}")).collect();
        let mut expected: Vec<String> = listed.split(", ").map(str::to_string).collect();
        found.sort();
        expected.sort();
        assert_eq!(found, expected, "{file}");
        assert_eq!(g.get("general.name").and_then(|v| v.as_str()).map(|s| s.starts_with("tiny-random-")), Some(true));
    }
}

#[test]
fn quantized_fixtures_dequantize_to_within_a_rounding_step_of_the_f32_originals() {
    for arch in ["llama", "mamba", "rwkv7", "rwkv6", "jamba"] {
        let f32_bytes = fixture(&format!("{arch}-f32.gguf"));
        let original = Gguf::parse(&f32_bytes).unwrap();
        for (suffix, ty) in [("q8_0", GgmlType::Q8_0), ("q4_0", GgmlType::Q4_0), ("q4_1", GgmlType::Q4_1)] {
            let file = format!("{arch}-{suffix}.gguf");
            let bytes = fixture(&file);
            let g = Gguf::parse(&bytes).unwrap();
            for t in g.tensors.iter().filter(|t| t.ty == ty) {
                let got = dequantized(&g, &t.name);
                let want = dequantized(&original, &t.name);
                for (b, (gb, wb)) in got.chunks(32).zip(want.chunks(32)).enumerate() {
                    let amax = wb.iter().fold(0f32, |m, v| m.max(v.abs()));
                    // Worst-case rounding of each format (see ggml's quantize_row_*_ref): Q8_0 half a step of
                    // amax/127; Q4_0 one and a half steps of amax/8 (the clamp at 15); Q4_1 half a step of
                    // (max - min)/15 <= 2 amax/15. Plus f16 rounding of the scales.
                    let tol = match ty {
                        GgmlType::Q8_0 => amax / 127.0 * 0.5 + amax * 2e-3,
                        GgmlType::Q4_0 => amax / 8.0 * 1.5 + amax * 2e-3,
                        _ => amax * 2.0 / 15.0 * 0.5 + amax * 2e-3,
                    };
                    for (i, (x, y)) in gb.iter().zip(wb).enumerate() {
                        assert!((x - y).abs() <= tol, "{file} {} block {b} element {i}: {x} vs {y}", t.name);
                    }
                }
            }
        }
    }
}

#[test]
fn vocab_only_tokenizer_fixture_parses() {
    let bytes = fixture("tokenizer-smollm2.gguf");
    let g = Gguf::parse(&bytes).unwrap();
    assert!(g.tensors.is_empty());
    let tokens = g.get("tokenizer.ggml.tokens").and_then(|v| v.as_array()).unwrap();
    assert_eq!(tokens.len(), 49152);
    assert_eq!(g.get("tokenizer.ggml.model").and_then(|v| v.as_str()), Some("gpt2"));
}

/// The goldens' comparison cannot pass a broken row: NaN or infinity on either side, or a length
/// mismatch, is an infinite error; a close row is its relative error.
#[test]
fn rel_err_fails_rows_with_nan_or_infinity() {
    let want = [1.0f32, -2.0, 4.0];
    assert_eq!(common::rel_err(&[1.0, -2.0, 4.5], &want), 0.125);
    assert_eq!(common::rel_err(&[f32::NAN; 3], &want), f32::INFINITY);
    assert_eq!(common::rel_err(&[1.0, f32::INFINITY, 4.0], &want), f32::INFINITY);
    assert_eq!(common::rel_err(&want, &[1.0, -2.0, f32::NAN]), f32::INFINITY);
    assert_eq!(common::rel_err(&want[..2], &want), f32::INFINITY);
}

//! The GGUF reader against the writer (round trips) and against every class of bad input: each must be a
//! typed error naming the problem, never a panic or an allocation the file does not justify.

use archrace_gguf::quant::q8_0::quantize_row;
use archrace_gguf::{Array, GgmlType, Gguf, GgufError, GgufWriter, Strings, Value};

fn sample_writer() -> GgufWriter {
    let mut w = GgufWriter::new();
    w.metadata("general.architecture", Value::String("llama".into()))
        .metadata("u8", Value::U8(200))
        .metadata("i8", Value::I8(-5))
        .metadata("u16", Value::U16(60000))
        .metadata("i16", Value::I16(-30000))
        .metadata("u32", Value::U32(4_000_000_000))
        .metadata("i32", Value::I32(-2_000_000_000))
        .metadata("f32", Value::F32(1.5))
        .metadata("bool", Value::Bool(true))
        .metadata("u64", Value::U64(1 << 40))
        .metadata("i64", Value::I64(-(1 << 40)))
        .metadata("f64", Value::F64(-0.25))
        .metadata("strings", Value::Array(Strings::from_iter(["a", "ü€", ""]).into()))
        .metadata("bytes", Value::Array(vec![7u8, 0, 255].into()))
        .metadata("floats", Value::Array(vec![0.5f32, -2.0].into()))
        .metadata("empty", Value::Array(Vec::<i32>::new().into()));
    let dense: Vec<f32> = (0..64).map(|i| i as f32 / 10.0 - 3.0).collect();
    w.tensor_f32("a.weight", &[4, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    let q = quantize_row(&dense).unwrap();
    w.tensor("b.weight", &[32, 2], GgmlType::Q8_0, bytemuck::cast_slice(&q).to_vec());
    w.tensor_f32("c.bias", &[3], &[-1.0, 0.0, 1.0]);
    w
}

#[test]
fn writer_output_reads_back_exactly() {
    let w = sample_writer();
    let bytes = w.to_bytes();
    let g = Gguf::parse(&bytes).unwrap();
    assert_eq!(g.version, 3);
    assert_eq!(g.alignment, 32);
    assert_eq!(g.metadata.len(), 16);
    assert_eq!(g.get("general.architecture").unwrap().as_str(), Some("llama"));
    assert_eq!(g.get("u8"), Some(&Value::U8(200)));
    assert_eq!(g.get("i64"), Some(&Value::I64(-(1 << 40))));
    assert_eq!(g.get("f64"), Some(&Value::F64(-0.25)));
    let strings = g.get("strings").unwrap().as_array().unwrap().as_strings().unwrap();
    assert_eq!(strings.iter().collect::<Vec<_>>(), ["a", "ü€", ""]);
    assert_eq!(g.get("bytes").unwrap().as_array(), Some(&Array::U8(vec![7, 0, 255])));
    assert_eq!(g.get("floats").unwrap().as_array().unwrap().get(1), Some(Value::F32(-2.0)));
    assert_eq!(g.get("empty").unwrap().as_array(), Some(&Array::I32(vec![])));
    assert_eq!(g.get("missing"), None);
    let a = g.tensor("a.weight").unwrap();
    assert_eq!((a.dims.as_slice(), a.ty, a.size, a.row_len(), a.n_rows()), (&[4u64, 2][..], GgmlType::F32, 32, 4, 2));
    let data: &[f32] = bytemuck::cast_slice(g.tensor_data(a));
    assert_eq!(data, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    let b = g.tensor("b.weight").unwrap();
    assert_eq!((b.ty, b.size, b.offset % 32), (GgmlType::Q8_0, 68, 0));
    let mut out = vec![0.0; 64];
    archrace_gguf::dequantize(b.ty, g.tensor_data(b), &mut out);
    assert!((out[63] - 3.3).abs() < 0.02, "{}", out[63]);
    // Writing what was read gives the same bytes.
    let mut again = GgufWriter::new();
    for (k, v) in &g.metadata {
        again.metadata(k, v.clone());
    }
    for t in &g.tensors {
        again.tensor(&t.name, &t.dims, t.ty, g.tensor_data(t).to_vec());
    }
    assert_eq!(again.to_bytes(), bytes);
}

#[test]
fn custom_alignment_and_version_2_are_read() {
    let mut w = sample_writer();
    w.metadata("general.alignment", Value::U32(64));
    let mut bytes = w.to_bytes();
    let g = Gguf::parse(&bytes).unwrap();
    assert_eq!(g.alignment, 64);
    assert!(g.tensors.iter().all(|t| t.offset.is_multiple_of(64)) && g.data_offset.is_multiple_of(64));
    bytes[4..8].copy_from_slice(&2u32.to_le_bytes());
    assert_eq!(Gguf::parse(&bytes).unwrap().version, 2);
}

#[test]
fn every_truncation_is_a_typed_error() {
    let bytes = sample_writer().to_bytes();
    let g = Gguf::parse(&bytes).unwrap();
    let data_end = (g.data_offset + g.tensors.iter().map(|t| t.offset + t.size).max().unwrap()) as usize;
    for len in 0..data_end {
        match Gguf::parse(&bytes[..len]) {
            Err(GgufError::Truncated { .. } | GgufError::BadOffset { .. } | GgufError::BadCount { .. }) => {}
            other => panic!("prefix of {len} bytes: {other:?}"),
        }
    }
}

/// Offsets of fields in `sample_writer`'s header, found by searching, so the tests can corrupt them.
fn find(bytes: &[u8], needle: &[u8]) -> usize {
    bytes.windows(needle.len()).position(|w| w == needle).expect("needle present")
}

fn tensor_info_offset(bytes: &[u8], name: &str) -> usize {
    find(bytes, name.as_bytes()) + name.len()
}

#[test]
fn header_errors_are_named() {
    let good = sample_writer().to_bytes();
    let mut b = good.clone();
    b[0] = b'X';
    assert!(matches!(Gguf::parse(&b), Err(GgufError::BadMagic(_))));
    for v in [1u32, 4] {
        let mut b = good.clone();
        b[4..8].copy_from_slice(&v.to_le_bytes());
        assert_eq!(Gguf::parse(&b).unwrap_err(), GgufError::UnsupportedVersion(v));
    }
    // Counts past the caps, then counts under the caps that the file cannot hold.
    let mut b = good.clone();
    b[8..16].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    assert!(matches!(Gguf::parse(&b), Err(GgufError::TooMany { what: "tensors", .. })), "tensor count");
    let mut b = good.clone();
    b[16..24].copy_from_slice(&(1u64 << 50).to_le_bytes());
    let e = Gguf::parse(&b).unwrap_err();
    assert!(matches!(e, GgufError::TooMany { what: "metadata entries", .. }), "metadata count");
    assert!(e.to_string().contains("at most 65536"), "{e}");
    let mut b = good.clone();
    b[8..16].copy_from_slice(&(1u64 << 19).to_le_bytes());
    assert!(matches!(Gguf::parse(&b), Err(GgufError::BadCount { .. })), "tensor count under the cap");
    let mut b = good.clone();
    b[16..24].copy_from_slice(&(1u64 << 15).to_le_bytes());
    assert!(matches!(Gguf::parse(&b), Err(GgufError::BadCount { .. })), "metadata count under the cap");
}

#[test]
fn arrays_of_arrays_are_refused_by_name() {
    // key "n", type ARRAY, element type ARRAY, one element: an empty array of u8.
    let mut b = GgufWriter::new().to_bytes();
    b[16..24].copy_from_slice(&1u64.to_le_bytes());
    b.truncate(24);
    b.extend_from_slice(&1u64.to_le_bytes());
    b.push(b'n');
    for v in [9u32, 9] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&1u64.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes());
    let e = Gguf::parse(&b).unwrap_err();
    assert_eq!(e, GgufError::NestedArray { key: "n".into() });
    assert!(e.to_string().contains("array of arrays"), "{e}");
}

#[test]
fn hostile_lengths_are_refused_before_allocating() {
    let good = sample_writer().to_bytes();
    // The first key's length: 2^62 bytes.
    let mut b = good.clone();
    b[24..32].copy_from_slice(&(1u64 << 62).to_le_bytes());
    assert!(matches!(Gguf::parse(&b), Err(GgufError::Truncated { .. })));
    // The string array's element count: 2^60 elements.
    let mut b = good.clone();
    let at = find(&b, b"strings") + 7 + 4 + 4; // key, value type ARRAY, element type STRING
    b[at..at + 8].copy_from_slice(&(1u64 << 60).to_le_bytes());
    match Gguf::parse(&b) {
        Err(GgufError::BadCount { what, count }) => assert!(what.contains("strings") && count == 1 << 60, "{what}"),
        other => panic!("{other:?}"),
    }
    // A value type that does not exist.
    let mut b = good.clone();
    let at = find(&b, b"bool") + 4;
    b[at..at + 4].copy_from_slice(&99u32.to_le_bytes());
    assert_eq!(Gguf::parse(&b).unwrap_err(), GgufError::BadValueType { key: "bool".into(), type_id: 99 });
}

#[test]
fn tensor_shape_type_and_offset_errors_are_named() {
    let good = sample_writer().to_bytes();
    let a = tensor_info_offset(&good, "a.weight"); // n_dims u32, dims u64 x2, type u32, offset u64
    let set_u32 = |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let set_u64 = |b: &mut Vec<u8>, at: usize, v: u64| b[at..at + 8].copy_from_slice(&v.to_le_bytes());

    let mut b = good.clone();
    set_u32(&mut b, a, 5);
    assert!(matches!(Gguf::parse(&b), Err(GgufError::BadShape { .. })), "5 dims");
    let mut b = good.clone();
    set_u64(&mut b, a + 4, 0);
    assert!(matches!(Gguf::parse(&b), Err(GgufError::BadShape { .. })), "zero dim");
    let mut b = good.clone();
    set_u64(&mut b, a + 4, 1 << 40);
    set_u64(&mut b, a + 12, 1 << 40);
    match Gguf::parse(&b) {
        Err(GgufError::BadShape { reason, .. }) => assert!(reason.contains("2^48"), "{reason}"),
        other => panic!("absurd dims: {other:?}"),
    }
    let mut b = good.clone();
    set_u64(&mut b, a + 4, 1 << 40); // an embedding of 2^40: fits the element limit, not the file
    assert!(matches!(Gguf::parse(&b), Err(GgufError::BadOffset { .. })), "2^40 row");
    let mut b = good.clone();
    set_u32(&mut b, a + 20, 11); // Q3_K
    match Gguf::parse(&b).unwrap_err() {
        e @ GgufError::UnsupportedType { type_name: Some("Q3_K"), .. } => {
            assert!(e.to_string().contains("\"a.weight\" has type Q3_K"), "{e}")
        }
        e => panic!("{e:?}"),
    }
    let mut b = good.clone();
    set_u32(&mut b, a + 20, 200);
    assert!(matches!(Gguf::parse(&b), Err(GgufError::UnsupportedType { type_name: None, .. })));
    let mut b = good.clone();
    set_u32(&mut b, a + 20, GgmlType::Q8_0 as u32); // row of 4 is not a block of 32
    assert!(matches!(Gguf::parse(&b), Err(GgufError::BadShape { .. })), "partial block");
    let mut b = good.clone();
    set_u64(&mut b, a + 24, 8);
    assert!(matches!(Gguf::parse(&b), Err(GgufError::BadOffset { .. })), "misaligned");
    let mut b = good.clone();
    set_u64(&mut b, a + 24, 1 << 20);
    assert!(matches!(Gguf::parse(&b), Err(GgufError::BadOffset { .. })), "past the end");
    let c = tensor_info_offset(&good, "c.bias"); // 1 dim: n_dims, dim, type, offset
    let mut b = good.clone();
    set_u64(&mut b, c + 16, 0); // c.bias now starts where a.weight does
    assert!(matches!(Gguf::parse(&b), Err(GgufError::Overlap { .. })), "overlap");
}

#[test]
fn duplicates_and_bad_alignment_are_named() {
    let mut w = sample_writer();
    w.metadata("u8", Value::U8(1));
    assert_eq!(Gguf::parse(&w.to_bytes()).unwrap_err(), GgufError::Duplicate { name: "u8".into() });
    let mut w = sample_writer();
    w.tensor_f32("a.weight", &[1], &[0.0]);
    assert_eq!(Gguf::parse(&w.to_bytes()).unwrap_err(), GgufError::Duplicate { name: "a.weight".into() });
    let mut b = sample_writer().to_bytes();
    // Rewrite the u32 entry as general.alignment = 3 is awkward; build it instead.
    let mut w = GgufWriter::new();
    w.metadata("general.alignment", Value::U32(3));
    assert_eq!(Gguf::parse(&w.to_bytes()).unwrap_err(), GgufError::BadAlignment(3));
    // A power of two, but 2^40 bytes of padding (found by the fuzzer: copying the file through the writer
    // padded it to that): refused, as are 0 and anything past 1 MiB; 1 MiB is taken.
    for (a, ok) in [(1u64 << 40, false), (0, false), (2 << 20, false), (1 << 20, true), (4096, true)] {
        let mut w = GgufWriter::new();
        w.metadata("general.alignment", Value::U64(32));
        let mut bytes = w.to_bytes();
        let at = 24 + 8 + "general.alignment".len() + 4; // header, key, type: then the value
        bytes[at..at + 8].copy_from_slice(&a.to_le_bytes());
        match Gguf::parse(&bytes) {
            Ok(g) => assert!(ok && g.alignment == a, "alignment {a} taken"),
            Err(e) => {
                assert!(!ok, "alignment {a}: {e}");
                assert_eq!(e, GgufError::BadAlignment(a));
                assert!(e.to_string().contains("up to 1048576"), "{e}");
            }
        }
    }
    b.truncate(8);
    assert!(matches!(Gguf::parse(&b), Err(GgufError::Truncated { .. })));
}

/// A GGUF's header from the first bytes of the file (as a range request reads it): parsed with the whole
/// file's length, `Truncated` while the head is too short, and no tensor data.
#[test]
fn header_parses_from_the_head_of_the_file() {
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/llama-q8_0.gguf")).unwrap();
    let whole = Gguf::parse(&bytes).unwrap();
    let header_end = whole.data_offset as usize;
    let mut cut_short = 0;
    // The data starts at the next multiple of the alignment (32): 32 bytes before it end inside the last
    // tensor info.
    for len in [16, 100, 1000, header_end / 2, header_end - 32] {
        match Gguf::parse_header(&bytes[..len], bytes.len() as u64) {
            Err(GgufError::Truncated { .. }) => cut_short += 1,
            other => panic!("{len} bytes: {:?}", other.map(|g| g.tensors.len())),
        }
    }
    assert_eq!(cut_short, 5);
    let head = Gguf::parse_header(&bytes[..header_end], bytes.len() as u64).unwrap();
    assert!(head.is_header_only() && !whole.is_header_only());
    assert_eq!(head.metadata.len(), whole.metadata.len());
    assert_eq!(head.tensors, whole.tensors);
    assert!(head.tensors.iter().all(|t| head.tensor_data(t).is_empty()));
    // Checked against the file's length: a file shorter than its tensors is refused as before.
    let e = Gguf::parse_header(&bytes[..header_end], header_end as u64 + 10).unwrap_err();
    assert!(e.to_string().contains("past the file"), "{e}");
}

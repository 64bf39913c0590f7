//! What parsing a hostile header costs in memory: every file shape that maximises per-byte bookkeeping
//! (one huge byte array, many one-character strings, many tiny entries, many tiny tensors) must stay within
//! a small multiple of the file's size. A counting allocator measures the peak.

use archrace_gguf::{Gguf, GgufWriter, Strings, Value};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Peak bytes allocated while parsing `bytes` (the file itself is not counted: it is already allocated).
fn parse_peak(bytes: &[u8]) -> usize {
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let g = Gguf::parse(bytes).expect("valid file");
    drop(g);
    PEAK.load(Ordering::SeqCst) - base
}

/// The budget: a few times the file (string and name headers, one index entry each) and a fixed part.
fn budget(file: usize) -> usize {
    6 * file + (1 << 20)
}

#[test]
fn hostile_shapes_cost_a_bounded_multiple_of_the_file() {
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut w = GgufWriter::new();
    w.metadata("blob", Value::Array(vec![0u8; 16 << 20].into()));
    cases.push(("16 MiB u8 array", w.to_bytes()));
    let mut w = GgufWriter::new();
    w.metadata("chars", Value::Array(Strings::from_iter(std::iter::repeat_n("x", 1 << 20)).into()));
    cases.push(("2^20 one-byte strings", w.to_bytes()));
    let mut w = GgufWriter::new();
    for i in 0..60_000 {
        w.metadata(&format!("{i:x}"), Value::U8(0));
    }
    cases.push(("60,000 tiny entries", w.to_bytes()));
    let mut w = GgufWriter::new();
    w.metadata("general.alignment", Value::U32(1));
    for i in 0..100_000 {
        w.tensor(&format!("{i:x}"), &[1], archrace_gguf::GgmlType::F16, vec![0, 0]);
    }
    cases.push(("100,000 two-byte tensors", w.to_bytes()));
    for (what, bytes) in cases {
        let peak = parse_peak(&bytes);
        println!(
            "{what}: file {} bytes, parse peak {peak} bytes ({:.2}x)",
            bytes.len(),
            peak as f64 / bytes.len() as f64
        );
        assert!(peak <= budget(bytes.len()), "{what}: {peak} bytes for a {}-byte file", bytes.len());
    }
}

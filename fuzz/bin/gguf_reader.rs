//! libFuzzer entry for [`archrace_fuzz::gguf_reader`] (run by scripts/fuzz).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| archrace_fuzz::gguf_reader(data));

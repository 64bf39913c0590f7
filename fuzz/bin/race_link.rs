//! libFuzzer entry for [`archrace_fuzz::race_link`] (run by scripts/fuzz).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| archrace_fuzz::race_link(data));

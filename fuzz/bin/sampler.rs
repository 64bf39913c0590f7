//! libFuzzer entry for [`archrace_fuzz::sampler`] (run by scripts/fuzz).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| archrace_fuzz::sampler(data));

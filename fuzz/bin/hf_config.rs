//! libFuzzer entry for [`archrace_fuzz::hf_config`] (run by scripts/fuzz).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| archrace_fuzz::hf_config(data));

//! libFuzzer entry for [`archrace_fuzz::model_spec`] (run by scripts/fuzz).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| archrace_fuzz::model_spec(data));

//! `scripts/fuzz` runs this; the body is `esprit_fuzz::verdict::run`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| esprit_fuzz::verdict::run(data));

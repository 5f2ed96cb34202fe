//! `scripts/fuzz` runs this; the body is `esprit_fuzz::decapsulate::run`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| esprit_fuzz::decapsulate::run(data));

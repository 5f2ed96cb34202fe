//! `scripts/fuzz` runs this; the body is `esprit_fuzz::setkey::run`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| esprit_fuzz::setkey::run(data));

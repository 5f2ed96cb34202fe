//! Known-answer and cross-provider tests. Every test runs against every
//! provider compiled in, through the same generic function.

mod cross;
mod kat;
mod vectors;

use crate::{provider_by_name, provider_names, Provider};

/// All providers compiled into this build.
fn providers() -> Vec<&'static dyn Provider> {
    provider_names()
        .iter()
        .map(|n| match provider_by_name(n) {
            Ok(p) => p,
            Err(e) => panic!("listed provider {n} does not resolve: {e}"),
        })
        .collect()
}

fn h(s: &str) -> Vec<u8> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    match hex::decode(&clean) {
        Ok(v) => v,
        Err(e) => panic!("bad hex in test vector {s:?}: {e}"),
    }
}

//! Hostile test plugin: built against a WIT `esprit:plugin@0.9.0` this host
//! does not speak (a copy of the 0.1.0 WIT with the version changed). The
//! host must reject it at load with a message naming the version.
wit_bindgen::generate!({
    path: "wit",
    world: "esprit:plugin/policy@0.9.0",
});

use esprit::plugin::host::{log, LogLevel};
use esprit::plugin::types::Verdict;

struct Future;

impl Guest for Future {
    fn init() -> Result<(), String> {
        Ok(())
    }
    fn decide(_flow: Flow) -> Decision {
        log(LogLevel::Info, "from the future");
        Decision { verdict: Verdict::Bypass, cache_ttl_ms: None, explanation: "0.9.0".into() }
    }
    fn sa_key(_flow: Flow) -> Option<u64> {
        None
    }
}

export!(Future);

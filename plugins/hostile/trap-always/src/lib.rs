//! Hostile test plugin: traps on every decision (and on `init` when config
//! `fail_init = true`).
use esprit_plugin_sdk::{export_policy, host, Decision, Flow, Policy};

struct Trap;

impl Policy for Trap {
    fn init() -> Result<(), String> {
        if host::config_get("fail_init").as_deref() == Some("true") {
            return Err("trap-always: refusing this config (fail_init = true)".into());
        }
        Ok(())
    }

    fn decide(_flow: &Flow) -> Decision {
        core::arch::wasm32::unreachable()
    }
}

export_policy!(Trap);

//! Test support: the shared engine, built plugins, flows.
#![allow(dead_code)]
use std::path::PathBuf;

use esprit_plugin::{build, parse_flow, PluginEngine, PluginSpec};
use esprit_sadb::decider::Flow;

pub fn engine() -> PluginEngine {
    PluginEngine::shared().expect("engine")
}

/// Path of a built plugin (builds `plugins/` on first use).
pub fn wasm(crate_name: &str) -> PathBuf {
    build::plugin_path(crate_name).expect("plugins build")
}

/// A spec with a generous deadline: the test machine is shared and an epoch
/// deadline is wall-clock time, so a preempted call could miss 1 ms (or, on
/// a loaded CI machine, 100 ms). Tests of the deadline itself set it
/// explicitly.
pub fn spec(name: &str, crate_name: &str) -> PluginSpec {
    let mut s = PluginSpec::new(name, wasm(crate_name));
    s.settings.deadline = std::time::Duration::from_secs(2);
    s
}

pub fn flow(text: &str) -> Flow {
    parse_flow(text).expect("flow")
}

/// The Python policy component (built with componentize-py on first use),
/// or `None` after printing why it was skipped on a developer machine;
/// under `CI=true` a failed build fails the test.
pub fn python_policy_or_skip(test: &str) -> Option<PathBuf> {
    match build::ensure_python_policy_built() {
        Ok(p) => Some(p),
        Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
            println!("SKIPPED {test} (not under CI=true): {e}");
            None
        }
        Err(e) => panic!("python policy build failed: {e}"),
    }
}

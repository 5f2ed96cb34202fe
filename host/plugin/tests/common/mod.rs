//! Test support: the shared engine, built plugins, flows.
#![allow(dead_code)]
use std::path::PathBuf;

use esprit_plugin::{build, compile_helper, parse_flow, Helper, PluginEngine, PluginSpec};
use esprit_sadb::decider::Flow;

/// This crate's compile helper binary (built by cargo for integration
/// tests), registered so that every engine of the test compiles plugins in
/// a child process as the daemon does.
pub fn helper() -> Helper {
    let h = Helper::new(env!("CARGO_BIN_EXE_esprit-plugin-compile"), Vec::<String>::new());
    compile_helper::register(h.clone());
    h
}

pub fn engine() -> PluginEngine {
    helper();
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

/// `bytes` (a component) with a custom section appended: the same plugin
/// under another code hash, so no cache holds it and loading compiles it.
pub fn variant(bytes: &[u8], n: u32) -> Vec<u8> {
    let name = b"esprit-test-variant";
    let payload = n.to_le_bytes();
    let body_len = 1 + name.len() + payload.len();
    let mut out = bytes.to_vec();
    out.push(0); // custom section id
    out.push(u8::try_from(body_len).expect("short section")); // LEB128, < 128
    out.push(u8::try_from(name.len()).expect("short name"));
    out.extend_from_slice(name);
    out.extend_from_slice(&payload);
    out
}

/// Replaces `path` with `bytes` through a rename (as deployments do).
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).expect("write tmp");
    std::fs::rename(&tmp, path).expect("rename over");
}

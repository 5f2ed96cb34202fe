//! Shared helpers for esprit's end-to-end tests: finding the binary and
//! deciding whether a missing prerequisite skips (developer machine) or fails
//! (CI, where `CI=true`).
#![allow(dead_code)]

pub mod daemon;
pub mod esprit;
pub mod ike;
pub mod netns;
pub mod swan;
pub mod traffic;

use std::path::PathBuf;
use std::process::Command;

/// The `esprit` binary built for this test run.
pub fn esprit_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_esprit"))
}

pub fn under_ci() -> bool {
    std::env::var("CI").map(|v| v == "true" || v == "1").unwrap_or(false)
}

/// Returns `true` when the prerequisite holds. Otherwise panics under CI and
/// prints a skip reason (returning `false`) on a developer machine.
pub fn require(ok: bool, what: &str) -> bool {
    if ok {
        return true;
    }
    if under_ci() {
        panic!("prerequisite missing under CI: {what}");
    }
    eprintln!("SKIPPED: {what} (set CI=true to make this a failure)");
    false
}

pub fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

/// A fresh scratch directory under the target dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).expect("create scratch dir");
        Scratch(base)
    }
    pub fn path(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

//! The file watcher behind [`crate::reload::HotPolicy::watch`]: which events
//! matter, debounce, and back-off after a rejected reload.
//!
//! `notify` watches directories (non-recursively: the spec's, the `.wasm`'s,
//! each config file's), which covers in-place writes, rename-over and the
//! Kubernetes ConfigMap layout (`name -> ..data/name`, with `..data` a
//! symlink swapped atomically). Only events naming one of the plugin's own
//! files (or a ConfigMap `..` entry) wake the reload thread: a log file
//! written next to the spec does nothing. After a rejected reload the thread
//! waits ([`MIN_BACKOFF`], doubling up to [`MAX_BACKOFF`]) and folds every
//! event of that time into one more attempt.
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::config::PluginSpec;

/// How long to wait for more file events before reloading.
pub const DEBOUNCE: Duration = Duration::from_millis(30);
/// First wait after a rejected reload.
pub const MIN_BACKOFF: Duration = Duration::from_millis(250);
/// Longest wait after repeated rejections.
pub const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// What one reload attempt did (for the back-off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// A new version runs, or the files load to the running one.
    Accepted,
    /// The files were refused (newly, or unchanged since the last refusal).
    Rejected,
}

/// The file names whose events matter, shared with the notify callback.
#[derive(Clone, Default)]
pub struct Relevant(Arc<RwLock<BTreeSet<OsString>>>);

impl Relevant {
    /// Follow `spec_file` and the files of `specs` (the running one, and a
    /// candidate that may name new files).
    pub fn set(&self, spec_file: &Path, specs: &[&PluginSpec]) {
        let files = specs.iter().flat_map(|s| std::iter::once(s.path.as_path()).chain(s.config_files.iter().map(PathBuf::as_path)));
        let set = std::iter::once(spec_file).chain(files).filter_map(|p| p.file_name().map(OsString::from)).collect();
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = set;
    }

    /// Whether an event on `path` may change the plugin.
    pub fn matches(&self, path: &Path) -> bool {
        let Some(name) = path.file_name() else { return false };
        // ConfigMap internals (`..data`, `..2024_01_01...`) carry the swap.
        if name.as_encoded_bytes().starts_with(b"..") {
            return true;
        }
        self.0.read().unwrap_or_else(|p| p.into_inner()).contains(name)
    }
}

/// The directories to watch for `spec_file` and `spec` (deduplicated).
pub fn dirs(spec_file: &Path, spec: &PluginSpec) -> Vec<PathBuf> {
    let parent = |p: &Path| p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
    let mut v: Vec<PathBuf> = std::iter::once(spec_file).chain(std::iter::once(spec.path.as_path())).chain(spec.config_files.iter().map(PathBuf::as_path)).map(parent).collect();
    v.sort();
    v.dedup();
    v
}

/// Waits for events on `rx` until `deadline`; `Ok(true)` if any came,
/// `Err` when the watcher is gone.
fn events_until(rx: &Receiver<()>, deadline: Instant) -> Result<bool, ()> {
    let mut seen = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(seen);
        }
        match rx.recv_timeout(left) {
            Ok(()) => seen = true,
            Err(RecvTimeoutError::Timeout) => return Ok(seen),
            Err(RecvTimeoutError::Disconnected) => return Err(()),
        }
    }
}

/// Waits until no event came for [`DEBOUNCE`]; `Err` when the watcher is gone.
fn quiet(rx: &Receiver<()>) -> Result<(), ()> {
    loop {
        match rx.recv_timeout(DEBOUNCE) {
            Ok(()) => continue,
            Err(RecvTimeoutError::Timeout) => return Ok(()),
            Err(RecvTimeoutError::Disconnected) => return Err(()),
        }
    }
}

/// The reload thread: one `attempt` per burst of relevant events, with
/// back-off after rejections. `attempt` returns `None` once the plugin is
/// gone. Ends when the watcher (the sender of `rx`) is dropped.
pub fn follow(rx: Receiver<()>, mut attempt: impl FnMut() -> Option<Attempt>) {
    let mut backoff = Duration::ZERO;
    while rx.recv().is_ok() {
        loop {
            if quiet(&rx).is_err() {
                return;
            }
            match attempt() {
                None => return,
                Some(Attempt::Accepted) => {
                    backoff = Duration::ZERO;
                    break;
                }
                Some(Attempt::Rejected) => {
                    backoff = (backoff * 2).clamp(MIN_BACKOFF, MAX_BACKOFF);
                    match events_until(&rx, Instant::now() + backoff) {
                        Err(()) => return,
                        Ok(true) => continue,
                        Ok(false) => break,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_plugins_own_files_matter() {
        let mut spec = PluginSpec::new("p", "/srv/plugins/p.wasm");
        spec.config_files.push("/etc/esprit/ca.pem".into());
        let r = Relevant::default();
        r.set(Path::new("/etc/esprit/p.toml"), &[&spec]);
        for yes in ["/etc/esprit/p.toml", "/srv/plugins/p.wasm", "/etc/esprit/ca.pem", "/etc/esprit/..data", "/etc/esprit/..2026_12_01_21_00_00.123"] {
            assert!(r.matches(Path::new(yes)), "{yes}");
        }
        for no in ["/etc/esprit/daemon.log", "/etc/esprit/p.toml.swp", "/etc/esprit/.p.toml.tmp", "/etc/esprit"] {
            assert!(!r.matches(Path::new(no)), "{no}");
        }
        assert_eq!(dirs(Path::new("/etc/esprit/p.toml"), &spec), vec![PathBuf::from("/etc/esprit"), PathBuf::from("/srv/plugins")]);
        assert_eq!(dirs(Path::new("p.toml"), &PluginSpec::new("p", "p.wasm")), vec![PathBuf::from(".")]);
    }

    #[test]
    fn a_rejection_backs_off_and_folds_events_into_one_attempt() {
        let (tx, rx) = std::sync::mpsc::channel();
        // A burst, then the attempt is rejected; events during the back-off
        // become exactly one more attempt; then the sender goes away.
        for _ in 0..50 {
            tx.send(()).expect("send");
        }
        let mut calls = 0;
        let tx2 = tx.clone();
        drop(tx);
        let mut tx2 = Some(tx2);
        follow(rx, || {
            calls += 1;
            if calls == 1 {
                if let Some(t) = &tx2 {
                    for _ in 0..50 {
                        t.send(()).expect("send");
                    }
                }
                Some(Attempt::Rejected)
            } else {
                tx2 = None;
                Some(Attempt::Rejected)
            }
        });
        assert_eq!(calls, 2);
    }
}

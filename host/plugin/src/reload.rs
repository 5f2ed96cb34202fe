//! Hot reload: a policy plugin that follows its spec file and `.wasm` file.
//!
//! `notify` watches the directories of the spec file and of the plugin file
//! (non-recursively), which covers in-place writes, rename-over, and the
//! Kubernetes ConfigMap layout (`name -> ..data/name`, with `..data` a
//! symlink swapped atomically). On an event the spec and code are re-read,
//! and if the version changed the new plugin is compiled, instantiated,
//! `init`ed and self-checked on the watcher thread (off the fast path), then
//! swapped in atomically (`arc-swap`). A bad file keeps the old plugin and
//! the reason is logged and kept in [`HotPolicy::last_error`].
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use esprit_sadb::decider::{Decision, Flow, PolicyDecider};
use notify::{RecursiveMode, Watcher};

use crate::config::PluginSpec;
use crate::engine::PluginEngine;
use crate::error::PluginError;
use crate::loader;
use crate::policy::{Explanation, PolicyPlugin};

/// How long to wait for more file events before reloading.
const DEBOUNCE: Duration = Duration::from_millis(30);

struct Inner {
    name: String,
    engine: PluginEngine,
    spec_file: PathBuf,
    current: ArcSwap<PolicyPlugin>,
    reload_lock: Mutex<()>,
    last_error: Mutex<Option<String>>,
    swaps: AtomicU64,
    rejected: AtomicU64,
}

/// A policy plugin that can be reloaded without losing a decision.
pub struct HotPolicy {
    inner: Arc<Inner>,
    _watcher: Option<notify::RecommendedWatcher>,
}

fn read_spec(spec_file: &Path) -> Result<PluginSpec, PluginError> {
    let text = std::fs::read_to_string(spec_file).map_err(|source| PluginError::Read { path: spec_file.to_path_buf(), source })?;
    PluginSpec::from_toml(&text, spec_file.parent().unwrap_or(Path::new(".")), spec_file)
}

impl Inner {
    fn reload(&self) -> Result<bool, PluginError> {
        let _serial = self.reload_lock.lock().unwrap_or_else(|p| p.into_inner());
        let result: Result<bool, PluginError> = (|| {
            let spec = read_spec(&self.spec_file)?;
            let bytes = loader::read(&spec.path)?;
            let (_, version) = loader::code_and_version(&bytes, &spec);
            if version == self.current.load().version() {
                return Ok(false);
            }
            let plugin = PolicyPlugin::from_bytes(&self.engine, spec, &bytes, Arc::default())?;
            self.current.store(Arc::new(plugin));
            Ok(true)
        })();
        match &result {
            Ok(true) => {
                self.swaps.fetch_add(1, Relaxed);
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
                tracing::info!(plugin = %self.name, version = format_args!("{:016x}", self.current.load().version()), "policy plugin reloaded");
            }
            // The files load to the running version again (e.g. a rejected
            // half-written file was completed): nothing is wrong any more.
            Ok(false) => *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None,
            Err(e) => {
                self.rejected.fetch_add(1, Relaxed);
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                tracing::warn!(plugin = %self.name, version = format_args!("{:016x}", self.current.load().version()), "reload rejected, keeping the running version: {e}");
            }
        }
        result
    }
}

impl HotPolicy {
    /// Load the plugin named by `spec_file` without watching.
    pub fn load(engine: &PluginEngine, spec_file: &Path) -> Result<Self, PluginError> {
        let spec = read_spec(spec_file)?;
        let name = spec.name.clone();
        let plugin = PolicyPlugin::load(engine, spec)?;
        Ok(HotPolicy {
            inner: Arc::new(Inner {
                name,
                engine: engine.clone(),
                spec_file: spec_file.to_path_buf(),
                current: ArcSwap::from_pointee(plugin),
                reload_lock: Mutex::new(()),
                last_error: Mutex::new(None),
                swaps: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
            }),
            _watcher: None,
        })
    }

    /// Load and watch: file changes reload the plugin on a watcher thread.
    pub fn watch(engine: &PluginEngine, spec_file: &Path) -> Result<Self, PluginError> {
        let mut me = Self::load(engine, spec_file)?;
        let werr = |path: &Path, e: notify::Error| PluginError::Watch { path: path.to_path_buf(), reason: e.to_string() };
        let (tx, rx) = mpsc::channel::<()>();
        let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            if let Ok(ev) = ev {
                if !matches!(ev.kind, notify::EventKind::Access(_)) {
                    let _ = tx.send(());
                }
            }
        })
        .map_err(|e| werr(spec_file, e))?;
        let spec_dir = spec_file.parent().unwrap_or(Path::new(".")).to_path_buf();
        watcher.watch(&spec_dir, RecursiveMode::NonRecursive).map_err(|e| werr(&spec_dir, e))?;
        let code_dir = me.inner.current.load().spec().path.parent().map(Path::to_path_buf);
        if let Some(code_dir) = code_dir.filter(|d| *d != spec_dir) {
            watcher.watch(&code_dir, RecursiveMode::NonRecursive).map_err(|e| werr(&code_dir, e))?;
        }
        let inner = Arc::downgrade(&me.inner);
        std::thread::Builder::new()
            .name("esprit-plugin-reload".into())
            .spawn(move || {
                // Ends when the watcher (and with it `tx`) is dropped.
                while rx.recv().is_ok() {
                    while rx.recv_timeout(DEBOUNCE).is_ok() {}
                    let Some(inner) = inner.upgrade() else { break };
                    let _ = inner.reload();
                }
            })
            .map_err(|e| PluginError::Watch { path: spec_file.to_path_buf(), reason: e.to_string() })?;
        me._watcher = Some(watcher);
        Ok(me)
    }

    /// Re-read the files now; `Ok(true)` if a new version was swapped in,
    /// `Ok(false)` if nothing changed, `Err` (old version kept) if the new
    /// files are bad.
    pub fn reload_now(&self) -> Result<bool, PluginError> {
        self.inner.reload()
    }

    /// The running plugin.
    pub fn current(&self) -> Arc<PolicyPlugin> {
        self.inner.current.load_full()
    }

    /// Decide and explain with the running plugin.
    pub fn explain(&self, flow: &Flow) -> Explanation {
        self.inner.current.load().explain(flow)
    }

    /// Why the last reload was rejected (cleared by a successful one, or when
    /// the files load to the running version again).
    pub fn last_error(&self) -> Option<String> {
        self.inner.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Successful swaps so far.
    pub fn swaps(&self) -> u64 {
        self.inner.swaps.load(Relaxed)
    }

    /// Rejected reloads so far.
    pub fn rejected(&self) -> u64 {
        self.inner.rejected.load(Relaxed)
    }
}

impl PolicyDecider for HotPolicy {
    fn name(&self) -> &str {
        &self.inner.name
    }

    fn version(&self) -> u64 {
        self.inner.current.load().version()
    }

    fn decide(&self, flow: &Flow) -> Decision {
        self.inner.current.load().decide(flow)
    }
}

//! Hot reload: a policy plugin that follows its spec file, its `.wasm` and
//! its `[config_files]` (see [`crate::watch`] for which events count, the
//! debounce and the back-off after a rejection).
//!
//! On a relevant change the files are re-read, and if the version changed
//! the new plugin is compiled, instantiated, `init`ed and self-checked on the
//! watcher thread (off the fast path), then swapped in atomically
//! (`arc-swap`). The new version counts into the same fault counters as the
//! one it replaces, so `esprit status` never loses a fault to a reload. A bad
//! file keeps the old plugin; the reason is logged and kept in
//! [`HotPolicy::last_error`]. Files unchanged since their last rejection are
//! not tried (nor counted) again by the watcher.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use esprit_sadb::decider::{Decision, Flow, PolicyDecider};
use notify::{RecursiveMode, Watcher};
use sha2::{Digest, Sha256};

use crate::config::PluginSpec;
use crate::engine::PluginEngine;
use crate::error::PluginError;
use crate::loader;
use crate::policy::{Explanation, PolicyPlugin};
use crate::watch::{self, Attempt, Relevant};

struct Inner {
    name: String,
    engine: PluginEngine,
    spec_file: PathBuf,
    current: ArcSwap<PolicyPlugin>,
    reload_lock: Mutex<Tried>,
    last_error: Mutex<Option<String>>,
    relevant: Relevant,
    swaps: AtomicU64,
    rejected: AtomicU64,
}

/// The fingerprint of the files last refused (under `reload_lock`).
#[derive(Default)]
struct Tried {
    rejected: Option<[u8; 32]>,
}

/// A policy plugin that can be reloaded without losing a decision.
pub struct HotPolicy {
    inner: Arc<Inner>,
    _watcher: Option<notify::RecommendedWatcher>,
}

fn read_spec(spec_file: &Path) -> Result<PluginSpec, PluginError> {
    let text = std::fs::read_to_string(spec_file).map_err(|source| PluginError::Read { path: spec_file.to_path_buf(), error: source })?;
    PluginSpec::from_toml(&text, spec_file.parent().unwrap_or(Path::new(".")), spec_file)
}

/// The files of one reload attempt, read once.
struct Candidate {
    /// Hash of the spec text and, when it parses, of the plugin version
    /// (code + config, including `[config_files]`, + settings).
    fingerprint: [u8; 32],
    files: Result<(PluginSpec, Vec<u8>, u64), PluginError>,
}

fn read_candidate(spec_file: &Path) -> Candidate {
    let mut h = Sha256::new();
    h.update(std::fs::read(spec_file).unwrap_or_default());
    let files = read_spec(spec_file).and_then(|spec| {
        let bytes = loader::read(&spec.path)?;
        let (_, version) = loader::code_and_version(&bytes, &spec);
        Ok((spec, bytes, version))
    });
    match &files {
        Ok((_, _, version)) => h.update(version.to_le_bytes()),
        Err(e) => h.update(e.to_string().as_bytes()),
    }
    Candidate { fingerprint: h.finalize().into(), files }
}

impl Inner {
    /// One reload attempt. `retry_rejected`: also try files identical to the
    /// last refused ones (an explicit reload does; the watcher does not).
    fn reload(&self, retry_rejected: bool) -> Result<bool, PluginError> {
        let mut tried = self.reload_lock.lock().unwrap_or_else(|p| p.into_inner());
        let candidate = read_candidate(&self.spec_file);
        if !retry_rejected && tried.rejected == Some(candidate.fingerprint) {
            let reason = self.last_error().unwrap_or_else(|| "unchanged since the last rejection".into());
            return Err(PluginError::Unchanged { name: self.name.clone(), reason });
        }
        if let Ok((spec, _, _)) = &candidate.files {
            // A candidate may name a new `.wasm` or config file: follow it too.
            self.relevant.set(&self.spec_file, &[self.current.load().spec(), spec]);
        }
        let result: Result<Option<PolicyPlugin>, PluginError> = candidate.files.and_then(|(spec, bytes, version)| {
            let running = self.current.load_full();
            if version == running.version() {
                return Ok(None);
            }
            let mut plugin = PolicyPlugin::from_bytes(&self.engine, spec, &bytes, Arc::default())?;
            plugin.carry_counters_from(&running);
            Ok(Some(plugin))
        });
        tried.rejected = result.is_err().then_some(candidate.fingerprint);
        match result {
            Ok(Some(plugin)) => {
                // Error cleared and swap counted before the new version is
                // visible: whoever sees it decide sees those too.
                self.set_error(None);
                self.swaps.fetch_add(1, SeqCst);
                self.relevant.set(&self.spec_file, &[plugin.spec()]);
                let version = plugin.version();
                self.current.store(Arc::new(plugin));
                tracing::info!(plugin = %self.name, version = format_args!("{version:016x}"), "policy plugin reloaded");
                Ok(true)
            }
            // The files load to the running version again (e.g. a rejected
            // half-written file was completed): nothing is wrong any more.
            Ok(None) => {
                self.set_error(None);
                Ok(false)
            }
            Err(e) => {
                self.set_error(Some(e.to_string()));
                self.rejected.fetch_add(1, SeqCst);
                tracing::warn!(plugin = %self.name, version = format_args!("{:016x}", self.current.load().version()), "reload rejected, keeping the running version: {e}");
                Err(e)
            }
        }
    }

    fn set_error(&self, e: Option<String>) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = e;
    }

    fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl HotPolicy {
    /// Load the plugin named by `spec_file` without watching.
    pub fn load(engine: &PluginEngine, spec_file: &Path) -> Result<Self, PluginError> {
        let spec = read_spec(spec_file)?;
        let name = spec.name.clone();
        let plugin = PolicyPlugin::load(engine, spec)?;
        let relevant = Relevant::default();
        relevant.set(spec_file, &[plugin.spec()]);
        Ok(HotPolicy {
            inner: Arc::new(Inner {
                name,
                engine: engine.clone(),
                spec_file: spec_file.to_path_buf(),
                current: ArcSwap::from_pointee(plugin),
                reload_lock: Mutex::default(),
                last_error: Mutex::new(None),
                relevant,
                swaps: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
            }),
            _watcher: None,
        })
    }

    /// Load and watch: changes to the plugin's files reload it on a watcher
    /// thread (see [`crate::watch`]).
    pub fn watch(engine: &PluginEngine, spec_file: &Path) -> Result<Self, PluginError> {
        let mut me = Self::load(engine, spec_file)?;
        let werr = |path: &Path, e: notify::Error| PluginError::Watch { path: path.to_path_buf(), reason: e.to_string() };
        let (tx, rx) = mpsc::channel::<()>();
        let relevant = me.inner.relevant.clone();
        let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            let Ok(ev) = ev else { return };
            if !matches!(ev.kind, notify::EventKind::Access(_)) && ev.paths.iter().any(|p| relevant.matches(p)) {
                let _ = tx.send(());
            }
        })
        .map_err(|e| werr(spec_file, e))?;
        for dir in watch::dirs(spec_file, me.inner.current.load().spec()) {
            watcher.watch(&dir, RecursiveMode::NonRecursive).map_err(|e| werr(&dir, e))?;
        }
        let inner = Arc::downgrade(&me.inner);
        std::thread::Builder::new()
            .name("esprit-plugin-reload".into())
            .spawn(move || {
                watch::follow(rx, || {
                    let inner = inner.upgrade()?;
                    Some(match inner.reload(false) {
                        Ok(_) => Attempt::Accepted,
                        Err(_) => Attempt::Rejected,
                    })
                })
            })
            .map_err(|e| PluginError::Watch { path: spec_file.to_path_buf(), reason: e.to_string() })?;
        me._watcher = Some(watcher);
        Ok(me)
    }

    /// Re-read the files now; `Ok(true)` if a new version was swapped in,
    /// `Ok(false)` if nothing changed, `Err` (old version kept) if the new
    /// files are bad.
    pub fn reload_now(&self) -> Result<bool, PluginError> {
        self.inner.reload(true)
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
        self.inner.last_error()
    }

    /// Successful swaps so far.
    pub fn swaps(&self) -> u64 {
        self.inner.swaps.load(SeqCst)
    }

    /// Rejected reloads so far.
    pub fn rejected(&self) -> u64 {
        self.inner.rejected.load(SeqCst)
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

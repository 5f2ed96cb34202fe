//! A loaded `policy` world plugin and its [`PolicyDecider`] implementation.
//!
//! One instance per plugin is reused for every call (behind a mutex). A fault
//! (trap, deadline, memory cap) drops the instance, answers the configured
//! failure verdict, counts and logs the fault with the plugin's name and
//! version; the next call re-instantiates from the `InstancePre`. After
//! `quarantine_after` consecutive faults the plugin is quarantined for
//! `quarantine_for`: calls get the failure verdict without entering Wasm.
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use esprit_sadb::decider::{Decision, Direction, Flow, PolicyDecider};
use wasmtime::Store;

use crate::config::PluginSpec;
use crate::convert::{decision_from_wit, flow_to_wit, needs_sa};
use crate::engine::PluginEngine;
use crate::error::PluginError;
use crate::bounds::{sanitize, MAX_ERROR};
use crate::fault::{classify, FaultCounters, FaultKind, FaultStats};
use crate::log_limit::LogLimiter;
use crate::verdict_check::check_decision;
use crate::host_crypto::KeyStore;
use crate::loader;
use crate::state::HostState;
use crate::policy_world::{PolicyInstance, PolicyPre};

struct Live {
    instance: Option<(Store<HostState>, PolicyInstance)>,
    consecutive_faults: u32,
    quarantined_until: Option<Instant>,
}

/// A decision together with who made it, for `esprit policy test`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// Plugin name.
    pub plugin: String,
    /// Plugin version (hash of code + config + settings).
    pub plugin_version: u64,
    /// WIT package version the plugin speaks.
    pub wit_version: &'static str,
    /// The decision (its `explanation` is the plugin's own string, or the
    /// host's fault description).
    pub decision: Decision,
    /// Set when the decision is the failure verdict because of a fault.
    pub fault: Option<FaultKind>,
}

impl std::fmt::Display for Explanation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "plugin {} v{:016x} (esprit:plugin@{}): {:?}", self.plugin, self.plugin_version, self.wit_version, self.decision.verdict)?;
        if let Some(k) = self.decision.sa_key {
            write!(f, ", sa-key {k:#x}")?;
        }
        if let Some(t) = self.decision.cache_ttl {
            write!(f, ", cache {} ms", t.as_millis())?;
        }
        write!(f, ": {}", self.decision.explanation)
    }
}

/// A loaded policy plugin.
pub struct PolicyPlugin {
    spec: PluginSpec,
    version: u64,
    engine: PluginEngine,
    pre: PolicyPre,
    config: Arc<BTreeMap<String, String>>,
    keys: Arc<KeyStore>,
    live: Mutex<Live>,
    counters: Arc<FaultCounters>,
}

impl std::fmt::Debug for PolicyPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyPlugin").field("name", &self.spec.name).field("version", &format_args!("{:016x}", self.version)).finish()
    }
}

/// The probe flow of the load-time self-check.
pub(crate) fn probe_flow() -> Flow {
    Flow { src: [192, 0, 2, 1].into(), dst: [198, 51, 100, 1].into(), proto: 6, src_port: 49152, dst_port: 443, dir: Direction::Out, iface: None }
}

impl PolicyPlugin {
    /// Load the plugin file named by `spec` (see [`PolicyPlugin::from_bytes`]).
    pub fn load(engine: &PluginEngine, spec: PluginSpec) -> Result<Self, PluginError> {
        let bytes = loader::read(&spec.path)?;
        Self::from_bytes(engine, spec, &bytes, Arc::default())
    }

    /// Compile, link, instantiate, run `init`, and (unless disabled) one
    /// probe decision that must not fault. Any failure rejects the plugin.
    pub fn from_bytes(engine: &PluginEngine, spec: PluginSpec, bytes: &[u8], keys: Arc<KeyStore>) -> Result<Self, PluginError> {
        let compiled = crate::link::compile(engine, &spec, bytes)?;
        let version = compiled.version;
        let pre = PolicyPre::link(engine, &spec, &compiled)?;
        let config = Arc::new(spec.config.clone());
        let plugin = PolicyPlugin {
            spec,
            version,
            engine: engine.clone(),
            pre,
            config,
            keys,
            live: Mutex::new(Live { instance: None, consecutive_faults: 0, quarantined_until: None }),
            counters: Arc::default(),
        };
        let instance = plugin.instantiate().map_err(|(kind, reason)| match kind {
            FaultKind::Instantiate if !reason.starts_with("init") => PluginError::Instantiate { name: plugin.spec.name.clone(), reason },
            _ => PluginError::Init { name: plugin.spec.name.clone(), reason },
        })?;
        plugin.lock().instance = Some(instance);
        if plugin.spec.settings.self_check {
            // The probe is the first call (it warms the instance) and runs at
            // load, not for a packet: it gets the init deadline, so a loaded
            // machine does not reject a good plugin; an endless loop is still
            // caught.
            let e = plugin.explain_within(&probe_flow(), plugin.spec.settings.init_deadline);
            if let Some(kind) = e.fault {
                return Err(PluginError::SelfCheck { name: plugin.spec.name.clone(), reason: format!("{kind}: {}", e.decision.explanation) });
            }
        }
        tracing::info!(plugin = %plugin.spec.name, version = format_args!("{:016x}", version), "policy plugin loaded");
        Ok(plugin)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new instance from the `InstancePre`, with `init` run under its deadline.
    fn instantiate(&self) -> Result<(Store<HostState>, PolicyInstance), (FaultKind, String)> {
        self.counters.instantiations.fetch_add(1, Relaxed);
        let mut store = loader::new_store(&self.engine, &self.spec, self.version, &self.config, &self.keys);
        let _armed = crate::deadline::arm(&mut store, &self.engine, self.spec.settings.init_deadline);
        let policy = self.pre.instantiate(&mut store).map_err(|e| (classify_inst(&e), trap_text("", &e)))?;
        match policy.call_init(&mut store) {
            Ok(Ok(())) => Ok((store, policy)),
            Ok(Err(msg)) => Err((FaultKind::Instantiate, format!("init rejected the config: {}", sanitize(&msg, MAX_ERROR)))),
            Err(e) => Err((FaultKind::Instantiate, trap_text(&format!("init trapped ({}): ", classify(&e)), &e))),
        }
    }

    /// Plugin name.
    pub fn plugin_name(&self) -> &str {
        &self.spec.name
    }

    /// The spec this plugin was loaded from.
    pub fn spec(&self) -> &PluginSpec {
        &self.spec
    }

    /// Fault counters (carried over from the versions this one replaced,
    /// see [`PolicyPlugin::carry_counters_from`]).
    pub fn stats(&self) -> FaultStats {
        FaultStats { log_suppressed: LogLimiter::for_plugin(&self.spec.name).suppressed(), ..self.counters.snapshot() }
    }

    /// Make this (not yet running) plugin count into `running`'s counters,
    /// adding what it counted while loading, so a reload never resets the
    /// numbers `esprit status` shows. Decisions the old version makes after
    /// this call land in the same counters.
    pub fn carry_counters_from(&mut self, running: &PolicyPlugin) {
        running.counters.add(&self.counters.snapshot());
        self.counters = Arc::clone(&running.counters);
    }

    /// Whether the plugin is quarantined right now.
    pub fn is_quarantined(&self) -> bool {
        self.lock().quarantined_until.is_some_and(|t| Instant::now() < t)
    }

    /// Decide `flow` and say who decided and why (for `esprit policy test`).
    pub fn explain(&self, flow: &Flow) -> Explanation {
        self.explain_within(flow, self.spec.settings.deadline)
    }

    /// [`PolicyPlugin::explain`] with another deadline for the call.
    fn explain_within(&self, flow: &Flow, deadline: Duration) -> Explanation {
        let (decision, fault) = self.decide_within(flow, deadline);
        Explanation { plugin: self.spec.name.clone(), plugin_version: self.version, wit_version: self.pre.wit().as_str(), decision, fault }
    }

    /// One counted call: the decision, and the fault if it is the failure
    /// verdict. The decision path (a flow-cache miss) stops here: it needs
    /// no [`Explanation`] (no copy of the plugin's name per decision).
    fn decide_within(&self, flow: &Flow, deadline: Duration) -> (Decision, Option<FaultKind>) {
        self.counters.calls.fetch_add(1, Relaxed);
        let t0 = Instant::now();
        let out = match self.call(flow, deadline, t0) {
            Ok(d) => (d, None),
            Err((kind, msg)) => (self.failure(kind, &msg), Some(kind)),
        };
        let micros = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.counters.call_micros.fetch_add(micros, Relaxed);
        out
    }

    fn failure(&self, kind: FaultKind, msg: &str) -> Decision {
        Decision {
            verdict: self.spec.settings.on_failure.verdict(),
            cache_ttl: Some(self.spec.settings.failure_cache_ttl),
            sa_key: None,
            explanation: format!(
                "plugin {} v{:016x} failed ({kind}): {msg}; applying the failure verdict {:?}",
                self.spec.name, self.version, self.spec.settings.on_failure
            ),
        }
    }

    fn call(&self, flow: &Flow, deadline: Duration, now: Instant) -> Result<Decision, (FaultKind, String)> {
        let mut live = self.lock();
        if let Some(until) = live.quarantined_until {
            if now < until {
                self.counters.record(FaultKind::Quarantined);
                return Err((FaultKind::Quarantined, format!("after {} consecutive faults", live.consecutive_faults)));
            }
            live.quarantined_until = None;
        }
        let result = match live.instance.take() {
            Some(inst) => Ok(inst),
            None => self.instantiate(),
        }
        .and_then(|(mut store, policy)| {
            let r = self.call_instance(&mut store, &policy, flow, deadline, now);
            if r.is_ok() {
                live.instance = Some((store, policy));
            }
            r
        })
        // An ill-formed verdict is a fault like a trap (the instance itself
        // is fine and is kept).
        .and_then(|d| check_decision(d).map_err(|e| (FaultKind::InvalidVerdict, e.to_string())));
        match result {
            Ok(d) => {
                live.consecutive_faults = 0;
                Ok(d)
            }
            Err((kind, msg)) => {
                // After a trap the instance was dropped (a trapped component
                // instance cannot be re-entered; the next call
                // re-instantiates); after an invalid verdict it was kept.
                self.counters.record(kind);
                live.consecutive_faults = live.consecutive_faults.saturating_add(1);
                tracing::warn!(plugin = %self.spec.name, version = format_args!("{:016x}", self.version), fault = %kind, consecutive = live.consecutive_faults, "plugin fault: {msg}");
                if live.consecutive_faults >= self.spec.settings.quarantine_after {
                    live.quarantined_until = Some(Instant::now() + self.spec.settings.quarantine_for);
                    self.counters.quarantines.fetch_add(1, Relaxed);
                    tracing::error!(plugin = %self.spec.name, version = format_args!("{:016x}", self.version), "plugin quarantined for {:?} after {} consecutive faults", self.spec.settings.quarantine_for, live.consecutive_faults);
                }
                Err((kind, msg))
            }
        }
    }

    fn call_instance(&self, store: &mut Store<HostState>, policy: &PolicyInstance, flow: &Flow, deadline: Duration, now: Instant) -> Result<Decision, (FaultKind, String)> {
        let wflow = flow_to_wit(flow);
        let _armed = crate::deadline::arm_at(store, &self.engine, deadline, now);
        let d = policy.call_decide(store, &wflow).map_err(|(call, e)| (classify(&e), trap_text(call, &e)))?;
        let d = decision_from_wit(d);
        debug_assert!(d.sa_key.is_none() || needs_sa(&d.verdict));
        Ok(d)
    }

    /// The WIT version the plugin speaks.
    pub fn wit_version(&self) -> crate::version::WitVersion {
        self.pre.wit()
    }
}

/// A wasmtime error as one capped, escaped line: its backtrace names
/// functions from the plugin's own name section, so it is plugin text.
fn trap_text(prefix: &str, e: &wasmtime::Error) -> String {
    format!("{prefix}{}", sanitize(&format!("{e:#}"), MAX_ERROR))
}

fn classify_inst(e: &wasmtime::Error) -> FaultKind {
    match classify(e) {
        FaultKind::OutOfMemory => FaultKind::OutOfMemory,
        _ => FaultKind::Instantiate,
    }
}

impl PolicyDecider for PolicyPlugin {
    fn name(&self) -> &str {
        &self.spec.name
    }

    fn version(&self) -> u64 {
        self.version
    }

    fn decide(&self, flow: &Flow) -> Decision {
        self.decide_within(flow, self.spec.settings.deadline).0
    }
}

/// Load a policy plugin from a spec file (TOML, see [`crate::config`]).
pub fn load_spec_file(engine: &PluginEngine, spec_file: &Path) -> Result<PolicyPlugin, PluginError> {
    let text = std::fs::read_to_string(spec_file).map_err(|source| PluginError::Read { path: spec_file.to_path_buf(), error: source })?;
    let base = spec_file.parent().unwrap_or(Path::new("."));
    let spec = PluginSpec::from_toml(&text, base, spec_file)?;
    PolicyPlugin::load(engine, spec)
}

//! A loaded `auth` world plugin (minimal for now: load and call; the IKE
//! engine drives it later). Faults are contained like policy faults: the
//! instance is dropped and the call returns an error (authentication fails
//! closed).
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use wasmtime::Store;

use crate::config::PluginSpec;
use crate::engine::PluginEngine;
use crate::error::PluginError;
use crate::fault::classify;
use crate::host_crypto::KeyStore;
use crate::loader;
use crate::state::HostState;
pub use crate::v0_1::auth::AuthContext;
use crate::v0_1::auth::{Auth, AuthPre};
use crate::v0_1::WIT_VERSION;

/// A loaded auth plugin.
pub struct AuthPlugin {
    spec: PluginSpec,
    version: u64,
    engine: PluginEngine,
    pre: AuthPre<HostState>,
    config: Arc<BTreeMap<String, String>>,
    keys: Arc<KeyStore>,
    live: Mutex<Option<(Store<HostState>, Auth)>>,
}

impl AuthPlugin {
    /// Compile, link, instantiate and `init` an auth plugin; `keys` are the
    /// private keys it may sign with by handle.
    pub fn from_bytes(engine: &PluginEngine, spec: PluginSpec, bytes: &[u8], keys: Arc<KeyStore>) -> Result<Self, PluginError> {
        let (pre, version) = loader::prepare(engine, &spec, bytes, |l| {
            Auth::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(l, |s| s)
        })?;
        let pre = AuthPre::new(pre).map_err(|e| PluginError::WrongWorld {
            name: spec.name.clone(),
            world: "auth",
            host_version: WIT_VERSION,
            reason: format!("{e:#}"),
        })?;
        let config = Arc::new(spec.config.clone());
        let p = AuthPlugin { spec, version, engine: engine.clone(), pre, config, keys, live: Mutex::new(None) };
        let inst = p.instantiate().map_err(|reason| PluginError::Init { name: p.spec.name.clone(), reason })?;
        *p.live.lock().unwrap_or_else(|e| e.into_inner()) = Some(inst);
        Ok(p)
    }

    fn instantiate(&self) -> Result<(Store<HostState>, Auth), String> {
        let mut store = loader::new_store(&self.engine, &self.spec, self.version, &self.config, &self.keys);
        store.set_epoch_deadline(self.engine.ticks_for(self.spec.settings.init_deadline));
        let auth = self.pre.instantiate(&mut store).map_err(|e| format!("{e:#}"))?;
        match auth.call_init(&mut store) {
            Ok(Ok(())) => Ok((store, auth)),
            Ok(Err(m)) => Err(format!("init rejected the config: {m}")),
            Err(e) => Err(format!("init trapped: {e:#}")),
        }
    }

    /// Plugin version (hash of code + config + settings).
    pub fn version(&self) -> u64 {
        self.version
    }

    fn with<R>(&self, f: impl FnOnce(&mut Store<HostState>, &Auth) -> wasmtime::Result<R>) -> Result<R, String> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let (mut store, auth) = match live.take() {
            Some(i) => i,
            None => self.instantiate()?,
        };
        store.set_epoch_deadline(self.engine.ticks_for(self.spec.settings.deadline));
        match f(&mut store, &auth) {
            Ok(r) => {
                *live = Some((store, auth));
                Ok(r)
            }
            Err(e) => {
                let msg = format!("auth plugin {} v{:016x} faulted ({}): {e:#}", self.spec.name, self.version, classify(&e));
                tracing::warn!(plugin = %self.spec.name, "{msg}");
                Err(msg)
            }
        }
    }

    /// The IKEv2 Auth Method the plugin implements.
    pub fn method(&self) -> Result<u8, String> {
        self.with(|s, a| a.call_method(s))
    }

    /// Produce our AUTH data.
    pub fn produce(&self, ctx: &AuthContext) -> Result<Vec<u8>, String> {
        self.with(|s, a| a.call_produce(s, ctx))?
    }

    /// Verify the peer's AUTH data.
    pub fn verify(&self, ctx: &AuthContext, auth_data: &[u8]) -> Result<bool, String> {
        self.with(|s, a| a.call_verify(s, ctx, auth_data))?
    }
}

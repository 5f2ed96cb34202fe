//! A loaded `auth` world plugin: the IKE engine calls `produce` for our AUTH
//! payload and `verify` for the peer's (RFC 7296 §2.15). Faults are contained
//! like policy faults: the instance is dropped and the call returns an error
//! (authentication fails closed).
//!
//! The context's `sk_p` (the signer's SK_pi/SK_pr) is handed only to plugins
//! whose `method()` is 13, NULL authentication (RFC 7619 §2.1), the one
//! method that needs it; every other plugin sees it empty.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use wasmtime::Store;

use crate::bounds::{sanitize, MAX_ERROR};
use crate::config::PluginSpec;
use crate::engine::PluginEngine;
use crate::error::PluginError;
use crate::fault::classify;
use crate::host_crypto::KeyStore;
use crate::loader;
use crate::state::HostState;
use crate::auth_world::{AuthInstance, AuthPre};
pub use crate::latest::auth::{AuthContext, IkeRole};
pub use crate::latest::crypto::HashAlg;

/// A loaded auth plugin.
pub struct AuthPlugin {
    spec: PluginSpec,
    version: u64,
    engine: PluginEngine,
    pre: AuthPre,
    config: Arc<BTreeMap<String, String>>,
    keys: Arc<KeyStore>,
    live: Mutex<Option<(Store<HostState>, AuthInstance)>>,
    /// The plugin's `method()`, asked once at load.
    method: u8,
}

/// IKEv2 Auth Method 13: NULL authentication (RFC 7619).
pub const METHOD_NULL: u8 = 13;

impl AuthPlugin {
    /// Compile, link, instantiate and `init` an auth plugin; `keys` are the
    /// private keys it may sign with by handle.
    pub fn from_bytes(engine: &PluginEngine, spec: PluginSpec, bytes: &[u8], keys: Arc<KeyStore>) -> Result<Self, PluginError> {
        let compiled = crate::link::compile(engine, &spec, bytes)?;
        let version = compiled.version;
        let pre = AuthPre::link(engine, &spec, &compiled)?;
        let config = Arc::new(spec.config.clone());
        let mut p = AuthPlugin { spec, version, engine: engine.clone(), pre, config, keys, live: Mutex::new(None), method: 0 };
        let inst = p.instantiate().map_err(|reason| PluginError::Init { name: p.spec.name.clone(), reason })?;
        *p.live.lock().unwrap_or_else(|e| e.into_inner()) = Some(inst);
        p.method = p.with(|s, a| a.call_method(s)).map_err(|reason| PluginError::Init { name: p.spec.name.clone(), reason })?;
        Ok(p)
    }

    fn instantiate(&self) -> Result<(Store<HostState>, AuthInstance), String> {
        let mut store = loader::new_store(&self.engine, &self.spec, self.version, &self.config, &self.keys);
        let _armed = crate::deadline::arm(&mut store, &self.engine, self.spec.settings.init_deadline);
        let auth = self.pre.instantiate(&mut store).map_err(|e| sanitize(&format!("{e:#}"), MAX_ERROR))?;
        match auth.call_init(&mut store) {
            Ok(Ok(())) => Ok((store, auth)),
            Ok(Err(m)) => Err(format!("init rejected the config: {}", sanitize(&m, MAX_ERROR))),
            Err(e) => Err(format!("init trapped: {}", sanitize(&format!("{e:#}"), MAX_ERROR))),
        }
    }

    /// The WIT version the plugin speaks.
    pub fn wit_version(&self) -> crate::version::WitVersion {
        self.pre.wit()
    }

    /// Plugin version (hash of code + config + settings).
    pub fn version(&self) -> u64 {
        self.version
    }

    fn with<R>(&self, f: impl FnOnce(&mut Store<HostState>, &AuthInstance) -> wasmtime::Result<R>) -> Result<R, String> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let (mut store, auth) = match live.take() {
            Some(i) => i,
            None => self.instantiate()?,
        };
        let _armed = crate::deadline::arm(&mut store, &self.engine, self.spec.settings.deadline);
        match f(&mut store, &auth) {
            Ok(r) => {
                *live = Some((store, auth));
                Ok(r)
            }
            Err(e) => {
                let msg = format!("auth plugin {} v{:016x} faulted ({}): {}", self.spec.name, self.version, classify(&e), sanitize(&format!("{e:#}"), MAX_ERROR));
                tracing::warn!(plugin = %self.spec.name, "{msg}");
                Err(msg)
            }
        }
    }

    /// The IKEv2 Auth Method the plugin implements (asked once at load).
    pub fn method(&self) -> Result<u8, String> {
        Ok(self.method)
    }

    /// The name from the plugin spec.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// `ctx` as this plugin may see it: without SK_p unless it is a NULL
    /// authentication plugin.
    fn scoped<'a>(&self, ctx: &'a AuthContext) -> std::borrow::Cow<'a, AuthContext> {
        if self.method == METHOD_NULL || ctx.sk_p.is_empty() {
            std::borrow::Cow::Borrowed(ctx)
        } else {
            let mut c = ctx.clone();
            c.sk_p = Vec::new();
            std::borrow::Cow::Owned(c)
        }
    }

    /// Produce our AUTH data.
    pub fn produce(&self, ctx: &AuthContext) -> Result<Vec<u8>, String> {
        let ctx = self.scoped(ctx);
        // The plugin's own error text is escaped and capped like its logs.
        self.with(|s, a| a.call_produce(s, &ctx))?.map_err(|m| sanitize(&m, MAX_ERROR))
    }

    /// Verify the peer's AUTH data: `Ok(true)` authenticated, `Ok(false)` a
    /// wrong AUTH value, `Err` a reason to log (no key for the peer,
    /// certificate problems, a fault).
    pub fn verify(&self, ctx: &AuthContext, auth_data: &[u8]) -> Result<bool, String> {
        let ctx = self.scoped(ctx);
        self.with(|s, a| a.call_verify(s, &ctx, auth_data))?.map_err(|m| sanitize(&m, MAX_ERROR))
    }
}

//! The `auth` world in every supported WIT version, behind one interface in
//! the latest types (0.1 and 0.2 differ only in their version).
use wasmtime::Store;

use crate::config::PluginSpec;
use crate::engine::PluginEngine;
use crate::error::PluginError;
use crate::latest::auth::AuthContext;
use crate::link::{self, Compiled};
use crate::state::HostState;
use crate::version::WitVersion;
use crate::{v0_1, v0_2};

/// A linked auth plugin, ready to instantiate.
pub enum AuthPre {
    V0_1(v0_1::auth::AuthPre<HostState>),
    V0_2(v0_2::auth::AuthPre<HostState>),
}

/// One instance of an auth plugin.
pub enum AuthInstance {
    V0_1(v0_1::auth::Auth),
    V0_2(v0_2::auth::Auth),
}

impl AuthPre {
    /// Link `compiled` as the auth world of its version.
    pub fn link(engine: &PluginEngine, spec: &PluginSpec, compiled: &Compiled) -> Result<Self, PluginError> {
        use wasmtime::component::HasSelf;
        let wrong = |e: wasmtime::Error| PluginError::WrongWorld {
            name: spec.name.clone(),
            world: "auth",
            host_version: compiled.wit.as_str(),
            reason: format!("{e:#}"),
        };
        Ok(match compiled.wit {
            WitVersion::V0_1 => {
                let pre = link::link(engine, spec, compiled, "auth", |l| v0_1::auth::Auth::add_to_linker::<HostState, HasSelf<HostState>>(l, |s| s))?;
                AuthPre::V0_1(v0_1::auth::AuthPre::new(pre).map_err(wrong)?)
            }
            WitVersion::V0_2 => {
                let pre = link::link(engine, spec, compiled, "auth", |l| v0_2::auth::Auth::add_to_linker::<HostState, HasSelf<HostState>>(l, |s| s))?;
                AuthPre::V0_2(v0_2::auth::AuthPre::new(pre).map_err(wrong)?)
            }
        })
    }

    /// The WIT version of the plugin.
    pub fn wit(&self) -> WitVersion {
        match self {
            AuthPre::V0_1(_) => WitVersion::V0_1,
            AuthPre::V0_2(_) => WitVersion::V0_2,
        }
    }

    /// A new instance in `store`.
    pub fn instantiate(&self, store: &mut Store<HostState>) -> wasmtime::Result<AuthInstance> {
        Ok(match self {
            AuthPre::V0_1(p) => AuthInstance::V0_1(p.instantiate(store)?),
            AuthPre::V0_2(p) => AuthInstance::V0_2(p.instantiate(store)?),
        })
    }
}

impl AuthInstance {
    /// The plugin's `init`.
    pub fn call_init(&self, store: &mut Store<HostState>) -> wasmtime::Result<Result<(), String>> {
        match self {
            AuthInstance::V0_1(a) => a.call_init(store),
            AuthInstance::V0_2(a) => a.call_init(store),
        }
    }

    /// The IKEv2 Auth Method the plugin implements.
    pub fn call_method(&self, store: &mut Store<HostState>) -> wasmtime::Result<u8> {
        match self {
            AuthInstance::V0_1(a) => a.call_method(store),
            AuthInstance::V0_2(a) => a.call_method(store),
        }
    }

    /// Produce our AUTH data.
    pub fn call_produce(&self, store: &mut Store<HostState>, ctx: &AuthContext) -> wasmtime::Result<Result<Vec<u8>, String>> {
        match self {
            AuthInstance::V0_1(a) => a.call_produce(store, &v0_1::auth::AuthContext::from(ctx)),
            AuthInstance::V0_2(a) => a.call_produce(store, ctx),
        }
    }

    /// Verify the peer's AUTH data.
    pub fn call_verify(&self, store: &mut Store<HostState>, ctx: &AuthContext, auth_data: &[u8]) -> wasmtime::Result<Result<bool, String>> {
        match self {
            AuthInstance::V0_1(a) => a.call_verify(store, &v0_1::auth::AuthContext::from(ctx), auth_data),
            AuthInstance::V0_2(a) => a.call_verify(store, ctx, auth_data),
        }
    }
}

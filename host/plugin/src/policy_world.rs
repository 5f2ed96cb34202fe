//! The `policy` world in every supported WIT version, behind one interface
//! in the latest types: a 0.1 plugin's `decide` and `sa-key` calls become one
//! latest decision; a 0.2 plugin answers both in one `decide` call.
use wasmtime::Store;

use crate::config::PluginSpec;
use crate::engine::PluginEngine;
use crate::error::PluginError;
use crate::latest::wit;
use crate::link::{self, Compiled};
use crate::state::HostState;
use crate::version::WitVersion;
use crate::{v0_1, v0_2};

/// A linked policy plugin, ready to instantiate.
pub enum PolicyPre {
    V0_1(v0_1::policy::PolicyPre<HostState>),
    V0_2(v0_2::policy::PolicyPre<HostState>),
}

/// One instance of a policy plugin.
pub enum PolicyInstance {
    V0_1(v0_1::policy::Policy),
    V0_2(v0_2::policy::Policy),
}

/// A failed call: which export (`decide: `, `sa-key: `) and the error.
pub type CallError = (&'static str, wasmtime::Error);

impl PolicyPre {
    /// Link `compiled` as the policy world of its version.
    pub fn link(engine: &PluginEngine, spec: &PluginSpec, compiled: &Compiled) -> Result<Self, PluginError> {
        use wasmtime::component::HasSelf;
        let wrong = |e: wasmtime::Error| PluginError::WrongWorld {
            name: spec.name.clone(),
            world: "policy",
            host_version: compiled.wit.as_str(),
            reason: format!("{e:#}"),
        };
        Ok(match compiled.wit {
            WitVersion::V0_1 => {
                let pre = link::link(engine, spec, compiled, "policy", |l| v0_1::policy::Policy::add_to_linker::<HostState, HasSelf<HostState>>(l, |s| s))?;
                PolicyPre::V0_1(v0_1::policy::PolicyPre::new(pre).map_err(wrong)?)
            }
            WitVersion::V0_2 => {
                let pre = link::link(engine, spec, compiled, "policy", |l| v0_2::policy::Policy::add_to_linker::<HostState, HasSelf<HostState>>(l, |s| s))?;
                PolicyPre::V0_2(v0_2::policy::PolicyPre::new(pre).map_err(wrong)?)
            }
        })
    }

    /// The WIT version of the plugin.
    pub fn wit(&self) -> WitVersion {
        match self {
            PolicyPre::V0_1(_) => WitVersion::V0_1,
            PolicyPre::V0_2(_) => WitVersion::V0_2,
        }
    }

    /// A new instance in `store`.
    pub fn instantiate(&self, store: &mut Store<HostState>) -> wasmtime::Result<PolicyInstance> {
        Ok(match self {
            PolicyPre::V0_1(p) => PolicyInstance::V0_1(p.instantiate(store)?),
            PolicyPre::V0_2(p) => PolicyInstance::V0_2(p.instantiate(store)?),
        })
    }
}

impl PolicyInstance {
    /// The plugin's `init`.
    pub fn call_init(&self, store: &mut Store<HostState>) -> wasmtime::Result<Result<(), String>> {
        match self {
            PolicyInstance::V0_1(p) => p.call_init(store),
            PolicyInstance::V0_2(p) => p.call_init(store),
        }
    }

    /// Decide `flow`: the verdict and its SA key (0.1: `sa-key` is asked
    /// only after a verdict that uses SAs).
    pub fn call_decide(&self, store: &mut Store<HostState>, flow: &wit::Flow) -> Result<wit::Decision, CallError> {
        match self {
            PolicyInstance::V0_2(p) => p.call_decide(store, flow).map_err(|e| ("decide: ", e)),
            PolicyInstance::V0_1(p) => {
                let old = v0_1::wit::Flow::from(flow);
                let d = p.call_decide(&mut *store, &old).map_err(|e| ("decide: ", e))?;
                let key = if v0_1::convert::uses_sa(&d.verdict) {
                    p.call_sa_key(&mut *store, &old).map_err(|e| ("sa-key: ", e))?
                } else {
                    None
                };
                Ok(v0_1::convert::decision(d, key))
            }
        }
    }
}

//! esprit-plugin: the wasmtime host for esprit's Wasm plugins (issue 4,
//! DESIGN.md §2 "plugin").
//!
//! - [`engine::PluginEngine`]: one wasmtime `Engine` (pooling allocator,
//!   epoch interruption, lean feature set) plus its epoch ticker thread.
//! - [`policy::PolicyPlugin`]: a loaded `policy` world plugin; implements
//!   [`esprit_sadb::decider::PolicyDecider`] with fault containment
//!   (deadline, memory cap, traps → failure verdict, quarantine).
//! - [`compile_helper`] / [`compile_job`]: new code is compiled in a child
//!   process (the `esprit-plugin-compile` binary, or `esprit` itself), and
//!   [`artifact`] checks what it wrote before it is loaded.
//! - [`reload::HotPolicy`]: a policy plugin that follows its files (`notify`),
//!   swapped atomically.
//! - [`auth::AuthPlugin`]: a loaded `auth` world plugin (minimal: load + call).
//! - [`build::ensure_plugins_built`]: builds `plugins/` to wasm for tests.
//!
//! The WIT contract lives in `sdk/wit` (live: `esprit:plugin@0.2.0`;
//! released versions frozen in `sdk/wit/v0.X.Y/`). Each supported version
//! has its own binding module ([`v0_1`], [`v0_2`]), as Zed's extension host
//! does: [`version`] says which a component speaks, [`policy_world`] and
//! [`auth_world`] call it, and older versions convert to the latest types
//! ([`latest`]), which the rest of the host uses.
#![deny(unsafe_code)]

pub mod artifact;
pub mod auth;
pub mod auth_world;
pub mod bounds;
pub mod build;
pub mod code_cache;
pub mod compile_helper;
pub mod compile_job;
pub mod config;
pub mod convert;
pub mod deadline;
pub mod engine;
pub mod error;
pub mod fault;
pub mod flow_text;
pub mod host_crypto;
pub mod inspect;
pub mod lang_tools;
pub mod link;
pub mod loader;
pub mod log_limit;
pub mod policy;
pub mod policy_world;
pub mod reload;
pub mod scaffold;
pub mod state;
pub mod toml_error;
pub mod v0_1;
pub mod v0_2;
pub mod version;
pub mod verdict_check;
pub mod watch;

pub use config::{FailureVerdict, PluginSettings, PluginSpec};
pub use compile_helper::Helper;
pub use engine::{CompileIn, EngineSettings, PluginEngine};
pub use error::PluginError;
pub use fault::{FaultKind, FaultStats};
pub use flow_text::parse_flow;
pub use policy::{Explanation, PolicyPlugin};
pub use reload::HotPolicy;
/// The latest WIT version's bindings: the host's internal plugin types.
pub use v0_2 as latest;
pub use version::WitVersion;
pub use verdict_check::{check_decision, check_verdict, InvalidVerdict};


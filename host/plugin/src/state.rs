//! Per-store host state: what the host imports need to answer one plugin.
use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::StoreLimits;

use crate::host_crypto::KeyStore;
use crate::log_limit::LogLimiter;

/// The data of one plugin's `Store`: its identity (for log lines), its own
/// config section, the key handles it may sign with and its resource limits.
pub struct HostState {
    /// Plugin name, as in the operator's config.
    pub name: Arc<str>,
    /// Plugin version (hash of code and config), for log lines.
    pub version: u64,
    /// The plugin's own config section, flattened (see `host.config-get`).
    pub config: Arc<BTreeMap<String, String>>,
    /// Private keys the plugin may use by handle (never by value).
    pub keys: Arc<KeyStore>,
    /// The plugin's `host.log` budget (shared by its instances and versions).
    pub log_limit: Arc<LogLimiter>,
    /// Memory/table/instance caps enforced by wasmtime.
    pub limits: StoreLimits,
    /// The running call's CPU-time budget (see [`crate::deadline`]).
    pub call: crate::deadline::CallBudget,
}

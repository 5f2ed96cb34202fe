//! Errors of loading and running plugins.
use std::path::PathBuf;

/// Why a plugin could not be loaded (a running plugin never returns an
/// error to the SPD: faults become the failure verdict, see [`crate::fault`]).
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The plugin file could not be read.
    #[error("cannot read plugin {path}: {error}")]
    Read {
        path: PathBuf,
        // In the message, not a `source`: a `{:#}` chain would print it twice.
        error: std::io::Error,
    },
    /// The bytes are not a valid WebAssembly component (truncated, a core
    /// module, garbage).
    #[error("plugin {name}: not a valid WebAssembly component: {reason}")]
    Compile { name: String, reason: String },
    /// The compile helper (a child process) failed: it crashed, exited
    /// non-zero, ran past its time, or wrote code that does not check out.
    #[error("plugin {name}: compiling it in a child process ({helper}) failed: {reason}")]
    CompileHelper { name: String, helper: String, reason: String },
    /// The component imports something this host does not provide (e.g. a
    /// different `esprit:plugin` WIT version).
    #[error("plugin {name}: imports `{import}`, which this host does not provide (host speaks esprit:plugin@{host_version}{hint})")]
    UnknownImport {
        name: String,
        import: String,
        host_version: &'static str,
        hint: String,
    },
    /// The component speaks an `esprit:plugin` version this host does not
    /// support, several at once, or none.
    #[error("plugin {name}: {reason}")]
    UnsupportedVersion { name: String, reason: String },
    /// The component does not export the world's functions with the right types.
    #[error("plugin {name}: does not implement world `{world}` of esprit:plugin@{host_version}: {reason}")]
    WrongWorld {
        name: String,
        world: &'static str,
        host_version: &'static str,
        reason: String,
    },
    /// Instantiation failed (e.g. initial memory above the memory cap).
    #[error("plugin {name}: instantiation failed: {reason}")]
    Instantiate { name: String, reason: String },
    /// The plugin's `init` rejected its config, or trapped.
    #[error("plugin {name}: init failed: {reason}")]
    Init { name: String, reason: String },
    /// The plugin faulted on the self-check decision after loading.
    #[error("plugin {name}: self-check failed: {reason}")]
    SelfCheck { name: String, reason: String },
    /// The plugin spec file is invalid; `reason` starts with `FILE:LINE:COL`.
    #[error("plugin spec {reason}")]
    Config { path: PathBuf, reason: String },
    /// Engine creation failed.
    #[error("wasm engine: {0}")]
    Engine(String),
    /// A watched reload found the same files that were last rejected (not
    /// tried nor counted again).
    #[error("plugin {name}: files unchanged since their rejection: {reason}")]
    Unchanged { name: String, reason: String },
    /// File watching failed.
    #[error("watching {path}: {reason}")]
    Watch { path: PathBuf, reason: String },
}

//! Loading common to every world: hash the code, compile, check the imports
//! against what this host speaks, link (no WASI granted) and pre-instantiate.
use std::collections::BTreeMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmtime::component::{InstancePre, Linker};
use wasmtime::{Store, StoreLimitsBuilder};

use crate::config::PluginSpec;
use crate::engine::PluginEngine;
use crate::error::PluginError;
use crate::host_crypto::KeyStore;
use crate::state::HostState;
use crate::v0_1::{WIT_PACKAGE, WIT_VERSION};

/// The interfaces of `esprit:plugin@0.1.0` this host provides.
const PROVIDED: [&str; 3] = ["esprit:plugin/types@0.1.0", "esprit:plugin/host@0.1.0", "esprit:plugin/crypto@0.1.0"];

/// Hash of the code and the plugin's version (code + config + settings).
pub fn code_and_version(bytes: &[u8], spec: &PluginSpec) -> ([u8; 32], u64) {
    let code: [u8; 32] = Sha256::digest(bytes).into();
    let mut h = Sha256::new();
    h.update(code);
    h.update(spec.name.as_bytes());
    for (k, v) in &spec.config {
        h.update((k.len() as u64).to_le_bytes());
        h.update(k.as_bytes());
        h.update((v.len() as u64).to_le_bytes());
        h.update(v.as_bytes());
    }
    h.update(format!("{:?}", spec.settings).as_bytes());
    let d = h.finalize();
    let mut v = [0u8; 8];
    v.copy_from_slice(&d[..8]);
    (code, u64::from_be_bytes(v))
}

/// Check every import: our own interfaces pass; `wasi:*` imports (which
/// Rust's std references for panics/stdio) are linked to functions that trap,
/// so no WASI capability is ever granted; anything else is rejected.
fn check_imports(engine: &PluginEngine, name: &str, component: &wasmtime::component::Component) -> Result<(), PluginError> {
    for (import, _) in component.component_type().imports(engine.engine()) {
        if PROVIDED.contains(&import) || import.starts_with("wasi:") {
            continue;
        }
        let hint = match import.strip_prefix("esprit:plugin/").and_then(|rest| rest.split_once('@')) {
            Some((_, v)) if v != WIT_VERSION => format!("; the plugin was built against {WIT_PACKAGE}@{v}"),
            _ => String::new(),
        };
        return Err(PluginError::UnknownImport { name: name.to_string(), import: import.to_string(), host_version: WIT_VERSION, hint });
    }
    Ok(())
}

/// Compile, check and link a plugin for one world; `add_world` adds the
/// world's host interfaces to the linker.
pub fn prepare(
    engine: &PluginEngine,
    spec: &PluginSpec,
    bytes: &[u8],
    add_world: impl FnOnce(&mut Linker<HostState>) -> wasmtime::Result<()>,
) -> Result<(InstancePre<HostState>, u64), PluginError> {
    let (code, version) = code_and_version(bytes, spec);
    let component = engine.compile(&spec.name, bytes, code)?;
    check_imports(engine, &spec.name, &component)?;
    let mut linker = Linker::new(engine.engine());
    let inst = |e: wasmtime::Error| PluginError::Instantiate { name: spec.name.clone(), reason: format!("{e:#}") };
    add_world(&mut linker).map_err(inst)?;
    linker.define_unknown_imports_as_traps(&component).map_err(inst)?;
    let pre = linker.instantiate_pre(&component).map_err(|e| PluginError::WrongWorld {
        name: spec.name.clone(),
        world: "?",
        host_version: WIT_VERSION,
        reason: format!("{e:#}"),
    })?;
    Ok((pre, version))
}

/// A fresh store for one instance of a plugin.
pub fn new_store(engine: &PluginEngine, spec: &PluginSpec, version: u64, config: &Arc<BTreeMap<String, String>>, keys: &Arc<KeyStore>) -> Store<HostState> {
    let limits = StoreLimitsBuilder::new()
        .memory_size(spec.settings.memory_limit)
        .instances(64)
        .tables(32)
        .memories(8)
        .trap_on_grow_failure(true)
        .build();
    let state = HostState {
        name: Arc::from(spec.name.as_str()),
        version,
        config: config.clone(),
        keys: keys.clone(),
        log_limit: crate::log_limit::LogLimiter::for_plugin(&spec.name),
        limits,
        call: crate::deadline::CallBudget::default(),
    };
    let mut store = Store::new(engine.engine(), state);
    store.limiter(|s| &mut s.limits);
    crate::deadline::install(&mut store, engine);
    store
}

/// Read a plugin file.
pub fn read(path: &std::path::Path) -> Result<Vec<u8>, PluginError> {
    std::fs::read(path).map_err(|source| PluginError::Read { path: path.to_path_buf(), error: source })
}

//! Loading common to every world and version: compile, find the
//! `esprit:plugin` version the component speaks ([`crate::version`]), check
//! its imports against what the host provides for that version, and link the
//! version's world (no WASI granted: `wasi:*` imports trap).
use wasmtime::component::{Component, InstancePre, Linker};

use crate::config::PluginSpec;
use crate::engine::PluginEngine;
use crate::error::PluginError;
use crate::loader;
use crate::state::HostState;
use crate::version::{detect, Undetected, WitVersion, WIT_PACKAGE};

/// A compiled component and the version it speaks.
pub struct Compiled {
    pub component: Component,
    /// The WIT version the component speaks.
    pub wit: WitVersion,
    /// The plugin's version (hash of code + config + settings).
    pub version: u64,
}

/// Compile `bytes` and find the WIT version it speaks; an unknown, mixed or
/// missing version is a one-line [`PluginError::UnsupportedVersion`].
pub fn compile(engine: &PluginEngine, spec: &PluginSpec, bytes: &[u8]) -> Result<Compiled, PluginError> {
    let (code, version) = loader::code_and_version(bytes, spec);
    let component = engine.compile(&spec.name, bytes, code)?;
    let wit = wit_version(engine, &spec.name, &component)?;
    check_imports(engine, &spec.name, &component, wit)?;
    Ok(Compiled { component, wit, version })
}

fn wit_version(engine: &PluginEngine, name: &str, component: &Component) -> Result<WitVersion, PluginError> {
    let ty = component.component_type();
    let names: Vec<String> = ty.imports(engine.engine()).chain(ty.exports(engine.engine())).map(|(n, _)| n.to_string()).collect();
    let supported = WitVersion::supported_list();
    detect(names.iter().map(String::as_str)).map_err(|why| {
        let reason = match why {
            Undetected::Unsupported(v) => format!(
                "built against {WIT_PACKAGE}@{v}, which this esprit does not support (supported: {supported}); rebuild it against sdk/wit"
            ),
            Undetected::Mixed(vs) => {
                format!("names {WIT_PACKAGE} versions {} at once; a plugin speaks one (supported: {supported})", vs.join(" and "))
            }
            Undetected::NoEspritInterface => {
                format!("names no {WIT_PACKAGE} interface: not an esprit plugin (build it against sdk/wit, versions {supported})")
            }
        };
        PluginError::UnsupportedVersion { name: name.to_string(), reason: crate::bounds::escape_controls(&reason).into_owned() }
    })
}

/// Our own interfaces of `wit` pass; `wasi:*` imports (which language
/// runtimes reference) are linked to functions that trap; anything else is
/// rejected.
fn check_imports(engine: &PluginEngine, name: &str, component: &Component, wit: WitVersion) -> Result<(), PluginError> {
    for (import, _) in component.component_type().imports(engine.engine()) {
        if wit.provided().contains(&import) || import.starts_with("wasi:") {
            continue;
        }
        return Err(PluginError::UnknownImport {
            name: name.to_string(),
            import: crate::bounds::escape_controls(import).into_owned(),
            host_version: wit.as_str(),
            hint: String::new(),
        });
    }
    Ok(())
}

/// Link a compiled component for one world; `add_world` adds the world's
/// host interfaces (of the component's version) to the linker.
pub fn link(
    engine: &PluginEngine,
    spec: &PluginSpec,
    compiled: &Compiled,
    world: &'static str,
    add_world: impl FnOnce(&mut Linker<HostState>) -> wasmtime::Result<()>,
) -> Result<InstancePre<HostState>, PluginError> {
    let mut linker = Linker::new(engine.engine());
    let inst = |e: wasmtime::Error| PluginError::Instantiate { name: spec.name.clone(), reason: format!("{e:#}") };
    add_world(&mut linker).map_err(inst)?;
    linker.define_unknown_imports_as_traps(&compiled.component).map_err(inst)?;
    linker.instantiate_pre(&compiled.component).map_err(|e| PluginError::WrongWorld {
        name: spec.name.clone(),
        world,
        host_version: compiled.wit.as_str(),
        reason: format!("{e:#}"),
    })
}

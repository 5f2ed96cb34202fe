//! `esprit plugin check`: load a plugin the way the daemon would (compile,
//! link against the host's worlds, instantiate, `init`, self-check) and say
//! what it is: its world and WIT version, its version hash, what it imports
//! and exports, and what it decided for the self-check's probe flow (policy)
//! or which IKE auth method it implements (auth).

use std::sync::Arc;
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::auth::AuthPlugin;
use crate::bounds::escape_controls;
use crate::config::PluginSpec;
use crate::engine::PluginEngine;
use crate::error::PluginError;
use crate::host_crypto::KeyStore;
use crate::loader;
use crate::policy::{probe_flow, PolicyPlugin};

/// What `check` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub name: String,
    pub path: String,
    pub size: usize,
    pub sha256: String,
    /// `policy` or `auth`.
    pub world: &'static str,
    /// e.g. `esprit:plugin@0.1.0`.
    pub wit: String,
    /// The plugin version esprit shows in status and logs (code + config + settings).
    pub version: String,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    /// The self-check: the probe flow's decision, or the auth method.
    pub self_check: String,
    pub load_ms: u128,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "plugin {} ({}, {} bytes, sha256 {})", self.name, self.path, self.size, self.sha256)?;
        writeln!(f, "  world       {} ({})", self.world, self.wit)?;
        writeln!(f, "  version     {}", self.version)?;
        let (wasi, own): (Vec<&String>, Vec<&String>) = self.imports.iter().partition(|i| i.starts_with("wasi:"));
        let own: Vec<&str> = own.iter().map(|s| s.as_str()).collect();
        writeln!(f, "  imports     {}", if own.is_empty() { "(none)".to_string() } else { own.join(", ") })?;
        if !wasi.is_empty() {
            writeln!(f, "  wasi        {} interfaces imported, each linked to functions that trap (no WASI capability is granted)", wasi.len())?;
        }
        writeln!(f, "  exports     {}", self.exports.join(", "))?;
        writeln!(f, "  self-check  {}", self.self_check)?;
        write!(f, "  loaded in   {} ms", self.load_ms)
    }
}

/// Loads `spec` as a policy plugin, or else as an auth plugin, and reports.
/// Any load, link, `init` or self-check failure is the error.
pub fn check(engine: &PluginEngine, spec: PluginSpec) -> Result<Report, PluginError> {
    let t = Instant::now();
    let bytes = loader::read(&spec.path)?;
    let (code, _) = loader::code_and_version(&bytes, &spec);
    let component = engine.compile(&spec.name, &bytes, code)?;
    let ty = component.component_type();
    let imports: Vec<String> = ty.imports(engine.engine()).map(|(n, _)| escape_controls(n).into_owned()).collect();
    let exports: Vec<String> = ty.exports(engine.engine()).map(|(n, _)| escape_controls(n).into_owned()).collect();
    let (world, wit, version, self_check) = match PolicyPlugin::from_bytes(engine, spec.clone(), &bytes, Arc::default()) {
        Ok(p) => {
            let flow = probe_flow();
            let e = p.explain(&flow);
            let probe = format!("tcp {}:{} -> {}:{}", flow.src, flow.src_port, flow.dst, flow.dst_port);
            ("policy", p.wit_version(), e.plugin_version, format!("probe {probe}: {:?}: {}", e.decision.verdict, e.decision.explanation))
        }
        Err(PluginError::WrongWorld { .. }) => {
            let a = AuthPlugin::from_bytes(engine, spec.clone(), &bytes, Arc::new(KeyStore::default()))?;
            let m = a.method().map_err(|reason| PluginError::Init { name: spec.name.clone(), reason })?;
            ("auth", a.wit_version(), a.version(), format!("IKEv2 auth method {m}{}", method_name(m)))
        }
        Err(e) => return Err(e),
    };
    Ok(Report {
        name: spec.name.clone(),
        path: spec.path.display().to_string(),
        size: bytes.len(),
        sha256: Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect(),
        world,
        wit: wit.to_string(),
        version: format!("{version:016x}"),
        imports,
        exports,
        self_check: escape_controls(&self_check).into_owned(),
        load_ms: t.elapsed().as_millis(),
    })
}

/// RFC 7296 §3.8 / IANA names of the methods esprit's plugins use.
fn method_name(m: u8) -> &'static str {
    match m {
        1 => " (RSA digital signature)",
        2 => " (shared key message integrity code)",
        3 => " (DSS digital signature)",
        9..=11 => " (ECDSA)",
        13 => " (NULL authentication, RFC 7619)",
        14 => " (digital signature, RFC 7427)",
        _ => "",
    }
}

//! The IKE core's [`AuthBackend`] over Wasm `auth` plugins: each `[[conn]]`
//! names a plugin by its spec name; private keys from `[[conn]] key` live in
//! the host key store under the connection's name.
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use esprit_crypto::prf::PrfAlg;
use esprit_ike::message::id::id_type;
use esprit_ike::{AuthBackend, AuthError, AuthInput, Identity};
use esprit_plugin::auth::{AuthContext, AuthPlugin, HashAlg, IkeRole};
use esprit_plugin::host_crypto::KeyStore;
use esprit_plugin::latest::wit::{Identity as WitId, IpAddress};
use esprit_plugin::{PluginEngine, PluginSpec};
use tracing::info;

/// Loaded auth plugins by name.
pub struct PluginAuth {
    plugins: HashMap<String, AuthPlugin>,
}

/// Per-call deadline of an auth plugin whose spec sets no `deadline_us`.
/// The plugin default (1 ms) is sized for per-packet policy decisions; an
/// auth call runs once per IKE_AUTH (PRF, signatures, chain checks), and on a
/// busy host a 1 ms budget made the NULL-auth plugin fault ("deadline
/// exceeded") now and then, failing the IKE SA ("cannot produce our AUTH").
pub const AUTH_DEADLINE: std::time::Duration = std::time::Duration::from_millis(200);

/// Reads a plugin spec file (to learn its name and `.wasm`).
pub fn read_spec(path: &Path) -> Result<PluginSpec> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading plugin spec {}", path.display()))?;
    // An auth spec may hold a PSK: `from_toml`'s errors name the position
    // and never quote the file.
    let base = path.parent().unwrap_or(Path::new("."));
    let mut spec = PluginSpec::from_toml(&text, base, path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let explicit = text.parse::<toml::Table>().map(|t| t.contains_key("deadline_us")).unwrap_or(true);
    if !explicit {
        spec.settings.deadline = AUTH_DEADLINE;
    }
    Ok(spec)
}

impl PluginAuth {
    pub fn load(engine: &PluginEngine, specs: Vec<PluginSpec>, keys: Arc<KeyStore>) -> Result<PluginAuth> {
        let mut plugins = HashMap::new();
        for spec in specs {
            let bytes = std::fs::read(&spec.path).with_context(|| format!("auth plugin {}: reading {}", spec.name, spec.path.display()))?;
            let name = spec.name.clone();
            let p = AuthPlugin::from_bytes(engine, spec, &bytes, Arc::clone(&keys)).map_err(|e| anyhow::anyhow!("auth plugin {name}: {e}"))?;
            info!(plugin = %name, method = p.method().unwrap_or(0), "auth plugin loaded");
            plugins.insert(name, p);
        }
        Ok(PluginAuth { plugins })
    }

    fn get(&self, name: &str) -> Result<&AuthPlugin, AuthError> {
        self.plugins.get(name).ok_or_else(|| AuthError::UnknownBackend(name.to_string()))
    }
}

fn wit_id(i: &Identity) -> WitId {
    let d = &i.data;
    match i.id_type {
        id_type::IPV4_ADDR if d.len() == 4 => WitId::IpAddr(IpAddress::Ipv4((d[0], d[1], d[2], d[3]))),
        id_type::IPV6_ADDR if d.len() == 16 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(d);
            let s = std::net::Ipv6Addr::from(o).segments();
            WitId::IpAddr(IpAddress::Ipv6((s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7])))
        }
        id_type::FQDN => WitId::Fqdn(String::from_utf8_lossy(d).into_owned()),
        id_type::RFC822_ADDR => WitId::Rfc822(String::from_utf8_lossy(d).into_owned()),
        id_type::DER_ASN1_DN => WitId::DerAsn1Dn(d.clone()),
        id_type::NULL => WitId::Null,
        _ => WitId::KeyId(d.clone()),
    }
}

fn context(method: u8, i: &AuthInput<'_>) -> AuthContext {
    AuthContext {
        method,
        prf: match i.prf {
            PrfAlg::HmacSha256 => HashAlg::Sha256,
            PrfAlg::HmacSha384 => HashAlg::Sha384,
            PrfAlg::HmacSha512 => HashAlg::Sha512,
        },
        role: if i.signer_is_initiator { IkeRole::Initiator } else { IkeRole::Responder },
        local_id: wit_id(i.local_id),
        peer_id: wit_id(i.peer_id),
        signed_octets: i.signed_octets.to_vec(),
        peer_certs: i.peer_certs.to_vec(),
        sk_p: i.sk_p.to_vec(),
    }
}

impl AuthBackend for PluginAuth {
    fn method(&mut self, backend: &str) -> Result<u8, AuthError> {
        Ok(self.get(backend)?.method()?)
    }
    fn produce(&mut self, backend: &str, input: &AuthInput<'_>) -> Result<Vec<u8>, AuthError> {
        let p = self.get(backend)?;
        let m = p.method()?;
        Ok(p.produce(&context(m, input))?)
    }
    fn verify(&mut self, backend: &str, input: &AuthInput<'_>, method: u8, data: &[u8]) -> Result<bool, AuthError> {
        Ok(self.get(backend)?.verify(&context(method, input), data)?)
    }
}

//! `x509-auth`: certificate authentication with RFC 7427 Digital Signatures
//! (auth method 14) as an `auth` world plugin.
//!
//! - `produce` signs the signed octets with the host key `key_handle` (the
//!   key never enters the plugin) and emits RFC 7427 §3 AUTH data: a length
//!   octet, the AlgorithmIdentifier (RFC 7427 Appendix A encodings), the
//!   signature.
//! - `verify` accepts method 14 only. Method 1 (RSA Digital Signature) is
//!   RSASSA-PKCS1-v1_5 with SHA-1 (RFC 7296 §3.8) and method 9/10/11 (ECDSA,
//!   RFC 4754) carry no algorithm negotiation; both are refused with a reason
//!   telling the operator to enable RFC 7427 signatures on the peer. SHA-1
//!   AlgorithmIdentifiers are refused too. Then: the peer's end-entity
//!   certificate (`peer-certs[0]`) is validated up to a configured CA, with
//!   the intermediates the peer sent (`peer-certs[1..]`): signatures (host
//!   `crypto.verify`), validity against the host clock, basicConstraints cA
//!   and keyUsage; the peer's IKE ID must match the certificate; finally the
//!   AUTH signature is checked with the certificate's key.
//!
//! `verify` returns `Err(reason)` for every certificate or identity problem
//! (the host logs it) and `Ok(false)` only when the signature itself is
//! wrong (logged by the plugin as `signature does not verify ...`).
//!
//! # Config (the plugin spec's `[config]` / `[config_files]`)
//!
//! | key | meaning |
//! |---|---|
//! | `ca` | PEM text of one or more trusted CA certificates (required to verify); usually `[config_files] ca = "ca.pem"` |
//! | `key_handle` | host key handle to sign with (the host registers a `[[conn]]`'s `key` under the conn's name); required to produce |
//! | `scheme` | `ecdsa-p256-sha256` (default), `ecdsa-p384-sha384`, `ed25519`, `rsa-pkcs1-sha256`, `rsa-pss-sha256` |
//! | `remote_id_check` | `san-or-dn` (default): FQDN → SAN dNSName, email → SAN rfc822Name, IP → SAN iPAddress, DN → subject DN; `none`: any certificate from the CA is accepted for any ID |
wit_bindgen::generate!({
    path: "../../sdk/wit",
    world: "esprit:plugin/auth@0.2.0",
});

mod algid;
mod chain;
mod ext;
mod idcheck;
mod name;
// Shared with psk-auth; x509-auth uses only part of it.
#[allow(dead_code)]
#[path = "../../psk-auth/src/ids.rs"]
mod ids;

use std::sync::OnceLock;

use esprit::plugin::crypto::{sign, verify as host_verify, SignatureScheme};
use esprit::plugin::host::{config_get, config_keys, log, now_unix_ms, LogLevel};
use esprit::plugin::types::IpAddress;

/// IKEv2 Auth Method 14: Digital Signature (RFC 7427).
const METHOD_DIGITAL_SIGNATURE: u8 = 14;

/// Parsed config.
struct Config {
    /// DER of the trusted CA certificates (parsed again per use: the
    /// parsed form borrows).
    cas: Vec<Vec<u8>>,
    key_handle: Option<String>,
    scheme: SignatureScheme,
    check_id: bool,
}

static CONFIG: OnceLock<Config> = OnceLock::new();

const KEYS: [&str; 4] = ["ca", "key_handle", "scheme", "remote_id_check"];

fn parse_scheme(s: &str) -> Result<SignatureScheme, String> {
    Ok(match s.trim() {
        "ecdsa-p256-sha256" => SignatureScheme::EcdsaP256Sha256,
        "ecdsa-p384-sha384" => SignatureScheme::EcdsaP384Sha384,
        "ed25519" => SignatureScheme::Ed25519,
        "rsa-pkcs1-sha256" => SignatureScheme::RsaPkcs1Sha256,
        "rsa-pss-sha256" => SignatureScheme::RsaPssSha256,
        other => {
            return Err(format!(
                "x509-auth: `scheme` {other:?} is not one of ecdsa-p256-sha256, ecdsa-p384-sha384, ed25519, rsa-pkcs1-sha256, rsa-pss-sha256"
            ))
        }
    })
}

fn load() -> Result<Config, String> {
    if let Some(k) = config_keys().iter().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!("x509-auth: unknown config key `{k}` (known: {})", KEYS.join(", ")));
    }
    let cas = match config_get("ca") {
        Some(pem) => {
            let cas = chain::pem_certs(&pem).map_err(|e| format!("x509-auth: {e}"))?;
            for (i, der) in cas.iter().enumerate() {
                chain::parse_der(der, &format!("x509-auth: `ca` certificate #{}", i + 1))?;
            }
            cas
        }
        None => Vec::new(),
    };
    let scheme = parse_scheme(&config_get("scheme").unwrap_or_else(|| "ecdsa-p256-sha256".into()))?;
    let check_id = match config_get("remote_id_check").as_deref() {
        None | Some("san-or-dn") => true,
        Some("none") => false,
        Some(other) => return Err(format!("x509-auth: `remote_id_check` {other:?} must be \"san-or-dn\" or \"none\"")),
    };
    let key_handle = config_get("key_handle").filter(|k| !k.is_empty());
    if cas.is_empty() && key_handle.is_none() {
        return Err("x509-auth: set `ca` (to verify peers) and/or `key_handle` (to sign)".into());
    }
    Ok(Config { cas, key_handle, scheme, check_id })
}

fn config() -> Result<&'static Config, String> {
    if let Some(c) = CONFIG.get() {
        return Ok(c);
    }
    let c = load()?;
    Ok(CONFIG.get_or_init(|| c))
}

fn method_name(m: u8) -> &'static str {
    match m {
        1 => "RSA Digital Signature",
        2 => "Shared Key Message Integrity Code",
        3 => "DSS Digital Signature",
        9 => "ECDSA with SHA-256 on P-256",
        10 => "ECDSA with SHA-384 on P-384",
        11 => "ECDSA with SHA-512 on P-521",
        13 => "NULL Authentication",
        14 => "Digital Signature",
        _ => "unknown",
    }
}

fn produce(ctx: &AuthContext) -> Result<Vec<u8>, String> {
    let c = config()?;
    let handle = c.key_handle.as_deref().ok_or(
        "x509-auth: no `key_handle` configured; set it to the name of the [[conn]] whose `key` this plugin signs with",
    )?;
    let sig = sign(handle, c.scheme, &ctx.signed_octets).map_err(|e| format!("x509-auth: signing with key `{handle}`: {e}"))?;
    Ok(algid::auth_data(c.scheme, &sig))
}

fn verify(ctx: &AuthContext, auth_data: &[u8]) -> Result<bool, String> {
    let c = config()?;
    match ctx.method {
        METHOD_DIGITAL_SIGNATURE => {}
        1 => {
            return Err("peer used auth method 1 (RSA Digital Signature: PKCS#1 v1.5 with SHA-1), which is not acceptable; \
                        configure the peer for RFC 7427 Digital Signature (method 14)"
                .into())
        }
        m => {
            return Err(format!(
                "peer used auth method {m} ({}); x509-auth verifies method 14 (Digital Signature, RFC 7427) only",
                method_name(m)
            ))
        }
    }
    if c.cas.is_empty() {
        return Err("x509-auth: no `ca` configured, cannot verify peer certificates".into());
    }
    let (alg, signature) = algid::parse_auth_data(auth_data).map_err(|e| format!("peer AUTH payload: {e}"))?;
    let peer: Vec<_> = ctx
        .peer_certs
        .iter()
        .enumerate()
        .map(|(i, der)| chain::parse_der(der, &format!("peer certificate #{}", i + 1)))
        .collect::<Result<_, _>>()?;
    let trusted: Vec<_> = c
        .cas
        .iter()
        .map(|der| chain::parse_der(der, "`ca`"))
        .collect::<Result<_, _>>()?;
    let now = i64::try_from(now_unix_ms() / 1000).unwrap_or(i64::MAX);
    chain::validate(&peer, &trusted, now)?;
    let ee = &peer[0];
    let peer_id = ids::Id::from_identity(&ctx.peer_id);
    if c.check_id {
        idcheck::check(ee, &peer_id)?;
    }
    let spki = ee.public_key().raw;
    let key = algid::KeyType::of_spki(spki);
    let scheme = alg.scheme(key).map_err(|e| format!("peer AUTH payload: {e} (certificate {})", name::subject(ee)))?;
    if host_verify(scheme, spki, &ctx.signed_octets, signature) {
        Ok(true)
    } else {
        log(
            LogLevel::Warn,
            &format!("signature does not verify: AUTH from {peer_id} ({}) does not match the key of certificate {}", alg.name(), name::subject(ee)),
        );
        Ok(false)
    }
}

struct X509;

impl Guest for X509 {
    fn init() -> Result<(), String> {
        config().map(|_| ())
    }

    fn method() -> u8 {
        METHOD_DIGITAL_SIGNATURE
    }

    fn produce(ctx: AuthContext) -> Result<Vec<u8>, String> {
        produce(&ctx)
    }

    fn verify(ctx: AuthContext, auth_data: Vec<u8>) -> Result<bool, String> {
        verify(&ctx, &auth_data)
    }
}

export!(X509);

//! `psk-auth`: IKEv2 Shared Key Message Integrity Code (auth method 2,
//! RFC 7296 §2.15) as an `auth` world plugin, written with plain
//! `wit-bindgen` (the SDK's `auth` feature would do the same):
//!
//! AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets> )
//!
//! The prf runs in the host (`crypto.hmac`). Config: `psk` (the secret, as
//! text), `prf` = `sha256` (default), `sha384` or `sha512` (RFC 4868).
wit_bindgen::generate!({
    path: "../../sdk/wit",
    world: "esprit:plugin/auth@0.1.0",
});

use esprit::plugin::crypto::{hmac, HashAlg};
use esprit::plugin::host::config_get;

/// RFC 7296 §2.15 key pad.
const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

fn alg() -> Result<HashAlg, String> {
    match config_get("prf").as_deref() {
        None | Some("sha256") => Ok(HashAlg::Sha256),
        Some("sha384") => Ok(HashAlg::Sha384),
        Some("sha512") => Ok(HashAlg::Sha512),
        Some(other) => Err(format!("psk-auth: unknown prf {other:?}")),
    }
}

fn auth_value(ctx: &AuthContext) -> Result<Vec<u8>, String> {
    let psk = config_get("psk").ok_or("psk-auth: no `psk` configured")?;
    let alg = alg()?;
    let k = hmac(alg, psk.as_bytes(), KEY_PAD);
    Ok(hmac(alg, &k, &ctx.signed_octets))
}

/// Compare without an early exit on the first difference.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

struct Psk;

impl Guest for Psk {
    fn init() -> Result<(), String> {
        alg()?;
        match config_get("psk") {
            Some(p) if p.len() >= 8 => Ok(()),
            _ => Err("psk-auth: `psk` must be at least 8 characters".into()),
        }
    }

    fn method() -> u8 {
        2
    }

    fn produce(ctx: AuthContext) -> Result<Vec<u8>, String> {
        auth_value(&ctx)
    }

    fn verify(ctx: AuthContext, auth_data: Vec<u8>) -> Result<bool, String> {
        Ok(ct_eq(&auth_value(&ctx)?, &auth_data))
    }
}

export!(Psk);

//! `psk-auth`: IKEv2 Shared Key Message Integrity Code (auth method 2,
//! RFC 7296 §2.15) as an `auth` world plugin, with per-peer secrets:
//!
//! AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets> )
//!
//! The prf is the IKE SA's negotiated one (`ctx.prf`, RFC 4868) and runs in
//! the host (`crypto.hmac`).
//!
//! # Config (the plugin spec's `[config]`)
//!
//! ```toml
//! # One table per secret, like swanctl's `secrets { ike-<name> { ... } }`:
//! [config.secrets.a-b]
//! id = "a.example"          # every key starting with `id` names one owner
//! id-b = "b.example"        # (`id`, `id-b`, `id2`, ...), in either order
//! secret = "s3cret-text"    # >= 8 characters, or `0x`-hex of >= 8 bytes
//!
//! [config.secrets.lab]
//! id = "*"                  # `*` (or no `id` keys at all): any peer
//! secret = "0x00112233445566778899aabbccddeeff"
//!
//! # Shorthand for one secret that every peer shares (same as an entry
//! # with no ids):
//! psk = "correct horse battery"
//! ```
//!
//! Identities use the IKE config syntax (`local_id`/`remote_id`): IP
//! address, `user@domain` (RFC822), `CN=.., O=..` (DN), `null`, else FQDN;
//! prefixes `fqdn:`, `email:`, `dn:`, `ip:`, `keyid:` force the type.
//!
//! # Choosing the secret for (local id, peer id)
//!
//! An entry qualifies when one of its ids matches the peer id, or it is a
//! wildcard entry (`*`, or no ids). Among those the best wins: an exact peer
//! id beats a wildcard, then an entry that also names the local id beats one
//! that does not; ties go to the first in key order. No qualifying entry:
//! `produce` and `verify` fail with `no pre-shared key for peer id <id>`.
//! A wrong AUTH value verifies as `false`.
wit_bindgen::generate!({
    path: "../../sdk/wit",
    world: "esprit:plugin/auth@0.2.0",
});

mod ids;

use std::sync::OnceLock;

use esprit::plugin::crypto::hmac;
use esprit::plugin::host::{config_get, config_keys, log, LogLevel};
use esprit::plugin::types::IpAddress;
use ids::Id;

/// RFC 7296 §2.15 key pad.
const KEY_PAD: &[u8] = b"Key Pad for IKEv2";
/// Shortest accepted secret (characters of text, or bytes of hex).
const MIN_LEN: usize = 8;

/// One configured secret.
struct Entry {
    /// Config name (`secrets.<name>` or `psk`), for messages.
    name: String,
    /// Owners; empty = any peer.
    ids: Vec<Id>,
    secret: Vec<u8>,
}

static ENTRIES: OnceLock<Vec<Entry>> = OnceLock::new();

fn parse_secret(name: &str, text: &str) -> Result<Vec<u8>, String> {
    let bytes = if text.starts_with("0x") || text.starts_with("0X") {
        ids::parse_hex(text).ok_or(format!("psk-auth: secret `{name}`: `0x` must be followed by an even number of hex digits"))?
    } else {
        text.as_bytes().to_vec()
    };
    if bytes.len() < MIN_LEN {
        return Err(format!(
            "psk-auth: secret `{name}` must be at least {MIN_LEN} characters (or {MIN_LEN} bytes as 0x-hex); it has {}",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// Read the config section: `psk` and every `secrets.<name>.*` key.
fn load() -> Result<Vec<Entry>, String> {
    let mut out: Vec<Entry> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for key in config_keys() {
        if key == "psk" {
            continue;
        }
        let Some(rest) = key.strip_prefix("secrets.") else {
            return Err(format!(
                "psk-auth: unknown config key `{key}` (expected `psk`, or [config.secrets.<name>] tables with `id*` and `secret`)"
            ));
        };
        let Some((name, field)) = rest.rsplit_once('.') else {
            return Err(format!("psk-auth: `{key}` must be a table [config.secrets.{rest}] with `id*` and `secret` keys"));
        };
        if field != "secret" && !field.starts_with("id") {
            return Err(format!("psk-auth: unknown key `{field}` in [config.secrets.{name}] (expected `id`, `id-*` or `secret`)"));
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    for name in names {
        let prefix = format!("secrets.{name}.");
        let text = config_get(&format!("{prefix}secret")).ok_or(format!("psk-auth: [config.secrets.{name}] has no `secret`"))?;
        let mut owners = Vec::new();
        for key in config_keys() {
            if let Some(field) = key.strip_prefix(&prefix) {
                if field.starts_with("id") {
                    let v = config_get(&key).unwrap_or_default();
                    owners.push(Id::from_config(&v).map_err(|e| format!("psk-auth: [config.secrets.{name}] `{field}`: {e}"))?);
                }
            }
        }
        if owners.contains(&Id::Any) {
            owners.clear();
        }
        out.push(Entry { secret: parse_secret(&name, &text)?, name: format!("secrets.{name}"), ids: owners });
    }
    if let Some(text) = config_get("psk") {
        out.push(Entry { name: "psk".into(), ids: Vec::new(), secret: parse_secret("psk", &text)? });
    }
    if out.is_empty() {
        return Err("psk-auth: no secret configured: set `psk = \"...\"` or add [config.secrets.<name>] tables".into());
    }
    Ok(out)
}

fn entries() -> Result<&'static [Entry], String> {
    if let Some(e) = ENTRIES.get() {
        return Ok(e);
    }
    let e = load()?;
    Ok(ENTRIES.get_or_init(|| e))
}

/// The best secret for (local, peer), see the crate doc.
fn choose<'a>(entries: &'a [Entry], local: &Id, peer: &Id) -> Option<&'a Entry> {
    let mut best: Option<(u8, &Entry)> = None;
    for e in entries {
        let peer_score = if e.ids.is_empty() {
            1
        } else if e.ids.iter().any(|i| i.matches(peer)) {
            3
        } else {
            continue;
        };
        let local_score = u8::from(e.ids.iter().any(|i| i.matches(local)));
        let score = peer_score * 2 + local_score;
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, e));
        }
    }
    best.map(|(_, e)| e)
}

fn auth_value(ctx: &AuthContext) -> Result<Vec<u8>, String> {
    let (local, peer) = (Id::from_identity(&ctx.local_id), Id::from_identity(&ctx.peer_id));
    let entry = choose(entries()?, &local, &peer).ok_or_else(|| format!("no pre-shared key for peer id {peer}"))?;
    log(LogLevel::Debug, &format!("secret `{}` chosen for local id {local}, peer id {peer}", entry.name));
    let k = hmac(ctx.prf, &entry.secret, KEY_PAD);
    Ok(hmac(ctx.prf, &k, &ctx.signed_octets))
}

/// Compare without an early exit on the first difference.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

struct Psk;

impl Guest for Psk {
    fn init() -> Result<(), String> {
        entries().map(|_| ())
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

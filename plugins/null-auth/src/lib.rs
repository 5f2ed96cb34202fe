//! `null-auth`: the NULL Authentication Method (auth method 13, RFC 7619)
//! as an `auth` world plugin, for opportunistic encryption: the peer is not
//! authenticated, but the AUTH payload still binds the IKE_SA_INIT exchange
//! and the ID (RFC 7619 §2.1):
//!
//! AUTH = prf( prf(SK_p, "Key Pad for IKEv2"), <SignedOctets> )
//!
//! i.e. the shared key MIC of RFC 7296 §2.15 with the signer's SK_pi
//! (initiator) or SK_pr (responder) as the shared secret. The host passes
//! that key as `ctx.sk-p` and the negotiated prf as `ctx.prf`.
//!
//! ID_NULL (RFC 7619 §2.2) carries no identity; a peer using NULL
//! authentication may still send another ID type, which this plugin accepts
//! unverified (it proves nothing either way). No config keys.
//!
//! Built against the frozen `esprit:plugin@0.1.0` (`sdk/wit/v0.1.0`): the
//! host's tests use it to show 0.1 auth plugins keep working.
wit_bindgen::generate!({
    path: "../../sdk/wit/v0.1.0",
    world: "esprit:plugin/auth@0.1.0",
});

use esprit::plugin::crypto::hmac;

/// IKEv2 Auth Method: NULL Authentication (RFC 7619 §3).
const METHOD_NULL: u8 = 13;
/// RFC 7296 §2.15 key pad.
const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

fn auth_value(ctx: &AuthContext) -> Result<Vec<u8>, String> {
    if ctx.sk_p.is_empty() {
        let which = match ctx.role {
            IkeRole::Initiator => "SK_pi",
            IkeRole::Responder => "SK_pr",
        };
        return Err(format!("null-auth: the host passed no {which} (ctx.sk-p is empty); NULL authentication (RFC 7619) needs it"));
    }
    let k = hmac(ctx.prf, &ctx.sk_p, KEY_PAD);
    Ok(hmac(ctx.prf, &k, &ctx.signed_octets))
}

/// Compare without an early exit on the first difference.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

struct Null;

impl Guest for Null {
    fn init() -> Result<(), String> {
        match esprit::plugin::host::config_keys().first() {
            Some(k) => Err(format!("null-auth takes no config, found `{k}`")),
            None => Ok(()),
        }
    }

    fn method() -> u8 {
        METHOD_NULL
    }

    fn produce(ctx: AuthContext) -> Result<Vec<u8>, String> {
        auth_value(&ctx)
    }

    fn verify(ctx: AuthContext, auth_data: Vec<u8>) -> Result<bool, String> {
        if ctx.method != METHOD_NULL {
            return Err(format!("null-auth verifies auth method 13 (NULL), the peer used method {}", ctx.method));
        }
        Ok(ct_eq(&auth_value(&ctx)?, &auth_data))
    }
}

export!(Null);

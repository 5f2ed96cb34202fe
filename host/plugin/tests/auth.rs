//! The `auth` world host binding with the psk-auth plugin (RFC 7296 §2.15).
mod common;

use std::sync::Arc;

use common::{engine, spec};
use esprit_plugin::auth::{AuthContext, AuthPlugin, IkeRole};
use esprit_plugin::host_crypto;
use esprit_plugin::latest::crypto::HashAlg;
use esprit_plugin::latest::wit::Identity;

fn ctx(octets: &[u8]) -> AuthContext {
    AuthContext {
        method: 2,
        prf: HashAlg::Sha256,
        role: IkeRole::Initiator,
        local_id: Identity::Fqdn("a.example".into()),
        peer_id: Identity::Fqdn("b.example".into()),
        signed_octets: octets.to_vec(),
        peer_certs: vec![],
        sk_p: vec![],
    }
}

#[test]
fn psk_auth_produces_rfc7296_auth_and_verifies() {
    let s = spec("psk", "psk-auth").with_config("psk", "correct horse battery");
    let bytes = std::fs::read(&s.path).expect("read");
    let p = AuthPlugin::from_bytes(&engine(), s, &bytes, Arc::default()).expect("load");
    assert_eq!(p.method(), Ok(2));
    let auth = p.produce(&ctx(b"signed octets")).expect("produce");
    let k = host_crypto::hmac(HashAlg::Sha256, b"correct horse battery", b"Key Pad for IKEv2");
    assert_eq!(auth, host_crypto::hmac(HashAlg::Sha256, &k, b"signed octets"));
    assert_eq!(p.verify(&ctx(b"signed octets"), &auth), Ok(true));
    assert_eq!(p.verify(&ctx(b"signed octetz"), &auth), Ok(false));
    assert_eq!(p.verify(&ctx(b"signed octets"), &auth[..16]), Ok(false));
}

#[test]
fn psk_auth_rejects_a_short_psk_and_policy_plugins_are_not_auth_plugins() {
    let s = spec("psk", "psk-auth").with_config("psk", "short");
    let bytes = std::fs::read(&s.path).expect("read");
    let err = AuthPlugin::from_bytes(&engine(), s, &bytes, Arc::default()).err().expect("reject");
    assert!(err.to_string().contains("at least 8"), "{err}");
    let s = spec("not-auth", "allowlist");
    let bytes = std::fs::read(&s.path).expect("read");
    let err = AuthPlugin::from_bytes(&engine(), s, &bytes, Arc::default()).err().expect("reject");
    assert!(err.to_string().contains("does not implement world `auth`") || err.to_string().contains("world"), "{err}");
}

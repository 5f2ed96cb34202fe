//! The IKE authentication plugins built from `plugins/` (psk-auth, x509-auth,
//! null-auth), loaded through `AuthPlugin::from_bytes` like the daemon does.
//! Certificates are made here with rcgen; the expected PSK AUTH is computed
//! independently with the `hmac`/`sha2` crates.
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{engine, wasm};
use esprit_plugin::auth::{AuthContext, AuthPlugin, HashAlg, IkeRole};
use esprit_plugin::host_crypto::KeyStore;
use esprit_plugin::latest::crypto::SignatureScheme;
use esprit_plugin::latest::wit::{Identity, IpAddress};
use esprit_plugin::PluginSpec;
use hmac::{Hmac, Mac};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair, SignatureAlgorithm,
};

const OCTETS: &[u8] = b"IKE_SA_INIT message | Nr | prf(SK_pi, IDi')";

fn fqdn(s: &str) -> Identity {
    Identity::Fqdn(s.into())
}

fn ctx(method: u8, local: Identity, peer: Identity) -> AuthContext {
    AuthContext {
        method,
        prf: HashAlg::Sha256,
        role: IkeRole::Initiator,
        local_id: local,
        peer_id: peer,
        signed_octets: OCTETS.to_vec(),
        peer_certs: vec![],
        sk_p: vec![],
    }
}

/// A spec for a built plugin with a deadline that a busy shared machine
/// cannot miss.
fn spec(name: &str, crate_name: &str) -> PluginSpec {
    let mut s = PluginSpec::new(name, wasm(crate_name));
    s.settings.deadline = Duration::from_secs(2);
    s.settings.init_deadline = Duration::from_secs(5);
    s
}

fn load(spec: PluginSpec, keys: KeyStore) -> Result<AuthPlugin, String> {
    let bytes = std::fs::read(&spec.path).map_err(|e| e.to_string())?;
    AuthPlugin::from_bytes(&engine(), spec, &bytes, Arc::new(keys)).map_err(|e| e.to_string())
}

// ---------------------------------------------------------------- PSK

fn psk_spec() -> PluginSpec {
    spec("psk", "psk-auth")
        .with_config("secrets.ab.id", "a.example")
        .with_config("secrets.ab.id-b", "b.example")
        .with_config("secrets.ab.secret", "s3cret-text-a-b")
        .with_config("secrets.c.id", "c.example")
        .with_config("secrets.c.secret", "0x00112233445566778899aabbccddeeff")
}

/// prf(prf(secret, "Key Pad for IKEv2"), octets) with HMAC-SHA-384, computed
/// without the host or the plugin.
fn expected_psk_auth_sha384(secret: &[u8], octets: &[u8]) -> Vec<u8> {
    let mut inner = <Hmac<sha2::Sha384>>::new_from_slice(secret).expect("key");
    inner.update(b"Key Pad for IKEv2");
    let k = inner.finalize().into_bytes();
    let mut outer = <Hmac<sha2::Sha384>>::new_from_slice(&k).expect("key");
    outer.update(octets);
    outer.finalize().into_bytes().to_vec()
}

#[test]
fn psk_known_answer_uses_the_negotiated_prf_and_the_peer_secret() {
    let p = load(psk_spec(), KeyStore::default()).expect("load psk");
    assert_eq!(p.method(), Ok(2));
    let mut c = ctx(2, fqdn("a.example"), fqdn("b.example"));
    c.prf = HashAlg::Sha384;
    let auth = p.produce(&c).expect("produce");
    assert_eq!(auth, expected_psk_auth_sha384(b"s3cret-text-a-b", OCTETS));
    assert_eq!(auth.len(), 48);
    // The hex secret of c.example, decoded.
    let mut c = ctx(2, fqdn("a.example"), fqdn("c.example"));
    c.prf = HashAlg::Sha384;
    let hex_secret: Vec<u8> = (0..16u8).map(|i| i * 0x11).collect();
    assert_eq!(p.produce(&c).expect("produce"), expected_psk_auth_sha384(&hex_secret, OCTETS));
}

#[test]
fn psk_round_trip_either_order_wrong_secret_and_unknown_peer() {
    let a = load(psk_spec(), KeyStore::default()).expect("load a");
    let b = load(psk_spec(), KeyStore::default()).expect("load b");
    // a signs as initiator; b verifies with the ids swapped (either order).
    let auth = a.produce(&ctx(2, fqdn("a.example"), fqdn("b.example"))).expect("produce");
    assert_eq!(b.verify(&ctx(2, fqdn("b.example"), fqdn("a.example")), &auth), Ok(true));
    let mut other_octets = ctx(2, fqdn("b.example"), fqdn("a.example"));
    other_octets.signed_octets.push(0);
    assert_eq!(b.verify(&other_octets, &auth), Ok(false));

    // A different secret for the same pair: a mismatch, not an error.
    let wrong = load(
        spec("psk-wrong", "psk-auth")
            .with_config("secrets.ab.id", "a.example")
            .with_config("secrets.ab.id-b", "b.example")
            .with_config("secrets.ab.secret", "another-secret"),
        KeyStore::default(),
    )
    .expect("load wrong");
    assert_eq!(wrong.verify(&ctx(2, fqdn("b.example"), fqdn("a.example")), &auth), Ok(false));

    // A peer nobody configured: an error naming it.
    let err = b.verify(&ctx(2, fqdn("b.example"), fqdn("d.example")), &auth).expect_err("unknown peer");
    assert!(err.contains("no pre-shared key for peer id fqdn:d.example"), "{err}");
    let err = b.produce(&ctx(2, fqdn("b.example"), Identity::Rfc822("Eve@D.example".into()))).expect_err("unknown peer");
    assert!(err.contains("no pre-shared key for peer id email:eve@d.example"), "{err}");

    // A wildcard secret catches every other peer; an exact match still wins.
    let w = load(psk_spec().with_config("psk", "fallback-secret"), KeyStore::default()).expect("load wildcard");
    let ip = Identity::IpAddr(IpAddress::Ipv4((192, 0, 2, 9)));
    let mut c = ctx(2, fqdn("b.example"), ip);
    c.prf = HashAlg::Sha384;
    assert_eq!(w.produce(&c).expect("fallback"), expected_psk_auth_sha384(b"fallback-secret", OCTETS));
    assert_eq!(w.verify(&ctx(2, fqdn("b.example"), fqdn("a.example")), &auth), Ok(true));
}

#[test]
fn psk_bad_configs_are_rejected_with_reasons() {
    for (key, value, want) in [
        ("secrets.x.secret", "short", "at least 8"),
        ("secrets.x.secret", "0x0011", "at least 8"),
        ("secrets.x.secret", "0xabc", "hex digits"),
        ("prf", "sha256", "unknown config key `prf`"),
        ("secrets.x.idd", "a.example", "no `secret`"),
    ] {
        let err = load(spec("psk-bad", "psk-auth").with_config(key, value), KeyStore::default()).err().expect("reject");
        assert!(err.contains(want), "{key}={value}: {err}");
    }
    let err = load(spec("psk-empty", "psk-auth"), KeyStore::default()).err().expect("reject");
    assert!(err.contains("no secret configured"), "{err}");
}

// ---------------------------------------------------------------- X.509

/// A CA, self-signed.
fn ca(cn: &str, alg: &'static SignatureAlgorithm) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::default();
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    CertifiedIssuer::self_signed(p, KeyPair::generate_for(alg).expect("ca key")).expect("ca cert")
}

/// An intermediate CA signed by `parent`.
fn intermediate(cn: &str, parent: &CertifiedIssuer<'static, KeyPair>) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::default();
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    CertifiedIssuer::signed_by(p, KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key"), parent).expect("mid")
}

/// An end-entity certificate with `sans` (DNS names or IPs), its PKCS#8 key.
fn leaf(
    cn: &str,
    sans: &[&str],
    alg: &'static SignatureAlgorithm,
    issuer: &CertifiedIssuer<'static, KeyPair>,
    not_after: Option<(i32, u8, u8)>,
) -> (Vec<u8>, Vec<u8>) {
    let mut p = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("params");
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, cn);
    if let Some((y, m, d)) = not_after {
        p.not_before = rcgen::date_time_ymd(2019, 1, 1);
        p.not_after = rcgen::date_time_ymd(y, m, d);
    }
    let key = KeyPair::generate_for(alg).expect("leaf key");
    let cert = p.signed_by(&key, issuer).expect("leaf cert");
    (cert.der().to_vec(), key.serialize_der())
}

/// A signer (key registered under handle `to-b`) and a verifier trusting `ca_pem`.
fn x509_pair(scheme: &str, host_scheme: SignatureScheme, pkcs8: &[u8], ca_pem: &str) -> (AuthPlugin, AuthPlugin) {
    let mut keys = KeyStore::default();
    keys.insert_pkcs8("to-b", host_scheme, pkcs8).expect("register key");
    let signer = load(spec("x509-signer", "x509-auth").with_config("key_handle", "to-b").with_config("scheme", scheme), keys)
        .expect("load signer");
    let verifier = load(spec("x509-verifier", "x509-auth").with_config("ca", ca_pem), KeyStore::default()).expect("load verifier");
    (signer, verifier)
}

/// The verifier's context for AUTH from `peer` with `certs`.
fn vctx(peer: Identity, certs: Vec<Vec<u8>>) -> AuthContext {
    let mut c = ctx(14, fqdn("a.example"), peer);
    c.role = IkeRole::Responder;
    c.peer_certs = certs;
    c
}

#[test]
fn x509_good_chains_sign_and_verify_for_each_key_type() {
    for (alg, scheme, host_scheme) in [
        (&rcgen::PKCS_ECDSA_P256_SHA256, "ecdsa-p256-sha256", SignatureScheme::EcdsaP256Sha256),
        (&rcgen::PKCS_ECDSA_P384_SHA384, "ecdsa-p384-sha384", SignatureScheme::EcdsaP384Sha384),
        (&rcgen::PKCS_ED25519, "ed25519", SignatureScheme::Ed25519),
        (&rcgen::PKCS_RSA_SHA256, "rsa-pkcs1-sha256", SignatureScheme::RsaPkcs1Sha256),
        (&rcgen::PKCS_RSA_SHA256, "rsa-pss-sha256", SignatureScheme::RsaPssSha256),
    ] {
        // The CA uses the same algorithm: its signature on the leaf is
        // checked through the host's crypto.verify too.
        let root = ca("esprit CA", alg);
        let (cert, key) = leaf("b.example", &["b.example"], alg, &root, None);
        let (signer, verifier) = x509_pair(scheme, host_scheme, &key, &root.pem());
        assert_eq!(signer.method(), Ok(14));
        let auth = signer.produce(&ctx(14, fqdn("b.example"), fqdn("a.example"))).expect("produce");
        // RFC 7427 §3: length octet, AlgorithmIdentifier (a DER SEQUENCE), signature.
        assert_eq!(auth[1], 0x30, "{scheme}");
        assert_eq!(usize::from(auth[2]) + 2, usize::from(auth[0]), "{scheme}");
        assert_eq!(verifier.verify(&vctx(fqdn("b.example"), vec![cert.clone()]), &auth), Ok(true), "{scheme}");

        // Tampered signature, tampered octets: a bad signature, Ok(false).
        let mut bad = auth.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(verifier.verify(&vctx(fqdn("b.example"), vec![cert.clone()]), &bad), Ok(false), "{scheme}");
        let mut other = vctx(fqdn("b.example"), vec![cert]);
        other.signed_octets[0] ^= 1;
        assert_eq!(verifier.verify(&other, &auth), Ok(false), "{scheme}");
    }
}

#[test]
fn x509_rejects_unknown_ca_expired_cert_and_san_mismatch_readably() {
    let root = ca("esprit CA", &rcgen::PKCS_ECDSA_P256_SHA256);
    let other = ca("Other CA", &rcgen::PKCS_ECDSA_P256_SHA256);
    let alg = &rcgen::PKCS_ECDSA_P256_SHA256;
    let (cert, key) = leaf("b.example", &["b.example"], alg, &root, None);
    let (signer, verifier) = x509_pair("ecdsa-p256-sha256", SignatureScheme::EcdsaP256Sha256, &key, &root.pem());
    let auth = signer.produce(&ctx(14, fqdn("b.example"), fqdn("a.example"))).expect("produce");

    // Issued by a CA we do not trust.
    let (foreign, fkey) = leaf("b.example", &["b.example"], alg, &other, None);
    let (fsigner, _) = x509_pair("ecdsa-p256-sha256", SignatureScheme::EcdsaP256Sha256, &fkey, &root.pem());
    let fauth = fsigner.produce(&ctx(14, fqdn("b.example"), fqdn("a.example"))).expect("produce");
    let err = verifier.verify(&vctx(fqdn("b.example"), vec![foreign]), &fauth).expect_err("unknown CA");
    assert_eq!(err, "certificate CN=b.example was not issued by a trusted CA (issuer CN=Other CA; trusted: CN=esprit CA)");

    // Expired.
    let (old, okey) = leaf("b.example", &["b.example"], alg, &root, Some((2020, 1, 1)));
    let (osigner, _) = x509_pair("ecdsa-p256-sha256", SignatureScheme::EcdsaP256Sha256, &okey, &root.pem());
    let oauth = osigner.produce(&ctx(14, fqdn("b.example"), fqdn("a.example"))).expect("produce");
    let err = verifier.verify(&vctx(fqdn("b.example"), vec![old]), &oauth).expect_err("expired");
    assert_eq!(err, "certificate CN=b.example expired 2020-01-01T00:00:00Z");

    // The IKE ID is not in the certificate.
    let err = verifier.verify(&vctx(fqdn("c.example"), vec![cert.clone()]), &auth).expect_err("SAN mismatch");
    assert_eq!(err, "peer certificate CN=b.example has no SAN matching IKE ID fqdn:c.example (SANs: DNS:b.example)");
    let ip = Identity::IpAddr(IpAddress::Ipv4((192, 0, 2, 2)));
    let err = verifier.verify(&vctx(ip, vec![cert.clone()]), &auth).expect_err("IP not in SAN");
    assert!(err.contains("IKE ID ip:192.0.2.2"), "{err}");

    // No certificate, RFC 7296 method 1 (SHA-1), garbage AUTH data.
    let err = verifier.verify(&vctx(fqdn("b.example"), vec![]), &auth).expect_err("no cert");
    assert!(err.contains("peer sent no certificate"), "{err}");
    let mut m1 = vctx(fqdn("b.example"), vec![cert.clone()]);
    m1.method = 1;
    let err = verifier.verify(&m1, &auth).expect_err("method 1");
    assert!(err.contains("method 1") && err.contains("SHA-1"), "{err}");
    let err = verifier.verify(&vctx(fqdn("b.example"), vec![cert.clone()]), &[40, 1, 2]).expect_err("garbage");
    assert!(err.starts_with("peer AUTH payload:"), "{err}");

    // "remote_id_check = none" accepts any ID for a certificate from the CA.
    let lax = load(
        spec("x509-lax", "x509-auth").with_config("ca", &root.pem()).with_config("remote_id_check", "none"),
        KeyStore::default(),
    )
    .expect("load lax");
    assert_eq!(lax.verify(&vctx(fqdn("c.example"), vec![cert]), &auth), Ok(true));
}

/// DER of the Name `CN=<cn>` (UTF8String), as an ID_DER_ASN1_DN carries it.
fn dn_der(cn: &str) -> Vec<u8> {
    let tlv = |tag: u8, c: &[u8]| [&[tag, c.len() as u8][..], c].concat();
    let atv = tlv(0x30, &[tlv(0x06, &[0x55, 0x04, 0x03]), tlv(0x0c, cn.as_bytes())].concat());
    tlv(0x30, &tlv(0x31, &atv))
}

#[test]
fn x509_intermediate_chain_ip_and_dn_identities() {
    let root = ca("esprit CA", &rcgen::PKCS_ECDSA_P384_SHA384);
    let mid = intermediate("esprit Intermediate", &root);
    let (cert, key) = leaf("b.example", &["b.example", "192.0.2.2"], &rcgen::PKCS_ED25519, &mid, None);
    let (signer, verifier) = x509_pair("ed25519", SignatureScheme::Ed25519, &key, &root.pem());
    let auth = signer.produce(&ctx(14, fqdn("b.example"), fqdn("a.example"))).expect("produce");
    let chain = vec![cert.clone(), mid.der().to_vec()];
    assert_eq!(verifier.verify(&vctx(fqdn("b.example"), chain.clone()), &auth), Ok(true));
    let ip = Identity::IpAddr(IpAddress::Ipv4((192, 0, 2, 2)));
    assert_eq!(verifier.verify(&vctx(ip, chain.clone()), &auth), Ok(true));
    assert_eq!(verifier.verify(&vctx(Identity::DerAsn1Dn(dn_der("b.example")), chain.clone()), &auth), Ok(true));
    let err = verifier.verify(&vctx(Identity::DerAsn1Dn(dn_der("c.example")), chain), &auth).expect_err("DN mismatch");
    assert_eq!(err, "peer certificate subject CN=b.example does not match IKE ID dn:CN=c.example");
    // Without the intermediate the chain ends at an unknown issuer.
    let err = verifier.verify(&vctx(fqdn("b.example"), vec![cert]), &auth).expect_err("missing intermediate");
    assert_eq!(err, "certificate CN=b.example was not issued by a trusted CA (issuer CN=esprit Intermediate; trusted: CN=esprit CA)");
}

#[test]
fn x509_ca_from_config_files_and_bad_configs() {
    let root = ca("esprit CA", &rcgen::PKCS_ECDSA_P256_SHA256);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("ca.pem"), root.pem()).expect("write ca");
    let toml = format!(
        "name = \"x509\"\npath = {:?}\ndeadline_us = 2000000\n[config]\nremote_id_check = \"san-or-dn\"\n[config_files]\nca = \"ca.pem\"\n",
        wasm("x509-auth")
    );
    let s = PluginSpec::from_toml(&toml, dir.path(), &dir.path().join("x509.toml")).expect("spec");
    let verifier = load(s, KeyStore::default()).expect("load from spec file");
    let (cert, key) = leaf("b.example", &["b.example"], &rcgen::PKCS_ECDSA_P256_SHA256, &root, None);
    let (signer, _) = x509_pair("ecdsa-p256-sha256", SignatureScheme::EcdsaP256Sha256, &key, &root.pem());
    let auth = signer.produce(&ctx(14, fqdn("b.example"), fqdn("a.example"))).expect("produce");
    assert_eq!(verifier.verify(&vctx(fqdn("b.example"), vec![cert]), &auth), Ok(true));

    for (key, value, want) in [
        ("ca", "not pem", "no -----BEGIN CERTIFICATE----- block"),
        ("scheme", "rsa-sha1", "is not one of"),
        ("remote_id_check", "cn", "must be"),
        ("bogus", "1", "unknown config key `bogus`"),
    ] {
        let err = load(spec("x509-bad", "x509-auth").with_config(key, value).with_config("key_handle", "h"), KeyStore::default())
            .err()
            .expect("reject");
        assert!(err.contains(want), "{key}={value}: {err}");
    }
    // A signer whose key handle the host does not know.
    let p = load(spec("x509-nokey", "x509-auth").with_config("key_handle", "nope"), KeyStore::default()).expect("load");
    let err = p.produce(&ctx(14, fqdn("b.example"), fqdn("a.example"))).expect_err("no key");
    assert!(err.contains("signing with key `nope`") && err.contains("no key with handle"), "{err}");
}

// ---------------------------------------------------------------- NULL

#[test]
fn null_auth_round_trip_uses_the_signers_sk_p() {
    let p = load(spec("null", "null-auth"), KeyStore::default()).expect("load null");
    assert_eq!(p.method(), Ok(13));
    let sk_pi = vec![0x42u8; 32];
    let mut c = ctx(13, Identity::Null, Identity::Null);
    c.sk_p = sk_pi.clone();
    let auth = p.produce(&c).expect("produce");
    // RFC 7619 §2.1: the shared key MIC with SK_pi as the shared secret.
    let mut inner = <Hmac<sha2::Sha256>>::new_from_slice(&sk_pi).expect("key");
    inner.update(b"Key Pad for IKEv2");
    let k = inner.finalize().into_bytes();
    let mut outer = <Hmac<sha2::Sha256>>::new_from_slice(&k).expect("key");
    outer.update(OCTETS);
    assert_eq!(auth, outer.finalize().into_bytes().to_vec());
    assert_eq!(p.verify(&c, &auth), Ok(true));

    let mut tampered = auth.clone();
    tampered[0] ^= 0x80;
    assert_eq!(p.verify(&c, &tampered), Ok(false));
    let mut wrong_key = c.clone();
    wrong_key.sk_p = vec![0x43u8; 32];
    assert_eq!(p.verify(&wrong_key, &auth), Ok(false));

    let mut no_key = c.clone();
    no_key.sk_p.clear();
    no_key.role = IkeRole::Responder;
    let err = p.produce(&no_key).expect_err("no SK_p");
    assert!(err.contains("no SK_pr"), "{err}");
    let mut psk_method = c;
    psk_method.method = 2;
    assert!(p.verify(&psk_method, &auth).expect_err("method 2").contains("method 2"));
}

// ---------------------------------------------------------------- examples

/// The spec files in examples/plugins/auth load (their `path` pointed at the
/// built plugin, the x509 `ca.pem` written next to a copy of the spec).
#[test]
fn example_specs_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = ca("esprit CA", &rcgen::PKCS_ECDSA_P256_SHA256);
    std::fs::write(dir.path().join("ca.pem"), root.pem()).expect("write ca");
    let examples = esprit_plugin::build::workspace_root().join("examples/plugins/auth");
    for (file, crate_name, method) in [("psk.toml", "psk-auth", 2), ("x509.toml", "x509-auth", 14), ("null.toml", "null-auth", 13)] {
        let text = std::fs::read_to_string(examples.join(file)).expect("read example");
        let copy = dir.path().join(file);
        std::fs::write(&copy, &text).expect("copy");
        let mut s = PluginSpec::from_toml(&text, dir.path(), &copy).unwrap_or_else(|e| panic!("{file}: {e}"));
        s.path = wasm(crate_name);
        s.settings.deadline = Duration::from_secs(2);
        let p = load(s, KeyStore::default()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(p.method(), Ok(method), "{file}");
    }
}

//! The `crypto` host interface: hash, HMAC (the IKEv2 prf, RFC 4868),
//! signature verification (RFC 7427) and signing with a key handle, all on
//! aws-lc-rs. Private keys live only here; plugins name them by handle.
use std::collections::HashMap;
use std::fmt;

use aws_lc_rs::{digest, hmac, rand::SystemRandom, signature};

use crate::latest::crypto::{HashAlg, SignatureScheme};

/// A private key registered by the operator.
enum PrivateKey {
    Ed25519(signature::Ed25519KeyPair),
    Ecdsa(signature::EcdsaKeyPair, SignatureScheme),
    Rsa(signature::RsaKeyPair),
}

/// Private keys by handle. aws-lc-rs frees (and wipes) key material on drop.
#[derive(Default)]
pub struct KeyStore {
    keys: HashMap<String, PrivateKey>,
}

impl fmt::Debug for KeyStore {
    // Never print keys: only the handles.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyStore").field("handles", &self.keys.keys().collect::<Vec<_>>()).finish()
    }
}

/// Why a key could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key {0}: not a valid PKCS#8 private key for the scheme")]
    BadKey(String),
}

impl KeyStore {
    /// Register a PKCS#8 (DER) private key under `handle` for `scheme`.
    pub fn insert_pkcs8(&mut self, handle: &str, scheme: SignatureScheme, pkcs8_der: &[u8]) -> Result<(), KeyError> {
        let bad = || KeyError::BadKey(handle.to_string());
        let key = match scheme {
            SignatureScheme::Ed25519 => {
                PrivateKey::Ed25519(signature::Ed25519KeyPair::from_pkcs8(pkcs8_der).map_err(|_| bad())?)
            }
            SignatureScheme::EcdsaP256Sha256 => PrivateKey::Ecdsa(
                signature::EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8_der)
                    .map_err(|_| bad())?,
                scheme,
            ),
            SignatureScheme::EcdsaP384Sha384 => PrivateKey::Ecdsa(
                signature::EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_ASN1_SIGNING, pkcs8_der)
                    .map_err(|_| bad())?,
                scheme,
            ),
            SignatureScheme::RsaPssSha256
            | SignatureScheme::RsaPkcs1Sha256
            | SignatureScheme::RsaPkcs1Sha384
            | SignatureScheme::RsaPkcs1Sha512 => {
                PrivateKey::Rsa(signature::RsaKeyPair::from_pkcs8(pkcs8_der).map_err(|_| bad())?)
            }
        };
        self.keys.insert(handle.to_string(), key);
        Ok(())
    }

    /// Sign `message` with the key registered under `handle`.
    pub fn sign(&self, handle: &str, scheme: SignatureScheme, message: &[u8]) -> Result<Vec<u8>, String> {
        let key = self.keys.get(handle).ok_or_else(|| format!("no key with handle `{handle}`"))?;
        let rng = SystemRandom::new();
        match (key, scheme) {
            (PrivateKey::Ed25519(k), SignatureScheme::Ed25519) => Ok(k.sign(message).as_ref().to_vec()),
            (PrivateKey::Ecdsa(k, s), _) if *s == scheme => k
                .sign(&rng, message)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| "ECDSA signing failed".to_string()),
            (
                PrivateKey::Rsa(k),
                SignatureScheme::RsaPssSha256
                | SignatureScheme::RsaPkcs1Sha256
                | SignatureScheme::RsaPkcs1Sha384
                | SignatureScheme::RsaPkcs1Sha512,
            ) => {
                let padding: &'static dyn signature::RsaEncoding = match scheme {
                    SignatureScheme::RsaPssSha256 => &signature::RSA_PSS_SHA256,
                    SignatureScheme::RsaPkcs1Sha384 => &signature::RSA_PKCS1_SHA384,
                    SignatureScheme::RsaPkcs1Sha512 => &signature::RSA_PKCS1_SHA512,
                    _ => &signature::RSA_PKCS1_SHA256,
                };
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(padding, &rng, message, &mut sig).map_err(|_| "RSA signing failed".to_string())?;
                Ok(sig)
            }
            _ => Err(format!("key `{handle}` cannot sign with {scheme:?}")),
        }
    }
}

fn digest_alg(alg: HashAlg) -> &'static digest::Algorithm {
    match alg {
        HashAlg::Sha256 => &digest::SHA256,
        HashAlg::Sha384 => &digest::SHA384,
        HashAlg::Sha512 => &digest::SHA512,
    }
}

/// Hash `data` (FIPS 180-4).
pub fn hash(alg: HashAlg, data: &[u8]) -> Vec<u8> {
    digest::digest(digest_alg(alg), data).as_ref().to_vec()
}

/// HMAC (RFC 2104) of `data` under `key`.
pub fn hmac(alg: HashAlg, key: &[u8], data: &[u8]) -> Vec<u8> {
    let a = match alg {
        HashAlg::Sha256 => hmac::HMAC_SHA256,
        HashAlg::Sha384 => hmac::HMAC_SHA384,
        HashAlg::Sha512 => hmac::HMAC_SHA512,
    };
    hmac::sign(&hmac::Key::new(a, key), data).as_ref().to_vec()
}

/// Verify a signature; malformed keys or signatures verify as `false`.
/// `public_key` is a DER SubjectPublicKeyInfo (the WIT contract; aws-lc-rs
/// parses it for every scheme) or the scheme's bare key encoding.
pub fn verify(scheme: SignatureScheme, public_key: &[u8], message: &[u8], sig: &[u8]) -> bool {
    let alg: &'static dyn signature::VerificationAlgorithm = match scheme {
        SignatureScheme::EcdsaP256Sha256 => &signature::ECDSA_P256_SHA256_ASN1,
        SignatureScheme::EcdsaP384Sha384 => &signature::ECDSA_P384_SHA384_ASN1,
        SignatureScheme::Ed25519 => &signature::ED25519,
        SignatureScheme::RsaPssSha256 => &signature::RSA_PSS_2048_8192_SHA256,
        SignatureScheme::RsaPkcs1Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        SignatureScheme::RsaPkcs1Sha384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        SignatureScheme::RsaPkcs1Sha512 => &signature::RSA_PKCS1_2048_8192_SHA512,
    };
    signature::UnparsedPublicKey::new(alg, public_key).verify(message, sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::KeyPair;

    #[test]
    fn sha256_known_answer() {
        // FIPS 180-2 "abc"
        let h = hash(HashAlg::Sha256, b"abc");
        assert_eq!(h[..4], [0xba, 0x78, 0x16, 0xbf]);
        assert_eq!(hash(HashAlg::Sha512, b"").len(), 64);
    }

    #[test]
    fn hmac_rfc4231_case2() {
        let mac = hmac(HashAlg::Sha256, b"Jefe", b"what do ya want for nothing?");
        assert_eq!(mac[..4], [0x5b, 0xdc, 0xc1, 0x46]);
    }

    #[test]
    fn sign_with_handle_then_verify_and_reject_bad() {
        let rng = SystemRandom::new();
        let doc = signature::Ed25519KeyPair::generate_pkcs8(&rng).expect("keygen");
        let mut ks = KeyStore::default();
        ks.insert_pkcs8("host", SignatureScheme::Ed25519, doc.as_ref()).expect("insert");
        let pk = signature::Ed25519KeyPair::from_pkcs8(doc.as_ref()).expect("parse").public_key().as_ref().to_vec();
        let sig = ks.sign("host", SignatureScheme::Ed25519, b"octets").expect("sign");
        assert!(verify(SignatureScheme::Ed25519, &pk, b"octets", &sig));
        assert!(!verify(SignatureScheme::Ed25519, &pk, b"octetz", &sig));
        assert!(!verify(SignatureScheme::Ed25519, &pk[..5], b"octets", &sig));
        assert!(ks.sign("nope", SignatureScheme::Ed25519, b"x").is_err());
        assert!(ks.sign("host", SignatureScheme::EcdsaP256Sha256, b"x").is_err());
        assert!(ks.insert_pkcs8("bad", SignatureScheme::Ed25519, &[1, 2, 3]).is_err());
        assert!(!format!("{ks:?}").contains(&format!("{:?}", doc.as_ref())));
    }

    /// The WIT contract: every scheme verifies with a DER SubjectPublicKeyInfo.
    #[test]
    fn verify_takes_spki_for_every_scheme() {
        let rng = SystemRandom::new();
        let ed = signature::Ed25519KeyPair::generate_pkcs8(&rng).expect("keygen");
        let p256 = signature::EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng).expect("keygen");
        let p384 = signature::EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P384_SHA384_ASN1_SIGNING, &rng).expect("keygen");
        let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("keygen");
        let rsa_doc = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&rsa).expect("pkcs8");
        let rsa_spki = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(rsa.public_key())
            .expect("spki")
            .as_ref()
            .to_vec();
        let spki = |kp: &signature::EcdsaKeyPair| {
            aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(kp.public_key())
                .expect("spki")
                .as_ref()
                .to_vec()
        };
        let p256_kp = signature::EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, p256.as_ref()).expect("p256");
        let p384_kp = signature::EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_ASN1_SIGNING, p384.as_ref()).expect("p384");
        let ed_kp = signature::Ed25519KeyPair::from_pkcs8(ed.as_ref()).expect("ed");
        let ed_spki = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(ed_kp.public_key())
            .expect("spki")
            .as_ref()
            .to_vec();
        let mut ks = KeyStore::default();
        ks.insert_pkcs8("ed", SignatureScheme::Ed25519, ed.as_ref()).expect("ed");
        ks.insert_pkcs8("p256", SignatureScheme::EcdsaP256Sha256, p256.as_ref()).expect("p256");
        ks.insert_pkcs8("p384", SignatureScheme::EcdsaP384Sha384, p384.as_ref()).expect("p384");
        for s in [SignatureScheme::RsaPssSha256, SignatureScheme::RsaPkcs1Sha256, SignatureScheme::RsaPkcs1Sha384, SignatureScheme::RsaPkcs1Sha512] {
            ks.insert_pkcs8(&format!("{s:?}"), s, rsa_doc.as_ref()).expect("rsa");
        }
        let cases = [
            ("ed".to_string(), SignatureScheme::Ed25519, ed_spki),
            ("p256".to_string(), SignatureScheme::EcdsaP256Sha256, spki(&p256_kp)),
            ("p384".to_string(), SignatureScheme::EcdsaP384Sha384, spki(&p384_kp)),
            (format!("{:?}", SignatureScheme::RsaPssSha256), SignatureScheme::RsaPssSha256, rsa_spki.clone()),
            (format!("{:?}", SignatureScheme::RsaPkcs1Sha256), SignatureScheme::RsaPkcs1Sha256, rsa_spki.clone()),
            (format!("{:?}", SignatureScheme::RsaPkcs1Sha384), SignatureScheme::RsaPkcs1Sha384, rsa_spki.clone()),
            (format!("{:?}", SignatureScheme::RsaPkcs1Sha512), SignatureScheme::RsaPkcs1Sha512, rsa_spki),
        ];
        for (handle, scheme, spki) in cases {
            let sig = ks.sign(&handle, scheme, b"octets").expect("sign");
            assert!(verify(scheme, &spki, b"octets", &sig), "{scheme:?} with SPKI");
            assert!(!verify(scheme, &spki, b"octetz", &sig), "{scheme:?} wrong message");
        }
    }
}

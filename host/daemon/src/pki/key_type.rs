//! Key types `esprit pki` generates (`--key-type`).

use rcgen::{KeyPair, RsaKeySize};

use super::error::PkiError;

/// A key algorithm for new keys. RSA keys sign certificates with
/// sha256WithRSAEncryption, ECDSA keys with the hash of their curve size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyType {
    /// RSA 2048 bits (same as rsa2048).
    Rsa,
    /// RSA 2048 bits.
    Rsa2048,
    /// RSA 3072 bits.
    Rsa3072,
    /// ECDSA on NIST P-256 (the default).
    EcdsaP256,
    /// ECDSA on NIST P-384.
    EcdsaP384,
    /// Ed25519 (RFC 8410).
    Ed25519,
}

impl KeyType {
    /// Generates a fresh key pair from the system's random source (aws-lc).
    pub fn generate(self) -> Result<KeyPair, PkiError> {
        let what = format!("generating a {self:?} key");
        match self {
            KeyType::Rsa | KeyType::Rsa2048 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048),
            KeyType::Rsa3072 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_3072),
            KeyType::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            KeyType::EcdsaP384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
            KeyType::Ed25519 => return ed25519_pkcs8v1(),
        }
        .map_err(PkiError::rcgen(what))
    }
}

/// Ed25519 written as PKCS#8 v1 (RFC 5208): OpenSSL 3.0 and older refuse the
/// v2 form (RFC 5958, with the public key) that aws-lc generates by default.
fn ed25519_pkcs8v1() -> Result<KeyPair, PkiError> {
    use aws_lc_rs::signature::Ed25519KeyPair;
    let failed = |what: &str| PkiError::Usage(format!("generating an Ed25519 key: {what}"));
    let kp = Ed25519KeyPair::generate().map_err(|_| failed("no randomness"))?;
    let doc = zeroize::Zeroizing::new(kp.to_pkcs8v1().map_err(|_| failed("encoding failed"))?.as_ref().to_vec());
    KeyPair::try_from(doc.as_slice()).map_err(PkiError::rcgen("loading the new Ed25519 key"))
}

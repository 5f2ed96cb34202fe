//! Loading private keys and certificates from files, as the IKE code and
//! `esprit pki` read them.
//!
//! A private key file must be readable by its owner only (mode 0400 or 0600;
//! any group/other bit is refused, as racoon's and the seed's `chmod 400`).
//! Accepted encodings: PKCS#8 `PRIVATE KEY` (RFC 5958) as PEM (RFC 7468) or
//! DER, and the older OpenSSL PEM forms `EC PRIVATE KEY` (SEC1, RFC 5915) and
//! `RSA PRIVATE KEY` (PKCS#1, RFC 8017), which are converted to PKCS#8.
//! Encrypted keys are refused with the command that decrypts them.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
use x509_parser::pem::Pem;
use zeroize::Zeroizing;

use super::error::PkiError;

/// How a loaded key signs, named as the host's `crypto.signature-scheme`
/// (`sdk/wit/host.wit`). RSA keys sign with PKCS#1 v1.5 and SHA-256 by default
/// (RFC 7296 §3.8 auth method 1; RFC 7427 for the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    /// ECDSA over P-256 with SHA-256 (RFC 4754).
    EcdsaP256Sha256,
    /// ECDSA over P-384 with SHA-384 (RFC 4754).
    EcdsaP384Sha384,
    /// Ed25519 (RFC 8420).
    Ed25519,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017 §8.2).
    RsaPkcs1Sha256,
}

impl SignatureScheme {
    /// The WIT name, as the x509-auth plugin's `scheme` setting spells it.
    pub fn wit_name(self) -> &'static str {
        match self {
            SignatureScheme::EcdsaP256Sha256 => "ecdsa-p256-sha256",
            SignatureScheme::EcdsaP384Sha384 => "ecdsa-p384-sha384",
            SignatureScheme::Ed25519 => "ed25519",
            SignatureScheme::RsaPkcs1Sha256 => "rsa-pkcs1-sha256",
        }
    }

    /// A short human name, e.g. `ECDSA P-256 (SHA-256)`.
    pub fn describe(self) -> &'static str {
        match self {
            SignatureScheme::EcdsaP256Sha256 => "ECDSA P-256 (SHA-256)",
            SignatureScheme::EcdsaP384Sha384 => "ECDSA P-384 (SHA-384)",
            SignatureScheme::Ed25519 => "Ed25519",
            SignatureScheme::RsaPkcs1Sha256 => "RSA (PKCS#1 v1.5, SHA-256)",
        }
    }
}

impl From<SignatureScheme> for esprit_plugin::latest::crypto::SignatureScheme {
    fn from(s: SignatureScheme) -> Self {
        use esprit_plugin::latest::crypto::SignatureScheme as Wit;
        match s {
            SignatureScheme::EcdsaP256Sha256 => Wit::EcdsaP256Sha256,
            SignatureScheme::EcdsaP384Sha384 => Wit::EcdsaP384Sha384,
            SignatureScheme::Ed25519 => Wit::Ed25519,
            SignatureScheme::RsaPkcs1Sha256 => Wit::RsaPkcs1Sha256,
        }
    }
}

/// The encoding a key file used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEncoding {
    /// PEM `PRIVATE KEY` (unencrypted PKCS#8).
    Pkcs8Pem,
    /// DER PKCS#8.
    Pkcs8Der,
    /// PEM `EC PRIVATE KEY` (SEC1), converted to PKCS#8.
    Sec1Pem,
    /// PEM `RSA PRIVATE KEY` (PKCS#1), converted to PKCS#8.
    Pkcs1Pem,
}

impl KeyEncoding {
    fn describe(self) -> &'static str {
        match self {
            KeyEncoding::Pkcs8Pem => "unencrypted PKCS#8 PEM",
            KeyEncoding::Pkcs8Der => "unencrypted PKCS#8 DER",
            KeyEncoding::Sec1Pem => "unencrypted SEC1 `EC PRIVATE KEY` PEM",
            KeyEncoding::Pkcs1Pem => "unencrypted PKCS#1 `RSA PRIVATE KEY` PEM",
        }
    }
}

/// A private key read from a file: its PKCS#8 DER (wiped on drop) and how it
/// signs. `Debug` never prints key material.
pub struct LoadedKey {
    path: PathBuf,
    pkcs8: Zeroizing<Vec<u8>>,
    scheme: SignatureScheme,
    encoding: KeyEncoding,
    mode: u32,
}

// Accessors for the IKE code (a conn's `key =`); not all are used by `esprit pki`.
#[allow(dead_code)]
impl LoadedKey {
    /// The key as PKCS#8 DER (what `KeyStore::insert_pkcs8` takes).
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The signature scheme the key signs with.
    pub fn scheme(&self) -> SignatureScheme {
        self.scheme
    }

    /// The encoding found in the file.
    pub fn encoding(&self) -> KeyEncoding {
        self.encoding
    }

    /// The file's permission bits (e.g. `0o400`).
    pub fn mode(&self) -> u32 {
        self.mode
    }

    /// The file the key came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One line for users:
    /// `FILE: Ed25519 key (scheme ed25519), unencrypted PKCS#8 PEM, mode 0400`.
    pub fn summary(&self) -> String {
        format!(
            "{}: {} key (scheme {}), {}, mode {:04o}",
            self.path.display(),
            self.scheme.describe(),
            self.scheme.wit_name(),
            self.encoding.describe(),
            self.mode
        )
    }
}

impl fmt::Debug for LoadedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedKey")
            .field("path", &self.path)
            .field("scheme", &self.scheme)
            .field("encoding", &self.encoding)
            .field("mode", &format_args!("{:04o}", self.mode))
            .finish_non_exhaustive()
    }
}

/// Reads a private key, refusing a file that group or others may access.
///
/// Returns the key as PKCS#8 DER together with its [`SignatureScheme`].
pub fn load_private_key(path: &Path) -> Result<LoadedKey, PkiError> {
    let mode = check_key_mode(path)?;
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| PkiError::io(path, e))?);
    let (pkcs8, scheme, encoding) = parse_private_key(path, &bytes)?;
    Ok(LoadedKey { path: path.to_path_buf(), pkcs8, scheme, encoding, mode })
}

/// Reads one X.509 certificate (PEM `CERTIFICATE` or DER) and returns its DER.
/// With several PEM blocks the first certificate is taken.
pub fn load_certificate(path: &Path) -> Result<Vec<u8>, PkiError> {
    let bytes = std::fs::read(path).map_err(|e| PkiError::io(path, e))?;
    certificate_der(path, bytes)
}

/// Decodes the bytes of a certificate file (`path` only names it in errors).
pub fn certificate_der(path: &Path, bytes: Vec<u8>) -> Result<Vec<u8>, PkiError> {
    let der = if is_pem(&bytes) {
        let mut labels = Vec::new();
        let mut found = None;
        for block in Pem::iter_from_buffer(&bytes) {
            let block =
                block.map_err(|e| PkiError::format(path, "a PEM `CERTIFICATE` block", format!("broken PEM ({e})")))?;
            if block.label == "CERTIFICATE" {
                found = Some(block.contents);
                break;
            }
            labels.push(format!("`{}`", block.label));
        }
        found.ok_or_else(|| PkiError::format(path, "a PEM `CERTIFICATE` block", found_labels(&labels)))?
    } else {
        bytes
    };
    match x509_parser::parse_x509_certificate(&der) {
        Ok(([], _)) => Ok(der),
        Ok((rest, _)) => Err(PkiError::format(path, "one DER certificate", format!("{} bytes after it", rest.len()))),
        Err(e) => {
            Err(PkiError::format(path, "an X.509 certificate (PEM or DER)", format!("bytes that do not parse ({e})")))
        }
    }
}

/// Checks that `path` is a regular file without group/other permission bits
/// and returns its permission bits.
pub(crate) fn check_key_mode(path: &Path) -> Result<u32, PkiError> {
    let meta = std::fs::metadata(path).map_err(|e| PkiError::io(path, e))?;
    if !meta.is_file() {
        return Err(PkiError::format(path, "a private key file", "something that is not a regular file"));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(PkiError::KeyMode { path: path.to_path_buf(), mode });
    }
    Ok(mode)
}

/// Decodes the bytes of a key file (`path` only names it in errors).
pub fn parse_private_key(
    path: &Path,
    bytes: &[u8],
) -> Result<(Zeroizing<Vec<u8>>, SignatureScheme, KeyEncoding), PkiError> {
    if !is_pem(bytes) {
        let der = Zeroizing::new(bytes.to_vec());
        return match classify_pkcs8(path, &der) {
            Ok(scheme) => Ok((der, scheme, KeyEncoding::Pkcs8Der)),
            Err(e) => Err(e),
        };
    }
    if contains(bytes, b"Proc-Type: 4,ENCRYPTED") {
        return Err(PkiError::Encrypted { path: path.to_path_buf(), kind: "legacy OpenSSL PEM encryption" });
    }
    let mut labels = Vec::new();
    for block in Pem::iter_from_buffer(bytes) {
        let block =
            block.map_err(|e| PkiError::format(path, "a PEM `PRIVATE KEY` block", format!("broken PEM ({e})")))?;
        let der = Zeroizing::new(block.contents);
        match block.label.as_str() {
            "PRIVATE KEY" => {
                let scheme = classify_pkcs8(path, &der)?;
                return Ok((der, scheme, KeyEncoding::Pkcs8Pem));
            }
            "EC PRIVATE KEY" => {
                let (pkcs8, scheme) = sec1_to_pkcs8(path, &der)?;
                return Ok((pkcs8, scheme, KeyEncoding::Sec1Pem));
            }
            "RSA PRIVATE KEY" => {
                let pkcs8 = pkcs1_to_pkcs8(path, &der)?;
                return Ok((pkcs8, SignatureScheme::RsaPkcs1Sha256, KeyEncoding::Pkcs1Pem));
            }
            "ENCRYPTED PRIVATE KEY" => {
                return Err(PkiError::Encrypted { path: path.to_path_buf(), kind: "PKCS#8 EncryptedPrivateKeyInfo" });
            }
            // `openssl ecparam -genkey` writes the curve before the key.
            "EC PARAMETERS" => {}
            other => labels.push(format!("`{other}`")),
        }
    }
    Err(PkiError::format(path, "a PEM `PRIVATE KEY` block (PKCS#8)", found_labels(&labels)))
}

/// Which of our schemes a PKCS#8 key signs with; the key is fully parsed.
fn classify_pkcs8(path: &Path, der: &[u8]) -> Result<SignatureScheme, PkiError> {
    if Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).is_ok() {
        return Ok(SignatureScheme::Ed25519);
    }
    if EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, der).is_ok() {
        return Ok(SignatureScheme::EcdsaP256Sha256);
    }
    if EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_ASN1_SIGNING, der).is_ok() {
        return Ok(SignatureScheme::EcdsaP384Sha384);
    }
    let rsa = RsaKeyPair::from_pkcs8(der);
    if rsa.is_ok() {
        return Ok(SignatureScheme::RsaPkcs1Sha256);
    }
    let what = match pkcs8_algorithm(der) {
        None => {
            return Err(PkiError::format(
                path,
                "a PKCS#8 private key (PEM or DER)",
                format!("{} bytes that are not PKCS#8", der.len()),
            ))
        }
        Some(alg) if alg == OID_RSA => format!(
            "RSA key rejected ({}); esprit signs with RSA keys of 2048 to 8192 bits",
            rsa.err().map(|e| e.to_string()).unwrap_or_default()
        ),
        Some(alg) => {
            format!("unsupported key algorithm {}; expected RSA, ECDSA P-256/P-384 or Ed25519", algorithm_name(&alg))
        }
    };
    Err(PkiError::UnsupportedKey { path: path.to_path_buf(), what })
}

/// SEC1 `ECPrivateKey` (RFC 5915) to PKCS#8.
fn sec1_to_pkcs8(path: &Path, der: &[u8]) -> Result<(Zeroizing<Vec<u8>>, SignatureScheme), PkiError> {
    let curves = [
        (&signature::ECDSA_P256_SHA256_ASN1_SIGNING, SignatureScheme::EcdsaP256Sha256),
        (&signature::ECDSA_P384_SHA384_ASN1_SIGNING, SignatureScheme::EcdsaP384Sha384),
    ];
    for (alg, scheme) in curves {
        if let Ok(kp) = EcdsaKeyPair::from_private_key_der(alg, der) {
            let doc = kp
                .to_pkcs8v1()
                .map_err(|_| PkiError::format(path, "an EC private key", "one that cannot be re-encoded"))?;
            return Ok((Zeroizing::new(doc.as_ref().to_vec()), scheme));
        }
    }
    Err(PkiError::UnsupportedKey {
        path: path.to_path_buf(),
        what: "`EC PRIVATE KEY` is not a P-256 or P-384 key (the curves esprit signs with)".into(),
    })
}

/// PKCS#1 `RSAPrivateKey` (RFC 8017 A.1.2) to PKCS#8.
fn pkcs1_to_pkcs8(path: &Path, der: &[u8]) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    let kp = RsaKeyPair::from_der(der).map_err(|e| PkiError::UnsupportedKey {
        path: path.to_path_buf(),
        what: format!("`RSA PRIVATE KEY` rejected ({e}); esprit signs with RSA keys of 2048 to 8192 bits"),
    })?;
    let doc = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&kp)
        .map_err(|_| PkiError::format(path, "an RSA private key", "one that cannot be re-encoded"))?;
    Ok(Zeroizing::new(doc.as_ref().to_vec()))
}

const OID_RSA: &str = "1.2.840.113549.1.1.1";

/// The algorithm OID of a PKCS#8 `PrivateKeyInfo`, for error messages.
fn pkcs8_algorithm(der: &[u8]) -> Option<String> {
    let (_, obj) = x509_parser::der_parser::parse_der(der).ok()?;
    let seq = obj.as_sequence().ok()?;
    let alg = seq.get(1)?.as_sequence().ok()?;
    let oid = alg.first()?.as_oid().ok()?;
    let mut s = oid.to_id_string();
    if s == "1.2.840.10045.2.1" {
        if let Some(curve) = alg.get(1).and_then(|p| p.as_oid().ok()) {
            s = format!("{s} ({})", curve_name(&curve.to_id_string()));
        }
    }
    Some(s)
}

fn curve_name(oid: &str) -> &str {
    match oid {
        "1.2.840.10045.3.1.7" => "P-256",
        "1.3.132.0.34" => "P-384",
        "1.3.132.0.35" => "P-521",
        other => other,
    }
}

fn algorithm_name(oid: &str) -> String {
    match oid {
        "1.3.101.113" => "Ed448 (1.3.101.113)".into(),
        "1.2.840.10040.4.1" => "DSA (1.2.840.10040.4.1)".into(),
        "1.2.840.113549.1.1.10" => "RSASSA-PSS-only key (1.2.840.113549.1.1.10)".into(),
        s if s.starts_with("1.2.840.10045.2.1") => format!("EC {s}"),
        s => s.to_string(),
    }
}

/// Whether a file holds PEM (RFC 7468) rather than DER.
pub(crate) fn is_pem(bytes: &[u8]) -> bool {
    contains(bytes, b"-----BEGIN ")
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn found_labels(labels: &[String]) -> String {
    if labels.is_empty() {
        "no PEM block".to_string()
    } else {
        format!("PEM block(s) {}", labels.join(", "))
    }
}

#[cfg(test)]
#[path = "key_file_tests.rs"]
mod tests;

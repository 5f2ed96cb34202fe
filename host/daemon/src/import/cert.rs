//! What the importer needs from racoon's certificate files: the subject DN
//! of our certificate (for `local_id`, racoon's `my_identifier asn1dn`), the
//! signature scheme its key calls for, and whether the private key is in a
//! form esprit loads (unencrypted, owner-only).

use std::path::Path;

use x509_parser::prelude::*;

/// The facts read from a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject DN as `C=.., O=.., CN=..` (the schema's DN form).
    pub subject: String,
    /// A WIT `signature-scheme` name for the key: `rsa-pss-sha256`,
    /// `ecdsa-p256-sha256`, `ecdsa-p384-sha384` or `ed25519`.
    pub scheme: &'static str,
}

/// RSA keys sign with RSASSA-PSS (RFC 7427 Digital Signature auth, which
/// RFC 8247 recommends over PKCS#1 v1.5).
pub const DEFAULT_SCHEME: &str = "rsa-pss-sha256";

/// Reads a PEM or DER certificate. The error is a sentence for a warning.
pub fn read_cert(path: &Path) -> Result<CertInfo, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let der = if bytes.starts_with(b"-----BEGIN") || bytes.iter().take(64).any(|b| *b == b'-') {
        let (_, pem) = parse_x509_pem(&bytes).map_err(|e| format!("{} is not a PEM certificate: {e}", path.display()))?;
        pem.contents
    } else {
        bytes
    };
    let (_, cert) = parse_x509_certificate(&der).map_err(|e| format!("{} is not an X.509 certificate: {e}", path.display()))?;
    let subject = cert.subject().to_string();
    let spki = cert.public_key();
    let alg = spki.algorithm.algorithm.to_id_string();
    let param = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok()).map(|o| o.to_id_string());
    let scheme = match (alg.as_str(), param.as_deref()) {
        ("1.2.840.113549.1.1.1", _) | ("1.2.840.113549.1.1.10", _) => DEFAULT_SCHEME,
        ("1.2.840.10045.2.1", Some("1.2.840.10045.3.1.7")) => "ecdsa-p256-sha256",
        ("1.2.840.10045.2.1", Some("1.3.132.0.34")) => "ecdsa-p384-sha384",
        ("1.3.101.112", _) => "ed25519",
        _ => return Err(format!("{}: its key type ({alg}) is not one esprit signs with (RSA, ECDSA P-256/P-384, Ed25519)", path.display())),
    };
    Ok(CertInfo { subject, scheme })
}

/// Problems with a private key file, as sentences for warnings (empty = fine).
pub fn check_key(path: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) => return vec![format!("cannot read private key {}: {e}; esprit needs it at run time", path.display())],
    };
    let has = |label: &str| text.windows(label.len()).any(|w| w == label.as_bytes());
    // PKCS#8 and the traditional `RSA/EC PRIVATE KEY` PEMs load; encrypted ones do not.
    if has("BEGIN ENCRYPTED PRIVATE KEY") || has("Proc-Type: 4,ENCRYPTED") {
        out.push(format!("{} is encrypted; esprit loads unencrypted keys only: `openssl pkcs8 -in {0} -out {0}.plain` (then `esprit pki decrypt --in {0}.plain` checks it)", path.display()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(path) {
            if m.permissions().mode() & 0o077 != 0 {
                out.push(format!("{} may be accessed by group or others; esprit refuses such keys (expected mode 0400 or 0600): `chmod 400 {0}`", path.display()));
            }
        }
    }
    out
}

//! `esprit pki show`: what a certificate, request or key file holds, in a
//! form people and tests can read.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use x509_parser::certificate::X509Certificate;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::objects::{oid2sn, oid_registry};
use x509_parser::oid_registry::Oid;
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::error::PkiError;
use super::key_file::{load_certificate, load_private_key};
use super::params::rfc3339;
use super::sign::{read_request_der, request_params};

/// `esprit pki show`.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = true)]
pub struct ShowArgs {
    /// A certificate (PEM or DER) or certificate request (PEM or DER).
    #[arg(long = "in", value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// A private key: load it as the daemon would (mode and format checks).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
}

/// Renders what `args` name.
pub fn show(args: &ShowArgs) -> Result<String, PkiError> {
    let mut out = String::new();
    if let Some(path) = &args.input {
        out.push_str(&describe_file(path)?);
    }
    if let Some(path) = &args.key {
        let key = load_private_key(path)?;
        let _ = writeln!(out, "Private key: {}", key.summary());
    }
    Ok(out)
}

fn describe_file(path: &Path) -> Result<String, PkiError> {
    let cert_err = match load_certificate(path) {
        Ok(der) => return describe_certificate(path, &der),
        Err(e @ PkiError::Io { .. }) => return Err(e),
        Err(e) => e,
    };
    let is_request = std::fs::read(path).map(|b| b.windows(19).any(|w| w == b"CERTIFICATE REQUEST")).unwrap_or(false);
    if is_request {
        return describe_request(path);
    }
    // Not PEM-labelled as a request: try DER request, else report the
    // certificate error (the common case).
    describe_request(path).map_err(|_| cert_err)
}

/// Certificate fields, one per line.
pub fn describe_certificate(path: &Path, der: &[u8]) -> Result<String, PkiError> {
    let (_, x509) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| PkiError::format(path, "an X.509 certificate", e.to_string()))?;
    let mut s = String::new();
    let v = x509.validity();
    let not_before = time::OffsetDateTime::from_unix_timestamp(v.not_before.timestamp()).ok();
    let not_after = time::OffsetDateTime::from_unix_timestamp(v.not_after.timestamp()).ok();
    let now = time::OffsetDateTime::now_utc();
    let state = match (not_before, not_after) {
        (Some(b), _) if now < b => "not yet valid",
        (_, Some(a)) if now > a => "EXPIRED",
        _ => "valid now",
    };
    let _ = writeln!(s, "Certificate: {}", path.display());
    let _ = writeln!(s, "Subject:     {}", x509.subject());
    let _ = writeln!(s, "Issuer:      {}", x509.issuer());
    let _ = writeln!(s, "Serial:      {}", x509.raw_serial_as_string());
    let _ = writeln!(s, "Not before:  {}", not_before.map(rfc3339).unwrap_or_else(|| v.not_before.to_string()));
    let _ = writeln!(s, "Not after:   {} ({state})", not_after.map(rfc3339).unwrap_or_else(|| v.not_after.to_string()));
    let _ = writeln!(s, "Key:         {}", key_type(x509.public_key()));
    let _ = writeln!(s, "Signature:   {}", oid_name(&x509.signature_algorithm.algorithm));
    let _ = writeln!(s, "CA:          {}", if x509.is_ca() { "yes" } else { "no" });
    let sans = cert_sans(&x509);
    let _ = writeln!(s, "SANs:        {}", if sans.is_empty() { "(none)".to_string() } else { sans.join(", ") });
    if let Ok(Some(eku)) = x509.extended_key_usage() {
        let e = &eku.value;
        let mut names = Vec::new();
        for (on, name) in [(e.server_auth, "serverAuth"), (e.client_auth, "clientAuth"), (e.any, "any")] {
            if on {
                names.push(name.to_string());
            }
        }
        names.extend(e.other.iter().map(oid_name));
        let _ = writeln!(s, "EKU:         {}", names.join(", "));
    }
    let fp = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    let _ = writeln!(s, "SHA-256:     {}", colon_hex(fp.as_ref()));
    Ok(s)
}

fn describe_request(path: &Path) -> Result<String, PkiError> {
    let der = read_request_der(path)?;
    let csr = request_params(path, &der)?;
    let (_, parsed) = X509CertificationRequest::from_der(&der)
        .map_err(|e| PkiError::format(path, "a PKCS#10 certificate request", e.to_string()))?;
    let info = &parsed.certification_request_info;
    let mut s = String::new();
    let _ = writeln!(s, "Request:     {}", path.display());
    let _ = writeln!(s, "Subject:     {}", info.subject);
    let _ = writeln!(s, "Key:         {}", key_type(&info.subject_pki));
    let sans: Vec<String> = csr.params.subject_alt_names.iter().map(rcgen_san).collect();
    let _ = writeln!(s, "SANs:        {}", if sans.is_empty() { "(none)".to_string() } else { sans.join(", ") });
    let _ = writeln!(s, "Signature:   {} (verified)", oid_name(&parsed.signature_algorithm.algorithm));
    Ok(s)
}

fn rcgen_san(san: &rcgen::SanType) -> String {
    match san {
        rcgen::SanType::DnsName(n) => format!("DNS:{}", n.as_str()),
        rcgen::SanType::IpAddress(ip) => format!("IP:{ip}"),
        rcgen::SanType::Rfc822Name(n) => format!("email:{}", n.as_str()),
        rcgen::SanType::URI(n) => format!("URI:{}", n.as_str()),
        other => format!("{other:?}"),
    }
}

/// `RSA 2048 bits`, `ECDSA P-256`, `Ed25519`, ...
pub fn key_type(spki: &SubjectPublicKeyInfo<'_>) -> String {
    let alg = spki.algorithm.algorithm.to_id_string();
    match alg.as_str() {
        "1.2.840.113549.1.1.1" => match spki.parsed() {
            Ok(k) => format!("RSA {} bits", k.key_size()),
            Err(_) => "RSA".to_string(),
        },
        "1.2.840.10045.2.1" => {
            let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok()).map(|o| o.to_id_string());
            match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => "ECDSA P-256".to_string(),
                Some("1.3.132.0.34") => "ECDSA P-384".to_string(),
                Some("1.3.132.0.35") => "ECDSA P-521".to_string(),
                Some(other) => format!("ECDSA curve {other}"),
                None => "ECDSA".to_string(),
            }
        }
        "1.3.101.112" => "Ed25519".to_string(),
        "1.3.101.113" => "Ed448".to_string(),
        _ => oid_name(&spki.algorithm.algorithm),
    }
}

fn cert_sans(x509: &X509Certificate<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for ext in x509.extensions() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext.parsed_extension() {
            out.extend(san.general_names.iter().map(general_name));
        }
    }
    out
}

fn general_name(n: &GeneralName<'_>) -> String {
    match n {
        GeneralName::DNSName(s) => format!("DNS:{s}"),
        GeneralName::RFC822Name(s) => format!("email:{s}"),
        GeneralName::URI(s) => format!("URI:{s}"),
        GeneralName::IPAddress(b) => match b.len() {
            4 => format!("IP:{}", IpAddr::from(<[u8; 4]>::try_from(*b).unwrap_or_default())),
            16 => format!("IP:{}", IpAddr::from(<[u8; 16]>::try_from(*b).unwrap_or_default())),
            _ => format!("IP:{}", colon_hex(b)),
        },
        GeneralName::DirectoryName(dn) => format!("dirName:{dn}"),
        other => format!("{other:?}"),
    }
}

fn oid_name(oid: &Oid<'_>) -> String {
    oid2sn(oid, oid_registry()).map(str::to_string).unwrap_or_else(|_| oid.to_id_string())
}

fn colon_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":")
}

//! The certificate extensions path validation reads (RFC 5280 §4.2), parsed
//! one by one. x509-parser's deep extension parsing is switched off: its
//! parser table is a `std` HashMap, whose random seed is a WASI import the
//! host does not grant (the call traps).
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{BasicConstraints, GeneralName, KeyUsage, SubjectAlternativeName};
use x509_parser::prelude::FromDer;

use crate::name::subject;

/// id-ce-basicConstraints.
const BASIC_CONSTRAINTS: &str = "2.5.29.19";
/// id-ce-keyUsage.
const KEY_USAGE: &str = "2.5.29.15";
/// id-ce-subjectAltName.
const SUBJECT_ALT_NAME: &str = "2.5.29.17";
/// Critical extensions we may ignore: the three above, extKeyUsage (IKE
/// does not require one, RFC 4945 §5.1.3.12) and subjectKeyIdentifier /
/// authorityKeyIdentifier (chain building goes by name).
const UNDERSTOOD: [&str; 6] = [BASIC_CONSTRAINTS, KEY_USAGE, SUBJECT_ALT_NAME, "2.5.29.37", "2.5.29.14", "2.5.29.35"];

/// Parse one DER certificate without deep extension parsing.
pub fn parse<'a>(der: &'a [u8]) -> Result<X509Certificate<'a>, String> {
    use x509_parser::nom::Parser;
    let mut parser = x509_parser::certificate::X509CertificateParser::new().with_deep_parse_extensions(false);
    match parser.parse(der) {
        Ok((&[], c)) => Ok(c),
        Ok(_) => Err("trailing bytes after the certificate".into()),
        Err(e) => Err(format!("not a DER X.509 certificate ({e})")),
    }
}

fn value<'a>(c: &X509Certificate<'a>, oid: &str) -> Option<&'a [u8]> {
    c.extensions().iter().find(|e| e.oid.to_id_string() == oid).map(|e| e.value)
}

/// RFC 5280 §4.2: a critical extension we do not process rejects the certificate.
pub fn check_critical(c: &X509Certificate<'_>) -> Result<(), String> {
    for e in c.extensions().iter().filter(|e| e.critical) {
        let oid = e.oid.to_id_string();
        if !UNDERSTOOD.contains(&oid.as_str()) {
            return Err(format!("certificate {} has a critical extension esprit does not process ({oid})", subject(c)));
        }
    }
    Ok(())
}

/// basicConstraints cA.
pub fn is_ca(c: &X509Certificate<'_>) -> bool {
    value(c, BASIC_CONSTRAINTS).and_then(|v| BasicConstraints::from_der(v).ok()).is_some_and(|(_, bc)| bc.ca)
}

/// keyUsage, if present (and parseable).
pub fn key_usage(c: &X509Certificate<'_>) -> Result<Option<KeyUsage>, String> {
    match value(c, KEY_USAGE) {
        None => Ok(None),
        Some(v) => KeyUsage::from_der(v)
            .map(|(_, ku)| Some(ku))
            .map_err(|e| format!("certificate {}: malformed keyUsage ({e})", subject(c))),
    }
}

/// subjectAltName entries (empty without the extension).
pub fn sans<'a>(c: &X509Certificate<'a>) -> Result<Vec<GeneralName<'a>>, String> {
    match value(c, SUBJECT_ALT_NAME) {
        None => Ok(Vec::new()),
        Some(v) => SubjectAlternativeName::from_der(v)
            .map(|(_, s)| s.general_names)
            .map_err(|e| format!("peer certificate {}: malformed subjectAltName ({e})", subject(c))),
    }
}

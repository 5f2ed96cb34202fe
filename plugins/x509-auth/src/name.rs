//! Certificate names as people read them in error messages.
use x509_parser::certificate::X509Certificate;

use crate::ids::{dn_text, parse_dn_der};

/// `CN=b.example, O=esprit` for a DER Name.
pub fn name_text(raw: &[u8]) -> String {
    parse_dn_der(raw).map(|d| dn_text(&d)).filter(|s| !s.is_empty()).unwrap_or_else(|| "(empty name)".into())
}

/// `CN=...` of a certificate's subject.
pub fn subject(c: &X509Certificate<'_>) -> String {
    name_text(c.subject().as_raw())
}

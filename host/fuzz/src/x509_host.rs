//! Certificate and private-key files as the host loads them
//! (`esprit::pki::key_file`): PEM or DER certificates, PKCS#8 / SEC1 /
//! PKCS#1 keys in PEM or DER. Then the subject DN of an accepted certificate
//! through `esprit_ike::dn::decode_dn`, as the IKE ID is built from it.
use std::path::Path;

use esprit::pki::key_file::{certificate_der, parse_private_key};

pub fn run(data: &[u8]) {
    let path = Path::new("fuzz.pem");
    if let Ok(der) = certificate_der(path, data.to_vec()) {
        if let Ok((_, cert)) = x509_parser::parse_x509_certificate(&der) {
            let _ = esprit_ike::dn::decode_dn(cert.subject().as_raw());
        }
    }
    let _ = parse_private_key(path, data);
}

//! Distinguished names (ID_DER_ASN1_DN, RFC 7296 §3.5) in `esprit_ike::dn`:
//! the input as DER through `decode_dn`, and as text through `encode_dn`,
//! whose output must decode again.
use esprit_ike::dn::{decode_dn, encode_dn};

pub fn run(data: &[u8]) {
    let _ = decode_dn(data);
    let Some(text) = crate::text(data) else { return };
    if let Ok(der) = encode_dn(text) {
        assert!(decode_dn(&der).is_some(), "encode_dn({text:?}) does not decode");
    }
}

//! Distinguished names (ID_DER_ASN1_DN, RFC 7296 §3.5) in `esprit_ike::dn`:
//! the input as DER through `decode_dn`, and as text through `encode_dn`,
//! whose output must decode again. Text starting with `*` is repeated to
//! about 70 KB first: long names (DER lengths of three octets) are out of
//! reach of libFuzzer's 4 KB inputs otherwise.
use esprit_ike::dn::{decode_dn, encode_dn};

pub fn run(data: &[u8]) {
    let _ = decode_dn(data);
    let Some(text) = crate::text(data) else { return };
    let long;
    let text = match text.strip_prefix('*') {
        Some(rest) if !rest.is_empty() => {
            long = rest.repeat(70_000 / rest.len() + 1);
            long.as_str()
        }
        _ => text,
    };
    if let Ok(der) = encode_dn(text) {
        assert!(decode_dn(&der).is_some(), "encode_dn of {} bytes does not decode", text.len());
    }
}

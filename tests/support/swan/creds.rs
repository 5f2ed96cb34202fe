//! Private keys for swanctl: which credential directory a key belongs in.

/// swanctl's directory for a private key by its encoding: `pkcs8`, `rsa`
/// (PKCS#1) or `ecdsa` (SEC1).
pub fn key_kind(key: &[u8]) -> Option<&'static str> {
    if let Ok(text) = std::str::from_utf8(key) {
        if text.contains("-----BEGIN ") {
            return if text.contains("-----BEGIN PRIVATE KEY-----") || text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
                Some("pkcs8")
            } else if text.contains("-----BEGIN RSA PRIVATE KEY-----") {
                Some("rsa")
            } else if text.contains("-----BEGIN EC PRIVATE KEY-----") {
                Some("ecdsa")
            } else {
                None
            };
        }
    }
    // DER: SEQUENCE { INTEGER version, ... }; what follows the version tells:
    // PKCS#8 an AlgorithmIdentifier SEQUENCE, PKCS#1 the modulus INTEGER,
    // SEC1 (version 1) the key OCTET STRING.
    let (body, _) = der_tlv(key, 0x30)?;
    let (version, rest) = der_tlv(body, 0x02)?;
    match (version, rest.first()) {
        (_, Some(0x30)) => Some("pkcs8"),
        ([0], Some(0x02)) => Some("rsa"),
        ([1], Some(0x04)) => Some("ecdsa"),
        _ => None,
    }
}

/// Splits a DER TLV with tag `tag` off the start of `b`: (content, rest).
fn der_tlv(b: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    if *b.first()? != tag {
        return None;
    }
    let first = *b.get(1)? as usize;
    let (len, hdr) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let len = b.get(2..2 + n)?.iter().fold(0usize, |acc, x| (acc << 8) | *x as usize);
        (len, 2 + n)
    };
    let content = b.get(hdr..hdr + len)?;
    Some((content, &b[hdr + len..]))
}

//! Text ⇄ DER for the distinguished names used as ID_DER_ASN1_DN
//! (RFC 7296 §3.5), on `x509-cert`'s X.501 `Name` and the `der` codec.
//!
//! Only what identities need: `CN=a.example, O=esprit` (or `/CN=a/O=b`), one
//! attribute per RDN, in the order written (strongSwan's order, not
//! RFC 4514's reversed one). Values are UTF8String, except C
//! (PrintableString) and E (IA5String): peers compare ID_DER_ASN1_DN
//! byte for byte, so these choices are part of the interface.

use der::asn1::{Any, ObjectIdentifier as Oid};
use der::{Decode, Encode, Tag};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};

/// Short name, attribute type (RFC 4519 §2, PKCS #9 for E) and the string
/// type its values are encoded as.
const ATTRS: &[(&str, Oid, Tag)] = &[
    ("CN", Oid::new_unwrap("2.5.4.3"), Tag::Utf8String),
    ("C", Oid::new_unwrap("2.5.4.6"), Tag::PrintableString),
    ("L", Oid::new_unwrap("2.5.4.7"), Tag::Utf8String),
    ("ST", Oid::new_unwrap("2.5.4.8"), Tag::Utf8String),
    ("O", Oid::new_unwrap("2.5.4.10"), Tag::Utf8String),
    ("OU", Oid::new_unwrap("2.5.4.11"), Tag::Utf8String),
    ("E", Oid::new_unwrap("1.2.840.113549.1.9.1"), Tag::Ia5String),
];

/// The longest Name we write or read: a value of at most 65535 bytes
/// (two length octets) plus its four header octets.
const MAX_DER: usize = 0xffff + 4;

/// Encodes `CN=a.example, O=esprit` (also `/`-separated) as a DER Name.
pub fn encode_dn(text: &str) -> Result<Vec<u8>, ()> {
    let parts: Vec<&str> = if text.starts_with('/') {
        text.split('/').filter(|p| !p.is_empty()).collect()
    } else {
        text.split(',').collect()
    };
    let mut rdns = Vec::with_capacity(parts.len());
    for p in parts {
        let (k, v) = p.split_once('=').ok_or(())?;
        let (k, v) = (k.trim(), v.trim());
        let (_, oid, tag) = ATTRS.iter().find(|(n, _, _)| n.eq_ignore_ascii_case(k)).ok_or(())?;
        // The value's bytes as written: `Any` does not re-check the
        // string type's alphabet (a C= outside PrintableString is the
        // operator's to fix; the peer compares bytes).
        let value = Any::new(*tag, v.as_bytes()).map_err(|_| ())?;
        let atv = AttributeTypeAndValue { oid: *oid, value };
        rdns.push(RelativeDistinguishedName::try_from(vec![atv]).map_err(|_| ())?);
    }
    if rdns.is_empty() {
        return Err(());
    }
    // `Name` has no public constructor; an RDNSequence is its DER.
    let der = RdnSequence::from(rdns).to_der().map_err(|_| ())?;
    if der.len() > MAX_DER {
        return Err(());
    }
    Ok(der)
}

/// Renders a DER Name as `CN=a.example, O=esprit` (None if it is not one).
/// Attribute types without a short name come out as dotted OIDs.
pub fn decode_dn(der: &[u8]) -> Option<String> {
    if der.len() > MAX_DER {
        return None;
    }
    let name = Name::from_der(der).ok()?;
    let out: Vec<String> = name
        .iter()
        .map(|atv| {
            let key = ATTRS.iter().find(|(_, o, _)| *o == atv.oid).map(|(n, _, _)| n.to_string());
            let key = key.unwrap_or_else(|| atv.oid.to_string());
            format!("{key}={}", String::from_utf8_lossy(atv.value.value()))
        })
        .collect();
    Some(out.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let d = encode_dn("CN=a.example, O=esprit, C=DE").unwrap();
        assert_eq!(decode_dn(&d).unwrap(), "CN=a.example, O=esprit, C=DE");
        assert_eq!(encode_dn("/CN=a.example/O=esprit").unwrap(), encode_dn("CN=a.example,O=esprit").unwrap());
        assert!(encode_dn("XX=1").is_err());
        assert!(encode_dn("").is_err());
        assert!(encode_dn("/").is_err());
        assert!(decode_dn(&[0x30, 0x05, 0x31]).is_none());
    }

    #[test]
    fn der_is_what_strongswan_sends() {
        // `C=CH, O=strongSwan, CN=moon` as strongSwan's pki --dn writes it
        // (and as the hand codec this module replaced did).
        let der = encode_dn("C=CH, O=strongSwan, CN=moon").unwrap();
        let want = [
            "3031",
            "310b3009060355040613024348",
            "31133011060355040a0c0a7374726f6e675377616e",
            "310d300b06035504030c046d6f6f6e",
        ]
        .concat();
        assert_eq!(hex(&der), want);
        let der = encode_dn("/E=x@example").unwrap();
        assert_eq!(hex(&der), "301a3118301606092a864886f70d010901160978406578616d706c65");
    }

    #[test]
    fn unknown_attribute_types_decode_as_dotted_oids() {
        // serialNumber (2.5.4.5) = "7", PrintableString.
        let der = [0x30, 0x0c, 0x31, 0x0a, 0x30, 0x08, 0x06, 0x03, 0x55, 0x04, 0x05, 0x13, 0x01, b'7'];
        assert_eq!(decode_dn(&der).unwrap(), "2.5.4.5=7");
    }

    #[test]
    fn names_too_long_for_two_length_octets_are_refused() {
        // 70 000 bytes of value: encoded, it would need a 3-octet length.
        let long = format!("CN={}", "a".repeat(70_000));
        assert!(encode_dn(&long).is_err());
        let many = vec!["O=esprit"; 6000].join(",");
        assert!(encode_dn(&many).is_err());
        // Just under the limit still encodes and decodes.
        let ok = format!("CN={}", "a".repeat(60_000));
        let der = encode_dn(&ok).expect("a 60 000-byte name");
        assert_eq!(decode_dn(&der).map(|t| t.len()), Some(60_003));
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}

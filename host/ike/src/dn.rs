//! Text ⇄ DER for the distinguished names used as ID_DER_ASN1_DN
//! (RFC 7296 §3.5). Only what identities need: RDNs of one attribute, the
//! usual attribute types, UTF8String values (PrintableString for C).

/// (short name, OID content bytes)
const ATTRS: &[(&str, &[u8])] = &[
    ("CN", &[0x55, 0x04, 0x03]),
    ("C", &[0x55, 0x04, 0x06]),
    ("L", &[0x55, 0x04, 0x07]),
    ("ST", &[0x55, 0x04, 0x08]),
    ("O", &[0x55, 0x04, 0x0a]),
    ("OU", &[0x55, 0x04, 0x0b]),
    ("E", &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]),
];

fn der_len(n: usize, out: &mut Vec<u8>) {
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend_from_slice(&[0x81, n as u8]);
    } else {
        out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    }
}

fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    der_len(body.len(), &mut v);
    v.extend_from_slice(body);
    v
}

/// Encodes `CN=a.example, O=esprit` (also `/`-separated) as a DER Name.
pub fn encode_dn(text: &str) -> Result<Vec<u8>, ()> {
    let parts: Vec<&str> = if text.starts_with('/') {
        text.split('/').filter(|p| !p.is_empty()).collect()
    } else {
        text.split(',').collect()
    };
    let mut rdns = Vec::new();
    for p in parts {
        let (k, v) = p.split_once('=').ok_or(())?;
        let k = k.trim();
        let v = v.trim();
        let (_, oid) = ATTRS.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).ok_or(())?;
        let tag = match k.to_ascii_uppercase().as_str() {
            "C" => 0x13,
            "E" => 0x16,
            _ => 0x0c,
        };
        let mut atv = tlv(0x06, oid);
        atv.extend(tlv(tag, v.as_bytes()));
        rdns.extend(tlv(0x31, &tlv(0x30, &atv)));
    }
    // der_len writes at most two length octets: a longer name would come
    // out as garbage DER instead of an error.
    if rdns.is_empty() || rdns.len() > 0xffff {
        return Err(());
    }
    Ok(tlv(0x30, &rdns))
}

fn read_tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    let l0 = *b.get(1)? as usize;
    let (len, hdr) = match l0 {
        n if n < 0x80 => (n, 2),
        0x81 => (*b.get(2)? as usize, 3),
        0x82 => (((*b.get(2)? as usize) << 8) | *b.get(3)? as usize, 4),
        _ => return None,
    };
    let body = b.get(hdr..hdr + len)?;
    Some((tag, body, &b[hdr + len..]))
}

/// Renders a DER Name as `CN=a.example, O=esprit` (None if it is not one).
pub fn decode_dn(der: &[u8]) -> Option<String> {
    let (tag, mut rdns, _) = read_tlv(der)?;
    if tag != 0x30 {
        return None;
    }
    let mut out = Vec::new();
    while !rdns.is_empty() {
        let (t, mut set, rest) = read_tlv(rdns)?;
        if t != 0x31 {
            return None;
        }
        while !set.is_empty() {
            let (t2, atv, rest2) = read_tlv(set)?;
            if t2 != 0x30 {
                return None;
            }
            let (_, oid, val) = read_tlv(atv)?;
            let (_, v, _) = read_tlv(val)?;
            let name = ATTRS.iter().find(|(_, o)| *o == oid).map(|(n, _)| n.to_string()).unwrap_or_else(|| "?".into());
            out.push(format!("{name}={}", String::from_utf8_lossy(v)));
            set = rest2;
        }
        rdns = rest;
    }
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
        assert!(decode_dn(&[0x30, 0x05, 0x31]).is_none());
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
}

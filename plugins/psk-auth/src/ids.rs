//! IKE identities as an operator writes them in config and as they arrive
//! in an auth context (RFC 7296 §3.5), with the matching and display rules
//! of the esprit IKE config (`local_id`/`remote_id`). Shared by the
//! `psk-auth` and `x509-auth` plugins (included by path); the including
//! crate provides `crate::Identity` and `crate::IpAddress` from its WIT
//! bindings.
use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::{Identity, IpAddress};

/// An identity to compare: from config text or from the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Id {
    /// `*` or `%any`: matches every identity.
    Any,
    /// ID_IPV4_ADDR / ID_IPV6_ADDR.
    Ip(IpAddr),
    /// ID_FQDN (compared case-insensitively).
    Fqdn(String),
    /// ID_RFC822_ADDR (compared case-insensitively).
    Email(String),
    /// ID_DER_ASN1_DN as (attribute, value) pairs in order, attribute names
    /// upper case (`CN`, `O`, ...; unknown ones as dotted OIDs).
    Dn(Vec<(String, String)>),
    /// ID_KEY_ID.
    Key(Vec<u8>),
    /// ID_NULL (RFC 7619).
    Null,
}

/// Parse `0x`-prefixed hex.
pub fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let h = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X"))?;
    if h.is_empty() || h.len() % 2 != 0 {
        return None;
    }
    (0..h.len()).step_by(2).map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok()).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Id {
    /// Parse config text with the esprit IKE config rules: an IP address is
    /// an IP ID, text with `@` an RFC822 ID, text with `=` a DN, `null`
    /// ID_NULL, `*`/`%any` any, else an FQDN; the prefixes `fqdn:`,
    /// `email:`, `dn:`, `ip:`, `keyid:` (hex `0x..` or text) force a type.
    pub fn from_config(text: &str) -> Result<Id, String> {
        let t = text.trim();
        let bad = |what: &str| format!("identity {t:?}: {what}");
        if let Some(v) = t.strip_prefix("fqdn:") {
            return Ok(Id::Fqdn(v.trim().to_ascii_lowercase()));
        }
        if let Some(v) = t.strip_prefix("email:") {
            return Ok(Id::Email(v.trim().to_ascii_lowercase()));
        }
        if let Some(v) = t.strip_prefix("dn:") {
            return parse_dn_text(v).map(Id::Dn).map_err(|e| bad(&e));
        }
        if let Some(v) = t.strip_prefix("ip:") {
            return v.trim().parse().map(Id::Ip).map_err(|_| bad("not an IP address"));
        }
        if let Some(v) = t.strip_prefix("keyid:") {
            return Ok(Id::Key(parse_hex(v.trim()).unwrap_or_else(|| v.trim().as_bytes().to_vec())));
        }
        match t {
            "" => Err(bad("empty")),
            "*" | "%any" => Ok(Id::Any),
            "null" => Ok(Id::Null),
            _ => {
                if let Ok(ip) = t.parse() {
                    Ok(Id::Ip(ip))
                } else if t.contains('@') {
                    Ok(Id::Email(t.to_ascii_lowercase()))
                } else if t.contains('=') {
                    parse_dn_text(t).map(Id::Dn).map_err(|e| bad(&e))
                } else {
                    Ok(Id::Fqdn(t.to_ascii_lowercase()))
                }
            }
        }
    }

    /// The identity of an auth context.
    pub fn from_identity(id: &Identity) -> Id {
        match id {
            Identity::IpAddr(a) => Id::Ip(ip(a)),
            Identity::Fqdn(s) => Id::Fqdn(s.to_ascii_lowercase()),
            Identity::Rfc822(s) => Id::Email(s.to_ascii_lowercase()),
            Identity::DerAsn1Dn(der) => match parse_dn_der(der) {
                Some(dn) => Id::Dn(dn),
                // Unparseable DN: keep the bytes, it then only matches `*`.
                None => Id::Key(der.clone()),
            },
            Identity::KeyId(k) => Id::Key(k.clone()),
            Identity::Null => Id::Null,
        }
    }

    /// Does this (config) identity match `other`? `Any` matches everything.
    pub fn matches(&self, other: &Id) -> bool {
        match (self, other) {
            (Id::Any, _) => true,
            (Id::Dn(a), Id::Dn(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|((ta, va), (tb, vb))| ta == tb && va.trim() == vb.trim())
            }
            (a, b) => a == b,
        }
    }
}

/// An IP address of the WIT types as a `core::net` address.
pub fn ip(a: &IpAddress) -> IpAddr {
    match *a {
        IpAddress::Ipv4((a, b, c, d)) => IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
        IpAddress::Ipv6((a, b, c, d, e, f, g, h)) => IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)),
    }
}

impl fmt::Display for Id {
    /// `fqdn:b.example`, `email:u@b.example`, `ip:192.0.2.2`,
    /// `dn:CN=b.example, O=esprit`, `keyid:0x0102`, `null`, `*`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Any => write!(f, "*"),
            Id::Ip(a) => write!(f, "ip:{a}"),
            Id::Fqdn(s) => write!(f, "fqdn:{s}"),
            Id::Email(s) => write!(f, "email:{s}"),
            Id::Dn(dn) => write!(f, "dn:{}", dn_text(dn)),
            Id::Key(k) => write!(f, "keyid:0x{}", hex(k)),
            Id::Null => write!(f, "null"),
        }
    }
}

/// `CN=b.example, O=esprit`.
pub fn dn_text(dn: &[(String, String)]) -> String {
    dn.iter().map(|(t, v)| format!("{t}={v}")).collect::<Vec<_>>().join(", ")
}

/// Canonical attribute names (RFC 4514 §3 plus the usual extras).
fn canonical_attr(name: &str) -> String {
    let up = name.trim().to_ascii_uppercase();
    match up.as_str() {
        "EMAIL" | "EMAILADDRESS" => "E".into(),
        "S" => "ST".into(),
        "SERIALNUMBER" => "SERIALNUMBER".into(),
        _ => up,
    }
}

/// Parse `CN=a.example, O=esprit` (RFC 4514 style; `\,` escapes a comma).
pub fn parse_dn_text(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => cur.extend(chars.next()),
            ',' | ';' => parts.push(core::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    parts.push(cur);
    parts
        .iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (t, v) = p.split_once('=').ok_or(format!("DN part {:?} is not TYPE=value", p.trim()))?;
            Ok((canonical_attr(t), v.trim().to_string()))
        })
        .collect()
}

/// One DER TLV: (tag, contents, rest). Short and long lengths; no
/// indefinite length (DER).
pub fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&l0, rest) = rest.split_first()?;
    let (len, rest) = if l0 < 0x80 {
        (usize::from(l0), rest)
    } else {
        let n = usize::from(l0 & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        (rest[..n].iter().fold(0usize, |a, &b| (a << 8) | usize::from(b)), &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// Dotted text of a DER OBJECT IDENTIFIER's contents.
pub fn oid_text(c: &[u8]) -> String {
    let mut arcs = Vec::new();
    let mut v: u64 = 0;
    for &b in c {
        v = (v << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = if v < 40 { 0 } else if v < 80 { 1 } else { 2 };
                arcs.push(first);
                arcs.push(v - first * 40);
            } else {
                arcs.push(v);
            }
            v = 0;
        }
    }
    arcs.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

fn attr_name(oid: &str) -> String {
    match oid {
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SN",
        "2.5.4.5" => "SERIALNUMBER",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "T",
        "2.5.4.42" => "GN",
        "1.2.840.113549.1.9.1" => "E",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        other => other,
    }
    .to_string()
}

fn string_value(tag: u8, c: &[u8]) -> String {
    match tag {
        // UTF8String, PrintableString, IA5String, TeletexString, VisibleString
        0x0c | 0x13 | 0x16 | 0x14 | 0x1a => String::from_utf8_lossy(c).into_owned(),
        // BMPString: UTF-16BE
        0x1e => {
            let units: Vec<u16> = c.chunks(2).map(|p| u16::from_be_bytes([p[0], *p.get(1).unwrap_or(&0)])).collect();
            String::from_utf16_lossy(&units)
        }
        _ => format!("#{}", hex(c)),
    }
}

/// Parse a DER Name (RFC 5280 §4.1.2.4) into (attribute, value) pairs.
pub fn parse_dn_der(der: &[u8]) -> Option<Vec<(String, String)>> {
    let (tag, mut rdns, rest) = der_tlv(der)?;
    if tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    while !rdns.is_empty() {
        let (tag, mut set, r) = der_tlv(rdns)?;
        rdns = r;
        if tag != 0x31 {
            return None;
        }
        while !set.is_empty() {
            let (tag, atv, r) = der_tlv(set)?;
            set = r;
            if tag != 0x30 {
                return None;
            }
            let (otag, oid, r) = der_tlv(atv)?;
            let (vtag, val, _) = der_tlv(r)?;
            if otag != 0x06 {
                return None;
            }
            out.push((attr_name(&oid_text(oid)), string_value(vtag, val)));
        }
    }
    Some(out)
}

//! Identification payloads (RFC 7296 §3.5) and RFC 7619 ID_NULL.
use std::fmt;
use std::net::IpAddr;

/// ID types.
pub mod id_type {
    pub const IPV4_ADDR: u8 = 1;
    pub const FQDN: u8 = 2;
    pub const RFC822_ADDR: u8 = 3;
    pub const IPV6_ADDR: u8 = 5;
    pub const DER_ASN1_DN: u8 = 9;
    pub const KEY_ID: u8 = 11;
    pub const NULL: u8 = 13;
}

/// An IKE identity: type and data as carried in IDi/IDr.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    pub id_type: u8,
    pub data: Vec<u8>,
}

/// Why a configured identity string is not usable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    #[error("identity {0:?}: {1}")]
    Invalid(String, &'static str),
}

impl Identity {
    pub fn ip(a: IpAddr) -> Identity {
        match a {
            IpAddr::V4(v) => Identity { id_type: id_type::IPV4_ADDR, data: v.octets().to_vec() },
            IpAddr::V6(v) => Identity { id_type: id_type::IPV6_ADDR, data: v.octets().to_vec() },
        }
    }
    pub fn fqdn(s: &str) -> Identity {
        Identity { id_type: id_type::FQDN, data: s.as_bytes().to_vec() }
    }
    pub fn null() -> Identity {
        Identity { id_type: id_type::NULL, data: Vec::new() }
    }

    /// Parses an operator's identity string. Prefixes `fqdn:`, `email:`,
    /// `ip:`, `dn:` (DER hex or a text DN given as `dn:der:HEX`), `keyid:` (hex) force the type;
    /// otherwise: an IP address, `null`, a string with `@` (RFC822), else FQDN.
    /// Text DNs (`CN=a, O=b`) are encoded by [`crate::dn::encode_dn`].
    pub fn parse(s: &str) -> Result<Identity, IdentityError> {
        let bad = |why| IdentityError::Invalid(s.to_string(), why);
        if let Some(r) = s.strip_prefix("fqdn:") {
            return Ok(Identity::fqdn(r));
        }
        if let Some(r) = s.strip_prefix("email:") {
            return Ok(Identity { id_type: id_type::RFC822_ADDR, data: r.as_bytes().to_vec() });
        }
        if let Some(r) = s.strip_prefix("ip:") {
            return r.parse::<IpAddr>().map(Identity::ip).map_err(|_| bad("not an IP address after ip:"));
        }
        if let Some(r) = s.strip_prefix("keyid:") {
            return Ok(Identity { id_type: id_type::KEY_ID, data: decode_hex(r).ok_or_else(|| bad("keyid: wants hex"))? });
        }
        if let Some(r) = s.strip_prefix("dn:") {
            return crate::dn::encode_dn(r)
                .map(|der| Identity { id_type: id_type::DER_ASN1_DN, data: der })
                .map_err(|_| bad("expected a DN like \"CN=host, O=org\""));
        }
        if s == "null" || s == "%null" {
            return Ok(Identity::null());
        }
        if let Ok(a) = s.parse::<IpAddr>() {
            return Ok(Identity::ip(a));
        }
        if s.contains('=') {
            return crate::dn::encode_dn(s)
                .map(|der| Identity { id_type: id_type::DER_ASN1_DN, data: der })
                .map_err(|_| bad("expected a DN like \"CN=host, O=org\""));
        }
        if s.contains('@') {
            return Ok(Identity { id_type: id_type::RFC822_ADDR, data: s.as_bytes().to_vec() });
        }
        if s.is_empty() {
            return Err(bad("empty"));
        }
        Ok(Identity::fqdn(s))
    }

    /// The ID payload body after the generic header ("RestOfIDPayload" of RFC 7296 §2.15).
    pub fn body(&self) -> Vec<u8> {
        let mut v = vec![self.id_type, 0, 0, 0];
        v.extend_from_slice(&self.data);
        v
    }

    pub fn from_body(b: &[u8]) -> Option<Identity> {
        if b.len() < 4 {
            return None;
        }
        Some(Identity { id_type: b[0], data: b[4..].to_vec() })
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_start_matches("0x");
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id_type {
            id_type::IPV4_ADDR if self.data.len() == 4 => {
                write!(f, "ip:{}", std::net::Ipv4Addr::new(self.data[0], self.data[1], self.data[2], self.data[3]))
            }
            id_type::IPV6_ADDR if self.data.len() == 16 => {
                let mut o = [0u8; 16];
                o.copy_from_slice(&self.data);
                write!(f, "ip:{}", std::net::Ipv6Addr::from(o))
            }
            id_type::FQDN => write!(f, "fqdn:{}", String::from_utf8_lossy(&self.data)),
            id_type::RFC822_ADDR => write!(f, "email:{}", String::from_utf8_lossy(&self.data)),
            id_type::DER_ASN1_DN => match crate::dn::decode_dn(&self.data) {
                Some(t) => write!(f, "dn:{t}"),
                None => write!(f, "dn:<{} bytes DER>", self.data.len()),
            },
            id_type::NULL => write!(f, "null"),
            id_type::KEY_ID => {
                write!(f, "keyid:")?;
                for b in &self.data {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
            t => write!(f, "id-type-{t}:<{} bytes>", self.data.len()),
        }
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_types() {
        assert_eq!(Identity::parse("a.example").unwrap().id_type, id_type::FQDN);
        assert_eq!(Identity::parse("192.0.2.1").unwrap().id_type, id_type::IPV4_ADDR);
        assert_eq!(Identity::parse("2001:db8::1").unwrap().id_type, id_type::IPV6_ADDR);
        assert_eq!(Identity::parse("me@a.example").unwrap().id_type, id_type::RFC822_ADDR);
        assert_eq!(Identity::parse("null").unwrap().id_type, id_type::NULL);
        let dn = Identity::parse("CN=a.example, O=esprit").unwrap();
        assert_eq!(dn.id_type, id_type::DER_ASN1_DN);
        assert_eq!(dn.to_string(), "dn:CN=a.example, O=esprit");
        assert!(Identity::parse("ip:nope").is_err());
        assert!(Identity::parse("").is_err());
    }
}

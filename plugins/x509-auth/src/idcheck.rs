//! Does the peer's certificate belong to its IKE ID (RFC 7296 §3.5,
//! RFC 4945 §3.1)? FQDN → SAN dNSName, RFC822 → SAN rfc822Name, IP → SAN
//! iPAddress, DER_ASN1_DN → the subject DN.
use core::net::IpAddr;

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

use crate::name::subject;
use crate::ids::{parse_dn_der, Id};

fn san_text(g: &GeneralName<'_>) -> Option<String> {
    match g {
        GeneralName::DNSName(d) => Some(format!("DNS:{d}")),
        GeneralName::RFC822Name(e) => Some(format!("email:{e}")),
        GeneralName::IPAddress(b) => san_ip(b).map(|ip| format!("IP:{ip}")),
        GeneralName::URI(u) => Some(format!("URI:{u}")),
        _ => None,
    }
}

fn san_ip(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
        _ => None,
    }
}

/// Check `peer_id` against `cert` (the `san-or-dn` rule).
pub fn check(cert: &X509Certificate<'_>, peer_id: &Id) -> Result<(), String> {
    let sans = crate::ext::sans(cert)?;
    let found = match peer_id {
        Id::Fqdn(name) => sans.iter().any(|g| matches!(g, GeneralName::DNSName(d) if d.eq_ignore_ascii_case(name))),
        Id::Email(addr) => sans.iter().any(|g| matches!(g, GeneralName::RFC822Name(e) if e.eq_ignore_ascii_case(addr))),
        Id::Ip(ip) => sans.iter().any(|g| matches!(g, GeneralName::IPAddress(b) if san_ip(b) == Some(*ip))),
        Id::Dn(_) => {
            let subj = parse_dn_der(cert.subject().as_raw()).map(Id::Dn);
            if subj.as_ref().is_some_and(|s| peer_id.matches(s)) {
                return Ok(());
            }
            return Err(format!("peer certificate subject {} does not match IKE ID {peer_id}", subject(cert)));
        }
        Id::Null => return Err("peer sent ID_NULL with certificate authentication; ID_NULL goes with NULL authentication (RFC 7619)".into()),
        Id::Key(_) | Id::Any => {
            return Err(format!(
                "IKE ID {peer_id} cannot be checked against a certificate; use an FQDN, email, IP or DN identity (or remote_id_check = \"none\")"
            ))
        }
    };
    if found {
        return Ok(());
    }
    let list: Vec<String> = sans.iter().filter_map(san_text).collect();
    let list = if list.is_empty() { "none".to_string() } else { list.join(", ") };
    Err(format!("peer certificate {} has no SAN matching IKE ID {peer_id} (SANs: {list})", subject(cert)))
}

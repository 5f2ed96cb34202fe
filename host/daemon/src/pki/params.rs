//! Certificate contents shared by `ca`, `sign` and `issue`: names, subject
//! alternative names, validity and serial numbers (RFC 5280 §4.1, §4.2).

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue, ExtendedKeyUsagePurpose, IsCa,
    KeyUsagePurpose, SanType, SerialNumber,
};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use super::error::PkiError;

/// How long a certificate is valid. `--days 0` or a `--valid-until` in the
/// past make certificates that are already expired (for tests).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ValidityArgs {
    /// Days of validity counted from --valid-from; 0 makes a certificate that has already expired.
    #[arg(long, value_name = "N")]
    pub days: Option<u32>,
    /// Start of validity, RFC 3339 (e.g. 2026-01-01T00:00:00Z). Default: 10 minutes ago (clock skew).
    #[arg(long, alias = "not-before", value_name = "RFC3339", value_parser = parse_time)]
    pub valid_from: Option<OffsetDateTime>,
    /// End of validity, RFC 3339, instead of --days.
    #[arg(long, alias = "not-after", value_name = "RFC3339", value_parser = parse_time, conflicts_with = "days")]
    pub valid_until: Option<OffsetDateTime>,
}

impl ValidityArgs {
    /// `(not_before, not_after)`, whole seconds (X.509 times have no fractions).
    pub fn resolve(&self, default_days: u32) -> Result<(OffsetDateTime, OffsetDateTime), PkiError> {
        let now = OffsetDateTime::now_utc();
        let from = self.valid_from.unwrap_or(now - Duration::minutes(10));
        let until = match self.valid_until {
            Some(t) => t,
            None => from + Duration::days(i64::from(self.days.unwrap_or(default_days))),
        };
        let (from, until) = (whole_seconds(from), whole_seconds(until));
        if until < from {
            return Err(PkiError::Usage(format!(
                "--valid-until {} is before --valid-from {}: expected the end of validity after its start",
                rfc3339(until),
                rfc3339(from)
            )));
        }
        Ok((from, until))
    }
}

fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_nanosecond(0).unwrap_or(t)
}

/// Parses an RFC 3339 time such as `2026-01-01T00:00:00Z`.
pub fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|e| format!("expected an RFC 3339 time like 2026-01-01T00:00:00Z, found {s:?} ({e})"))
}

/// Formats a time as RFC 3339 (UTC).
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC).format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// Parses `--san`: `DNS:name`, `IP:addr`, `email:user@host`, or a bare value
/// whose type is guessed (an address is IP, with `@` email, else DNS), the
/// same guess the `local_id` config makes.
pub fn parse_san(s: &str) -> Result<SanType, PkiError> {
    let (kind, value) = match s.split_once(':') {
        Some((k, v)) if ["dns", "ip", "email"].contains(&k.to_ascii_lowercase().as_str()) => {
            (k.to_ascii_lowercase(), v)
        }
        _ if s.parse::<IpAddr>().is_ok() => ("ip".to_string(), s),
        _ if s.contains('@') => ("email".to_string(), s),
        _ => ("dns".to_string(), s),
    };
    let bad = |what: &str| PkiError::Usage(format!("--san {s:?}: expected {what}"));
    match kind.as_str() {
        "ip" => value.parse::<IpAddr>().map(SanType::IpAddress).map_err(|_| bad("an IPv4 or IPv6 address after IP:")),
        "email" if value.contains('@') => {
            value.try_into().map(SanType::Rfc822Name).map_err(|_| bad("an ASCII e-mail address"))
        }
        "email" => Err(bad("an e-mail address like user@example.org after email:")),
        _ if value.is_empty() || value.contains(char::is_whitespace) => {
            Err(bad("a DNS name like host.example (no spaces)"))
        }
        _ => value.try_into().map(SanType::DnsName).map_err(|_| bad("an ASCII DNS name (IDNs as xn--)")),
    }
}

/// A SAN for a certificate that has none: the CN, as IP or DNS name.
pub fn san_from_cn(cn: &str) -> Option<SanType> {
    if let Ok(ip) = cn.parse::<IpAddr>() {
        return Some(SanType::IpAddress(ip));
    }
    if cn.is_empty() || cn.contains(char::is_whitespace) || cn.contains('@') {
        return None;
    }
    cn.try_into().ok().map(SanType::DnsName)
}

/// The common name of a distinguished name, if it has a string one.
pub fn common_name(dn: &DistinguishedName) -> Option<String> {
    match dn.get(&DnType::CommonName)? {
        DnValue::Utf8String(s) => Some(s.clone()),
        DnValue::PrintableString(s) => Some(s.as_str().to_string()),
        DnValue::Ia5String(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

/// A DN with only `CN=cn`.
pub fn cn_name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

/// A random positive 16-byte serial number (RFC 5280 §4.1.2.2: at most 20
/// octets, unique per CA).
pub fn random_serial() -> SerialNumber {
    let mut b: [u8; 16] = rand::random();
    b[0] = (b[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&b)
}

/// Parameters of a CA certificate: `CN=cn`, basicConstraints CA with path
/// length 0 (it signs host certificates only), keyCertSign + cRLSign.
pub fn ca_params(cn: &str, validity: (OffsetDateTime, OffsetDateTime)) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = cn_name(cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    p.serial_number = Some(random_serial());
    (p.not_before, p.not_after) = validity;
    p
}

/// Makes `p` a host (end-entity) certificate: not a CA, digitalSignature,
/// optionally serverAuth + clientAuth, a SAN (the CN if none was asked for),
/// the CA's key identifier, a fresh serial and the validity.
pub fn make_host_params(
    p: &mut CertificateParams,
    validity: (OffsetDateTime, OffsetDateTime),
    eku: bool,
) -> Result<(), PkiError> {
    if p.subject_alt_names.is_empty() {
        let cn = common_name(&p.distinguished_name).unwrap_or_default();
        match san_from_cn(&cn) {
            Some(san) => p.subject_alt_names.push(san),
            None => {
                return Err(PkiError::Usage(format!(
                    "no subjectAltName, and the CN {cn:?} is not a host name or address to use as one: \
                     expected --san DNS:host.example or --san IP:192.0.2.1"
                )))
            }
        }
    }
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages =
        if eku { vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth] } else { Vec::new() };
    p.name_constraints = None;
    p.use_authority_key_identifier_extension = true;
    p.serial_number = Some(random_serial());
    (p.not_before, p.not_after) = validity;
    Ok(())
}

/// Host parameters from the command line (`issue`): the SANs are the CN (as
/// a DNS name or address, when it is one) followed by each `--san`, so an
/// FQDN identity matching the CN always matches a SAN (RFC 7296 §3.5 IDs
/// are checked against SANs by strongSwan and esprit alike).
pub fn host_params(
    cn: &str,
    sans: &[String],
    validity: (OffsetDateTime, OffsetDateTime),
    eku: bool,
) -> Result<CertificateParams, PkiError> {
    let mut p = CertificateParams::default();
    p.distinguished_name = cn_name(cn);
    p.subject_alt_names.extend(san_from_cn(cn));
    for s in sans {
        let san = parse_san(s)?;
        if !p.subject_alt_names.contains(&san) {
            p.subject_alt_names.push(san);
        }
    }
    make_host_params(&mut p, validity, eku)?;
    Ok(p)
}

/// The host a key (and request or certificate) is made for: shared by
/// `esprit pki newreq` and `esprit pki issue`.
#[derive(Debug, clap::Args)]
pub struct HostArgs {
    /// Host name (subject CN), also the file name stem: HOST_key.pem, HOST_req.pem, HOST_cert.pem.
    #[arg(long)]
    pub cn: String,
    /// More subjectAltNames, repeatable: DNS:name, IP:addr, email:user@host, or a bare value.
    /// The CN is always the first SAN (as DNS name or IP address).
    #[arg(long, value_name = "SAN")]
    pub san: Vec<String>,
    /// Key algorithm.
    #[arg(long, value_enum, default_value = "ecdsa-p256")]
    pub key_type: super::key_type::KeyType,
    /// Folder for the host's files (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: std::path::PathBuf,
    /// File name stem instead of the CN.
    #[arg(long)]
    pub name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn san_kinds_are_guessed_like_ids() {
        assert!(matches!(parse_san("192.0.2.1").unwrap(), SanType::IpAddress(_)));
        assert!(matches!(parse_san("2001:db8::1").unwrap(), SanType::IpAddress(_)));
        assert!(matches!(parse_san("IP:2001:db8::1").unwrap(), SanType::IpAddress(_)));
        assert!(matches!(parse_san("a@b.example").unwrap(), SanType::Rfc822Name(_)));
        assert!(matches!(parse_san("dns:a.example").unwrap(), SanType::DnsName(_)));
        assert!(matches!(parse_san("a.example").unwrap(), SanType::DnsName(_)));
        assert!(parse_san("IP:a.example").unwrap_err().to_string().contains("expected an IPv4 or IPv6 address"));
        assert!(parse_san("bad name").is_err());
    }

    #[test]
    fn validity_defaults_and_expired() {
        let v = ValidityArgs::default();
        let (from, until) = v.resolve(30).unwrap();
        assert_eq!(until - from, Duration::days(30));
        let v = ValidityArgs { days: Some(0), ..Default::default() };
        let (_, until) = v.resolve(30).unwrap();
        assert!(until < OffsetDateTime::now_utc());
        let v = ValidityArgs {
            valid_from: Some(parse_time("2021-01-01T00:00:00Z").unwrap()),
            valid_until: Some(parse_time("2020-01-01T00:00:00Z").unwrap()),
            ..Default::default()
        };
        assert!(v.resolve(1).unwrap_err().to_string().contains("is before --valid-from"));
        assert!(parse_time("yesterday").unwrap_err().contains("RFC 3339"));
    }
}

//! Certificate path validation (RFC 5280 §6, the parts IKE needs): from the
//! peer's end-entity certificate through intermediates it sent to one of
//! the configured CAs; signatures (host `crypto.verify`), validity against
//! the host clock, basicConstraints cA and keyUsage on issuers.
use x509_parser::certificate::X509Certificate;
use x509_parser::pem::Pem;

use crate::algid::{alg_from_parts, KeyType};
use crate::ext::{check_critical, is_ca, key_usage};
use crate::esprit::plugin::crypto::verify;
use crate::name::{name_text, subject};

/// Longest accepted chain (end entity + intermediates).
const MAX_DEPTH: usize = 8;

/// Parse a DER certificate; `what` names it in errors.
pub fn parse_der<'a>(der: &'a [u8], what: &str) -> Result<X509Certificate<'a>, String> {
    crate::ext::parse(der).map_err(|e| format!("{what}: {e}"))
}

/// The DER contents of every `CERTIFICATE` block of PEM text.
pub fn pem_certs(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for block in Pem::iter_from_buffer(text.as_bytes()) {
        let pem = block.map_err(|e| format!("`ca`: bad PEM ({e})"))?;
        if pem.label == "CERTIFICATE" {
            out.push(pem.contents);
        }
    }
    if out.is_empty() {
        return Err("`ca` holds no -----BEGIN CERTIFICATE----- block".into());
    }
    Ok(out)
}

/// RFC 3339 UTC text of Unix seconds, e.g. `2026-01-01T00:00:00Z`.
pub fn utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Is `c` inside its validity period at `now` (Unix seconds)?
fn check_validity(c: &X509Certificate<'_>, now: i64) -> Result<(), String> {
    let v = c.validity();
    if now < v.not_before.timestamp() {
        return Err(format!("certificate {} is not valid before {}", subject(c), utc(v.not_before.timestamp())));
    }
    if now > v.not_after.timestamp() {
        return Err(format!("certificate {} expired {}", subject(c), utc(v.not_after.timestamp())));
    }
    Ok(())
}

/// Issuers must be CAs (basicConstraints cA) and, with keyUsage, may sign
/// certificates.
fn check_issuer(ca: &X509Certificate<'_>) -> Result<(), String> {
    check_critical(ca)?;
    if !is_ca(ca) {
        return Err(format!("certificate {} issued another certificate but is not a CA (basicConstraints cA is not set)", subject(ca)));
    }
    if let Some(ku) = key_usage(ca)? {
        if !ku.key_cert_sign() {
            return Err(format!("CA certificate {} may not sign certificates (keyUsage lacks keyCertSign)", subject(ca)));
        }
    }
    Ok(())
}

/// Did `issuer` sign `c`?
fn signed_by(c: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> Result<bool, String> {
    let spki = issuer.public_key().raw;
    let sa = &c.signature_algorithm;
    let params = sa.parameters.as_ref().map(|p| p.data).unwrap_or_default();
    let alg = alg_from_parts(&sa.algorithm.to_id_string(), params).map_err(|e| format!("certificate {}: {e}", subject(c)))?;
    let scheme = alg.scheme(KeyType::of_spki(spki)).map_err(|e| format!("certificate {}: {e}", subject(c)))?;
    Ok(verify(scheme, spki, c.tbs_certificate.as_ref(), &c.signature_value.data))
}

/// Validate the peer's chain (`peer[0]` end entity, `peer[1..]`
/// intermediates) to one of `trusted` at `now`. Returns nothing: an error
/// says, readably, what is wrong.
pub fn validate(peer: &[X509Certificate<'_>], trusted: &[X509Certificate<'_>], now: i64) -> Result<(), String> {
    let ee = peer.first().ok_or("peer sent no certificate (CERT payload); certificate authentication needs its end-entity certificate")?;
    check_validity(ee, now)?;
    check_critical(ee)?;
    if let Some(ku) = key_usage(ee)? {
        if !ku.digital_signature() {
            return Err(format!("peer certificate {} may not sign (keyUsage lacks digitalSignature)", subject(ee)));
        }
    }
    let mut cur = ee;
    for _ in 0..MAX_DEPTH {
        let issuer_raw = cur.issuer().as_raw();
        // A configured CA? (Several may share a name, e.g. across a CA re-key.)
        let mut named = trusted.iter().filter(|ca| ca.subject().as_raw() == issuer_raw).peekable();
        if named.peek().is_some() {
            for ca in named {
                if signed_by(cur, ca)? {
                    check_validity(ca, now)?;
                    check_issuer(ca)?;
                    return Ok(());
                }
            }
            return Err(format!(
                "certificate {} names issuer {} but its signature does not verify with that trusted CA's key",
                subject(cur),
                name_text(issuer_raw)
            ));
        }
        // An intermediate the peer sent?
        let next = peer[1..].iter().find(|i| i.subject().as_raw() == issuer_raw && !std::ptr::eq(*i, cur));
        match next {
            Some(i) if signed_by(cur, i)? => {
                check_validity(i, now)?;
                check_issuer(i)?;
                cur = i;
            }
            Some(i) => {
                return Err(format!(
                    "certificate {} names issuer {} but its signature does not verify with the key of the intermediate the peer sent",
                    subject(cur),
                    subject(i)
                ))
            }
            None => {
                let names: Vec<String> = trusted.iter().map(|c| subject(c)).collect();
                return Err(format!(
                    "certificate {} was not issued by a trusted CA (issuer {}; trusted: {})",
                    subject(cur),
                    name_text(issuer_raw),
                    names.join("; ")
                ));
            }
        }
    }
    Err(format!("certificate chain of {} is longer than {MAX_DEPTH}", subject(ee)))
}

//! The x509-auth plugin's certificate checks (`plugins/x509-auth`, built
//! natively by `x509-auth-native`): DER parsing, chain validation up to a
//! trusted CA (validity, basicConstraints, keyUsage, critical extensions),
//! the IKE ID against SAN / subject DN, the PEM `ca` config, RFC 7427
//! AlgorithmIdentifiers and DN text of the plugin's identities. Signatures
//! are stubbed to verify (see `x509_auth_native`).
//!
//! Input: byte 0 = how many of the certificates are trusted CAs (low 2
//! bits); then `LEN_HI LEN_LO DER...` certificates, the first ones the CAs,
//! then the peer's chain (end entity first). The last chunk also stands for
//! the peer's ID, as config text and as a DER DN; the whole input for the
//! PEM `ca` text and the AUTH payload data.
use x509_auth_native::ids::{dn_text, parse_dn_der, Id};
use x509_auth_native::{algid, chain, idcheck, Identity};

/// 2023-11-14, inside the seed certificates' validity.
const NOW: i64 = 1_700_000_000;

pub fn run(data: &[u8]) {
    let Some((&ctl, rest)) = data.split_first() else { return };
    let chunks = crate::netstack::packets(rest);
    let certs: Vec<_> = chunks.iter().filter_map(|c| chain::parse_der(c, "certificate").ok()).collect();
    let k = usize::from(ctl & 3).min(certs.len());
    let (trusted, peer) = certs.split_at(k);
    let _ = chain::validate(peer, trusted, NOW);
    if let (Some(ee), Some(last)) = (peer.first(), chunks.last()) {
        let mut ids = vec![Id::from_identity(&Identity::DerAsn1Dn(last.to_vec())), Id::Fqdn("gw.example".into())];
        if let Ok(id) = std::str::from_utf8(last).map_err(|e| e.to_string()).and_then(Id::from_config) {
            ids.push(id);
        }
        for id in &ids {
            let _ = idcheck::check(ee, id);
            let _ = id.to_string();
        }
    }
    if let Some(dn) = parse_dn_der(rest) {
        let _ = dn_text(&dn);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = chain::pem_certs(text);
        let _ = Id::from_config(text);
    }
    if let Ok((alg, _sig)) = algid::parse_auth_data(rest) {
        let _ = alg.name();
    }
}

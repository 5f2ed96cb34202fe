//! Proposals in strongSwan's syntax (`aes128gcm16-prfsha256-x25519`,
//! `aes256-sha256-modp2048`, `chacha20poly1305-esn`) and the negotiation of
//! one proposal (RFC 7296 §2.7, §3.3.6).
use esprit_crypto::prf::PrfAlg;
use esprit_crypto::{AeadAlg, CipherAlg, IntegAlg};

use crate::message::sa::{Proposal, Transform};
use crate::types::{transform_id as id, transform_type as tt, ProtocolId};

/// Why a proposal text (strongSwan syntax) was refused; `Display` is the
/// text operators see, naming the proposal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalError {
    #[error("proposal {text:?}: unknown algorithm {name:?} (known: aes128gcm16 aes256gcm16 chacha20poly1305 aes128 aes256 sha256 sha384 sha512 prfsha256 prfsha384 prfsha512 x25519 ecp256 modp2048 esn noesn)")]
    UnknownAlgorithm { text: String, name: String },
    #[error("proposal {text:?}: no encryption algorithm")]
    NoEncryption { text: String },
    #[error("proposal {text:?}: AH takes integrity algorithms only (e.g. sha256)")]
    AhIntegrityOnly { text: String },
    #[error("proposal {text:?}: mixes AEAD and non-AEAD ciphers; split it into two proposals")]
    MixedAead { text: String },
    #[error("proposal {text:?}: {cipher} needs an integrity algorithm (e.g. -sha256)")]
    NoIntegrity { text: String, cipher: String },
    #[error("proposal {text:?}: AEAD ciphers take no integrity algorithm")]
    AeadWithIntegrity { text: String },
    /// RFC 7296 §3.3.3: IKE proposals need a Diffie-Hellman group.
    #[error("proposal {text:?}: IKE needs a key exchange group (x25519, ecp256, modp2048)")]
    NoKeyExchange { text: String },
    /// RFC 7296 §3.3.3: IKE proposals need a PRF.
    #[error("proposal {text:?}: IKE needs a PRF (e.g. prfsha256)")]
    NoPrf { text: String },
}

/// An encryption transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encr {
    AesGcm16 { bits: u16 },
    ChaCha20Poly1305,
    AesCbc { bits: u16 },
}

impl Encr {
    pub fn transform(self) -> Transform {
        match self {
            Encr::AesGcm16 { bits } => Transform { ttype: tt::ENCR, id: id::ENCR_AES_GCM_16, key_len: Some(bits) },
            Encr::ChaCha20Poly1305 => Transform { ttype: tt::ENCR, id: id::ENCR_CHACHA20_POLY1305, key_len: None },
            Encr::AesCbc { bits } => Transform { ttype: tt::ENCR, id: id::ENCR_AES_CBC, key_len: Some(bits) },
        }
    }
    fn from_transform(t: Transform) -> Option<Encr> {
        match (t.id, t.key_len) {
            (id::ENCR_AES_GCM_16, Some(b @ (128 | 256))) => Some(Encr::AesGcm16 { bits: b }),
            (id::ENCR_CHACHA20_POLY1305, None) => Some(Encr::ChaCha20Poly1305),
            (id::ENCR_AES_CBC, Some(b @ (128 | 256))) => Some(Encr::AesCbc { bits: b }),
            _ => None,
        }
    }
    pub fn is_aead(self) -> bool {
        !matches!(self, Encr::AesCbc { .. })
    }
    /// Key bytes including the 4-byte salt of AEADs (RFC 5282 §7.1, RFC 7634 §2).
    pub fn key_material_len(self) -> usize {
        match self {
            Encr::AesGcm16 { bits } => bits as usize / 8 + 4,
            Encr::ChaCha20Poly1305 => 36,
            Encr::AesCbc { bits } => bits as usize / 8,
        }
    }
    pub fn aead(self) -> Option<AeadAlg> {
        match self {
            Encr::AesGcm16 { bits: 128 } => Some(AeadAlg::Aes128Gcm16),
            Encr::AesGcm16 { .. } => Some(AeadAlg::Aes256Gcm16),
            Encr::ChaCha20Poly1305 => Some(AeadAlg::ChaCha20Poly1305),
            Encr::AesCbc { .. } => None,
        }
    }
    pub fn cipher(self) -> Option<CipherAlg> {
        match self {
            Encr::AesCbc { bits: 128 } => Some(CipherAlg::Aes128Cbc),
            Encr::AesCbc { .. } => Some(CipherAlg::Aes256Cbc),
            _ => None,
        }
    }
    pub fn name(self) -> String {
        match self {
            Encr::AesGcm16 { bits } => format!("aes{bits}gcm16"),
            Encr::ChaCha20Poly1305 => "chacha20poly1305".into(),
            Encr::AesCbc { bits } => format!("aes{bits}"),
        }
    }
}

fn prf_transform(p: PrfAlg) -> Transform {
    let i = match p {
        PrfAlg::HmacSha256 => id::PRF_HMAC_SHA2_256,
        PrfAlg::HmacSha384 => id::PRF_HMAC_SHA2_384,
        PrfAlg::HmacSha512 => id::PRF_HMAC_SHA2_512,
    };
    Transform { ttype: tt::PRF, id: i, key_len: None }
}

fn prf_from(i: u16) -> Option<PrfAlg> {
    match i {
        id::PRF_HMAC_SHA2_256 => Some(PrfAlg::HmacSha256),
        id::PRF_HMAC_SHA2_384 => Some(PrfAlg::HmacSha384),
        id::PRF_HMAC_SHA2_512 => Some(PrfAlg::HmacSha512),
        _ => None,
    }
}

fn integ_transform(a: IntegAlg) -> Transform {
    let i = match a {
        IntegAlg::HmacSha256_128 => id::AUTH_HMAC_SHA2_256_128,
        IntegAlg::HmacSha384_192 => id::AUTH_HMAC_SHA2_384_192,
        IntegAlg::HmacSha512_256 => id::AUTH_HMAC_SHA2_512_256,
    };
    Transform { ttype: tt::INTEG, id: i, key_len: None }
}

fn integ_from(i: u16) -> Option<IntegAlg> {
    match i {
        id::AUTH_HMAC_SHA2_256_128 => Some(IntegAlg::HmacSha256_128),
        id::AUTH_HMAC_SHA2_384_192 => Some(IntegAlg::HmacSha384_192),
        id::AUTH_HMAC_SHA2_512_256 => Some(IntegAlg::HmacSha512_256),
        _ => None,
    }
}

pub fn group_name(g: u16) -> &'static str {
    match g {
        id::CURVE25519 => "x25519",
        id::ECP_256 => "ecp256",
        id::MODP_2048 => "modp2048",
        _ => "unknown-group",
    }
}

/// One configured proposal: each list is the acceptable set, in preference order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalSpec {
    pub protocol: ProtocolId,
    pub encr: Vec<Encr>,
    pub prf: Vec<PrfAlg>,
    pub integ: Vec<IntegAlg>,
    pub dh: Vec<u16>,
    pub esn: Vec<bool>,
    pub text: String,
}

/// The algorithms of an IKE SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IkeAlgs {
    pub encr: Encr,
    pub prf: PrfAlg,
    pub integ: Option<IntegAlg>,
    pub dh: u16,
}

impl IkeAlgs {
    pub fn name(&self) -> String {
        let mut s = self.encr.name();
        if let Some(i) = self.integ {
            s += "-";
            s += i.name();
        }
        format!("{s}-{}-{}", self.prf.name(), group_name(self.dh))
    }
}

/// The algorithms of a CHILD_SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildAlgs {
    pub protocol: ProtocolId,
    pub encr: Option<Encr>,
    pub integ: Option<IntegAlg>,
    pub dh: Option<u16>,
    pub esn: bool,
}

impl ChildAlgs {
    pub fn name(&self) -> String {
        let mut parts = Vec::new();
        if let Some(e) = self.encr {
            parts.push(e.name());
        }
        if let Some(i) = self.integ {
            parts.push(i.name().to_string());
        }
        if let Some(d) = self.dh {
            parts.push(group_name(d).to_string());
        }
        if self.esn {
            parts.push("esn".into());
        }
        parts.join("-")
    }
}

impl ProposalSpec {
    /// Parses strongSwan proposal syntax for `protocol`.
    pub fn parse(text: &str, protocol: ProtocolId) -> Result<ProposalSpec, ProposalError> {
        let t = || text.to_string();
        let mut p = ProposalSpec { protocol, encr: vec![], prf: vec![], integ: vec![], dh: vec![], esn: vec![], text: text.to_string() };
        for tok in text.split('-') {
            match tok {
                "aes128gcm16" | "aes128gcm" => p.encr.push(Encr::AesGcm16 { bits: 128 }),
                "aes256gcm16" | "aes256gcm" => p.encr.push(Encr::AesGcm16 { bits: 256 }),
                "chacha20poly1305" => p.encr.push(Encr::ChaCha20Poly1305),
                "aes128" | "aes" => p.encr.push(Encr::AesCbc { bits: 128 }),
                "aes256" => p.encr.push(Encr::AesCbc { bits: 256 }),
                "sha256" | "sha2_256" => p.integ.push(IntegAlg::HmacSha256_128),
                "sha384" | "sha2_384" => p.integ.push(IntegAlg::HmacSha384_192),
                "sha512" | "sha2_512" => p.integ.push(IntegAlg::HmacSha512_256),
                "prfsha256" => p.prf.push(PrfAlg::HmacSha256),
                "prfsha384" => p.prf.push(PrfAlg::HmacSha384),
                "prfsha512" => p.prf.push(PrfAlg::HmacSha512),
                "x25519" | "curve25519" => p.dh.push(id::CURVE25519),
                "ecp256" => p.dh.push(id::ECP_256),
                "modp2048" => p.dh.push(id::MODP_2048),
                "esn" => p.esn.push(true),
                "noesn" => p.esn.push(false),
                other => return Err(ProposalError::UnknownAlgorithm { text: t(), name: other.to_string() }),
            }
        }
        if protocol != ProtocolId::Ah && p.encr.is_empty() {
            return Err(ProposalError::NoEncryption { text: t() });
        }
        if protocol == ProtocolId::Ah && (!p.encr.is_empty() || p.integ.is_empty()) {
            return Err(ProposalError::AhIntegrityOnly { text: t() });
        }
        let aead = p.encr.iter().all(|e| e.is_aead());
        let cbc = p.encr.iter().all(|e| !e.is_aead());
        if !(aead || cbc) {
            return Err(ProposalError::MixedAead { text: t() });
        }
        if protocol != ProtocolId::Ah && !p.encr.is_empty() && cbc && p.integ.is_empty() {
            return Err(ProposalError::NoIntegrity { text: t(), cipher: p.encr[0].name() });
        }
        // `aead` is vacuously true for AH (no ciphers at all): without the
        // `encr` check every AH proposal ("sha256") was refused as an AEAD
        // with an integrity algorithm, so `protocol = "ah"` never started.
        if aead && !p.encr.is_empty() && !p.integ.is_empty() && protocol != ProtocolId::Ike {
            return Err(ProposalError::AeadWithIntegrity { text: t() });
        }
        if protocol == ProtocolId::Ike {
            if p.dh.is_empty() {
                return Err(ProposalError::NoKeyExchange { text: t() });
            }
            if p.prf.is_empty() {
                // strongSwan derives the PRF from the integrity algorithm.
                p.prf = p
                    .integ
                    .iter()
                    .map(|i| match i {
                        IntegAlg::HmacSha256_128 => PrfAlg::HmacSha256,
                        IntegAlg::HmacSha384_192 => PrfAlg::HmacSha384,
                        IntegAlg::HmacSha512_256 => PrfAlg::HmacSha512,
                    })
                    .collect();
                if p.prf.is_empty() {
                    return Err(ProposalError::NoPrf { text: t() });
                }
            }
            if aead {
                p.integ.clear();
            }
        } else if p.esn.is_empty() {
            p.esn.push(false);
        }
        Ok(p)
    }

    /// The on-wire proposal (number `num`, SPI `spi`); `dh_first` moves
    /// that group to the front (the group our KE payload uses).
    pub fn to_proposal(&self, num: u8, spi: Vec<u8>, with_dh: bool) -> Proposal {
        let mut t = Vec::new();
        t.extend(self.encr.iter().map(|e| e.transform()));
        t.extend(self.prf.iter().map(|p| prf_transform(*p)));
        t.extend(self.integ.iter().map(|i| integ_transform(*i)));
        if with_dh {
            t.extend(self.dh.iter().map(|g| Transform { ttype: tt::DH, id: *g, key_len: None }));
        }
        if self.protocol != ProtocolId::Ike {
            t.extend(self.esn.iter().map(|e| Transform { ttype: tt::ESN, id: if *e { id::ESN } else { id::NO_ESN }, key_len: None }));
        }
        Proposal { num, protocol: self.protocol, spi, transforms: t }
    }

    /// Does the peer's proposal contain an acceptable choice for every type?
    /// Returns the chosen single-transform proposal.
    pub fn select(&self, peer: &Proposal, want_dh: bool) -> Option<Proposal> {
        if peer.protocol != self.protocol {
            return None;
        }
        let mut chosen = Vec::new();
        // ENCR
        if self.protocol != ProtocolId::Ah {
            let e = peer.transforms.iter().filter(|t| t.ttype == tt::ENCR).find(|t| Encr::from_transform(**t).map(|e| self.encr.contains(&e)).unwrap_or(false))?;
            chosen.push(*e);
        }
        if self.protocol == ProtocolId::Ike {
            let p = peer.transforms.iter().filter(|t| t.ttype == tt::PRF).find(|t| prf_from(t.id).map(|p| self.prf.contains(&p)).unwrap_or(false))?;
            chosen.push(*p);
        }
        let peer_integ: Vec<_> = peer.transforms.iter().filter(|t| t.ttype == tt::INTEG && t.id != 0).collect();
        if self.integ.is_empty() {
            if !peer_integ.is_empty() {
                return None;
            }
        } else {
            let i = peer_integ.into_iter().find(|t| integ_from(t.id).map(|i| self.integ.contains(&i)).unwrap_or(false))?;
            chosen.push(*i);
        }
        let peer_dh: Vec<_> = peer.transforms.iter().filter(|t| t.ttype == tt::DH && t.id != 0).collect();
        if want_dh && !self.dh.is_empty() {
            let d = peer_dh.into_iter().find(|t| self.dh.contains(&t.id))?;
            chosen.push(*d);
        } else if want_dh && !peer_dh.is_empty() && self.protocol != ProtocolId::Ike {
            // The peer wants PFS and we have none configured.
            return None;
        } else if !peer_dh.is_empty() && !self.dh.is_empty() && self.protocol != ProtocolId::Ike {
            let d = peer_dh.into_iter().find(|t| self.dh.contains(&t.id))?;
            chosen.push(*d);
        }
        if self.protocol != ProtocolId::Ike {
            let peer_esn: Vec<_> = peer.transforms.iter().filter(|t| t.ttype == tt::ESN).collect();
            let e = if peer_esn.is_empty() {
                // No ESN transform = no ESN.
                if !self.esn.contains(&false) {
                    return None;
                }
                Transform { ttype: tt::ESN, id: id::NO_ESN, key_len: None }
            } else {
                *peer_esn.into_iter().find(|t| self.esn.contains(&(t.id == id::ESN)))?
            };
            chosen.push(e);
        }
        Some(Proposal { num: peer.num, protocol: peer.protocol, spi: peer.spi.clone(), transforms: chosen })
    }
}

/// Reads the algorithms of an accepted single-transform IKE proposal.
pub fn ike_algs(p: &Proposal) -> Option<IkeAlgs> {
    let encr = Encr::from_transform(p.get(tt::ENCR)?)?;
    let prf = prf_from(p.get(tt::PRF)?.id)?;
    let integ = match p.get(tt::INTEG) {
        Some(t) if t.id != 0 => Some(integ_from(t.id)?),
        _ => None,
    };
    if encr.is_aead() == integ.is_some() {
        return None;
    }
    let dh = p.get(tt::DH)?.id;
    Some(IkeAlgs { encr, prf, integ, dh })
}

/// Reads the algorithms of an accepted single-transform CHILD proposal.
pub fn child_algs(p: &Proposal) -> Option<ChildAlgs> {
    let encr = match p.get(tt::ENCR) {
        Some(t) => Some(Encr::from_transform(t)?),
        None => None,
    };
    let integ = match p.get(tt::INTEG) {
        Some(t) if t.id != 0 => Some(integ_from(t.id)?),
        _ => None,
    };
    match (p.protocol, encr) {
        (ProtocolId::Esp, Some(e)) if e.is_aead() == integ.is_some() => return None,
        (ProtocolId::Esp, None) => return None,
        (ProtocolId::Ah, _) if integ.is_none() || encr.is_some() => return None,
        _ => {}
    }
    let dh = p.get(tt::DH).map(|t| t.id).filter(|&g| g != 0);
    let esn = p.get(tt::ESN).map(|t| t.id == id::ESN).unwrap_or(false);
    Some(ChildAlgs { protocol: p.protocol, encr, integ, dh, esn })
}

/// Human-readable form of a peer's proposals, for "no proposal chosen" logs.
pub fn describe(props: &[Proposal]) -> String {
    props
        .iter()
        .map(|p| {
            p.transforms
                .iter()
                .map(|t| match t.ttype {
                    tt::ENCR => Encr::from_transform(*t).map(|e| e.name()).unwrap_or_else(|| format!("encr{}", t.id)),
                    tt::PRF => prf_from(t.id).map(|p| p.name().to_string()).unwrap_or_else(|| format!("prf{}", t.id)),
                    tt::INTEG => integ_from(t.id).map(|i| i.name().to_string()).unwrap_or_else(|| format!("integ{}", t.id)),
                    tt::DH => match t.id {
                        id::CURVE25519 | id::ECP_256 | id::MODP_2048 => group_name(t.id).to_string(),
                        0 => "nodh".into(),
                        g => format!("group{g}"),
                    },
                    tt::ESN => if t.id == id::ESN { "esn".into() } else { "noesn".into() },
                    other => format!("type{other}:{}", t.id),
                })
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_strongswan_syntax() {
        let p = ProposalSpec::parse("aes128gcm16-prfsha256-x25519", ProtocolId::Ike).unwrap();
        assert_eq!(p.encr, vec![Encr::AesGcm16 { bits: 128 }]);
        let p = ProposalSpec::parse("aes256-sha256-modp2048", ProtocolId::Ike).unwrap();
        assert_eq!(p.prf, vec![PrfAlg::HmacSha256]);
        assert_eq!(p.integ, vec![IntegAlg::HmacSha256_128]);
        assert_eq!(ProposalSpec::parse("aes256-modp2048", ProtocolId::Ike).unwrap_err(), ProposalError::NoIntegrity { text: "aes256-modp2048".into(), cipher: "aes256".into() });
        let e = ProposalSpec::parse("blowfish-sha1", ProtocolId::Esp).unwrap_err();
        assert_eq!(e, ProposalError::UnknownAlgorithm { text: "blowfish-sha1".into(), name: "blowfish".into() });
        assert!(e.to_string().starts_with("proposal \"blowfish-sha1\": unknown algorithm \"blowfish\" (known: aes128gcm16 "));
        let e = ProposalSpec::parse("aes128gcm16-esn", ProtocolId::Esp).unwrap();
        assert_eq!(e.esn, vec![true]);
        // AH: integrity only (it has no cipher, so it is not an "AEAD with integrity").
        let ah = ProposalSpec::parse("sha256", ProtocolId::Ah).unwrap();
        assert_eq!((ah.encr.len(), ah.integ.clone()), (0, vec![IntegAlg::HmacSha256_128]));
        assert!(ProposalSpec::parse("aes128gcm16", ProtocolId::Ah).is_err());
    }

    #[test]
    fn selects_common_and_refuses_disjoint() {
        let ours = ProposalSpec::parse("aes128gcm16-prfsha256-x25519", ProtocolId::Ike).unwrap();
        let theirs = ProposalSpec::parse("aes256gcm16-aes128gcm16-prfsha384-prfsha256-ecp256-x25519", ProtocolId::Ike).unwrap();
        let sel = ours.select(&theirs.to_proposal(1, vec![], true), true).unwrap();
        let algs = ike_algs(&sel).unwrap();
        assert_eq!(algs.name(), "aes128gcm16-prfsha256-x25519");
        let other = ProposalSpec::parse("aes256-sha512-modp2048", ProtocolId::Ike).unwrap();
        assert!(ours.select(&other.to_proposal(1, vec![], true), true).is_none());
        assert_eq!(describe(&[other.to_proposal(1, vec![], true)]), "aes256-prfsha512-sha512-modp2048");
    }
}

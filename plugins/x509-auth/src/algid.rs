//! RFC 7427 §3 Digital Signature authentication data: a one-octet length,
//! the signature algorithm's AlgorithmIdentifier (DER, RFC 5280 §4.1.1.2;
//! encodings as in RFC 7427 Appendix A), then the signature.
use crate::esprit::plugin::crypto::SignatureScheme;
use crate::ids::{der_tlv, oid_text};

/// sha256WithRSAEncryption (RFC 4055).
pub const RSA_PKCS1_SHA256: &str = "1.2.840.113549.1.1.11";
/// sha384WithRSAEncryption.
pub const RSA_PKCS1_SHA384: &str = "1.2.840.113549.1.1.12";
/// sha512WithRSAEncryption.
pub const RSA_PKCS1_SHA512: &str = "1.2.840.113549.1.1.13";
/// id-RSASSA-PSS (RFC 4055).
pub const RSA_PSS: &str = "1.2.840.113549.1.1.10";
/// ecdsa-with-SHA256 (RFC 5758).
pub const ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
/// ecdsa-with-SHA384.
pub const ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
/// id-Ed25519 (RFC 8410).
pub const ED25519: &str = "1.3.101.112";
/// id-sha256 (NIST).
const SHA256: &str = "2.16.840.1.101.3.4.2.1";

/// OIDs that name SHA-1 signatures, refused outright.
const SHA1_SIGS: [(&str, &str); 3] = [
    ("1.2.840.113549.1.1.5", "sha1WithRSAEncryption"),
    ("1.2.840.10045.4.1", "ecdsa-with-SHA1"),
    ("1.3.14.3.2.29", "sha1WithRSASignature"),
];

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend([0x81, n as u8]);
    } else {
        out.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(content);
    out
}

fn oid(dotted: &str) -> Vec<u8> {
    let arcs: Vec<u64> = dotted.split('.').filter_map(|a| a.parse().ok()).collect();
    let mut body = Vec::new();
    let first = arcs.first().copied().unwrap_or(0) * 40 + arcs.get(1).copied().unwrap_or(0);
    for arc in std::iter::once(first).chain(arcs.iter().skip(2).copied()) {
        let mut groups = vec![(arc & 0x7f) as u8];
        let mut v = arc >> 7;
        while v > 0 {
            groups.push((v & 0x7f) as u8 | 0x80);
            v >>= 7;
        }
        body.extend(groups.iter().rev());
    }
    der(0x06, &body)
}

fn alg_id(dotted: &str, params: Option<&[u8]>) -> Vec<u8> {
    let mut c = oid(dotted);
    if let Some(p) = params {
        c.extend_from_slice(p);
    }
    der(0x30, &c)
}

/// The AlgorithmIdentifier we send for `scheme` (RFC 7427 Appendix A).
pub fn encode(scheme: SignatureScheme) -> Vec<u8> {
    const NULL: &[u8] = &[0x05, 0x00];
    match scheme {
        SignatureScheme::RsaPkcs1Sha256 => alg_id(RSA_PKCS1_SHA256, Some(NULL)),
        SignatureScheme::RsaPkcs1Sha384 => alg_id(RSA_PKCS1_SHA384, Some(NULL)),
        SignatureScheme::RsaPkcs1Sha512 => alg_id(RSA_PKCS1_SHA512, Some(NULL)),
        SignatureScheme::EcdsaP256Sha256 => alg_id(ECDSA_SHA256, None),
        SignatureScheme::EcdsaP384Sha384 => alg_id(ECDSA_SHA384, None),
        SignatureScheme::Ed25519 => alg_id(ED25519, None),
        SignatureScheme::RsaPssSha256 => {
            // RSASSA-PSS-params: SHA-256, MGF1 with SHA-256, salt 32 (RFC 4055 §3.1).
            let sha256 = alg_id(SHA256, Some(NULL));
            let mgf1 = alg_id("1.2.840.113549.1.1.8", Some(&sha256));
            let mut p = der(0xa0, &sha256);
            p.extend(der(0xa1, &mgf1));
            p.extend(der(0xa2, &der(0x02, &[32])));
            alg_id(RSA_PSS, Some(&der(0x30, &p)))
        }
    }
}

/// Our AUTH data: length octet, AlgorithmIdentifier, signature.
pub fn auth_data(scheme: SignatureScheme, signature: &[u8]) -> Vec<u8> {
    let id = encode(scheme);
    let mut out = Vec::with_capacity(1 + id.len() + signature.len());
    out.push(id.len() as u8);
    out.extend_from_slice(&id);
    out.extend_from_slice(signature);
    out
}

/// A signature algorithm as named in an AlgorithmIdentifier, before the key
/// type is known (ECDSA's curve comes from the key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256/384/512.
    RsaPkcs1(SignatureScheme),
    /// RSASSA-PSS, SHA-256 parameters.
    RsaPssSha256,
    /// ECDSA with SHA-256.
    EcdsaSha256,
    /// ECDSA with SHA-384.
    EcdsaSha384,
    /// Ed25519.
    Ed25519,
}

impl SigAlg {
    /// Name for messages.
    pub fn name(self) -> &'static str {
        match self {
            SigAlg::RsaPkcs1(SignatureScheme::RsaPkcs1Sha384) => "sha384WithRSAEncryption",
            SigAlg::RsaPkcs1(SignatureScheme::RsaPkcs1Sha512) => "sha512WithRSAEncryption",
            SigAlg::RsaPkcs1(_) => "sha256WithRSAEncryption",
            SigAlg::RsaPssSha256 => "RSASSA-PSS with SHA-256",
            SigAlg::EcdsaSha256 => "ecdsa-with-SHA256",
            SigAlg::EcdsaSha384 => "ecdsa-with-SHA384",
            SigAlg::Ed25519 => "Ed25519",
        }
    }

    /// The host scheme for this algorithm with a key of `key` type.
    pub fn scheme(self, key: KeyType) -> Result<SignatureScheme, String> {
        match (self, key) {
            (SigAlg::RsaPkcs1(s), KeyType::Rsa) => Ok(s),
            (SigAlg::RsaPssSha256, KeyType::Rsa) => Ok(SignatureScheme::RsaPssSha256),
            (SigAlg::EcdsaSha256, KeyType::P256) => Ok(SignatureScheme::EcdsaP256Sha256),
            (SigAlg::EcdsaSha384, KeyType::P384) => Ok(SignatureScheme::EcdsaP384Sha384),
            (SigAlg::Ed25519, KeyType::Ed25519) => Ok(SignatureScheme::Ed25519),
            (alg, key) => Err(format!("signature algorithm {} with a {} key is not supported", alg.name(), key.name())),
        }
    }
}

/// Parse an AlgorithmIdentifier (DER) naming a signature algorithm.
pub fn parse_alg(der_bytes: &[u8]) -> Result<SigAlg, String> {
    let bad = || format!("malformed signature AlgorithmIdentifier ({} bytes)", der_bytes.len());
    let (tag, body, _) = der_tlv(der_bytes).ok_or_else(bad)?;
    let (otag, o, params) = der_tlv(body).ok_or_else(bad)?;
    if tag != 0x30 || otag != 0x06 {
        return Err(bad());
    }
    alg_from_parts(&oid_text(o), params)
}

/// A signature algorithm from its dotted OID and the (DER) parameter
/// bytes that follow it.
pub fn alg_from_parts(dotted: &str, params: &[u8]) -> Result<SigAlg, String> {
    if let Some((_, name)) = SHA1_SIGS.iter().find(|(id, _)| *id == dotted) {
        return Err(format!("signature algorithm {name} uses SHA-1, which is not acceptable"));
    }
    Ok(match dotted {
        RSA_PKCS1_SHA256 => SigAlg::RsaPkcs1(SignatureScheme::RsaPkcs1Sha256),
        RSA_PKCS1_SHA384 => SigAlg::RsaPkcs1(SignatureScheme::RsaPkcs1Sha384),
        RSA_PKCS1_SHA512 => SigAlg::RsaPkcs1(SignatureScheme::RsaPkcs1Sha512),
        ECDSA_SHA256 => SigAlg::EcdsaSha256,
        ECDSA_SHA384 => SigAlg::EcdsaSha384,
        ED25519 => SigAlg::Ed25519,
        RSA_PSS => {
            // Only the SHA-256 / MGF1-SHA-256 / salt-32 parameter set: the
            // SHA-256 OID twice (hash and MGF1 hash) and saltLength [2] 32.
            let sha256 = oid(SHA256);
            let has_sha256 = params.windows(sha256.len()).filter(|w| *w == sha256.as_slice()).count() == 2;
            let salt32 = params.windows(5).any(|w| w == [0xa2, 0x03, 0x02, 0x01, 0x20]);
            if !(has_sha256 && salt32) {
                return Err("RSASSA-PSS parameters other than SHA-256, MGF1 with SHA-256 and salt length 32 are not supported".into());
            }
            SigAlg::RsaPssSha256
        }
        other => return Err(format!("signature algorithm {other} is not supported")),
    })
}

/// Split RFC 7427 AUTH data into (algorithm, signature).
pub fn parse_auth_data(data: &[u8]) -> Result<(SigAlg, &[u8]), String> {
    let (&len, rest) = data.split_first().ok_or("empty AUTH data")?;
    let len = usize::from(len);
    if rest.len() < len {
        return Err(format!("AUTH data too short: ASN.1 length {len} but {} bytes follow", rest.len()));
    }
    let (id, sig) = rest.split_at(len);
    Ok((parse_alg(id)?, sig))
}

/// The type of a SubjectPublicKeyInfo's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// rsaEncryption.
    Rsa,
    /// id-ecPublicKey on P-256.
    P256,
    /// id-ecPublicKey on P-384.
    P384,
    /// id-Ed25519.
    Ed25519,
    /// Anything else.
    Other,
}

impl KeyType {
    /// Name for messages.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Rsa => "RSA",
            KeyType::P256 => "ECDSA P-256",
            KeyType::P384 => "ECDSA P-384",
            KeyType::Ed25519 => "Ed25519",
            KeyType::Other => "unsupported",
        }
    }

    /// From a DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7).
    pub fn of_spki(spki: &[u8]) -> KeyType {
        let alg = der_tlv(spki)
            .and_then(|(_, body, _)| der_tlv(body))
            .and_then(|(_, alg, _)| der_tlv(alg))
            .map(|(_, o, params)| (oid_text(o), der_tlv(params).map(|(_, p, _)| oid_text(p))));
        match alg {
            Some((a, _)) if a == "1.2.840.113549.1.1.1" => KeyType::Rsa,
            Some((a, _)) if a == ED25519 => KeyType::Ed25519,
            Some((a, Some(curve))) if a == "1.2.840.10045.2.1" => match curve.as_str() {
                "1.2.840.10045.3.1.7" => KeyType::P256,
                "1.3.132.0.34" => KeyType::P384,
                _ => KeyType::Other,
            },
            _ => KeyType::Other,
        }
    }
}

//! The Encrypted and Authenticated payload (RFC 7296 §3.14) with AES-GCM
//! (RFC 5282), ChaCha20-Poly1305 (RFC 7634) and AES-CBC + HMAC-SHA2.
use esprit_crypto::{Aead, Cipher, Integrity, Provider};
use rand::RngCore;
use zeroize::Zeroizing;

use crate::message::header::{Header, HEADER_LEN};
use crate::proposal::IkeAlgs;
use crate::types::payload_type as pt;

/// Why an SK payload could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkError {
    #[error("encrypted payload too short")]
    Truncated,
    #[error("integrity check failed")]
    BadIcv,
    #[error("bad padding")]
    BadPadding,
    #[error("cipher setup failed")]
    Setup,
}

enum Dir {
    Aead { aead: Box<dyn Aead>, salt: [u8; 4] },
    Cbc { cipher: Box<dyn Cipher>, integ: Box<dyn Integrity>, icv_len: usize },
}

/// The keyed SK transforms of one IKE SA, for our sending and receiving direction.
pub struct SkCrypto {
    out: Dir,
    inb: Dir,
}

impl std::fmt::Debug for SkCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SkCrypto(<keyed>)")
    }
}

fn dir(p: &dyn Provider, algs: &IkeAlgs, enc: &[u8], integ: &[u8]) -> Result<Dir, SkError> {
    if let Some(alg) = algs.encr.aead() {
        let k = enc.len().checked_sub(4).ok_or(SkError::Setup)?;
        let mut salt = [0u8; 4];
        salt.copy_from_slice(&enc[k..]);
        Ok(Dir::Aead { aead: p.aead(alg, &enc[..k]).map_err(|_| SkError::Setup)?, salt })
    } else {
        let c = algs.encr.cipher().ok_or(SkError::Setup)?;
        let i = algs.integ.ok_or(SkError::Setup)?;
        Ok(Dir::Cbc {
            cipher: p.cipher(c, enc).map_err(|_| SkError::Setup)?,
            integ: p.integrity(i, integ).map_err(|_| SkError::Setup)?,
            icv_len: i.icv_len(),
        })
    }
}

impl SkCrypto {
    /// `initiator`: we are the original initiator (we send with SK_ei/SK_ai).
    pub fn new(p: &dyn Provider, algs: &IkeAlgs, keys: &crate::keymat::IkeKeys, initiator: bool) -> Result<SkCrypto, SkError> {
        let (eo, ao, ei, ai) = if initiator {
            (&keys.sk_ei, &keys.sk_ai, &keys.sk_er, &keys.sk_ar)
        } else {
            (&keys.sk_er, &keys.sk_ar, &keys.sk_ei, &keys.sk_ai)
        };
        Ok(SkCrypto { out: dir(p, algs, eo, ao)?, inb: dir(p, algs, ei, ai)? })
    }

    /// Builds a complete message: `header` (next payload and length are set
    /// here), then an SK payload (or SKF when `frag` = Some((number, total)))
    /// holding `inner` whose first payload type is `inner_first`.
    pub fn seal(&self, mut header: Header, inner_first: u8, inner: &[u8], frag: Option<(u16, u16)>, rng: &mut dyn RngCore) -> Vec<u8> {
        let (iv_len, block, icv_len) = match &self.out {
            Dir::Aead { .. } => (8, 1, 16),
            Dir::Cbc { icv_len, .. } => (16, 16, *icv_len),
        };
        let pad = (block - (inner.len() + 1) % block) % block;
        let plain_len = inner.len() + pad + 1;
        let frag_hdr = if frag.is_some() { 4 } else { 0 };
        let sk_len = 4 + frag_hdr + iv_len + plain_len + icv_len;
        let total = HEADER_LEN + sk_len;
        header.next_payload = if frag.is_some() { pt::SKF } else { pt::SK };
        header.length = total as u32;
        let mut m = Vec::with_capacity(total);
        header.emit(&mut m);
        m.push(inner_first);
        m.push(0);
        m.extend_from_slice(&(sk_len as u16).to_be_bytes());
        if let Some((n, t)) = frag {
            m.extend_from_slice(&n.to_be_bytes());
            m.extend_from_slice(&t.to_be_bytes());
        }
        let aad_end = m.len();
        let mut iv = [0u8; 16];
        rng.fill_bytes(&mut iv[..iv_len]);
        m.extend_from_slice(&iv[..iv_len]);
        let p0 = m.len();
        m.extend_from_slice(inner);
        m.extend(std::iter::repeat_n(0u8, pad));
        m.push(pad as u8);
        m.extend(std::iter::repeat_n(0u8, icv_len));
        match &self.out {
            Dir::Aead { aead, salt } => {
                let mut nonce = [0u8; 12];
                nonce[..4].copy_from_slice(salt);
                nonce[4..].copy_from_slice(&iv[..8]);
                let (head, rest) = m.split_at_mut(p0);
                let (plain, tag) = rest.split_at_mut(plain_len);
                // Lengths are ours; sealing cannot fail for them.
                let _ = aead.seal_in_place_detached(&nonce, &head[..aad_end], plain, tag);
            }
            Dir::Cbc { cipher, integ, .. } => {
                let _ = cipher.encrypt_cbc(&iv, &mut m[p0..p0 + plain_len]);
                let end = p0 + plain_len;
                let (head, tag) = m.split_at_mut(end);
                integ.compute(&[head], tag);
            }
        }
        m
    }

    /// Checks and decrypts the SK/SKF payload whose generic header starts at
    /// `sk_off` in `msg` (the whole message); returns the inner payload bytes.
    pub fn open(&self, msg: &[u8], sk_off: usize, frag: bool) -> Result<Zeroizing<Vec<u8>>, SkError> {
        let body_off = sk_off + 4 + if frag { 4 } else { 0 };
        let (iv_len, block, icv_len) = match &self.inb {
            Dir::Aead { .. } => (8, 1, 16),
            Dir::Cbc { icv_len, .. } => (16, 16, *icv_len),
        };
        if msg.len() < body_off + iv_len + icv_len + 1 {
            return Err(SkError::Truncated);
        }
        let iv = &msg[body_off..body_off + iv_len];
        let ct_end = msg.len() - icv_len;
        let mut plain = Zeroizing::new(msg[body_off + iv_len..ct_end].to_vec());
        let icv = &msg[ct_end..];
        match &self.inb {
            Dir::Aead { aead, salt } => {
                let mut nonce = [0u8; 12];
                nonce[..4].copy_from_slice(salt);
                nonce[4..].copy_from_slice(iv);
                aead.open_in_place_detached(&nonce, &msg[..body_off], &mut plain, icv).map_err(|_| SkError::BadIcv)?;
            }
            Dir::Cbc { cipher, integ, .. } => {
                if !integ.verify(&[&msg[..ct_end]], icv) {
                    return Err(SkError::BadIcv);
                }
                if plain.len() % block != 0 || plain.is_empty() {
                    return Err(SkError::BadPadding);
                }
                cipher.decrypt_cbc(iv, &mut plain).map_err(|_| SkError::BadPadding)?;
            }
        }
        let pad = *plain.last().ok_or(SkError::BadPadding)? as usize;
        if pad + 1 > plain.len() {
            return Err(SkError::BadPadding);
        }
        let n = plain.len() - pad - 1;
        plain.truncate(n);
        Ok(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keymat::derive_ike;
    use crate::proposal::Encr;
    use crate::types::{ExchangeType, IkeSpi};
    use esprit_crypto::prf::PrfAlg;
    use rand::SeedableRng;

    fn header() -> Header {
        Header { spi_i: IkeSpi([1; 8]), spi_r: IkeSpi([2; 8]), next_payload: 0, major: 2, minor: 0, exchange: ExchangeType::IkeAuth, flags: 8, message_id: 1, length: 0 }
    }

    #[test]
    fn seal_open_every_cipher_and_tamper() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let p = esprit_crypto::default_provider();
        for (encr, integ) in [
            (Encr::AesGcm16 { bits: 128 }, None),
            (Encr::AesGcm16 { bits: 256 }, None),
            (Encr::ChaCha20Poly1305, None),
            (Encr::AesCbc { bits: 256 }, Some(esprit_crypto::IntegAlg::HmacSha256_128)),
            (Encr::AesCbc { bits: 128 }, Some(esprit_crypto::IntegAlg::HmacSha512_256)),
        ] {
            let algs = IkeAlgs { encr, prf: PrfAlg::HmacSha256, integ, dh: 31 };
            let keys = derive_ike(&algs, &[9; 32], &[1; 32], &[2; 32], IkeSpi([1; 8]), IkeSpi([2; 8]));
            let i = SkCrypto::new(p, &algs, &keys, true).unwrap();
            let r = SkCrypto::new(p, &algs, &keys, false).unwrap();
            let inner = b"inner payload bytes".to_vec();
            let m = i.seal(header(), 35, &inner, None, &mut rng);
            assert_eq!(Header::parse(&m).unwrap().length as usize, m.len());
            assert_eq!(*r.open(&m, HEADER_LEN, false).unwrap(), inner);
            // The initiator cannot open its own direction's message.
            assert!(i.open(&m, HEADER_LEN, false).is_err());
            for at in [0, 20, 30, m.len() - 1] {
                let mut bad = m.clone();
                bad[at] ^= 1;
                assert!(r.open(&bad, HEADER_LEN, false).is_err(), "{encr:?} tamper at {at}");
            }
            assert_eq!(r.open(&m[..40], HEADER_LEN, false).unwrap_err(), SkError::Truncated);
        }
    }
}

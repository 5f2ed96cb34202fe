//! Key exchange groups (RFC 7296 §3.4): Curve25519 (31, RFC 8031),
//! ECP-256 (19, RFC 5903) and MODP-2048 (14, RFC 3526).
use aws_lc_rs::agreement;
use num_bigint::BigUint;
use rand::RngCore;
use zeroize::Zeroizing;

use crate::types::transform_id as id;

/// RFC 3526 §3, 2048-bit MODP group prime.
const MODP2048_P: &str = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF";

/// Why a key exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DhError {
    #[error("unsupported key exchange group {0}")]
    UnsupportedGroup(u16),
    #[error("invalid public value for group {0}")]
    InvalidPublic(u16),
}

enum Secret {
    Ecdh(agreement::EphemeralPrivateKey),
    Modp(Zeroizing<Vec<u8>>),
}

/// Our half of one key exchange.
pub struct KeyExchange {
    group: u16,
    secret: Secret,
    public: Vec<u8>,
}

impl std::fmt::Debug for KeyExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyExchange").field("group", &self.group).finish_non_exhaustive()
    }
}

pub fn is_supported(group: u16) -> bool {
    matches!(group, id::CURVE25519 | id::ECP_256 | id::MODP_2048)
}

fn modp_p() -> BigUint {
    // The constant is valid hex.
    BigUint::parse_bytes(MODP2048_P.as_bytes(), 16).unwrap_or_default()
}

fn pad_to(v: Vec<u8>, n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n.saturating_sub(v.len())];
    out.extend_from_slice(&v);
    out
}

impl KeyExchange {
    /// Generates a fresh key pair for `group`.
    pub fn new(group: u16, rng: &mut dyn RngCore) -> Result<KeyExchange, DhError> {
        let sys = aws_lc_rs::rand::SystemRandom::new();
        match group {
            id::CURVE25519 | id::ECP_256 => {
                let alg = if group == id::CURVE25519 { &agreement::X25519 } else { &agreement::ECDH_P256 };
                let k = agreement::EphemeralPrivateKey::generate(alg, &sys).map_err(|_| DhError::UnsupportedGroup(group))?;
                let pubk = k.compute_public_key().map_err(|_| DhError::UnsupportedGroup(group))?;
                let mut public = pubk.as_ref().to_vec();
                if group == id::ECP_256 {
                    // RFC 5903 §7: x | y without the 0x04 point-format octet.
                    public.remove(0);
                }
                Ok(KeyExchange { group, secret: Secret::Ecdh(k), public })
            }
            id::MODP_2048 => {
                // A 256-bit exponent: twice the group's ~112-bit strength.
                let mut x = Zeroizing::new(vec![0u8; 32]);
                rng.fill_bytes(&mut x);
                let p = modp_p();
                let public = BigUint::from(2u8).modpow(&BigUint::from_bytes_be(&x), &p);
                Ok(KeyExchange { group, secret: Secret::Modp(x), public: pad_to(public.to_bytes_be(), 256) })
            }
            g => Err(DhError::UnsupportedGroup(g)),
        }
    }

    pub fn group(&self) -> u16 {
        self.group
    }

    /// Our public value as carried in the KE payload.
    pub fn public(&self) -> &[u8] {
        &self.public
    }

    /// Computes g^ir from the peer's public value; consumes our secret.
    pub fn complete(self, peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, DhError> {
        let group = self.group;
        match self.secret {
            Secret::Ecdh(k) => {
                let (alg, expect, peer_bytes) = if group == id::CURVE25519 {
                    (&agreement::X25519, 32, peer.to_vec())
                } else {
                    let mut v = vec![4u8];
                    v.extend_from_slice(peer);
                    (&agreement::ECDH_P256, 64, v)
                };
                if peer.len() != expect {
                    return Err(DhError::InvalidPublic(group));
                }
                let unparsed = agreement::UnparsedPublicKey::new(alg, peer_bytes);
                agreement::agree_ephemeral(k, unparsed, DhError::InvalidPublic(group), |s| Ok(Zeroizing::new(s.to_vec())))
            }
            Secret::Modp(x) => {
                if peer.len() != 256 {
                    return Err(DhError::InvalidPublic(group));
                }
                let p = modp_p();
                let y = BigUint::from_bytes_be(peer);
                let one = BigUint::from(1u8);
                // RFC 7296 §5.15 / SP 800-56A: 1 < y < p-1.
                if y <= one || y >= &p - &one {
                    return Err(DhError::InvalidPublic(group));
                }
                let s = y.modpow(&BigUint::from_bytes_be(&x), &p);
                Ok(Zeroizing::new(pad_to(s.to_bytes_be(), 256)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn every_group_agrees_and_rejects_bad_publics() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for g in [id::CURVE25519, id::ECP_256, id::MODP_2048] {
            let a = KeyExchange::new(g, &mut rng).unwrap();
            let b = KeyExchange::new(g, &mut rng).unwrap();
            let (pa, pb) = (a.public().to_vec(), b.public().to_vec());
            assert_eq!(*a.complete(&pb).unwrap(), *b.complete(&pa).unwrap(), "group {g}");
            let c = KeyExchange::new(g, &mut rng).unwrap();
            assert!(c.complete(&pa[..pa.len() - 1]).is_err());
        }
        let m = KeyExchange::new(id::MODP_2048, &mut rng).unwrap();
        let mut one = vec![0u8; 256];
        one[255] = 1;
        assert_eq!(m.complete(&one), Err(DhError::InvalidPublic(14)));
        assert!(KeyExchange::new(2, &mut rng).is_err());
    }
}

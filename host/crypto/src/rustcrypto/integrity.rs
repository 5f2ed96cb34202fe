//! HMAC-SHA-256/384/512 with the IPsec truncations of RFC 4868 §2.3
//! (128, 192 and 256 bits), from the `hmac` and `sha2` crates.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;

use crate::util::{check_key, icv_len_ok};
use crate::{CryptoError, IntegAlg, Integrity};

/// A keyed HMAC (`M` is `Hmac<Sha256>` etc.). Holds the state after absorbing
/// the padded key (RFC 2104 §2) and clones it per packet, so the key is never
/// re-hashed on the fast path.
pub struct RcHmac<M> {
    alg: IntegAlg,
    keyed: M,
}

pub(super) fn new(alg: IntegAlg, key: &[u8]) -> Result<Box<dyn Integrity>, CryptoError> {
    check_key(alg.name(), alg.key_len(), key)?;
    Ok(match alg {
        IntegAlg::HmacSha256_128 => Box::new(RcHmac::<Hmac<Sha256>>::keyed(alg, key)?),
        IntegAlg::HmacSha384_192 => Box::new(RcHmac::<Hmac<Sha384>>::keyed(alg, key)?),
        IntegAlg::HmacSha512_256 => Box::new(RcHmac::<Hmac<Sha512>>::keyed(alg, key)?),
    })
}

impl<M: Mac + KeyInit + Clone> RcHmac<M> {
    fn keyed(alg: IntegAlg, key: &[u8]) -> Result<Self, CryptoError> {
        let keyed = <M as KeyInit>::new_from_slice(key).map_err(|_| CryptoError::KeyLength {
            alg: alg.name(),
            expected: alg.key_len(),
            got: key.len(),
        })?;
        Ok(Self { alg, keyed })
    }

    fn full(&self, parts: &[&[u8]]) -> hmac::digest::Output<M> {
        let mut m = self.keyed.clone();
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes()
    }
}

impl<M: Mac + KeyInit + Clone + Send + Sync> Integrity for RcHmac<M> {
    fn alg(&self) -> IntegAlg {
        self.alg
    }

    fn compute(&self, parts: &[&[u8]], out: &mut [u8]) {
        let mac = self.full(parts);
        debug_assert!(out.len() <= mac.len(), "ICV buffer longer than the MAC");
        let n = out.len().min(mac.len());
        out[..n].copy_from_slice(&mac[..n]);
    }

    fn verify(&self, parts: &[&[u8]], icv: &[u8]) -> bool {
        let mac = self.full(parts);
        if !icv_len_ok(icv.len(), self.alg.icv_len(), mac.len()) {
            return false;
        }
        mac[..icv.len()].ct_eq(icv).into()
    }
}

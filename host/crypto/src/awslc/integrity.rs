//! HMAC-SHA-256/384/512 through `aws_lc_rs::hmac`, truncated per RFC 4868 §2.3.

use aws_lc_rs::hmac;
use subtle::ConstantTimeEq;

use crate::util::{check_key, icv_len_ok};
use crate::{CryptoError, IntegAlg, Integrity};

/// A keyed aws-lc-rs HMAC. `hmac::Key` keeps AWS-LC's precomputed pad states.
pub struct AwsHmac {
    alg: IntegAlg,
    key: hmac::Key,
}

impl AwsHmac {
    /// Keys `alg`; the key must be exactly `alg.key_len()` bytes (RFC 4868 §2.1.1).
    pub fn new(alg: IntegAlg, key: &[u8]) -> Result<Self, CryptoError> {
        check_key(alg.name(), alg.key_len(), key)?;
        let algorithm = match alg {
            IntegAlg::HmacSha256_128 => hmac::HMAC_SHA256,
            IntegAlg::HmacSha384_192 => hmac::HMAC_SHA384,
            IntegAlg::HmacSha512_256 => hmac::HMAC_SHA512,
        };
        Ok(Self { alg, key: hmac::Key::new(algorithm, key) })
    }

    fn full(&self, parts: &[&[u8]]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        for p in parts {
            ctx.update(p);
        }
        ctx.sign()
    }
}

impl Integrity for AwsHmac {
    fn alg(&self) -> IntegAlg {
        self.alg
    }

    fn compute(&self, parts: &[&[u8]], out: &mut [u8]) {
        let tag = self.full(parts);
        let mac = tag.as_ref();
        debug_assert!(out.len() <= mac.len(), "ICV buffer longer than the MAC");
        let n = out.len().min(mac.len());
        out[..n].copy_from_slice(&mac[..n]);
    }

    fn verify(&self, parts: &[&[u8]], icv: &[u8]) -> bool {
        let tag = self.full(parts);
        let mac = tag.as_ref();
        if !icv_len_ok(icv.len(), self.alg.icv_len(), mac.len()) {
            return false;
        }
        mac[..icv.len()].ct_eq(icv).into()
    }
}

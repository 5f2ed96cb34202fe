//! AEADs through `aws_lc_rs::aead::LessSafeKey`: the nonce comes from ESP
//! (salt ‖ IV, RFC 4106 §4, RFC 7634 §2), so the "less safe" API that takes a
//! caller-built nonce is the right one; ESP guarantees uniqueness through the
//! sequence number.

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};

use crate::util::{check_key, check_seal_tag};
use crate::{Aead, AeadAlg, CryptoError};

/// One keyed aws-lc-rs AEAD.
pub struct AwsAead {
    alg: AeadAlg,
    key: LessSafeKey,
}

impl AwsAead {
    /// Keys `alg`; the key must be exactly `alg.key_len()` bytes.
    pub fn new(alg: AeadAlg, key: &[u8]) -> Result<Self, CryptoError> {
        check_key(alg.name(), alg.key_len(), key)?;
        let algorithm = match alg {
            AeadAlg::Aes128Gcm16 => &aead::AES_128_GCM,
            AeadAlg::Aes256Gcm16 => &aead::AES_256_GCM,
            AeadAlg::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
        };
        let unbound = UnboundKey::new(algorithm, key).map_err(|_| CryptoError::KeyLength {
            alg: alg.name(),
            expected: alg.key_len(),
            got: key.len(),
        })?;
        Ok(Self { alg, key: LessSafeKey::new(unbound) })
    }
}

impl Aead for AwsAead {
    fn alg(&self) -> AeadAlg {
        self.alg
    }

    fn seal_in_place_detached(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), CryptoError> {
        check_seal_tag(self.alg.tag_len(), tag)?;
        let t = self
            .key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), in_out)
            // Only reachable for inputs beyond the AEAD's length limit.
            .map_err(|_| CryptoError::BlockLength(in_out.len()))?;
        tag.copy_from_slice(t.as_ref());
        Ok(())
    }

    fn open_in_place_detached(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8],
    ) -> Result<(), CryptoError> {
        if tag.len() != self.alg.tag_len() {
            return Err(CryptoError::AuthFailed);
        }
        // AWS-LC compares the tag in constant time (CRYPTO_memcmp).
        self.key
            .open_in_place_separate_tag(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), tag, in_out)
            .map(|_| ())
            .map_err(|_| CryptoError::AuthFailed)
    }
}

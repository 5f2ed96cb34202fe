//! AEADs from RustCrypto: AES-GCM (RFC 4106 uses a 16-byte ICV) and
//! ChaCha20-Poly1305 (RFC 7634, RFC 8439 §2.8).

use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use chacha20poly1305::ChaCha20Poly1305;

use crate::util::{check_key, check_seal_tag};
use crate::{Aead, AeadAlg, CryptoError};

/// One keyed RustCrypto AEAD. `A` holds the key schedule (zeroized on drop).
pub struct RcAead<A> {
    alg: AeadAlg,
    inner: A,
}

/// Builds the AEAD for `alg`, checking the key length first.
pub(super) fn new(alg: AeadAlg, key: &[u8]) -> Result<Box<dyn Aead>, CryptoError> {
    check_key(alg.name(), alg.key_len(), key)?;
    let err = || CryptoError::KeyLength { alg: alg.name(), expected: alg.key_len(), got: key.len() };
    Ok(match alg {
        AeadAlg::Aes128Gcm16 => {
            Box::new(RcAead { alg, inner: Aes128Gcm::new_from_slice(key).map_err(|_| err())? })
        }
        AeadAlg::Aes256Gcm16 => {
            Box::new(RcAead { alg, inner: Aes256Gcm::new_from_slice(key).map_err(|_| err())? })
        }
        AeadAlg::ChaCha20Poly1305 => Box::new(RcAead {
            alg,
            inner: ChaCha20Poly1305::new_from_slice(key).map_err(|_| err())?,
        }),
    })
}

impl<A> Aead for RcAead<A>
where
    A: AeadInPlace<NonceSize = aes_gcm::aead::consts::U12, TagSize = aes_gcm::aead::consts::U16>
        + Send
        + Sync,
{
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
            .inner
            .encrypt_in_place_detached(GenericArray::from_slice(nonce), aad, in_out)
            // Only reachable for inputs beyond the AEAD's length limit (2^36 B).
            .map_err(|_| CryptoError::BlockLength(in_out.len()))?;
        tag.copy_from_slice(&t);
        Ok(())
    }

    fn open_in_place_detached(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8],
    ) -> Result<(), CryptoError> {
        // A tag of the wrong size can never authenticate.
        if tag.len() != self.alg.tag_len() {
            return Err(CryptoError::AuthFailed);
        }
        // The backends compare the tag in constant time (`subtle`).
        self.inner
            .decrypt_in_place_detached(
                GenericArray::from_slice(nonce),
                aad,
                in_out,
                GenericArray::from_slice(tag),
            )
            .map_err(|_| CryptoError::AuthFailed)
    }
}

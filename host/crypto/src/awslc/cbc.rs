//! AES-CBC without padding (RFC 3602) through `aws_lc_rs::cipher`:
//! `EncryptingKey::cbc` + `less_safe_encrypt` with the ESP IV, and
//! `DecryptingKey::cbc` + `decrypt`, both in place on whole blocks.

use aws_lc_rs::cipher::{
    DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey, AES_128,
    AES_256,
};
use aws_lc_rs::iv::FixedLength;

use crate::util::{check_cbc, check_key};
use crate::{Cipher, CipherAlg, CryptoError};

/// A keyed aws-lc-rs AES-CBC cipher (both directions).
pub struct AwsCbc {
    alg: CipherAlg,
    enc: EncryptingKey,
    dec: DecryptingKey,
}

impl AwsCbc {
    /// Keys `alg`; the key must be exactly `alg.key_len()` bytes.
    pub fn new(alg: CipherAlg, key: &[u8]) -> Result<Self, CryptoError> {
        check_key(alg.name(), alg.key_len(), key)?;
        let algorithm = match alg {
            CipherAlg::Aes128Cbc => &AES_128,
            CipherAlg::Aes256Cbc => &AES_256,
        };
        let err = || CryptoError::KeyLength { alg: alg.name(), expected: alg.key_len(), got: key.len() };
        let unbound = || UnboundCipherKey::new(algorithm, key).map_err(|_| err());
        let enc = EncryptingKey::cbc(unbound()?).map_err(|_| err())?;
        let dec = DecryptingKey::cbc(unbound()?).map_err(|_| err())?;
        Ok(Self { alg, enc, dec })
    }
}

impl Cipher for AwsCbc {
    fn alg(&self) -> CipherAlg {
        self.alg
    }

    fn encrypt_cbc(&self, iv: &[u8], data: &mut [u8]) -> Result<(), CryptoError> {
        let iv = check_cbc(iv, data)?;
        if data.is_empty() {
            return Ok(());
        }
        let len = data.len();
        self.enc
            .less_safe_encrypt(data, EncryptionContext::Iv128(FixedLength::from(iv)))
            .map(|_| ())
            .map_err(|_| CryptoError::BlockLength(len))
    }

    fn decrypt_cbc(&self, iv: &[u8], data: &mut [u8]) -> Result<(), CryptoError> {
        let iv = check_cbc(iv, data)?;
        if data.is_empty() {
            return Ok(());
        }
        let len = data.len();
        self.dec
            .decrypt(data, DecryptionContext::Iv128(FixedLength::from(iv)))
            .map(|_| ())
            .map_err(|_| CryptoError::BlockLength(len))
    }
}

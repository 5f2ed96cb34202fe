//! AES-CBC without padding (RFC 3602), in place, from the `aes` and `cbc`
//! crates. ESP adds its own padding (RFC 4303 §2.4), so the data is always a
//! whole number of blocks.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, InnerIvInit, KeyInit};
use aes::{Aes128Dec, Aes128Enc, Aes256Dec, Aes256Enc};

use crate::util::{check_cbc, check_key};
use crate::{Cipher, CipherAlg, CryptoError};

/// Expanded AES key schedules for one direction pair; zeroized on drop
/// (`aes` crate, `zeroize` feature). Kept inline: the cipher is boxed as a
/// whole by the provider anyway.
#[allow(clippy::large_enum_variant)]
enum Schedules {
    Aes128(Aes128Enc, Aes128Dec),
    Aes256(Aes256Enc, Aes256Dec),
}

/// A keyed AES-CBC cipher.
pub struct RcCbc {
    alg: CipherAlg,
    keys: Schedules,
}

impl RcCbc {
    /// Expands `key` for `alg`; the key must be exactly `alg.key_len()` bytes.
    pub fn new(alg: CipherAlg, key: &[u8]) -> Result<Self, CryptoError> {
        check_key(alg.name(), alg.key_len(), key)?;
        let err = || CryptoError::KeyLength { alg: alg.name(), expected: alg.key_len(), got: key.len() };
        let keys = match alg {
            CipherAlg::Aes128Cbc => Schedules::Aes128(
                Aes128Enc::new_from_slice(key).map_err(|_| err())?,
                Aes128Dec::new_from_slice(key).map_err(|_| err())?,
            ),
            CipherAlg::Aes256Cbc => Schedules::Aes256(
                Aes256Enc::new_from_slice(key).map_err(|_| err())?,
                Aes256Dec::new_from_slice(key).map_err(|_| err())?,
            ),
        };
        Ok(Self { alg, keys })
    }
}

impl Cipher for RcCbc {
    fn alg(&self) -> CipherAlg {
        self.alg
    }

    fn encrypt_cbc(&self, iv: &[u8], data: &mut [u8]) -> Result<(), CryptoError> {
        let iv = check_cbc(iv, data)?;
        let len = data.len();
        let r = match &self.keys {
            Schedules::Aes128(enc, _) => cbc::Encryptor::<Aes128Enc>::inner_iv_init(enc.clone(), &iv.into())
                .encrypt_padded_mut::<NoPadding>(data, len)
                .map(|_| ()),
            Schedules::Aes256(enc, _) => cbc::Encryptor::<Aes256Enc>::inner_iv_init(enc.clone(), &iv.into())
                .encrypt_padded_mut::<NoPadding>(data, len)
                .map(|_| ()),
        };
        r.map_err(|_| CryptoError::BlockLength(len))
    }

    fn decrypt_cbc(&self, iv: &[u8], data: &mut [u8]) -> Result<(), CryptoError> {
        let iv = check_cbc(iv, data)?;
        let len = data.len();
        let r = match &self.keys {
            Schedules::Aes128(_, dec) => cbc::Decryptor::<Aes128Dec>::inner_iv_init(dec.clone(), &iv.into())
                .decrypt_padded_mut::<NoPadding>(data)
                .map(|_| ()),
            Schedules::Aes256(_, dec) => cbc::Decryptor::<Aes256Dec>::inner_iv_init(dec.clone(), &iv.into())
                .decrypt_padded_mut::<NoPadding>(data)
                .map(|_| ()),
        };
        r.map_err(|_| CryptoError::BlockLength(len))
    }
}

//! The RustCrypto provider: `aes-gcm`, `chacha20poly1305`, `hmac` + `sha2`,
//! `aes` + `cbc`. Pure Rust, always compiled in.
//!
//! Keys live only in the backends' key schedules, which are zeroized on drop
//! where the crate supports it (`aes`, `aes-gcm`, `chacha20poly1305` with their
//! `zeroize` features). The `hmac` crate keeps the hashed inner/outer pad
//! states, which it does not zeroize; no raw key bytes are kept.

mod aead;
mod cbc;
mod integrity;

use crate::{Aead, AeadAlg, Cipher, CipherAlg, CryptoError, IntegAlg, Integrity, Provider};

pub use self::aead::RcAead;
pub use self::cbc::RcCbc;
pub use self::integrity::RcHmac;

/// The pure-Rust provider (`"rustcrypto"` in configuration).
#[derive(Debug, Clone, Copy, Default)]
pub struct RustCrypto;

/// The one instance handed out by [`crate::provider_by_name`].
pub static RUSTCRYPTO: RustCrypto = RustCrypto;

impl Provider for RustCrypto {
    fn name(&self) -> &'static str {
        "rustcrypto"
    }

    fn aead(&self, alg: AeadAlg, key: &[u8]) -> Result<Box<dyn Aead>, CryptoError> {
        aead::new(alg, key)
    }

    fn integrity(&self, alg: IntegAlg, key: &[u8]) -> Result<Box<dyn Integrity>, CryptoError> {
        integrity::new(alg, key)
    }

    fn cipher(&self, alg: CipherAlg, key: &[u8]) -> Result<Box<dyn Cipher>, CryptoError> {
        Ok(Box::new(RcCbc::new(alg, key)?))
    }
}

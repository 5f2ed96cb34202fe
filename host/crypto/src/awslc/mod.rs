//! The aws-lc-rs provider (feature `aws-lc`, on by default): AWS-LC's
//! assembly AES-GCM, ChaCha20-Poly1305, HMAC-SHA2 and AES-CBC.
//!
//! AES-CBC: aws-lc-rs offers unpadded CBC in place through
//! `cipher::EncryptingKey::cbc` / `DecryptingKey::cbc` with a caller-chosen
//! IV (`less_safe_encrypt` with `EncryptionContext::Iv128`), so nothing is
//! delegated to RustCrypto. Key material lives inside AWS-LC's key objects,
//! which AWS-LC cleanses when they are freed.

mod aead;
mod cbc;
mod integrity;

use crate::{Aead, AeadAlg, Cipher, CipherAlg, CryptoError, IntegAlg, Integrity, Provider};

pub use self::aead::AwsAead;
pub use self::cbc::AwsCbc;
pub use self::integrity::AwsHmac;

/// The aws-lc-rs provider (`"aws-lc"` in configuration).
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsLc;

/// The one instance handed out by [`crate::provider_by_name`].
pub static AWSLC: AwsLc = AwsLc;

impl Provider for AwsLc {
    fn name(&self) -> &'static str {
        "aws-lc"
    }

    fn aead(&self, alg: AeadAlg, key: &[u8]) -> Result<Box<dyn Aead>, CryptoError> {
        Ok(Box::new(AwsAead::new(alg, key)?))
    }

    fn integrity(&self, alg: IntegAlg, key: &[u8]) -> Result<Box<dyn Integrity>, CryptoError> {
        Ok(Box::new(AwsHmac::new(alg, key)?))
    }

    fn cipher(&self, alg: CipherAlg, key: &[u8]) -> Result<Box<dyn Cipher>, CryptoError> {
        Ok(Box::new(AwsCbc::new(alg, key)?))
    }
}

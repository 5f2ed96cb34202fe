//! Crypto providers for esprit.
//!
//! The data plane talks to three small traits — [`Aead`], [`Integrity`] and
//! [`Cipher`] — built by a [`Provider`]. Two providers exist: [`rustcrypto`]
//! (always available) and `awslc` (feature `aws-lc`, default). Both pass the
//! same known-answer tests and are cross-checked on random inputs.
//!
//! Keys handed to a provider are copied into the backend's key schedule; the
//! caller zeroizes its own copy. Tag and ICV comparisons are constant time.
//!
//! Selection: [`default_provider`] (aws-lc-rs when compiled in, the faster
//! one), [`provider_by_name`] for configuration, [`provider_names`].
//! IKEv2's PRF and prf+ (RFC 7296 §2.13) are free functions in [`prf`].
#![deny(unsafe_code)]

use std::fmt;

#[cfg(feature = "aws-lc")]
pub mod awslc;
pub mod prf;
pub mod rustcrypto;
mod select;
mod util;

#[cfg(test)]
mod tests;

#[cfg(feature = "aws-lc")]
pub use awslc::AwsLc;
pub use rustcrypto::RustCrypto;
pub use select::{default_provider, provider_by_name, provider_names};

/// Errors from the crypto layer. Deliberately coarse: an authentication failure
/// never says *why* it failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("{alg}: key must be {expected} bytes, got {got}")]
    KeyLength { alg: &'static str, expected: usize, got: usize },
    #[error("nonce/IV must be {expected} bytes, got {got}")]
    NonceLength { expected: usize, got: usize },
    #[error("data length {0} is not a multiple of the block size")]
    BlockLength(usize),
    #[error("authentication failed")]
    AuthFailed,
    #[error("algorithm {0} is not offered by this provider")]
    Unsupported(&'static str),
    /// The tag buffer given to a seal operation has the wrong size.
    #[error("tag buffer must be {expected} bytes, got {got}")]
    TagLength { expected: usize, got: usize },
    /// prf+ (RFC 7296 §2.13) was asked for more than 255 iterations of output.
    #[error("prf+ can produce at most {max} bytes, asked for {got}")]
    PrfPlusLength { max: usize, got: usize },
    /// No provider of that name is compiled in.
    #[error("unknown crypto provider {0:?} (known: rustcrypto, aws-lc)")]
    UnknownProvider(String),
}

/// AEAD algorithms of ESP (key length without the 4-byte salt).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AeadAlg {
    /// AES-GCM with a 16-byte ICV and a 128-bit key (RFC 4106).
    Aes128Gcm16,
    /// AES-GCM with a 16-byte ICV and a 256-bit key (RFC 4106).
    Aes256Gcm16,
    /// ChaCha20-Poly1305 (RFC 7634, RFC 8439).
    ChaCha20Poly1305,
}

impl AeadAlg {
    pub const fn key_len(self) -> usize {
        match self {
            AeadAlg::Aes128Gcm16 => 16,
            AeadAlg::Aes256Gcm16 | AeadAlg::ChaCha20Poly1305 => 32,
        }
    }
    pub const fn tag_len(self) -> usize {
        16
    }
    /// Full AEAD nonce: 4-byte salt + 8-byte explicit IV in ESP.
    pub const fn nonce_len(self) -> usize {
        12
    }
    pub const fn name(self) -> &'static str {
        match self {
            AeadAlg::Aes128Gcm16 => "aes128gcm16",
            AeadAlg::Aes256Gcm16 => "aes256gcm16",
            AeadAlg::ChaCha20Poly1305 => "chacha20poly1305",
        }
    }
}

/// Integrity (MAC) algorithms, with the truncation used by IPsec (RFC 4868).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntegAlg {
    /// HMAC-SHA-256 truncated to 128 bits (AUTH_HMAC_SHA2_256_128).
    HmacSha256_128,
    /// HMAC-SHA-384 truncated to 192 bits (AUTH_HMAC_SHA2_384_192).
    HmacSha384_192,
    /// HMAC-SHA-512 truncated to 256 bits (AUTH_HMAC_SHA2_512_256).
    HmacSha512_256,
}

impl IntegAlg {
    /// Key length: the hash output size (RFC 4868 §2.1.1).
    pub const fn key_len(self) -> usize {
        match self {
            IntegAlg::HmacSha256_128 => 32,
            IntegAlg::HmacSha384_192 => 48,
            IntegAlg::HmacSha512_256 => 64,
        }
    }
    /// Length of the truncated ICV.
    pub const fn icv_len(self) -> usize {
        self.key_len() / 2
    }
    pub const fn name(self) -> &'static str {
        match self {
            IntegAlg::HmacSha256_128 => "sha256",
            IntegAlg::HmacSha384_192 => "sha384",
            IntegAlg::HmacSha512_256 => "sha512",
        }
    }
}

/// Block ciphers used in CBC mode (RFC 3602).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CipherAlg {
    Aes128Cbc,
    Aes256Cbc,
}

impl CipherAlg {
    pub const fn key_len(self) -> usize {
        match self {
            CipherAlg::Aes128Cbc => 16,
            CipherAlg::Aes256Cbc => 32,
        }
    }
    pub const fn block_len(self) -> usize {
        16
    }
    pub const fn iv_len(self) -> usize {
        16
    }
    pub const fn name(self) -> &'static str {
        match self {
            CipherAlg::Aes128Cbc => "aes128",
            CipherAlg::Aes256Cbc => "aes256",
        }
    }
}

/// An AEAD keyed for one direction of one SA.
pub trait Aead: Send + Sync {
    fn alg(&self) -> AeadAlg;
    /// Encrypts `in_out` in place and writes the tag (`alg().tag_len()` bytes).
    fn seal_in_place_detached(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), CryptoError>;
    /// Verifies `tag` (constant time) and decrypts `in_out` in place.
    /// On failure `in_out` content is unspecified and must be discarded.
    fn open_in_place_detached(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8],
    ) -> Result<(), CryptoError>;
}

/// A keyed MAC producing a (possibly truncated) ICV over the concatenation of
/// `parts` — so ESP can append the ESN high bits without copying the packet.
pub trait Integrity: Send + Sync {
    fn alg(&self) -> IntegAlg;
    /// Writes the first `out.len()` bytes of the MAC over `parts`
    /// (`out.len()` ≤ the full MAC length).
    fn compute(&self, parts: &[&[u8]], out: &mut [u8]);
    /// Constant-time check of `icv` against the MAC over `parts`.
    fn verify(&self, parts: &[&[u8]], icv: &[u8]) -> bool;
}

/// A keyed block cipher in CBC mode without padding (ESP pads itself).
pub trait Cipher: Send + Sync {
    fn alg(&self) -> CipherAlg;
    /// CBC-encrypts `data` (a multiple of the block size) in place.
    fn encrypt_cbc(&self, iv: &[u8], data: &mut [u8]) -> Result<(), CryptoError>;
    /// CBC-decrypts `data` (a multiple of the block size) in place.
    fn decrypt_cbc(&self, iv: &[u8], data: &mut [u8]) -> Result<(), CryptoError>;
}

/// A crypto backend.
pub trait Provider: Send + Sync + fmt::Debug {
    /// Short name used in config and logs (`rustcrypto`, `aws-lc`).
    fn name(&self) -> &'static str;
    fn aead(&self, alg: AeadAlg, key: &[u8]) -> Result<Box<dyn Aead>, CryptoError>;
    fn integrity(&self, alg: IntegAlg, key: &[u8]) -> Result<Box<dyn Integrity>, CryptoError>;
    fn cipher(&self, alg: CipherAlg, key: &[u8]) -> Result<Box<dyn Cipher>, CryptoError>;
}

//! SA parameters (RFC 4301 §4.4.2) and their validation.
use esprit_crypto::{AeadAlg, CipherAlg, IntegAlg};
use std::fmt;
use std::net::IpAddr;
use zeroize::Zeroizing;

pub use esprit_wire::{IpsecProtocol as Protocol, Mode, Spi};

/// Cryptographic transform of an SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transform {
    /// ESP with combined-mode AEAD (RFC 4106, RFC 7634).
    Aead(AeadAlg),
    /// ESP with AES-CBC (RFC 3602) and HMAC-SHA2 (RFC 4868).
    CbcHmac(CipherAlg, IntegAlg),
    /// ESP with NULL encryption (RFC 2410) and HMAC-SHA2.
    NullHmac(IntegAlg),
    /// AH with HMAC-SHA2 (RFC 4302, RFC 4868).
    Ah(IntegAlg),
}

/// Default anti-replay window (DESIGN.md §2: ≥ 1024; issue 2: 4096).
pub const DEFAULT_REPLAY_WINDOW: u32 = 4096;

/// Largest accepted anti-replay window (bitmap of 128 KiB).
pub const MAX_REPLAY_WINDOW: u32 = 1 << 20;

/// Everything needed to build an [`crate::Sa`]. `Debug` never prints keys.
#[derive(Clone)]
pub struct SaConfig {
    pub spi: Spi,
    pub protocol: Protocol,
    pub mode: Mode,
    /// SA endpoints; the outer header in tunnel mode.
    pub src: IpAddr,
    pub dst: IpAddr,
    pub transform: Transform,
    /// AEAD: key || 4-byte salt (Linux rfc4106 / RFC 7634 §2); CBC: cipher key; else empty.
    pub enc_key: Zeroizing<Vec<u8>>,
    /// HMAC key (empty for AEAD).
    pub auth_key: Zeroizing<Vec<u8>>,
    /// 64-bit extended sequence numbers (RFC 4303 §2.2.1).
    pub esn: bool,
    /// Anti-replay window in packets; 0 disables anti-replay.
    pub replay_window: u32,
    /// TFC padding (RFC 4303 §2.4); accepted but not yet applied outbound.
    pub tfc_padding: bool,
}

impl fmt::Debug for SaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaConfig")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("protocol", &self.protocol)
            .field("mode", &self.mode)
            .field("src", &self.src)
            .field("dst", &self.dst)
            .field("transform", &self.transform)
            .field("enc_key", &format_args!("<{} bytes>", self.enc_key.len()))
            .field("auth_key", &format_args!("<{} bytes>", self.auth_key.len()))
            .field("esn", &self.esn)
            .field("replay_window", &self.replay_window)
            .field("tfc_padding", &self.tfc_padding)
            .finish()
    }
}

/// Why an SA could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaError {
    #[error("SPI {0:#x} is reserved (RFC 4301 §4.1: 1..=255 are IANA-reserved, 0 is local)")]
    ReservedSpi(Spi),
    #[error("transform {transform} cannot be used with {protocol:?}")]
    ProtocolMismatch { transform: &'static str, protocol: Protocol },
    #[error("{what} key for {alg} must be {expected} bytes, got {got}")]
    KeyLength { what: &'static str, alg: &'static str, expected: usize, got: usize },
    #[error("src {src} and dst {dst} must be of the same address family")]
    AddressFamily { src: IpAddr, dst: IpAddr },
    #[error("replay window {0} is larger than the maximum {MAX_REPLAY_WINDOW}")]
    ReplayWindow(u32),
    #[error("no randomness from the operating system for the IV generator")]
    Random,
    #[error("crypto provider: {0}")]
    Crypto(#[from] esprit_crypto::CryptoError),
}

/// Length of the salt that follows the AEAD key (RFC 4106 §8.1, RFC 7634 §2).
pub const AEAD_SALT_LEN: usize = 4;

impl Transform {
    /// Name in the style of IKE/strongSwan proposals.
    pub fn name(&self) -> &'static str {
        use CipherAlg::*;
        use IntegAlg::*;
        match *self {
            Transform::Aead(a) => a.name(),
            Transform::CbcHmac(Aes128Cbc, HmacSha256_128) => "aes128-sha256",
            Transform::CbcHmac(Aes128Cbc, HmacSha384_192) => "aes128-sha384",
            Transform::CbcHmac(Aes128Cbc, HmacSha512_256) => "aes128-sha512",
            Transform::CbcHmac(Aes256Cbc, HmacSha256_128) => "aes256-sha256",
            Transform::CbcHmac(Aes256Cbc, HmacSha384_192) => "aes256-sha384",
            Transform::CbcHmac(Aes256Cbc, HmacSha512_256) => "aes256-sha512",
            Transform::NullHmac(HmacSha256_128) => "null-sha256",
            Transform::NullHmac(HmacSha384_192) => "null-sha384",
            Transform::NullHmac(HmacSha512_256) => "null-sha512",
            Transform::Ah(HmacSha256_128) => "ah-sha256",
            Transform::Ah(HmacSha384_192) => "ah-sha384",
            Transform::Ah(HmacSha512_256) => "ah-sha512",
        }
    }

    /// Expected (encryption, authentication) key lengths.
    pub fn key_lens(&self) -> (usize, usize) {
        match *self {
            Transform::Aead(a) => (a.key_len() + AEAD_SALT_LEN, 0),
            Transform::CbcHmac(c, i) => (c.key_len(), i.key_len()),
            Transform::NullHmac(i) | Transform::Ah(i) => (0, i.key_len()),
        }
    }

    /// The protocol this transform belongs to.
    pub fn protocol(&self) -> Protocol {
        match self {
            Transform::Ah(_) => Protocol::Ah,
            _ => Protocol::Esp,
        }
    }
}

impl SaConfig {
    /// Checks SPI, protocol/transform combination, key lengths, address
    /// families and window size.
    pub fn validate(&self) -> Result<(), SaError> {
        if self.spi.get() < 256 {
            return Err(SaError::ReservedSpi(self.spi));
        }
        if self.transform.protocol() != self.protocol {
            return Err(SaError::ProtocolMismatch { transform: self.transform.name(), protocol: self.protocol });
        }
        if self.src.is_ipv4() != self.dst.is_ipv4() {
            return Err(SaError::AddressFamily { src: self.src, dst: self.dst });
        }
        if self.replay_window > MAX_REPLAY_WINDOW {
            return Err(SaError::ReplayWindow(self.replay_window));
        }
        let (enc, auth) = self.transform.key_lens();
        let alg = self.transform.name();
        if self.enc_key.len() != enc {
            return Err(SaError::KeyLength { what: "encryption", alg, expected: enc, got: self.enc_key.len() });
        }
        if self.auth_key.len() != auth {
            return Err(SaError::KeyLength { what: "authentication", alg, expected: auth, got: self.auth_key.len() });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(t: Transform, enc: usize, auth: usize) -> SaConfig {
        SaConfig {
            spi: Spi(0x1000),
            protocol: t.protocol(),
            mode: Mode::Transport,
            src: "192.0.2.1".parse().unwrap(),
            dst: "192.0.2.2".parse().unwrap(),
            transform: t,
            enc_key: Zeroizing::new(vec![7; enc]),
            auth_key: Zeroizing::new(vec![9; auth]),
            esn: false,
            replay_window: DEFAULT_REPLAY_WINDOW,
            tfc_padding: false,
        }
    }

    #[test]
    fn valid_configs() {
        cfg(Transform::Aead(AeadAlg::Aes128Gcm16), 20, 0).validate().unwrap();
        cfg(Transform::Aead(AeadAlg::Aes256Gcm16), 36, 0).validate().unwrap();
        cfg(Transform::Aead(AeadAlg::ChaCha20Poly1305), 36, 0).validate().unwrap();
        cfg(Transform::CbcHmac(CipherAlg::Aes128Cbc, IntegAlg::HmacSha512_256), 16, 64).validate().unwrap();
        cfg(Transform::NullHmac(IntegAlg::HmacSha384_192), 0, 48).validate().unwrap();
        cfg(Transform::Ah(IntegAlg::HmacSha256_128), 0, 32).validate().unwrap();
    }

    #[test]
    fn bad_configs() {
        let e = cfg(Transform::Aead(AeadAlg::Aes128Gcm16), 16, 0).validate().unwrap_err();
        assert_eq!(e.to_string(), "encryption key for aes128gcm16 must be 20 bytes, got 16");
        let e = cfg(Transform::CbcHmac(CipherAlg::Aes256Cbc, IntegAlg::HmacSha256_128), 32, 20).validate().unwrap_err();
        assert!(matches!(e, SaError::KeyLength { what: "authentication", expected: 32, got: 20, .. }));
        let mut c = cfg(Transform::Ah(IntegAlg::HmacSha256_128), 0, 32);
        c.protocol = Protocol::Esp;
        assert!(matches!(c.validate(), Err(SaError::ProtocolMismatch { .. })));
        let mut c = cfg(Transform::Ah(IntegAlg::HmacSha256_128), 0, 32);
        c.spi = Spi(255);
        assert_eq!(c.validate(), Err(SaError::ReservedSpi(Spi(255))));
        c.spi = Spi(256);
        c.dst = "2001:db8::1".parse().unwrap();
        assert!(matches!(c.validate(), Err(SaError::AddressFamily { .. })));
        let mut c = cfg(Transform::Ah(IntegAlg::HmacSha256_128), 0, 32);
        c.replay_window = MAX_REPLAY_WINDOW + 1;
        assert!(matches!(c.validate(), Err(SaError::ReplayWindow(_))));
    }

    #[test]
    fn debug_hides_keys() {
        let c = cfg(Transform::CbcHmac(CipherAlg::Aes128Cbc, IntegAlg::HmacSha256_128), 16, 32);
        let s = format!("{c:?}");
        assert!(s.contains("<16 bytes>"), "{s}");
        assert!(!s.contains("7, 7"), "{s}");
    }
}

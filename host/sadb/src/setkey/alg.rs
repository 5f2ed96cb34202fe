//! setkey's algorithm names and the key lengths they take.

use esprit_crypto::{AeadAlg, CipherAlg, IntegAlg};

/// An ESP encryption algorithm (`-E`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncAlg {
    /// Combined-mode (RFC 4106, RFC 7634); the key carries a 4-byte salt.
    Aead(AeadAlg),
    /// AES-CBC (RFC 3602), needs an integrity algorithm.
    Cbc(CipherAlg),
    /// NULL encryption (RFC 2410), needs an integrity algorithm.
    Null,
}

impl EncAlg {
    /// Length of the keying material setkey expects (AEAD: key + salt).
    pub fn key_len(self) -> usize {
        match self {
            EncAlg::Aead(a) => a.key_len() + 4,
            EncAlg::Cbc(c) => c.key_len(),
            EncAlg::Null => 0,
        }
    }

    pub fn is_aead(self) -> bool {
        matches!(self, EncAlg::Aead(_))
    }
}

/// An integrity algorithm (`-A`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthAlg {
    Hmac(IntegAlg),
}

impl AuthAlg {
    pub fn integ(self) -> IntegAlg {
        match self {
            AuthAlg::Hmac(i) => i,
        }
    }
}

/// The encryption algorithm names setkey accepts (and we support).
pub const ENC_NAMES: &str = "aes-gcm-16, chacha20-poly1305, rijndael-cbc, aes-cbc or null";
/// The integrity algorithm names.
pub const AUTH_NAMES: &str = "hmac-sha256, hmac-sha384 or hmac-sha512";

/// Picks the encryption algorithm for a name and key length.
/// `Err(Some(msg))`: known name, wrong length (msg says what is expected);
/// `Err(None)`: unknown name.
pub fn enc_from(name: &str, key_len: usize) -> Result<EncAlg, Option<String>> {
    match name {
        "aes-gcm-16" => match key_len {
            20 => Ok(EncAlg::Aead(AeadAlg::Aes128Gcm16)),
            36 => Ok(EncAlg::Aead(AeadAlg::Aes256Gcm16)),
            28 => Err(Some(
                "expected a 20-byte (AES-128) or 36-byte (AES-256) key for aes-gcm-16 \
                 (AES key + 4-byte salt; AES-192 is not supported)"
                    .into(),
            )),
            _ => Err(Some(
                "expected a 20-byte (AES-128) or 36-byte (AES-256) key for aes-gcm-16 \
                 (AES key + 4-byte salt)"
                    .into(),
            )),
        },
        "chacha20-poly1305" => match key_len {
            36 => Ok(EncAlg::Aead(AeadAlg::ChaCha20Poly1305)),
            _ => Err(Some(
                "expected a 36-byte key for chacha20-poly1305 (32-byte key + 4-byte salt)".into(),
            )),
        },
        "rijndael-cbc" | "aes-cbc" => match key_len {
            16 => Ok(EncAlg::Cbc(CipherAlg::Aes128Cbc)),
            32 => Ok(EncAlg::Cbc(CipherAlg::Aes256Cbc)),
            24 => Err(Some(format!(
                "expected a 16-byte (AES-128) or 32-byte (AES-256) key for {name} \
                 (AES-192 is not supported)"
            ))),
            _ => Err(Some(format!(
                "expected a 16-byte (AES-128) or 32-byte (AES-256) key for {name}"
            ))),
        },
        "null" => match key_len {
            0 => Ok(EncAlg::Null),
            _ => Err(Some("expected no key (or \"\") for null encryption".into())),
        },
        _ => Err(None),
    }
}

/// Whether `name` is a known encryption algorithm.
pub fn is_enc_name(name: &str) -> bool {
    matches!(name, "aes-gcm-16" | "chacha20-poly1305" | "rijndael-cbc" | "aes-cbc" | "null")
}

/// Picks the integrity algorithm for a name; returns its key length.
pub fn auth_from(name: &str) -> Option<AuthAlg> {
    match name {
        "hmac-sha256" => Some(AuthAlg::Hmac(IntegAlg::HmacSha256_128)),
        "hmac-sha384" => Some(AuthAlg::Hmac(IntegAlg::HmacSha384_192)),
        "hmac-sha512" => Some(AuthAlg::Hmac(IntegAlg::HmacSha512_256)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enc_names_and_lengths() {
        assert_eq!(enc_from("aes-gcm-16", 20), Ok(EncAlg::Aead(AeadAlg::Aes128Gcm16)));
        assert_eq!(enc_from("aes-gcm-16", 36), Ok(EncAlg::Aead(AeadAlg::Aes256Gcm16)));
        assert!(enc_from("aes-gcm-16", 16).unwrap_err().unwrap().contains("20-byte"));
        assert!(enc_from("aes-gcm-16", 28).unwrap_err().unwrap().contains("AES-192"));
        assert_eq!(enc_from("rijndael-cbc", 32), Ok(EncAlg::Cbc(CipherAlg::Aes256Cbc)));
        assert_eq!(enc_from("aes-cbc", 16), Ok(EncAlg::Cbc(CipherAlg::Aes128Cbc)));
        assert_eq!(enc_from("null", 0), Ok(EncAlg::Null));
        assert!(enc_from("null", 1).is_err());
        assert_eq!(enc_from("blowfish-cbc", 16), Err(None));
        assert_eq!(enc_from("chacha20-poly1305", 36).unwrap().key_len(), 36);
        assert!(enc_from("chacha20-poly1305", 32).unwrap_err().unwrap().contains("36-byte"));
        assert!(is_enc_name("null") && !is_enc_name("des-cbc"));
    }

    #[test]
    fn auth_names() {
        assert_eq!(auth_from("hmac-sha384").map(|a| a.integ().key_len()), Some(48));
        assert_eq!(auth_from("hmac-md5"), None);
    }
}

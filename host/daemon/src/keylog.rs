//! `--keylog FILE`: Wireshark's ESP SA table (the `esp_sa` UAT file), so a
//! capture of the outer traffic can be decrypted in Wireshark or tshark:
//! `WIRESHARK_CONFIG_DIR=DIR tshark -r cap.pcap` with this file as `DIR/esp_sa`
//! and `esp.enable_encryption_decode: TRUE` in `DIR/preferences`.
//!
//! Keys are secrets: the file is created 0600 without following symlinks,
//! an existing file must be ours and private ([`crate::secret_files`]),
//! and only when the operator asks.

use std::io::Write;
use std::path::{Path, PathBuf};

use esprit_crypto::{AeadAlg, CipherAlg, IntegAlg};
use esprit_esp::{Protocol, SaConfig, Transform};

/// Appends one line per SA to a Wireshark `esp_sa` file.
#[derive(Clone)]
pub struct KeyLog {
    path: PathBuf,
}

impl KeyLog {
    /// Creates (truncates) the file with mode 0600 and writes the header;
    /// refuses a symlink or an existing file others can read.
    pub fn create(path: &Path) -> std::io::Result<KeyLog> {
        let mut f = open(path, true)?;
        writeln!(f, "# esprit ESP SA key log (Wireshark esp_sa UAT). Contains secret keys.")?;
        Ok(KeyLog { path: path.to_path_buf() })
    }

    /// Records one SA; AH and algorithms Wireshark cannot decrypt are written
    /// as a comment so the operator sees why they are missing.
    pub fn record(&self, cfg: &SaConfig) -> std::io::Result<()> {
        let mut f = open(&self.path, false)?;
        match esp_sa_line(cfg) {
            Some(line) => writeln!(f, "{line}"),
            None => writeln!(
                f,
                "# SPI {:#010x} {}: not decryptable by Wireshark's ESP dissector",
                cfg.spi,
                transform_name(&cfg.transform)
            ),
        }
    }
}

fn open(path: &Path, truncate: bool) -> std::io::Result<std::fs::File> {
    crate::secret_files::open_private(path, truncate)
}

pub fn transform_name(t: &Transform) -> String {
    match t {
        Transform::Aead(a) => a.name().to_string(),
        Transform::CbcHmac(c, i) => format!("{}-{}", c.name(), i.name()),
        Transform::NullHmac(i) => format!("null-{}", i.name()),
        Transform::Ah(i) => format!("ah-{}", i.name()),
    }
}

fn integ_name(i: IntegAlg) -> &'static str {
    match i {
        IntegAlg::HmacSha256_128 => "HMAC-SHA-256-128 [RFC4868]",
        IntegAlg::HmacSha384_192 => "HMAC-SHA-384-192 [RFC4868]",
        IntegAlg::HmacSha512_256 => "HMAC-SHA-512-256 [RFC4868]",
    }
}

/// One `esp_sa` UAT line (Wireshark 4.x field order: protocol, source,
/// destination, SPI, encryption algorithm, key, authentication algorithm, key).
pub fn esp_sa_line(cfg: &SaConfig) -> Option<String> {
    if cfg.protocol != Protocol::Esp {
        return None;
    }
    let (enc, auth) = match cfg.transform {
        Transform::Aead(AeadAlg::Aes128Gcm16 | AeadAlg::Aes256Gcm16) => {
            ("AES-GCM with 16 octet ICV [RFC4106]", "NULL")
        }
        Transform::Aead(AeadAlg::ChaCha20Poly1305) => return None,
        Transform::CbcHmac(CipherAlg::Aes128Cbc | CipherAlg::Aes256Cbc, i) => ("AES-CBC [RFC3602]", integ_name(i)),
        Transform::NullHmac(i) => ("NULL", integ_name(i)),
        Transform::Ah(_) => return None,
    };
    let family = if cfg.dst.is_ipv6() { "IPv6" } else { "IPv4" };
    let hexkey = |k: &[u8]| if k.is_empty() { String::new() } else { format!("0x{}", hex::encode(k)) };
    Some(format!(
        "\"{family}\",\"{}\",\"{}\",\"{:#010x}\",\"{enc}\",\"{}\",\"{auth}\",\"{}\"",
        cfg.src,
        cfg.dst,
        cfg.spi,
        hexkey(&cfg.enc_key),
        hexkey(&cfg.auth_key)
    ))
}
